// Listen mode (srf.listen, wire-protocol.md §3.2): a scripted drachtio server in this test
// connects OUT to the app, expects `authenticate` first, answers OK, and sends requests as
// ordinary `sip` frames. Every scenario that both can run is played against our Srf and, as the
// reference, against drachtio-srf 5.0.29 from npm; their frame transcripts must be equal.
// Plain Node (no sipp, no shared data); TLS cases need the openssl command.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { createRequire } from 'node:module';
import { Conn, sipRequest, sipLeader } from './helpers/mini-server.mjs';
import { pkiFor } from './helpers/pki.mjs';

const require = createRequire(import.meta.url);
const Srf = require('../index.js');
let UpstreamSrf = null;
try {
  UpstreamSrf = require('drachtio-srf');
} catch {
  // devDependency missing: the reference runs are skipped with a reason.
}
const IMPLS = [['drachtio-srf-rs', Srf], ['drachtio-srf 5.0.29', UpstreamSrf]];
const noUpstream = UpstreamSrf ? false : 'drachtio-srf (devDependency) is not installed';

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';
const SECRET = 'cymru';

/** The scripted server opens a connection to the app (TCP, or TLS without verifying it). */
async function dial(port, { useTls = false } = {}) {
  const socket = useTls
    ? tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false })
    : net.connect({ port, host: '127.0.0.1' });
  await once(socket, useTls ? 'secureConnect' : 'connect');
  const conn = new Conn(socket);
  conn.ended = new Promise((resolve) => socket.once('end', () => resolve('end')));
  return conn;
}

function within(promise, ms, what) {
  let t;
  return Promise.race([promise, new Promise((_, reject) => { t = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms); })])
    .finally(() => clearTimeout(t));
}

/** What a frame from the app says, for comparing two libraries: type, txn, dialog, start line. */
function summary(f) {
  const [, type, ...rest] = f.tokens;
  if (type === 'sip') return ['sip', rest[0], rest[1], f.body.split('\r\n')[0]];
  return [type, ...rest];
}

/** The echo drachtio-server sends for a response the app sent: with its To tag and Contact. */
function echoResponse(conn, f, { txnId, dialogId = '', tag = 'srv1' }) {
  let echo = f.body.replace(/^(To: [^\r]*?)(\r\n)/mi, (m, to, crlf) => (/;tag=/.test(to) ? m : `${to};tag=${tag}${crlf}`));
  if (!/^Contact:/mi.test(echo)) echo = echo.replace('\r\n\r\n', '\r\nContact: <sip:127.0.0.1:5060>\r\n\r\n');
  conn.reply(f, ['OK', 'application', '300', 'udp', '127.0.0.1', '5090', '12:00:00.1', txnId, dialogId, '', 'Msg sent:', ''], echo);
}

/** A listening Srf of either library, its port once bound, and a way to stop it. */
async function listening(SrfClass, { tags = ['tag1'], setup, opts = {} } = {}) {
  const srf = new SrfClass(tags);
  srf.on('error', () => {});
  if (setup) setup(srf);
  const server = srf.listen({ port: 0, host: '127.0.0.1', secret: SECRET, ...opts });
  // The app's own server is started after listen(), so both libraries see its 'listening'.
  if (opts.server) opts.server.listen(0, '127.0.0.1');
  await within(once(srf, 'listening'), 3000, 'listening');
  const port = (opts.server || server).address().port;
  const stop = async () => {
    if (opts.server) return; // the test closes its own server
    if (srf instanceof Srf) {
      srf.disconnect(); // ours: stop listening and end every session
      return;
    }
    // drachtio-srf: server.close() leaves open sockets; the test has closed its own ends.
    await new Promise((resolve) => server.close(resolve));
  };
  return { srf, server, port, stop };
}

/**
 * One call: INVITE → createUAS 200 → ACK → BYE from the server → 200 on the same socket →
 * the app's 'destroy' handler calls endSession, which closes the socket. Returns the transcript.
 */
