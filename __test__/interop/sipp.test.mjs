// Interop with SIPp, the de-facto SIP traffic generator: its built-in uac/uas scenarios and a
// few of our own (scenarios/*.xml) against the embedded engine, on loopback only.
//
// Each test starts its own Srf on a port the OS picks, runs SIPp with a call limit (-m), SIPp's
// own -timeout and a hard kill behind it (helpers/sipp.mjs), and disconnects the Srf at the
// end. Without sipp installed every test is skipped with the reason, except under CI=true where
// they fail. SIPP_TRACE_MSG=1 keeps a -trace_msg log of each run in a temp dir (path printed on
// failure).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { embeddedSrf, waitFor } from '../helpers/embedded.mjs';
import { requireSipp, runSipp, startSippUas, scenario } from '../helpers/sipp.mjs';

const require = createRequire(import.meta.url);
const { install, sdp } = require('../../examples/uas-app.js');

/** The example app on an embedded engine, counting what its log says. */
async function exampleApp({ transport = 'udp', timers } = {}) {
  const seen = { invites: 0, answered: 0, hangups: 0, unanswered: [], options: 0 };
  const app = await embeddedSrf({
    transport,
    timers,
    setup: (srf) => {
      srf.use('options', (req, res, next) => { seen.options++; next(); });
      install(srf, (line) => {
        if (line.startsWith('app: INVITE from')) seen.invites++;
        else if (/^app: call .* answered$/.test(line)) seen.answered++;
        else if (line === 'app: caller hung up') seen.hangups++;
        else if (line.startsWith('app: call not answered')) seen.unanswered.push(line);
      });
    },
  });
  return { ...app, seen };
}

const assertAllPassed = (r, calls) => {
  assert.equal(r.code, 0, r.summary());
  assert.equal(r.stats.successful, calls, r.summary());
  assert.equal(r.stats.failed, 0, r.summary());
};

for (const transport of ['udp', 'tcp']) {
  test(`sipp -sn uac (20 calls, 10/s) over ${transport.toUpperCase()} to the example app`, { timeout: 30000 }, async (t) => {
    if (!requireSipp(t)) return;
    const app = await exampleApp({ transport });
    try {
      const r = await runSipp(['-sn', 'uac', app.addr, '-t', transport === 'tcp' ? 't1' : 'u1', '-m', '20', '-r', '10', '-l', '20'], { timeoutMs: 20000 });
      assertAllPassed(r, 20);
      await waitFor(() => app.seen.hangups === 20, 3000).catch(() => {});
      assert.deepEqual(app.seen, { invites: 20, answered: 20, hangups: 20, unanswered: [], options: 0 });
    } finally {
      app.srf.disconnect();
    }
  });
}

test('our Srf as UAC to sipp -sn uas: 10 calls, createUAC then destroy', { timeout: 30000 }, async (t) => {
  if (!requireSipp(t)) return;
  const uas = await startSippUas(['-sn', 'uas', '-m', '10'], { timeoutMs: 20000 });
  const caller = await embeddedSrf();
  try {
    for (let i = 0; i < 10; i++) {
      const dialog = await caller.srf.createUAC(`sip:service@127.0.0.1:${uas.port}`, { localSdp: sdp(50000 + 2 * i) });
      assert.match(dialog.remote.sdp, /^v=0/m, `call ${i}: the 200 carried sipp's SDP`);
      await dialog.destroy();
    }
    const r = await uas.done;
    assertAllPassed(r, 10);
  } finally {
    caller.srf.disconnect();
    if (uas.child.exitCode === null) uas.child.kill();
  }
});

test('CANCEL while ringing (scenarios/uac-cancel.xml): 200 to the CANCEL, 487 to the INVITE, 5 calls', { timeout: 30000 }, async (t) => {
  if (!requireSipp(t)) return;
  const seen = { invites: 0, cancels: 0 };
  const app = await embeddedSrf({
    setup: (srf) => srf.invite((req, res) => {
      seen.invites++;
      req.on('cancel', () => { seen.cancels++; });
      res.send(180);
    }),
  });
  try {
    const r = await runSipp(['-sf', scenario('uac-cancel.xml'), app.addr, '-m', '5', '-r', '10'], { timeoutMs: 20000 });
    assertAllPassed(r, 5);
    await waitFor(() => seen.cancels === 5, 3000).catch(() => {});
    assert.deepEqual(seen, { invites: 5, cancels: 5 });
  } finally {
    app.srf.disconnect();
  }
});

// SIPp drops 10 % of the messages it sends and of those it receives (-lost 10); its seed is
// not settable, so which ones differs from run to run. The test is still deterministic in
// practice because both sides retransmit enough:
//  - the INVITE: SIPp retransmits it (retrans=500, 5 times by default) until any response, and
//    once the engine has it, it retransmits the 200 itself (T1 = 100 ms, to 64×T1) and answers
//    every INVITE retransmission with the last response: a lost INVITE or 200 costs ~1e-5;
//  - the ACK is not retransmitted by SIPp, but a lost ACK does not fail the call: the BYE that
//    follows at once ends the dialog and with it the 200 retransmissions;
//  - the BYE: SIPp sends it up to 8 times; each try fails only if the BYE or its 200 is lost
//    (p = 0.19), and the engine answers retransmitted BYEs from its transaction:
//    0.19^8 ≈ 2e-6 per call.
// So all 20 calls must succeed, and no call may be left open on either side.
test('10 % packet loss (sipp -sn uac -lost 10, engine T1 = 100 ms): all 20 calls complete through retransmissions', { timeout: 45000 }, async (t) => {
  if (!requireSipp(t)) return;
  const app = await exampleApp({ timers: { t1: 100, t2: 800 } });
  try {
    const r = await runSipp(['-sn', 'uac', app.addr, '-m', '20', '-r', '10', '-l', '20', '-lost', '10'], { timeoutMs: 35000 });
    assertAllPassed(r, 20);
    await waitFor(() => app.seen.hangups === 20, 3000).catch(() => {});
    assert.equal(app.seen.invites, 20, 'each call reached the app once: retransmitted INVITEs were absorbed');
    assert.equal(app.seen.answered, 20);
    assert.equal(app.seen.hangups, 20, 'every dialog ended with its BYE');
    assert.deepEqual(app.seen.unanswered, []);
  } finally {
    app.srf.disconnect();
  }
});

test('malformed requests (scenarios/options-malformed.xml) get 400 from the engine; a valid OPTIONS still gets 200', { timeout: 30000 }, async (t) => {
  if (!requireSipp(t)) return;
  let options = 0;
  const app = await embeddedSrf({ setup: (srf) => srf.options((req, res) => { options++; res.send(200); }) });
  try {
    const r = await runSipp(['-sf', scenario('options-malformed.xml'), app.addr, '-m', '1'], { timeoutMs: 15000 });
    assertAllPassed(r, 1);
    assert.equal(options, 1, 'only the valid OPTIONS reached the app');
  } finally {
    app.srf.disconnect();
  }
});

test('OPTIONS ping from sipp (scenarios/options-ping.xml) gets the app\'s 200', { timeout: 30000 }, async (t) => {
  if (!requireSipp(t)) return;
  const app = await exampleApp();
  try {
    const r = await runSipp(['-sf', scenario('options-ping.xml'), app.addr, '-m', '5', '-r', '10'], { timeoutMs: 15000 });
    assertAllPassed(r, 5);
    assert.equal(app.seen.options, 5);
  } finally {
    app.srf.disconnect();
  }
});
