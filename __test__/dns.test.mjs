// Requests to host names (RFC 3263) on the embedded engine, end to end: the name is looked up
// off the engine thread (here 'localhost', which every machine resolves without a network;
// NAPTR/SRV order and failover are covered in Rust against a table of records), and the
// request reaches the app listening there. Also proxying to a name.
import test from 'node:test';
import assert from 'node:assert/strict';
import { embeddedSrf } from './helpers/embedded.mjs';

const options = (srf, uri, opts = {}) => new Promise((resolve, reject) => {
  srf.request(uri, { method: 'OPTIONS', ...opts }, (err, req) => {
    if (err) return reject(err);
    req.on('response', (res) => resolve(res));
  });
});

for (const transport of ['udp', 'tcp']) {
  test(`a request to sip:...@localhost:port over ${transport} reaches the app there`, async (t) => {
    const b = await embeddedSrf({ transport, setup: (srf) => srf.options((req, res) => res.send(200, { headers: { 'X-Reached': req.get('Request-URI') || req.uri } })) });
    const a = await embeddedSrf({ transport });
    t.after(() => { a.srf.disconnect(); b.srf.disconnect(); });
    const port = b.addr.split(':').pop();
    const suffix = transport === 'tcp' ? ';transport=tcp' : '';
    // Twice: the second is served from the engine's cache of the answer.
    for (let i = 0; i < 2; i++) {
      const res = await options(a.srf, `sip:bob@localhost:${port}${suffix}`);
      assert.equal(res.status, 200);
      assert.match(res.get('X-Reached'), /localhost/);
    }
  });
}

test('proxying to sip:localhost:port forwards to the app there', async (t) => {
  const far = await embeddedSrf({ setup: (srf) => srf.options((req, res) => res.send(200)) });
  const port = far.addr.split(':').pop();
  const proxy = await embeddedSrf({ setup: (srf) => srf.options((req) => req.proxy({ destination: `sip:localhost:${port}` })) });
  const caller = await embeddedSrf();
  t.after(() => { caller.srf.disconnect(); proxy.srf.disconnect(); far.srf.disconnect(); });
  const res = await options(caller.srf, `sip:x@${proxy.addr}`);
  assert.equal(res.status, 200);
});