async function callScenario(SrfClass, listenOpts) {
  const events = [];
  let destroyed;
  const gone = new Promise((resolve) => { destroyed = resolve; });
  let holding;
  const held = new Promise((resolve) => { holding = resolve; });
  const { srf, port, stop } = await listening(SrfClass, {
    opts: listenOpts,
    setup: (s) => {
      s.on('connect', (err, hostport) => events.push(`connect ${err ? err.message : hostport}`));
      s.invite(async (req, res) => {
        events.push(`invite ${req.get('call-id')} server=${req.server && req.server.hostport}`);
        const dialog = await s.createUAS(req, res, { localSdp: SDP });
        dialog.on('destroy', () => {
          events.push('destroy');
          s.endSession(req);
          destroyed();
        });
        holding();
      });
    },
  });
  const transcript = [];
  const conn = await dial(port);
  try {
    const auth = await conn.authenticate();
    transcript.push(summary(auth));
    conn.send(sipLeader('txn-inv'), sipRequest('INVITE', { callId: 'call-1', body: SDP }));
    const ok = await conn.next();
    transcript.push(summary(ok));
    const dialogId = 'call-1;from-tag=from1';
    echoResponse(conn, ok, { txnId: 'txn-inv', dialogId });
    conn.send(sipLeader('txn-ack', { dialogId }), sipRequest('ACK', { callId: 'call-1', toTag: 'srv1' }));
    // The BYE only once the app holds its dialog with its 'destroy' listener: drachtio-srf
    // attaches it after createUAS resumes and would miss a BYE read in the same chunk.
    await within(held, 3000, 'the app holding its dialog');
    conn.send(sipLeader('txn-bye', { dialogId }), sipRequest('BYE', { callId: 'call-1', toTag: 'srv1' }));
    const byeOk = await conn.next();
    transcript.push(summary(byeOk));
    echoResponse(conn, byeOk, { txnId: 'txn-bye', dialogId });
    await within(gone, 3000, "the dialog's destroy event");
    transcript.push([`socket ${await within(conn.ended, 3000, 'endSession closing the socket')}`]);
    assert.equal(conn.queue.length, 0, `no other frames: ${JSON.stringify(conn.queue.map(summary))}`);
  } finally {
    conn.socket.destroy();
    await stop();
  }
  await new Promise((r) => setImmediate(r));
  return { transcript, events, srf };
}

const EXPECTED_CALL = [
  ['authenticate', SECRET, 'tag1'],
  ['sip', 'txn-inv', '', 'SIP/2.0 200 OK'],
  ['sip', 'txn-bye', '', 'SIP/2.0 200 OK'],
  ['socket end'],
];

for (const [name, Impl] of IMPLS) {
  test(`${name}: a call on an outbound connection; endSession closes it`, { skip: !Impl && noUpstream }, async () => {
    const { transcript, events } = await callScenario(Impl);
    assert.deepEqual(transcript, EXPECTED_CALL);
    assert.deepEqual(events.slice(0, 2).sort(), ['connect udp/127.0.0.1:5060,tcp/127.0.0.1:5060', 'invite call-1 server=udp/127.0.0.1:5060,tcp/127.0.0.1:5060'].sort());
    assert.equal(events[events.length - 1], 'destroy');
  });

  test(`${name}: an unhandled request gets 404 and the session is closed`, { skip: !Impl && noUpstream }, async () => {
    const { port, stop } = await listening(Impl, { setup: (s) => s.invite((req, res) => res.send(486)) });
    const conn = await dial(port);
    try {
      await conn.authenticate();
      conn.send(sipLeader('txn-msg'), sipRequest('MESSAGE', { callId: 'msg-1' }));
      const f = await conn.next();
      assert.deepEqual(summary(f), ['sip', 'txn-msg', '', 'SIP/2.0 404 Not Found']);
      assert.equal(await within(conn.ended, 3000, 'the session closing after the 404'), 'end');
    } finally {
      conn.socket.destroy();
      await stop();
    }
  });

  test(`${name}: a refused authenticate is reported as a connect error`, { skip: !Impl && noUpstream }, async () => {
    const { srf, port, stop } = await listening(Impl);
    const conn = await dial(port);
    try {
      const connected = once(srf, 'connect');
      await conn.authenticate({ ok: false });
      const [err] = await within(connected, 3000, 'connect event');
      assert.match(err.message, /failed to authenticate/);
    } finally {
      conn.socket.destroy();
      await stop();
    }
  });
}

