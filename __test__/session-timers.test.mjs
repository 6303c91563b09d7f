// Session timers (RFC 4028) on both backends, over real UDP on loopback: the app under test runs
// on its own embedded engine or behind `drachtio-rs serve`, started with a Min-SE of 1 s so the
// far end (a raw SipPeer socket) can offer intervals of a few seconds. Asserted: what goes over
// the wire (the engine's answer to the offer, its refresh re-INVITEs, its BYE with the Reason)
// and what the app's Dialog sees (no event for a refresh; 'destroy' with 'Session timer expired').
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { SDP } from './helpers/embedded.mjs';
import { BACKENDS, startApp } from './helpers/backends.mjs';
import { SipPeer } from './helpers/sip-peer.mjs';

const SESSION = { minSE: 1 };
const REASON = 'SIP;cause=200;text="Session timer expired"';

/** Starts the app (it answers INVITEs with createUAS, handing each Dialog to `onDialog`) and a peer. */
async function withCall(kind, onDialog, body) {
  const app = await startApp(kind, {
    session: SESSION,
    setup: (srf) => srf.invite(async (req, res) => onDialog(await srf.createUAS(req, res, { localSdp: SDP(4000) }))),
  });
  const peer = await SipPeer.udp(app.addr);
  try {
    await body(app, peer);
  } finally {
    peer.close();
    await app.close();
  }
  assert.deepEqual(app.errors.map(String), [], `${kind} app emitted no error`);
}

/** The peer calls with `headers`; the app answers; the peer ACKs. The call and the 200. */
async function callIn(peer, headers) {
  const call = peer.call();
  peer.send(call.request('INVITE', { headers, body: SDP(6000) }));
  const ok = await peer.expect((m) => m.status === 200 && m.callId === call.callId, { what: 'the 200' });
  call.toTag = ok.tag('to');
  call.uri = ok.contactUri;
  peer.send(call.request('ACK'));
  return { call, ok };
}

const isBye = (call) => (m) => m.method === 'BYE' && m.callId === call.callId;

