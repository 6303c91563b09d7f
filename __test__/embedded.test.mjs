// The embedded engine end to end: two Srf instances, each on its own in-process engine,
// calling each other over real UDP and TCP sockets on loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { once } from 'node:events';
import { embeddedSrf, Srf, SDP, waitFor } from './helpers/embedded.mjs';

for (const transport of ['udp', 'tcp']) {
  test(`a call over ${transport}: INVITE, 180, 200 with SDP, ACK, BYE both ways`, async () => {
    const seen = [];
    const uas = await embeddedSrf({
      transport,
      setup: (s) => {
        s.invite((req, res) => {
          seen.push(`uas:${req.method} ${req.protocol}`);
          assert.equal(req.isNewInvite, true);
          assert.match(req.receivedOn, /^127\.0\.0\.1:\d+$/);
          res.send(180);
          res.send(200, { body: SDP(4000) }, (err, msg) => {
            assert.ifError(err);
            seen.push(`uas:sent ${msg.status}`);
            assert.match(msg.get('contact'), /^<sip:127\.0\.0\.1:\d+/);
            assert.equal(msg.get('content-type'), 'application/sdp');
            assert.match(msg.get('to'), /;tag=/);
          });
        });
        s.ack((req) => seen.push(`uas:ACK ${req.stackDialogId ? 'in dialog' : 'stray'}`));
        s.bye((req, res) => { seen.push('uas:BYE'); res.send(200); });
      },
    });
    const uac = await embeddedSrf({ transport });
    try {
      const req = await uac.srf.request(uas.uri('bob'), { method: 'INVITE', body: SDP(5000), headers: { 'X-Call': '1' } });
      assert.match(req.get('via'), new RegExp(`SIP/2.0/${transport.toUpperCase()} 127\\.0\\.0\\.1:\\d+;branch=z9hG4bK`));
      assert.match(req.get('from'), /;tag=/);
      let dialogId;
      await new Promise((resolve) => {
        req.on('response', (res, ack) => {
          seen.push(`uac:${res.status}`);
          if (res.status === 200) {
            dialogId = res.stackDialogId;
            assert.equal(res.body, SDP(4000));
            ack();
            resolve();
          }
        });
      });
      await waitFor(() => seen.includes('uas:ACK in dialog'));
      const bye = await uac.srf._uac.inDialog(dialogId, 'BYE', 'sip:placeholder');
      assert.match(bye.uri, /^sip:127\.0\.0\.1:\d+/, 'BYE goes to the remote target');
      await waitFor(() => seen.includes('uas:BYE'));
      // Each side's order is fixed; how the two interleave is not.
      assert.deepEqual(seen.filter((e) => e.startsWith('uas:')), [`uas:INVITE ${transport}`, 'uas:sent 200', 'uas:ACK in dialog', 'uas:BYE']);
      assert.deepEqual(seen.filter((e) => e.startsWith('uac:')), ['uac:100', 'uac:180', 'uac:200']);
    } finally {
      uac.srf.disconnect();
      uas.srf.disconnect();
    }
  });
}

test('OPTIONS and MESSAGE round trips, callback and Promise forms', async () => {
  const uas = await embeddedSrf({
    setup: (s) => {
      s.options((req, res) => res.send(200, { headers: { Allow: 'INVITE, OPTIONS' } }));
      s.message((req, res) => res.send(202, 'Got it', { headers: { 'X-Echo': req.body } }));
    },
  });
  const uac = await embeddedSrf();
  try {
    const options = await uac.srf.request(uas.uri(), { method: 'OPTIONS' });
    const [res] = await once(options, 'response');
    assert.equal(res.status, 200);
    assert.equal(res.get('allow'), 'INVITE, OPTIONS');
    const message = await new Promise((resolve, reject) => uac.srf.request({ uri: uas.uri(), method: 'MESSAGE', body: 'hello', headers: { 'Content-Type': 'text/plain' } },
      (err, r) => (err ? reject(err) : resolve(r))));
    const [m] = await once(message, 'response');
    assert.equal(m.status, 202);
    assert.equal(m.reason, 'Got it');
    assert.equal(m.get('x-echo'), 'hello');
  } finally {
    uac.srf.disconnect();
    uas.srf.disconnect();
  }
});

