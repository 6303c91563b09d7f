// The stateful proxy (srf.proxyRequest / req.proxy, api.md §4.4 and §7, wire-protocol.md §8) with
// SIPp on every side: a SIPp caller calls the app, whose handler proxies the request to one or more
// SIPp UASs. Every case runs on three backends:
//   - our Srf on its embedded engine,
//   - our Srf connected to `drachtio-rs serve`,
//   - the real drachtio-srf 5.0.29 (node_modules) connected to `drachtio-rs serve` (drachtio-srf
//     cannot use the embedded engine).
// Each test checks the caller's and the UASs' SIPp runs (what SIP each saw) and the result object
// proxyRequest gave the app. Scenarios: scenarios/proxy-*.xml (plus suite-uas-302.xml).
//
// Notes on drachtio-server (sip-proxy-controller.cpp), whose behaviour serve and the embedded
// engine reproduce:
//   - an INVITE whose Request-URI is one of the server's own addresses gets the target as its
//     new Request-URI; Max-Forwards is decremented; recordRoute adds Record-Route <sip:host:port;lr>
//     (REGISTER: Path), and requests carrying that route are forwarded after the route is removed;
//   - 100 Trying from a target is absorbed, other provisionals are forwarded at once, non-2xx finals
//     are held until every target failed and the best one is sent upstream;
//   - with fullResponse (which drachtio-srf always asks for) the app gets one `continue` frame per
//     final response from a target and then `done`;
//   - a CANCEL from the caller is answered 200 and the INVITE 487 by the proxy itself, then every
//     ringing target is CANCELled;
//   - provisionalTimeout moves to the next target when a target sent nothing at all (no CANCEL for
//     it, it never answered); drachtio-server ignores finalTimeout, but our engine gives up on a
//     target after finalTimeout without a final response: CANCEL, then the next target or the end.
//   - CDRs for a proxied INVITE: cdr:attempt (application) for each forwarded INVITE; for each
//     target's final response cdr:start network/proxy-uac on 200 or cdr:stop network with
//     call-rejected (call-canceled on 487); for the final sent upstream cdr:start
//     application/proxy-uas on 200 or cdr:stop application call-rejected/call-canceled; a
//     record-routed BYE gives cdr:stop network normal-release and then application normal-release.
//     (Plus, presumably, the cdr:attempt network for the incoming INVITE, as for any INVITE.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { startApp } from '../helpers/backends.mjs';
import { startServe, routesApplied } from '../helpers/serve.mjs';
import { requireSipp } from '../helpers/sipp.mjs';
import { waitFor } from '../helpers/embedded.mjs';
import { sippUas, sippUac, scenario, sippMessages, received, header, deferred } from '../helpers/suite-apps.mjs';

const require = createRequire(import.meta.url);
const T = { timeout: 60000 };

const BACKENDS = [
  { label: 'embedded, our Srf', kind: 'embedded', upstream: false },
  { label: 'serve, our Srf', kind: 'serve', upstream: false },
  { label: 'serve, drachtio-srf 5.0.29', kind: 'serve', upstream: true },
];

/**
 * An app on `backend` with `setup(srf)` applied before connecting. Our Srf comes from startApp; for
 * drachtio-srf, serve is started here and the app connects to its admin port over TCP.
 * Resolves with { srf, addr ('127.0.0.1:port', SIP), errors, close() }.
 */
async function startProxyApp(backend, setup) {
  if (!backend.upstream) return startApp(backend.kind, { setup });
  const Srf = require('drachtio-srf');
  const serve = await startServe();
  const srf = new Srf();
  const errors = [];
  srf.on('error', (err) => errors.push(err));
  setup(srf);
  const close = async () => {
    srf.disconnect();
    await serve.stop();
  };
  srf.connect({ host: serve.admin.host, port: serve.admin.port, secret: 'cymru' });
  try {
    const [err] = await once(srf, 'connect', { signal: AbortSignal.timeout(10000) });
    if (err) throw err;
    await routesApplied(srf);
  } catch (err) {
    await close();
    throw err;
  }
  return { srf, addr: serve.sip, errors, serve, close };
}

