// Live comparison of lib/parse.js with drachtio-srf 5.0.29's own parser (from node_modules) on inputs where
// the two are meant to agree.
//
// Intentional differences, excluded from this corpus (see the header comment of lib/parse.js):
//   * `sip:host;params` with no user: drachtio-srf puts the params into the host
//     (`sip:feature-server;transport=tcp` → host 'feature-server;transport=tcp'); we parse them as params.
//   * `SIP:`/`TEL:` upper-case schemes, surrounding whitespace, `[::ffff:1.2.3.4]` hosts: undefined upstream,
//     parsed here. `sip:`/`sip:alice@`/`tel:` (no host/number) and `sip:a@b.com>`: objects upstream,
//     undefined here.
//   * `;a=b=c`, `;a=`, `;;x`, `?k` in URIs; tel params with flags or values outside [A-Za-z0-9-.()]; `tel:*67`.
//   * header inputs where drachtio-srf throws a TypeError (leading whitespace, empty value, `Digest` with no
//     params, Authentication-Info without `=`, malformed Via/CSeq) or truncates: junk between params or
//     entries, `sip:a@b,sip:c@d`, `received=2001:db8::9`, bracketed IPv6 Via hosts, `sip/2.0/udp`,
//     `Bob (work) <sip:a@b>`, `< sip:a@b >`, an unclosed `<`, CSeq `12` or `abc 5 BYE`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const upstream = require('drachtio-srf/lib/sip-parser/parser.js');
const SipMessage = require('drachtio-srf/lib/sip-parser/message.js');
const ours = require('../../lib/parse.js');

const URIS = [
  'sip:alice@atlanta.com',
  'sip:atlanta.com',
  'sips:alice@atlanta.com;transport=tls',
  'sip:alice:secretword@atlanta.com;transport=tcp',
  'sip:a:pw@b.com:5060;lr;transport=tcp?x=y&z=w',
  'sip:+1-212-555-1212:1234@gateway.com;user=phone',
  'sip:user;par=u%40example.net@example.com',
  'sip:alice;day=tuesday@atlanta.com',
  'sip:%61lice@atlanta.com;transport=TCP',
  'sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com',
  'sip:alice@atlanta.com?subject=project%20x&priority=urgent',
  'sip:+1555@sip.example.com;param1=v?User-To-User=AB;encoding=ascii&x=y',
  'sip:+12345612341t2@sip.jambonz.xyz;param1=foo?User-To-User=XX12344321;encoding=ascii&baba=lala',
  'sip:a@b.com?k=v;x=y&&m=n',
  'sip:a@b.com;x?y=z',
  'sip:a@b.com;x=1?',
  'sip:a@b.com;maddr=1.2.3.4;x',
  'sip:a@b.com;x=a@b',
  'sip:host.com?h=a@b',
  'sip:104461@10.1.0.100:61219;rinstance=9e9d1f7b14c8dcf1;transport=tcp',
  'sip:104461@foo.bar.com:61219;rinstance=9e9d1f7b14c8dcf1;transport=tcp',
  'sip:104461@[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:61219;rinstance=9e;transport=tcp',
  'sip:[2001:db8::1]:5060;transport=tcp',
  'sip:[::1]',
  'sip:1234@10.101.10.1;transport=udp',
  'sip:1234@feature-server',
  'sip:cor10-san.sip.phone.com:5060',
  'sip:test_sipp-uas_1.com',
  'sips:x@1.2.3.4:5061',
  'sip:a@b.com:99999',
  'sip:a@B.COM;Transport=TCP',
  'sip:placeholder',
  'sip:@b.com',
  'sip:a:@b.com',
  'sip:a@b!c',
  'tel:+1-201-555-0123;phone-context=drachtio.org;ext=1',
  '<tel:+1-201-555-0123;phone-context=drachtio.org;ext=1>',
  '<tel:+1-201-555-0123>',
  'tel:+123456789',
  '<tel:+123>;tag=x',
  'tel:+1abc',
  // agreed garbage
  '', 'foo', 'http://x', 'sipx:a@b', '<sip:a@b.com>', 'sip:a b@c.com', 'sip:a@b.com:', 'sip:a@b.com:5060:5061',
];

