// Faults: `drachtio-rs serve` killed with SIGKILL while calls are up, then restarted on the
// same ports; an app killed while its call is ringing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { embeddedSrf, Srf, SDP, waitFor } from '../helpers/embedded.mjs';
import { startServe } from '../helpers/serve.mjs';

test('serve killed with SIGKILL mid-call: the app reconnects, pending requests fail, new calls work', { timeout: 30000 }, async () => {
  // First start on ports the OS picks; the restart reuses them.
  let serve = await startServe();
  const adminPort = serve.admin.port;
  const sipPort = Number(serve.sip.split(':')[1]);
  const start = () => startServe({ ports: { admin: adminPort, sip: sipPort } });
  const app = new Srf();
  const events = [];
  app.on('error', (e) => events.push(`error ${e.message}`));
  app.on('reconnecting', () => events.push('reconnecting'));
  let answered = 0;
  app.invite(async (req, res) => {
    await app.createUAS(req, res, { localSdp: SDP(4000) });
    answered++;
  });
  app.connect({ host: '127.0.0.1', port: adminPort, secret: 'cymru', reconnect: { retryMaxDelay: 300 } });
  await once(app, 'connect');
  const caller = await embeddedSrf();
  try {
    const dialog = await caller.srf.createUAC(`sip:svc@127.0.0.1:${sipPort}`, { localSdp: SDP(5000) });
    await waitFor(() => answered === 1);
    serve.child.kill('SIGKILL');
    await once(serve.child, 'exit');
    await waitFor(() => events.includes('reconnecting'), 5000);
    // While serve is down a request fails at once with a clear error, not silence.
    await assert.rejects(app.request('sip:nobody@127.0.0.1:9', { method: 'OPTIONS' }), /not connected/);
    serve = await start();
    await once(app, 'connect');
    await new Promise((r) => setTimeout(r, 100));
    const again = await caller.srf.createUAC(`sip:svc@127.0.0.1:${sipPort}`, { localSdp: SDP(5000) });
    await waitFor(() => answered === 2); // a new call after the restart reaches the app
    await again.destroy();
    await dialog.destroy().catch(() => {}); // its server is gone: may fail, must not hang
  } finally {
    caller.srf.disconnect();
    app.disconnect();
    await serve.stop();
  }
});

test('an app process killed with SIGKILL while its call rings: serve answers 480, nothing is stuck', { timeout: 30000 }, async () => {
  const serve = await startServe();
  const index = fileURLToPath(new URL('../../index.js', import.meta.url));
  const script = `
    const Srf = require(${JSON.stringify(index)});
    const srf = new Srf();
    srf.invite((req, res) => { res.send(180); console.log('ringing'); });
    srf.connect({ host: '127.0.0.1', port: ${serve.admin.port}, secret: 'cymru' }, () => console.log('ready'));`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const caller = await embeddedSrf();
  try {
    await waitFor(() => out.includes('ready'), 5000);
    await new Promise((r) => setTimeout(r, 100));
    const call = caller.srf.createUAC(`sip:svc@${serve.sip}`, { localSdp: SDP(5000) });
    await waitFor(() => out.includes('ringing'), 5000);
    child.kill('SIGKILL');
    await assert.rejects(call, (err) => err.status === 480);
  } finally {
    child.kill('SIGKILL');
    caller.srf.disconnect();
    await serve.stop();
  }
});
