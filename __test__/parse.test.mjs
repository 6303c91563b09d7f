// Unit tests for lib/parse.js. Expected values are literal (they were checked against drachtio-srf 5.0.29
// where it behaves sensibly; see __test__/interop/parse-compat.test.mjs for the live comparison).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { parseUri, stringifyUri, parseHeader, parseNameAddr, splitHeaderValues } = require('../lib/parse.js');

const sip = (o) => ({
  family: 'ipv4', scheme: 'sip', user: undefined, password: undefined, port: NaN, params: {}, headers: {}, ...o,
});

test('parseUri: basic sip URIs', () => {
  assert.deepEqual(parseUri('sip:alice@atlanta.com'), sip({ user: 'alice', host: 'atlanta.com' }));
  const r = parseUri('sip:atlanta.com');
  assert.deepEqual(r, sip({ host: 'atlanta.com' }));
  // absent user/password are present keys holding undefined; absent port is NaN (as drachtio-srf)
  assert.ok('user' in r && 'password' in r);
  assert.equal(r.user, undefined);
  assert.ok(Number.isNaN(r.port));
  assert.deepEqual(Object.keys(r), ['family', 'scheme', 'user', 'password', 'host', 'port', 'params', 'headers']);
});

test('parseUri: user, password, port, params, headers', () => {
  assert.deepEqual(parseUri('sip:a:pw@b.com:5060;lr;transport=tcp?x=y&z=w'), sip({
    user: 'a', password: 'pw', host: 'b.com', port: 5060, params: { lr: null, transport: 'tcp' },
    headers: { x: 'y', z: 'w' },
  }));
  assert.deepEqual(parseUri('sip:104461@10.1.0.100:61219;rinstance=9e9d1f7b14c8dcf1;transport=tcp'), sip({
    user: '104461', host: '10.1.0.100', port: 61219, params: { rinstance: '9e9d1f7b14c8dcf1', transport: 'tcp' },
  }));
  assert.deepEqual(parseUri('sip:+1555@sip.example.com;param1=v?User-To-User=AB;encoding=ascii&x=y'), sip({
    user: '+1555', host: 'sip.example.com', params: { param1: 'v' },
    headers: { 'User-To-User': 'AB;encoding=ascii', x: 'y' },
  }));
  assert.deepEqual(parseUri('sip:1234@10.101.10.1;transport=udp').params, { transport: 'udp' });
  assert.deepEqual(parseUri('sip:a@b.com;x?y=z'), sip({ user: 'a', host: 'b.com', params: { x: null }, headers: { y: 'z' } }));
  assert.deepEqual(parseUri('sip:a@B.COM;Transport=TCP').params, { Transport: 'TCP' });
  assert.deepEqual(parseUri('sip:a@b.com;a=b=c').params, { a: 'b=c' });
  assert.deepEqual(parseUri('sip:a@b.com?k').headers, { k: '' });
  assert.deepEqual(parseUri('sip:a@b.com?k=v;x=y&&m=n').headers, { k: 'v;x=y', m: 'n' });
  assert.deepEqual(parseUri('sip:+1-212-555-1212:1234@gateway.com;user=phone'), sip({
    user: '+1-212-555-1212', password: '1234', host: 'gateway.com', params: { user: 'phone' },
  }));
});

test('parseUri: user part containing ; ? and the first @', () => {
  assert.deepEqual(parseUri('sip:user;par=u%40example.net@example.com'),
    sip({ user: 'user;par=u%40example.net', host: 'example.com' }));
  assert.deepEqual(parseUri('sip:alice;day=tuesday@atlanta.com'), sip({ user: 'alice;day=tuesday', host: 'atlanta.com' }));
  assert.deepEqual(parseUri('sip:a@b.com;x=a@b'), sip({ user: 'a', host: 'b.com', params: { x: 'a@b' } }));
  assert.equal(parseUri('sip:@b.com').user, '');
  assert.equal(parseUri('sip:a:@b.com').password, '');
});