for (const kind of BACKENDS) {
  test(`${kind}: the far end refreshes, then stops: BYE with the Reason, and the Dialog's destroy says 'Session timer expired'`, { timeout: 20000 }, async () => {
    let dialog;
    const destroyed = new Promise((resolve) => { dialog = resolve; }).then((d) => once(d, 'destroy'));
    await withCall(kind, (d) => dialog(d), async (app, peer) => {
      const { call, ok } = await callIn(peer, { Supported: 'timer', 'Session-Expires': '2;refresher=uac' });
      assert.equal(ok.get('session-expires'), '2;refresher=uac', 'the engine answers the offer');
      assert.equal(ok.get('require'), 'timer', 'the UAC refreshes: the 2xx requires the extension');

      // A refresh re-INVITE after 1 s: answered by the app's Dialog; the timer restarts.
      await new Promise((r) => setTimeout(r, 1000));
      peer.send(call.request('INVITE', { headers: { Supported: 'timer', 'Session-Expires': '2;refresher=uac' }, body: SDP(6000) }));
      const reOk = await peer.expect((m) => m.status === 200 && m.cseqMethod === 'INVITE' && m.cseq === call.cseq, { what: 'the 200 to the refresh' });
      const refreshed = Date.now();
      peer.send(call.request('ACK'));
      assert.match(reOk.body, /^v=0/);
      assert.equal(reOk.get('session-expires'), '2;refresher=uac', "the app's 200 states the timer");
      assert.equal(reOk.get('require'), 'timer');

      const bye = await peer.expect(isBye(call), { timeout: 6000, what: 'the BYE' });
      const after = Date.now() - refreshed;
      assert.ok(after >= 1700, `the BYE waited for the refreshed interval (${after} ms after the refresh)`);
      assert.equal(bye.get('reason'), REASON);
      peer.send(peer.response(bye, 200));
      const [req, reason] = await destroyed;
      assert.equal(reason, 'Session timer expired');
      assert.equal(req.method, 'BYE');
    });
  });

  test(`${kind}: we refresh: a re-INVITE at half the interval with our SDP, ACKed by the engine, unseen by the app`, { timeout: 20000 }, async () => {
    let dialog;
    const events = [];
    await withCall(kind, (d) => {
      dialog = d;
      for (const e of ['modify', 'refresh', 'destroy']) d.on(e, () => events.push(e));
    }, async (app, peer) => {
      const { call, ok } = await callIn(peer, { Supported: 'timer', 'Session-Expires': '2;refresher=uas' });
      const answered = Date.now();
      assert.equal(ok.get('session-expires'), '2;refresher=uas');
      assert.equal(ok.get('require'), undefined);

      const reinvite = await peer.expect((m) => m.method === 'INVITE' && m.callId === call.callId, { timeout: 4000, what: 'the refresh' });
      const after = Date.now() - answered;
      assert.ok(after >= 800 && after < 2000, `the refresh came at half the interval (${after} ms)`);
      assert.equal(reinvite.get('session-expires'), '2;refresher=uac');
      assert.equal(reinvite.get('min-se'), '1');
      assert.equal(reinvite.body, SDP(4000), "the session's SDP");
      peer.send(peer.response(reinvite, 200, { headers: { 'Session-Expires': '2;refresher=uac' }, body: SDP(6000) }));
      const ack = await peer.expect((m) => m.method === 'ACK' && m.cseq === reinvite.cseq, { what: 'the engine ACK' });
      assert.equal(ack.callId, call.callId);

      // Still refreshing half an interval after that 200.
      const again = await peer.expect((m) => m.method === 'INVITE' && m.callId === call.callId, { timeout: 4000, what: 'the next refresh' });
      assert.ok(again.cseq > reinvite.cseq);
      peer.send(peer.response(again, 200, { headers: { 'Session-Expires': '2;refresher=uac' }, body: SDP(6000) }));
      await peer.expect((m) => m.method === 'ACK' && m.cseq === again.cseq, { what: 'the second engine ACK' });
      assert.deepEqual(events, [], 'the app heard nothing of the refreshes');

      const destroyed = once(dialog, 'destroy');
      peer.send(call.request('BYE'));
      await peer.expect((m) => m.status === 200 && m.cseqMethod === 'BYE', { what: 'the 200 to BYE' });
      const [, reason] = await destroyed;
      assert.equal(reason, 'normal release');
    });
  });

  test(`${kind}: an offer below Min-SE gets 422 with our Min-SE, and the app never sees it`, { timeout: 20000 }, async () => {
    let calls = 0;
    const app = await startApp(kind, { session: { minSE: 5 }, setup: (srf) => srf.invite((req, res) => { calls += 1; res.send(486); }) });
    const peer = await SipPeer.udp(app.addr);
    try {
      const call = peer.call();
      peer.send(call.request('INVITE', { headers: { 'Session-Expires': '2' }, body: SDP(6000) }));
      const res = await peer.expect((m) => m.status >= 200 && m.callId === call.callId, { what: 'the 422' });
      assert.equal(res.status, 422);
      assert.equal(res.reason, 'Session Interval Too Small');
      assert.equal(res.get('min-se'), '5');
      assert.equal(calls, 0);
    } finally {
      peer.close();
      await app.close();
    }
  });

  test(`${kind}: createUAC: the 200 names the far end refresher; it never refreshes: BYE with the Reason, destroy 'Session timer expired'`, { timeout: 20000 }, async () => {
    const app = await startApp(kind, { session: SESSION });
    const peer = await SipPeer.udp(app.addr);
    try {
      const uac = app.srf.createUAC(`sip:callee@${peer.hostport}`, { localSdp: SDP(5000) });
      const invite = await peer.expect((m) => m.method === 'INVITE', { what: 'the INVITE' });
      peer.send(peer.response(invite, 200, { toTag: 'callee', headers: { 'Session-Expires': '2;refresher=uas', Require: 'timer' }, body: SDP(6000) }));
      const dialog = await uac;
      await peer.expect((m) => m.method === 'ACK' && m.callId === invite.callId, { what: "the app's ACK" });
      const acked = Date.now();
      const destroyed = once(dialog, 'destroy');
      const bye = await peer.expect((m) => m.method === 'BYE' && m.callId === invite.callId, { timeout: 6000, what: 'the BYE' });
      const after = Date.now() - acked;
      assert.ok(after >= 1700, `the BYE came at the end of the interval (${after} ms)`);
      assert.equal(bye.get('reason'), REASON);
      assert.equal(bye.tag('to'), 'callee');
      peer.send(peer.response(bye, 200));
      const [, reason] = await destroyed;
      assert.equal(reason, 'Session timer expired');
    } finally {
      peer.close();
      await app.close();
    }
    assert.deepEqual(app.errors.map(String), []);
  });
}
