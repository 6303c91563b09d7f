// SIP behaviour the README claims, shown on real sockets for both backends: an app on its
// embedded engine, and the same app connected to `drachtio-rs serve`. The far end is a raw
// UDP/TCP socket scripted by the test (helpers/sip-peer.mjs); each test asserts the messages on
// the wire (start lines, CSeq, tags, RSeq/RAck, Reason, Retry-After) and what the app saw.
// Any 'error' event from the Srf fails the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import net from 'node:net';
import { once } from 'node:events';
import { SDP, waitFor } from './helpers/embedded.mjs';
import { BACKENDS, startApp } from './helpers/backends.mjs';
import { SipPeer } from './helpers/sip-peer.mjs';

/** Runs `body(app)` on a fresh app, then closes it and asserts the Srf emitted no 'error'. */
async function withApp(kind, opts, body) {
  const app = await startApp(kind, opts);
  const peers = [];
  app.peer = async (transport = opts.transport || 'udp') => {
    const p = transport === 'tcp' ? await SipPeer.tcp(app.addr) : await SipPeer.udp(app.addr);
    peers.push(p);
    return p;
  };
  try {
    await body(app);
  } finally {
    peers.forEach((p) => p.close());
    await app.close();
  }
  assert.deepEqual(app.errors.map(String), [], 'the Srf emitted no error');
}

const isResp = (call, status, method) => (m) => m.status === status && m.callId === call.callId && (!method || m.cseqMethod === method);
const isReq = (call, method) => (m) => m.method === method && m.callId === call.callId;
const rseqOf = (m) => Number(m.get('rseq'));

