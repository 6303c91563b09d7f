// SIP over TLS, WebSocket and secure WebSocket (RFC 7118) on the embedded engine (#17): calls
// over each, hung up by either side (the app's BYE must reach a WebSocket peer over the peer's
// own connection: its Contact names a `.invalid` host no one can dial); a REGISTER over a
// WebSocket and a request from the app back to the registered client (and, with no client
// connected, a request that fails at once); 200 WebSocket clients calling at once;
// keep-alives; a 10 KB header line; requests over the 64 KiB message limit; bad input on each
// new transport, each time with a good client on the same port that must not notice; and TLS
// out of one engine into another, verified with `tls.ca` (and refused without it). The
// certificates come from openssl (helpers/pki.mjs): without it the tests skip with the reason,
// except on CI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import { Srf, SDP, waitFor } from './helpers/embedded.mjs';
import { failOnError } from './helpers/serve.mjs';
import { freePort } from './helpers/sipp.mjs';
import { pkiFor } from './helpers/pki.mjs';
import { SipPeer } from './helpers/sip-peer.mjs';

const ALL = ['udp', 'tcp', 'tls', 'ws', 'wss'];
const SCHEME = { udp: 'sip', tcp: 'sip', tls: 'sips', ws: 'sip', wss: 'sips' };
const CALLS = 20;
const MESSAGE_LIMIT = 64 * 1024;

/** `promise`, or a rejection naming `what` once `ms` have passed. */
function within(promise, ms, what) {
  let timer;
  const late = new Promise((resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms); });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * The app each engine here runs: INVITEs answered with createUAS (each call kept by Call-ID
 * with what the app saw of its transport), OPTIONS answered 200, REGISTER answered 200 with
 * the registered Contact. Requests are kept for the tests to inspect.
 */
function installApp(srf) {
  const app = { calls: new Map(), options: [], registers: [] };
  srf.invite(async (req, res) => {
    const call = { protocol: req.protocol, source: `${req.source_address}:${req.source_port}` };
    app.calls.set(req.get('Call-ID'), call);
    try {
      call.dialog = await srf.createUAS(req, res, { localSdp: SDP(4000) });
      call.dialog.on('destroy', () => { call.destroyed = true; });
    } catch (err) {
      call.error = err;
    }
  });
  srf.options((req, res) => { app.options.push(req); res.send(200); });
  srf.register((req, res) => { app.registers.push(req); res.send(200, { headers: { Contact: req.get('Contact') } }); });
  return app;
}

/**
 * Routes registered before connect() may not be in force when 'connect' fires (a request at
 * once would get 503): the app sends an OPTIONS to a UDP probe and waits for its answer;
 * commands reach the engine in order, so the routes were in place before it.
 */
async function routesInForce(srf, udpPort) {
  const probe = await SipPeer.udp(`127.0.0.1:${udpPort}`);
  try {
    const req = await srf.request(`sip:probe@${probe.hostport}`, { method: 'OPTIONS' });
    const answered = once(req, 'response');
    const options = await probe.expect((m) => m.method === 'OPTIONS', { what: 'the settling OPTIONS' });
    probe.send(probe.response(options, 200, { toTag: 'probe' }));
    await within(answered, 5000, 'the settling OPTIONS answer');
  } finally {
    probe.close();
  }
}

/**
 * An Srf running installApp on its own engine, listening on `transports` (and UDP, for the
 * settling probe) at free loopback ports, with TLS from `tls` (default: the test certificate
 * from files); other options go to `embedded` as they are. Everything it opened is closed
 * after test `t`. Resolves with { srf, app, hostport (as 'connect' gave it), ports, addr(x),
 * peer(x) }: peer(x) opens a SipPeer over transport x that trusts the test CA.
 */
