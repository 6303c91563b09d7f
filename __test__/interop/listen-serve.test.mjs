// Outbound connections end to end: sipp calls `drachtio-rs serve`, whose request handler (a
// node:http webhook in this test) routes every new request to our Srf in listen mode; serve
// connects to the app per request, the app answers, and ends the session when the call is
// over. Then the same app code runs with srf.connect() against serve without a handler.
// Needs sipp; skipped with a reason when serve does not take `--http-handler` yet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { waitFor } from '../helpers/embedded.mjs';
import { startServe, routesApplied, failOnError } from '../helpers/serve.mjs';
import { requireSipp, runSipp } from '../helpers/sipp.mjs';
import { pkiFor } from '../helpers/pki.mjs';

const require = createRequire(import.meta.url);
const Srf = require('../../index.js');
const { install } = require('../../examples/listen-app.js');

const CALLS = 50;

/** A webhook answering every request with `route` to `uri()`; counts what it was asked. */
async function webhook(uri) {
  const asked = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    asked.push(Object.fromEntries(url.searchParams));
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ action: 'route', data: { uri: uri() } }));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, asked, close: () => new Promise((r) => server.close(r)) };
}

/** Starts serve with a request handler, or says why it cannot (old serve). */
async function serveWithHandler(t, url) {
  try {
    return await startServe({ extra: ['--http-handler', url] });
  } catch (err) {
    if (/http-handler|not supported|unknown/i.test(err.message)) {
      t.skip(`drachtio-rs serve does not take --http-handler yet: ${err.message.split('\n')[0]}`);
      return null;
    }
    throw err;
  }
}

/** TCP connections on `port` (either end) by state, from `ss`; null when ss is missing. */
function socketsOn(port) {
  let out;
  try {
    out = execFileSync('ss', ['-Htan'], { encoding: 'utf8' });
  } catch {
    return null;
  }
  const states = {};
  for (const line of out.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 5) continue;
    const [state, , , local, peer] = cols;
    if (state === 'LISTEN') continue;
    if (local.endsWith(`:${port}`) || peer.endsWith(`:${port}`)) states[state] = (states[state] || 0) + 1;
  }
  return states;
}

function countCalls(srf) {
  const seen = { invites: 0, ended: 0, sessionsClosed: 0, peak: 0, open: 0 };
  install(srf, (line) => {
    if (/^INVITE /.test(line)) seen.invites++;
    if (/ ended$/.test(line)) seen.ended++;
  });
  return seen;
}

test(`${CALLS} sipp calls through serve's request handler to our Srf in listen mode; endSession frees each connection`, { timeout: 120000 }, async (t) => {
  if (!requireSipp(t)) return;
  const srf = new Srf();
  failOnError(t, srf, 'listen-mode app');
  const seen = countCalls(srf);
  srf.on('connect', () => { seen.open++; seen.peak = Math.max(seen.peak, seen.open); });
  srf.on('close', () => { seen.open--; seen.sessionsClosed++; });
  const server = srf.listen({ port: 0, host: '127.0.0.1', secret: 'cymru' });
  await once(srf, 'listening');
  const appPort = server.address().port;
  const hook = await webhook(() => `127.0.0.1:${appPort}`);
  const serve = await serveWithHandler(t, hook.url);
  if (!serve) {
    srf.disconnect();
    await hook.close();
    return;
  }
  try {
    const calls = await runSipp(['-sn', 'uac', serve.sip, '-m', String(CALLS), '-r', '20', '-l', '20', '-d', '50'], { timeoutMs: 60000 });
    assert.equal(calls.code, 0, calls.summary());
    assert.equal(calls.stats.successful, CALLS, calls.summary());
    await waitFor(() => seen.ended === CALLS, 10000);
    assert.equal(seen.invites, CALLS);
    assert.equal(hook.asked.filter((q) => q.method === 'INVITE').length, CALLS, 'the webhook was asked once per call');
    // Every call's connection is gone once its BYE was answered and endSession ran.
    await waitFor(() => seen.sessionsClosed === CALLS, 10000);
    const open = await new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
    assert.equal(open, 0, 'no session left open on the app');
    assert.ok(seen.peak >= 1 && seen.peak <= 20, `sessions open at once: ${seen.peak}`);
    // ...and on both sides of the socket: nothing ESTABLISHED or half closed (TIME-WAIT is fine).
    await waitFor(() => {
      const s = socketsOn(appPort);
      return s === null || (!s.ESTAB && !s['CLOSE-WAIT'] && !s['FIN-WAIT-2'] && !s['LAST-ACK']);
    }, 10000);
  } finally {
    srf.disconnect();
    await serve.stop();
    await hook.close();
  }
});

test(`the same app code with srf.connect(): ${CALLS} sipp calls through serve without a handler`, { timeout: 120000 }, async (t) => {
  if (!requireSipp(t)) return;
  const serve = await startServe();
  const srf = new Srf();
  failOnError(t, srf, 'connect-mode app');
  const seen = countCalls(srf);
  srf.connect({ host: serve.admin.host, port: serve.admin.port, secret: 'cymru' });
  await once(srf, 'connect');
  try {
    await routesApplied(srf);
    const calls = await runSipp(['-sn', 'uac', serve.sip, '-m', String(CALLS), '-r', '20', '-l', '20', '-d', '50'], { timeoutMs: 60000 });
    assert.equal(calls.code, 0, calls.summary());
    assert.equal(calls.stats.successful, CALLS, calls.summary());
    await waitFor(() => seen.ended === CALLS, 10000);
    // endSession is a no-op here: the one connection is still up and usable.
    const ping = await runSipp(['-sn', 'uac', serve.sip, '-m', '1'], { timeoutMs: 20000 });
    assert.equal(ping.stats.successful, 1, ping.summary());
  } finally {
    srf.disconnect();
    await serve.stop();
  }
});

test('TLS: serve routes to our Srf listening with { tls } (route uri ;transport=tls)', { timeout: 60000 }, async (t) => {
  if (!requireSipp(t)) return;
  const pki = pkiFor(t);
  if (!pki) return;
  const creds = { key: pki.key, cert: pki.cert };
  const srf = new Srf();
  failOnError(t, srf, 'TLS listen-mode app');
  const seen = countCalls(srf);
  let sessionsClosed = 0;
  srf.on('close', () => { sessionsClosed++; });
  const server = srf.listen({ port: 0, host: '127.0.0.1', secret: 'cymru', tls: creds });
  await once(srf, 'listening');
  const hook = await webhook(() => `127.0.0.1:${server.address().port};transport=tls`);
  const serve = await serveWithHandler(t, hook.url);
  if (!serve) {
    srf.disconnect();
    await hook.close();
    return;
  }
  try {
    const calls = await runSipp(['-sn', 'uac', serve.sip, '-m', '5', '-r', '10', '-d', '50'], { timeoutMs: 30000 });
    assert.equal(calls.stats.successful, 5, calls.summary());
    await waitFor(() => seen.ended === 5 && sessionsClosed === 5, 10000);
  } finally {
    srf.disconnect();
    await serve.stop();
    await hook.close();
  }
});