test('parseUri: host forms', () => {
  assert.deepEqual(parseUri('sip:[2001:db8::1]:5060;transport=tcp'),
    sip({ family: 'ipv6', host: '[2001:db8::1]', port: 5060, params: { transport: 'tcp' } }));
  assert.deepEqual(parseUri('sip:104461@[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:61219'), sip({
    family: 'ipv6', user: '104461', host: '[2001:0db8:85a3:0000:0000:8a2e:0370:7334]', port: 61219,
  }));
  assert.equal(parseUri('sip:a@[::ffff:1.2.3.4]').host, '[::ffff:1.2.3.4]');
  assert.equal(parseUri('sip:1234@feature-server').host, 'feature-server');
  assert.deepEqual(parseUri('sip:feature-server;transport=tcp'), sip({ host: 'feature-server', params: { transport: 'tcp' } }));
  assert.equal(parseUri('sip:cor10-san.sip.phone.com').host, 'cor10-san.sip.phone.com');
  assert.equal(parseUri('sip:test_sipp-uas_1.com').host, 'test_sipp-uas_1.com');
  assert.equal(parseUri('sips:x@1.2.3.4:5061').scheme, 'sips');
  assert.equal(parseUri('sip:a@b.com:99999').port, 99999);
});

test('parseUri: tel URIs', () => {
  assert.deepEqual(parseUri('<tel:+1-201-555-0123;phone-context=drachtio.org;ext=1>'), {
    scheme: 'tel', number: '+1-201-555-0123', context: 'drachtio.org',
    params: { 'phone-context': 'drachtio.org', ext: '1' },
  });
  assert.deepEqual(parseUri('<tel:+1-201-555-0123>'), { scheme: 'tel', number: '+1-201-555-0123', context: null, params: {} });
  assert.deepEqual(parseUri('tel:+123456789'), { scheme: 'tel', number: '+123456789', context: null, params: {} });
  assert.deepEqual(parseUri('<tel:+123>;tag=x'), { scheme: 'tel', number: '+123', context: null, params: {} });
  assert.deepEqual(parseUri('tel:+1;flag').params, { flag: null });
  assert.equal(parseUri('tel:*67').number, '*67');
});

test('parseUri: passthrough, lenient forms and garbage', () => {
  const o = { scheme: 'sip', host: 'x' };
  assert.equal(parseUri(o), o);
  assert.equal(parseUri(null), null);
  assert.deepEqual(parseUri('SIP:a@b.com'), sip({ user: 'a', host: 'b.com' }));
  assert.deepEqual(parseUri('  sip:a@b.com  '), sip({ user: 'a', host: 'b.com' }));
  for (const bad of [undefined, 42, '', 'foo', 'http://x', 'sipx:a@b', 'sip:', 'sip:alice@', 'sip:a@b.com:',
    'sip:a@b.com>', '<sip:a@b.com>', 'sip:a b@c.com', 'sip:a@b.com:5060:5061', 'sip:[]', 'sip:[zz::1]',
    'sip:[::1', 'sip:a@b,c', 'tel:', 'tel:abc', 'mailto:a@b']) {
    assert.equal(parseUri(bad), undefined, JSON.stringify(bad));
  }
});

test('stringifyUri: round trips and defaults', () => {
  for (const u of [
    'sip:alice@atlanta.com', 'sip:atlanta.com', 'sips:x@1.2.3.4:5061', 'sip:1234@10.101.10.1;transport=udp',
    'sip:a:pw@b.com:5060;lr;transport=tcp?x=y&z=w', 'sip:user;par=u%40example.net@example.com',
    'sip:[2001:db8::1]:5060;transport=tcp', 'sip:1234@feature-server', 'sip:feature-server;transport=tcp',
    'sip:+12345612341t2@sip.jambonz.xyz;param1=foo?User-To-User=XX12344321;encoding=ascii&baba=lala',
    'tel:+123456789', 'tel:+1-201-555-0123;phone-context=drachtio.org;ext=1', 'sip:a@b.com;x?y=z',
  ]) {
    assert.equal(stringifyUri(parseUri(u)), u);
  }
  assert.equal(stringifyUri(parseUri('<tel:+1-201-555-0123>')), 'tel:+1-201-555-0123');
  assert.equal(stringifyUri('sip:already@string'), 'sip:already@string');
  assert.equal(stringifyUri({ host: 'h.com', port: 5080 }), 'sip:h.com:5080');
  assert.equal(stringifyUri({ scheme: 'sips', user: 'u', host: 'h', params: { a: 'b', lr: null, c: undefined } }),
    'sips:u@h;a=b;lr;c');
  assert.equal(stringifyUri({ scheme: 'tel', number: '+1', params: { ext: '2' } }), 'tel:+1;ext=2');
  assert.throws(() => stringifyUri(null), TypeError);
});

