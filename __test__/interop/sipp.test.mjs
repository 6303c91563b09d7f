// Interop with SIPp, the de-facto SIP traffic generator: its built-in uac/uas scenarios and a
// few of our own (scenarios/*.xml) against the embedded engine, on loopback only.
//
// Each test starts its own Srf on a port the OS picks, runs SIPp with a call limit (-m), SIPp's
// own -timeout and a hard kill behind it (helpers/sipp.mjs), and disconnects the Srf at the
// end. Without sipp installed every test is skipped with the reason, except on CI (CI set to anything) where
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
async function exampleApp({ transport = 'udp', timers, setup } = {}) {
  const seen = { invites: 0, answered: 0, hangups: 0, unanswered: [], options: 0 };
  const app = await embeddedSrf({
    transport,
    timers,
    setup: (srf) => {
      if (setup) setup(srf);
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

// The calls below last 50 ms (-d 50, or a pause in our XML), like real calls; the instant-BYE
// case (BYE within ~100 µs of the ACK) is the busy-app test at the end of this file.
for (const transport of ['udp', 'tcp']) {
  test(`sipp -sn uac (20 calls, 10/s) over ${transport.toUpperCase()} to the example app`, { timeout: 30000 }, async (t) => {
    if (!requireSipp(t)) return;
    const app = await exampleApp({ transport });
    try {
      const r = await runSipp(['-sn', 'uac', app.addr, '-t', transport === 'tcp' ? 't1' : 'u1', '-m', '20', '-r', '10', '-l', '20', '-d', '50'], { timeoutMs: 20000 });
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

// SIPp drops 10 % of the messages it sends and of those it receives (-lost 10). Its seed can
// not be set, so which ones differs from run to run; the test is deterministic in practice
// because both sides retransmit enough:
//  - the INVITE: SIPp retransmits it (every 500 ms, doubling, 5 times by default) until any
//    response; once the engine has it, it retransmits the 200 on its own (T1 = 100 ms, up to
//    64×T1) and answers INVITE retransmissions with its last response: a call is lost here
//    only if 6 INVITEs in a row are dropped, ~1e-6;
//  - the ACK: a lost ACK leaves the 200 retransmitting; SIPp ACKs each copy again (its own
//    retransmission detection during the 50 ms pause, our XML's "reack" branch after the BYE);
//  - the BYE: sent up to 8 times (-max_non_invite_retrans default 7); a try fails only if the
//    BYE or its 200 is dropped (p = 0.19), and the engine answers retransmitted BYEs from its
//    transaction: 0.19^8 ≈ 2e-6 per call.
// SIPp's built-in uac is not used: with ACK and BYE both lost it takes a retransmitted 200 to
// the INVITE for the 200 to the BYE (its CSeq check accepts any method sent in the call) and
// reports a call as successful that the engine never saw end. scenarios/uac-lossy.xml matches
// each response to its own transaction instead (see the comment there).
// So all 20 calls must succeed, and every dialog must end on both sides.
test('10 % packet loss (scenarios/uac-lossy.xml with -lost 10, engine T1 = 100 ms): all 20 calls complete through retransmissions', { timeout: 45000 }, async (t) => {
  if (!requireSipp(t)) return;
  const app = await exampleApp({ timers: { t1: 100, t2: 800 } });
  try {
    const r = await runSipp(['-sf', scenario('uac-lossy.xml'), app.addr, '-m', '20', '-r', '10', '-l', '20', '-lost', '10'], { timeoutMs: 35000 });
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

// A busy app: the batch of events holding the 200's send confirmation can also hold that
// call's ACK and BYE. createUAS registers its Dialog synchronously when the 200 is confirmed,
// and dialogs handle requests on the next macrotask, so the BYE still finds the Dialog and the
// app's 'destroy' listener (attached after `await createUAS`) still hears it.
test('a busy app: the BYE right after the ACK still reaches the Dialog (sipp -sn uac, 200 calls at 200/s)', {
  timeout: 30000,
}, async (t) => {
  if (!requireSipp(t)) return;
  const app = await exampleApp({
    setup: (srf) => srf.use('invite', (req, res, next) => {
      next();
      const end = Date.now() + 8; // the app's own work for each call
      while (Date.now() < end);
    }),
  });
  try {
    const r = await runSipp(['-sn', 'uac', app.addr, '-m', '200', '-r', '200', '-l', '200'], { timeoutMs: 25000 });
    await waitFor(() => app.seen.hangups === 200, 3000).catch(() => {});
    assert.equal(app.seen.answered, 200);
    assert.equal(app.seen.hangups, 200, 'every Dialog saw its BYE');
    assert.equal(app.srf._dialogs.size, 0, 'no Dialog left behind');
    assertAllPassed(r, 200);
  } finally {
    app.srf.disconnect();
  }
});