async function startEngine(t, pki, { transports = ALL, tls: tlsOptions = { keyFile: pki.keyFile, certFile: pki.certFile }, ...options } = {}) {
  const ports = {};
  for (const x of new Set(['udp', ...transports])) {
    let port;
    do port = await freePort(); while (Object.values(ports).includes(port));
    ports[x] = port;
  }
  const srf = new Srf();
  failOnError(t, srf, 'app');
  const app = installApp(srf);
  const peers = [];
  t.after(() => {
    for (const p of peers) p.close();
    srf.disconnect();
  });
  const contacts = Object.entries(ports).map(([x, port]) => `${SCHEME[x]}:127.0.0.1:${port};transport=${x}`);
  srf.connect({ embedded: { contacts, tls: tlsOptions, ...options } });
  const [err, hostport] = await once(srf, 'connect'); // rejects on an 'error' instead
  if (err) throw err;
  await routesInForce(srf, ports.udp);
  const addr = (x) => `127.0.0.1:${ports[x]}`;
  const open = {
    udp: () => SipPeer.udp(addr('udp')),
    tcp: () => SipPeer.tcp(addr('tcp')),
    tls: () => SipPeer.tls(addr('tls'), { ca: pki.ca }),
    ws: () => SipPeer.ws(`ws://${addr('ws')}`),
    wss: () => SipPeer.wss(`wss://${addr('wss')}`, { ca: pki.ca }),
  };
  return {
    srf, app, hostport, ports, addr,
    async peer(x) {
      const p = await open[x]();
      peers.push(p);
      return p;
    },
  };
}

/**
 * One call from `peer` (over transport `x`) to the app on `eng`, hung up by the peer or, with
 * appHangsUp, by the app (dialog.destroy()). Checks what each side saw of the transport: the
 * app's req.protocol and source address, our Contact (the engine's listening point for x,
 * with ;transport=x), and for the app's BYE its Request-URI (the peer's Contact) and our Via.
 */
async function callOver(eng, peer, x, { appHangsUp = false, timeout = 5000 } = {}) {
  let entry;
  const { ok, bye } = await peer.fullCall({
    sdp: SDP(5000),
    timeout,
    ready: async (call) => {
      const entryOf = () => eng.app.calls.get(call.callId);
      await waitFor(() => entryOf()?.dialog || entryOf()?.error, timeout);
      entry = entryOf();
      assert.ifError(entry.error);
    },
    hangUp: appHangsUp ? () => entry.dialog.destroy() : undefined,
  });
  assert.equal(ok.body, SDP(4000));
  assert.match(ok.contactUri, new RegExp(`^sips?:(?:[^@]*@)?127\\.0\\.0\\.1:${eng.ports[x]};(?:.*;)?transport=${x}(?:;|$)`, 'i'),
    `our Contact is the ${x} listening point`);
  assert.equal(entry.protocol, x, 'req.protocol');
  assert.equal(entry.source, `127.0.0.1:${peer.port}`, 'req.source_address:source_port is the peer\'s end of its connection');
  if (appHangsUp) {
    assert.equal(bye.uri, peer.contact, 'the BYE goes to the peer\'s Contact');
    assert.match(bye.get('via'), new RegExp(`^SIP/2\\.0/${x.toUpperCase()} `), 'our Via names the transport');
  } else {
    await waitFor(() => entry.destroyed, timeout);
  }
}

/**
 * How the engine refused a request over the message limit: its answer must be 513 Message Too
 * Large, or, unanswered, its connection closed, within `ms`. Resolves with what happened.
 */
async function refusal(peer, callId, ms = 5000) {
  const answers = () => peer.all((m) => m.callId === callId);
  await waitFor(() => peer.isClosed || answers().length > 0, ms).catch(() => {
    throw new Error(`a request over the limit was neither answered nor its connection closed within ${ms} ms`);
  });
  const [answer] = answers();
  if (answer) assert.equal(answer.status, 513, `answered ${answer.start}`);
  return answer ? answer.start : closedHow(peer);
}

/** How a closed peer's connection ended, for the test's diagnostics. */
async function closedHow(peer) {
  const { code } = await peer.closed;
  return `connection closed${code ? ` (WebSocket close code ${code})` : ''}`;
}

