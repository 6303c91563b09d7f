// drachtio-srf 5.0.29's integration test "proxy" (../shared/traces/suite/proxy.trace) with our
// Srf on the remote backend: the fake drachtio-server (helpers/fake-server.mjs) replays the
// recorded server side and checks that OUR Srf sends equivalent frames. (The same scenario runs
// live on serve in proxy-traces.test.mjs, and proxy.test.mjs covers the embedded engine.) Two connections, as recorded:
// the app proxies the incoming INVITE to sip:127.0.0.13 with remainInDialog, first with the
// Promise form of proxyRequest, then (a new Srf) with a callback; both end 200.
// No SIPp here: the SIP side of the recording (sip/proxy/*.msg) was the real server's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { sharedDir } from '../helpers/shared.mjs';
import { startFakeServer, formatReport } from '../helpers/fake-server.mjs';
import { deferred } from '../helpers/suite-apps.mjs';

const require = createRequire(import.meta.url);
const Srf = require('../../index.js');
const suite = sharedDir('traces/suite');

test('remote (fake server replaying proxy.trace): proxyRequest with remainInDialog, Promise form then callback form, both 200', { timeout: 20000 }, async (t) => {
  if (suite.skip) return t.skip(suite.skip);
  const fake = await startFakeServer({ trace: join(suite.dir, 'proxy.trace'), timeoutMs: 8000 });
  const statuses = [];
  const errors = [];
  try {
    for (const form of ['promise', 'callback']) {
      const proxied = deferred(6000, `the ${form}-form proxyRequest`);
      const srf = new Srf();
      srf.on('error', (err) => errors.push(err));
      srf.invite((req) => {
        const dest = 'sip:127.0.0.13';
        const opts = { remainInDialog: true };
        if (form === 'promise') srf.proxyRequest(req, dest, opts).then(proxied.resolve, proxied.reject);
        else srf.proxyRequest(req, dest, opts, (err, results) => (err ? proxied.reject(err) : proxied.resolve(results)));
      });
      srf.connect({ host: '127.0.0.1', port: fake.port, secret: fake.recordedSecret });
      await once(srf, 'connect');
      try {
        const results = await proxied;
        statuses.push(results.finalStatus);
      } finally {
        srf.disconnect();
      }
    }
    let timer;
    await Promise.race([fake.exhausted, new Promise((r) => { timer = setTimeout(r, 5000); })]);
    clearTimeout(timer);
  } finally {
    const report = await fake.done;
    await fake.close();
    assert.ok(report.ok, formatReport(report));
  }
  assert.deepEqual(statuses, [200, 200]);
  assert.deepEqual(errors.map(String), []);
});