test('our Srf and drachtio-srf send the same frames for the same call', { skip: noUpstream }, async () => {
  const ours = await callScenario(Srf);
  const theirs = await callScenario(UpstreamSrf);
  assert.deepEqual(ours.transcript, theirs.transcript);
});

test('sessions are independent: each answers, and places dialog requests, on its own socket', async () => {
  const dialogs = new Map();
  const { srf, port, stop } = await listening(Srf, {
    setup: (s) => s.invite(async (req, res) => {
      const dialog = await s.createUAS(req, res, { localSdp: SDP });
      dialogs.set(req.get('call-id'), { dialog, req });
    }),
  });
  const a = await dial(port);
  const b = await dial(port);
  try {
    await a.authenticate({ hostports: 'udp/10.0.0.1:5060' });
    await b.authenticate({ hostports: 'udp/10.0.0.2:5060' });
    // Both servers offer a call at once; each 200 must come back on its own socket.
    a.send(sipLeader('a-inv'), sipRequest('INVITE', { callId: 'call-a', body: SDP }));
    b.send(sipLeader('b-inv'), sipRequest('INVITE', { callId: 'call-b', body: SDP }));
    const okA = await a.next();
    const okB = await b.next();
    assert.deepEqual(summary(okA), ['sip', 'a-inv', '', 'SIP/2.0 200 OK']);
    assert.deepEqual(summary(okB), ['sip', 'b-inv', '', 'SIP/2.0 200 OK']);
    echoResponse(a, okA, { txnId: 'a-inv', dialogId: 'call-a;from-tag=from1', tag: 'ta' });
    echoResponse(b, okB, { txnId: 'b-inv', dialogId: 'call-b;from-tag=from1', tag: 'tb' });
    await within((async () => { while (dialogs.size < 2) await new Promise((r) => setTimeout(r, 10)); })(), 3000, 'both dialogs');
    const { dialog: dialogB, req: reqB } = dialogs.get('call-b');
    assert.equal(reqB.server.hostport, 'udp/10.0.0.2:5060', 'req.server describes its own session');
    assert.equal(reqB.socket, dialogB.socket, 'the dialog remembers its session');
    assert.notEqual(dialogs.get('call-a').dialog.socket, dialogB.socket);

    // The app hangs up B: the BYE goes out on B's socket, by dialog id.
    const hungUp = dialogB.destroy();
    const bye = await b.next();
    assert.deepEqual(summary(bye), ['sip', '', 'call-b;from-tag=from1', 'BYE sip:placeholder SIP/2.0']);
    b.reply(bye, ['OK', 'application', '300', 'udp', '127.0.0.1', '5090', '12:00:00.2', 'b-bye', 'Msg sent:', ''], bye.body);
    const byeResponse = sipRequest('BYE', { callId: 'call-b', toTag: 'tb' })
      .replace(/^BYE [^\r]*/, 'SIP/2.0 200 OK');
    b.send(sipLeader('b-bye', { dialogId: 'call-b;from-tag=from1' }), byeResponse);
    const sent = await within(hungUp, 3000, 'the BYE to be answered');
    assert.equal(sent.method, 'BYE');

    // A's dialog is untouched: a re-INVITE from server A is answered on A only.
    a.send(sipLeader('a-reinv', { dialogId: 'call-a;from-tag=from1' }), sipRequest('INVITE', { callId: 'call-a', toTag: 'ta', body: SDP }));
    const reinviteOk = await a.next();
    assert.deepEqual(summary(reinviteOk), ['sip', 'a-reinv', '', 'SIP/2.0 200 OK']);
    assert.equal(b.queue.length, 0);

    // Ending B's session closes only B.
    srf.endSession(reqB);
    assert.equal(await within(b.ended, 3000, 'session B closing'), 'end');
    a.send(sipLeader('a-opt'), sipRequest('OPTIONS', { callId: 'opt-a' }));
    assert.deepEqual(summary(await a.next()), ['sip', 'a-opt', '', 'SIP/2.0 404 Not Found']);
  } finally {
    a.socket.destroy();
    b.socket.destroy();
    await stop();
  }
});

