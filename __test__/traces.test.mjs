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

for (const [name, scenario] of Object.entries(scenarios)) {
  const opts = { timeout: (scenario.timeoutMs || 5000) + 10000 };
  if (NOT_YET[name]) opts.todo = `needs ${NOT_YET[name]}`;
  test(`trace ${name} replays against drachtio-srf-rs`, opts, async (t) => {
    if (traces.skip) return t.skip(traces.skip);
    const limit = scenario.timeoutMs || 5000;
    const fake = await startFakeServer({ trace: join(traces.dir, scenario.trace), timeoutMs: limit });
    let runError;
    try {
      await scenario.run(Srf, { host: '127.0.0.1', port: fake.port, secret: fake.recordedSecret, timeoutMs: limit, untilTraceDone: () => fake.exhausted });
    } catch (err) {
      runError = err;
    }
    const report = await fake.done;
    await fake.close();
    assert.ifError(runError);
    assert.ok(report.ok, formatReport(report));
  });
}
