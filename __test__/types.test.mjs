// The TypeScript typings (index.d.ts, index.d.mts) and the ESM entry (index.mjs): each
// tsconfig under __test__/types/ must compile with the local tsc, and the ESM entry must give
// the same class and helpers as require().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const typesDir = join(root, '__test__', 'types');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const upstreamTypes = join(root, 'node_modules', 'drachtio-srf', 'lib', '@types', 'index.d.ts');

const projects = [
  ['cjs: import = require, node16 resolution', 'cjs/tsconfig.json'],
  ['cjs-legacy: esModuleInterop default import, node10 resolution', 'cjs-legacy/tsconfig.json'],
  ['esm: default + named imports, node16 resolution', 'esm/tsconfig.json'],
  ['esm: bundler resolution', 'esm/tsconfig.bundler.json'],
  ['compat: drachtio-srf code against our typings', 'compat/tsconfig.json'],
  ['compat: the same code against drachtio-srf 5.0.29 typings', 'compat/tsconfig.upstream.json', upstreamTypes],
];

// tsc takes a few seconds per project: run them side by side.
test('the typings compile in every consumer setup', { concurrency: Math.min(4, availableParallelism()) }, async (t) => {
  await Promise.all(projects.map(([name, config, needs]) => {
    const skip = !existsSync(tsc) ? 'typescript is not installed (npm install)'
      : needs && !existsSync(needs) ? `${needs} is missing (npm install)` : false;
    return t.test(`tsc -p ${config} (${name})`, { skip }, async () => {
      try {
        await run(process.execPath, [tsc, '-p', join(typesDir, config), '--pretty', 'false'], {
          cwd: root,
          maxBuffer: 16 * 1024 * 1024,
        });
      } catch (err) {
        const output = `${err.stdout || ''}${err.stderr || ''}`.trim();
        assert.fail(`tsc -p ${config} exited with ${err.code}:\n${output || err.message}`);
      }
    });
  }));
});

test('cjs/app.ts and esm/app.mts share one body', () => {
  const marker = '// ---- shared body';
  const body = (file) => {
    const text = readFileSync(join(typesDir, file), 'utf8');
    const at = text.indexOf(marker);
    assert.ok(at !== -1, `${file} has no "${marker}" line`);
    return text.slice(at);
  };
  assert.equal(body('esm/app.mts'), body('cjs/app.ts'), 'the shared parts of cjs/app.ts and esm/app.mts differ');
});

const NAMED = ['SipError', 'SipMessage', 'SipRequest', 'SipResponse', 'parseUri', 'stringifyUri',
  'DialogState', 'DialogDirection', 'digestAuth', 'Dialog', 'MemoryStore', 'RedisStore'];

/** Named exports the ESM typings declare as values (`export import X = Srf.X`). */
function declaredValueExports() {
  const dmts = readFileSync(join(root, 'index.d.mts'), 'utf8');
  return [...dmts.matchAll(/^export import (\w+) = Srf\.(\w+);/gm)].map((m) => {
    assert.equal(m[1], m[2], `index.d.mts re-exports Srf.${m[2]} as ${m[1]}`);
    return m[1];
  });
}

function checkEsm(mod, label) {
  const Srf = require('../index.js');
  assert.equal(mod.default, Srf, `${label}: the default export is the Srf class`);
  for (const name of NAMED) {
    assert.ok(name in mod, `${label}: named export ${name}`);
    assert.equal(mod[name], Srf[name], `${label}: ${name} is Srf.${name}`);
  }
  assert.deepEqual(Object.keys(mod).filter((k) => k !== 'default').sort(), [...NAMED].sort(),
    `${label}: exactly the documented named exports`);
}

test('index.d.mts declares exactly the values index.mjs exports', () => {
  assert.deepEqual(declaredValueExports().sort(), [...NAMED].sort());
});

test("import('drachtio-srf-rs') (package self-reference) gives the class and named exports", async () => {
  checkEsm(await import('drachtio-srf-rs'), "import('drachtio-srf-rs')");
});

test("import('../index.mjs') gives the class and named exports", async () => {
  const mod = await import('../index.mjs');
  checkEsm(mod, 'index.mjs');
  assert.equal(mod, await import('drachtio-srf-rs'), 'the self-reference resolves to index.mjs');
});

test('the named exports work', async () => {
  const { default: Srf, SipError, SipMessage, parseUri, stringifyUri, DialogState, DialogDirection, digestAuth } =
    await import('drachtio-srf-rs');
  const err = new SipError(486, 'Busy Here');
  assert.ok(err instanceof Error && err instanceof Srf.SipError);
  assert.equal(err.status, 486);
  const uri = parseUri('sip:alice@example.com:5070;transport=tcp');
  assert.equal(uri.port, 5070);
  assert.ok(Number.isNaN(parseUri('sip:alice@example.com').port), 'an absent port is NaN');
  assert.equal(stringifyUri(uri), 'sip:alice@example.com:5070;transport=tcp');
  assert.equal(new SipMessage('OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n').get('call-id'), 'x');
  assert.equal(DialogState.Confirmed, 'confirmed');
  assert.equal(DialogDirection.Recipient, 'recipient');
  assert.equal(typeof digestAuth({ passwordLookup: () => {} }), 'function');
  assert.equal(typeof Srf.Dialog, 'function', 'Srf.Dialog is the Dialog class (as in drachtio-srf)');
  assert.equal(Srf.Dialog, require('../lib/dialog.js'), 'the class the library makes dialogs of');
});

test("require('../index.js') and require('drachtio-srf-rs') are still the Srf class", () => {
  const Srf = require('../index.js');
  assert.equal(typeof Srf, 'function');
  assert.equal(require('drachtio-srf-rs'), Srf, 'require through "exports" gives index.js');
  const srf = new Srf('tag');
  assert.ok(srf instanceof Srf);
  assert.equal(typeof srf.connect, 'function');
  const { SipError, parseUri, digestAuth } = Srf;
  assert.equal(typeof SipError, 'function');
  assert.equal(typeof parseUri, 'function');
  assert.equal(typeof digestAuth, 'function');
});

test('package.json "exports" keeps package.json and lib/ paths reachable', () => {
  assert.equal(require('drachtio-srf-rs/package.json').name, 'drachtio-srf-rs');
  assert.equal(require('drachtio-srf-rs/lib/sip-error.js'), require('../lib/sip-error.js'));
  assert.equal(require('drachtio-srf-rs/lib/sip-error'), require('../lib/sip-error.js'));
  const pkg = require('../package.json');
  for (const file of ['index.js', 'index.mjs', 'index.d.ts', 'index.d.mts']) {
    assert.ok(pkg.files.includes(file), `package.json "files" lists ${file}`);
    assert.ok(existsSync(join(root, file)), `${file} exists`);
  }
});
