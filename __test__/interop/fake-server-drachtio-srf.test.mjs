// Proves the trace-replaying fake drachtio-server (helpers/fake-server.mjs) against the REAL
// drachtio-srf 5.0.29: every reconstructed app scenario (helpers/trace-apps.mjs) must reproduce its
// recorded conversation. These tests check the harness and upstream drachtio-srf, NOT this
// library, and count for nothing in its coverage: the same scenarios against our Srf, with what
// the app saw asserted too, are __test__/traces.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { sharedDir } from '../helpers/shared.mjs';
import { frame, FrameReader, parseLeader, readTrace } from '../helpers/wire.mjs';
import { startFakeServer, formatReport } from '../helpers/fake-server.mjs';
import { scenarios } from '../helpers/trace-apps.mjs';

const require = createRequire(import.meta.url);
const traces = sharedDir('traces');

function loadSrf(t) {
  try {
    return require('drachtio-srf');
  } catch (err) {
    t.skip(`drachtio-srf not installed (${err.code || err.message})`);
    return null;
  }
}

// Run one scenario against a fake server replaying its trace; returns { report, result, runError }.
async function runScenario(Srf, scenario, { trace, timeoutMs } = {}) {
  const limit = timeoutMs ?? scenario.timeoutMs ?? 5000;
  const fake = await startFakeServer({ trace: trace ?? join(traces.dir, scenario.trace), timeoutMs: limit });
  let result;
  let runError;
  try {
    result = await scenario.run(Srf, {
      host: '127.0.0.1',
      port: fake.port,
      secret: fake.recordedSecret,
      timeoutMs: limit,
      untilTraceDone: () => fake.exhausted,
    });
  } catch (err) {
    runError = err;
  }
  try {
    const report = await fake.done;
    return { report, result, runError, received: fake.received };
  } finally {
    await fake.close();
  }
}

test('wire helpers: framing by bytes, splits anywhere, leader parsing', () => {
  const payloads = ['abc|ping', 'x|sip|t|\r\nINVITE sip:é@h SIP/2.0\r\nSubject: 😀\r\n\r\n', '#'.repeat(1000)];
  const wire = Buffer.concat(payloads.map(frame));
  assert.equal(frame('é').toString('latin1').split('#')[0], '2');
  for (const step of [1, 2, 3, 7, 64, wire.length]) {
    const r = new FrameReader();
    const got = [];
    for (let i = 0; i < wire.length; i += step) got.push(...r.feed(wire.subarray(i, i + step)));
    assert.deepEqual(got, payloads, `chunk size ${step}`);
    assert.equal(r.pending, 0);
  }
  assert.throws(() => new FrameReader().feed(Buffer.from('12x#abc')), /corrupt/);
  assert.deepEqual(parseLeader('a|b||c'), { tokens: ['a', 'b', '', 'c'], body: '' });
  assert.deepEqual(parseLeader('a|sip|\r\nSIP/2.0 200 OK\r\n\r\n'), { tokens: ['a', 'sip', ''], body: 'SIP/2.0 200 OK\r\n\r\n' });
});

test('wire helpers: every recorded trace re-frames cleanly', (t) => {
  if (traces.skip) return t.skip(traces.skip);
  const files = readdirSync(traces.dir).filter((f) => f.endsWith('.trace'));
  assert.ok(files.length > 0);
  for (const f of files) {
    const frames = readTrace(join(traces.dir, f));
    assert.ok(frames.length > 0, f);
    for (const fr of frames) {
      const { tokens } = parseLeader(fr.payload);
      assert.match(tokens[0], /^[0-9a-f-]{36}$/, `${f}: msgId`);
      assert.ok(tokens[1], `${f}: type`);
    }
  }
  // cdr.trace holds a chunk with three frames and one with three replies
  const cdr = readTrace(join(traces.dir, 'cdr.trace'));
  assert.equal(cdr.filter((x) => parseLeader(x.payload).tokens[1] === 'route').length, 4);
});

test('every top-level trace has a scenario', (t) => {
  if (traces.skip) return t.skip(traces.skip);
  const files = readdirSync(traces.dir).filter((f) => f.endsWith('.trace'));
  const covered = new Set(Object.values(scenarios).map((s) => s.trace));
  const missing = files.filter((f) => !covered.has(f));
  assert.deepEqual(missing, [], `traces without a scenario: ${missing.join(', ')}`);
});

for (const [name, scenario] of Object.entries(scenarios)) {
  const budget = (scenario.timeoutMs ?? 5000) + 5000;
  test(`harness check: upstream drachtio-srf replays ${scenario.trace} (${name})`, { timeout: budget }, async (t) => {
    if (traces.skip) return t.skip(traces.skip);
    const Srf = loadSrf(t);
    if (!Srf) return;
    const { report, result, runError } = await runScenario(Srf, scenario);
    assert.ok(report.ok, `${scenario.description}\n${formatReport(report)}${runError ? `\nrun error: ${runError.stack}` : ''}`);
    assert.ifError(runError);
    t.diagnostic(`${name}: ${JSON.stringify(result)}; ${report.receivedCount} frames checked, ${report.sentCount} replayed`);
  });
}

