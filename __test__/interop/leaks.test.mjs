// Leaks: 10,000 short calls through each dialog recipe (createUAS, createUAC, createB2BUA) and
// through the proxy (proxyRequest with recordRoute) on the embedded engine, with sipp at the far
// ends; afterwards every count the Srf and its engine keep (srf.stats(): dialogs, transactions,
// proxy transactions, pending requests and waiters) is back to zero.
// Short timers (T1 100 ms, T4 100 ms) so absorbing transactions end within ~6.4 s; where the app
// is the one sending requests, T1 keeps its default (a BYE sipp answers late under this load
// is then not retransmitted into a call sipp has already ended) and T4 alone is short.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SDP, Srf, embeddedSrf, waitFor } from '../helpers/embedded.mjs';
import { requireSipp, runSipp, startSippUas } from '../helpers/sipp.mjs';

const CALLS = 10_000;
const TIMERS = { t1: 100, t2: 400, t4: 100 };
const SENDING_TIMERS = { t4: 100 };
const ZERO = { dialogs: 0, pendingInvites: 0, sentRequests: 0, ackWaiters: 0, engine: { dialogs: 0, serverTransactions: 0, clientTransactions: 0, pendingRequests: 0, proxyTransactions: 0 }, sessionStore: null };

/** Polls srf.stats() until every count is zero, or fails with the last counts. */
async function drained(srf, ms = 20000) {
  const end = Date.now() + ms;
  let stats;
  while (Date.now() < end) {
    stats = await srf.stats();
    // A session store's counters only grow; what it holds is checked on the store itself.
    if (srf.sessionStore) stats.sessionStore = null;
    if (JSON.stringify(stats) === JSON.stringify(ZERO)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(stats, ZERO, 'everything the Srf and its engine held is released');
}

function withErrorsRecorded(srf) {
  const errors = [];
  srf.on('error', (e) => errors.push(e.message));
  return errors;
}

test(`createUAS: ${CALLS} calls from sipp, then nothing held`, { timeout: 120000 }, async (t) => {
  if (!requireSipp(t)) return;
  let destroyed = 0;
  const app = await embeddedSrf({ timers: TIMERS, setup: (srf) => srf.invite(async (req, res) => {
    const d = await srf.createUAS(req, res, { localSdp: SDP(4000) });
    d.on('destroy', () => { destroyed++; });
  }) });
  const errors = withErrorsRecorded(app.srf);
  try {
    const r = await runSipp(['-sn', 'uac', app.addr, '-m', String(CALLS), '-r', '1000', '-l', '500'], { timeoutMs: 90000 });
    assert.equal(r.stats.successful, CALLS, r.summary());
    // The engine answers each BYE itself and tells the app after: sipp can end before the app
    // has heard the last ones. A drained Srf holds no dialog, so every 'destroy' was emitted.
    await drained(app.srf);
    assert.equal(destroyed, CALLS);
    assert.deepEqual(errors, []);
  } finally {
    app.srf.disconnect();
  }
});

test('a session store: 2000 createUAS calls from sipp, then no record left in it and nothing held', { timeout: 120000 }, async (t) => {
  if (!requireSipp(t)) return;
  const store = new Srf.MemoryStore();
  const app = await embeddedSrf({ timers: TIMERS, setup: (srf) => {
    srf.sessionStore = store;
    srf.invite((req, res) => srf.createUAS(req, res, { localSdp: SDP(4000) }));
  } });
  const errors = withErrorsRecorded(app.srf);
  try {
    const r = await runSipp(['-sn', 'uac', app.addr, '-m', '2000', '-r', '500', '-l', '500'], { timeoutMs: 90000 });
    assert.equal(r.stats.successful, 2000, r.summary());
    await drained(app.srf);
    const { sessionStore } = await app.srf.stats();
    assert.ok(sessionStore.writes >= 2000 && sessionStore.failedWrites === 0, JSON.stringify(sessionStore));
    assert.equal(store.size, 0, 'every dialog removed from the store when it ended');
    assert.deepEqual(errors, []);
  } finally {
    app.srf.disconnect();
  }
});

test(`createUAC: ${CALLS} calls to sipp, then nothing held`, { timeout: 120000 }, async (t) => {
  if (!requireSipp(t)) return;
  const uas = await startSippUas(['-sn', 'uas', '-m', String(CALLS)], { timeoutMs: 90000 });
  const app = await embeddedSrf({ timers: SENDING_TIMERS });
  const errors = withErrorsRecorded(app.srf);
  try {
    let next = 0;
    const worker = async () => {
      while (next < CALLS) {
        next++;
        const dialog = await app.srf.createUAC(`sip:service@127.0.0.1:${uas.port}`, { localSdp: SDP(5000) });
        await dialog.destroy();
      }
    };
    await Promise.all(Array.from({ length: 50 }, worker));
    const r = await uas.done;
    assert.equal(r.stats.successful, CALLS, r.summary());
    await drained(app.srf);
    assert.deepEqual(errors, []);
  } finally {
    app.srf.disconnect();
    if (uas.child.exitCode === null) uas.child.kill();
  }
});

test(`createB2BUA: ${CALLS} calls from sipp through to sipp, then nothing held`, { timeout: 150000 }, async (t) => {
  if (!requireSipp(t)) return;
  const uas = await startSippUas(['-sn', 'uas', '-m', String(CALLS)], { timeoutMs: 120000 });
  const app = await embeddedSrf({ timers: TIMERS, setup: (srf) => srf.invite(async (req, res) => {
    const { uas: a, uac: b } = await srf.createB2BUA(req, res, `sip:service@127.0.0.1:${uas.port}`, { localSdpB: req.body });
    a.on('destroy', () => b.destroy().catch(() => {}));
    b.on('destroy', () => a.destroy().catch(() => {}));
  }) });
  const errors = withErrorsRecorded(app.srf);
  try {
    const r = await runSipp(['-sn', 'uac', app.addr, '-m', String(CALLS), '-r', '500', '-l', '500'], { timeoutMs: 120000 });
    assert.equal(r.stats.successful, CALLS, r.summary());
    const b = await uas.done;
    assert.equal(b.stats.successful, CALLS, b.summary());
    await drained(app.srf);
    assert.deepEqual(errors, []);
  } finally {
    app.srf.disconnect();
    if (uas.child.exitCode === null) uas.child.kill();
  }
});

test(`proxyRequest: ${CALLS} record-routed calls from sipp through to sipp, then nothing held`, { timeout: 150000 }, async (t) => {
  if (!requireSipp(t)) return;
  // The bench's scenarios: the UAS echoes Record-Route, the caller sends ACK and BYE along it,
  // so every in-dialog request passes through the proxy too.
  const bench = new URL('../../bench/scenarios/', import.meta.url).pathname;
  const uas = await startSippUas(['-sf', `${bench}uas-rr.xml`, '-m', String(CALLS)], { timeoutMs: 120000 });
  let connected = 0;
  const app = await embeddedSrf({ timers: TIMERS, setup: (srf) => srf.invite(async (req) => {
    const result = await srf.proxyRequest(req, `127.0.0.1:${uas.port}`, { recordRoute: true });
    if (result.connected) connected++;
  }) });
  const errors = withErrorsRecorded(app.srf);
  try {
    const r = await runSipp(['-sf', `${bench}uac-call.xml`, app.addr, '-m', String(CALLS), '-r', '1000', '-l', '1000'], { timeoutMs: 120000 });
    assert.equal(r.stats.successful, CALLS, r.summary());
    const b = await uas.done;
    assert.equal(b.stats.successful, CALLS, b.summary());
    // A call goes on in the engine after its proxy result is on its way to the app: sipp can
    // end before the app has counted the last results.
    await waitFor(() => connected >= CALLS, 10000).catch(() => {});
    assert.equal(connected, CALLS);
    await drained(app.srf);
    assert.deepEqual(errors, []);
  } finally {
    app.srf.disconnect();
    if (uas.child.exitCode === null) uas.child.kill();
  }
});
