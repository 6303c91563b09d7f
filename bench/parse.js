'use strict';
// Parse plus common header reads through the JS API, ours beside drachtio-srf's own parser,
// on the same messages in the same process. Run: `node bench/parse.js` (after a release build).
const OurMessage = require('../lib/message.js');
const messages = require('./messages.js');

let TheirMessage;
try {
  TheirMessage = require('drachtio-srf/lib/sip-parser/message.js');
} catch {
  console.error('drachtio-srf is not installed (npm install); showing drachtio-srf-rs only');
}

// What an app touches on nearly every message.
function reads(m) {
  return m.get('call-id').length + m.get('cseq').length + m.get('from').length + m.get('to').length +
    m.get('via').length + m.method?.length + m.body.length;
}

function measure(fn, input) {
  const seconds = Number(process.env.BENCH_SECONDS || 2);
  for (let i = 0; i < 20000; i++) fn(input); // warm-up: let the JIT settle
  let n = 0;
  let sink = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 1000; i++) sink += fn(input);
    n += 1000;
    now = process.hrtime.bigint();
  }
  if (sink === 42) console.log('');
  return Number(now - start) / n; // ns per iteration
}

const rows = [];
for (const [label, text] of [['INVITE with SDP', messages.invite], ['200 OK', messages.ok]]) {
  const buf = Buffer.from(text);
  const ours = measure((b) => reads(new OurMessage(b)), buf);
  const oursFromString = measure((s) => reads(new OurMessage(s)), text);
  const theirs = TheirMessage ? measure((s) => reads(new TheirMessage(s)), text) : NaN;
  rows.push({ label, bytes: buf.length, ours, oursFromString, theirs });
}

const us = (ns) => (Number.isNaN(ns) ? 'n/a' : (ns / 1000).toFixed(2) + ' µs');
console.log(`node ${process.version}, ${require('node:os').cpus()[0].model}`);
console.log('| message | bytes | drachtio-srf-rs (Buffer) | drachtio-srf-rs (string) | drachtio-srf 5.0.29 | speed-up (Buffer / string) |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) {
  const speedup = Number.isNaN(r.theirs) ? 'n/a' : `${(r.theirs / r.ours).toFixed(1)}× / ${(r.theirs / r.oursFromString).toFixed(1)}×`;
  console.log(`| ${r.label} | ${r.bytes} | ${us(r.ours)} | ${us(r.oursFromString)} | ${us(r.theirs)} | ${speedup} |`);
}
