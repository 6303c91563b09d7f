// TLS on serve's admin (control) port, with drachtio-server's settings (--tls-port,
// --key-file, --cert-file / --chain-file): a CA and a server certificate made here with
// openssl; the real drachtio-srf 5.0.29 and our Srf connect over TLS and answer calls; our
// Srf reconnects (over TLS) after serve restarts. drachtio-srf 5.0.29 itself reconnects with
// plain TCP (wire-protocol.md §3.1 item 6), so its reconnect is not tested over TLS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { embeddedSrf, SDP, waitFor } from '../helpers/embedded.mjs';
import { startServe, routesApplied } from '../helpers/serve.mjs';
import { freePort } from '../helpers/sipp.mjs';
import { pkiFor } from '../helpers/pki.mjs';

const require = createRequire(import.meta.url);
const DrachtioSrf = require('drachtio-srf');
const OurSrf = require('../../index.js');

function answering(srf, calls) {
  srf.invite(async (req, res) => {
    try {
      await srf.createUAS(req, res, { localSdp: SDP(4000) });
      calls.count++;
    } catch { /* caller gone */ }
  });
}

async function callThrough(serve) {
  const caller = await embeddedSrf();
  try {
    const dialog = await caller.srf.createUAC(`sip:svc@${serve.sip}`, { localSdp: SDP(5000) });
    await new Promise((r) => setTimeout(r, 50));
    // Awaited: a BYE still on its way when the caller disconnects finds no dialog (ENODIALOG).
    await dialog.destroy();
  } finally {
    caller.srf.disconnect();
  }
}

test('TLS on the admin port: drachtio-srf and our Srf over TLS; our Srf reconnects after serve restarts', { timeout: 60000 }, async (t) => {
  const pki = pkiFor(t);
  if (!pki) return;
  const ports = { admin: await freePort(), sip: await freePort() };
  const tlsPort = await freePort();
  const tlsFlags = (certFlag) => ['--tls-port', String(tlsPort), '--key-file', pki.keyFile, ...certFlag, '--dh-param', '/nonexistent/dh.pem'];
  let serve = await startServe({ ports, extra: tlsFlags(['--cert-file', pki.certFile]) });
  const cleanup = [];
  t.after(async () => { for (const f of cleanup.reverse()) await f(); await serve.stop(); });

  // The real drachtio-srf over TLS.
  const theirs = new DrachtioSrf();
  theirs.on('error', () => {});
  const theirCalls = { count: 0 };
  answering(theirs, theirCalls);
  theirs.connect({ host: '127.0.0.1', port: tlsPort, secret: 'cymru', tls: { ca: pki.ca }, reconnect: { maxAttempts: 1 } });
  const [theirErr, theirHostport] = await once(theirs, 'connect');
  assert.equal(theirErr, null);
  assert.match(String(theirHostport), /udp\/127\.0\.0\.1:/);
  await routesApplied(theirs);
  await callThrough(serve);
  await waitFor(() => theirCalls.count === 1, 3000);
  theirs.disconnect();

  // Our Srf over TLS.
  const ours = new OurSrf();
  const reconnects = [];
  ours.on('error', () => {});
  ours.on('reconnecting', (r) => reconnects.push(r));
  const ourCalls = { count: 0 };
  answering(ours, ourCalls);
  ours.connect({ host: '127.0.0.1', port: tlsPort, secret: 'cymru', tls: { ca: pki.ca } });
  cleanup.push(() => ours.disconnect());
  const [err] = await once(ours, 'connect');
  assert.equal(err, null);
  await routesApplied(ours);
  await callThrough(serve);
  await waitFor(() => ourCalls.count === 1, 3000);

  // Without the CA the certificate is refused.
  const stranger = new OurSrf();
  const strangerErrors = [];
  stranger.on('error', (e) => strangerErrors.push(e.message));
  stranger.connect({ host: '127.0.0.1', port: tlsPort, secret: 'cymru', tls: {}, reconnect: { maxAttempts: 0 } });
  await waitFor(() => strangerErrors.length > 0, 5000);
  stranger.disconnect();

  // serve restarts on the same ports, now with the chain file: our Srf reconnects over TLS.
  // Listening from before the restart: the reconnect can complete before startServe returns.
  // (A plain listener: events.once would reject on the 'error' the lost connection may emit.)
  const reconnected = new Promise((resolve) => ours.once('connect', resolve));
  await serve.stop();
  serve = await startServe({ ports, extra: tlsFlags(['--chain-file', pki.chainFile]) });
  await waitFor(() => reconnects.length > 0, 5000);
  await reconnected;
  await routesApplied(ours);
  await callThrough(serve);
  await waitFor(() => ourCalls.count === 2, 3000);
});

test('TLS admin settings from drachtio.conf.xml (<admin tls-port>, <sip><tls>)', { timeout: 30000 }, async (t) => {
  const pki = pkiFor(t);
  if (!pki) return;
  const tlsPort = await freePort();
  const file = path.join(pki.dir, 'drachtio.conf.xml');
  fs.writeFileSync(file, `<drachtio>
  <admin port="9022" tls-port="${tlsPort}" secret="cymru">127.0.0.1</admin>
  <sip><tls><key-file>${pki.keyFile}</key-file><cert-file>${pki.certFile}</cert-file><min-tls-version>1.2</min-tls-version></tls></sip>
</drachtio>`);
  const serve = await startServe({ extra: ['-f', file] });
  const ours = new OurSrf();
  ours.on('error', () => {});
  try {
    ours.connect({ host: '127.0.0.1', port: tlsPort, secret: 'cymru', tls: { ca: pki.ca } });
    const [err] = await once(ours, 'connect');
    assert.equal(err, null);
  } finally {
    ours.disconnect();
    await serve.stop();
  }
});