/** A plain (or, for wss, TLS) connection to the engine's `x` port, collecting what comes back. */
async function rawConnection(eng, pki, x) {
  const sock = x === 'wss' ? tls.connect({ host: '127.0.0.1', port: eng.ports[x], ca: pki.ca }) : net.connect(eng.ports[x], '127.0.0.1');
  await once(sock, x === 'wss' ? 'secureConnect' : 'connect');
  const conn = { sock, text: '', closed: false };
  sock.on('data', (d) => { conn.text += d.toString('latin1'); });
  sock.on('error', () => {});
  sock.once('close', () => { conn.closed = true; });
  return conn;
}

/** An HTTP request asking for a WebSocket, with `protocol` as its Sec-WebSocket-Protocol. */
function upgradeRequest(port, protocol) {
  return ['GET / HTTP/1.1', `Host: 127.0.0.1:${port}`, 'Upgrade: websocket', 'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`, 'Sec-WebSocket-Version: 13', `Sec-WebSocket-Protocol: ${protocol}`, '', ''].join('\r\n');
}

/** Waits until `conn` has a whole HTTP response head or was closed; resolves with the status (or null). */
async function httpAnswer(conn, ms = 5000) {
  await waitFor(() => conn.closed || conn.text.includes('\r\n\r\n'), ms).catch(() => {
    throw new Error(`neither an HTTP answer nor a close within ${ms} ms; got ${JSON.stringify(conn.text.slice(0, 200))}`);
  });
  const m = /^HTTP\/1\.1 (\d{3})/.exec(conn.text);
  return m ? Number(m[1]) : null;
}

for (const x of ['tls', 'ws', 'wss']) {
  test(`${x}: ${CALLS} calls on one connection, hung up by the peer; the app sees req.protocol '${x}' and our Contact names the ${x} port`, { timeout: 30000 }, async (t) => {
    const pki = pkiFor(t);
    if (!pki) return;
    const eng = await startEngine(t, pki);
    const peer = await eng.peer(x);
    for (let i = 0; i < CALLS; i++) await callOver(eng, peer, x);
    assert.equal(eng.app.calls.size, CALLS);
  });

  test(`${x}: ${CALLS} calls, each on a new connection, hung up by the app: the BYE reaches the peer over the peer's connection`, { timeout: 30000 }, async (t) => {
    const pki = pkiFor(t);
    if (!pki) return;
    const eng = await startEngine(t, pki);
    for (let i = 0; i < CALLS; i++) {
      const peer = await eng.peer(x);
      await callOver(eng, peer, x, { appHangsUp: true });
      peer.close();
    }
  });
}

for (const x of ['ws', 'wss']) {
  test(`${x}: a client REGISTERs over a WebSocket; a MESSAGE from the app, sent by way of the address it registered from, reaches it over that connection`, { timeout: 20000 }, async (t) => {
    const pki = pkiFor(t);
    if (!pki) return;
    const eng = await startEngine(t, pki);
    const peer = await eng.peer(x);
    const reg = peer.call('peer');
    peer.send(reg.request('REGISTER', { uri: `sip:127.0.0.1:${eng.ports[x]};transport=${x}`, headers: { Contact: `<${peer.contact}>;expires=300`, Expires: '300' } }));
    const registered = await peer.expect((m) => m.callId === reg.callId && m.status >= 200, { what: 'the answer to REGISTER' });
    assert.equal(registered.status, 200);
    assert.equal(registered.contactUri, peer.contact);
    const [seen] = eng.app.registers;
    assert.deepEqual([seen.protocol, seen.source_address, seen.source_port], [x, '127.0.0.1', peer.port]);

    // What a registrar app does: the request goes to the registered Contact by way of the
    // connection the REGISTER came over (the `.invalid` host itself cannot be reached).
    const sent = await eng.srf.request(peer.contact, {
      method: 'MESSAGE',
      proxy: `sip:${seen.source_address}:${seen.source_port};transport=${seen.protocol}`,
      headers: { 'Content-Type': 'text/plain' },
      body: 'hello over a WebSocket',
    });
    const answered = once(sent, 'response');
    const msg = await peer.expect((m) => m.method === 'MESSAGE', { what: 'the app\'s MESSAGE' });
    assert.equal(msg.uri, peer.contact);
    assert.equal(msg.body, 'hello over a WebSocket');
    assert.match(msg.get('via'), new RegExp(`^SIP/2\\.0/${x.toUpperCase()} `));
    peer.send(peer.response(msg, 200));
    const [res] = await within(answered, 5000, 'the 200 to MESSAGE at the app');
    assert.equal(res.status, 200);
  });

  // The engine cannot dial a WebSocket peer (a browser listens on nothing), so a request for
  // one with no connection open is a transport error at once (RFC 3261 §8.1.3.1: 503), not a
  // 408 when Timer F fires 32 s later; a registrar meets it whenever a client has gone away.
  test(`${x}: a request to a WebSocket address no client is connected from fails at once`, { timeout: 20000 }, async (t) => {
    const pki = pkiFor(t);
    if (!pki) return;
    const eng = await startEngine(t, pki);
    const nowhere = `127.0.0.1:${await freePort()}`;
    for (const [what, uri, proxy] of [
      ['by way of that address', `sip:peer@gone.invalid;transport=${x}`, `sip:${nowhere};transport=${x}`],
      ['to that address', `sip:peer@${nowhere};transport=${x}`, undefined],
    ]) {
      const outcome = await within(
        eng.srf.request(uri, { method: 'MESSAGE', proxy, headers: { 'Content-Type': 'text/plain' }, body: 'anyone there?' })
          .then((req) => once(req, 'response'))
          .then(([res]) => `${res.status} ${res.reason}`, (err) => `error: ${err.message}`),
        5000, `a MESSAGE ${what}: its failure`);
      assert.match(outcome, /^(error: |503 )/, `a MESSAGE ${what}: ${outcome}`);
    }
  });
}

test('ws: 200 WebSocket clients connected at once each make a call at the same time; all complete and no dialog is left', { timeout: 90000 }, async (t) => {
  const pki = pkiFor(t);
  if (!pki) return;
  const eng = await startEngine(t, pki);
  const peers = await Promise.all(Array.from({ length: 200 }, () => eng.peer('ws')));
  await Promise.all(peers.map((p) => callOver(eng, p, 'ws', { timeout: 30000 })));
  assert.equal(eng.app.calls.size, 200);
  const end = Date.now() + 5000;
  let stats = await eng.srf.stats();
  while ((stats.dialogs || stats.engine.dialogs) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 20));
    stats = await eng.srf.stats();
  }
  assert.deepEqual([stats.dialogs, stats.engine.dialogs], [0, 0], 'dialogs left in the app and in the engine');
});

