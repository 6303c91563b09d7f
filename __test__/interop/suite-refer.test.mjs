// drachtio-srf 5.0.29's integration test "REFER tests" (../shared/traces/suite/refer.trace,
// sip/refer/*.msg) re-enacted against OUR Srf, both apps on the embedded engine or both on
// `drachtio-rs serve`: a B2BUA app sends every INVITE to a second app that answers with
// createUAS (echoing the SDP). Two SIPp callers (suite-uac-recv-reinvite.xml) call the B2BUA.
// Once both calls are up, the second app sends a REFER in the second call's dialog whose
// Refer-To carries a Replaces naming the first call's B leg. The B2BUA answers 202, finds that
// call, re-INVITEs both A legs with each other's SDP, then hangs up everything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startApp } from '../helpers/backends.mjs';
import { requireSipp, freePort } from '../helpers/sipp.mjs';
import { sharedDir } from '../helpers/shared.mjs';
import { assertSipp, sippUac, scenario, sippMessages, header, deferred } from '../helpers/suite-apps.mjs';

const suite = sharedDir('traces/suite');

for (const kind of BACKENDS) {
  test(`${kind}: refer: REFER with Replaces from the far app; the B2BUA re-INVITEs both A legs with each other's SDP, then BYE`, { timeout: 45000 }, async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    if (!requireSipp(t)) return;
    const seen = { done: deferred(20000, 'the REFER handling'), referStatus: null, replaces: null };
    const calls = [];
    const uasDialogs = [];
    const bothUp = deferred(15000, 'both calls up');
    // Both calls are up once each app holds both of its dialogs: the B2BUA's createB2BUA can
    // resolve before the far app's createUAS has, as the 200 reaches the B2BUA first.
    const checkBothUp = () => { if (calls.length === 2 && uasDialogs.length === 2) bothUp.resolve(); };
    let second;
    const far = await startApp(kind, {
      setup: (srf) => srf.invite(async (req, res) => {
        try {
          const dialog = await srf.createUAS(req, res, { localSdp: req.body });
          uasDialogs.push(dialog);
          checkBothUp();
        } catch (err) { bothUp.reject(err); }
      }),
    });
    let sut;
    try {
      sut = await startApp(kind, {
        setup: (srf) => srf.invite(async (req, res) => {
          try {
            const call = await srf.createB2BUA(req, res, `sip:far@${far.addr}`);
            calls.push(call);
            call.uac.on('refer', async (refer, referRes) => {
              try {
                referRes.send(202);
                const m = /Replaces=([^>]*)/.exec(refer.get('Refer-To'));
                const [callId, ...params] = decodeURIComponent(m[1]).split(';');
                seen.replaces = { callId, params };
                const other = calls.find((c) => c.uac.sip.callId === callId);
                assert.ok(other && other !== call, 'Replaces names the other call\'s B leg');
                const [sdpA1, sdpA2] = [other.uas.remote.sdp, call.uas.remote.sdp];
                await Promise.all([other.uas.modify(sdpA2), call.uas.modify(sdpA1)]);
                await Promise.all([other.uas, call.uas, other.uac, call.uac].map((d) => d.destroy()));
                seen.done.resolve();
              } catch (err) { seen.done.reject(err); }
            });
            checkBothUp();
          } catch (err) {
            // A leg that failed to come up fails the wait for both with its own reason.
            bothUp.reject(err);
            seen.done.reject(err);
          }
        }),
      });
      // Distinct media ports (-mp), so each caller's offer is recognisable in the other's re-INVITE.
      const mp = [await freePort(), await freePort()];
      const runs = mp.map((port) => sippUac(['-sf', scenario('suite-uac-recv-reinvite.xml'), '-m', '1', '-s', 'service', '-mp', String(port)], sut.addr));
      await bothUp;
      // The REFER, in the dialog of the call answered second, replacing the first one's B leg.
      [, second] = uasDialogs;
      const first = uasDialogs[0];
      const replaces = `${first.sip.callId};to-tag=${first.sip.localTag};from-tag=${first.sip.remoteTag}`;
      const referRes = await second.request({ method: 'REFER', headers: {
        'Refer-To': `<sip:transfer@${far.addr}?Replaces=${encodeURIComponent(replaces)}>`, 'Referred-By': `<sip:far@${far.addr}>` } });
      seen.referStatus = referRes.status;
      await seen.done;
      const [r1, r2] = await Promise.all(runs);
      assertSipp(r1);
      assertSipp(r2);
      assert.equal(seen.referStatus, 202);
      assert.equal(seen.replaces.callId, first.sip.callId);
      // Each caller's re-INVITE carries the other caller's SDP (SIPp's o= line names its port).
      for (const [mine, theirs] of [[r1, r2], [r2, r1]]) {
        const reinvite = sippMessages(mine.messages, 'received').filter((m) => /^INVITE /.test(m))[0];
        const theirOffer = sippMessages(theirs.messages, 'sent').find((m) => /^INVITE /.test(m));
        assert.ok(reinvite, 'the caller got a re-INVITE');
        assert.equal(header(theirOffer, 'Call-ID') !== header(reinvite, 'Call-ID'), true);
        const port = (/m=audio (\d+)/.exec(theirOffer) || [])[1];
        assert.ok(port && port !== (/m=audio (\d+)/.exec(sippMessages(mine.messages, 'sent')[0]) || [])[1], 'the two callers offered different ports');
        assert.equal((/m=audio (\d+)/.exec(reinvite) || [])[1], port, reinvite);
      }
    } finally {
      if (sut) await sut.close();
      await far.close();
    }
    assert.deepEqual([...far.errors, ...(sut ? sut.errors : [])].map(String), [], 'no Srf emitted an error');
  });
}
