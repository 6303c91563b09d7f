// The dialog recipes beyond the basic call (api.md §4, §5): redirects, SUBSCRIBE dialogs,
// re-INVITE classification, 3pcc in createUAC, modify and createB2BUA, dialog state reports.
// The app under test runs on each backend (its own embedded engine, or through
// `drachtio-rs serve`); the far ends are apps on embedded engines, over real UDP on loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { SDP, waitFor } from './helpers/embedded.mjs';
import { BACKENDS, startApp } from './helpers/backends.mjs';
import { SipPeer } from './helpers/sip-peer.mjs';

const uriOf = (app, user) => `sip:${user}@${app.addr}`;
const withDirection = (sdp, dir) => sdp.replace('m=audio', `a=${dir}\r\nm=audio`);
const AUDIO = (port, dir = 'sendrecv') => withDirection(SDP(port), dir);

/** Starts the apps, runs `body`, closes them; no app may have emitted 'error'. */
async function withApps(specs, body) {
  const apps = [];
  try {
    for (const [kind, setup] of specs) apps.push(await startApp(kind, { setup }));
    await body(...apps);
  } finally {
    for (const app of apps) await app.close();
  }
  for (const app of apps) assert.deepEqual(app.errors.map(String), [], `${app.kind} app emitted no error`);
}

