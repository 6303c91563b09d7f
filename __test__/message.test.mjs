import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { sharedDir } from './helpers/shared.mjs';

const require = createRequire(import.meta.url);
const Srf = require('../index.js');
const { SipMessage, SipRequest, SipResponse } = Srf;

const SDP = 'v=0\r\ns=é ünïcödé\r\nt=0 0\r\n';
const INVITE = [
  'INVITE sip:+15551234567;npdi@example.com:5060;transport=udp SIP/2.0',
  'v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1;rport',
  'Via: SIP/2.0/TCP [2001:db8::1]:5070;branch=z9hG4bK-2',
  'f: "Smith, John" <sip:+15550001111@example.org>;tag=abc',
  't: <sip:+15551234567@example.com>',
  'i: 1234@10.0.0.1',
  'CSeq: 101 INVITE',
  'm: <sip:john@10.0.0.1:5060>;expires=60, "B" <sip:b@10.0.0.2>',
  'X-Custom-Header: one',
  'x-custom-header: two',
  'Subject: folded',
  '  subject line',
  'P-Asserted-Identity: "Caller Name" <sip:+15559998888@example.org>',
  'Content-Type: application/sdp',
  `Content-Length: ${Buffer.byteLength(SDP)}`,
  '',
  SDP,
].join('\r\n');

test('request line, headers by name, compact forms, repeats and folds', () => {
  const m = new SipMessage(INVITE);
  assert.equal(m.type, 'request');
  assert.equal(m.method, 'INVITE');
  assert.equal(m.uri, 'sip:+15551234567;npdi@example.com:5060;transport=udp');
  assert.equal(m.get('Call-ID'), '1234@10.0.0.1');
  assert.equal(m.get('call-id'), m.get('i'));
  assert.equal(m.get('VIA'), 'SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1;rport,SIP/2.0/TCP [2001:db8::1]:5070;branch=z9hG4bK-2');
  assert.equal(m.get('x-custom-header'), 'one,two');
  assert.equal(m.get('subject'), 'folded subject line');
  assert.equal(m.get('nope'), undefined);
  assert.equal(m.has('contact'), true);
  assert.equal(m.has('Record-Route'), false);
  assert.equal(m.body, SDP);
});

test('the headers object uses drachtio-srf keys', () => {
  const m = new SipMessage(INVITE);
  assert.deepEqual(Object.keys(m.headers), ['via', 'from', 'to', 'call-id', 'cseq', 'contact',
    'X-Custom-Header', 'x-custom-header', 'subject', 'p-asserted-identity', 'content-type', 'content-length']);
  assert.equal(m.getHeaderName('CALL-ID'), 'call-id');
  assert.equal(m.get('X-CUSTOM-HEADER'), 'one,two', 'names are case-insensitive');
});

test('getParsedHeader gives structured values', () => {
  const m = new SipMessage(INVITE);
  const from = m.getParsedHeader('From');
  assert.equal(from.uri, 'sip:+15550001111@example.org');
  assert.equal(from.params.tag, 'abc');
  const contact = m.getParsedHeader('contact');
  assert.equal(contact.length, 2);
  assert.equal(contact[0].params.expires, '60');
  const via = m.getParsedHeader('via');
  assert.equal(via.length, 2);
  assert.equal(via[0].host, '10.0.0.1');
  assert.equal(via[0].port, 5060);
  assert.equal(via[1].protocol, 'TCP');
  assert.deepEqual(m.getParsedHeader('CSeq'), { seq: 101, method: 'INVITE' });
  assert.throws(() => m.getParsedHeader('Route'), /header 'Route' not available in SIP message with Call-ID: 1234@10.0.0.1/);
});

test('calling and called numbers, names, canFormDialog', () => {
  const m = new SipMessage(INVITE);
  assert.equal(m.calledNumber, '+15551234567');
  assert.equal(m.callingNumber, '+15559998888');
  assert.equal(m.callingName, 'Caller Name');
  assert.equal(m.canFormDialog, true);
  const inDialog = new SipMessage(INVITE.replace('t: <sip:+15551234567@example.com>', 't: <sip:x@y>;tag=9'));
  assert.equal(inDialog.canFormDialog, false);
});

test('responses', () => {
  const m = new SipMessage('SIP/2.0 486 Busy Here\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n');
  assert.equal(m.type, 'response');
  assert.equal(m.status, 486);
  assert.equal(m.reason, 'Busy Here');
  assert.equal(m.body, '');
});