test('parseHeader: name-addr headers', () => {
  assert.deepEqual(parseHeader('from', '"Smith, John" <sip:a@b.com>;tag=1'),
    { name: '"Smith, John"', uri: 'sip:a@b.com', params: { tag: '1' } });
  assert.deepEqual(parseHeader('to', 'Bob Smith <sip:a@b.com> ;tag = 1 ; Foo=Bar;flag'),
    { name: 'Bob Smith', uri: 'sip:a@b.com', params: { tag: '1', foo: 'Bar', flag: undefined } });
  assert.deepEqual(parseHeader('from', 'sip:a@b.com;tag=1'), { name: undefined, uri: 'sip:a@b.com', params: { tag: '1' } });
  // single-valued headers take the first value
  assert.deepEqual(parseHeader('from', '<sip:a@b.com;transport=tcp>;tag=1, <sip:c@d>'),
    { name: undefined, uri: 'sip:a@b.com;transport=tcp', params: { tag: '1' } });
  assert.deepEqual(parseHeader('p-asserted-identity', '"Cha Van" <tel:+1>, "Cha Van" <sip:c@d>'),
    { name: '"Cha Van"', uri: 'tel:+1', params: {} });
  assert.deepEqual(parseHeader('refer-to', '<sip:a@b?Replaces=abc%40d%3Bto-tag%3D1>'),
    { name: undefined, uri: 'sip:a@b?Replaces=abc%40d%3Bto-tag%3D1', params: {} });
  assert.deepEqual(parseHeader('referred-by', '<sip:a@b>;cid="x@y"'), { name: undefined, uri: 'sip:a@b', params: { cid: '"x@y"' } });
  assert.deepEqual(parseHeader('remote-party-id', '"A" <sip:1@2.3.4.5>;party=calling;privacy=off;screen=no'),
    { name: '"A"', uri: 'sip:1@2.3.4.5', params: { party: 'calling', privacy: 'off', screen: 'no' } });
  assert.deepEqual(parseHeader('from', '"a \\"q\\" b" <sip:x@y>;p="q;v"'),
    { name: '"a \\"q\\" b"', uri: 'sip:x@y', params: { p: '"q;v"' } });
  assert.deepEqual(parseHeader('from', 'Bob (work) <sip:a@b>'), { name: 'Bob (work)', uri: 'sip:a@b', params: {} });
  assert.deepEqual(parseHeader('from', '< sip:a@b >'), { name: undefined, uri: 'sip:a@b', params: {} });
  assert.deepEqual(parseHeader('from', '<sip:a@b'), { name: undefined, uri: 'sip:a@b', params: {} });
  assert.deepEqual(parseHeader('from', '  sip:a@b.com'), { name: undefined, uri: 'sip:a@b.com', params: {} });
  assert.deepEqual(parseHeader('to', ''), { name: undefined, uri: '', params: {} });
  assert.deepEqual(parseHeader('to', '<sip:a@b>;tag='), { name: undefined, uri: 'sip:a@b', params: { tag: '' } });
  // upper-case names are accepted
  assert.deepEqual(parseHeader('To', '<sip:a@b>;Tag=X'), { name: undefined, uri: 'sip:a@b', params: { tag: 'X' } });
});

