// Runs `drachtio-rs serve` as a child process on free loopback ports, for tests.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'lib', 'cli.js');

/** Starts serve; resolves with {admin: {host, port}, sip: 'host:port', child, stop()}. */
export async function startServe({ secret = 'cymru', transport = 'udp', extra = [], ports = { admin: 0, sip: 0 } } = {}) {
  const args = [cli, 'serve', '--address', '127.0.0.1', '--port', String(ports.admin), '--secret', secret,
    '--contact', `sip:127.0.0.1:${ports.sip};transport=${transport}`, '--loglevel', 'warn', ...extra];
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
      return exited;
    },
  };
}
