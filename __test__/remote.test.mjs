// The remote backend end to end: our Srf over real TCP (and TLS) to a scripted drachtio
// server. Each test plays the server side frame by frame.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { miniServer, sipRequest, sipLeader } from './helpers/mini-server.mjs';
import { pkiFor } from './helpers/pki.mjs';
import { errorsFail, waitFor } from './helpers/embedded.mjs';

const require = createRequire(import.meta.url);
const Srf = require('../index.js');
const { SipError } = Srf;

async function connected(server, { opts = {}, setup, expectErrors = false } = {}) {
  const srf = new Srf(opts.tags || []);
  // 'error' events fail the test, unless it expects them: then they are kept for it to check
  if (expectErrors) {
    srf.errors = [];
    srf.on('error', (err) => srf.errors.push(err));
  } else errorsFail(srf);
  if (setup) setup(srf);
  srf.connect({ host: '127.0.0.1', port: server.port, secret: 'cymru', ...opts });
  const conn = await server.accept();
  const auth = await conn.authenticate();
  const [err, hostport, version, local] = await once(srf, 'connect');
  return { srf, conn, auth, err, hostport, version, local };
}

async function withServer(fn, serverOpts) {
  const server = await miniServer(serverOpts);
  const srfs = [];
  try {
    await fn(server, srfs);
  } finally {
    for (const s of srfs) s.disconnect();
    await server.close();
  }
}

test('authenticates with secret and tags, registers lower-case routes, reports the server', () => withServer(async (server, srfs) => {
  const { srf, conn, auth, err, hostport, version, local } = await connected(server, {
    opts: { tags: ['billing', 'eu'] },
    setup: (s) => { s.use('INVITE', (req, res) => res.send(486)); s.options((req, res) => res.send(200)); s.on('cdr:stop', () => {}); },
  });
  srfs.push(srf);
  assert.deepEqual(auth.tokens.slice(1), ['authenticate', 'cymru', 'billing,eu']);
  assert.equal(err, null);
  assert.equal(hostport, 'udp/127.0.0.1:5060,tcp/127.0.0.1:5060');
  assert.equal(version, 'v0.9.10-test');
  assert.equal(local, hostport);
  const routes = new Set();
  for (let i = 0; i < 3; i++) routes.add((await conn.nextOf('route')).tokens[2]);
  assert.deepEqual([...routes].sort(), ['cdr:stop', 'invite', 'options']);
  srf.register((req, res) => res.send(200));
  assert.equal((await conn.nextOf('route')).tokens[2], 'register', 'a verb added later is routed at once');
}));

test('a request runs through middleware and res.send answers on its transaction', () => withServer(async (server, srfs) => {
  const seen = [];
  const { srf, conn } = await connected(server, {
    setup: (s) => {
      s.use((req, res, next) => { seen.push('all'); next(); });
      s.options((req, res) => {
        seen.push(req.method);
        assert.equal(req.source, 'network');
        assert.equal(req.source_address, '127.0.0.1');
        assert.equal(req.source_port, 5090);
        assert.equal(req.protocol, 'udp');
        assert.equal(req.stackTxnId, 'txn-1');
        assert.equal(req.receivedOn, '127.0.0.1:5060');
        assert.equal(req.server.address, '127.0.0.1');
        assert.equal(req.callingNumber, '+15550001111');
        res.send(200, 'Fine', { headers: { 'X-App': 'yes', Allow: 'INVITE, OPTIONS' } }, (err, msg) => {
          seen.push(err ? `err ${err.message}` : `sent ${msg.status} ${msg.get('to')}`);
        });
      });
    },
  });
  srfs.push(srf);
  await conn.nextOf('route');
  conn.send(sipLeader('txn-1'), sipRequest('OPTIONS', { callId: 'opt-1' }));
  const f = await conn.nextOf('sip');
  assert.deepEqual(f.tokens.slice(1, 4), ['sip', 'txn-1', '']);
  assert.match(f.body, /^SIP\/2\.0 200 Fine\r\n/);
  assert.match(f.body, /\r\nCall-ID: opt-1\r\n/i);
  assert.match(f.body, /\r\nCSeq: 1 OPTIONS\r\n/i);
  assert.match(f.body, /\r\nX-App: yes\r\n/);
  const echo = f.body.replace('To: <sip:service@127.0.0.1>', 'To: <sip:service@127.0.0.1>;tag=srv1');
  conn.reply(f, ['OK', 'application', '300', 'udp', '127.0.0.1', '5090', '12:00:00.1', 'txn-1', '', '', 'Msg sent:', ''], echo);
  await waitFor(() => seen.length === 3);
  assert.deepEqual(seen, ['all', 'OPTIONS', 'sent 200 <sip:service@127.0.0.1>;tag=srv1']);
}));

