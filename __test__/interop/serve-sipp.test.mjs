// The same sipp scenarios against `drachtio-rs serve`, with the UAS app (a) our Srf and (b)
// the real drachtio-srf 5.0.29, each over TCP to serve: the built-in uac, CANCEL, OPTIONS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { waitFor } from '../helpers/embedded.mjs';
import { startServe, routesApplied, failOnError } from '../helpers/serve.mjs';
import { requireSipp, runSipp, scenario } from '../helpers/sipp.mjs';

const require = createRequire(import.meta.url);
const { install } = require('../../examples/uas-app.js');

const libraries = {
  'drachtio-srf-rs': () => require('../../index.js'),
  'drachtio-srf 5.0.29': () => require('drachtio-srf'),
};

for (const [name, load] of Object.entries(libraries)) {
  test(`sipp scenarios through serve to a ${name} app`, { timeout: 60000 }, async (t) => {
    if (!requireSipp(t)) return;
    const Srf = load();
    const serve = await startServe();
    const srf = new Srf();
    failOnError(t, srf, `${name} app`);
    const seen = { answered: 0, hungUp: 0, cancelled: 0 };
    srf.use('invite', (req, res, next) => {
      if (req.calledNumber === 'cancel' || /^sip:cancel@/.test(req.uri)) {
        req.on('cancel', () => { seen.cancelled++; });
        return res.send(180);
      }
      next();
    });
    install(srf, (line) => {
      if (/answered$/.test(line)) seen.answered++;
      if (line === 'app: caller hung up') seen.hungUp++;
    });
    srf.connect({ host: serve.admin.host, port: serve.admin.port, secret: 'cymru' });
    await once(srf, 'connect');
    try {
      await routesApplied(srf);
      const calls = await runSipp(['-sn', 'uac', serve.sip, '-m', '20', '-r', '10', '-l', '20', '-d', '50'], { timeoutMs: 25000 });
      assert.equal(calls.code, 0, calls.summary());
      assert.equal(calls.stats.successful, 20, calls.summary());
      await waitFor(() => seen.hungUp === 20, 5000);
      const cancels = await runSipp(['-sf', scenario('uac-cancel.xml'), serve.sip, '-s', 'cancel', '-m', '5', '-r', '10'], { timeoutMs: 20000 });
      assert.equal(cancels.code, 0, cancels.summary());
      await waitFor(() => seen.cancelled === 5, 5000);
      const pings = await runSipp(['-sf', scenario('options-ping.xml'), serve.sip, '-m', '5', '-r', '10'], { timeoutMs: 20000 });
      assert.equal(pings.code, 0, pings.summary());
      assert.equal(seen.answered, 20);
    } finally {
      srf.disconnect();
      await serve.stop();
    }
  });
}