test('CANCEL: the UAS sees a cancel event, the UAC gets 487', async () => {
  let cancelled = false;
  const uas = await embeddedSrf({ setup: (s) => s.invite((req, res) => { req.on('cancel', () => { cancelled = true; }); res.send(180); }) });
  const uac = await embeddedSrf();
  try {
    const req = await uac.srf.request(uas.uri(), { method: 'INVITE', body: SDP(5000) });
    const statuses = [];
    req.on('response', (res) => {
      statuses.push(res.status);
      if (res.status === 180) req.cancel();
    });
    await waitFor(() => statuses.includes(487));
    await waitFor(() => cancelled);
  } finally {
    uac.srf.disconnect();
    uas.srf.disconnect();
  }
});

test('the engine answers what no app handles: 503 with no route, 481 outside a dialog, 404 at the end of middleware', async () => {
  const uas = await embeddedSrf({ setup: (s) => s.use('info', (req, res, next) => next()) });
  const uac = await embeddedSrf();
  try {
    const statusOf = async (method, extra = {}) => {
      const r = await uac.srf.request(uas.uri(), { method, ...extra });
      const [res] = await once(r, 'response');
      return res.status;
    };
    assert.equal(await statusOf('SUBSCRIBE', { headers: { Event: 'presence' } }), 503);
    assert.equal(await statusOf('BYE'), 481);
    assert.equal(await statusOf('INFO'), 404);
    await assert.rejects(uac.srf.request(`sip:x@${uac.addr}`, { method: 'OPTIONS' }), /can not send request to myself/);
    await assert.rejects(uac.srf.request('sip:x@127.0.0.1:1;transport=sctp', { method: 'OPTIONS' }), /transport not available/);
  } finally {
    uac.srf.disconnect();
    uas.srf.disconnect();
  }
});

test('timers on a short clock: Timer E retransmits, Timer F ends with 408', { timeout: 15000 }, async () => {
  const sink = dgram.createSocket('udp4');
  await new Promise((r) => sink.bind(0, '127.0.0.1', r));
  let copies = 0;
  sink.on('message', () => { copies++; });
  const uac = await embeddedSrf({ timers: { t1: 20, t2: 160 } });
  try {
    const req = await uac.srf.request(`sip:nobody@127.0.0.1:${sink.address().port}`, { method: 'OPTIONS' });
    const started = Date.now();
    const [res] = await once(req, 'response');
    assert.equal(res.status, 408);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 64 * 20 - 50 && elapsed < 64 * 20 + 1500, `Timer F fired after ${elapsed} ms`);
    // 20, 40, 80, 160, then every 160 ms until 1280 ms: about 11 copies in all.
    assert.ok(copies >= 8 && copies <= 14, `${copies} copies sent`);
  } finally {
    uac.srf.disconnect();
    sink.close();
  }
});

test('raw datagrams: retransmitted INVITEs are absorbed, malformed requests get 400, garbage is dropped', async () => {
  let invites = 0;
  const uas = await embeddedSrf({ setup: (s) => { s.invite(() => { invites++; }); s.options((req, res) => res.send(200)); } });
  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  const replies = [];
  sock.on('message', (m) => replies.push(m.toString()));
  const [host, port] = uas.addr.split(':');
  const send = (text) => sock.send(Buffer.from(text), Number(port), host);
  const request = (method, branch, extra = '') => [`${method} sip:svc@${uas.addr} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${sock.address().port};branch=${branch};rport`, 'Max-Forwards: 70',
    'From: <sip:a@127.0.0.1>;tag=1', `To: <sip:svc@${uas.addr}>`, 'Call-ID: raw-1@test', `CSeq: 1 ${method}`, extra, 'Content-Length: 0', '', ''].filter((l, i, a) => l !== '' || i >= a.length - 2).join('\r\n');
  try {
    send(request('INVITE', 'z9hG4bK-raw-1'));
    await waitFor(() => invites === 1 && replies.some((r) => r.startsWith('SIP/2.0 100')));
    send(request('INVITE', 'z9hG4bK-raw-1'));
    await waitFor(() => replies.filter((r) => r.startsWith('SIP/2.0 100')).length === 2);
    assert.equal(invites, 1, 'the retransmission reached no app');
    send(request('OPTIONS', 'z9hG4bK-raw-2').replace('CSeq: 1 OPTIONS', 'CSeq: 1 INVITE'));
    await waitFor(() => replies.some((r) => r.startsWith('SIP/2.0 400')));
    assert.match(replies.find((r) => r.startsWith('SIP/2.0 400')), /^SIP\/2\.0 400 Bad CSeq header/);
    send('\x00\x01garbage that is not SIP\r\n\r\n');
    send('OPTIONS sip:x SIP/2.0\r\nVia: broken\r\n');
    send(request('OPTIONS', 'z9hG4bK-raw-3'));
    await waitFor(() => replies.some((r) => r.startsWith('SIP/2.0 200')), 2000);
  } finally {
    sock.close();
    uas.srf.disconnect();
  }
});