test('end of stack: 404 for unhandled, err.status for errors, 500 otherwise', () => withServer(async (server, srfs) => {
  const { srf, conn } = await connected(server, {
    setup: (s) => {
      s.use('message', (req, res, next) => next());
      s.use('info', (req, res, next) => next(new SipError(486, 'Busy Here')));
      s.use('notify', () => { throw new Error('boom'); });
    },
  });
  srfs.push(srf);
  for (const [method, status] of [['MESSAGE', 404], ['INFO', 486], ['NOTIFY', 500]]) {
    conn.send(sipLeader(`t-${method}`), sipRequest(method));
    const f = await conn.nextOf('sip');
    assert.equal(f.tokens[2], `t-${method}`);
    assert.match(f.body, new RegExp(`^SIP/2\\.0 ${status} `), method);
  }
}));

test('a network CANCEL reaches the pending INVITE as a cancel event', () => withServer(async (server, srfs) => {
  let cancelled;
  const { srf, conn } = await connected(server, {
    setup: (s) => s.invite((req) => { req.on('cancel', (msg) => { cancelled = msg; }); }),
  });
  srfs.push(srf);
  conn.send(sipLeader('inv-1'), sipRequest('INVITE', { callId: 'call-c' }));
  await new Promise((r) => setTimeout(r, 50));
  conn.send(sipLeader('inv-1'), sipRequest('CANCEL', { callId: 'call-c' }));
  await waitFor(() => cancelled);
  assert.equal(cancelled.method, 'CANCEL');
}));

test('a refused reply and a dropped link fail res.send with clear errors', () => withServer(async (server, srfs) => {
  const results = [];
  const { srf, conn } = await connected(server, {
    expectErrors: true,
    setup: (s) => s.options((req, res) => res.send(200, (err) => results.push(err))),
  });
  srfs.push(srf);
  conn.send(sipLeader('t1'), sipRequest('OPTIONS'));
  const f = await conn.nextOf('sip');
  conn.reply(f, ['NOK', 'Response not sent due to unknown transaction']);
  await waitFor(() => results.length === 1);
  assert.equal(String(results[0]), 'Error: Response not sent due to unknown transaction');
  assert.equal(results[0].code, 'EDRACHTIO');
  conn.send(sipLeader('t2'), sipRequest('OPTIONS'));
  await conn.nextOf('sip');
  conn.socket.destroy();
  await waitFor(() => results.length === 2);
  assert.equal(results[1].code, 'ERR_CONNECTION_CLOSED');
  await waitFor(() => srf.errors.length > 0);
  assert.match(srf.errors[0].message, /connection closed by the drachtio server/, 'the dropped link is reported');
}));

test('a wrong secret emits connect with an error, then reconnects', () => withServer(async (server, srfs) => {
  const srf = new Srf();
  srfs.push(srf);
  const events = [];
  srf.on('error', () => {});
  srf.on('connect', (err) => events.push(err ? err.message : 'ok'));
  srf.on('reconnecting', (r) => events.push(`reconnecting ${r.attempt}`));
  srf.connect({ host: '127.0.0.1', port: server.port, secret: 'wrong' });
  await (await server.accept()).authenticate({ ok: false });
  const second = await server.accept();
  await second.authenticate();
  await waitFor(() => events.includes('ok'));
  assert.equal(events[0], 'failed to authenticate to server');
  assert.ok(events.includes('reconnecting 1'));
}));

test('garbage, or a server closing mid-frame, is an error event; the client reconnects and re-routes', () => withServer(async (server, srfs) => {
  const errors = [];
  const srf = new Srf();
  srfs.push(srf);
  srf.on('error', (e) => errors.push(e.message));
  srf.invite((req, res) => res.send(180));
  srf.connect({ host: '127.0.0.1', port: server.port, secret: 'cymru' });
  let conn = await server.accept();
  await conn.authenticate();
  await conn.nextOf('route');
  conn.socket.write('this is not a frame|||\r\n');
  conn = await server.accept();
  await conn.authenticate();
  assert.equal((await conn.nextOf('route')).tokens[2], 'invite', 'routes re-registered after reconnect');
  conn.socket.end('50#abc');
  conn = await server.accept();
  await conn.authenticate();
  assert.equal((await conn.nextOf('route')).tokens[2], 'invite');
  assert.ok(errors.some((e) => /protocol error/.test(e)), errors.join('; '));
  assert.ok(errors.some((e) => /closed by the drachtio server/.test(e)), errors.join('; '));
}));

