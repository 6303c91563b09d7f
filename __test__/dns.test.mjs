// Requests to host names (RFC 3263) on the embedded engine, end to end: the name is looked up
// off the engine thread (here 'localhost', which every machine resolves without a network;
// NAPTR/SRV order and failover are covered in Rust against a table of records), and the
// request reaches the app listening there. Also proxying to a name.
import test from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { embeddedSrf, errorsFail, Srf } from './helpers/embedded.mjs';
import { pkiFor } from './helpers/pki.mjs';

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

test('a request to sips:localhost:port goes over TLS to a trusted certificate, and fails at once with 503 when the certificate is not trusted', async (t) => {
  const pki = pkiFor(t);
  if (!pki) return;
  const tlsSrf = async (tls, setup) => {
    const srf = new Srf();
    errorsFail(srf);
    if (setup) setup(srf);
    srf.connect({ embedded: { contacts: ['sip:127.0.0.1:0;transport=udp', 'sips:127.0.0.1:0;transport=tls'], tls } });
    const [err, hostports] = await once(srf, 'connect');
    if (err) throw err;
    t.after(() => srf.disconnect());
    return { srf, tlsPort: hostports.split(',').find((h) => h.startsWith('tls/')).split(':').pop() };
  };
  // The server's certificate names 127.0.0.1 and localhost (helpers/pki.mjs).
  const b = await tlsSrf({ keyFile: pki.keyFile, certFile: pki.certFile }, (srf) => srf.options((req, res) => res.send(200, { headers: { 'X-Protocol': req.protocol } })));
  const trusting = await tlsSrf({ keyFile: pki.keyFile, certFile: pki.certFile, ca: pki.ca });
  const res = await options(trusting.srf, `sips:bob@localhost:${b.tlsPort}`);
  assert.equal(res.status, 200);
  assert.equal(res.get('X-Protocol'), 'tls');
  // Not trusting the test CA: the handshake fails and the request with it, at once.
  const doubting = await tlsSrf({ keyFile: pki.keyFile, certFile: pki.certFile });
  assert.equal((await options(doubting.srf, `sips:bob@localhost:${b.tlsPort}`)).status, 503);
});
