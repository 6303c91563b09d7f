#!/usr/bin/env node
'use strict';
// `npm run bench`: the parser benchmarks, Rust (criterion) then JS beside drachtio-srf, then a
// short load run (sipp against the embedded engine, and against sipp's own uas for reference).
// Each step is bounded in time; see bench/README.md.
//
//   npm run bench                    everything below
//   npm run bench -- --only parse    the parser benchmarks only
//   npm run bench -- --only load     the load steps only (needs sipp)
//
// The other load scenarios (serve-ours, serve-drachtio-srf, memory-embedded, soak-embedded,
// higher rates) run one at a time: node bench/load.js --help.
const { execFileSync, spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });

const i = process.argv.indexOf('--only');
const only = i === -1 ? null : process.argv[i + 1];
if (only && only !== 'parse' && only !== 'load') {
  process.stderr.write('usage: node bench/run.js [--only parse|load]\n');
  process.exit(2);
}

if (!only || only === 'parse') {
  run('cargo', ['bench', '--bench', 'parse', '--', '--warm-up-time', '1', '--measurement-time', '3']);
  run(process.execPath, [path.join(__dirname, 'parse.js')]);
}

if (!only || only === 'load') {
  const sipp = spawnSync(process.env.SIPP_BIN || 'sipp', ['-v'], { encoding: 'utf8', timeout: 5000 });
  if (sipp.error) {
    process.stderr.write('bench: sipp not found, skipping the load steps (apt-get install sip-tester)\n');
    if (only === 'load') process.exit(1);
  } else {
    // Short and bounded: 3 steps of 3 s each, a few seconds of set-up around them (~1 min each).
    const steps = ['--rates', '500,1000,2000', '--seconds', '3', '--max-minutes', '3'];
    run(process.execPath, [path.join(__dirname, 'load.js'), 'sipp-uas', ...steps]);
    run(process.execPath, [path.join(__dirname, 'load.js'), 'embedded', ...steps]);
  }
}