test('parseNameAddr and splitHeaderValues', () => {
  assert.deepEqual(parseNameAddr('"Dave" <sip:dave@x.com>;tag=1'), { name: '"Dave"', uri: 'sip:dave@x.com', params: { tag: '1' } });
  assert.deepEqual(parseNameAddr(' , <sip:a@b>'), { name: undefined, uri: 'sip:a@b', params: {} });
  assert.deepEqual(parseNameAddr(undefined), { name: undefined, uri: '', params: {} });
  assert.deepEqual(splitHeaderValues('"Smith, John" <sip:a@b>;tag=1, <sip:c@d>'), ['"Smith, John" <sip:a@b>;tag=1', '<sip:c@d>']);
  assert.deepEqual(splitHeaderValues('<sip:a@b?x=1,2>, "a\\",b" <sip:c>,,  ,d'), ['<sip:a@b?x=1,2>', '"a\\",b" <sip:c>', 'd']);
  assert.deepEqual(splitHeaderValues('<sip:a"b@c>, <sip:d>'), ['<sip:a"b@c>', '<sip:d>']);
  assert.deepEqual(splitHeaderValues('"unterminated, x'), ['"unterminated, x']);
  assert.deepEqual(splitHeaderValues(''), []);
});

test('parseHeader: Contact', () => {
  assert.deepEqual(parseHeader('contact', '<sip:a@b>;expires=3600, "X, Y" <sip:c@d>;q=0.5'), [
    { name: undefined, uri: 'sip:a@b', params: { expires: '3600' } },
    { name: '"X, Y"', uri: 'sip:c@d', params: { q: '0.5' } },
  ]);
  assert.deepEqual(parseHeader('contact', 'sip:a@b;expires=30,sip:c@d'), [
    { name: undefined, uri: 'sip:a@b', params: { expires: '30' } },
    { name: undefined, uri: 'sip:c@d', params: {} },
  ]);
  assert.deepEqual(parseHeader('contact', '<sip:a@b>;+sip.instance="<urn:uuid:1234>";reg-id=1'), [
    { name: undefined, uri: 'sip:a@b', params: { '+sip.instance': '"<urn:uuid:1234>"', 'reg-id': '1' } },
  ]);
  // '*' comes back the way drachtio-srf really returns it
  assert.deepEqual(parseHeader('contact', '*'), [{ name: undefined, uri: '*', params: {} }]);
  assert.deepEqual(parseHeader('contact', '<sip:a@b> junk, <sip:c@d>').map((c) => c.uri), ['sip:a@b', 'sip:c@d']);
});

test('parseHeader: Route / Record-Route / Path carry parsed URIs', () => {
  assert.deepEqual(parseHeader('route', '<sip:p1.example.com;lr>, <sip:p2.example.com:5070;lr>'), [
    { name: undefined, uri: sip({ host: 'p1.example.com', params: { lr: null } }), params: {} },
    { name: undefined, uri: sip({ host: 'p2.example.com', port: 5070, params: { lr: null } }), params: {} },
  ]);
  assert.deepEqual(parseHeader('record-route', '<sip:[::1]:5060;lr>;x=1'), [
    { name: undefined, uri: sip({ family: 'ipv6', host: '[::1]', port: 5060, params: { lr: null } }), params: { x: '1' } },
  ]);
  assert.deepEqual(parseHeader('path', 'sip:p1.example.com;lr'),
    [{ name: undefined, uri: sip({ host: 'p1.example.com' }), params: { lr: undefined } }]);
  assert.deepEqual(parseHeader('route', '<http://x>'), [{ name: undefined, uri: undefined, params: {} }]);
});