for (const kind of BACKENDS) {
  test(`${kind}: a request arriving just after 'connect' reaches the route registered before connect()`, { timeout: 30000 }, async () => {
    // Racy by nature: repeated so that a defect shows in most runs.
    for (let i = 0; i < 20; i++) {
      const app = await startApp(kind, { settle: false, setup: (srf) => srf.options((req, res) => res.send(200)) });
      const peer = await SipPeer.udp(app.addr);
      try {
        const call = peer.call();
        peer.send(call.request('OPTIONS'));
        const res = await peer.expect((m) => m.callId === call.callId && m.status >= 200);
        assert.equal(res.start, 'SIP/2.0 200 OK', `attempt ${i + 1}: the app's 200, not the engine's "no app" answer`);
      } finally {
        peer.close();
        await app.close();
      }
      assert.deepEqual(app.errors.map(String), []);
    }
  });

  test(`${kind}: 100rel as UAS: reliable 183 with RSeq, the far end's PRACK (RAck) answered, then 200 and ACK`, { timeout: 20000 }, async () => {
    const seen = [];
    let dialog;
    await withApp(kind, {
      setup: (srf) => srf.invite((req, res) => {
        seen.push(`invite supported=${req.get('supported')}`);
        res.send(183, { headers: { Require: '100rel' }, body: SDP(4000) }, (err) => { if (err) seen.push(`183 failed: ${err.message}`); }, (prack) => {
          seen.push(`prack rack=${prack.get('rack')}`);
          srf.createUAS(req, res, { localSdp: SDP(4000) }).then((d) => {
            dialog = d;
            d.on('destroy', () => seen.push('destroy'));
          }, (err) => seen.push(`createUAS failed: ${err.message}`));
        });
      }),
    }, async (app) => {
      const peer = await app.peer();
      const call = peer.call();
      peer.send(call.request('INVITE', { headers: { Supported: '100rel' }, body: SDP(5000) }));
      const p183 = await peer.expect(isResp(call, 183, 'INVITE'));
      assert.match(p183.get('require'), /\b100rel\b/i, '183 carries Require: 100rel');
      const rseq = rseqOf(p183);
      assert.ok(Number.isInteger(rseq) && rseq >= 1 && rseq < 2 ** 31, `RSeq is 1..2^31-1, got ${p183.get('rseq')}`);
      assert.ok(p183.tag('to'), '183 has a To tag');
      assert.ok(p183.contactUri, 'a reliable 183 carries Contact');
      assert.equal(p183.body, SDP(4000));
      call.toTag = p183.tag('to');
      peer.send(call.request('PRACK', { uri: p183.contactUri, headers: { RAck: `${rseq} 1 INVITE` } }));
      const prackOk = await peer.expect(isResp(call, 200, 'PRACK'));
      assert.equal(prackOk.cseq, 2);
      const ok = await peer.expect(isResp(call, 200, 'INVITE'));
      assert.equal(ok.cseq, 1);
      assert.equal(ok.tag('to'), call.toTag, 'the 200 keeps the dialog tag of the 183');
      assert.equal(ok.body, SDP(4000));
      peer.send(call.request('ACK', { uri: ok.contactUri }));
      await waitFor(() => dialog, 5000);
      peer.send(call.request('BYE', { uri: ok.contactUri }));
      const byeOk = await peer.expect(isResp(call, 200, 'BYE'));
      assert.equal(byeOk.cseq, 3);
      await waitFor(() => seen.includes('destroy'), 5000);
      assert.deepEqual(seen, ['invite supported=100rel', `prack rack=${rseq} 1 INVITE`, 'destroy']);
      assert.equal(peer.all(isResp(call, 183)).length >= 1, true);
    });
  });

  test(`${kind}: 100rel as UAC: a reliable 180 (RSeq 7) from the far end is PRACKed with RAck "7 <cseq> INVITE"`, { timeout: 20000 }, async () => {
    await withApp(kind, {}, async (app) => {
      const peer = await app.peer();
      const provisional = [];
      const pending = app.srf.createUAC(`sip:callee@${peer.hostport}`, { localSdp: SDP(6000), headers: { Supported: '100rel' } },
        { cbProvisional: (res) => provisional.push(`${res.status} rseq=${res.get('rseq')}`) });
      pending.catch(() => {});
      const invite = await peer.expect((m) => m.method === 'INVITE');
      assert.match(invite.get('supported') || '', /\b100rel\b/i);
      const toTag = 'callee-1';
      peer.send(peer.response(invite, 180, { toTag, headers: { Require: '100rel', RSeq: '7' } }));
      const prack = await peer.expect((m) => m.method === 'PRACK' && m.callId === invite.callId);
      assert.equal(prack.uri, peer.contact, 'PRACK goes to the Contact of the 180');
      assert.equal(prack.get('rack'), `7 ${invite.cseq} INVITE`);
      assert.equal(prack.cseqMethod, 'PRACK');
      assert.equal(prack.cseq, invite.cseq + 1, 'PRACK takes the next CSeq in the dialog');
      assert.equal(prack.tag('to'), toTag);
      assert.equal(prack.tag('from'), invite.tag('from'));
      peer.send(peer.response(prack, 200));
      peer.send(peer.response(invite, 200, { toTag, body: SDP(7000) }));
      const ack = await peer.expect((m) => m.method === 'ACK' && m.callId === invite.callId);
      assert.equal(ack.get('cseq'), `${invite.cseq} ACK`);
      assert.equal(ack.tag('to'), toTag);
      const dialog = await pending;
      assert.equal(dialog.remote.sdp, SDP(7000));
      assert.deepEqual(provisional, ['180 rseq=7']);
      const ending = dialog.destroy();
      const bye = await peer.expect((m) => m.method === 'BYE' && m.callId === invite.callId);
      assert.equal(bye.cseq, invite.cseq + 2);
      peer.send(peer.response(bye, 200));
      await ending;
      assert.equal(peer.all((m) => m.method === 'PRACK').every((m) => m.get('rack') === `7 ${invite.cseq} INVITE`), true);
    });
  });

  test(`${kind}: createUAS dialog: re-INVITE from the far end, modify() from ours (CSeq counting up), destroy() sends BYE`, { timeout: 20000 }, async () => {
    const seen = [];
    let dialog;
    await withApp(kind, {
      setup: (srf) => srf.invite(async (req, res) => {
        dialog = await srf.createUAS(req, res, { localSdp: SDP(4000) });
        dialog.on('modify', (r, s) => {
          seen.push(`modify ${r.body === SDP(5001) ? 'sdp-5001' : r.body}`);
          s.send(200, { body: SDP(4001) });
        });
        dialog.on('destroy', () => seen.push('unexpected destroy'));
      }),
    }, async (app) => {
      const peer = await app.peer();
      const call = peer.call();
      peer.send(call.request('INVITE', { body: SDP(5000) }));
      const ok = await peer.expect(isResp(call, 200, 'INVITE'));
      call.toTag = ok.tag('to');
      const target = ok.contactUri;
      peer.send(call.request('ACK', { uri: target }));
      await waitFor(() => dialog, 5000);

      // The far end re-INVITEs.
      peer.send(call.request('INVITE', { uri: target, body: SDP(5001) }));
      const reOk = await peer.expect(isResp(call, 200, 'INVITE'));
      assert.equal(reOk.cseq, 2);
      assert.equal(reOk.tag('to'), call.toTag);
      assert.equal(reOk.body, SDP(4001));
      peer.send(call.request('ACK', { uri: target }));
      assert.deepEqual(seen, ['modify sdp-5001']);
      assert.equal(dialog.remote.sdp, SDP(5001));

      // Ours, twice: each a new CSeq number, each ACKed with that number.
      let last;
      for (const port of [4002, 4003]) {
        const modified = dialog.modify(SDP(port));
        const reinvite = await peer.expect(isReq(call, 'INVITE'));
        assert.equal(reinvite.uri, peer.contact, 're-INVITE goes to the far end\'s Contact');
        assert.equal(reinvite.tag('to'), call.fromTag, 'To carries the far end\'s tag');
        assert.equal(reinvite.tag('from'), call.toTag, 'From carries our tag');
        assert.equal(reinvite.body, SDP(port));
        if (last !== undefined) assert.equal(reinvite.cseq, last + 1, 'CSeq counts up by one');
        last = reinvite.cseq;
        peer.send(peer.response(reinvite, 200, { body: SDP(port + 1000) }));
        const ack = await peer.expect(isReq(call, 'ACK'));
        assert.equal(ack.get('cseq'), `${reinvite.cseq} ACK`);
        assert.equal(await modified, SDP(port + 1000));
      }

      // dialog.destroy() on the UAS side: BYE to the far end's Contact with the dialog's tags.
      const ending = dialog.destroy();
      const bye = await peer.expect(isReq(call, 'BYE'));
      assert.equal(bye.uri, peer.contact);
      assert.equal(bye.tag('from'), call.toTag);
      assert.equal(bye.tag('to'), call.fromTag);
      assert.equal(bye.cseq, last + 1);
      peer.send(peer.response(bye, 200));
      await ending;
      assert.deepEqual(seen, ['modify sdp-5001']);
    });
  });

  test(`${kind}: after our re-INVITE on a createUAS dialog, the far end's BYE still reaches that dialog`, { timeout: 20000 }, async () => {
    let dialog;
    let destroyed = false;
    await withApp(kind, {
      setup: (srf) => srf.invite(async (req, res) => {
        dialog = await srf.createUAS(req, res, { localSdp: SDP(4000) });
        dialog.on('destroy', () => { destroyed = true; });
      }),
    }, async (app) => {
      const peer = await app.peer();
      const call = peer.call();
      peer.send(call.request('INVITE', { body: SDP(5000) }));
      const ok = await peer.expect(isResp(call, 200, 'INVITE'));
      call.toTag = ok.tag('to');
      peer.send(call.request('ACK', { uri: ok.contactUri }));
      await waitFor(() => dialog, 5000);
      const modified = dialog.modify(SDP(4002));
      const reinvite = await peer.expect(isReq(call, 'INVITE'));
      peer.send(peer.response(reinvite, 200, { body: SDP(5002) }));
      await peer.expect(isReq(call, 'ACK'));
      await modified;
      peer.send(call.request('BYE', { uri: ok.contactUri }));
      const byeRes = await peer.expect((m) => m.callId === call.callId && m.cseqMethod === 'BYE');
      assert.equal(byeRes.status, 200, `BYE answered ${byeRes.start}`);
      await waitFor(() => destroyed, 5000);
    });
  });

  test(`${kind}: TCP keep-alive: a CRLFCRLF ping gets a CRLF pong (RFC 5626 §4.4.1), whole or split across writes, and SIP still flows`, { timeout: 20000 }, async () => {
    await withApp(kind, { transport: 'tcp', setup: (srf) => srf.options((req, res) => res.send(200)) }, async (app) => {
      const [host, port] = app.addr.split(':');
      const sock = net.connect(Number(port), host);
      await once(sock, 'connect');
      let got = '';
      sock.on('data', (d) => { got += d.toString('latin1'); });
      try {
        sock.write('\r\n\r\n');
        await waitFor(() => got === '\r\n', 2000);
        sock.write('\r\n');
        await sleep(50);
        assert.equal(got, '\r\n', 'half a ping is no ping');
        sock.write('\r\n');
        await waitFor(() => got === '\r\n\r\n', 2000);
        const local = `${sock.localAddress}:${sock.localPort}`;
        sock.write([`OPTIONS sip:${app.addr};transport=tcp SIP/2.0`, `Via: SIP/2.0/TCP ${local};branch=z9hG4bK-ka1`, 'Max-Forwards: 70',
          `From: <sip:ka@${local}>;tag=ka1`, `To: <sip:${app.addr}>`, 'Call-ID: keepalive-1', 'CSeq: 1 OPTIONS', 'Content-Length: 0', '', ''].join('\r\n'));
        await waitFor(() => /SIP\/2\.0 200 OK[\s\S]*keepalive-1/.test(got), 3000);
      } finally {
        sock.destroy();
      }
    });
  });

  test(`${kind}: TCP framing: a message split across writes is answered once; two messages in one write are both answered`, { timeout: 20000 }, async () => {
    const bodies = [];
    await withApp(kind, {
      transport: 'tcp',
      setup: (srf) => srf.options((req, res) => {
        bodies.push(req.body);
        res.send(200, { headers: { 'X-Seen': String(bodies.length) } });
      }),
    }, async (app) => {
      const peer = await app.peer('tcp');
      const first = peer.call();
      const text = first.request('OPTIONS', { body: 'split body, 0123456789' });
      const cuts = [7, text.indexOf('Call-ID') + 4, text.indexOf('\r\n\r\n') + 1, text.length - 5];
      let at = 0;
      for (const cut of [...cuts, text.length]) {
        peer.send(text.slice(at, cut));
        at = cut;
        if (cut < text.length) await sleep(40); // separate TCP segments, separate reads
      }
      const ok = await peer.expect(isResp(first, 200, 'OPTIONS'));
      assert.equal(ok.get('x-seen'), '1');

      const a = peer.call();
      const b = peer.call();
      peer.send(a.request('OPTIONS', { body: 'first of two' }) + b.request('OPTIONS'));
      const [okA, okB] = await Promise.all([peer.expect(isResp(a, 200)), peer.expect(isResp(b, 200))]);
      assert.deepEqual([okA.get('x-seen'), okB.get('x-seen')].sort(), ['2', '3']);
      assert.deepEqual(bodies, ['split body, 0123456789', 'first of two', '']);
      assert.equal(peer.all(isResp(first, 200)).length, 1, 'the split message was answered once');
    });
  });

  test(`${kind}: retransmissions are absorbed: INVITE again gets the 100 again, OPTIONS again gets the same 200, the app sees each once`, { timeout: 20000 }, async () => {
    let invites = 0;
    let heldRes;
    let options = 0;
    await withApp(kind, {
      setup: (srf) => {
        srf.invite((req, res) => { invites++; heldRes = res; });
        srf.options((req, res) => { options++; res.send(200, { headers: { 'X-Count': String(options) } }); });
      },
    }, async (app) => {
      const peer = await app.peer();
      const call = peer.call();
      const invite = call.request('INVITE', { body: SDP(5000) });
      peer.send(invite);
      await peer.expect(isResp(call, 100, 'INVITE'));
      peer.send(invite);
      await peer.expect(isResp(call, 100, 'INVITE'), { what: 'a 100 for the retransmitted INVITE' });

      const o = peer.call();
      const opt = o.request('OPTIONS');
      peer.send(opt);
      const ok1 = await peer.expect(isResp(o, 200));
      peer.send(opt);
      const ok2 = await peer.expect(isResp(o, 200), { what: 'the 200 again for the retransmitted OPTIONS' });
      assert.equal(ok2.raw, ok1.raw, 'the retransmitted OPTIONS gets the same 200, byte for byte');
      assert.equal(ok1.get('x-count'), '1');
      // Requests reach the app in order: had either retransmission been passed up, it would
      // have been seen before this one.
      const o2 = peer.call();
      peer.send(o2.request('OPTIONS'));
      assert.equal((await peer.expect(isResp(o2, 200))).get('x-count'), '2');
      assert.equal(invites, 1, 'the app saw the INVITE once');
      assert.equal(options, 2);

      // The INVITE's final, then a retransmission of the INVITE gets that final again.
      heldRes.send(486);
      const busy = await peer.expect(isResp(call, 486, 'INVITE'));
      peer.send(invite);
      const busy2 = await peer.expect(isResp(call, 486, 'INVITE'), { what: 'the 486 again for the retransmitted INVITE' });
      assert.equal(busy2.tag('to'), busy.tag('to'));
      peer.send(call.request('ACK', { branch: busy.branch, toTag: busy.tag('to') }));
      assert.equal(invites, 1);
    });
  });

  test(`${kind}: a 200 never ACKed is retransmitted, then the call is ended with a BYE and the app's dialog gets 'destroy'`, { timeout: 30000 }, async () => {
    let destroyed;
    await withApp(kind, {
      timers: { t1: 50, t2: 400 },
      setup: (srf) => srf.invite(async (req, res) => {
        const dialog = await srf.createUAS(req, res, { localSdp: SDP(4000) });
        dialog.on('destroy', (bye, reason) => { destroyed = { method: bye?.method, reason }; });
      }),
    }, async (app) => {
      const peer = await app.peer();
      const call = peer.call();
      peer.send(call.request('INVITE', { body: SDP(5000) }));
      const ok = await peer.expect(isResp(call, 200, 'INVITE'));
      const again = await peer.expect(isResp(call, 200, 'INVITE'), { what: 'the 200 retransmitted' });
      assert.equal(again.tag('to'), ok.tag('to'));
      const bye = await peer.expect(isReq(call, 'BYE'), { timeout: 15000, what: 'a BYE after 64*T1 without ACK' });
      assert.equal(bye.uri, peer.contact);
      assert.equal(bye.tag('from'), ok.tag('to'));
      assert.equal(bye.tag('to'), call.fromTag);
      assert.match(bye.get('reason') || '', /ACK/i, `Reason names the missing ACK: ${bye.get('reason')}`);
      assert.ok(peer.all(isResp(call, 200, 'INVITE')).length >= 3, 'the 200 was retransmitted a few times first');
      peer.send(peer.response(bye, 200));
      await waitFor(() => destroyed, 5000);
      assert.equal(destroyed.method, 'BYE');
    });
  });

  // (A request with no Call-ID, To, From, CSeq or Via is dropped, not answered: a response to it
  // could not carry those headers either; src/engine/core.rs, has_response_headers.)
  test(`${kind}: malformed requests get 400 from the engine and never reach the app`, { timeout: 20000 }, async () => {
    let options = 0;
    await withApp(kind, { setup: (srf) => srf.options((req, res) => { options++; res.send(200); }) }, async (app) => {
      const peer = await app.peer();
      const cases = [
        ['CSeq method differs from the request method', (c) => c.request('OPTIONS', { cseqMethod: 'INVITE' }), /CSeq/i],
        ['Max-Forwards out of range', (c) => c.request('OPTIONS', { headers: { 'Max-Forwards': '300' } }).replace('Max-Forwards: 70\r\n', ''), /Max-Forwards/i],
        ['a Request-URI carrying URI headers', (c) => c.request('OPTIONS', { uri: `sip:svc@${app.addr}?subject=x` }), /Request-URI|URI/i],
      ];
      for (const [what, build, why] of cases) {
        const call = peer.call();
        const text = build(call);
        const br = /;branch=([^;\s]+)/.exec(text)[1];
        peer.send(text);
        const res = await peer.expect((m) => m.status !== undefined && m.branch === br, { what: `an answer to a request with ${what}` });
        assert.equal(res.status, 400, `${what}: ${res.start}`);
        assert.match(res.reason, why, `${what}: the reason names the header (${res.start})`);
      }
      const ok = peer.call();
      peer.send(ok.request('OPTIONS'));
      await peer.expect(isResp(ok, 200));
      assert.equal(options, 1, 'only the valid OPTIONS reached the app');
    });
  });

  // Serve has no setting for the limit (src/server/mod.rs uses MAX_PENDING_REQUESTS, 2000), so
  // through serve the test holds 2000 requests; the embedded engine takes maxPendingRequests.
  test(`${kind}: overload: past the pending-request limit a new request gets 503 with Retry-After; room again once one is answered`, { timeout: 60000 }, async () => {
    const limit = kind === 'serve' ? 2000 : 4;
    const held = [];
    await withApp(kind, {
      maxPendingRequests: kind === 'serve' ? undefined : limit,
      setup: (srf) => srf.options((req, res) => { held.push(res); }),
    }, async (app) => {
      const peer = await app.peer();
      const calls = [];
      for (let sent = 0; sent < limit;) {
        const batch = Math.min(100, limit - sent);
        for (let i = 0; i < batch; i++) {
          const c = peer.call();
          calls.push(c);
          peer.send(c.request('OPTIONS'));
        }
        sent += batch;
        await waitFor(() => held.length === sent || peer.all((m) => m.status === 503).length > 0, 15000);
      }
      assert.equal(peer.all((m) => m.status === 503).length, 0, `no 503 below the limit of ${limit}`);
      const over = peer.call();
      peer.send(over.request('OPTIONS'));
      const shed = await peer.expect(isResp(over, 503));
      assert.match(shed.get('retry-after') || '', /^\d+/, '503 carries Retry-After');
      assert.equal(held.length, limit, 'the shed request never reached the app');
      held[0].send(200);
      await peer.expect(isResp(calls[0], 200));
      const next = peer.call();
      peer.send(next.request('OPTIONS'));
      await waitFor(() => held.length === limit + 1, 5000);
      held[limit].send(200); // (the others are left held: 2000 answers at once overflow the peer's UDP buffer)
      await peer.expect(isResp(next, 200));
    });
  });

  test(`${kind}: CANCEL over TCP: 200 for the CANCEL, 487 for the INVITE, ACK; the app sees 'cancel'`, { timeout: 20000 }, async () => {
    let cancelled = false;
    await withApp(kind, {
      transport: 'tcp',
      setup: (srf) => srf.invite((req, res) => {
        req.on('cancel', () => { cancelled = true; });
        res.send(180);
      }),
    }, async (app) => {
      const peer = await app.peer('tcp');
      const call = peer.call();
      const br = `z9hG4bK-cancel-${Date.now()}`;
      peer.send(call.request('INVITE', { branch: br, body: SDP(5000) }));
      const ringing = await peer.expect(isResp(call, 180, 'INVITE'));
      assert.ok(ringing.tag('to'));
      peer.send(call.request('CANCEL', { branch: br, toTag: null }));
      const cancelOk = await peer.expect(isResp(call, 200, 'CANCEL'));
      assert.equal(cancelOk.cseq, 1);
      assert.equal(cancelOk.branch, br);
      const terminated = await peer.expect(isResp(call, 487, 'INVITE'));
      assert.equal(terminated.branch, br);
      assert.equal(terminated.tag('to'), ringing.tag('to'));
      peer.send(call.request('ACK', { branch: br, toTag: terminated.tag('to') }));
      await waitFor(() => cancelled, 5000);
      assert.equal(peer.all(isResp(call, 487)).length, 1, 'over TCP the 487 is sent once');
    });
  });
}
