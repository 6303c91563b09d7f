// The real drachtio-srf 5.0.29 from npm, unmodified, against `drachtio-rs serve`: UAS apps
// answering with createUAS and res.send, request handlers and middleware, and two app
// processes sharing the calls of one serve. The caller is our Srf on its own engine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { embeddedSrf, SDP, waitFor } from '../helpers/embedded.mjs';
import { startServe, routesApplied, failOnError } from '../helpers/serve.mjs';
import { BACKENDS, startApp } from '../helpers/backends.mjs';
import { requireSipp, scenario, startSippUas } from '../helpers/sipp.mjs';

const require = createRequire(import.meta.url);
const DrachtioSrf = require('drachtio-srf');

test('a drachtio-srf app on serve: middleware, res.send, createUAS, BYE', { timeout: 30000 }, async (t) => {
  const serve = await startServe();
  const app = new DrachtioSrf();
  failOnError(t, app, 'drachtio-srf app');
  const seen = [];
  app.use((req, res, next) => { req.locals = { stamp: 'mw' }; next(); });
  app.options((req, res) => res.send(200, { headers: { 'X-Stamp': req.locals.stamp } }));
  app.message((req, res) => res.send(486));
  const cdrs = [];
  app.on('cdr:start', (source, time, role) => cdrs.push(`start ${role}`));
  app.on('cdr:stop', (source, time, reason) => cdrs.push(`stop ${reason}`));
  app.invite(async (req, res) => {
    const dialog = await app.createUAS(req, res, { localSdp: SDP(4000) });
    seen.push('answered');
    dialog.on('destroy', () => seen.push('hung up'));
  });
  app.connect({ host: serve.admin.host, port: serve.admin.port, secret: 'cymru' });
  const [err, hostport] = await once(app, 'connect');
  const caller = await embeddedSrf();
  try {
    assert.equal(err, null);
    assert.equal(hostport, `udp/${serve.sip}`);
    await routesApplied(app);
    const opt = await caller.srf.request(`sip:svc@${serve.sip}`, { method: 'OPTIONS' });
    const [res] = await once(opt, 'response');
    assert.equal(res.status, 200);
    assert.equal(res.get('x-stamp'), 'mw', 'headers set by a drachtio-srf handler reach the wire');
    const msg = await caller.srf.request(`sip:svc@${serve.sip}`, { method: 'MESSAGE', body: 'hi', headers: { 'Content-Type': 'text/plain' } });
    assert.equal((await once(msg, 'response'))[0].status, 486);
    for (let i = 0; i < 3; i++) {
      const dialog = await caller.srf.createUAC(`sip:svc@${serve.sip}`, { localSdp: SDP(5000) });
      assert.equal(dialog.remote.sdp, SDP(4000));
      // drachtio-srf attaches dialog listeners only after createUAS resumes, and misses a BYE
      // that arrives in the same read as the ACK: hang up once the app has its dialog.
      await waitFor(() => seen.filter((s) => s === 'answered').length === i + 1, 5000);
      await dialog.destroy();
    }
    await waitFor(() => seen.filter((s) => s === 'hung up').length === 3);
    await waitFor(() => cdrs.length === 6);
    assert.deepEqual(cdrs.filter((c) => c === 'start uas').length, 3, 'CDRs reach drachtio-srf listeners through serve');
  } finally {
    caller.srf.disconnect();
    app.disconnect();
    await serve.stop();
  }
});