test('parseHeader: Via', () => {
  assert.deepEqual(parseHeader('via', 'SIP/2.0/UDP 10.1.10.103;branch=z9hG4bKac619477603'), [
    { version: '2.0', protocol: 'UDP', host: '10.1.10.103', port: undefined, params: { branch: 'z9hG4bKac619477603' } },
  ]);
  assert.deepEqual(parseHeader('via', 'SIP/2.0/UDP 1.2.3.4:5060;branch=z9;rport;received=5.6.7.8, SIP/2.0/TCP host.com:5061;branch=abc'), [
    { version: '2.0', protocol: 'UDP', host: '1.2.3.4', port: 5060, params: { branch: 'z9', rport: undefined, received: '5.6.7.8' } },
    { version: '2.0', protocol: 'TCP', host: 'host.com', port: 5061, params: { branch: 'abc' } },
  ]);
  assert.deepEqual(parseHeader('via', 'SIP / 2.0 / UDP host : 5060 ; branch = x'),
    [{ version: '2.0', protocol: 'UDP', host: 'host', port: 5060, params: { branch: 'x' } }]);
  assert.deepEqual(parseHeader('via', 'SIP/2.0/TLS [2001:db8::1]:5061;branch=z9;received=2001:db8::9'),
    [{ version: '2.0', protocol: 'TLS', host: '[2001:db8::1]', port: 5061, params: { branch: 'z9', received: '2001:db8::9' } }]);
  assert.deepEqual(parseHeader('via', 'SIP/2.0/UDP h;x="a,b";branch=1'),
    [{ version: '2.0', protocol: 'UDP', host: 'h', port: undefined, params: { x: '"a,b"', branch: '1' } }]);
  for (const bad of ['garbage', 'SIP/2.0/UDP h;branch=1, junk', 'SIP/2.0/UDP', 'SIP/x/UDP h', 'SIP/2.0/UDP [::1']) {
    assert.throws(() => parseHeader('via', bad, 'abc@host'), (e) =>
      !(e instanceof TypeError) && /Via/.test(e.message) && /abc@host/.test(e.message), bad);
  }
});

test('parseHeader: CSeq and Content-Length', () => {
  assert.deepEqual(parseHeader('cseq', '1 INVITE'), { seq: 1, method: 'INVITE' });
  assert.deepEqual(parseHeader('cseq', '  314159   ACK '), { seq: 314159, method: 'ACK' });
  assert.deepEqual(parseHeader('cseq', '12'), { seq: 12, method: '' });
  assert.throws(() => parseHeader('cseq', 'INVITE', 'cid-1'), { message: "malformed CSeq header 'INVITE' in SIP message with Call-ID: cid-1" });
  assert.throws(() => parseHeader('cseq', ''), { message: "malformed CSeq header '' in SIP message with Call-ID: unknown" });
  assert.equal(parseHeader('content-length', '123'), 123);
  assert.equal(parseHeader('content-length', ' 12 '), 12);
  assert.ok(Number.isNaN(parseHeader('content-length', 'x')));
});

test('parseHeader: auth headers', () => {
  assert.deepEqual(parseHeader('www-authenticate',
    'Digest realm="atlanta.com", domain="sip:boxesbybob.com", qop="auth", nonce="f84f", opaque="", stale=FALSE, algorithm=MD5'), [{
    scheme: 'Digest', realm: '"atlanta.com"', domain: '"sip:boxesbybob.com"', qop: '"auth"', nonce: '"f84f"', opaque: '""',
    stale: 'FALSE', algorithm: 'MD5',
  }]);
  assert.deepEqual(parseHeader('proxy-authenticate', 'Digest realm="a,b",nonce="x", Digest realm="c", nonce="y"'), [
    { scheme: 'Digest', realm: '"a,b"', nonce: '"x"' },
    { scheme: 'Digest', realm: '"c"', nonce: '"y"' },
  ]);
  assert.deepEqual(parseHeader('authorization', 'Digest username="bob", uri="sip:bob@biloxi.com", qop=auth, nc=00000001'),
    [{ scheme: 'Digest', username: '"bob"', uri: '"sip:bob@biloxi.com"', qop: 'auth', nc: '00000001' }]);
  assert.deepEqual(parseHeader('proxy-authorization', 'Digest username="a\\"b", realm = "r" , nonce = y'),
    [{ scheme: 'Digest', username: '"a\\"b"', realm: '"r"', nonce: 'y' }]);
  assert.deepEqual(parseHeader('www-authenticate', 'digest Realm="X"'), [{ scheme: 'digest', Realm: '"X"' }]);
  assert.deepEqual(parseHeader('authorization', 'Basic abc=='), [{ scheme: 'Basic', abc: '=' }]);
  assert.deepEqual(parseHeader('authorization', 'Digest'), [{ scheme: 'Digest' }]);
  assert.deepEqual(parseHeader('authentication-info', 'nextnonce="4736", qop=auth, rspauth="abc", nc=00000001'),
    { nextnonce: '"4736"', qop: 'auth', rspauth: '"abc"', nc: '00000001' });
  assert.deepEqual(parseHeader('authentication-info', 'garbage'), {});
});