// ---- the harness must also catch differences -------------------------------------------------

test('harness detects a wrong response (183 instead of 180, missing header)', { timeout: 10000 }, async (t) => {
  if (traces.skip) return t.skip(traces.skip);
  const Srf = loadSrf(t);
  if (!Srf) return;
  const wrong = {
    async run(S, ctx) {
      const srf = new S();
      srf.on('error', () => {});
      srf.invite((req, res) => res.send(183));
      await new Promise((resolve) => {
        srf.on('connect', resolve);
        srf.connect({ host: ctx.host, port: ctx.port, secret: ctx.secret });
      });
      await ctx.untilTraceDone();
      srf.disconnect();
    },
  };
  const { report } = await runScenario(Srf, wrong, { trace: join(traces.dir, 'uas-invite-bye.trace'), timeoutMs: 1500 });
  assert.equal(report.ok, false);
  assert.equal(report.reason, 'timeout');
  const diff = report.mismatches.find((m) => m.kind === 'diff');
  assert.ok(diff, formatReport(report));
  assert.ok(diff.diffs.some((d) => d.where === 'start-line' && /183/.test(d.actual)), formatReport(report));
  assert.ok(diff.diffs.some((d) => d.where === 'header x-app'), formatReport(report));
  // the 200 the app never sent (and what follows) is reported as unmatched
  assert.ok(report.unmatched.some((u) => u.dir === 'app->server' && /SIP\/2\.0 200 OK/.test(u.payload)), formatReport(report));
});

test('harness detects a wrong secret and a wrong transaction id', { timeout: 10000 }, async (t) => {
  if (traces.skip) return t.skip(traces.skip);
  const fake = await startFakeServer({ trace: join(traces.dir, 'uas-cancel.trace'), timeoutMs: 1000 });
  const net = await import('node:net');
  const sock = net.connect(fake.port, '127.0.0.1');
  const reader = new FrameReader();
  sock.on('data', (chunk) => {
    for (const p of reader.feed(chunk)) {
      const { tokens } = parseLeader(p);
      if (tokens[1] === 'response' && tokens[3] === 'OK' && tokens.length > 5 && !tokens.includes('Msg sent:')) {
        sock.write(frame(`6f2c1e0a-0000-4000-8000-000000000002|route|invite`));
      } else if (tokens[1] === 'sip' && tokens[2] === 'network' && p.split('\r\n')[1].startsWith('INVITE ')) {
        // answer with a made-up transaction id
        sock.write(frame(`6f2c1e0a-0000-4000-8000-000000000003|sip|00000000-0000-4000-8000-000000000000|\r\nSIP/2.0 180 Ringing\r\n\r\n`));
      }
    }
  });
  await new Promise((r) => sock.once('connect', r));
  sock.write(frame('6f2c1e0a-0000-4000-8000-000000000001|authenticate|not-cymru|'));
  const report = await fake.done;
  sock.destroy();
  await fake.close();
  assert.equal(report.ok, false);
  const all = report.mismatches.flatMap((m) => m.diffs || []);
  assert.ok(all.some((d) => d.where === 'token 2' && d.actual === 'not-cymru'), formatReport(report));
  assert.ok(all.some((d) => d.where === 'token 2' && /^00000000-/.test(d.actual) && /echoed/.test(d.note)), formatReport(report));
});

// A raw client for synthetic traces: sends `frames` one by one as soon as `when(received)` allows.
async function rawClient(port, script) {
  const net = await import('node:net');
  const sock = net.connect(port, '127.0.0.1');
  const reader = new FrameReader();
  const got = [];
  let i = 0;
  const pumpScript = () => {
    while (i < script.length && script[i].after <= got.length) sock.write(frame(script[i++].send));
  };
  sock.on('data', (chunk) => {
    got.push(...reader.feed(chunk));
    pumpScript();
  });
  await new Promise((r) => sock.once('connect', r));
  pumpScript();
  return { got, sock };
}

const ID = (n) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const CID = (n) => `11111111-0000-4000-8000-${String(n).padStart(12, '0')}`;
const synth = (list) => list.map(([dir, payload], k) => ({ dir, conn: 1, t_ms: k * 100, payload }));