const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });

/** Waits up to `ms` for a SIPp UAS to finish; kills it after that (its result says so). */
async function finished(uas, ms) {
  const timer = sleep(ms).then(() => 'late');
  if ((await Promise.race([uas.done, timer])) === 'late') uas.stop();
  return uas.done;
}

/** A SIPp message log as one line per message: '>> INVITE sip:…' sent, '<< 200 INVITE' received. */
function transcript(log) {
  const out = [];
  const re = /(?:UDP|TCP) message (sent|received)[^\n]*\n\n?([\s\S]*?)(?=\n-{5,}|\n\s*\n\S*-{5,}|$)/g;
  for (const m of (log || '').matchAll(re)) {
    const msg = m[2].trim();
    if (!msg) continue;
    const first = msg.split(/\r?\n/)[0];
    const cseq = (/^CSeq:\s*(.*)$/im.exec(msg) || [])[1];
    out.push(`  ${m[1] === 'sent' ? '>>' : '<<'} ${first}${first.startsWith('SIP/2.0') ? `   (CSeq ${cseq})` : ''}`);
  }
  return out.join('\n') || '  (no messages)';
}

/** Everything a failure message needs: each SIPp run (exit, stats, errors, messages) and the app's outcomes. */
function describeRun(name, r) {
  if (!r) return `${name}: did not run`;
  const errs = (r.errors || '').trim();
  return `${name}: exit ${r.code}${r.signal ? ` signal ${r.signal}` : ''} stats ${JSON.stringify(r.stats)}\n${transcript(r.messages)}${errs ? `\n  sipp errors: ${errs.split('\n').slice(-6).join('\n  ')}` : ''}`;
}

function shapeOf(result) {
  if (!result) return result;
  return {
    connected: result.connected,
    finalStatus: result.finalStatus,
    responses: (result.responses || []).map((e) => ({ address: e.address, port: e.port, statuses: e.msgs.map((m) => m.status) })),
  };
}

function describeOutcome(o) {
  if (!o) return 'app: no request reached the handler';
  if (o.error) return `app: proxy failed after ${o.ms} ms: ${o.error && o.error.stack ? o.error.stack : o.error}`;
  return `app: proxy settled after ${o.ms} ms: ${JSON.stringify(shapeOf(o.result))}`;
}

/**
 * One proxy case. SIPp UASs are started from `uases` (argument lists, or functions of the UASs
 * started before them), each for one call; an app on `backend` handles `method` with
 * `proxy(srf, req, uris, res)` (uris: the UASs' 'sip:127.0.0.1:port'), which returns the
 * proxyRequest promise; then each caller in `callers` ({args, user}) runs in turn.
 * Resolves with { a: [caller runs], b: [UAS runs], outcomes: [per request handled], app, uas, report() }.
 */
async function proxyCase(backend, { uases = [], method = 'invite', proxy, callers, setup }) {
  const outcomes = [];
  const waiting = [];
  const uas = [];
  const runs = { a: [], b: [] };
  let app;
  try {
    for (const spec of uases) {
      const args = typeof spec === 'function' ? spec(uas) : spec;
      uas.push(await sippUas([...args, '-m', '1'], { timeoutMs: 30000 }));
    }
    const uris = uas.map((u) => u.uri());
    app = await startProxyApp(backend, (srf) => {
      if (setup) setup(srf);
      srf[method]((req, res) => {
        const slot = deferred();
        waiting.push(slot);
        const t0 = Date.now();
        let p;
        try {
          p = Promise.resolve(proxy(srf, req, uris, res));
        } catch (err) {
          p = Promise.reject(err);
        }
        p.then((result) => slot.resolve({ result, ms: Date.now() - t0 }), (error) => {
          slot.resolve({ error, ms: Date.now() - t0 });
          // End the caller's wait at once (a failed proxy leaves the INVITE unanswered).
          try { res.send(500); } catch { /* already answered */ }
        });
      });
    });
    for (const { args, user = 'service' } of callers) {
      runs.a.push(await sippUac([...args, '-m', '1', '-s', user], app.addr, { timeoutMs: 30000 }));
    }
    for (const slot of waiting) {
      outcomes.push(await Promise.race([slot, sleep(10000).then(() => ({ error: new Error('proxyRequest did not settle within 10 s of the caller ending'), ms: NaN }))]));
    }
    runs.b = await Promise.all(uas.map((u) => finished(u, 10000)));
  } finally {
    if (app) await app.close();
    for (const u of uas) u.stop();
  }
  const r = {
    ...runs, outcomes, app, uas,
    outcome: outcomes[0],
    report: () => [
      ...runs.a.map((x, i) => describeRun(`caller ${i + 1}`, x)),
      ...uas.map((u, i) => describeRun(`UAS ${i + 1} (port ${u.port})`, runs.b[i])),
      ...(outcomes.length ? outcomes.map(describeOutcome) : [describeOutcome(undefined)]),
      `app 'error' events: ${app && app.errors.length ? app.errors.map(String).join('; ') : 'none'}`,
    ].join('\n'),
  };
  return r;
}