test('srf.request in listen mode: on the session named first, else the oldest one', async () => {
  let inbound;
  const { srf, port, stop } = await listening(Srf, {
    setup: (s) => s.options((req, res) => {
      inbound = req;
      res.send(200);
    }),
  });
  await assert.rejects(srf.request('sip:x@127.0.0.1', { method: 'OPTIONS' }), { code: 'ERR_NOT_CONNECTED' });
  const a = await dial(port);
  const b = await dial(port);
  try {
    await a.authenticate();
    await b.authenticate();
    b.send(sipLeader('b-opt'), sipRequest('OPTIONS', { callId: 'opt-b' }));
    await b.next();
    const onB = srf.request(inbound.socket, 'sip:bob@127.0.0.1:5090', { method: 'MESSAGE', headers: { 'Content-Type': 'text/plain' }, body: 'hi' });
    const f = await b.next();
    assert.deepEqual(summary(f), ['sip', '', '', 'MESSAGE sip:bob@127.0.0.1:5090 SIP/2.0']);
    b.reply(f, ['OK', 'application', '300', 'udp', '127.0.0.1', '5090', '12:00:00.3', 'b-msg', 'Msg sent:', ''], f.body);
    const req = await within(onB, 3000, 'request sent');
    assert.equal(req.socket, inbound.socket);
    const onDefault = srf.request('sip:carol@127.0.0.1:5090', { method: 'OPTIONS' });
    const g = await a.next();
    assert.deepEqual(summary(g), ['sip', '', '', 'OPTIONS sip:carol@127.0.0.1:5090 SIP/2.0']);
    a.reply(g, ['OK', 'application', '300', 'udp', '127.0.0.1', '5090', '12:00:00.4', 'a-opt', 'Msg sent:', ''], g.body);
    await within(onDefault, 3000, 'request sent on the default session');
  } finally {
    a.socket.destroy();
    b.socket.destroy();
    await stop();
  }
});

test('a session the server closes fails what was waiting on it and is never reconnected', async () => {
  const closes = [];
  let answered;
  const { srf, port, stop } = await listening(Srf, {
    setup: (s) => s.message((req, res) => res.send(200, (err) => { answered = err; })),
  });
  srf.on('close', () => closes.push('close'));
  srf.on('reconnecting', () => closes.push('reconnecting'));
  const a = await dial(port);
  try {
    await a.authenticate();
    a.send(sipLeader('m1'), sipRequest('MESSAGE'));
    await a.next();
    a.socket.destroy(); // the 200 is never confirmed
    await within((async () => { while (!answered || !closes.length) await new Promise((r) => setTimeout(r, 10)); })(), 3000, 'close');
    assert.equal(answered.code, 'ERR_CONNECTION_CLOSED');
    await new Promise((r) => setTimeout(r, 400));
    assert.deepEqual(closes, ['close']);
  } finally {
    await stop();
  }
});

test('connect and listen exclude each other; bad listen arguments are clear errors', async () => {
  const connected = new Srf();
  connected.on('error', () => {});
  connected.connect({ host: '127.0.0.1', port: 1, secret: 'x', reconnect: { maxAttempts: 0 } });
  assert.throws(() => connected.listen({ port: 0, secret: 'x' }), /either connect or listen/);
  connected.disconnect();

  const listener = new Srf();
  listener.listen({ port: 0, host: '127.0.0.1', secret: 'x' });
  assert.throws(() => listener.connect({ host: '127.0.0.1', port: 9022, secret: 'x' }), /either connect or listen/);
  assert.throws(() => listener.listen({ port: 0, secret: 'x' }), /listening already/);
  listener.disconnect();

  const fresh = () => new Srf();
  assert.throws(() => fresh().listen({ port: 0 }), /secret must be a string/);
  assert.throws(() => fresh().listen({ secret: 'x' }), /port must be a port number/);
  assert.throws(() => fresh().listen({ port: 70000, secret: 'x' }), /port must be a port number/);
  assert.throws(() => fresh().listen({ port: 0, secret: 'a|b' }), /must not contain/);
  assert.throws(() => fresh().listen({ port: 0, secret: 'x', tls: { key: 'k' } }), /tls needs key and cert/);
  assert.throws(() => fresh().listen({ port: 0, secret: 'x', tls: { key: 'k', cert: 'c' } }), /srf\.listen: .*(PEM|certificate|key)/i);
  assert.throws(() => fresh().listen({ secret: 'x', server: {} }), /net\.Server/);
  assert.throws(() => fresh().listen({ port: 0, secret: 'x', enablePing: true, pingInterval: 5 }), /pingInterval/);
});