test('parseHeader: other headers are returned raw', () => {
  assert.equal(parseHeader('subject', 'hello, world'), 'hello, world');
  assert.equal(parseHeader('call-id', 'abc@def'), 'abc@def');
  assert.equal(parseHeader('x-custom', '<sip:a@b>'), '<sip:a@b>');
  // compact names are not expanded here (the caller normalises names)
  assert.equal(parseHeader('f', '<sip:a@b>'), '<sip:a@b>');
});

test('__proto__ keys stay ordinary keys', () => {
  const u = parseUri('sip:a@b.com;__proto__=x');
  assert.equal(Object.getPrototypeOf(u.params), Object.prototype);
  assert.equal(Object.getOwnPropertyDescriptor(u.params, '__proto__').value, 'x');
  const h = parseHeader('to', '<sip:a@b>;__proto__');
  assert.equal(Object.getPrototypeOf(h.params), Object.prototype);
});

const HEADERS = ['from', 'to', 'contact', 'route', 'record-route', 'path', 'via', 'cseq', 'content-length',
  'www-authenticate', 'authorization', 'authentication-info', 'p-asserted-identity', 'subject'];

function exercise(s) {
  parseUri(s);
  const u = parseUri(s);
  if (u) stringifyUri(u);
  splitHeaderValues(s);
  parseNameAddr(s);
  for (const h of HEADERS) {
    try {
      parseHeader(h, s, 'x');
    }
    catch (e) {
      // Only the documented, clear Errors are allowed
      assert.ok(!(e instanceof TypeError), `${h}: ${e.stack}`);
      assert.match(e.message, /^malformed (Via|CSeq) header/);
    }
  }
}

test('adversarial 8 KB inputs complete quickly and never throw TypeError', () => {
  const pieces = ['"', '<', '>', ';', ',', '=', '@', ':', ';a', ';a=', '"\\', 'a', ' ', '<"', '[', ']', 'sip:', '?&',
    'SIP/2.0/UDP h,', 'Digest ', 'a=b,', ';x="', '\\"', '%', '\t', 'tel:+1;', '<sip:a@b>;p="', ',;=<>"@:[]?&'];
  const prefixes = ['', 'sip:', 'sip:a@b.com', '<sip:a@b>', 'tel:+1', 'SIP/2.0/UDP ', 'Digest ', '1 '];
  const t0 = performance.now();
  for (const pre of prefixes) {
    for (const p of pieces) exercise(pre + p.repeat(Math.ceil(8192 / p.length)).slice(0, 8192));
  }
  const ms = performance.now() - t0;
  assert.ok(ms < 5000, `took ${ms} ms`);
});

test('random strings never throw TypeError', () => {
  // deterministic xorshift so failures reproduce
  let x = 0x2545f491;
  const rnd = (n) => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return (x >>> 0) % n;
  };
  const alphabet = 'sSiIpPtTeEl:;=@<>"\\,?&[] \t\r\n/.0129aAbBzZ-_+*#%';
  for (let k = 0; k < 3000; k++) {
    let s = '';
    const len = rnd(40);
    for (let i = 0; i < len; i++) s += alphabet[rnd(alphabet.length)];
    if (rnd(2)) s = ['sip:', 'sips:', 'tel:', '<', 'SIP/2.0/UDP ', 'Digest '][rnd(6)] + s;
    exercise(s);
  }
});