/** Runs the assertions in `fn`; a failure carries the whole SIP picture. */
function check(r, fn) {
  try {
    fn();
  } catch (err) {
    err.message += `\n\n---- what happened ----\n${r.report()}`;
    throw err;
  }
}

/** A SIPp run ended cleanly with its one call successful. */
function assertRun(run, who) {
  assert.ok(run, `${who} did not run`);
  assert.equal(run.code, 0, `${who}: SIPp exit code`);
  assert.equal(run.stats.successful, 1, `${who}: successful calls`);
  assert.equal(run.stats.failed, 0, `${who}: failed calls`);
}

/** The proxy operation settled with a result (no error) and the app emitted no 'error'. */
function resultOf(r, i = 0) {
  const o = r.outcomes[i];
  assert.ok(o, 'the request reached the app\'s handler');
  assert.ifError(o.error);
  assert.deepEqual(r.app.errors.map(String), [], 'the Srf emitted no error');
  return o.result;
}

const firstMsg = (run, dir, re) => sippMessages(run.messages, dir).find((m) => re.test(m));
const startLine = (msg) => msg.split(/\r?\n/)[0];
const finals = (run) => received(run.messages).filter((s) => /^[3-6]\d\d INVITE$/.test(s));

/**
 * The `responses` grouping the app should see for final responses from these (port, status)
 * pairs, all from 127.0.0.1. Our Srf groups by address AND port (one entry per target); drachtio-srf
 * 5.0.29 starts a new entry only when the address differs or the port is EQUAL (api.md §7: its
 * test is inverted), so responses from several targets on one address land in its first entry.
 */
function expectedResponses(backend, finalsSeen) {
  const out = [];
  for (const [port, status] of finalsSeen) {
    const last = out[out.length - 1];
    const newEntry = backend.upstream ? (!last || last.port === port) : (!last || last.port !== port);
    if (newEntry) out.push({ address: '127.0.0.1', port, statuses: [status] });
    else last.statuses.push(status);
  }
  return out;
}

const reEscape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