// [header name as an app would pass it to getParsedHeader, value]
const HEADERS = [
  ['From', '"Smith, John" <sip:a@b.com>;tag=1'],
  ['From', 'Bob Smith <sip:a@b.com> ;tag = 1 ; Foo=Bar;flag'],
  ['from', 'sip:a@b.com;tag=1'],
  ['from', '<sip:a@b.com;transport=tcp>;tag=1, <sip:c@d>'],
  ['from', '"a \\"q\\" b" <sip:x@y>;p="q;v"'],
  ['from', '"Dave" <sip:dave@x.com>;tag=as5f'],
  ['to', '<sip:5753606@10.1.10.1>'],
  ['To', '<sip:5753606@10.1.10.1>;tag=abc'],
  ['to', 'Bob'],
  ['to', '"Bob"'],
  ['Contact', '*'],
  ['contact', '<sip:a@b>;expires=3600, "X, Y" <sip:c@d>;q=0.5'],
  ['contact', 'sip:a@b;expires=30,sip:c@d'],
  ['contact', '<sip:a@b>;+sip.instance="<urn:uuid:1234>";reg-id=1'],
  ['contact', '<sip:a@b>, garbage junk'],
  ['contact', '<sip:4083084809@10.1.10.1:5060;transport=udp>'],
  ['Route', '<sip:p1.example.com;lr>, <sip:p2.example.com;lr>'],
  ['route', 'sip:p1.example.com;lr'],
  ['route', '<sip:[::1]:5060;lr>;x=1'],
  ['Record-Route', '<sip:p1.example.com;lr;transport=tcp>'],
  ['path', '<sip:x@y.com;lr>'],
  ['route', '<tel:+1>'],
  ['route', '<http://x>'],
  ['Via', 'SIP/2.0/UDP 10.1.10.103;branch=z9hG4bKac619477603'],
  ['via', 'SIP/2.0/UDP 1.2.3.4:5060;branch=z9;rport;received=5.6.7.8, SIP/2.0/TCP host.com:5061;branch=abc'],
  ['via', 'SIP / 2.0 / UDP host : 5060 ; branch = x'],
  ['via', 'SIP/2.0/UDP h;x="a,b";branch=1'],
  ['via', 'SIP/2.0/WSS abc.invalid;branch=z9hG4bK'],
  ['CSeq', '1 INVITE'],
  ['cseq', '  314159   ACK '],
  ['Content-Length', '123'],
  ['content-length', ' 12 '],
  ['content-length', 'x'],
  ['WWW-Authenticate', 'Digest realm="atlanta.com", domain="sip:boxesbybob.com", qop="auth", ' +
    'nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", stale=FALSE, algorithm=MD5'],
  ['www-authenticate', 'Digest realm="a,b",nonce="x", Digest realm="c", nonce="y"'],
  ['Proxy-Authenticate', 'Digest realm="x"'],
  ['Authorization', 'Digest username="bob", realm="biloxi.com", nonce="dcd98", uri="sip:bob@biloxi.com", ' +
    'qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc"'],
  ['authorization', 'Basic abc=='],
  ['www-authenticate', 'Digest realm = "x" , nonce = y'],
  ['www-authenticate', 'digest Realm="X"'],
  ['Proxy-Authorization', 'Digest username="a\\"b", realm="r"'],
  ['Authentication-Info', 'nextnonce="47364c23432d2e131a5fb210812c", qop=auth, rspauth="abc", cnonce="x", nc=00000001'],
  ['Subject', 'hello, world'],
  ['Call-ID', 'abc@def'],
  ['Refer-To', '<sip:a@b?Replaces=abc%40d%3Bto-tag%3D1>'],
  ['Referred-By', '<sip:a@b>;cid="x@y"'],
  ['P-Asserted-Identity', '"Cha Van" <tel:+1>, "Cha Van" <sip:c@d>'],
  ['Remote-Party-ID', '"A" <sip:1@2.3.4.5>;party=calling;privacy=off;screen=no'],
  ['X-Custom', '<sip:a@b>;x=1'],
];

