#!/usr/bin/env node
'use strict';
// What `npm start` and `npm test` run first, so a fresh clone needs no other command: installs
// the dependencies when any is missing (npm ci from the lockfile), then builds the native addon
// when no binary loads. `--dev` also requires the devDependencies (the tests use them).
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const dev = process.argv.includes('--dev');
const wanted = Object.keys({ ...pkg.dependencies, ...(dev ? pkg.devDependencies : {}) });
const missing = wanted.filter((name) => !fs.existsSync(path.join(root, 'node_modules', name, 'package.json')));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

if (missing.length) {
  const lock = fs.existsSync(path.join(root, 'package-lock.json'));
  console.error(`drachtio-srf-rs: installing missing dependencies (${missing.join(', ')}) with npm ${lock ? 'ci' : 'install'}`);
  // The package's own install script builds the addon as part of this.
  execFileSync(npm, [lock ? 'ci' : 'install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
}
execFileSync(process.execPath, [path.join(__dirname, 'build-addon.js'), '--if-missing'], { cwd: root, stdio: 'inherit' });
