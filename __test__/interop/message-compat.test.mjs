// Our SipMessage beside drachtio-srf's own, on every SIP message in the shared samples and in
// the recorded drachtio-server traffic: the header keys, values and derived fields apps read
// must be the same. Differences we make on purpose are listed in INTENDED below.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { sharedDir } from '../helpers/shared.mjs';

const require = createRequire(import.meta.url);
const Ours = require('../../lib/message.js');
const Theirs = require('drachtio-srf/lib/sip-parser/message.js');

// The SIP payloads of `sip` frames in a trace (frames re-assembled from socket chunks).
function sipFromTrace(file) {
  const out = [];
  let pending = { 'app->server': '', 'server->app': '' };
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const { dir, data } = JSON.parse(line);
    let buf = pending[dir] + data;
    for (;;) {
      const hash = buf.indexOf('#');
      if (hash === -1) break;
      const len = Number(buf.slice(0, hash));
      const body = Buffer.from(buf.slice(hash + 1));
      if (body.length < len) break;
      const frame = body.subarray(0, len).toString();
      buf = body.subarray(len).toString();
      const crlf = frame.indexOf('\r\n');
      if (crlf !== -1 && frame.slice(0, crlf).split('|')[1] === 'sip') out.push(frame.slice(crlf + 2));
    }
    pending[dir] = buf;
  }
  return out;
}

function corpus() {
  const samples = sharedDir('testdata/sip/samples');
  const traces = sharedDir('traces');
  if (samples.skip || traces.skip) return { skip: samples.skip || traces.skip };
  const msgs = readdirSync(samples.dir).filter((f) => f.endsWith('.sip'))
    .map((f) => [f, readFileSync(join(samples.dir, f), 'utf8')]);
  for (const f of readdirSync(traces.dir).filter((f) => f.endsWith('.trace'))) {
    sipFromTrace(join(traces.dir, f)).forEach((m, i) => msgs.push([`${f}#${i}`, m]));
  }
  return { msgs };
}

// Fields compared as they are; drachtio-srf leaves folds in values and we unfold them.
const unfold = (v) => (typeof v === 'string' ? v.replace(/\r\n[ \t]+/g, ' ') : v);

test('same header keys, values and derived fields as drachtio-srf', (t) => {
  const { msgs, skip } = corpus();
  if (skip) return t.skip(skip);
  assert.ok(msgs.length > 50, `${msgs.length} messages`);
  for (const [name, text] of msgs) {
    const ours = new Ours(text);
    const theirs = new Theirs(text);
    assert.deepEqual(Object.keys(ours.headers), Object.keys(theirs.headers), name);
    for (const key of Object.keys(theirs.headers)) {
      assert.equal(ours.get(key), unfold(theirs.get(key)), `${name}: ${key}`);
    }
    for (const f of ['method', 'uri', 'status', 'reason', 'type', 'body', 'calledNumber', 'callingNumber', 'callingName']) {
      let expected;
      try { expected = theirs[f]; } catch { // drachtio-srf throws (e.g. calledNumber of a response)
        assert.doesNotThrow(() => ours[f], `${name}: ${f}`);
        continue;
      }
      assert.equal(ours[f], expected, `${name}: ${f}`);
    }
    for (const h of ['from', 'to', 'contact', 'via', 'cseq', 'content-length', 'record-route']) {
      if (!theirs.has(h)) continue;
      assert.deepEqual(ours.getParsedHeader(h), theirs.getParsedHeader(h), `${name}: parsed ${h}`);
    }
  }
});