for (const backend of BACKENDS) {
  const name = backend.label;

  test(`${name}: INVITE to one target with recordRoute; the caller's ACK and BYE follow the Record-Route through the proxy`, T, async (t) => {
    if (!requireSipp(t)) return;
    const r = await proxyCase(backend, {
      uases: [['-sf', scenario('proxy-uas-rr.xml')]],
      proxy: (srf, req, [uas]) => srf.proxyRequest(req, uas, { recordRoute: true }),
      callers: [{ args: ['-sf', scenario('proxy-uac-rr.xml')] }],
    });
    check(r, () => {
      const result = resultOf(r);
      assertRun(r.a[0], 'caller');
      assertRun(r.b[0], 'UAS');
      assert.deepEqual(received(r.b[0].messages), ['INVITE', 'ACK', 'BYE'], 'the UAS got INVITE, ACK and BYE');
      const invite = firstMsg(r.b[0], 'received', /^INVITE /);
      // The caller's Request-URI was the proxy's own address, so the target replaces it.
      assert.equal(startLine(invite), `INVITE ${r.uas[0].uri()} SIP/2.0`, 'the forwarded INVITE\'s Request-URI is the target');
      assert.equal(header(invite, 'Max-Forwards'), '69', 'Max-Forwards decremented');
      assert.match(header(invite, 'Record-Route') || '', new RegExp(`^<sip:${reEscape(r.app.addr)}[;>].*\\blr\\b`), 'Record-Route names the proxy, with lr');
      for (const m of ['ACK', 'BYE']) {
        const msg = firstMsg(r.b[0], 'received', new RegExp(`^${m} `));
        assert.equal(header(msg, 'Route'), undefined, `the proxy removed its Route from the ${m}`);
        assert.match(startLine(msg), new RegExp(`^${m} sip:127\\.0\\.0\\.1:${r.uas[0].port}\\b`), `the ${m} goes to the UAS's Contact`);
      }
      const ok = firstMsg(r.a[0], 'received', /^SIP\/2\.0 200[\s\S]*CSeq:\s*1 INVITE/);
      assert.match(header(ok, 'Record-Route') || '', /\blr\b/, 'the caller\'s 200 carries the Record-Route');
      assert.equal(result.connected, true);
      assert.equal(result.finalStatus, 200);
      assert.equal(result.responses[0].msgs[0].status, 200);
      assert.deepEqual(shapeOf(result).responses, [{ address: '127.0.0.1', port: r.uas[0].port, statuses: [200] }]);
      assert.equal(result.finalResponse.status, 200);
    });
  });

  test(`${name}: INVITE with recordRoute (callback form); the callee hangs up and its BYE reaches the caller through the proxy`, T, async (t) => {
    if (!requireSipp(t)) return;
    const r = await proxyCase(backend, {
      uases: [['-sf', scenario('proxy-uas-bye.xml')]],
      proxy: (srf, req, [uas]) => new Promise((resolve, reject) => {
        srf.proxyRequest(req, uas, { recordRoute: true }, (err, result) => (err ? reject(err) : resolve(result)));
      }),
      callers: [{ args: ['-sf', scenario('proxy-uac-rr-recv-bye.xml')] }],
    });
    check(r, () => {
      const result = resultOf(r);
      assertRun(r.a[0], 'caller');
      assertRun(r.b[0], 'UAS');
      assert.deepEqual(received(r.b[0].messages), ['INVITE', 'ACK', '200 BYE'], 'the UAS got INVITE, ACK and the 200 for its BYE');
      const bye = firstMsg(r.a[0], 'received', /^BYE /);
      assert.ok(bye, 'the caller got the BYE');
      assert.equal(header(bye, 'Route'), undefined, 'the proxy removed its Route from the BYE');
      assert.match(startLine(bye), /^BYE sip:sipp@127\.0\.0\.1:\d+ /, 'the BYE\'s Request-URI is the caller\'s Contact');
      assert.equal(result.connected, true);
      assert.equal(result.finalStatus, 200);
    });
  });

  test(`${name}: serial failover over an array: the first target answers 503, the second 200`, T, async (t) => {
    if (!requireSipp(t)) return;
    const r = await proxyCase(backend, {
      uases: [['-sf', scenario('proxy-uas-503.xml')], ['-sf', scenario('proxy-uas-rr.xml')]],
      proxy: (srf, req, uris) => srf.proxyRequest(req, uris, { recordRoute: true }),
      callers: [{ args: ['-sf', scenario('proxy-uac-rr.xml')] }],
    });
    check(r, () => {
      const result = resultOf(r);
      assertRun(r.a[0], 'caller');
      assertRun(r.b[0], 'UAS 1 (503)');
      assertRun(r.b[1], 'UAS 2 (200)');
      assert.deepEqual(received(r.b[0].messages), ['INVITE', 'ACK'], 'the proxy ACKed the 503 itself');
      assert.deepEqual(received(r.b[1].messages), ['INVITE', 'ACK', 'BYE']);
      assert.deepEqual(finals(r.a[0]), [], 'the 503 was not passed to the caller');
      assert.equal(result.connected, true);
      assert.equal(result.finalStatus, 200);
      assert.deepEqual(shapeOf(result).responses, expectedResponses(backend, [[r.uas[0].port, 503], [r.uas[1].port, 200]]));
      if (!backend.upstream) {
        assert.equal(result.responses.length, 2);
        assert.deepEqual(result.responses.map((e) => e.msgs[0].status), [503, 200]);
      }
    });
  });

  test(`${name}: forking 'simultaneous': one target answers after ringing, the other (ringing) gets CANCEL and answers 487`, T, async (t) => {
    if (!requireSipp(t)) return;
    const r = await proxyCase(backend, {
      // The answering UAS rings 1 s first, so the other one has rung when the 200 comes.
      uases: [['-sf', scenario('proxy-uas-rr.xml'), '-d', '1000'], ['-sf', scenario('proxy-uas-ring-cancel.xml')]],
      proxy: (srf, req, uris) => srf.proxyRequest(req, uris, { recordRoute: true, forking: 'simultaneous' }),
      callers: [{ args: ['-sf', scenario('proxy-uac-rr.xml')] }],
    });
    check(r, () => {
      const result = resultOf(r);
      assertRun(r.a[0], 'caller');
      assertRun(r.b[0], 'UAS 1 (answers)');
      assertRun(r.b[1], 'UAS 2 (rings, is cancelled)');
      assert.deepEqual(received(r.b[0].messages), ['INVITE', 'ACK', 'BYE']);
      assert.deepEqual(received(r.b[1].messages), ['INVITE', 'CANCEL', 'ACK'], 'the ringing fork was CANCELled and its 487 ACKed');
      assert.ok(received(r.a[0].messages).filter((s) => s === '180 INVITE').length >= 1, 'the caller heard ringing');
      assert.deepEqual(finals(r.a[0]), [], 'no non-2xx final reached the caller');
      assert.equal(result.connected, true);
      assert.equal(result.finalStatus, 200);
      assert.ok(shapeOf(result).responses.some((e) => e.statuses.includes(200)), 'the 200 is among the responses');
      if (!backend.upstream) {
        const answered = result.responses.find((e) => e.port === r.uas[0].port);
        assert.ok(answered && answered.msgs.some((m) => m.status === 200), 'the 200 is reported under the answering target');
      }
    });
  });

  test(`${name}: finalTimeout '2s': a target that only rings is CANCELled (487) and the caller gets a non-2xx final`, T, async (t) => {
    if (!requireSipp(t)) return;
    const r = await proxyCase(backend, {
      uases: [['-sf', scenario('proxy-uas-ring-cancel.xml')]],
      proxy: (srf, req, [uas]) => srf.proxyRequest(req, uas, { recordRoute: true, finalTimeout: '2s' }),
      callers: [{ args: ['-sf', scenario('proxy-uac-fail.xml')] }],
    });
    check(r, () => {
      const result = resultOf(r);
      assertRun(r.a[0], 'caller');
      assertRun(r.b[0], 'UAS');
      assert.deepEqual(received(r.b[0].messages), ['INVITE', 'CANCEL', 'ACK'], 'the UAS was CANCELled after the final timeout');
      const got = finals(r.a[0]);
      assert.equal(got.length, 1, 'one final response reached the caller');
      assert.equal(got[0], '408 INVITE', 'the caller gets our 408 (the target gave no final in time)');
      assert.ok(r.outcome.ms >= 1900, `the proxy gave up after the final timeout, not sooner (${r.outcome.ms} ms)`);
      assert.ok(r.outcome.ms < 15000, `the proxy gave up soon after the final timeout (${r.outcome.ms} ms)`);
      assert.equal(result.connected, false);
      // The app hears only finals a target sent; this one's 487 came after the proxy had ended.
      assert.deepEqual(result.responses, [], 'nothing was reported for the target that gave no final in time');
    });
  });

  test(`${name}: provisionalTimeout '1s': the first target never answers at all, the second answers 200`, T, async (t) => {
    if (!requireSipp(t)) return;
    // The silent target: a UDP socket that records and ignores everything.
    const silent = dgram.createSocket('udp4');
    const heard = [];
    silent.on('message', (m) => heard.push(m.toString().split('\r\n')[0]));
    await new Promise((res) => silent.bind(0, '127.0.0.1', res));
    const silentUri = `sip:127.0.0.1:${silent.address().port}`;
    let r;
    try {
      r = await proxyCase(backend, {
        uases: [['-sf', scenario('proxy-uas-rr.xml')]],
        proxy: (srf, req, [uas]) => srf.proxyRequest(req, [silentUri, uas], { recordRoute: true, provisionalTimeout: '1s' }),
        callers: [{ args: ['-sf', scenario('proxy-uac-rr.xml')] }],
      });
    } finally {
      silent.close();
    }
    check(r, () => {
      const result = resultOf(r);
      assert.ok(heard.some((l) => l.startsWith('INVITE ')), `the silent target got the INVITE (it heard: ${JSON.stringify(heard)})`);
      assertRun(r.a[0], 'caller');
      assertRun(r.b[0], 'UAS 2 (200)');
      assert.deepEqual(received(r.b[0].messages), ['INVITE', 'ACK', 'BYE']);
      assert.ok(r.outcome.ms >= 900, `the second target was tried only after the provisional timeout (${r.outcome.ms} ms)`);
      assert.equal(result.connected, true);
      assert.equal(result.finalStatus, 200);
      // drachtio-server reports (`continue`) only final responses received from a target; the
      // silent one sent none, so it has no entry.
      assert.deepEqual(shapeOf(result).responses, [{ address: '127.0.0.1', port: r.uas[0].port, statuses: [200] }],
        'only the answering target sent a final response');
    });
  });

  test(`${name}: followRedirects: the first target answers 302 pointing at a second, which answers 200`, T, async (t) => {
    if (!requireSipp(t)) return;
    const r = await proxyCase(backend, {
      uases: [
        ['-sf', scenario('proxy-uas-rr.xml')],
        (started) => ['-sf', scenario('suite-uas-302.xml'), '-key', 'target', `127.0.0.1:${started[0].port}`],
      ],
      proxy: (srf, req, [, redirector]) => srf.proxyRequest(req, redirector, { recordRoute: true, followRedirects: true }),
      callers: [{ args: ['-sf', scenario('proxy-uac-rr.xml')] }],
    });
    check(r, () => {
      const result = resultOf(r);
      assertRun(r.a[0], 'caller');
      assertRun(r.b[1], 'UAS 2 (302)');
      assertRun(r.b[0], 'UAS 1 (200, the redirect target)');
      assert.deepEqual(received(r.b[1].messages), ['INVITE', 'ACK'], 'the proxy ACKed the 302 itself');
      assert.deepEqual(received(r.b[0].messages), ['INVITE', 'ACK', 'BYE']);
      assert.deepEqual(finals(r.a[0]), [], 'the 302 was not passed to the caller');
      assert.equal(result.connected, true);
      assert.equal(result.finalStatus, 200);
      assert.deepEqual(shapeOf(result).responses, expectedResponses(backend, [[r.uas[1].port, 302], [r.uas[0].port, 200]]));
    });
  });

  test(`${name}: without followRedirects the caller receives the target's 302`, T, async (t) => {
    if (!requireSipp(t)) return;
    const r = await proxyCase(backend, {
      uases: [['-sf', scenario('suite-uas-302.xml'), '-key', 'target', 'moved@127.0.0.1:9']],
      proxy: (srf, req, [uas]) => srf.proxyRequest(req, uas, { recordRoute: true }),
      callers: [{ args: ['-sf', scenario('proxy-uac-fail.xml')] }],
    });
    check(r, () => {
      const result = resultOf(r);
      assertRun(r.a[0], 'caller');
      assertRun(r.b[0], 'UAS (302)');
      assert.deepEqual(finals(r.a[0]), ['302 INVITE'], 'the caller got the 302');
      const moved = firstMsg(r.a[0], 'received', /^SIP\/2\.0 302/);
      assert.match(header(moved, 'Contact') || '', /sip:moved@127\.0\.0\.1:9\b/, 'with the target\'s Contact');
      assert.equal(result.connected, false);
      assert.equal(result.finalStatus, 302);
      assert.deepEqual(shapeOf(result).responses, [{ address: '127.0.0.1', port: r.uas[0].port, statuses: [302] }]);
    });
  });

  test(`${name}: the caller CANCELs while two forks ring: both get CANCEL and answer 487, the caller gets 487`, T, async (t) => {
    if (!requireSipp(t)) return;
    const r = await proxyCase(backend, {
      uases: [['-sf', scenario('proxy-uas-ring-cancel.xml')], ['-sf', scenario('proxy-uas-ring-cancel.xml')]],
      proxy: (srf, req, uris) => srf.proxyRequest(req, uris, { recordRoute: true, forking: 'simultaneous' }),
      callers: [{ args: ['-sf', scenario('proxy-uac-cancel.xml')] }],
    });
    check(r, () => {
      const result = resultOf(r);
      assertRun(r.a[0], 'caller');
      assertRun(r.b[0], 'UAS 1');
      assertRun(r.b[1], 'UAS 2');
      for (const i of [0, 1]) assert.deepEqual(received(r.b[i].messages), ['INVITE', 'CANCEL', 'ACK'], `UAS ${i + 1} was CANCELled`);
      const seen = received(r.a[0].messages);
      assert.ok(seen.includes('200 CANCEL'), 'the caller\'s CANCEL was answered 200');
      assert.deepEqual(finals(r.a[0]), ['487 INVITE'], 'the caller got one 487');
      assert.equal(result.connected, false);
      // drachtio-server answers the CANCEL and the INVITE (487) itself, CANCELs the targets, and
      // reports each target's 487 as a `continue` frame; `done` follows once no target is still
      // calling or proceeding. So the result ends with the targets' 487s.
      assert.equal(result.finalStatus, 487, 'finalStatus is the targets\' 487 (reported before done)');
      assert.ok(shapeOf(result).responses.flatMap((e) => e.statuses).every((s) => s === 487), 'every final reported is a 487');
    });
  });

  test(`${name}: REGISTER with path: true: the registrar gets a Path with lr, the client gets 200`, T, async (t) => {
    if (!requireSipp(t)) return;
    const r = await proxyCase(backend, {
      method: 'register',
      uases: [['-sf', scenario('proxy-uas-registrar.xml')]],
      proxy: (srf, req, [uas]) => srf.proxyRequest(req, uas, { path: true }),
      callers: [{ args: ['-sf', scenario('proxy-uac-register.xml')], user: 'alice' }],
    });
    check(r, () => {
      const result = resultOf(r);
      assertRun(r.a[0], 'REGISTER client');
      assertRun(r.b[0], 'registrar');
      const reg = firstMsg(r.b[0], 'received', /^REGISTER /);
      assert.match(header(reg, 'Path') || '', new RegExp(`^<sip:${reEscape(r.app.addr)}[;>].*\\blr\\b`), 'Path names the proxy, with lr');
      assert.equal(result.connected, true);
      assert.equal(result.finalStatus, 200);
    });
  });

  test(`${name}: CDRs of proxied calls: attempt, start and stop (normal-release) for an answered call with BYE; stop (call-rejected) for a 486`, T, async (t) => {
    if (!requireSipp(t)) return;
    const cdrs = [];
    const callIds = {};
    const cid = (msg) => (msg && typeof msg.get === 'function' ? msg.get('call-id') : undefined);
    const r = await proxyCase(backend, {
      uases: [['-sf', scenario('proxy-uas-rr.xml')], ['-sf', scenario('proxy-uas-486.xml')]],
      setup: (srf) => {
        srf.on('cdr:attempt', (source, time, msg) => cdrs.push({ ev: 'attempt', source, callId: cid(msg) }));
        srf.on('cdr:start', (source, time, role, msg) => cdrs.push({ ev: 'start', source, role, callId: cid(msg) }));
        srf.on('cdr:stop', (source, time, reason, msg) => cdrs.push({ ev: 'stop', source, reason, callId: cid(msg) }));
      },
      proxy: (srf, req, [ok, busy]) => {
        const fail = /^sip:fail@/.test(req.uri);
        callIds[fail ? 'fail' : 'ok'] = req.get('Call-ID');
        return srf.proxyRequest(req, fail ? busy : ok, { recordRoute: true });
      },
      callers: [
        { args: ['-sf', scenario('proxy-uac-rr.xml')], user: 'callee' },
        { args: ['-sf', scenario('proxy-uac-fail.xml')], user: 'fail' },
      ],
    });
    const of = (call) => cdrs.filter((c) => c.callId === callIds[call]);
    const complete = () => of('ok').some((c) => c.ev === 'stop' && c.reason === 'normal-release')
      && of('fail').some((c) => c.ev === 'stop' && c.reason === 'call-rejected');
    try {
      await waitFor(complete, 5000);
    } catch { /* the assertions below say what is missing */ }
    check(r, () => {
      const msg = `CDRs received: ${JSON.stringify(cdrs, null, 1)}\ncall ids: ${JSON.stringify(callIds)}`;
      assertRun(r.a[0], 'caller 1 (answered)');
      assertRun(r.a[1], 'caller 2 (486)');
      assertRun(r.b[0], 'UAS 1 (200)');
      assertRun(r.b[1], 'UAS 2 (486)');
      assert.equal(resultOf(r, 0).finalStatus, 200);
      assert.equal(resultOf(r, 1).finalStatus, 486);
      assert.deepEqual(finals(r.a[1]), ['486 INVITE']);
      const ok = of('ok');
      assert.ok(ok.some((c) => c.ev === 'attempt'), `a cdr:attempt for the answered call\n${msg}`);
      assert.ok(ok.some((c) => c.ev === 'start'), `a cdr:start for the answered call\n${msg}`);
      assert.ok(ok.some((c) => c.ev === 'stop' && c.reason === 'normal-release'), `a cdr:stop normal-release for the answered call's BYE\n${msg}`);
      assert.ok(!ok.some((c) => c.ev === 'stop' && c.reason !== 'normal-release'), `no other cdr:stop for the answered call\n${msg}`);
      const failed = of('fail');
      assert.ok(failed.some((c) => c.ev === 'stop' && c.reason === 'call-rejected'), `a cdr:stop call-rejected for the 486\n${msg}`);
      assert.ok(!failed.some((c) => c.ev === 'start'), `no cdr:start for the rejected call\n${msg}`);
      // drachtio-server's roles for a proxied call's starts are proxy-uac (the target's 200) and
      // proxy-uas (the 200 sent upstream); never plain uac/uas.
      for (const c of ok.filter((x) => x.ev === 'start')) assert.ok(['proxy-uac', 'proxy-uas'].includes(c.role), `cdr:start role of a proxied call: ${c.role}\n${msg}`);
    });
  });

  for (const [req, form] of [['MESSAGE', 'req.proxy(opts, cb)'], ['OPTIONS', 'srf.proxyRequest(req, dest) Promise']]) {
    test(`${name}: an out-of-dialog ${req} proxied with ${form}: the target's 200 comes back to the caller`, T, async (t) => {
      if (!requireSipp(t)) return;
      const r = await proxyCase(backend, {
        method: req.toLowerCase(),
        uases: [['-sf', scenario('proxy-uas-request.xml')]],
        proxy: (srf, request, [uas]) => (req === 'MESSAGE'
          ? new Promise((resolve, reject) => {
            request.proxy({ destination: uas }, (err, result) => (err ? reject(err) : resolve(result)));
          })
          : srf.proxyRequest(request, uas)),
        callers: [{ args: ['-sf', scenario(`proxy-uac-${req.toLowerCase()}.xml`)] }],
      });
      check(r, () => {
        const result = resultOf(r);
        assertRun(r.a[0], 'caller');
        assertRun(r.b[0], 'UAS');
        assert.deepEqual(received(r.b[0].messages), [req]);
        assert.ok(received(r.a[0].messages).includes(`200 ${req}`), `the caller got 200 for its ${req}`);
        assert.equal(result.finalStatus, 200);
        assert.equal(result.connected, true);
        assert.deepEqual(shapeOf(result).responses, [{ address: '127.0.0.1', port: r.uas[0].port, statuses: [200] }]);
      });
    });
  }
}