for (const kind of BACKENDS) {
  test(`${kind}: createUAC meets a 302: rejected without followRedirects; followed with it (new Request-URI, or kept with keepUriOnRedirect)`, { timeout: 20000 }, async () => {
    const reached = [];
    const target = (srf) => srf.invite(async (req, res) => {
      reached.push({ uri: req.uri, user: req.calledNumber });
      await srf.createUAS(req, res, { localSdp: AUDIO(4002) });
    });
    await withApps([['embedded', target]], async (callee) => {
      const redirector = (srf) => srf.invite((req, res) => res.send(302, { headers: { Contact: `<${uriOf(callee, 'moved')}>` } }));
      await withApps([['embedded', redirector], [kind]], async (redirect, app) => {
        await assert.rejects(app.srf.createUAC(uriOf(redirect, 'alice'), { localSdp: AUDIO(5000) }), (err) => err.status === 302);
        const sent = [];
        const dialog = await app.srf.createUAC(uriOf(redirect, 'alice'), { localSdp: AUDIO(5000), followRedirects: true },
          { cbRequest: (err, req) => sent.push(err ? err.message : req.uri) });
        assert.equal(sent.length, 2, 'cbRequest is called for the INVITE and again for the redirected one');
        assert.equal(sent[1], uriOf(callee, 'moved'));
        assert.equal(dialog.remote.sdp, AUDIO(4002));
        await dialog.destroy();
        const kept = await app.srf.createUAC(uriOf(redirect, 'alice'), { localSdp: AUDIO(5000), followRedirects: true, keepUriOnRedirect: true });
        await kept.destroy();
        assert.deepEqual(reached.map((r) => r.user), ['moved', 'alice'], 'keepUriOnRedirect keeps the Request-URI and sends via the Contact');
      });
    });
  });

  test(`${kind}: SUBSCRIBE dialogs: 202, NOTIFY, refresh, unsubscribe, then a terminating NOTIFY ends both sides`, { timeout: 20000 }, async () => {
    const notifier = [];
    let uasDialog;
    const setup = (srf) => srf.subscribe(async (req, res) => {
      uasDialog = await srf.createUAS(req, res, { headers: { Expires: '3600' } });
      notifier.push(`count ${uasDialog.getCountOfSubscriptions()} ${uasDialog.subscriptions.join(',')} ${uasDialog.dialogType}`);
      uasDialog.on('subscribe', (r, s) => { notifier.push('refresh'); s.send(200, { headers: { Expires: '3600' } }); });
      uasDialog.on('unsubscribe', (r, why) => notifier.push(why));
      await uasDialog.request({ method: 'NOTIFY', headers: { Event: 'presence', 'Subscription-State': 'active;expires=3600', 'Content-Type': 'text/plain' }, body: 'open' });
    });
    await withApps([[kind, setup], ['embedded']], async (app, subscriber) => {
      const dialog = await subscriber.srf.createUAC(uriOf(app, 'resource'), { method: 'SUBSCRIBE', headers: { Event: 'presence', Expires: '3600' } });
      assert.equal(dialog.dialogType, 'SUBSCRIBE');
      assert.equal(dialog.getCountOfSubscriptions(), 1);
      const [notify] = await once(dialog, 'notify');
      assert.equal(notify.body, 'open');
      const refresh = await dialog.request({ method: 'SUBSCRIBE', headers: { Event: 'presence', Expires: '3600' } });
      assert.equal(refresh.status, 200);
      const unsub = await dialog.request({ method: 'SUBSCRIBE', headers: { Event: 'presence', Expires: '0' } });
      assert.equal(unsub.status, 202);
      await waitFor(() => notifier.includes('unsubscribe'));
      const destroyed = once(dialog, 'destroy');
      await uasDialog.destroy();
      const [terminating] = await destroyed;
      assert.match(terminating.get('subscription-state'), /^terminated/);
      assert.equal(dialog.connected, false);
      assert.equal(dialog.getCountOfSubscriptions(), 0);
      assert.equal(subscriber.srf.findDialogById(dialog.id), undefined);
      assert.deepEqual(notifier, ['count 1 resource@' + app.addr.split(':')[0] + ':presence SUBSCRIBE', 'refresh', 'unsubscribe']);
    });
  });

  test(`${kind}: a re-INVITE is classified: refresh (same origin), hold, unhold, otherwise modify`, { timeout: 20000 }, async () => {
    const events = [];
    let uas;
    const setup = (srf) => srf.invite(async (req, res) => {
      uas = await srf.createUAS(req, res, { localSdp: AUDIO(4000) });
      for (const e of ['refresh', 'hold', 'unhold']) uas.on(e, () => events.push(`${e} onHold=${uas.onHold}`));
      uas.on('modify', (r, s) => { events.push('modify'); s.send(200, { body: AUDIO(4444) }); });
    });
    await withApps([[kind, setup], ['embedded']], async (app, caller) => {
      const dialog = await caller.srf.createUAC(uriOf(app, 'bob'), { localSdp: AUDIO(5000) });
      assert.equal(await dialog.modify(AUDIO(5000)), AUDIO(4000), 'refresh answered with our SDP');
      const held = AUDIO(5000, 'sendonly').replace('o=- 5000 1', 'o=- 5000 2');
      assert.equal(await dialog.modify(held), AUDIO(4000, 'recvonly'), 'hold answered recvonly');
      assert.equal(uas.onHold, true);
      const back = AUDIO(5000).replace('o=- 5000 1', 'o=- 5000 3');
      assert.equal(await dialog.modify(back), AUDIO(4000), 'unhold answered sendrecv');
      assert.equal(await dialog.modify(SDP(6000)), AUDIO(4444), 'a new offer goes to the modify listener');
      assert.deepEqual(events, ['refresh onHold=false', 'hold onHold=true', 'unhold onHold=false', 'modify']);
      assert.equal(uas.remote.sdp, SDP(6000));
      await dialog.destroy();
    });
  });

  test(`${kind}: 3pcc createUAC: noAck gives {sdp, ack}; without it the 200's offer gets a recvonly answer`, { timeout: 20000 }, async () => {
    const acks = [];
    const setup = (srf) => srf.invite(async (req, res) => {
      assert.equal(req.body, '', 'a late-offer INVITE has no body');
      const d = await srf.createUAS(req, res, { localSdp: AUDIO(4000) });
      d.on('ack', (ack) => acks.push({ body: ack.body, remote: d.remote.sdp }));
    });
    await withApps([['embedded', setup], [kind]], async (far, app) => {
      const pending = await app.srf.createUAC(uriOf(far, 'c'), { noAck: true });
      assert.equal(pending.sdp, AUDIO(4000));
      assert.equal(pending.res.status, 200);
      const dialog = await pending.ack(AUDIO(5000));
      assert.equal(dialog.local.sdp, AUDIO(5000));
      await waitFor(() => acks.length === 1);
      assert.deepEqual(acks[0], { body: AUDIO(5000), remote: AUDIO(5000) }, "the far end's remote SDP comes from the ACK");
      await dialog.destroy();

      const blackHoled = await app.srf.createUAC(uriOf(far, 'c'), {});
      await waitFor(() => acks.length === 2);
      assert.match(acks[1].body, /^v=0\r\n[^]*a=recvonly\r\nm=audio 4000/, 'session-level direction set to recvonly');
      assert.doesNotMatch(acks[1].body, /a=sendrecv/);
      await blackHoled.destroy();
    });
  });

  test(`${kind}: modify({noAck}) without SDP: the far end's offer comes back with an ack(answer) to call`, { timeout: 20000 }, async () => {
    let uas;
    const acks = [];
    const setup = (srf) => srf.invite(async (req, res) => {
      uas = await srf.createUAS(req, res, { localSdp: AUDIO(4000) });
      uas.on('ack', (ack) => acks.push(ack.body));
    });
    await withApps([['embedded', setup], [kind]], async (far, app) => {
      const dialog = await app.srf.createUAC(uriOf(far, 'm'), { localSdp: AUDIO(5000) });
      await waitFor(() => acks.length === 1);
      const { sdp, ack } = await dialog.modify({ noAck: true });
      assert.equal(sdp, AUDIO(4000));
      await ack(AUDIO(5002));
      await waitFor(() => acks.length === 2);
      assert.equal(acks[1], AUDIO(5002));
      assert.equal(uas.remote.sdp, AUDIO(5002));
      assert.equal(dialog.local.sdp, AUDIO(5002));
      // The callback form gets (err, sdp, ack).
      const viaCallback = await new Promise((resolve, reject) => dialog.modify({ noAck: true }, (err, s, a) => (err ? reject(err) : resolve([s, a]))));
      assert.equal(viaCallback[0], AUDIO(4000));
      await viaCallback[1](AUDIO(5004));
      await waitFor(() => acks.length === 3);
      await dialog.destroy();
    });
  });

  test(`${kind}: createB2BUA, A without SDP (3pcc): B's offer reaches A, A's ACK answer reaches B through localSdpB`, { timeout: 20000 }, async () => {
    const bAcks = [];
    const calleeSetup = (srf) => srf.invite(async (req, res) => {
      assert.equal(req.body, '', 'B gets an offer-less INVITE');
      const d = await srf.createUAS(req, res, { localSdp: AUDIO(4000) });
      d.on('ack', (ack) => bAcks.push(ack.body));
    });
    await withApps([['embedded', calleeSetup]], async (callee) => {
      let legs;
      const b2bSetup = (srf) => srf.invite(async (req, res) => {
        legs = await srf.createB2BUA(req, res, uriOf(callee, 'b'), { localSdpB: (sdpFromA) => sdpFromA.replaceAll('5000', '5010') });
      });
      await withApps([[kind, b2bSetup], ['embedded']], async (b2b, caller) => {
        const pending = await caller.srf.createUAC(uriOf(b2b, 'a'), { noAck: true });
        assert.equal(pending.sdp, AUDIO(4000), "A's 200 carries B's offer");
        const aDialog = await pending.ack(AUDIO(5000));
        await waitFor(() => bAcks.length === 1 && legs);
        assert.equal(bAcks[0], AUDIO(5010), "B's ACK carries A's answer through localSdpB");
        assert.equal(legs.uas.remote.sdp, AUDIO(5000), "the A-leg dialog's remote SDP is the one from A's ACK");
        assert.equal(legs.uac.local.sdp, AUDIO(5010));
        assert.equal(legs.uas.other, legs.uac);
        await aDialog.destroy();
      });
    });
  });

  test(`${kind}: dialogStateEmitter reports trying, early, confirmed, terminated (proceeding only after the engine's delayed 100 Trying)`, { timeout: 20000 }, async () => {
    const uasStates = [];
    const uasEmitter = new EventEmitter().on('stateChange', (s) => uasStates.push(`${s.state}/${s.direction}/${s.aor}`));
    let ringAfter = 0;
    const setup = (srf) => srf.invite(async (req, res) => {
      if (ringAfter) await new Promise((resolve) => setTimeout(resolve, ringAfter));
      res.send(180);
      const d = await srf.createUAS(req, res, { localSdp: AUDIO(4000), dialogStateEmitter: uasEmitter });
      d.on('destroy', () => {});
    });
    await withApps([[kind, setup], ['embedded']], async (app, caller) => {
      const host = app.addr.split(':')[0];
      const call = async () => {
        uasStates.length = 0;
        const uacStates = [];
        const uacEmitter = new EventEmitter().on('stateChange', (s) => uacStates.push(`${s.state}/${s.direction}/${s.aor}/${s.remoteTag ? 'tag' : 'none'}`));
        const dialog = await caller.srf.createUAC(uriOf(app, 'bob'), { localSdp: AUDIO(5000), headers: { From: '<sip:alice@example.com>' }, dialogStateEmitter: uacEmitter });
        await dialog.destroy();
        await waitFor(() => uasStates.length === 3);
        assert.deepEqual(uasStates, ['trying/initiator/alice@example.com', 'confirmed/initiator/alice@example.com', 'terminated/initiator/alice@example.com']);
        return uacStates;
      };
      const rest = [`early/recipient/bob@${host}/tag`, `confirmed/recipient/bob@${host}/tag`, `terminated/recipient/bob@${host}/tag`];
      const proceeding = `proceeding/recipient/bob@${host}/none`;
      // The app rings at once: the engine's 100 Trying (due 100 ms after the INVITE) is not
      // sent, so the caller goes from trying straight to early. (A test machine too loaded to
      // ring within 100 ms sees the 100 first; then proceeding must come in its place.)
      const first = await call();
      assert.deepEqual(first, [`trying/recipient/bob@${host}/none`, ...(first.includes(proceeding) ? [proceeding] : []), ...rest]);
      // The app rings after 300 ms: the engine's 100 Trying came first, untagged: proceeding.
      ringAfter = 300;
      assert.deepEqual(await call(), [`trying/recipient/bob@${host}/none`, proceeding, ...rest]);
    });
  });
  test(`${kind}: createB2BUA relays B's reliable 183 to A reliably and waits for A's PRACK; A's UPDATE during setup gets the SDP A was given`, { timeout: 20000 }, async () => {
    const calleeSetup = (srf) => srf.invite((req, res) => {
      res.send(183, { headers: { Require: '100rel' }, body: AUDIO(4000) }, () => {}, () => {
        srf.createUAS(req, res, { localSdp: AUDIO(4000) }).catch(() => {});
      });
    });
    await withApps([['embedded', calleeSetup]], async (callee) => {
      const b2bSetup = (srf) => srf.invite((req, res) => {
        srf.createB2BUA(req, res, uriOf(callee, 'b'), { headers: { Supported: '100rel' }, proxyResponseHeaders: ['all'],
          localSdpA: (sdpB) => sdpB.replaceAll('4000', '4100') }).catch(() => {});
      });
      await withApps([[kind, b2bSetup]], async (b2b) => {
        const peer = await SipPeer.udp(b2b.addr);
        try {
          const call = peer.call('a');
          peer.send(call.request('INVITE', { headers: { Supported: '100rel' }, body: AUDIO(5000) }));
          const p183 = await peer.expect((m) => m.status === 183);
          assert.match(p183.get('require'), /100rel/);
          assert.ok(Number(p183.get('rseq')) >= 1, 'relayed reliably, with an RSeq of the A leg');
          assert.equal(p183.body, AUDIO(4100), 'through localSdpA');
          call.toTag = p183.tag('to');
          peer.send(call.request('UPDATE', { uri: p183.contactUri, body: AUDIO(5001) }));
          const updated = await peer.expect((m) => m.status === 200 && m.cseqMethod === 'UPDATE');
          assert.equal(updated.body, AUDIO(4100), 'the SDP A was given so far');
          assert.equal(peer.all((m) => m.status === 200 && m.cseqMethod === 'INVITE').length, 0, 'no 200 before the PRACK');
          peer.send(call.request('PRACK', { uri: p183.contactUri, headers: { RAck: `${p183.get('rseq')} 1 INVITE` } }));
          const ok = await peer.expect((m) => m.status === 200 && m.cseqMethod === 'INVITE');
          assert.equal(ok.body, AUDIO(4100), 'the same translation for the same SDP from B');
          peer.send(call.request('ACK', { uri: ok.contactUri, cseq: 1 }));
          peer.send(call.request('BYE', { uri: ok.contactUri }));
          await peer.expect((m) => m.status === 200 && m.cseqMethod === 'BYE');
        } finally {
          peer.close();
        }
      });
    });
  });

  test(`${kind}: createUAC answers the callee's UPDATE in the early dialog with its offer`, { timeout: 20000 }, async () => {
    await withApps([[kind]], async (app) => {
      const peer = await SipPeer.udp(app.addr);
      try {
        const dialog = app.srf.createUAC(`sip:callee@${peer.hostport}`, { localSdp: AUDIO(5000) });
        const invite = await peer.expect((m) => m.method === 'INVITE');
        peer.send(peer.response(invite, 180, { toTag: 'callee1' }));
        const update = [`UPDATE ${invite.contactUri} SIP/2.0`,
          `Via: SIP/2.0/UDP ${peer.hostport};branch=z9hG4bK-upd1;rport`, 'Max-Forwards: 70',
          `From: ${invite.get('to')};tag=callee1`, `To: ${invite.get('from')}`, `Call-ID: ${invite.callId}`, 'CSeq: 1 UPDATE',
          `Contact: <${peer.contact}>`, 'Content-Type: application/sdp', `Content-Length: ${AUDIO(4000).length}`, '', AUDIO(4000)].join('\r\n');
        peer.send(update);
        const answered = await peer.expect((m) => m.cseqMethod === 'UPDATE' && m.status >= 200);
        assert.equal(answered.status, 200);
        assert.equal(answered.body, AUDIO(5000));
        peer.send(peer.response(invite, 200, { toTag: 'callee1', body: AUDIO(4000) }));
        const d = await dialog;
        await peer.expect((m) => m.method === 'ACK');
        const bye = d.destroy();
        const byeReq = await peer.expect((m) => m.method === 'BYE');
        peer.send(peer.response(byeReq, 200));
        await bye;
      } finally {
        peer.close();
      }
    });
  });
  test(`${kind}: REFER inside a call both ways, with NOTIFY sipfrag progress; an out-of-dialog REFER reaches srf.refer`, { timeout: 20000 }, async () => {
    let uas;
    const outOfDialog = [];
    const setup = (srf) => {
      srf.invite(async (req, res) => { uas = await srf.createUAS(req, res, { localSdp: AUDIO(4000) }); });
      srf.refer((req, res) => { outOfDialog.push(req.get('refer-to')); res.send(202); });
    };
    await withApps([[kind, setup], ['embedded']], async (app, far) => {
      const dialog = await far.srf.createUAC(uriOf(app, 'bob'), { localSdp: AUDIO(5000) });
      await waitFor(() => uas);
      for (const [referrer, referee] of [[dialog, uas], [uas, dialog]]) {
        const notified = [];
        referrer.on('notify', (req, res) => { notified.push(`${req.get('subscription-state')} ${req.body.trim()}`); res.send(200); });
        referee.once('refer', async (req, res) => {
          res.send(202);
          assert.match(req.get('refer-to'), /^<sip:carol@example\.com>$/);
          for (const [state, frag] of [['active', 'SIP/2.0 100 Trying'], ['terminated;reason=noresource', 'SIP/2.0 200 OK']]) {
            const r = await referee.request({ method: 'NOTIFY', headers: { Event: 'refer', 'Subscription-State': state, 'Content-Type': 'message/sipfrag' }, body: frag });
            assert.equal(r.status, 200);
          }
        });
        const accepted = await referrer.refer({ headers: { 'Refer-To': '<sip:carol@example.com>' } });
        assert.equal(accepted.status, 202);
        await waitFor(() => notified.length === 2);
        assert.deepEqual(notified, ['active SIP/2.0 100 Trying', 'terminated;reason=noresource SIP/2.0 200 OK']);
        assert.equal(referrer.connected && referee.connected, true, 'a terminating NOTIFY of a REFER does not end the call');
      }
      const req = await far.srf.request(uriOf(app, 'bob'), { method: 'REFER', headers: { 'Refer-To': '<sip:dave@example.com>' } });
      const [res] = await once(req, 'response');
      assert.equal(res.status, 202);
      assert.deepEqual(outOfDialog, ['<sip:dave@example.com>']);
      await dialog.destroy();
    });
  });

}

test('createUAC argument forms: (opts, progress), and the legacy (uri, opts, cbRequest, cbProvisional, cb)', { timeout: 20000 }, async () => {
  const setup = (srf) => srf.invite(async (req, res) => {
    res.send(180);
    await srf.createUAS(req, res, { localSdp: AUDIO(4000) });
  });
  await withApps([['embedded', setup], ['embedded']], async (far, app) => {
    const seen = [];
    const d1 = await app.srf.createUAC({ uri: uriOf(far, 'x'), localSdp: AUDIO(5000) }, { cbProvisional: (r) => seen.push(r.status) });
    await d1.destroy();
    const d2 = await new Promise((resolve, reject) => app.srf.createUAC(uriOf(far, 'x'), { localSdp: AUDIO(5000) },
      (err, req) => seen.push(err ? 'request failed' : `sent ${req.method}`), (r) => seen.push(r.status), (err, d) => (err ? reject(err) : resolve(d))));
    await d2.destroy();
    assert.deepEqual(seen.filter((s) => s !== 100), [180, 'sent INVITE', 180]);
  });
});
