// The recorded proxy scenarios run live: the real drachtio-srf 5.0.29 app of each recording,
// connected to `drachtio-rs serve` through a logging TCP relay, SIPp on the SIP side. What the
// relay saw and what SIPp saw are compared with what drachtio-server did in the recording.
//
// 1. ../shared/traces/suite/proxy.trace (+ sip/proxy/*.msg; behaviour-catalogue.md §7 PRX-01/02):
//    drachtio-srf's integration test "proxy". Two connections in turn; each app proxies the
//    incoming INVITE with srf.proxyRequest(req, 'sip:<uas>', {remainInDialog: true}), the first
//    with the Promise form, the second with a callback. The caller (proxy-uac-suite.xml, the
//    suite's uac-proxy) sends ACK and BYE along the Record-Route; the UAS echoes Record-Route.
// 2. ../shared/traces/proxy.trace (README.md there): the "proxy" app, srf.proxyRequest(req, [dest],
//    {recordRoute: true}), user `fail` to a UAS answering 486, anything else to an answering UAS;
//    the recording's own SIPp scenarios (../shared/traces/sipp: uac-rr, uac-486, uas-rr, uas-486).
//
// Compared with the recording: the proxy frame's flags; serve's replies to it (one
// `OK|network|<len>|udp|<addr>|<port>|<time>|||continue` + the final per final received from the
// target, with <len> its byte length, then `OK|done`); that the ACK and BYE of a record-routed call
// never reach the app; the SIP each SIPp party received (start lines, and for suite 1 the Via
// count, Max-Forwards, Record-Route and Route of what the UAS and the caller got).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { sharedDir } from '../helpers/shared.mjs';
import { waitFor } from '../helpers/embedded.mjs';
import { startServe, routesApplied } from '../helpers/serve.mjs';
import { requireSipp } from '../helpers/sipp.mjs';
import { FrameReader, parseLeader, readTrace } from '../helpers/wire.mjs';
import { sippUas, sippUac, scenario, sippMessages, received, header, deferred } from '../helpers/suite-apps.mjs';

const require = createRequire(import.meta.url);
const DrachtioSrf = require('drachtio-srf');
const suite = sharedDir('traces/suite');
const traces = sharedDir('traces');
const T = { timeout: 60000 };

function ready(t, shared) {
  if (shared.skip) {
    t.skip(shared.skip);
    return false;
  }
  return requireSipp(t);
}