test('harness learns client ids and rewrites later server frames (msgIds, Call-ID, tag, Content-Length)', { timeout: 10000 }, async () => {
  const recSip = 'INVITE sip:bob@example.com SIP/2.0\r\nCall-ID: rec-call-1@app\r\nFrom: <sip:a@b>;tag=rectag01\r\nContent-Length: 0\r\n\r\n';
  const echoBody = 'rec-call-1@app rectag01\r\n';
  const trace = synth([
    ['app->server', `${ID(1)}|authenticate|s3cr3t|`],
    ['server->app', `${ID(101)}|response|${ID(1)}|OK|udp/10.0.0.1:5060|v0.9.10|udp/10.0.0.1:5060`],
    ['app->server', `${ID(2)}|route|invite`],
    ['app->server', `${ID(3)}|route|register`],
    ['server->app', `${ID(102)}|response|${ID(2)}|OK`],
    ['server->app', `${ID(103)}|response|${ID(3)}|OK`],
    ['app->server', `${ID(4)}|sip||\r\n${recSip}`],
    ['server->app', `${ID(104)}|response|${ID(4)}|OK|application|1|udp|10.0.0.2|5060|07:00:00.000001|${CID(9)}|Msg sent:|\r\n` +
      `INVITE sip:bob@example.com SIP/2.0\r\nCall-ID: rec-call-1@app\r\nFrom: <sip:a@b>;tag=rectag01\r\nContent-Length: ${Buffer.byteLength(echoBody)}\r\n\r\n${echoBody}`],
    ['app->server', `${ID(5)}|sip|${CID(9)}|\r\nCANCEL sip:bob@example.com SIP/2.0\r\nContent-Length: 0\r\n\r\n`],
  ]);
  const fake = await startFakeServer({ trace, timeoutMs: 3000 });
  const mine = (n) => `22222222-0000-4000-8000-${String(n).padStart(12, '0')}`;
  const { got, sock } = await rawClient(fake.port, [
    { after: 0, send: `${mine(1)}|authenticate|s3cr3t|` },
    // the two routes in the opposite order: one expect group, any order is fine
    { after: 1, send: `${mine(3)}|route|register` },
    { after: 1, send: `${mine(2)}|route|invite` },
    { after: 3, send: `${mine(4)}|sip||\r\n${recSip.replace('rec-call-1@app', 'my-own-call-id-42@app').replace('rectag01', 'T9')}` },
    { after: 4, send: `${mine(5)}|sip|${CID(9)}|\r\nCANCEL sip:bob@example.com SIP/2.0\r\nContent-Length: 0\r\n\r\n` },
  ]);
  const report = await fake.done;
  sock.destroy();
  await fake.close();
  assert.ok(report.ok, formatReport(report));
  assert.equal(parseLeader(got[0]).tokens[2], mine(1));
  assert.deepEqual(got.slice(1, 3).map((p) => parseLeader(p).tokens[2]), [mine(2), mine(3)]);
  const echo = got[3];
  assert.equal(parseLeader(echo).tokens[2], mine(4));
  assert.match(echo, /Call-ID: my-own-call-id-42@app\r\n/);
  assert.match(echo, /;tag=T9\r\n/);
  const sipBody = echo.slice(echo.indexOf('\r\n\r\n') + 4);
  assert.equal(sipBody, 'my-own-call-id-42@app T9\r\n');
  assert.match(echo, new RegExp(`Content-Length: ${Buffer.byteLength(sipBody)}\\r\\n`));
  assert.equal(report.bindings['rec-call-1@app'], 'my-own-call-id-42@app');
});

test('harness reports frames sent ahead of server frames they follow in the trace', { timeout: 10000 }, async () => {
  const trace = synth([
    ['app->server', `${ID(1)}|authenticate|x|`],
    ['server->app', `${ID(101)}|response|${ID(1)}|OK|udp/10.0.0.1:5060|v0.9.10|udp/10.0.0.1:5060`],
    ['app->server', `${ID(2)}|route|invite`],
    ['server->app', `${ID(102)}|response|${ID(2)}|OK`],
    ['app->server', `${ID(3)}|ping`],
    ['server->app', `${ID(103)}|response|${ID(3)}|OK|pong`],
  ]);
  const fake = await startFakeServer({ trace, timeoutMs: 3000 });
  // A ping ahead of the route's reply is out of order (route registrations alone may run ahead).
  const { sock } = await rawClient(fake.port, [
    { after: 0, send: `${ID(51)}|authenticate|x|` },
    { after: 1, send: `${ID(53)}|ping` },
    { after: 1, send: `${ID(52)}|route|invite` },
    { after: 1, send: `${ID(54)}|ping` },
  ]);
  const report = await fake.done;
  sock.destroy();
  await fake.close();
  assert.equal(report.ok, false);
  assert.deepEqual(report.mismatches.map((m) => m.kind), ['order'], formatReport(report));
  assert.equal(report.extra.length, 1, formatReport(report));
  assert.equal(report.unmatched.length, 0, formatReport(report));
});
