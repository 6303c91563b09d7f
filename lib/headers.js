'use strict';
// Header names: ids shared with Rust (the message index carries an id per header line) and
// the normalised keys drachtio-srf apps see in `msg.headers`.
const binding = require('./binding.js');

const table = binding.headerTable(); // index = id; [canonical spelling, compact letter]
const idByLower = new Map();
const lowerById = [''];
const canonicalById = [''];
for (let id = 1; id < table.length; id++) {
  const [canonical, compact] = table[id];
  const lower = canonical.toLowerCase();
  idByLower.set(lower, id);
  if (compact) idByLower.set(compact, id);
  lowerById.push(lower);
  canonicalById.push(canonical);
}

// drachtio-srf keeps the spelling of these as written (apps look them up that way).
const preserved = new Set(
  (process.env.DRACHTIO_PRESERVE_HEADER_NAMES || '').split(',').map((h) => h.trim()).filter(Boolean)
);
function keepsSpelling(name) {
  return preserved.has(name) || name.startsWith('X-') ||
    (name.startsWith('P-') && !name.startsWith('P-Asserted')) || name === 'Diversion';
}

// Apps ask for the same few spellings over and over ('Call-ID', 'via'): remember their ids
// rather than lower-casing on every get(). Bounded like the key cache below.
const idCache = new Map();

/** Id of a header name (any case, compact forms included); 0 for extension headers. */
function idOf(name) {
  let id = idCache.get(name);
  if (id === undefined) {
    id = idByLower.get(name.toLowerCase()) || 0;
    if (idCache.size < KEY_CACHE_MAX) idCache.set(name, id);
  }
  return id;
}

// Spellings repeat across messages, so their keys are memoised (bounded: a peer can send
// arbitrary names, and the cache must not grow with them).
const keyCache = new Map();
const KEY_CACHE_MAX = 2048;

/** The key under which a header appears in `msg.headers`, as drachtio-srf normalises it. */
function keyOf(name, id = idOf(name)) {
  let key = keyCache.get(name);
  if (key !== undefined) return key;
  if (keepsSpelling(name)) key = name;
  else key = id ? lowerById[id] : name.toLowerCase();
  if (keyCache.size < KEY_CACHE_MAX) keyCache.set(name, key);
  return key;
}

/** The spelling used when writing a header keyed `key` onto the wire. */
function wireName(key) {
  const id = idByLower.get(key.toLowerCase());
  return id && key.length > 1 ? canonicalById[id] : key;
}

/** Lower-case canonical name (compact forms expanded), for choosing a header parser. */
function lowerName(name) {
  const id = idOf(name);
  return id ? lowerById[id] : name.toLowerCase();
}

module.exports = { idOf, keyOf, wireName, lowerName };