test('a detached message (as a Dialog keeps its request) has its own bytes and re-indexes on the first read', () => {
  const batch = Buffer.concat([Buffer.from('head'), Buffer.from(INVITE), Buffer.from('tail')]);
  const m = new SipMessage(batch.subarray(4, 4 + Buffer.byteLength(INVITE)));
  assert.equal(m.get('call-id'), '1234@10.0.0.1');
  m._detach();
  batch.fill(0); // the batch a received message was a view into is reused or freed
  assert.equal(m._offs.length, 0, 'the index is dropped while nothing reads the message');
  assert.equal(m.get('call-id'), '1234@10.0.0.1');
  assert.ok(m._offs.length > 0, 'and made again by the first read');
  assert.equal(m.get('subject'), 'folded subject line');
  assert.equal(m.body, SDP);
  assert.equal(m.toString(), INVITE);
});

test('set appends, and toString writes a valid message with a byte Content-Length', () => {
  const m = new SipMessage(INVITE);
  assert.equal(m.toString(), INVITE, 'an untouched message is its raw text');
  m.set('X-Custom-Header', 'three');
  m.set({ 'Record-Route': '<sip:proxy;lr>' });
  assert.equal(m.get('x-custom-header'), 'one,three,two');
  const text = m.toString();
  assert.ok(text.includes(`\r\nContent-Length: ${Buffer.byteLength(SDP)}\r\n\r\nv=0`));
  assert.match(text, /\r\nRecord-Route: <sip:proxy;lr>\r\n/);
  const again = new SipMessage(text);
  assert.equal(again.get('record-route'), '<sip:proxy;lr>');
  assert.equal(again.body, m.body);
});

test('messages built from objects', () => {
  const m = new SipMessage({ method: 'OPTIONS', uri: 'sip:a@b', headers: { 'Call-ID': 'c', From: '<sip:x@y>;tag=1' }, body: 'hi' });
  assert.equal(m.get('call-id'), 'c');
  assert.equal(m.type, 'request');
  const parsed = new SipMessage(m.toString());
  assert.equal(parsed.method, 'OPTIONS');
  assert.equal(parsed.get('Content-Length'), '2');
  assert.equal(parsed.body, 'hi');
});

test('Request and Response read like their message', () => {
  const req = new SipRequest(new SipMessage(INVITE));
  assert.equal(req.method, 'INVITE');
  assert.equal(req.url, req.uri);
  assert.equal(req.get('cseq'), '101 INVITE');
  assert.equal(req.isNewInvite, true);
  assert.equal(req.callingNumber, '+15559998888');
  assert.equal(req.set('X-A', '1'), req, 'set chains on the request');
  const res = new SipResponse(new SipMessage('SIP/2.0 180 Ringing\r\nContent-Length: 0\r\n\r\n'));
  assert.equal(res.status, 180);
  assert.equal(res.statusCode, 180);
  assert.equal(res.finalResponseSent, false);
});

test('a response bound to a request echoes its Call-ID, CSeq, From and To, and keeps what the app set', () => {
  const req = new SipRequest(new SipMessage(INVITE));
  const res = new SipResponse(new SipMessage({}));
  res.req = req;
  assert.equal(res.get('Call-ID'), '1234@10.0.0.1');
  assert.equal(res.get('cseq'), '101 INVITE');
  assert.equal(res.get('from'), '"Smith, John" <sip:+15550001111@example.org>;tag=abc');
  assert.equal(res.get('to'), '<sip:+15551234567@example.com>');
  assert.match(res._build({}), /\r\nCall-ID: 1234@10\.0\.0\.1\r\n/);

  const own = new SipResponse(new SipMessage({ headers: { To: '<sip:b@x>;tag=mine' } }));
  own.req = req;
  assert.equal(own.get('to'), '<sip:b@x>;tag=mine');
  assert.equal(own.get('cseq'), '101 INVITE');

  const sent = new SipResponse(new SipMessage({}));
  sent.req = req;
  sent.msg = new SipMessage('SIP/2.0 200 OK\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n');
  assert.equal(sent.get('cseq'), '7 INVITE', 'a message put in place after binding is left as it is');
  assert.equal(sent.get('call-id'), undefined);
});

test('bad input gives a clear error, never a crash', () => {
  for (const bad of ['', 'garbage', 'INVITE sip:a@b\r\n\r\n', 'SIP/2.0 99999 x\r\n\r\n', 'INVITE sip:a@b SIP/2.0\r\nno colon\r\n\r\n',
    'OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 5\r\n\r\nab', Buffer.alloc(70000, 65)]) {
    assert.throws(() => new SipMessage(bad), (err) => err.message === 'failed to parse sip message' && /at byte/.test(err.cause.message));
  }
  const m = new SipMessage(INVITE);
  assert.equal(m.get(undefined), undefined);
  assert.equal(m.has(42), false);
});