test('tls: a CRLFCRLF keep-alive gets a CRLF back (RFC 5626 §4.4.1) and SIP still flows', { timeout: 20000 }, async (t) => {
  const pki = pkiFor(t);
  if (!pki) return;
  const eng = await startEngine(t, pki);
  const peer = await eng.peer('tls');
  let raw = '';
  peer.sock.on('data', (d) => { raw += d.toString('latin1'); });
  peer.send('\r\n\r\n');
  await waitFor(() => raw === '\r\n', 3000);
  const call = peer.call();
  peer.send(call.request('OPTIONS'));
  const ok = await peer.expect((m) => m.callId === call.callId && m.status >= 200);
  assert.equal(ok.status, 200);
});

// RFC 7118 defines no CRLF keep-alive over WebSockets; a WebSocket's own is its ping (RFC 6455
// §5.5.2: answered with a pong carrying the same data).
for (const x of ['ws', 'wss']) {
  test(`${x}: a WebSocket ping gets its pong and SIP still flows`, { timeout: 20000 }, async (t) => {
    const pki = pkiFor(t);
    if (!pki) return;
    const eng = await startEngine(t, pki);
    const peer = await eng.peer(x);
    const pong = once(peer.ws, 'pong');
    peer.ws.ping('are you there');
    const [data] = await within(pong, 3000, `the pong on ${x}`);
    assert.equal(data.toString(), 'are you there');
    await callOver(eng, peer, x);
  });
}

