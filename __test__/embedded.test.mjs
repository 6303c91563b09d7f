// The embedded engine end to end: two Srf instances, each on its own in-process engine,
// calling each other over real UDP and TCP sockets on loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { once } from 'node:events';
import { embeddedSrf, Srf, SDP, waitFor } from './helpers/embedded.mjs';

for (const transport of ['udp', 'tcp']) {
  test(`a call over ${transport}: INVITE, 180, 200 with SDP, ACK, BYE both ways`, { timeout: 20000 }, async () => {
    // What the UAS handler saw is recorded and asserted here, not in the handler: an assertion
    // failing there would only turn into a 500 that nothing awaits.
    const invites = [];
    const handlerErrors = [];
    const uasDialogs = [];
    const uas = await embeddedSrf({
      transport,
      setup: (s) => {
        s.invite(async (req, res) => {
          invites.push({ protocol: req.protocol, isNewInvite: req.isNewInvite, receivedOn: req.receivedOn, xCall: req.get('x-call') });
          try {
            res.send(180);
            const dialog = await s.createUAS(req, res, { localSdp: SDP(4000) });
            dialog.acked = new Promise((r) => dialog.once('ack', r));
            dialog.destroyed = new Promise((r) => dialog.once('destroy', r));
            uasDialogs.push(dialog);
          } catch (err) {
            handlerErrors.push(err);
          }
        });
      },
    });
    const uac = await embeddedSrf({ transport });
    try {
      const call = async (n) => {
        let sent;
        const statuses = [];
        let final;
        const dialog = await uac.srf.createUAC(uas.uri('bob'), { localSdp: SDP(5000), headers: { 'X-Call': String(n) } }, {
          cbRequest: (err, req) => {
            sent = req;
            req.on('response', (res) => { statuses.push(res.status); if (res.status >= 200) final = res; });
          },
        });
        assert.match(sent.get('via'), new RegExp(`^SIP/2.0/${transport.toUpperCase()} 127\\.0\\.0\\.1:\\d+;branch=z9hG4bK`));
        assert.match(sent.get('from'), /;tag=/);
        assert.deepEqual(statuses.filter((st) => st > 100), [180, 200]);
        assert.match(final.get('contact'), /^<sip:127\.0\.0\.1:\d+/);
        assert.equal(final.get('content-type'), 'application/sdp');
        assert.match(final.get('to'), /;tag=/);
        assert.equal(dialog.remote.sdp, SDP(4000));
        await waitFor(() => uasDialogs.length === n, 5000);
        await uasDialogs[n - 1].acked;
        return dialog;
      };
      // call 1: the caller hangs up
      const first = await call(1);
      const byeFromUac = await first.request({ method: 'BYE' });
      assert.equal(byeFromUac.status, 200, 'the callee answers the BYE with 200');
      await uasDialogs[0].destroyed;
      assert.equal(uasDialogs[0].connected, false);
      // call 2: the callee hangs up
      const second = await call(2);
      const uacDestroyed = new Promise((r) => second.once('destroy', r));
      const byeFromUas = await uasDialogs[1].request({ method: 'BYE' });
      assert.equal(byeFromUas.status, 200, 'the caller answers the BYE with 200');
      await uacDestroyed;
      assert.equal(second.connected, false);
      assert.deepEqual(handlerErrors, []);
      assert.equal(invites.length, 2);
      invites.forEach((inv, i) => {
        assert.equal(inv.protocol, transport);
        assert.equal(inv.isNewInvite, true);
        assert.match(inv.receivedOn, /^127\.0\.0\.1:\d+$/);
        assert.equal(inv.xCall, String(i + 1));
      });
    } finally {
      uac.srf.disconnect();
      uas.srf.disconnect();
    }
  });
}

/** Every SIP message `srf` hands its engine from now on, as text (filled in as they go). */
function sentByApp(srf) {
  const sent = [];
  const link = srf._link;
  const sendSip = link.sendSip.bind(link);
  link.sendSip = (opts) => {
    sent.push(opts.raw);
    return sendSip(opts);
  };
  return sent;
}

