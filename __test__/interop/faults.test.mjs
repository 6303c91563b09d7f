// Faults: `drachtio-rs serve` killed with SIGKILL while calls are up, then restarted on the
// same ports; an app killed with calls up and ringing, then restarted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { embeddedSrf, Srf, SDP, waitFor } from '../helpers/embedded.mjs';
import { startServe, routesApplied } from '../helpers/serve.mjs';

/** True once every thread of `pid` is stopped (state T in /proc): a signal takes effect asynchronously. */
function isStopped(pid) {
  const tasks = fs.readdirSync(`/proc/${pid}/task`);
  return tasks.every((t) => / T /.test(fs.readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8').replace(/^.*\) /, ' ')));
}

test('serve killed with SIGKILL mid-call: the app reconnects, pending requests fail, new calls work', { timeout: 30000 }, async () => {
  // First start on ports the OS picks; the restart reuses them.
  let serve = await startServe();
  const adminPort = serve.admin.port;
  const sipPort = Number(serve.sip.split(':')[1]);
  const start = () => startServe({ ports: { admin: adminPort, sip: sipPort } });
  const app = new Srf();
  const events = [];
  // The only error expected is the lost connection; any other fails the test below.
  app.on('error', (e) => events.push(`error ${e.message}`));
  app.on('reconnecting', () => events.push('reconnecting'));
  let answered = 0;
  app.invite(async (req, res) => {
    await app.createUAS(req, res, { localSdp: SDP(4000) });
    answered++;
  });
  app.connect({ host: '127.0.0.1', port: adminPort, secret: 'cymru', reconnect: { retryMaxDelay: 300 } });
  await once(app, 'connect');
  await routesApplied(app);
  const caller = await embeddedSrf();
  try {
    const dialog = await caller.srf.createUAC(`sip:svc@127.0.0.1:${sipPort}`, { localSdp: SDP(5000) });
    await waitFor(() => answered === 1);
    // A request in flight when serve dies: serve is stopped first so it cannot confirm it, then
    // killed. The request must fail, not wait forever.
    serve.child.kill('SIGSTOP');
    await waitFor(() => isStopped(serve.child.pid), 5000);
    const inFlight = app.request('sip:nobody@127.0.0.1:9', { method: 'OPTIONS' });
    inFlight.catch(() => {});
    const exited = once(serve.child, 'exit');
    serve.child.kill('SIGKILL');
    await exited;
    await assert.rejects(inFlight, (err) => err instanceof Error && err.message.length > 0, 'a request pending when serve died is rejected');
    await waitFor(() => events.includes('reconnecting'), 5000);
    // While serve is down a request fails at once with a clear error, not silence.
    await assert.rejects(app.request('sip:nobody@127.0.0.1:9', { method: 'OPTIONS' }), /not connected/);
    const reconnected = once(app, 'connect');
    serve = await start();
    const [err] = await reconnected;
    assert.ifError(err);
    await routesApplied(app);
    const again = await caller.srf.createUAC(`sip:svc@127.0.0.1:${sipPort}`, { localSdp: SDP(5000) });
    await waitFor(() => answered === 2); // a new call after the restart reaches the app
    const byeAgain = await again.request({ method: 'BYE' });
    assert.equal(byeAgain.status, 200, 'a call set up after the restart hangs up normally');
    // The call from before the crash: the restarted serve has no record of its dialog.
    const byeOld = await dialog.request({ method: 'BYE' });
    assert.equal(byeOld.status, 481, `a BYE for a dialog serve lost in the crash: ${byeOld.status} ${byeOld.reason}`);
    assert.deepEqual(events.filter((e) => e.startsWith('error') && !/connection|closed|ECONNRE|EPIPE|reset/i.test(e)), [], 'no other error');
  } finally {
    caller.srf.disconnect();
    app.disconnect();
    await serve.stop();
  }
});

test('an app process killed with SIGKILL with calls up and ringing: serve hangs up (BYE) and rejects (480); the restarted app takes new calls', { timeout: 30000 }, async () => {
  const serve = await startServe();
  const index = fileURLToPath(new URL('../../index.js', import.meta.url));
  const script = `
    const Srf = require(${JSON.stringify(index)});
    const srf = new Srf();
    srf.invite((req, res) => {
      if (req.calledNumber === 'ring') { res.send(180); console.log('ringing'); return; }
      srf.createUAS(req, res, { localSdp: 'v=0\\r\\no=- 1 1 IN IP4 127.0.0.1\\r\\ns=-\\r\\nc=IN IP4 127.0.0.1\\r\\nt=0 0\\r\\nm=audio 4000 RTP/AVP 0\\r\\n' })
        .then(() => console.log('answered'));
    });
    srf.on('error', (err) => { console.error('app error: ' + err.message); process.exit(3); });
    // 'ready' once serve has applied the routes: a request sent after them is confirmed after them
    srf.connect({ host: '127.0.0.1', port: ${serve.admin.port}, secret: 'cymru' },
      () => srf.request('sip:barrier@127.0.0.1:9', { method: 'OPTIONS' }).then(() => console.log('ready')));`;
  const startApp = () => {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.out = '';
    child.stdout.on('data', (d) => { child.out += d; });
    return child;
  };
  let app = startApp();
  const caller = await embeddedSrf();
  try {
    await waitFor(() => app.out.includes('ready'), 5000);
    const up = await Promise.all([1, 2].map(() => caller.srf.createUAC(`sip:svc@${serve.sip}`, { localSdp: SDP(5000) })));
    const hungUp = up.map((d) => new Promise((r) => d.once('destroy', r)));
    const ringing = caller.srf.createUAC(`sip:ring@${serve.sip}`, { localSdp: SDP(5002) });
    await waitFor(() => app.out.includes('ringing'), 5000);
    app.kill('SIGKILL');
    await assert.rejects(ringing, (err) => err.status === 480);
    await Promise.all(hungUp); // serve sent BYE for each established call of the dead app
    app = startApp();
    await waitFor(() => app.out.includes('ready'), 5000);
    const again = await caller.srf.createUAC(`sip:svc@${serve.sip}`, { localSdp: SDP(5004) });
    assert.equal(again.connected, true, 'a new call reaches the restarted app');
    await again.destroy();
  } finally {
    app.kill('SIGKILL');
    caller.srf.disconnect();
    await serve.stop();
  }
});