/** A TCP relay to `target` that records every frame: { port, frames: [{dir, conn, payload}], close() }. */
async function startRelay(target) {
  const frames = [];
  const sockets = new Set();
  let conns = 0;
  const server = net.createServer((app) => {
    const conn = ++conns;
    const upstream = net.connect(target.port, target.host);
    const fromApp = new FrameReader();
    const fromServer = new FrameReader();
    for (const s of [app, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    app.on('data', (d) => {
      for (const payload of fromApp.feed(d)) frames.push({ dir: 'app->server', conn, payload });
      upstream.write(d);
    });
    upstream.on('data', (d) => {
      for (const payload of fromServer.feed(d)) frames.push({ dir: 'server->app', conn, payload });
      app.write(d);
    });
    app.on('close', () => upstream.destroy());
    upstream.on('close', () => app.destroy());
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    frames,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** 'sip:host[:port]…' -> 'host:port' (5060 when absent). */
function hostport(uri) {
  const m = /^sips?:(?:[^@]*@)?([^:;>]+)(?::(\d+))?/.exec(uri);
  return `${m[1]}:${m[2] || 5060}`;
}

/**
 * The proxy operations of connection `conn`: for each `proxy` frame, its flags (remainInDialog,
 * fullResponse, followRedirects, serial/simultaneous, timeouts), destinations, and the shape of
 * every reply; plus the requests serve handed the app (`sip|network` frames holding a request).
 */
function proxyOps(frames, conn) {
  const mine = frames.filter((f) => f.conn === conn).map((f) => ({ ...f, ...parseLeader(f.payload) }));
  const ops = mine.filter((f) => f.dir === 'app->server' && f.tokens[1] === 'proxy').map((f) => {
    const dests = f.tokens.slice(9);
    const replies = mine.filter((g) => g.dir === 'server->app' && g.tokens[1] === 'response' && g.tokens[2] === f.tokens[0]);
    return {
      flags: f.tokens.slice(3, 9).join('|'),
      stub: f.body.split('\r\n')[0].replace(/ \S+ /, ' <dest1> '),
      dests,
      replies: replies.map((g) => replyShape(g, dests)),
    };
  });
  const requests = mine.filter((f) => f.dir === 'server->app' && f.tokens[1] === 'sip' && f.tokens[2] === 'network' && !f.body.startsWith('SIP/2.0'))
    .map((f) => f.body.split(' ')[0]);
  return { ops, requests };
}

/** A reply frame to a proxy command, with addresses replaced by the index of the target they name. */
function replyShape(g, dests) {
  const t = g.tokens;
  if (t[4] === 'done') return { leader: t.slice(3).join('|'), tokens: t.length };
  const status = Number((/^SIP\/2\.0 (\d{3}) /.exec(g.body) || [])[1]);
  return {
    leader: `${t[3]}|${t[4]}|<len>|${t[6]}|<addr>|<port>|<time>|${t.slice(10).join('|')}`,
    tokens: t.length,
    lengthIsTheMessage: Number(t[5]) === Buffer.byteLength(g.body, 'utf8'),
    target: dests.map(hostport).indexOf(`${t[7]}:${t[8]}`),
    status,
  };
}

const startLine = (msg) => msg.split(/\r?\n/)[0];
const viaCount = (msg) => msg.split(/\r?\n/).filter((l) => /^(Via|v)\s*:/i.test(l)).reduce((n, l) => n + l.split(',').length, 0);

/** The parts of a message compared with the recording, after `subst` rewrote recorded addresses. */
function sipShape(msg, subst = (s) => s) {
  const m = subst(msg);
  return {
    start: startLine(m),
    vias: viaCount(m),
    maxForwards: /^(INVITE|REGISTER) /.test(m) ? header(m, 'Max-Forwards') : '(not compared)',
    recordRoute: header(m, 'Record-Route'),
    route: header(m, 'Route'),
  };
}

/** A drachtio-srf app on serve (through `relay`), `onInvite(srf, req, res)`; resolves once its routes are in force. */
async function upstreamApp(relay, onInvite) {
  const srf = new DrachtioSrf();
  const errors = [];
  srf.on('error', (err) => errors.push(err));
  srf.invite((req, res) => onInvite(srf, req, res));
  srf.connect({ host: '127.0.0.1', port: relay.port, secret: 'cymru' });
  const [err] = await once(srf, 'connect', { signal: AbortSignal.timeout(10000) });
  if (err) throw err;
  await routesApplied(srf);
  return { srf, errors };
}

const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });

async function finished(uas, ms) {
  if ((await Promise.race([uas.done, sleep(ms).then(() => 'late')])) === 'late') uas.stop();
  return uas.done;
}

function assertRun(run, who) {
  const summary = run.summary();
  assert.equal(run.code, 0, `${who}:\n${summary}`);
  assert.equal(run.stats.failed, 0, `${who}:\n${summary}`);
}

test('suite proxy.trace live (PRX-01/02): drachtio-srf proxyRequest with remainInDialog, Promise then callback form, through serve', T, async (t) => {
  if (!ready(t, suite)) return;
  const recorded = readTrace(join(suite.dir, 'proxy.trace'));
  const recordedSip = (f) => readFileSync(join(suite.dir, 'sip', 'proxy', f), 'utf8');

  const serve = await startServe();
  const relay = await startRelay(serve.admin);
  const uas = await sippUas(['-sf', scenario('proxy-uas-rr.xml'), '-m', '2'], { timeoutMs: 30000 });
  const dest = uas.uri();
  const results = [];
  const callers = [];
  const errors = [];
  let uasRun;
  try {
    for (const form of ['promise', 'callback']) {
      const proxied = deferred(15000, `the ${form}-form proxyRequest`);
      const app = await upstreamApp(relay, (srf, req) => {
        const opts = { remainInDialog: true };
        if (form === 'promise') srf.proxyRequest(req, dest, opts).then(proxied.resolve, proxied.reject);
        else srf.proxyRequest(req, dest, opts, (err, res) => (err ? proxied.reject(err) : proxied.resolve(res)));
      });
      try {
        callers.push(await sippUac(['-sf', scenario('proxy-uac-suite.xml'), '-m', '1', '-s', 'service'], serve.sip, { timeoutMs: 30000 }));
        results.push(await proxied.then((r) => r, (err) => ({ error: String(err) })));
      } finally {
        errors.push(...app.errors);
        app.srf.disconnect();
      }
      await sleep(100);
    }
    uasRun = await finished(uas, 10000);
  } finally {
    uas.stop();
    relay.close();
    await serve.stop();
  }

  // The app side: each connection as recorded.
  assert.deepEqual(errors.map(String), [], 'drachtio-srf emitted no error');
  for (const [i, form] of ['promise', 'callback'].entries()) {
    const conn = i + 1;
    const want = proxyOps(recorded, conn);
    const got = proxyOps(relay.frames, conn);
    const what = `conn ${conn} (${form} form)`;
    assert.equal(results[i].error, undefined, `${what}: proxyRequest failed`);
    assert.equal(results[i].finalStatus, 200, `${what}: finalStatus`);
    assert.equal(results[i].connected, true, `${what}: connected`);
    assert.deepEqual(got.requests, want.requests, `${what}: the requests serve handed the app (the ACK and BYE of the record-routed call stay in serve)`);
    assert.equal(got.ops.length, want.ops.length, `${what}: proxy commands`);
    for (const [k, op] of want.ops.entries()) {
      assert.equal(got.ops[k].flags, op.flags, `${what}: proxy flags`);
      assert.equal(got.ops[k].stub, op.stub, `${what}: the proxy command's request line`);
      assert.deepEqual(got.ops[k].replies, op.replies, `${what}: serve's replies to the proxy command\nrecorded: ${JSON.stringify(op.replies)}\nlive:     ${JSON.stringify(got.ops[k].replies)}`);
    }
  }

  // The SIP side. Recorded addresses: server 127.0.0.10:5060, UAS 127.0.0.13:5060 (destination
  // sip:127.0.0.13); live: serve.sip, the UAS's port.
  const subst = (s) => s.replaceAll('127.0.0.10:5060', serve.sip).replaceAll('sip:127.0.0.13:5060', `sip:127.0.0.1:${uas.port}`).replaceAll('sip:127.0.0.13', dest);
  const recUas = recordedSip('uas-sipp-uas.msg');
  assertRun(uasRun, 'UAS');
  assert.deepEqual(received(uasRun.messages), received(recUas), 'what the UAS received, both calls');
  const uasIn = sippMessages(uasRun.messages, 'received').map((m) => sipShape(m));
  const uasWant = sippMessages(recUas, 'received').map((m) => sipShape(m, subst));
  // drachtio-server forwarded the caller's ACK/BYE without adding a Max-Forwards (RFC 3261 16.6
  // says to add one); that field is compared for INVITEs only.
  assert.deepEqual(uasIn, uasWant, `the UAS's received messages (start line, Vias, Max-Forwards, Record-Route, Route)\nrecorded: ${JSON.stringify(uasWant, null, 1)}\nlive: ${JSON.stringify(uasIn, null, 1)}`);
  // drachtio-server sent 100 Trying at once; our engine sends it only when nothing answered
  // the INVITE within 100 ms (RFC 3261 17.2.1), and here the UAS rings at once: a recorded 100
  // is expected only if the live caller got one.
  const is100 = (m) => /^SIP\/2\.0 100 /.test(m);
  const trying = (list, live) => list.filter((m) => !is100(m) || live.some(is100));
  for (const [i, run] of callers.entries()) {
    const rec = recordedSip(`uac-0${i + 1}-uac-proxy.msg`);
    assertRun(run, `caller ${i + 1}`);
    const live = sippMessages(run.messages, 'received');
    const expected = received(rec).filter((r) => r !== '100 INVITE' || received(run.messages).includes('100 INVITE'));
    assert.deepEqual(received(run.messages), expected, `caller ${i + 1}: responses received`);
    const got = live.map((m) => sipShape(m));
    const want = trying(sippMessages(rec, 'received'), live).map((m) => sipShape(m, subst));
    assert.deepEqual(got, want, `caller ${i + 1}: the responses' Vias and Record-Route`);
  }
});

test('proxy.trace live: the recorded proxy app (recordRoute; user fail -> 486 UAS, else the answering UAS) through serve, with the recording\'s SIPp scenarios', T, async (t) => {
  if (!ready(t, traces)) return;
  const recorded = readTrace(join(traces.dir, 'proxy.trace'));
  const sippDir = join(traces.dir, 'sipp');

  const serve = await startServe();
  const relay = await startRelay(serve.admin);
  const answering = await sippUas(['-sf', join(sippDir, 'uas-rr.xml'), '-m', '1'], { timeoutMs: 30000 });
  const busy = await sippUas(['-sf', join(sippDir, 'uas-486.xml'), '-m', '1'], { timeoutMs: 30000 });
  const results = [];
  const runs = {};
  let app;
  try {
    app = await upstreamApp(relay, (srf, req) => {
      const dest = /^sip:fail@/.test(req.uri) ? busy.uri() : answering.uri();
      srf.proxyRequest(req, [dest], { recordRoute: true }).then((r) => results.push(r), (err) => results.push({ error: String(err) }));
    });
    runs.call = await sippUac(['-sf', join(sippDir, 'uac-rr.xml'), '-m', '1', '-s', 'callee', '-d', '500'], serve.sip, { timeoutMs: 30000 });
    runs.fail = await sippUac(['-sf', join(sippDir, 'uac-486.xml'), '-m', '1', '-s', 'fail'], serve.sip, { timeoutMs: 30000 });
    [runs.answering, runs.busy] = await Promise.all([finished(answering, 10000), finished(busy, 10000)]);
    // Each proxyRequest settles on serve's `done` frame, which can come after SIPp has ended;
    // the relay records a frame before passing it on, so its log is complete by then too.
    await waitFor(() => results.length >= 2, 5000).catch(() => {});
    await sleep(200); // and time for a frame that must not come (an ACK or BYE serve keeps) to show
  } finally {
    if (app) app.srf.disconnect();
    answering.stop();
    busy.stop();
    relay.close();
    await serve.stop();
  }

  assertRun(runs.call, 'caller (uac-rr)');
  assertRun(runs.fail, 'caller (uac-486)');
  assertRun(runs.answering, 'UAS uas-rr');
  assertRun(runs.busy, 'UAS uas-486');
  assert.deepEqual(received(runs.answering.messages), ['INVITE', 'ACK', 'BYE'], 'the ACK and BYE went through serve to the answering UAS');
  assert.deepEqual(received(runs.busy.messages), ['INVITE', 'ACK'], 'serve ACKed the 486 itself');
  assert.ok(received(runs.fail.messages).includes('486 INVITE'), 'the caller got the 486');
  assert.deepEqual(app.errors.map(String), [], 'drachtio-srf emitted no error');

  const want = proxyOps(recorded, 1);
  const got = proxyOps(relay.frames, 1);
  const statuses = (ops) => ops.map((op) => op.replies.filter((r) => r.status).map((r) => r.status));
  assert.deepEqual(statuses(want.ops), [[200], [486]], 'the recording: 200, then 486');
  assert.deepEqual(results.map((r) => r.error || r.finalStatus), [200, 486], 'proxyRequest results');
  assert.deepEqual(results.map((r) => r.connected), [true, false]);
  assert.deepEqual(got.requests, want.requests, 'the requests serve handed the app (the ACK/BYE of the record-routed call stay in serve)');
  assert.equal(got.ops.length, want.ops.length, 'proxy commands');
  for (const [k, op] of want.ops.entries()) {
    assert.equal(got.ops[k].flags, op.flags, `call ${k + 1}: proxy flags`);
    assert.deepEqual(got.ops[k].replies, op.replies, `call ${k + 1}: serve's replies to the proxy command\nrecorded: ${JSON.stringify(op.replies)}\nlive:     ${JSON.stringify(got.ops[k].replies)}`);
  }
});