test('parseUri agrees with drachtio-srf', () => {
  for (const u of URIS) {
    assert.deepStrictEqual(ours.parseUri(u), upstream.parseUri(u), JSON.stringify(u));
  }
  const o = { scheme: 'sip', host: 'x' };
  assert.equal(ours.parseUri(o), upstream.parseUri(o));
});

test('stringifyUri agrees with drachtio-srf', () => {
  for (const u of URIS) {
    const parsed = upstream.parseUri(u);
    if (parsed) assert.equal(ours.stringifyUri(parsed), upstream.stringifyUri(parsed), JSON.stringify(u));
  }
  for (const o of [{ host: 'h.com', port: 5080 }, { scheme: 'sips', user: 'u', password: 'p', host: 'h', params: { a: 'b', lr: null } },
    { scheme: 'tel', number: '+1', params: { ext: '2' } }, 'sip:as-is']) {
    assert.equal(ours.stringifyUri(o), upstream.stringifyUri(o));
  }
});

test('getParsedHeader shapes agree with drachtio-srf', () => {
  for (const [name, value] of HEADERS) {
    const msg = new SipMessage();
    msg.set('Call-ID', 'cid-1');
    msg.set(name, value);
    const expected = msg.getParsedHeader(name);
    const actual = ours.parseHeader(upstream.getHeaderName(name).toLowerCase(), msg.get(name), 'cid-1');
    assert.deepStrictEqual(actual, expected, `${name}: ${value}`);
  }
});

test('repeated headers joined with "," agree with drachtio-srf', () => {
  const msg = new SipMessage();
  msg.set('Via', 'SIP/2.0/UDP 10.1.10.103;branch=z9hG4bKac619477603');
  msg.set('Via', 'SIP/2.0/TCP 10.1.10.104:5061;branch=z9hG4bKabc;rport');
  msg.set('Contact', '<sip:a@b>;expires=10');
  msg.set('Contact', '"Q, R" <sip:c@d>');
  msg.set('Record-Route', '<sip:p1.example.com;lr>');
  msg.set('Record-Route', '<sip:p2.example.com:5070;lr>');
  msg.set('WWW-Authenticate', 'Digest realm="a", nonce="1"');
  msg.set('WWW-Authenticate', 'Digest realm="b", nonce="2", qop="auth"');
  for (const name of ['via', 'contact', 'record-route', 'www-authenticate']) {
    assert.deepStrictEqual(ours.parseHeader(name, msg.get(name)), msg.getParsedHeader(name), name);
  }
});

test('headers of a parsed INVITE agree with drachtio-srf', () => {
  const raw = [
    'INVITE sip:5753606@10.1.10.1 SIP/2.0',
    'Via: SIP/2.0/UDP 10.1.10.101:5060;branch=z9hG4bK-1;rport',
    'v: SIP/2.0/TCP 10.1.10.102;branch=z9hG4bK-2',
    'Max-Forwards: 70',
    'From: "Dave" <sip:4083084809@10.1.10.101>;tag=as5f',
    't: <sip:5753606@10.1.10.1>',
    'Contact: <sip:4083084809@10.1.10.101:5060>',
    'Call-ID: 3c26700b@10.1.10.101',
    'CSeq: 102 INVITE',
    'Record-Route: <sip:10.1.10.50;lr;ftag=x>',
    'P-Asserted-Identity: "Dave" <sip:4083084809@10.1.10.101>',
    'Content-Length: 0',
    '', '',
  ].join('\r\n');
  const msg = new SipMessage(raw);
  for (const name of ['via', 'from', 'to', 'contact', 'cseq', 'record-route', 'p-asserted-identity', 'content-length',
    'max-forwards', 'call-id']) {
    assert.deepStrictEqual(ours.parseHeader(name, msg.get(name), msg.get('call-id')), msg.getParsedHeader(name), name);
  }
});