test('no ACK for a 200: the engine ends the call and tells the app with an unsolicited BYE', { timeout: 10000 }, async () => {
  const byes = [];
  const uas = await embeddedSrf({ timers: { t1: 20, t2: 160 }, setup: (s) => {
    s.invite((req, res) => res.send(200, { body: SDP(4000) }));
    s.bye((req, res) => { byes.push(req.get('reason')); res.send(200); });
  } });
  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  const got = [];
  sock.on('message', (m) => got.push(m.toString()));
  const [host, port] = uas.addr.split(':');
  const invite = [`INVITE sip:svc@${uas.addr} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${sock.address().port};branch=z9hG4bK-noack;rport`,
    'Max-Forwards: 70', 'From: <sip:a@127.0.0.1>;tag=1', `To: <sip:svc@${uas.addr}>`, 'Call-ID: noack@test', 'CSeq: 1 INVITE',
    `Contact: <sip:a@127.0.0.1:${sock.address().port}>`, 'Content-Length: 0', '', ''].join('\r\n');
  try {
    sock.send(Buffer.from(invite), Number(port), host);
    await waitFor(() => byes.length === 1, 10000);
    assert.match(byes[0], /ACK timeout/);
    assert.ok(got.filter((m) => m.startsWith('SIP/2.0 200')).length >= 3, 'the 200 was retransmitted');
    await waitFor(() => got.some((m) => m.startsWith('BYE ')), 10000);
  } finally {
    sock.close();
    uas.srf.disconnect();
  }
});

test('bad embedded options throw at the call; a busy port is an error event', async () => {
  const srf = new Srf();
  assert.throws(() => srf.connect({ embedded: {} }), /contacts/);
  assert.throws(() => srf.connect({ embedded: { contacts: ['sip:127.0.0.1'], t1: -1 } }), /t1/);
  assert.throws(() => srf.connect({ embedded: { contacts: ['sip:127.0.0.1'], tcpMessageTimeout: 0 } }), /tcpMessageTimeout/);
  const first = await embeddedSrf();
  const second = new Srf();
  const errors = [];
  second.on('error', (e) => errors.push(e.message));
  second.connect({ embedded: { contacts: [`sip:${first.addr};transport=udp`] } });
  await waitFor(() => errors.length > 0);
  assert.match(errors[0], /cannot bind/);
  assert.throws(() => new Srf().connect({ embedded: { contacts: ['sip:example.com:5060'] } }), /must be an IP address/);
  first.srf.disconnect();
});

test('CDRs: attempt, start and stop for an answered call, stop call-rejected for a refused one', async () => {
  const cdrs = [];
  const uas = await embeddedSrf({ setup: (s) => {
    s.on('cdr:attempt', (source, time, msg) => cdrs.push(`attempt ${source} ${msg.method}`));
    s.on('cdr:start', (source, time, role, msg) => cdrs.push(`start ${source} ${role} ${msg.status}`));
    s.on('cdr:stop', (source, time, reason) => cdrs.push(`stop ${source} ${reason}`));
    s.invite(async (req, res) => {
      if (req.calledNumber === 'busy') return res.send(486);
      await s.createUAS(req, res, { localSdp: SDP(4000) });
    });
  } });
  const uac = await embeddedSrf();
  try {
    const dialog = await uac.srf.createUAC(uas.uri('ok'), { localSdp: SDP(5000) });
    await dialog.destroy();
    await assert.rejects(uac.srf.createUAC(uas.uri('busy'), { localSdp: SDP(5000) }), (e) => e.status === 486);
    await waitFor(() => cdrs.length === 5);
    assert.deepEqual(cdrs, ['attempt network INVITE', 'start application uas 200', 'stop network normal-release',
      'attempt network INVITE', 'stop application call-rejected']);
  } finally {
    uac.srf.disconnect();
    uas.srf.disconnect();
  }
});

