#!/usr/bin/env node
'use strict';
// `npm run bench`: the parser benchmarks, Rust (criterion) then JS beside drachtio-srf.
// Each step is bounded in time; see bench/README.md.
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });

run('cargo', ['bench', '--bench', 'parse', '--', '--warm-up-time', '1', '--measurement-time', '3']);
run(process.execPath, [path.join(__dirname, 'parse.js')]);