test('two drachtio-srf app processes share the calls of one serve', { timeout: 30000 }, async () => {
  const serve = await startServe();
  const script = (name) => `
    const Srf = require('drachtio-srf');
    const srf = new Srf();
    srf.on('error', (err) => { console.error('app error: ' + err.message); process.exit(3); });
    srf.invite(async (req, res) => {
      const d = await srf.createUAS(req, res, { localSdp: 'v=0\\r\\no=- 1 1 IN IP4 127.0.0.1\\r\\ns=-\\r\\nc=IN IP4 127.0.0.1\\r\\nt=0 0\\r\\nm=audio 4000 RTP/AVP 0\\r\\n' });
      console.log('answered ${name}');
    });
    // 'ready' once serve has applied the routes: a request sent after them is confirmed after them
    srf.connect({ host: '127.0.0.1', port: ${serve.admin.port}, secret: 'cymru' },
      () => srf.request('sip:barrier@127.0.0.1:9', { method: 'OPTIONS' }).then(() => console.log('ready')));`;
  const apps = ['a', 'b'].map((name) => {
    const child = spawn(process.execPath, ['-e', script(name)], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
    const state = { child, out: '' };
    child.stdout.on('data', (d) => { state.out += d; });
    return state;
  });
  const caller = await embeddedSrf();
  try {
    await waitFor(() => apps.every((a) => a.out.includes('ready')), 10000);
    for (let i = 0; i < 4; i++) {
      const dialog = await caller.srf.createUAC(`sip:svc@${serve.sip}`, { localSdp: SDP(5000) });
      await dialog.destroy();
    }
    await waitFor(() => apps.every((a) => (a.out.match(/answered/g) || []).length === 2), 5000);
  } finally {
    for (const a of apps) a.child.kill();
    caller.srf.disconnect();
    await serve.stop();
  }
});

// A callee re-INVITEs to a bare "sip:" right after answering, i.e. before the caller has ACKed
// the B2BUA: the engine accepts it because the dialog identifies it, and the B2BUA (the real
// drachtio-srf, and ours on either backend) answers it once A has ACKed.
/** A B2BUA call whose legs hang up together. */
function bridge(srf, req, res, target) {
  srf.createB2BUA(req, res, target, { localSdpB: req.body }).then(({ uas, uac }) => {
    uas.on('destroy', () => uac.destroy().catch(() => {}));
    uac.on('destroy', () => uas.destroy().catch(() => {}));
  }, () => {});
}

const b2buaApps = {
  'drachtio-srf on serve': async (target) => {
    const serve = await startServe();
    const app = new DrachtioSrf();
    app.invite((req, res) => bridge(app, req, res, target));
    app.connect({ host: serve.admin.host, port: serve.admin.port, secret: 'cymru' });
    await once(app, 'connect');
    await routesApplied(app);
    return { app, sip: serve.sip, close: async () => { app.disconnect(); await serve.stop(); } };
  },
  ...Object.fromEntries(BACKENDS.map((kind) => [`our Srf, ${kind}`, async (target) => {
    const started = await startApp(kind, { setup: (srf) => srf.invite((req, res) => bridge(srf, req, res, target)) });
    return { app: started.srf, sip: started.addr, close: started.close, errors: started.errors };
  }])),
};

for (const [name, startB2bua] of Object.entries(b2buaApps)) {
  test(`B2BUA (${name}): the callee's re-INVITE to "sip:" before the caller's ACK is answered`, { timeout: 30000 }, async (t) => {
    if (!requireSipp(t)) return;
    const callee = await startSippUas(['-sf', scenario('uas-reinvite-bare-uri.xml'), '-m', '1'], { timeoutMs: 20000 });
    const b2bua = await startB2bua(`sip:callee@127.0.0.1:${callee.port}`);
    failOnError(t, b2bua.app, name);
    const caller = await embeddedSrf();
    try {
      const dialog = await caller.srf.createUAC(`sip:svc@${b2bua.sip}`, { localSdp: SDP(5000) });
      const hungUp = once(dialog, 'destroy');
      const r = await callee.done;
      assert.equal(r.stats.successful, 1, r.summary());
      await hungUp; // the callee's BYE reached the caller through the B2BUA
      if (b2bua.errors) assert.deepEqual(b2bua.errors.map(String), []);
    } finally {
      caller.srf.disconnect();
      await b2bua.close();
      if (callee.child.exitCode === null) callee.child.kill();
    }
  });
}
