// Request handlers on `drachtio-rs serve` (wire-protocol.md §3.2, seed 000 "outbound
// connections"): a web callback written here (node:http) tells serve where each new request
// goes; the app is the real drachtio-srf 5.0.29 in listen mode, to which serve opens an
// outbound connection per request. Callback failures (down, slow past the 3 s timeout,
// garbage) give the caller a 500 while other calls complete; reject, redirect and proxy
// actions; a tcp:// handler; a route by tag to an inbound app; endSession frees the connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import { embeddedSrf, SDP, waitFor } from '../helpers/embedded.mjs';
import { startServe, routesApplied } from '../helpers/serve.mjs';
import { requireSipp, runSipp, freePort } from '../helpers/sipp.mjs';

const require = createRequire(import.meta.url);
const DrachtioSrf = require('drachtio-srf');
const OurSrf = require('../../index.js');

/** A web callback: `decide(query, body)` returns the JSON reply (or a string, or 'slow'). */
async function webCallback(decide) {
  const seen = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', async () => {
      const url = new URL(req.url, 'http://x');
      const query = Object.fromEntries(url.searchParams);
      seen.push({ method: req.method, path: url.pathname, query, body, accept: req.headers.accept, contentType: req.headers['content-type'], raw: req.url });
      const reply = await decide(query, body);
      if (reply === undefined) return; // never answers
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(typeof reply === 'string' ? reply : JSON.stringify(reply));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${server.address().port}`, seen, close: () => { server.closeAllConnections(); server.close(); } };
}

/** TCP sockets to or from `port` in `state` (ss from iproute2), or null without ss. */
function socketsIn(state, port) {
  const out = spawnSync('ss', ['-Htan', 'state', state, `( sport = :${port} or dport = :${port} )`], { encoding: 'utf8' });
  if (out.error || out.status !== 0) return null;
  return out.stdout.split('\n').filter((l) => l.trim()).length;
}

/** Waits until the app holds no connection and neither side has one half-closed. */
async function sessionsGone(app) {
  const end = Date.now() + 5000;
  const open = async () => (await app.connections()) + (socketsIn('close-wait', app.port) ?? 0) + (socketsIn('fin-wait-2', app.port) ?? 0);
  while (await open() !== 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  assert.equal(await app.connections(), 0, 'the app holds no session');
  assert.equal(socketsIn('close-wait', app.port) ?? 0, 0, 'no socket in CLOSE-WAIT');
  assert.equal(socketsIn('fin-wait-2', app.port) ?? 0, 0, 'no socket in FIN-WAIT-2');
}

/** The real drachtio-srf in listen mode: answers INVITEs, ends the session on BYE. */
async function listeningApp({ endSession = true } = {}) {
  const srf = new DrachtioSrf();
  srf.on('error', () => {});
  const stats = { answered: 0, ended: 0 };
  const held = new Set(); // Call-IDs of the calls whose dialog the app holds, its listener attached
  srf.invite(async (req, res) => {
    try {
      const uas = await srf.createUAS(req, res, { localSdp: SDP(6000) });
      stats.answered++;
      held.add(req.get('Call-ID'));
      uas.on('destroy', () => {
        stats.ended++;
        if (endSession) srf.endSession(req);
      });
    } catch { /* the caller went away */ }
  });
  const port = await freePort();
  const server = srf.listen({ port, host: '127.0.0.1', secret: 'cymru' });
  await once(server, 'listening');
  const connections = () => new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
  return { srf, port, stats, holds: (callId) => held.has(callId), connections, close: () => new Promise((r) => server.close(r)) };
}

/**
 * Calls `uri`: the status, 200 once the caller has hung up. With `app` (the call reaches that
 * listening app), it hangs up only once the app holds the dialog: the app attaches its
 * 'destroy' listener after createUAS resolves, which can be after our createUAC has.
 */
const callerError = async (caller, uri, app) => {
  let dialog;
  try {
    dialog = await caller.srf.createUAC(uri, { localSdp: SDP(5000) });
  } catch (err) {
    return err.status;
  }
  // On a timeout the app's 'ended' count, awaited by the test, says what is missing.
  if (app) await waitFor(() => app.holds(dialog.sip.callId), 5000).catch(() => {});
  dialog.destroy();
  return 200;
};

test('50 sipp calls routed by a web callback to drachtio-srf in listen mode; endSession frees every connection', { timeout: 60000 }, async (t) => {
  if (!requireSipp(t)) return;
  const app = await listeningApp();
  const web = await webCallback(() => ({ action: 'route', data: { uri: `127.0.0.1:${app.port}` } }));
  const serve = await startServe({ extra: ['--http-handler', web.url] });
  try {
    const calls = await runSipp(['-sn', 'uac', serve.sip, '-s', 'svc', '-m', '50', '-r', '20', '-l', '30', '-d', '100'], { timeoutMs: 40000 });
    assert.equal(calls.code, 0, calls.summary());
    assert.equal(calls.stats.successful, 50, calls.summary());
    await waitFor(() => app.stats.ended === 50, 5000);
    // Every web callback request as drachtio-server makes it.
    assert.equal(web.seen.length, 50);
    const first = web.seen[0];
    assert.equal(first.method, 'GET');
    assert.equal(first.path, '/');
    assert.equal(first.accept, 'application/json');
    assert.match(first.raw, /^\/\?method=INVITE&domain=127\.0\.0\.1&protocol=udp&source_address=127\.0\.0\.1&fromUser=sipp&toUser=svc&uriUser=svc&contentType=application%2fsdp&uri=sip%3asvc%40127\.0\.0\.1%3a\d+$/);
    // endSession closed each outbound connection; serve closed its end too (no CLOSE-WAIT).
    await sessionsGone(app);
  } finally {
    await serve.stop();
    web.close();
    await app.close();
  }
});

test('web callback failures give the caller a 500 while other calls complete; reject, redirect, proxy, tcp://, tag', { timeout: 60000 }, async (t) => {
  const app = await listeningApp();
  const target = await embeddedSrf({
    setup: (srf) => srf.invite(async (req, res) => {
      try { await srf.createUAS(req, res, { localSdp: SDP(7000) }); } catch { /* caller gone */ }
    }),
  });
  const web = await webCallback(async (q, body) => {
    switch (q.uriUser) {
      case 'slow': await new Promise((r) => setTimeout(r, 4000)); return { action: 'route', data: { uri: `127.0.0.1:${app.port}` } };
      case 'garbage': return '<html>definitely not json</html>';
      case 'nojson': return { action: 'reject' };
      case 'reject': return { action: 'reject', data: { status: 486, reason: 'Busy Here' } };
      case 'redirect': return { action: 'redirect', data: { contact: ['<sip:a@127.0.0.1:5999>', '<sip:b@127.0.0.1:5998>'] } };
      case 'proxy': return { action: 'proxy', data: { destination: target.uri('proxied') } };
      case 'nowhere': return { action: 'route', data: { uri: `127.0.0.1:${await freePort()}` } };
      case 'tagged': return { action: 'route', data: { tag: 'blue' } };
      case 'untagged': return { action: 'route', data: { tag: 'green' } };
      case 'post': return { action: 'reject', data: { status: 404, reason: body.startsWith('INVITE sip:post@') ? 'Got The Body' : 'No Body' } };
      default: return { action: 'route', data: { uri: `127.0.0.1:${app.port}` } };
    }
  });
  const cleanup = [];
  t.after(async () => { for (const f of cleanup.reverse()) await f(); });
  cleanup.push(() => app.close(), () => web.close(), () => target.srf.disconnect());
  const serve = await startServe({ extra: ['--http-handler', web.url] });
  // An inbound app with tag blue: the handler's route by tag reaches it.
  const inbound = new OurSrf();
  inbound.on('error', () => {});
  let tagged = 0;
  inbound.invite(async (req, res) => { tagged++; res.send(486); });
  inbound.connect({ host: serve.admin.host, port: serve.admin.port, secret: 'cymru', tags: ['blue'] });
  await once(inbound, 'connect');
  await routesApplied(inbound);
  const caller = await embeddedSrf();
  const uri = (user) => `sip:${user}@${serve.sip}`;
  try {
    const started = Date.now();
    const results = await Promise.all(['slow', 'garbage', 'nojson', 'ok1', 'ok2', 'reject', 'redirect', 'proxy', 'nowhere', 'tagged', 'untagged', 'ok3']
      .map(async (user) => [user, await callerError(caller, uri(user), /^ok/.test(user) ? app : undefined), Date.now() - started]));
    const byUser = Object.fromEntries(results.map(([u, s]) => [u, s]));
    assert.deepEqual(byUser, {
      slow: 500, garbage: 500, nojson: 500, ok1: 200, ok2: 200, reject: 486, redirect: 302, proxy: 200, nowhere: 480, tagged: 486, untagged: 480, ok3: 200,
    });
    const slowAt = results.find(([u]) => u === 'slow')[2];
    assert.ok(slowAt >= 2900 && slowAt < 4000, `the slow callback gave up after the 3 s timeout (${slowAt} ms)`);
    const okAt = results.find(([u]) => u === 'ok1')[2];
    assert.ok(okAt < 2500, `other calls did not wait for the slow one (${okAt} ms)`);
    assert.equal(tagged, 1);
    await waitFor(() => app.stats.ended === 3, 5000).catch(() => assert.fail(`app: ${JSON.stringify(app.stats)}`));
  } finally {
    caller.srf.disconnect();
    inbound.disconnect();
    await serve.stop();
  }

  // The callback down: 500. POST sends the SIP request as text/plain.
  const down = await startServe({ extra: ['--http-handler', `http://127.0.0.1:${await freePort()}`] });
  const post = await startServe({ extra: ['--http-handler', web.url, '--http-method', 'POST'] });
  const direct = await startServe({ extra: ['--http-handler', `tcp://127.0.0.1:${app.port}`] });
  const caller2 = await embeddedSrf();
  try {
    assert.equal(await callerError(caller2, `sip:svc@${down.sip}`), 500);
    assert.equal(await callerError(caller2, `sip:post@${post.sip}`), 404);
    const posted = web.seen.find((s) => s.query.uriUser === 'post');
    assert.equal(posted.method, 'POST');
    assert.equal(posted.contentType, 'text/plain; charset=UTF-8');
    // tcp:// skips HTTP: straight to the app.
    const before = web.seen.length;
    assert.equal(await callerError(caller2, `sip:direct@${direct.sip}`, app), 200);
    assert.equal(web.seen.length, before);
    await waitFor(() => app.stats.ended === 4, 5000);
    await sessionsGone(app);
  } finally {
    caller2.srf.disconnect();
    await Promise.all([down.stop(), post.stop(), direct.stop()]);
  }
});