test('digest on the engine: a REGISTER challenged by digestAuth is answered by srf.request', async () => {
  const registered = [];
  const uas = await embeddedSrf({ setup: (s) => {
    s.use('register', Srf.digestAuth({ realm: 'example.com', algorithms: ['SHA-256', 'MD5'], passwordLookup: (u, r, cb) => cb(null, u === 'alice' ? 'pw' : null) }));
    s.register((req, res) => { registered.push(req.authorization.username); res.send(200); });
  } });
  const uac = await embeddedSrf();
  try {
    for (const [password, status] of [['pw', 200], ['wrong', 403]]) {
      const req = await uac.srf.request(uas.uri('alice'), { method: 'REGISTER', headers: { Contact: '<sip:alice@127.0.0.1>', Expires: '60' },
        auth: { username: 'alice', password } });
      const [res] = await once(req, 'response');
      assert.equal(res.status, status, password);
    }
    assert.deepEqual(registered, ['alice']);
  } finally {
    uac.srf.disconnect();
    uas.srf.disconnect();
  }
});

test('overload: past maxPendingRequests unanswered requests, new ones get 503 with Retry-After', async () => {
  let held = 0;
  const uas = await embeddedSrf({ timers: { maxPendingRequests: 5 }, setup: (s) => s.invite(() => { held++; }) });
  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  const replies = [];
  sock.on('message', (m) => replies.push(m.toString()));
  const [host, port] = uas.addr.split(':');
  try {
    for (let i = 0; i < 10; i++) {
      const invite = [`INVITE sip:svc@${uas.addr} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${sock.address().port};branch=z9hG4bK-ov${i};rport`,
        'Max-Forwards: 70', 'From: <sip:a@127.0.0.1>;tag=1', `To: <sip:svc@${uas.addr}>`, `Call-ID: overload-${i}@test`, 'CSeq: 1 INVITE',
        `Contact: <sip:a@127.0.0.1:${sock.address().port}>`, 'Content-Length: 0', '', ''].join('\r\n');
      sock.send(Buffer.from(invite), Number(port), host);
    }
    // Per call, not per datagram: an unACKed 503 is retransmitted after T1.
    const callsAnswered = (status) => new Set(replies.filter((r) => status.test(r)).map((r) => /Call-ID: (\S+)/i.exec(r)[1]));
    await waitFor(() => callsAnswered(/^SIP\/2\.0 (100|503)/).size === 10, 10000);
    assert.equal(callsAnswered(/^SIP\/2\.0 503/).size, 5);
    const shed = replies.filter((r) => r.startsWith('SIP/2.0 503'));
    assert.match(shed[0], /\r\nRetry-After: 5\r\n/);
    await waitFor(() => held === 5, 10000);
  } finally {
    sock.close();
    uas.srf.disconnect();
  }
});

test('tcpMessageTimeout: a TCP peer that sends nothing, or trickles a message, is disconnected; one that completes its message is not', async () => {
  const uas = await embeddedSrf({ transport: 'tcp', timers: { tcpMessageTimeout: 300 }, setup: (s) => s.options((req, res) => res.send(200)) });
  const [host, port] = uas.addr.split(':');
  const open = () => new Promise((resolve) => {
    const s = net.connect({ host, port: Number(port) }, () => resolve(s));
    s.on('error', () => {});
  });
  const closedAfter = (s) => { const t0 = Date.now(); return new Promise((r) => s.once('close', () => r(Date.now() - t0))); };
  try {
    const idle = await open();
    const slow = await open();
    const good = await open();
    const idleClosed = closedAfter(idle);
    const slowClosed = closedAfter(slow);
    let goodClosed = false;
    good.once('close', () => { goodClosed = true; });
    const slowTimer = setInterval(() => slow.write('O'), 50);
    good.write([`OPTIONS sip:svc@${uas.addr};transport=tcp SIP/2.0`, 'Via: SIP/2.0/TCP 127.0.0.1:5999;rport;branch=z9hG4bK-tmo1',
      'Max-Forwards: 70', 'From: <sip:a@127.0.0.1>;tag=1', `To: <sip:svc@${uas.addr}>`, 'Call-ID: tmo-1@test', 'CSeq: 1 OPTIONS',
      'Content-Length: 0', '', ''].join('\r\n'));
    const [reply] = await once(good, 'data');
    assert.match(reply.toString(), /^SIP\/2\.0 200 /);
    assert.ok((await idleClosed) < 1500, 'idle connection closed');
    assert.ok((await slowClosed) < 1500, 'trickling connection closed');
    clearInterval(slowTimer);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(goodClosed, false, 'a peer that completed its message stays connected while idle');
    good.destroy();
  } finally {
    uas.srf.disconnect();
  }
});
