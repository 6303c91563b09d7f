// SIPp as the far end for what sip-coverage.test.mjs shows with raw sockets, for both backends
// (the app on its embedded engine, and the same app on `drachtio-rs serve`): 100rel/PRACK both
// ways, re-INVITE both ways and a BYE from the UAS side, CANCEL over TCP, and ACK timeout -> BYE.
// The scenarios (scenarios/cov-*.xml, uac-cancel.xml) check the wire (CSeq, RSeq/RAck, tags,
// Reason); each test checks SIPp's result and what the app saw. 'error' events fail the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SDP, waitFor } from '../helpers/embedded.mjs';
import { BACKENDS, startApp } from '../helpers/backends.mjs';
import { requireSipp, runSipp, startSippUas, scenario } from '../helpers/sipp.mjs';

const assertAllPassed = (r, calls) => {
  assert.equal(r.code, 0, r.summary());
  assert.equal(r.stats.successful, calls, r.summary());
  assert.equal(r.stats.failed, 0, r.summary());
};

async function withApp(kind, opts, body) {
  const app = await startApp(kind, opts);
  try {
    await body(app);
  } finally {
    await app.close();
  }
  assert.deepEqual(app.errors.map(String), [], 'the Srf emitted no error');
}

for (const kind of BACKENDS) {
  test(`${kind}: a SIPp caller with 100rel (cov-uac-100rel.xml): reliable 183, PRACK answered, then 200, ACK, BYE`, { timeout: 40000 }, async (t) => {
    if (!requireSipp(t)) return;
    const seen = { invites: 0, racks: [], answered: 0, hangups: 0 };
    const pending = new Map();
    await withApp(kind, {
      setup: (srf) => {
        srf.invite((req, res) => {
          seen.invites++;
          pending.set(req.get('call-id'), [req, res]);
          res.send(183, { headers: { Require: '100rel' }, body: SDP(4000) });
        });
        // The INVITE's 200 only after the PRACK's: the scenario expects them in that order.
        srf.prack((req, res) => {
          seen.racks.push(req.get('rack'));
          const [invite, inviteRes] = pending.get(req.get('call-id'));
          res.send(200, {}, () => srf.createUAS(invite, inviteRes, { localSdp: SDP(4000) }).then((dialog) => {
            seen.answered++;
            dialog.on('destroy', () => { seen.hangups++; });
          }));
        });
      },
    }, async (app) => {
      const r = await runSipp(['-sf', scenario('cov-uac-100rel.xml'), app.addr, '-m', '3', '-r', '10', '-l', '3'], { timeoutMs: 25000 });
      assertAllPassed(r, 3);
      await waitFor(() => seen.hangups === 3, 5000);
      assert.equal(seen.invites, 3);
      assert.equal(seen.answered, 3);
      assert.equal(seen.racks.length, 3);
      for (const rack of seen.racks) assert.match(rack, /^\d+ 1 INVITE$/);
    });
  });

  test(`${kind}: our Srf calls a SIPp callee that sends a reliable 180 (cov-uas-100rel.xml): PRACK with RAck "7 <cseq> INVITE"`, { timeout: 40000 }, async (t) => {
    if (!requireSipp(t)) return;
    await withApp(kind, {}, async (app) => {
      const uas = await startSippUas(['-sf', scenario('cov-uas-100rel.xml'), '-m', '3'], { timeoutMs: 25000 });
      try {
        for (let i = 0; i < 3; i++) {
          const provisional = [];
          const dialog = await app.srf.createUAC(`sip:callee@127.0.0.1:${uas.port}`, { localSdp: SDP(6000 + 2 * i), headers: { Supported: '100rel' } },
            { cbProvisional: (res) => provisional.push(`${res.status} ${res.get('rseq')}`) });
          assert.deepEqual(provisional, ['180 7']);
          assert.match(dialog.remote.sdp, /s=reliable/);
          await dialog.destroy();
        }
        assertAllPassed(await uas.done, 3);
      } finally {
        if (uas.child.exitCode === null) uas.child.kill();
      }
    });
  });

  test(`${kind}: re-INVITE both ways, then our BYE (cov-uac-reinvite.xml)`, { timeout: 40000 }, async (t) => {
    if (!requireSipp(t)) return;
    const seen = { modified: 0, ours: 0, hangups: 0 };
    await withApp(kind, {
      setup: (srf) => srf.invite(async (req, res) => {
        const dialog = await srf.createUAS(req, res, { localSdp: SDP(4000) });
        dialog.on('destroy', () => { seen.theirBye = true; });
        dialog.on('modify', (reinvite, r) => {
          if (/s=second/.test(reinvite.body)) seen.modified++;
          // Our own re-INVITE once theirs is ACKed (no glare).
          r.send(200, { body: SDP(4001) }, () => {}, () => {
            dialog.modify(SDP(4002)).then((sdp) => {
              if (/s=third/.test(sdp)) seen.ours++;
              return dialog.destroy();
            }).then(() => { seen.hangups++; }, (err) => { seen.failure = err.message; });
          });
        });
      }),
    }, async (app) => {
      const r = await runSipp(['-sf', scenario('cov-uac-reinvite.xml'), app.addr, '-m', '3', '-r', '10', '-l', '3'], { timeoutMs: 25000 });
      assertAllPassed(r, 3);
      await waitFor(() => seen.hangups === 3, 5000);
      assert.deepEqual(seen, { modified: 3, ours: 3, hangups: 3 });
    });
  });

  test(`${kind}: CANCEL over TCP (uac-cancel.xml -t t1): 200 for the CANCEL, 487 for the INVITE`, { timeout: 40000 }, async (t) => {
    if (!requireSipp(t)) return;
    const seen = { invites: 0, cancels: 0 };
    await withApp(kind, {
      transport: 'tcp',
      setup: (srf) => srf.invite((req, res) => {
        seen.invites++;
        req.on('cancel', () => { seen.cancels++; });
        res.send(180);
      }),
    }, async (app) => {
      const r = await runSipp(['-sf', scenario('uac-cancel.xml'), app.addr, '-t', 't1', '-m', '5', '-r', '10'], { timeoutMs: 25000 });
      assertAllPassed(r, 5);
      await waitFor(() => seen.cancels === 5, 5000);
      assert.deepEqual(seen, { invites: 5, cancels: 5 });
    });
  });

  test(`${kind}: a 200 never ACKed (cov-uac-no-ack.xml, T1 = 50 ms): BYE with a Reason after 64*T1; the app's dialog gets 'destroy'`, { timeout: 40000 }, async (t) => {
    if (!requireSipp(t)) return;
    let destroyed = 0;
    await withApp(kind, {
      timers: { t1: 50, t2: 400 },
      setup: (srf) => srf.invite(async (req, res) => {
        const dialog = await srf.createUAS(req, res, { localSdp: SDP(4000) });
        dialog.on('destroy', () => { destroyed++; });
      }),
    }, async (app) => {
      const r = await runSipp(['-sf', scenario('cov-uac-no-ack.xml'), app.addr, '-m', '2', '-r', '10', '-l', '2'], { timeoutMs: 25000 });
      assertAllPassed(r, 2);
      await waitFor(() => destroyed === 2, 5000);
    });
  });
}
