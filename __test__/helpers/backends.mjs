// One Srf app on either backend, so a test body runs unchanged against both:
//   'embedded': the app's own in-process engine (srf.connect({embedded})),
//   'serve':    `drachtio-rs serve` as a child process, the app connected over the control protocol.
// Every 'error' the Srf emits is recorded in `errors`; close() ends the app (and serve).
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Srf } from './embedded.mjs';
import { startServe } from './serve.mjs';
import { SipPeer } from './sip-peer.mjs';

export const BACKENDS = ['embedded', 'serve'];

/**
 * Starts an app on `kind`. Options: transport ('udp' | 'tcp'), timers ({t1, t2, t4} in ms),
 * maxPendingRequests (embedded only: serve has no setting for it), session ({minSE (s),
 * defaultRefresher}: embedded options, serve --min-se/--default-refresher), setup(srf) before
 * connecting. Resolves with { kind, srf, addr ('host:port' of the SIP listening point), errors, close() }.
 */
export async function startApp(kind, { transport = 'udp', timers = {}, maxPendingRequests, session = {}, setup, settle = true } = {}) {
  const app = await connectApp(kind, { transport, timers, maxPendingRequests, session, setup });
  if (settle) await routesInForce(app);
  return app;
}

/**
 * Waits until routes registered before connect() are in force. 'connect' can be emitted before
 * the engine has applied them (a request arriving at once then gets 503 as if no app were
 * there), so: the app sends an OPTIONS to a probe socket and it is answered. Commands reach the
 * engine in order, so once that OPTIONS goes out, the routes sent before it are in place.
 */
async function routesInForce(app) {
  const tcp = app.transport === 'tcp';
  const probe = tcp ? await SipPeer.tcpListen() : await SipPeer.udp(app.addr); // sends only the answer
  try {
    const req = await app.srf.request(`sip:probe@${probe.hostport}${tcp ? ';transport=tcp' : ''}`, { method: 'OPTIONS' });
    const answered = new Promise((resolve) => req.on('response', resolve));
    const options = await probe.expect((m) => m.method === 'OPTIONS', { what: 'the settling OPTIONS' });
    probe.send(probe.response(options, 200, { toTag: 'probe' }));
    await answered;
  } finally {
    probe.close();
  }
}

async function connectApp(kind, { transport, timers, maxPendingRequests, session = {}, setup }) {
  const errors = [];
  const srf = new Srf();
  srf.on('error', (err) => errors.push(err));
  if (setup) setup(srf);
  if (kind === 'embedded') {
    srf.connect({ embedded: { contacts: [`sip:127.0.0.1:0;transport=${transport}`], ...timers, maxPendingRequests, ...session } });
    const [err, hostport] = await once(srf, 'connect');
    if (err) throw err;
    const addr = hostport.split(',')[0].split('/')[1];
    return { kind, transport, srf, addr, errors, close: async () => { srf.disconnect(); } };
  }
  if (kind !== 'serve') throw new Error(`unknown backend ${kind}`);
  const extra = [];
  if (session.minSE !== undefined) extra.push('--min-se', String(session.minSE));
  if (session.defaultRefresher !== undefined) extra.push('--default-refresher', session.defaultRefresher);
  let dir;
  const entries = Object.entries(timers).filter(([, v]) => v !== undefined);
  if (entries.length) {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'serve-timers-'));
    const file = path.join(dir, 'serve.toml');
    fs.writeFileSync(file, entries.map(([k, v]) => `${k} = ${Number(v)}\n`).join(''));
    extra.push('--file', file);
  }
  const serve = await startServe({ transport, extra });
  const stop = async () => {
    srf.disconnect();
    await serve.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  };
  srf.connect({ host: serve.admin.host, port: serve.admin.port, secret: 'cymru' });
  const [err] = await once(srf, 'connect');
  if (err) {
    await stop();
    throw err;
  }
  return { kind, transport, srf, addr: serve.sip, errors, serve, close: stop };
}
