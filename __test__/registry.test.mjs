import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const Registry = require('../lib/registry.js');

test('Registry: get, set, has, delete and size as a Map has them', () => {
  const r = new Registry();
  assert.equal(r.size, 0);
  assert.equal(r.set('a', 1), r, 'set returns the registry, as Map#set does');
  r.set('b', 2).set('a', 3);
  assert.equal(r.size, 2);
  assert.equal(r.get('a'), 3);
  assert.equal(r.has('b'), true);
  assert.equal(r.get('missing'), undefined);
  assert.equal(r.has('missing'), false);
  assert.equal(r.delete('a'), true);
  assert.equal(r.delete('a'), false);
  assert.equal(r.has('a'), false);
  assert.equal(r.get('a'), undefined);
  assert.equal(r.size, 1);
  r.set(7, undefined);
  assert.equal(r.has(7), true, 'an undefined value is still an entry');
});

test('Registry: a deleted entry no longer reaches its value (what a left-behind table could hold)', () => {
  const r = new Registry();
  const value = { call: 'objects' };
  r.set('k', value);
  // The boxes are what V8's tables point at: after delete, the box must not reach the value.
  const box = r._map.get('k');
  assert.equal(box.value, value);
  r.delete('k');
  assert.equal(box.value, undefined);
  assert.equal(r._map.has('k'), false);
});
