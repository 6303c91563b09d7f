// IPv6 (part of #17): 20 sipp calls over UDP and over TCP on [::1], to the example UAS app on
// the embedded engine and through `drachtio-rs serve` (SIP on [::1]) with our Srf and with the
// real drachtio-srf 5.0.29; then our app calls a sipp UAS on [::1]. Each call: INVITE, 180, 200,
// ACK, BYE, 200, with Via and Contact carrying the bracketed address.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { startServe, routesApplied, failOnError } from '../helpers/serve.mjs';
import { requireSipp, runSipp, startSippUas, freePort } from '../helpers/sipp.mjs';
import { waitFor } from '../helpers/embedded.mjs';

const require = createRequire(import.meta.url);
const { install, sdp } = require('../../examples/uas-app.js');
const CALLS = 20;
const libraries = {
  'drachtio-srf-rs': () => require('../../index.js'),
  'drachtio-srf 5.0.29': () => require('drachtio-srf'),
};

/** sipp's own address arguments for [::1] (runSipp adds 127.0.0.1 unless given -i); sipp's
 * control socket is IPv4 only. */
async function v6Args() {
  return ['-i', '::1', '-ci', '127.0.0.1', '-cp', String(await freePort())];
}

async function callsTo(addr, transport, answered) {
  const r = await runSipp(['-sn', 'uac', addr, '-t', transport === 'tcp' ? 't1' : 'u1', '-m', String(CALLS), '-r', '10', ...(await v6Args())], { timeoutMs: 30000 });
  assert.equal(r.stats.successful, CALLS, r.summary());
  // The app counts a call once its createUAS resolves, which can be after sipp has ended (the
  // embedded engine answers the BYE itself).
  await waitFor(() => answered() >= CALLS, 5000).catch(() => {});
  assert.equal(answered(), CALLS, 'the app answered every call');
}

for (const transport of ['udp', 'tcp']) {
  test(`embedded engine on [::1] over ${transport}: ${CALLS} sipp calls answered`, { timeout: 60000 }, async (t) => {
    if (!requireSipp(t)) return;
    const Srf = libraries['drachtio-srf-rs']();
    const srf = new Srf();
    failOnError(t, srf, 'app');
    let answered = 0;
    install(srf, (line) => { if (/answered$/.test(line)) answered++; });
    const port = await freePort();
    srf.connect({ embedded: { contacts: [`sip:[::1]:${port};transport=${transport}`] } });
    const [, hostport] = await once(srf, 'connect');
    try {
      assert.match(hostport, new RegExp(`${transport}/\\[::1\\]:${port}`));
      await callsTo(`[::1]:${port}`, transport, () => answered);
    } finally {
      srf.disconnect();
    }
  });

  for (const [name, load] of Object.entries(libraries)) {
    test(`serve with SIP on [::1] over ${transport}, a ${name} app: ${CALLS} sipp calls answered`, { timeout: 60000 }, async (t) => {
      if (!requireSipp(t)) return;
      const Srf = load();
      // An IPv4 UDP contact beside it for the routes probe (routesApplied) only.
      const serve = await startServe({ transport, sipHost: '[::1]', extra: ['--contact', 'sip:127.0.0.1:0;transport=udp'] });
      const srf = new Srf();
      failOnError(t, srf, `${name} app`);
      let answered = 0;
      install(srf, (line) => { if (/answered$/.test(line)) answered++; });
      srf.connect({ host: serve.admin.host, port: serve.admin.port, secret: 'cymru' });
      await once(srf, 'connect');
      try {
        await routesApplied(srf);
        assert.match(serve.sip, /^\[::1\]:\d+$/);
        await callsTo(serve.sip, transport, () => answered);
      } finally {
        srf.disconnect();
        await serve.stop();
      }
    });
  }

  test(`embedded engine on [::1] over ${transport}: our app calls a sipp UAS on [::1] ${CALLS} times`, { timeout: 60000 }, async (t) => {
    if (!requireSipp(t)) return;
    const Srf = libraries['drachtio-srf-rs']();
    const uas = await startSippUas(['-sn', 'uas', '-t', transport === 'tcp' ? 't1' : 'u1', '-m', String(CALLS), ...(await v6Args())], { timeoutMs: 40000 });
    const srf = new Srf();
    failOnError(t, srf, 'app');
    srf.connect({ embedded: { contacts: [`sip:[::1]:${await freePort()};transport=${transport}`] } });
    await once(srf, 'connect');
    try {
      for (let i = 0; i < CALLS; i++) {
        const dialog = await srf.createUAC(`sip:service@[::1]:${uas.port};transport=${transport}`, { localSdp: sdp(41000) });
        assert.match(dialog.sip.callId, /\S/);
        await dialog.destroy();
      }
      const done = await uas.done;
      assert.equal(done.stats.successful, CALLS, done.summary());
    } finally {
      srf.disconnect();
      if (uas.child.exitCode === null) uas.child.kill();
    }
  });
}