test('a request with 10 KB header lines (Call-Info, Identity) is accepted and answered over udp, tcp, tls, ws and wss', { timeout: 20000 }, async (t) => {
  const pki = pkiFor(t);
  if (!pki) return;
  const eng = await startEngine(t, pki);
  const headers = {
    'Call-Info': `<https://example.invalid/${'a'.repeat(10 * 1024)}>;purpose=info`,
    Identity: `eyJhbGciOiJFUzI1NiJ9.${'b'.repeat(10 * 1024)}.c2ln;info=<https://cert.example.invalid/c.pem>;alg=ES256;ppt=shaken`,
  };
  for (const x of ALL) {
    const peer = await eng.peer(x);
    const call = peer.call();
    peer.send(call.request('OPTIONS', { headers }));
    const res = await peer.expect((m) => m.callId === call.callId && m.status >= 200, { what: `the answer over ${x}` });
    assert.equal(res.status, 200, `${x}: ${res.start}`);
    const req = eng.app.options.at(-1);
    assert.equal(req.get('Call-Id'), call.callId);
    assert.equal(req.get('Call-Info'), headers['Call-Info'], `${x}: Call-Info intact`);
    assert.equal(req.get('Identity'), headers.Identity, `${x}: Identity intact`);
  }
});

for (const x of ['tcp', 'tls', 'ws', 'wss']) {
  test(`${x}: a request over the 64 KiB message limit gets 513 or its connection closed; a client on the same port is undisturbed`, { timeout: 30000 }, async (t) => {
    const pki = pkiFor(t);
    if (!pki) return;
    const eng = await startEngine(t, pki);
    const good = await eng.peer(x);
    const bad = await eng.peer(x);
    const big = bad.call();
    // A MESSAGE no app routes: accepted, it would be answered (not 513).
    bad.send(big.request('MESSAGE', { body: 'x'.repeat(MESSAGE_LIMIT + 4096) }));
    const how = await refusal(bad, big.callId);
    t.diagnostic(`${x}, body over the limit: ${how}`);
    // RFC 6455 §7.4.1: a WebSocket peer is told why (1009, message too big).
    if (x === 'ws' || x === 'wss') assert.match(how, /close code 1009/);
    if (x === 'tcp' || x === 'tls') {
      // A head that never ends: the engine must give up at the limit, not wait for the
      // message timeout (32 s by default, far beyond this wait).
      const flood = await eng.peer(x);
      const endless = flood.call();
      flood.send(`OPTIONS sip:svc@${eng.addr(x)} SIP/2.0\r\nCall-ID: ${endless.callId}\r\nX-Flood: ${'f'.repeat(MESSAGE_LIMIT + 4096)}`);
      t.diagnostic(`${x}, head over the limit: ${await refusal(flood, endless.callId)}`);
    }
    await callOver(eng, good, x);
  });
}

test('tls: a connection that never starts its TLS handshake is closed at the message timeout; clients before and after it call undisturbed', { timeout: 20000 }, async (t) => {
  const pki = pkiFor(t);
  if (!pki) return;
  const eng = await startEngine(t, pki, { tcpMessageTimeout: 3000 });
  const before = await eng.peer('tls');
  await callOver(eng, before, 'tls');
  const idle = net.connect(eng.ports.tls, '127.0.0.1');
  idle.on('error', () => {});
  t.after(() => idle.destroy());
  await once(idle, 'connect');
  const idleClosed = once(idle, 'close');
  // A handshake awaited in the accept loop would hold this one up until the idle one timed out.
  const after = await within(eng.peer('tls'), 2000, 'a TLS connection opened behind the idle one');
  await callOver(eng, after, 'tls');
  await callOver(eng, before, 'tls');
  await within(idleClosed, 3000 + 3000, 'the close of the connection that never started its handshake');
});