test("the caller's BYE: answered by the engine for a createUAS Dialog, by the app for a call answered with res.send", { timeout: 10000 }, async () => {
  const uasDialogs = [];
  const appByes = [];
  const uas = await embeddedSrf({
    setup: (s) => {
      s.invite(async (req, res) => {
        if (req.get('x-answer') === 'res.send') return res.send(200, { body: SDP(4002) });
        const dialog = await s.createUAS(req, res, { localSdp: SDP(4000) });
        dialog.destroyed = new Promise((r) => dialog.once('destroy', r));
        uasDialogs.push(dialog);
        return undefined;
      });
      // In-dialog requests of calls without a Dialog come to the middleware.
      s.bye((req, res) => {
        appByes.push(req.get('call-id'));
        res.send(200, { headers: { 'X-Answered-By': 'app' } });
      });
    },
  });
  const sent = sentByApp(uas.srf);
  const uac = await embeddedSrf();
  try {
    const managed = await uac.srf.createUAC(uas.uri('bob'), { localSdp: SDP(5000) });
    await waitFor(() => uasDialogs.length === 1);
    const bye = await managed.request({ method: 'BYE' });
    assert.equal(bye.status, 200, 'the caller gets its 200');
    const byeSeen = await uasDialogs[0].destroyed;
    assert.equal(byeSeen.method, 'BYE', "the UAS Dialog still hears of the caller's BYE");
    assert.equal(uasDialogs[0].connected, false);
    assert.deepEqual(sent.filter((raw) => / BYE\r\n/i.test(raw)), [], 'the app sent no response to the BYE: the engine did');
    assert.deepEqual(appByes, []);

    const plain = await uac.srf.createUAC(uas.uri('carol'), { localSdp: SDP(5002), headers: { 'X-Answer': 'res.send' } });
    const bye2 = await plain.request({ method: 'BYE' });
    assert.equal(bye2.status, 200);
    assert.equal(bye2.get('x-answered-by'), 'app', 'without a Dialog the app answers the BYE itself');
    assert.deepEqual(appByes, [plain.sip.callId]);
  } finally {
    uac.srf.disconnect();
    uas.srf.disconnect();
  }
});

test("the callee's BYE in a createUAC Dialog is answered by the engine; the Dialog still hears it", { timeout: 10000 }, async () => {
  const uasDialogs = [];
  const uas = await embeddedSrf({
    setup: (s) => {
      s.invite(async (req, res) => {
        const dialog = await s.createUAS(req, res, { localSdp: SDP(4004) });
        uasDialogs.push(dialog);
      });
    },
  });
  const uac = await embeddedSrf();
  const sent = sentByApp(uac.srf);
  try {
    const dialog = await uac.srf.createUAC(uas.uri('dave'), { localSdp: SDP(5004) });
    const destroyed = new Promise((r) => dialog.once('destroy', r));
    await waitFor(() => uasDialogs.length === 1);
    const bye = await uasDialogs[0].request({ method: 'BYE' });
    assert.equal(bye.status, 200, 'the callee gets its 200');
    assert.equal((await destroyed).method, 'BYE');
    assert.equal(dialog.connected, false);
    assert.deepEqual(sent.filter((raw) => / BYE\r\n/i.test(raw)), [], 'the caller app sent no response to the BYE: the engine did');
  } finally {
    uac.srf.disconnect();
    uas.srf.disconnect();
  }
});

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

test('timers on a short clock: Timer E retransmits, Timer F ends with 408', { timeout: 20000 }, async () => {
  const sink = dgram.createSocket('udp4');
  await new Promise((r) => sink.bind(0, '127.0.0.1', r));
  let copies = 0;
  sink.on('message', () => { copies++; });
  const T1 = 20;
  const uac = await embeddedSrf({ timers: { t1: T1, t2: 160 } });
  try {
    const started = Date.now(); // before the send: Timer F starts after it
    const req = await uac.srf.request(`sip:nobody@127.0.0.1:${sink.address().port}`, { method: 'OPTIONS' });
    const [res] = await once(req, 'response');
    assert.equal(res.status, 408);
    const elapsed = Date.now() - started;
    // Timer F is 64*T1 = 1280 ms on this clock: never earlier; later only by load, and far below
    // the 32 s of the default clock.
    assert.ok(elapsed >= 64 * T1 - 5 && elapsed < 64 * T1 + 8000, `Timer F fired after ${elapsed} ms`);
    // Sent at 0, 20, 60, 140, 300 ms, then every 160 ms: 11 copies by 1280 ms. Timers never fire
    // early, so never more (one more if Timer E and F come due together under load); under load
    // they can fire late, but the doubling steps (to 300 ms) are far inside Timer F.
    assert.ok(copies >= 5 && copies <= 12, `${copies} copies sent`);
  } finally {
    uac.srf.disconnect();
    sink.close();
  }
});

