#!/usr/bin/env node
'use strict';
// `npm run bench`: every benchmark there is, one after the other, each bounded in time (about
// 20 minutes in all, 10 of them the soak); see bench/README.md.
//   1. parsers: Rust (criterion), then JS beside drachtio-srf
//   2. load (sipp at fixed rates): sipp's own uas (the reference), the embedded engine, our Srf
//      and drachtio-srf 5.0.29 through `drachtio-rs serve`, a B2BUA, an app that cannot keep up
//   3. memory: 5,000 concurrent established calls
//   4. soak: 10 minutes at 2,000 calls/s
// then draws bench/rate-latency.svg and bench/rate-cpu.svg from this run's load results.
//
//   npm run bench                              everything
//   npm run bench -- --only parse|load|memory|soak
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });
const load = (args) => run(process.execPath, [path.join(__dirname, 'load.js'), ...args]);

const PARTS = ['parse', 'load', 'memory', 'soak'];
const i = process.argv.indexOf('--only');
const only = i === -1 ? null : process.argv[i + 1];
if (only && !PARTS.includes(only)) {
  process.stderr.write(`usage: node bench/run.js [--only ${PARTS.join('|')}]\n`);
  process.exit(2);
}
const wanted = (part) => !only || only === part;

if (wanted('parse')) {
  run('cargo', ['bench', '--bench', 'parse', '--', '--warm-up-time', '1', '--measurement-time', '3']);
  run(process.execPath, [path.join(__dirname, 'parse.js')]);
}

if (['load', 'memory', 'soak'].some(wanted)) {
  const sipp = spawnSync(process.env.SIPP_BIN || 'sipp', ['-v'], { encoding: 'utf8', timeout: 5000 });
  if (sipp.error) {
    process.stderr.write('bench: sipp not found, skipping the load, memory and soak steps (apt-get install sip-tester)\n');
    process.exit(only ? 1 : 0);
  }
}

if (wanted('load')) {
  const out = path.join(__dirname, 'out', `run-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const steps = (rates) => ['--rates', rates, '--seconds', '3', '--max-minutes', '4'];
  const scenarios = [
    ['sipp-uas', steps('1000,2000,4000,5000')],
    ['embedded', steps('1000,2000,4000,5000')],
    ['serve-ours', steps('1000,2000,3000,4000')],
    ['serve-drachtio-srf', steps('1000,2000,3000,4000')],
    ['b2bua-embedded', steps('500,1000,1500')],
  ];
  const files = scenarios.map(([name, args]) => {
    const json = path.join(out, `${name}.json`);
    load([name, ...args, '--json', json]);
    return json;
  });
  load(['overload-embedded', '--rates', '5000', '--seconds', '3', '--busy-ms', '1', '--max-pending', '200', '--max-minutes', '3',
    '--json', path.join(out, 'overload-embedded.json')]);
  run(process.execPath, [path.join(__dirname, 'plot.js'), ...files.filter((f) => fs.existsSync(f))]);
}

if (wanted('memory')) load(['memory-embedded', '--concurrent', '5000', '--max-minutes', '4']);
if (wanted('soak')) load(['soak-embedded', '--soak-minutes', '10', '--rate', '2000', '--sample-seconds', '10', '--max-minutes', '12']);