test('tls: bytes that are not TLS (a cleartext SIP request, random bytes) on the TLS port: closed, no SIP answer; a TLS client is undisturbed', { timeout: 20000 }, async (t) => {
  const pki = pkiFor(t);
  if (!pki) return;
  const eng = await startEngine(t, pki);
  const good = await eng.peer('tls');
  const cleartext = await SipPeer.tcp(eng.addr('tls'));
  t.after(() => cleartext.close());
  cleartext.send(cleartext.call().request('OPTIONS'));
  await within(cleartext.closed, 5000, 'the close of a cleartext connection to the TLS port');
  assert.equal(cleartext.received.length, 0, 'no SIP answer in the clear');
  const junk = await rawConnection(eng, pki, 'tls');
  t.after(() => junk.sock.destroy());
  junk.sock.write(randomBytes(512));
  await waitFor(() => junk.closed, 5000);
  await callOver(eng, good, 'tls');
});

for (const x of ['ws', 'wss']) {
  test(`${x}: an upgrade offering another subprotocol, and a GET that is no upgrade, get an HTTP 4xx or a close, never 101; a SIP client is undisturbed`, { timeout: 20000 }, async (t) => {
    const pki = pkiFor(t);
    if (!pki) return;
    const eng = await startEngine(t, pki);
    const good = await eng.peer(x);
    for (const [what, request] of [
      ['Sec-WebSocket-Protocol: xmpp', upgradeRequest(eng.ports[x], 'xmpp')],
      ['a GET without Upgrade', `GET / HTTP/1.1\r\nHost: 127.0.0.1:${eng.ports[x]}\r\n\r\n`],
    ]) {
      const conn = await rawConnection(eng, pki, x);
      t.after(() => conn.sock.destroy());
      conn.sock.write(request);
      const status = await httpAnswer(conn);
      assert.ok(status === null || (status >= 400 && status < 500), `${what}: answered ${conn.text.split('\r\n')[0]}`);
      t.diagnostic(`${x}, ${what}: ${status === null ? 'closed' : conn.text.split('\r\n')[0]}`);
    }
    await callOver(eng, good, x);
  });

  test(`${x}: a frame whose header claims 4 GiB is refused at once (close, not a wait for the data); a SIP client is undisturbed`, { timeout: 20000 }, async (t) => {
    const pki = pkiFor(t);
    if (!pki) return;
    const eng = await startEngine(t, pki);
    const good = await eng.peer(x);
    const conn = await rawConnection(eng, pki, x);
    t.after(() => conn.sock.destroy());
    conn.sock.write(upgradeRequest(eng.ports[x], 'sip'));
    assert.equal(await httpAnswer(conn), 101, conn.text);
    assert.match(conn.text, /\r\nSec-WebSocket-Protocol: *sip\r\n/i, 'the server accepts the subprotocol sip');
    // FIN + text, masked, 64-bit length 2^32, the mask, then a little of the "payload".
    const head = Buffer.from([0x81, 0x80 | 127, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4]);
    conn.sock.write(Buffer.concat([head, Buffer.alloc(1024, 0x41)]));
    await waitFor(() => conn.closed, 5000).catch(() => { throw new Error('the connection is still open 5 s after a frame header claiming 4 GiB'); });
    await callOver(eng, good, x);
  });

  test(`${x}: frames that are not SIP (text and binary) get no answer; the connection is closed or stays usable; a SIP client is undisturbed`, { timeout: 20000 }, async (t) => {
    const pki = pkiFor(t);
    if (!pki) return;
    const eng = await startEngine(t, pki);
    const good = await eng.peer(x);
    const bad = await eng.peer(x);
    bad.send('hello, this is not SIP\r\n\r\n');
    bad.ws.send(randomBytes(300), { binary: true });
    // Whichever the engine does with junk (ignore it, as for a bad datagram, or close), an
    // OPTIONS behind it shows that it has been handled.
    const probe = bad.call();
    bad.send(probe.request('OPTIONS'));
    await waitFor(() => bad.isClosed || bad.received.length > 0, 5000);
    assert.deepEqual(bad.received.map((m) => `${m.start} (${m.callId})`).filter((s) => !s.includes(probe.callId)), [], 'nothing answered the junk');
    assert.ok(bad.isClosed || bad.received.some((m) => m.callId === probe.callId && m.status === 200), 'kept open, the connection still works');
    t.diagnostic(`${x}, junk frames: ${bad.isClosed ? await closedHow(bad) : `connection kept, the OPTIONS behind them answered ${bad.received[0].start}`}`);
    await callOver(eng, good, x);
  });
}