test('raw datagrams: retransmitted INVITEs are absorbed, malformed requests get 400, garbage is dropped', { timeout: 20000 }, async () => {
  let invites = 0;
  const optionsSeen = [];
  const uas = await embeddedSrf({ setup: (s) => {
    s.invite(() => { invites++; });
    s.options((req, res) => { optionsSeen.push(req.get('via')); res.send(200); });
  } });
  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  const replies = [];
  sock.on('message', (m) => replies.push(m.toString()));
  const [host, port] = uas.addr.split(':');
  const send = (text) => sock.send(Buffer.from(text), Number(port), host);
  const request = (method, branch, extra = '') => [`${method} sip:svc@${uas.addr} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${sock.address().port};branch=${branch};rport`, 'Max-Forwards: 70',
    'From: <sip:a@127.0.0.1>;tag=1', `To: <sip:svc@${uas.addr}>`, `Call-ID: raw-${branch}@test`, `CSeq: 1 ${method}`, extra, 'Content-Length: 0', '', ''].filter((l, i, a) => l !== '' || i >= a.length - 2).join('\r\n');
  const repliesTo = (branch) => replies.filter((r) => r.includes(`branch=${branch};`)).map((r) => r.split('\r\n')[0]);
  // An OPTIONS the app answers: the engine handles datagrams in order and hands the app its
  // requests in order, so once the app has answered this, whatever came before has reached it.
  const barrier = async (branch) => {
    send(request('OPTIONS', branch));
    await waitFor(() => repliesTo(branch).length === 1, 5000);
  };
  try {
    send(request('INVITE', 'z9hG4bK-raw-1'));
    await waitFor(() => invites === 1 && repliesTo('z9hG4bK-raw-1').length === 1, 5000);
    send(request('INVITE', 'z9hG4bK-raw-1'));
    await barrier('z9hG4bK-raw-b1');
    assert.equal(invites, 1, 'the retransmission reached no app');
    assert.deepEqual(repliesTo('z9hG4bK-raw-1'), ['SIP/2.0 100 Trying', 'SIP/2.0 100 Trying'], 'the retransmission got the 100 again');
    send(request('OPTIONS', 'z9hG4bK-raw-2').replace('CSeq: 1 OPTIONS', 'CSeq: 1 INVITE'));
    await waitFor(() => repliesTo('z9hG4bK-raw-2').length === 1, 5000);
    assert.match(repliesTo('z9hG4bK-raw-2')[0], /^SIP\/2\.0 400 Bad CSeq header/);
    const before = replies.length;
    send('\x00\x01garbage that is not SIP\r\n\r\n');
    send('OPTIONS sip:x SIP/2.0\r\nVia: broken\r\n');
    await barrier('z9hG4bK-raw-3');
    assert.deepEqual(replies.slice(before).map((r) => r.split('\r\n')[0]), ['SIP/2.0 200 OK'], 'garbage and a broken Via got no reply; the next OPTIONS its 200');
    assert.equal(optionsSeen.length, 2, `only the two good OPTIONS reached the app: ${optionsSeen}`);
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

test('tcpMessageTimeout: a TCP peer that sends nothing, or trickles a message, is disconnected; one that completes its message is not', { timeout: 20000 }, async () => {
  const TIMEOUT = 300;
  const uas = await embeddedSrf({ transport: 'tcp', timers: { tcpMessageTimeout: TIMEOUT }, setup: (s) => s.options((req, res) => res.send(200)) });
  const [host, port] = uas.addr.split(':');
  // closed: ms from before the connect (so before the engine could accept it) to the close
  const open = () => new Promise((resolve) => {
    const t0 = Date.now();
    const s = net.connect({ host, port: Number(port) }, () => resolve(s));
    s.closedAfter = new Promise((r) => s.once('close', () => r(Date.now() - t0)));
    s.opened = t0;
    s.on('error', () => {});
  });
  try {
    const idle = await open();
    const slow = await open();
    const good = await open();
    let goodClosed = false;
    good.once('close', () => { goodClosed = true; });
    const slowTimer = setInterval(() => slow.write('O'), 50);
    good.write([`OPTIONS sip:svc@${uas.addr};transport=tcp SIP/2.0`, 'Via: SIP/2.0/TCP 127.0.0.1:5999;rport;branch=z9hG4bK-tmo1',
      'Max-Forwards: 70', 'From: <sip:a@127.0.0.1>;tag=1', `To: <sip:svc@${uas.addr}>`, 'Call-ID: tmo-1@test', 'CSeq: 1 OPTIONS',
      'Content-Length: 0', '', ''].join('\r\n'));
    const [reply] = await once(good, 'data');
    assert.match(reply.toString(), /^SIP\/2\.0 200 /);
    // Closed at the timeout: never before it; later only by load, and far below the default.
    const idleClosed = await idle.closedAfter;
    const slowClosed = await slow.closedAfter;
    clearInterval(slowTimer);
    assert.ok(idleClosed >= TIMEOUT - 5 && idleClosed < TIMEOUT + 5000, `idle connection closed after ${idleClosed} ms`);
    assert.ok(slowClosed >= TIMEOUT - 5 && slowClosed < TIMEOUT + 5000, `trickling connection closed after ${slowClosed} ms`);
    // The behaviour is "still connected well past the timeout": wait out twice the timeout.
    const wait = good.opened + 2 * TIMEOUT - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    assert.equal(goodClosed, false, 'a peer that completed its message stays connected while idle');
    good.destroy();
  } finally {
    uas.srf.disconnect();
  }
});