test('malformed SIP from the server is an error event, not a crash', () => withServer(async (server, srfs) => {
  const errors = [];
  const { srf, conn } = await connected(server, { setup: (s) => s.invite(() => {}) });
  srfs.push(srf);
  srf.removeAllListeners('error');
  srf.on('error', (e) => errors.push(e.message));
  conn.send(sipLeader('t1'), 'INVITE sip:x\r\n\r\n');
  conn.send(['x', 'mystery', 'a']);
  await waitFor(() => errors.length >= 1);
  assert.match(errors[0], /malformed SIP message/);
}));

test('bad arguments throw at the call', () => {
  const srf = new Srf();
  assert.throws(() => srf.connect({ host: '127.0.0.1', port: 9022 }), assert.AssertionError);
  assert.throws(() => srf.connect({ host: '127.0.0.1', port: 'nope', secret: 'x' }), assert.AssertionError);
  assert.throws(() => srf.connect({ secret: 'x', enablePing: true, pingInterval: 10 }), assert.AssertionError);
  assert.throws(() => new Srf('bad tag'), assert.AssertionError);
  assert.throws(() => srf.use(), TypeError);
  const res = new Srf.SipResponse(new Srf.SipMessage({}));
  assert.throws(() => res.send(999), /valid sip response code/);
  assert.throws(() => res.send('200'), /valid sip response code/);
  assert.throws(() => srf.listen({ port: 1 }), /srf\.listen: secret must be a string/);
  assert.throws(() => new Srf().listen({ secret: 'x' }), /srf\.listen: port must be a port number/);
  assert.throws(() => new Srf().listen(), /srf\.listen: options must be an object/);
});

test('a response over the server frame limit fails with ERR_FRAME_TOO_LARGE', () => withServer(async (server, srfs) => {
  let result;
  const { srf, conn } = await connected(server, {
    setup: (s) => s.message((req, res) => res.send(200, { body: 'x'.repeat(100000) }, (err) => { result = err; })),
  });
  srfs.push(srf);
  conn.send(sipLeader('t1'), sipRequest('MESSAGE'));
  await waitFor(() => result);
  assert.equal(result.code, 'ERR_FRAME_TOO_LARGE');
}));

test('pings are sent when enabled', { timeout: 15000 }, () => withServer(async (server, srfs) => {
  const { srf, conn } = await connected(server, { opts: { enablePing: true, pingInterval: 5000 } });
  srfs.push(srf);
  const ping = await conn.nextOf('ping', 7000);
  conn.reply(ping, ['OK', 'pong']);
}));

test('TLS to a server with a self-signed CA', { timeout: 20000 }, async (t) => {
  const pki = pkiFor(t);
  if (!pki) return;
  await withServer(async (server, srfs) => {
    const srf = new Srf();
    srfs.push(srf);
    srf.on('error', () => {});
    srf.connect({ host: '127.0.0.1', port: server.port, secret: 'cymru', tls: { ca: pki.ca } });
    const conn = await server.accept();
    await conn.authenticate();
    const [err] = await once(srf, 'connect');
    assert.equal(err, null);
    const bad = new Srf();
    srfs.push(bad);
    const errors = [];
    bad.on('error', (e) => errors.push(e.message));
    bad.connect({ host: '127.0.0.1', port: server.port, secret: 'cymru', tls: {}, reconnect: { maxAttempts: 0 } });
    await waitFor(() => errors.length > 0);
    assert.match(errors[0], /TLS handshake .* failed/, 'an unknown CA is refused');
  }, { tlsOptions: { key: pki.key, cert: pki.cert } });
});

test('disconnect() lets the process exit', { timeout: 15000 }, () => withServer(async (server) => {
  const script = `
    const Srf = require(${JSON.stringify(require.resolve('../index.js'))});
    const srf = new Srf();
    srf.on('connect', () => srf.disconnect());
    srf.connect({ host: '127.0.0.1', port: ${server.port}, secret: 'cymru' });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
  const conn = await server.accept();
  await conn.authenticate();
  const [code] = await Promise.race([once(child, 'exit'), new Promise((_, rej) => setTimeout(() => rej(new Error('child did not exit')), 5000))]);
  assert.equal(code, 0);
}));