test('connect reports each listening point as transport/address:port; a certificate chain alone (chainFile) serves TLS', { timeout: 20000 }, async (t) => {
  const pki = pkiFor(t);
  if (!pki) return;
  const eng = await startEngine(t, pki, { tls: { keyFile: pki.keyFile, chainFile: pki.chainFile } });
  for (const x of ALL) assert.ok(eng.hostport.split(',').includes(`${x}/${eng.addr(x)}`), `${x}/${eng.addr(x)} in ${eng.hostport}`);
  await callOver(eng, await eng.peer('tls'), 'tls');
});

test('outgoing TLS: an app on engine A calls engine B over TLS, verifying B with tls.ca (PEM strings on B)', { timeout: 20000 }, async (t) => {
  const pki = pkiFor(t);
  if (!pki) return;
  const b = await startEngine(t, pki, { transports: ['tls'], tls: { key: pki.key, cert: pki.cert } });
  const a = await startEngine(t, pki, { transports: ['tls'], tls: { keyFile: pki.keyFile, certFile: pki.certFile, ca: pki.ca } });
  const sent = await a.srf.request(`sip:svc@${b.addr('tls')};transport=tls`, { method: 'OPTIONS' });
  const [res] = await within(once(sent, 'response'), 5000, 'the answer to OPTIONS over TLS');
  assert.equal(res.status, 200);
  assert.equal(b.app.options.at(-1).protocol, 'tls');

  const dialog = await a.srf.createUAC(`sips:svc@${b.addr('tls')};transport=tls`, { localSdp: SDP(5000) });
  assert.equal(dialog.remote.sdp, SDP(4000));
  const call = b.app.calls.get(dialog.sip.callId);
  assert.equal(call.protocol, 'tls');
  await waitFor(() => call.dialog, 5000);
  await dialog.destroy();
  await waitFor(() => call.destroyed, 5000);
});

test('outgoing TLS without the CA that signed the far end (none, or another): 503 at once, and the request never reaches it', { timeout: 20000 }, async (t) => {
  const pki = pkiFor(t);
  if (!pki) return;
  const other = pkiFor(t);
  const b = await startEngine(t, pki, { transports: ['tls'] });
  for (const [label, ca] of [['no ca', undefined], ['another CA', other.ca]]) {
    const a = await startEngine(t, pki, { transports: ['tls'], tls: { keyFile: pki.keyFile, certFile: pki.certFile, ca } });
    // A failed handshake is a transport error, which RFC 3261 §8.1.3.1 answers with a 503 at
    // once (not a 408 at Timer F, 32 s on).
    const sent = await a.srf.request(`sip:svc@${b.addr('tls')};transport=tls`, { method: 'OPTIONS' });
    const [res] = await within(once(sent, 'response'), 5000, `${label}: the answer to OPTIONS over unverified TLS`);
    assert.equal(res.status, 503, `${label}: ${res.status} ${res.reason}`);
    assert.equal(b.app.options.length, 0, `${label}: the request never reached B`);
  }
});