test('a port in use is an error event, and the server object reports it', async () => {
  const blocker = net.createServer();
  await new Promise((r) => blocker.listen(0, '127.0.0.1', r));
  try {
    const srf = new Srf();
    const errors = [];
    srf.on('error', (err) => errors.push(err));
    const server = srf.listen({ port: blocker.address().port, host: '127.0.0.1', secret: 'x' });
    const serverErrors = [];
    server.on('error', (err) => serverErrors.push(err));
    await new Promise((resolve) => server.once('close', resolve));
    assert.equal(serverErrors.length, 1);
    await new Promise((r) => setImmediate(r));
    assert.match(errors[0].message, /cannot listen on 127\.0\.0\.1:\d+: .*in use/i);
  } finally {
    blocker.close();
  }
});

test('server.close() stops accepting while open sessions carry on; close follows the last one', async () => {
  const { srf, server, port } = await listening(Srf, { setup: (s) => s.options((req, res) => res.send(200)) });
  const a = await dial(port);
  await a.authenticate();
  let closed = false;
  server.close(() => { closed = true; });
  await new Promise((r) => setTimeout(r, 100));
  await assert.rejects(dial(port), /ECONNREFUSED/);
  a.send(sipLeader('o1'), sipRequest('OPTIONS'));
  assert.deepEqual(summary(await a.next()), ['sip', 'o1', '', 'SIP/2.0 200 OK']);
  assert.equal(closed, false);
  a.socket.destroy();
  await within((async () => { while (!closed) await new Promise((r) => setTimeout(r, 10)); })(), 3000, 'server close');
  assert.equal(srf.idle, true);
});

for (const [name, Impl] of IMPLS) {
  test(`${name}: listen({ server }) runs sessions over the app's own net.Server`, { skip: !Impl && noUpstream }, async () => {
    const own = net.createServer();
    try {
      const { transcript } = await callScenario(Impl, { server: own });
      assert.deepEqual(transcript, EXPECTED_CALL);
    } finally {
      await new Promise((r) => own.close(r));
    }
  });
}

for (const [name, Impl] of IMPLS) {
  test(`${name}: TLS listen ({ tls: { key, cert } }): the server connects over TLS`, { skip: !Impl && noUpstream }, async (t) => {
    const pki = pkiFor(t);
    if (!pki) return;
    const { port, stop } = await listening(Impl, {
      opts: { tls: { key: pki.key, cert: pki.cert } },
      setup: (s) => s.options((req, res) => res.send(200)),
    });
    const conn = await dial(port, { useTls: true });
    try {
      assert.equal(conn.socket.getPeerCertificate().subject.CN, 'localhost');
      const auth = await conn.authenticate();
      assert.deepEqual(summary(auth), ['authenticate', SECRET, 'tag1']);
      conn.send(sipLeader('o-tls'), sipRequest('OPTIONS'));
      assert.deepEqual(summary(await conn.next()), ['sip', 'o-tls', '', 'SIP/2.0 200 OK']);
    } finally {
      conn.socket.destroy();
      await stop();
    }
  });
}

test('listen() returns a net.Server: address(), listening, getConnections()', async () => {
  const { srf, server, port, stop } = await listening(Srf);
  try {
    assert.ok(server instanceof net.Server);
    assert.equal(server.listening, true);
    assert.deepEqual(server.address(), { address: '127.0.0.1', family: 'IPv4', port });
    const conn = await dial(port);
    const connected = once(srf, 'connect');
    await conn.authenticate();
    await connected;
    const n = await new Promise((resolve, reject) => server.getConnections((err, count) => (err ? reject(err) : resolve(count))));
    assert.equal(n, 1);
    conn.socket.destroy();
  } finally {
    await stop();
  }
});
