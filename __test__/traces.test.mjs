// Recorded drachtio-srf <-> drachtio-server conversations (../shared/traces) replayed against
// OUR Srf: a fake server plays the recorded server side and checks that we send equivalent
// frames (helpers/fake-server.mjs). The same scenarios run against the real drachtio-srf in
// __test__/interop/fake-server-drachtio-srf.test.mjs, which proves the harness.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { sharedDir } from './helpers/shared.mjs';
import { startFakeServer, formatReport } from './helpers/fake-server.mjs';
import { scenarios } from './helpers/trace-apps.mjs';

const require = createRequire(import.meta.url);
const Srf = require('../index.js');
const traces = sharedDir('traces');

// Scenarios that need APIs this package does not have yet, and which ones.
const NOT_YET = {};

// What the app must have seen in each scenario: the frames on the wire are checked by the fake
// server, this is the other half (statuses, events and their data as the app got them).
const cdr = (o) => `cdr:${o.kind}=${JSON.stringify(o.data)}`;
const EXPECTED = {
  'connect-ping': { events: [] },
  'auth-failure': { failures: 6 },
  'uas-invite-bye': { events: ['invite=callee', 'dialog', 'destroy'] },
  'uas-invite-bye-tcp': { events: ['invite=callee', 'dialog', 'destroy'] },
  'uas-cancel': { events: ['invite=cancel', 'cancel'] },
  'uas-reinvite-info': { events: ['invite=callee', 'dialog', 'modify', 'info=Signal=5\r\nDuration=160\r\n', 'destroy'] },
  // CDR events and SIP events come on separate paths: their relative order is not fixed
  cdr: { unordered: ['invite=callee', 'dialog', 'destroy', 'invite=cancel', 'cancel',
    cdr({ kind: 'attempt', data: { source: 'network', method: 'INVITE' } }),
    cdr({ kind: 'start', data: { source: 'application', role: 'uas', status: 200 } }),
    cdr({ kind: 'stop', data: { source: 'network', reason: 'normal-release' } }),
    cdr({ kind: 'attempt', data: { source: 'network', method: 'INVITE' } }),
    cdr({ kind: 'stop', data: { source: 'network', reason: 'call-canceled' } })] },
  'registrar-options': { events: ['challenge', 'register=global', 'options=global'] },
  uac: { connected: true, rejected: 486, options: 200 },
  proxy: { statuses: [200, 486], events: ['proxied=200', 'proxied=486'] },
  b2bua: { events: ['connected', 'destroy-a', 'failed=486'] },
};

for (const [name, scenario] of Object.entries(scenarios)) {
  const opts = { timeout: (scenario.timeoutMs || 5000) + 10000 };
  if (NOT_YET[name]) opts.todo = `needs ${NOT_YET[name]}`;
  test(`trace ${name} replays against drachtio-srf-rs`, opts, async (t) => {
    if (traces.skip) return t.skip(traces.skip);
    const limit = scenario.timeoutMs || 5000;
    const fake = await startFakeServer({ trace: join(traces.dir, scenario.trace), timeoutMs: limit });
    let runError;
    let result;
    try {
      result = await scenario.run(Srf, { host: '127.0.0.1', port: fake.port, secret: fake.recordedSecret, timeoutMs: limit, untilTraceDone: () => fake.exhausted });
    } catch (err) {
      runError = err;
    }
    const report = await fake.done;
    await fake.close();
    assert.ifError(runError);
    assert.ok(report.ok, formatReport(report));
    const expected = EXPECTED[name];
    assert.ok(expected, `no expected outcome written for scenario ${name}`);
    if (expected.unordered) assert.deepEqual([...result.events].sort(), [...expected.unordered].sort(), 'what the app saw');
    else assert.deepEqual(result, expected, 'what the app saw');
  });
}
