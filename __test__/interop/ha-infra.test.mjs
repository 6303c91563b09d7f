// High-availability infrastructure (issue #19), on its own: a throwaway Redis
// (scripts/redis.js), and kamailio as the SIP load balancer (scripts/kamailio.js with
// examples/ha/kamailio.cfg) in front of app processes (examples/ha/app.js) or of fake UASes.
// Each test starts what it needs on free 127.0.0.1 ports and stops it by its PID. Without
// redis-server, kamailio or sipp a test is skipped with the reason, except on CI, where it fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { onCI } from '../helpers/shared.mjs';
import { requireSipp, runSipp, scenario } from '../helpers/sipp.mjs';
import { waitFor } from '../helpers/embedded.mjs';

const require = createRequire(import.meta.url);
const { startRedis, redisAvailable, redisCommand } = require('../../scripts/redis.js');
const { startKamailio, kamailioAvailable, checkConfig, CFG } = require('../../scripts/kamailio.js');
const { freePort } = require('../../scripts/sipp.js');

const APP = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'ha', 'app.js');
const CALLS = 20;

/** True when `version` (a tool's, or null) says it is installed; else skips, or fails on CI. */
function requireTool(t, version, what, pkg) {
  if (version) return true;
  const reason = `${what} not found; install it with apt-get install ${pkg}`;
  if (onCI()) throw new Error(`${reason}: required on CI (CI=${process.env.CI})`);
  t.skip(reason);
  return false;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Whether a TCP connection to 127.0.0.1:port is refused. */
const refused = (port) => new Promise((resolve) => {
  const s = net.connect({ host: '127.0.0.1', port });
  s.on('connect', () => { s.destroy(); resolve(false); });
  s.on('error', (err) => resolve(err.code === 'ECONNREFUSED'));
});

test('redis: starts on a free port, answers, goes down (connection refused) and comes back with its data', { timeout: 30000 }, async (t) => {
  if (!requireTool(t, redisAvailable(), 'redis-server', 'redis-server')) return;
  const redis = await startRedis();
  let lastPid;
  try {
    assert.match(redis.url, /^redis:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(redis.url, `redis://127.0.0.1:${redis.port}`);
    assert.ok(redis.pid > 0);
    assert.equal(await redisCommand(redis.port, 'PING'), '+PONG');
    assert.equal(await redisCommand(redis.port, 'SET ha-key ha-value'), '+OK');
    // no persistence configured
    assert.equal(await redisCommand(redis.port, 'CONFIG GET appendonly'), '*2');

    const firstPid = redis.pid;
    await redis.pause();
    assert.equal(redis.running, false);
    assert.equal(await refused(redis.port), true, 'connections are refused while Redis is down');
    assert.throws(() => process.kill(firstPid, 0), { code: 'ESRCH' }, 'the server process is gone');

    await redis.resume();
    assert.equal(redis.running, true);
    assert.equal(await redisCommand(redis.port, 'PING'), '+PONG');
    assert.equal(await redisCommand(redis.port, 'GET ha-key'), '$8', 'the data survived the outage');

    // A crash of a Redis without persistence: back empty.
    await redis.pause({ keepData: false });
    assert.equal(await refused(redis.port), true);
    await redis.resume();
    assert.equal(await redisCommand(redis.port, 'GET ha-key'), '$-1');
    lastPid = redis.pid;
  } finally {
    await redis.stop();
  }
  assert.equal(await refused(redis.port), true, 'stopped');
  assert.equal(redis.pid, null);
  assert.throws(() => process.kill(lastPid, 0), { code: 'ESRCH' }, 'the server process is gone');
});

test('kamailio: examples/ha/kamailio.cfg passes kamailio -c, as shipped and as filled in', { timeout: 30000 }, async (t) => {
  if (!requireTool(t, kamailioAvailable(), 'kamailio', 'kamailio')) return;
  const plain = checkConfig();
  assert.ok(plain.ok, plain.output);
  const port = await freePort();
  const filled = checkConfig({ defines: [`HA_LISTEN=udp:127.0.0.1:${port}`, 'HA_DS_LIST="/nonexistent/dispatcher.list"', 'HA_FR_TIMER=1000', 'HA_PING_INTERVAL=2'] });
  assert.ok(filled.ok, filled.output);
  assert.match(filled.output, new RegExp(`127\\.0\\.0\\.1\\]?:${port}`));
  assert.equal(CFG, path.resolve(APP, '..', 'kamailio.cfg'));
});

/**
 * Starts examples/ha/app.js on a free port; resolves once it printed "ready". Its stdout lines
 * are kept in `lines`; it exits when our end of its stdin closes (so it cannot outlive us).
 */
async function startApp(name, { ms = 20000 } = {}) {
  const port = await freePort();
  const child = spawn(process.execPath, [APP, '--port', String(port), '--name', name, '--exit-on-stdin-close'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines = [];
  let stderr = '';
  let partial = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    const all = (partial + d).split('\n');
    partial = all.pop();
    lines.push(...all);
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { stderr = (stderr + d).slice(-10000); });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let gone = null;
  exited.then((r) => { gone = r; });
  const end = Date.now() + ms;
  while (!lines.some((l) => l.startsWith('ready '))) {
    if (gone || Date.now() > end) {
      child.kill('SIGKILL');
      throw new Error(`app ${name} on port ${port} not ready (${gone ? `exit ${gone.code} ${gone.signal || ''}` : `${ms} ms`})\n${lines.join('\n')}\n${stderr}`);
    }
    await sleep(20);
  }
  const count = (event) => lines.filter((l) => l.startsWith(`${event} `)).length;
  return {
    name, port, target: `127.0.0.1:${port}`, child, lines, exited, count, stderr: () => stderr,
    async stop() {
      if (gone) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

test(`kamailio in front of two app processes: ${CALLS} sipp calls spread over both; one killed, ${CALLS} more all on the survivor`, { timeout: 120000 }, async (t) => {
  if (!requireTool(t, kamailioAvailable(), 'kamailio', 'kamailio')) return;
  if (!requireSipp(t)) return;
  const apps = [];
  let lb;
  try {
    apps.push(await startApp('a'), await startApp('b'));
    const [a, b] = apps;
    lb = await startKamailio({ targets: [a.target, b.target] });
    const calls = async () => {
      const r = await runSipp(['-sf', scenario('ha-uac-call.xml'), lb.sip, '-m', String(CALLS), '-r', '20', '-l', '10'], { timeoutMs: 40000 });
      return r;
    };

    const first = await calls();
    assert.equal(first.stats.successful, CALLS, first.summary());
    assert.equal(first.stats.failed, 0, first.summary());
    // An app logs a call once its createUAS resolves, and its engine answers the BYE itself:
    // the last lines can come after sipp has ended (on a timeout, the assertion says what is missing).
    await waitFor(() => a.count('invite') + b.count('invite') >= CALLS, 5000).catch(() => {});
    assert.equal(a.count('invite') + b.count('invite'), CALLS, `${a.lines.join('\n')}\n${b.lines.join('\n')}`);
    // round robin: both took calls (10 each unless something was marked down)
    assert.ok(a.count('invite') >= CALLS / 4 && b.count('invite') >= CALLS / 4, `spread: a ${a.count('invite')}, b ${b.count('invite')}`);
    assert.deepEqual(lb.failovers, [], 'no app failed a call');

    const before = { a: a.count('invite'), b: b.count('invite') };
    a.child.kill('SIGKILL');
    await a.exited;
    const killedAt = Date.now();
    await lb.waitDown(a.target, 10000);
    t.diagnostic(`kamailio took the killed app out after ${Date.now() - killedAt} ms`);
    assert.equal(lb.state(b.target), 'up');

    const second = await calls();
    assert.equal(second.stats.successful, CALLS, second.summary());
    assert.equal(second.stats.failed, 0, second.summary());
    await waitFor(() => b.count('invite') - before.b >= CALLS, 5000).catch(() => {});
    assert.equal(b.count('invite') - before.b, CALLS, 'every new call reached the survivor');
    assert.equal(a.count('invite'), before.a);
  } catch (err) {
    if (lb) t.diagnostic(`kamailio output:\n${lb.output().slice(-4000)}`);
    throw err;
  } finally {
    if (lb) await lb.stop();
    await Promise.all(apps.map((app) => app.stop()));
  }
  assert.throws(() => process.kill(-lb.pid, 0), { code: 'ESRCH' }, 'kamailio and its workers are gone');
});

// ---- a minimal SIP UA over UDP, for the in-dialog test below (no engine involved)

/** Parses a SIP message: { method, status, uri, headers: [[lname, value]], get(name), all(name), body }. */
function parseSip(text) {
  const sep = text.indexOf('\r\n\r\n');
  const [start, ...lines] = text.slice(0, sep === -1 ? text.length : sep).split('\r\n');
  const headers = lines.map((l) => [l.slice(0, l.indexOf(':')).trim().toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]);
  const m = /^SIP\/2\.0 (\d{3})/.exec(start);
  const r = /^([A-Z]+) (\S+) SIP\/2\.0/.exec(start);
  const all = (name) => headers.filter(([n]) => n === name.toLowerCase()).map(([, v]) => v);
  return { status: m ? Number(m[1]) : undefined, method: r ? r[1] : undefined, uri: r ? r[2] : undefined, headers, all, get: (name) => all(name)[0], body: sep === -1 ? '' : text.slice(sep + 4) };
}

const sipText = (start, headers, body = '') => `${[start, ...headers, `Content-Length: ${Buffer.byteLength(body)}`].join('\r\n')}\r\n\r\n${body}`;

/** A fake app: answers OPTIONS, INVITE (copying Record-Route, as a UAS must), BYE with 200. */
async function fakeUas(name, { port: fixed = 0 } = {}) {
  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(fixed, '127.0.0.1', r));
  const port = sock.address().port;
  const got = [];
  sock.on('message', (buf, rinfo) => {
    const req = parseSip(buf.toString('latin1'));
    if (!req.method) return;
    got.push({ method: req.method, callId: req.get('call-id') });
    if (req.method === 'ACK') return;
    const to = req.get('to');
    const headers = [
      ...req.all('via').map((v) => `Via: ${v}`),
      `From: ${req.get('from')}`,
      `To: ${/;\s*tag=/.test(to) ? to : `${to};tag=${name}-tag`}`,
      `Call-ID: ${req.get('call-id')}`,
      `CSeq: ${req.get('cseq')}`,
    ];
    if (req.method === 'INVITE') {
      headers.push(...req.all('record-route').map((v) => `Record-Route: ${v}`), `Contact: <sip:${name}@127.0.0.1:${port}>`);
    }
    sock.send(sipText('SIP/2.0 200 OK', headers), rinfo.port, rinfo.address);
  });
  return {
    name, port, target: `127.0.0.1:${port}`, got,
    calls: (method, callId) => got.filter((g) => g.method === method && g.callId === callId).length,
    close: () => new Promise((r) => sock.close(r)),
  };
}

/** A caller: sends requests to `proxy` and waits for their final responses. */
async function fakeUac(proxy) {
  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  const port = sock.address().port;
  const waiting = new Map(); // cseq -> resolve
  sock.on('message', (buf) => {
    const res = parseSip(buf.toString('latin1'));
    if (res.status === undefined || res.status < 200) return;
    const w = waiting.get(res.get('cseq'));
    if (w) { waiting.delete(res.get('cseq')); w(res); }
  });
  const [host, p] = proxy.split(':');
  let branch = 0;
  const send = (method, { uri, callId, cseq, toTag, route, ms = 8000 }) => {
    const headers = [
      `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-ha-${process.pid}-${++branch};rport`,
      'Max-Forwards: 70',
      `From: <sip:caller@127.0.0.1:${port}>;tag=caller-tag`,
      `To: <sip:service@${proxy}>${toTag ? `;tag=${toTag}` : ''}`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} ${method}`,
      `Contact: <sip:caller@127.0.0.1:${port}>`,
      ...(route ? [`Route: ${route}`] : []),
    ];
    sock.send(sipText(`${method} ${uri} SIP/2.0`, headers), Number(p), host);
    if (method === 'ACK') return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const key = `${cseq} ${method}`;
      const timer = setTimeout(() => { waiting.delete(key); reject(new Error(`no final response to ${method} (${callId}) within ${ms} ms`)); }, ms);
      waiting.set(key, (res) => { clearTimeout(timer); resolve(res); });
    });
  };
  return { send, close: () => new Promise((r) => sock.close(r)) };
}

test('kamailio: the re-INVITE and BYE of a call whose app died go to the other app; the app back is put back', { timeout: 60000 }, async (t) => {
  if (!requireTool(t, kamailioAvailable(), 'kamailio', 'kamailio')) return;
  const a = await fakeUas('a');
  const b = await fakeUas('b');
  let lb;
  let caller;
  let revived;
  try {
    lb = await startKamailio({ targets: [a.target, b.target], frTimer: 1500, pingInterval: 1 });
    caller = await fakeUac(lb.sip);
    // Both are probed and answer.
    const probed = Date.now() + 5000;
    while (!(a.got.some((g) => g.method === 'OPTIONS') && b.got.some((g) => g.method === 'OPTIONS'))) {
      assert.ok(Date.now() < probed, 'kamailio probes both apps with OPTIONS');
      await sleep(20);
    }

    const callId = `ha-infra-${process.pid}-${Date.now()}@127.0.0.1`;
    const ok = await caller.send('INVITE', { uri: `sip:service@${lb.sip}`, callId, cseq: 1 });
    assert.equal(ok.status, 200);
    const rr = ok.get('record-route');
    assert.ok(rr && rr.includes(lb.sip), `kamailio record-routes the call: ${rr}`);
    const toTag = /;\s*tag=([^;>\s]+)/.exec(ok.get('to'))[1];
    const contact = /<([^>]+)>/.exec(ok.get('contact'))[1];
    const [owner, other] = a.calls('INVITE', callId) ? [a, b] : [b, a];
    assert.equal(owner.calls('INVITE', callId), 1);
    const dialog = { uri: contact, callId, toTag, route: rr };
    await caller.send('ACK', { ...dialog, cseq: 1 });

    // The owner dies. A re-INVITE right away still goes to it (not yet taken out), times out
    // after fr_timer and is retried on the other app.
    await owner.close();
    const started = Date.now();
    const re = await caller.send('INVITE', { ...dialog, cseq: 2 });
    assert.equal(re.status, 200, 'the re-INVITE was answered');
    t.diagnostic(`re-INVITE answered after ${Date.now() - started} ms`);
    assert.equal(other.calls('INVITE', callId), 1, 'by the surviving app');
    await caller.send('ACK', { ...dialog, cseq: 2 });

    // Once the probes took it out, the BYE goes to the other app directly.
    await lb.waitDown(owner.target, 10000);
    const byeAt = Date.now();
    const bye = await caller.send('BYE', { ...dialog, cseq: 3 });
    assert.equal(bye.status, 200);
    assert.ok(Date.now() - byeAt < 1000, `the BYE did not wait for a timeout (${Date.now() - byeAt} ms)`);
    assert.equal(other.calls('BYE', callId), 1, 'the BYE reached the surviving app');
    const moved = lb.failovers.filter((l) => l.includes(callId));
    assert.ok(moved.some((l) => /^HA failover INVITE/.test(l)) && moved.some((l) => /^HA failover BYE .*\(down\)/.test(l)), moved.join('\n'));

    // The dead app comes back on its port: the probes put it back, and new calls reach it again.
    revived = await fakeUas(owner.name, { port: owner.port });
    await lb.waitUp(owner.target, 10000);
    for (let n = 0; n < 2; n++) {
      const id = `${callId}-${n}`;
      const res = await caller.send('INVITE', { uri: `sip:service@${lb.sip}`, callId: id, cseq: 1 });
      assert.equal(res.status, 200);
    }
    assert.equal(revived.got.filter((g) => g.method === 'INVITE').length, 1, 'round robin: one of two new calls on the app that came back');
  } catch (err) {
    if (lb) t.diagnostic(`kamailio output:\n${lb.output().slice(-4000)}`);
    throw err;
  } finally {
    if (caller) await caller.close();
    if (lb) await lb.stop();
    await Promise.allSettled([a.close(), b.close(), revived && revived.close()]);
  }
});

// RFC 3261 §12.1.1: a UAS copies the request's Record-Route into its 2xx, or the caller's
// in-dialog requests bypass the balancer (straight to the app's Contact) and cannot be moved to
// another app when that one dies.
test('an app behind kamailio answers with kamailio\'s Record-Route', { timeout: 60000 }, async (t) => {
  if (!requireTool(t, kamailioAvailable(), 'kamailio', 'kamailio')) return;
  const app = await startApp('rr');
  let lb;
  let caller;
  try {
    lb = await startKamailio({ targets: [app.target] });
    caller = await fakeUac(lb.sip);
    const callId = `ha-rr-${process.pid}-${Date.now()}@127.0.0.1`;
    const ok = await caller.send('INVITE', { uri: `sip:service@${lb.sip}`, callId, cseq: 1 });
    assert.equal(ok.status, 200);
    const toTag = /;\s*tag=([^;>\s]+)/.exec(ok.get('to'))[1];
    const contact = /<([^>]+)>/.exec(ok.get('contact'))[1];
    const rr = ok.get('record-route');
    // end the call either way: along the route set, or straight to the app
    await caller.send('ACK', { uri: contact, callId, cseq: 1, toTag, route: rr });
    assert.ok(rr && rr.includes(lb.sip), `the 200 has kamailio's Record-Route (got ${rr === undefined ? 'none' : rr})`);
    const bye = await caller.send('BYE', { uri: contact, callId, cseq: 2, toTag, route: rr });
    assert.equal(bye.status, 200);
  } finally {
    if (caller) await caller.close();
    if (lb) await lb.stop();
    await app.stop();
  }
});