test('methods without a handler still go to inbound apps (mixing rules)', { timeout: 30000 }, async () => {
  const web = await webCallback(() => ({ action: 'reject', data: { status: 403 } }));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'serve-handlers-'));
  const file = `${dir}/drachtio.conf.xml`;
  fs.writeFileSync(file, `<drachtio><admin port="9022" secret="cymru">127.0.0.1</admin>
  <request-handlers><request-handler sip-method="INVITE" http-method="GET" verify-peer="false">${web.url}</request-handler></request-handlers>
</drachtio>`);
  const serve = await startServe({ extra: ['-f', file] });
  const inbound = new OurSrf();
  inbound.on('error', () => {});
  let invites = 0;
  inbound.invite((req, res) => { invites++; res.send(200); });
  inbound.options((req, res) => res.send(200));
  inbound.connect({ host: serve.admin.host, port: serve.admin.port, secret: 'cymru' });
  await once(inbound, 'connect');
  await routesApplied(inbound);
  const caller = await embeddedSrf();
  try {
    assert.equal(await callerError(caller, `sip:svc@${serve.sip}`), 403, 'INVITE has a handler: never to the inbound app');
    assert.equal(invites, 0);
    const res = await new Promise((resolve, reject) => caller.srf.request(`sip:svc@${serve.sip}`, { method: 'OPTIONS' }, (err, req) => {
      if (err) return reject(err);
      req.on('response', resolve);
    }));
    assert.equal(res.status, 200, 'OPTIONS has none: to the inbound app');
    assert.equal(web.seen.length, 1);
  } finally {
    caller.srf.disconnect();
    inbound.disconnect();
    await serve.stop();
    web.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
