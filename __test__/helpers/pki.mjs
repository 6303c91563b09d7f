// Certificates for the TLS tests, made with openssl in a temporary folder: a CA and a server
// certificate for 127.0.0.1/localhost signed by it. Without openssl a test skips with the
// reason, except on CI, which installs openssl (.ci/run) and so fails instead.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { onCI } from './shared.mjs';

/**
 * { dir, ca, key, cert } as PEM text, and keyFile, certFile, chainFile (server certificate
 * then CA) as paths in `dir`; remove `dir` when done.
 */
export function makePki() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srf-pki-'));
  const run = (args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=srf-test-ca', '-keyout', 'ca.key', '-out', 'ca.pem']);
  fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'srv.key', '-out', 'srv.csr']);
  run(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'ext.cnf', '-out', 'srv.pem']);
  const file = (f) => path.join(dir, f);
  const read = (f) => fs.readFileSync(file(f), 'utf8');
  fs.writeFileSync(file('chain.pem'), read('srv.pem') + read('ca.pem'));
  return { dir, ca: read('ca.pem'), key: read('srv.key'), cert: read('srv.pem'), keyFile: file('srv.key'), certFile: file('srv.pem'), chainFile: file('chain.pem') };
}

/** makePki() for test `t`, removed after it; null (the test skipped) without openssl off CI. */
export function pkiFor(t) {
  let pki;
  try {
    pki = makePki();
  } catch (err) {
    if (onCI()) throw err;
    t.skip(`openssl is not available to make a test certificate: ${err.message}`);
    return null;
  }
  t.after(() => fs.rmSync(pki.dir, { recursive: true, force: true }));
  return pki;
}