test('multipart payloads are split by boundary', (t) => {
  const { dir, skip } = sharedDir('testdata/sip/samples');
  if (skip) return t.skip(skip);
  for (const file of ['invite-siprec-multipart.sip', 'invite-siprec-multipart-quoted-boundary.sip']) {
    const m = new SipMessage(readFileSync(join(dir, file)));
    assert.equal(m.payload.length, 2, file);
    assert.equal(m.payload[0].type, 'application/sdp');
    assert.match(m.payload[0].content, /^v=0/);
    assert.match(m.payload[1].type, /rs-metadata\+xml/);
  }
});

// The exact outcome for every shared sample and RFC 4475 torture message: the start line it
// parses to, or the rejection. SipMessage is a container, like drachtio-srf's: it rejects what
// it cannot frame or whose start line is malformed, and leaves the rest (bad Date, CSeq/method
// mismatch, overlarge scalars...) to validation (validateMessage, and the engine).
// as-published/ are the npm sip-message-examples exactly as published, each broken (README.md
// there): a Content-Length longer than the body, or no end to the headers.
const REJECTED = new Set([
  'samples/as-published/200ok.sip', 'samples/as-published/invite-compact.sip', 'samples/as-published/invite-tls.sip',
  'samples/as-published/invite.sip', 'samples/as-published/options-carriage-return.sip', 'samples/as-published/siprec.sip',
  'samples/as-published/siprec2.sip', 'samples/as-published/siprec3.sip',
  'rfc4475/invalid/baddn.dat', // no end to the headers
  'rfc4475/invalid/bigcode.dat', // status code 4294967301
  'rfc4475/invalid/clerr.dat', // Content-Length 9999, body 154
  'rfc4475/invalid/lwsruri.dat', 'rfc4475/invalid/lwsstart.dat', 'rfc4475/invalid/trws.dat', // malformed request lines
  'rfc4475/invalid/mcl01.dat', // several Content-Length values
  'rfc4475/invalid/ncl.dat', // negative Content-Length
  'rfc4475/invalid/test.dat',
]);
// getParsedHeader failures among From, To, Via, Contact and CSeq of messages that parse.
const HEADER_ERRORS = {
  'rfc4475/invalid/badinv01.dat': { via: /^malformed Via header ';'/ },
};

test('every shared sample and RFC 4475 message: the exact outcome for each file', (t) => {
  const samples = sharedDir('testdata/sip/samples');
  const torture = sharedDir('testdata/sip/rfc4475');
  if (samples.skip || torture.skip) return t.skip(samples.skip || torture.skip);
  const files = [
    ...readdirSync(samples.dir).filter((f) => f.endsWith('.sip')).map((f) => [`samples/${f}`, join(samples.dir, f)]),
    ...readdirSync(join(samples.dir, 'as-published')).map((f) => [`samples/as-published/${f}`, join(samples.dir, 'as-published', f)]),
    ...['valid', 'invalid'].flatMap((d) => readdirSync(join(torture.dir, d)).map((f) => [`rfc4475/${d}/${f}`, join(torture.dir, d, f)])),
  ];
  assert.equal(files.length, 65, 'the shared data set this table was written for');
  for (const [name, f] of files) {
    if (REJECTED.has(name)) {
      assert.throws(() => new SipMessage(readFileSync(f)), (err) => err.message === 'failed to parse sip message', name);
      continue;
    }
    const m = new SipMessage(readFileSync(f));
    assert.ok(m.method || m.status, `${name}: a request or a response`);
    if (name.startsWith('rfc4475/valid/') || name.startsWith('samples/')) assert.ok(m.has('call-id'), name);
    void m.headers; void m.body; void m.callingNumber; void m.calledNumber; void m.callingName; void m.payload;
    for (const h of ['from', 'to', 'via', 'contact', 'cseq']) {
      if (!m.has(h)) continue;
      const bad = (HEADER_ERRORS[name] || {})[h];
      if (bad) assert.throws(() => m.getParsedHeader(h), (err) => bad.test(err.message), `${name} ${h}`);
      else assert.equal(typeof m.getParsedHeader(h), 'object', `${name} ${h}`);
    }
  }
});

test('validateMessage answers like the engine will', () => {
  const binding = require('../lib/binding.js');
  const bad = Buffer.from('OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCSeq: 1 INVITE\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\n\r\n');
  const failure = binding.validateMessage(bad);
  assert.equal(failure.status, 400);
  assert.match(failure.reason, /CSeq/);
  const v7 = binding.validateMessage(Buffer.from('OPTIONS sip:a@b SIP/7.0\r\n\r\n'));
  assert.equal(v7.status, 505);
  assert.equal(binding.validateMessage(Buffer.from(INVITE)), null);
});
