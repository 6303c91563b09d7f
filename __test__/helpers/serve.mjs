// Runs `drachtio-rs serve` as a child process on free loopback ports, for tests.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'lib', 'cli.js');

/** Starts serve (SIP on `sipHost`, e.g. '[::1]'); resolves with {admin: {host, port}, sip: 'host:port', child, stop()}. */
export async function startServe({ secret = 'cymru', transport = 'udp', extra = [], ports = { admin: 0, sip: 0 }, sipHost = '127.0.0.1' } = {}) {
  const args = [cli, 'serve', '--address', '127.0.0.1', '--port', String(ports.admin), '--secret', secret,
    '--contact', `sip:${sipHost}:${ports.sip};transport=${transport}`, '--loglevel', 'warn', ...extra];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const started = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${err}`)), 10000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /control on ([\d.]+):(\d+), SIP on (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ host: m[1], port: Number(m[2]), sip: m[3] });
      }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`serve exited ${code}: ${err}`)); });
  });
  const sipAddr = started.sip.split(',')[0].split('/')[1];
  return {
    admin: { host: started.host, port: started.port },
    sip: sipAddr,
    child,
    stderr: () => err,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode; // already gone
      const exited = new Promise((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      child.kill('SIGCONT'); // a test may have stopped it (SIGSTOP); a stopped process ignores TERM until continued
      return exited;
    },
  };
}

/**
 * serve's warnings so far, as { message, peer } (peer is "ip:port"): serve logs each
 * connection it refuses or closes, with the peer's address, so a test can tell what serve did
 * to one of its connections from serve's own account rather than from timing.
 */
export function serveWarnings(serve) {
  const out = [];
  for (const line of serve.stderr().split('\n')) {
    const m = /\bWARN \S+: (.*?)(?: peer=(\S+))?(?: error=(.*))?$/.exec(line);
    if (m) out.push({ message: m[1], peer: m[2], error: m[3] });
  }
  return out;
}

/**
 * Resolves once serve has applied every route `app` registered so far. Routes go to serve as
 * commands on the app's one connection, which serve handles in order, so a request sent after
 * them is confirmed only after they took effect. The request goes to a UDP socket that never
 * answers; its transaction dies with the app's connection.
 */
export async function routesApplied(app) {
  const { default: dgram } = await import('node:dgram');
  const sink = dgram.createSocket('udp4');
  await new Promise((r) => sink.bind(0, '127.0.0.1', r));
  try {
    await app.request(`sip:barrier@127.0.0.1:${sink.address().port}`, { method: 'OPTIONS' });
  } finally {
    sink.close();
  }
}

/** Makes any 'error' event of `srf` fail the test `t` (and be recorded): none is expected. */
export function failOnError(t, srf, label = 'srf') {
  const errors = [];
  srf.on('error', (err) => errors.push(err));
  t.after(() => {
    if (errors.length) throw new Error(`${label} emitted 'error': ${errors.map((e) => e && e.message).join('; ')}`);
  });
  return errors;
}
