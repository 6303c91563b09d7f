#!/usr/bin/env node
'use strict';
// Builds the native addon with cargo and puts it where lib/binding.js looks first.
// `--if-missing` (the npm install hook) does nothing when a binary already loads, which is
// the case when a prebuilt platform package from npm/ was installed.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const args = new Set(process.argv.slice(2));

function loads() {
  try {
    require(path.join(root, 'lib', 'binding.js'));
    return true;
  } catch {
    return false;
  }
}

// The platform suffix napi-rs uses for binary names, e.g. linux-x64-gnu.
function platformSuffix() {
  const { platform, arch } = process;
  if (platform === 'linux') {
    const glibc = process.report?.getReport?.().header?.glibcVersionRuntime;
    return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`;
  }
  if (platform === 'win32') return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

function libraryName() {
  if (process.platform === 'win32') return 'drachtio_srf_rs.dll';
  if (process.platform === 'darwin') return 'libdrachtio_srf_rs.dylib';
  return 'libdrachtio_srf_rs.so';
}

if (args.has('--if-missing') && loads()) process.exit(0);

const profile = args.has('--debug') ? 'debug' : 'release';
const cargoArgs = ['build', '--lib', '--features', 'node'];
if (profile === 'release') cargoArgs.push('--release');
console.error(`building the native addon: cargo ${cargoArgs.join(' ')}`);
try {
  execFileSync('cargo', cargoArgs, { cwd: root, stdio: 'inherit' });
} catch (err) {
  console.error(`drachtio-srf-rs: building the addon failed (${err.message}); a Rust toolchain is needed when no prebuilt binary exists for ${platformSuffix()}`);
  process.exit(1);
}
const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, 'target');
const from = path.join(targetDir, profile, libraryName());
const to = path.join(root, 'lib', `drachtio-srf-rs.${platformSuffix()}.node`);
fs.copyFileSync(from, to);
console.error(`drachtio-srf-rs: addon written to ${path.relative(root, to)}`);
