// drachtio-srf 5.0.29's integration tests "UAS" and "reinvite tests" (../shared/traces/suite/
// uas.trace, reinvite-tests.trace, sip/uas/*.msg, sip/reinvite-tests/*.msg) re-enacted against
// OUR Srf on the embedded engine and on `drachtio-rs serve`: SIPp is the caller
// (scenarios/suite-uac-*.xml, cov-uac-no-ack.xml, SIPp's built-in uac), the app answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS } from '../helpers/backends.mjs';
import { requireSipp } from '../helpers/sipp.mjs';
import { sharedDir } from '../helpers/shared.mjs';
import { assertSipp, withApp, sippUac, scenario, sippMessages, header, SDP, deferred } from '../helpers/suite-apps.mjs';

const suite = sharedDir('traces/suite');
const T = { timeout: 45000 };

function ready(t) {
  if (suite.skip) { t.skip(suite.skip); return false; }
  return requireSipp(t);
}

/** An app set up by `setup(srf, seen)`, one SIPp caller run of `args`; resolves { r, seen }. */
async function callApp(kind, setup, args, { appOpts = {}, after } = {}) {
  const seen = { done: deferred(15000, 'the app\'s part of the scenario') };
  let r;
  const app = await withApp(kind, { ...appOpts, setup: (srf) => setup(srf, seen) }, async (a) => {
    r = await sippUac([...args, '-m', '1', '-s', 'service'], a.addr);
    await seen.done;
    if (after) await after(a, seen);
  });
  assert.deepEqual(app.errors.map(String), [], 'the Srf emitted no error');
  return { r, seen };
}

for (const kind of BACKENDS) {
  test(`${kind}: uas conn 1: the app rejects the INVITE with 503 (uac-expect-503)`, T, async (t) => {
    if (!ready(t)) return;
    const { r } = await callApp(kind, (srf, seen) => srf.invite((req, res) => { res.send(503); seen.done.resolve(); }),
      ['-sf', scenario('suite-uac-expect-503.xml')]);
    assertSipp(r);
  });

  for (const [label, answer] of [
    ['conn 2: createUAS (Promise) with opts.localSdp', (srf, req, res, sdp) => srf.createUAS(req, res, { localSdp: sdp })],
    ['conn 3: createUAS with a callback', (srf, req, res, sdp) => new Promise((ok, ko) => srf.createUAS(req, res, { localSdp: sdp }, (e, d) => (e ? ko(e) : ok(d))))],
    ['conn 4: createUAS with opts.body', (srf, req, res, sdp) => srf.createUAS(req, res, { body: sdp })],
  ]) {
    test(`${kind}: uas ${label}: 200 with the offer's SDP on port 15000, ACK, BYE from the caller (uac.xml)`, T, async (t) => {
      if (!ready(t)) return;
      const { r, seen } = await callApp(kind, (srf, seen) => srf.invite(async (req, res) => {
        const dialog = await answer(srf, req, res, req.body.replace(/m=audio \d+/, 'm=audio 15000'));
        seen.remoteSdp = dialog.remote.sdp;
        dialog.on('destroy', (bye) => { seen.bye = bye.method; seen.done.resolve(); });
      }), ['-sn', 'uac']);
      assertSipp(r);
      assert.equal(seen.bye, 'BYE');
      assert.match(seen.remoteSdp, /^m=audio \d+ RTP/m);
      const ok = sippMessages(r.messages, 'received').find((m) => /^SIP\/2\.0 200/.test(m) && /INVITE/.test(header(m, 'CSeq')));
      assert.match(ok, /^m=audio 15000 /m);
    });
  }

  test(`${kind}: uas conn 5: the caller never ACKs the 200 (uac-drop-all-200, T1 = 50 ms): BYE with Reason, 'destroy' with reason 'ACK timeout'`, T, async (t) => {
    if (!ready(t)) return;
    const { r, seen } = await callApp(kind, (srf, seen) => srf.invite(async (req, res) => {
      const dialog = await srf.createUAS(req, res, { localSdp: SDP(15002) });
      dialog.on('destroy', (msg, reason) => { seen.reason = reason; seen.done.resolve(); });
    }), ['-sf', scenario('cov-uac-no-ack.xml')], { appOpts: { timers: { t1: 50, t2: 400 } } });
    assertSipp(r);
    assert.equal(seen.reason, 'ACK timeout');
    const bye = sippMessages(r.messages, 'received').find((m) => /^BYE /.test(m));
    assert.match(header(bye, 'Reason') || '', /^SIP;cause=200;text="ACK timeout"$/, bye);
  });

  test(`${kind}: uas conn 6: SUBSCRIBE answered with createUAS; NOTIFY active then terminated; subscriptions 1 -> 0 (uac-subscribe)`, T, async (t) => {
    if (!ready(t)) return;
    const { r, seen } = await callApp(kind, (srf, seen) => srf.subscribe(async (req, res) => {
      try {
        const dialog = await srf.createUAS(req, res, { headers: { Expires: req.get('Expires') } });
        seen.type = dialog.dialogType;
        seen.counts = [dialog.getCountOfSubscriptions()];
        await dialog.request({ method: 'NOTIFY', headers: { 'Subscription-State': 'active', Event: 'presence' } });
        const res2 = await dialog.request({ method: 'NOTIFY', headers: { 'Subscription-State': 'terminated', Event: 'presence' } });
        seen.lastStatus = res2.status;
        seen.counts.push(dialog.getCountOfSubscriptions());
        seen.done.resolve();
      } catch (err) { seen.done.reject(err); }
    }), ['-sf', scenario('suite-uac-subscribe.xml')]);
    assertSipp(r);
    assert.deepEqual(seen, { ...seen, type: 'SUBSCRIBE', counts: [1, 0], lastStatus: 200 });
  });

  test(`${kind}: reinvite tests: a re-INVITE without SDP answered 200 with SDP; on its ACK (with the answer) the app sends BYE (uac-send-reinvite-no-sdp)`, T, async (t) => {
    if (!ready(t)) return;
    const { r, seen } = await callApp(kind, (srf, seen) => srf.invite(async (req, res) => {
      const dialog = await srf.createUAS(req, res, { localSdp: SDP(15004) });
      dialog.on('modify', (reinvite, r2) => {
        seen.reinviteBody = reinvite.body;
        r2.send(200, { body: SDP(15006) }, () => {}, (ack) => {
          seen.ackBody = ack.body;
          dialog.destroy().then(() => seen.done.resolve(), seen.done.reject);
        });
      });
    }), ['-sf', scenario('suite-uac-send-reinvite-no-sdp.xml')]);
    assertSipp(r);
    assert.ok(!seen.reinviteBody, 'the re-INVITE had no SDP');
    assert.match(seen.ackBody || '', /s=reanswer/);
    const reok = sippMessages(r.messages, 'received').filter((m) => /^SIP\/2\.0 200/.test(m) && /INVITE/.test(header(m, 'CSeq')))[1];
    assert.match(reok, /^m=audio 15006 /m);
  });
}
