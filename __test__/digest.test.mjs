// Digest authentication: the shared primitives (lib/digest.js), the client that answers 401/407
// challenges (lib/digest-client.js) and the server middleware (lib/digest-auth.js).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import crypto from 'node:crypto';

const require = createRequire(import.meta.url);
const digest = require('../lib/digest.js');
const DigestClient = require('../lib/digest-client.js');
const { resolveAuth } = require('../lib/digest-client.js');
const digestAuth = require('../lib/digest-auth.js');

const {
  parseChallenge, parseCredentials, parseAll, hash, computeResponse, buildAuthorization, chooseQop,
} = digest;

// The fuzzers draw from a seeded generator: a new seed each run (printed), or DIGEST_FUZZ_SEED to
// replay one. A failure message carries the seed.
const FUZZ_SEED = process.env.DIGEST_FUZZ_SEED ? Number(process.env.DIGEST_FUZZ_SEED) >>> 0 : crypto.randomInt(2 ** 32);
function seeded(seed) { // mulberry32
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    random: next,
    int: (n) => Math.floor(next() * n),
    bytes: (n) => Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256))),
  };
}
const fuzzRng = (t) => {
  t.diagnostic(`DIGEST_FUZZ_SEED=${FUZZ_SEED} (set it to replay this run)`);
  return seeded(FUZZ_SEED);
};

const md5 = (s) => crypto.createHash('md5').update(s).digest('hex');
const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');

// RFC 7616 §3.9.1
const RFC7616 = {
  username: 'Mufasa',
  password: 'Circle of Life',
  realm: 'http-auth@example.org',
  nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
  opaque: 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS',
  cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
  nc: '00000001',
  qop: 'auth',
  method: 'GET',
  uri: '/dir/index.html',
};
const RFC7616_MD5 = '8ca523f5e9506fed4657c9700eebdbec';
const RFC7616_SHA256 = '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1';

// RFC 2617 §3.5
const RFC2617 = {
  username: 'Mufasa',
  password: 'Circle Of Life',
  realm: 'testrealm@host.com',
  nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
  opaque: '5ccc069c403ebaf9f0171e9517f40e41',
  cnonce: '0a4f113b',
  nc: '00000001',
  qop: 'auth',
  method: 'GET',
  uri: '/dir/index.html',
};
const RFC2617_RESPONSE = '6629fae49393a05397450978507c4ef1';

/** Runs `fn` with DigestClient's cnonce generator fixed. */
function withCnonce(value, fn) {
  const orig = DigestClient.cnonce;
  DigestClient.cnonce = () => value;
  try { return fn(); } finally { DigestClient.cnonce = orig; }
}

// ---------------------------------------------------------------------------------------------
// fakes for the middleware

function fakeReq({ method = 'REGISTER', uri = 'sip:example.com', headers = {}, body } = {}) {
  return {
    method, uri, body, headers,
    get(name) {
      const k = Object.keys(headers).find((h) => h.toLowerCase() === String(name).toLowerCase());
      return k === undefined ? undefined : headers[k];
    },
    has(name) { return this.get(name) !== undefined; },
  };
}

/** A res whose send() records (status, opts); `send` follows the real signature loosely. */
function fakeRes() {
  const res = {
    sent: [],
    send(status, ...rest) {
      if (typeof rest[0] === 'string') rest.shift();
      const opts = rest[0] && typeof rest[0] === 'object' ? rest[0] : {};
      res.sent.push({ status, headers: opts.headers || {} });
      if (res._onOutcome) res._onOutcome();
    },
  };
  return res;
}

/** Runs the middleware once; resolves {status, headers, next: [args...] | undefined, req, outcomes}. */
function run(mw, req, res = fakeRes()) {
  return new Promise((resolve) => {
    const nextCalls = [];
    let outcomes = 0;
    const settle = () => {
      outcomes++;
      // let any (wrong) further outcome show up before resolving
      setImmediate(() => setImmediate(() => {
        const last = res.sent[res.sent.length - 1];
        resolve({
          status: last && last.status,
          headers: last ? last.headers : {},
          next: nextCalls[0],
          nextCalls,
          outcomes,
          sent: res.sent,
          req,
        });
      }));
    };
    res._onOutcome = () => { if (outcomes === 0) settle(); else outcomes++; };
    mw(req, res, (...args) => {
      nextCalls.push(args);
      if (outcomes === 0) settle(); else outcomes++;
    });
  });
}

const users = { alice: 'secret', bob: 'hunter2', 'q"uote': 'pw' };
const lookup = (username, realm, cb) => cb(null, users[username] ?? null);

/** challenge → our client's credentials; returns the credential header value. */
function answer(challengeRes, { method = 'REGISTER', uri = 'sip:example.com', username = 'alice',
  password = 'secret', client = new DigestClient(), ha1 } = {}) {
  const header = challengeRes.status === 407 ? 'Proxy-Authenticate' : 'WWW-Authenticate';
  const res = {
    status: challengeRes.status,
    get: (n) => (n.toLowerCase() === header.toLowerCase() ? challengeRes.headers[header] : undefined),
  };
  return client.nextCredentials({ res, method, uri, username, password, ha1 });
}

async function authenticated(mw, { username = 'alice', password = 'secret', proxy = false, reqOpts = {} } = {}) {
  const first = await run(mw, fakeReq(reqOpts));
  assert.equal(first.status, proxy ? 407 : 401);
  const cred = answer(first, { username, password, uri: reqOpts.uri || 'sip:example.com',
    method: reqOpts.method || 'REGISTER' });
  const req = fakeReq({ ...reqOpts, headers: { [cred.header]: cred.value } });
  return { first, cred, second: await run(mw, req) };
}

// ---------------------------------------------------------------------------------------------

describe('known-answer vectors', () => {
  test('RFC 7616 §3.9.1 MD5 and SHA-256', () => {
    assert.equal(computeResponse({ ...RFC7616, algorithm: 'MD5' }), RFC7616_MD5);
    assert.equal(computeResponse({ ...RFC7616, algorithm: 'SHA-256' }), RFC7616_SHA256);
    assert.equal(computeResponse({ ...RFC7616, algorithm: 'sha-256' }), RFC7616_SHA256);
  });

  test('RFC 2617 §3.5 (MD5, algorithm defaults to MD5)', () => {
    assert.equal(computeResponse(RFC2617), RFC2617_RESPONSE);
    assert.equal(computeResponse({ ...RFC2617, nc: 1 }), RFC2617_RESPONSE, 'numeric nc is formatted');
  });

  test('precomputed ha1 gives the same answer', () => {
    const ha1 = md5(`${RFC7616.username}:${RFC7616.realm}:${RFC7616.password}`);
    assert.equal(computeResponse({ ...RFC7616, password: undefined, ha1, algorithm: 'MD5' }), RFC7616_MD5);
    const ha1s = sha256(`${RFC7616.username}:${RFC7616.realm}:${RFC7616.password}`);
    assert.equal(computeResponse({ ...RFC7616, password: undefined, ha1: ha1s, algorithm: 'SHA-256' }),
      RFC7616_SHA256);
  });

  test('no qop (RFC 2069 form) and -sess variants, checked against an independent computation', () => {
    const { username, realm, password, nonce, method, uri, cnonce, nc } = RFC7616;
    const ha1 = md5(`${username}:${realm}:${password}`);
    const ha2 = md5(`${method}:${uri}`);
    assert.equal(computeResponse({ username, realm, password, nonce, method, uri }), md5(`${ha1}:${nonce}:${ha2}`));

    const sessHa1 = md5(`${ha1}:${nonce}:${cnonce}`);
    assert.equal(computeResponse({ ...RFC7616, algorithm: 'MD5-sess' }),
      md5(`${sessHa1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`));

    const sha1 = sha256(`${username}:${realm}:${password}`);
    const shaSess = sha256(`${sha1}:${nonce}:${cnonce}`);
    assert.equal(computeResponse({ ...RFC7616, algorithm: 'SHA-256-sess' }),
      sha256(`${shaSess}:${nonce}:${nc}:${cnonce}:auth:${sha256(`${method}:${uri}`)}`));
  });

  test('qop auth-int hashes the body', () => {
    const { username, realm, password, nonce, method, uri, cnonce, nc } = RFC7616;
    const ha1 = md5(`${username}:${realm}:${password}`);
    const ha2 = md5(`${method}:${uri}:${md5('v=0\r\n')}`);
    assert.equal(computeResponse({ ...RFC7616, qop: 'auth-int', body: 'v=0\r\n' }),
      md5(`${ha1}:${nonce}:${nc}:${cnonce}:auth-int:${ha2}`));
  });

  test('hash()', () => {
    assert.equal(hash('MD5', 'abc'), '900150983cd24fb0d6963f7d28e17f72');
    assert.equal(hash('md5-sess', 'abc'), '900150983cd24fb0d6963f7d28e17f72');
    assert.equal(hash('SHA-256', 'abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.equal(hash('SHA-256-sess', 'abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.throws(() => hash('SHA-512-256', 'abc'), /unsupported digest algorithm: SHA-512-256/);
  });

  test('the RFC 7616 challenges answered by the client (SHA-256 preferred over MD5)', () => {
    const ch = (alg) => `Digest realm="${RFC7616.realm}", qop="auth, auth-int", algorithm=${alg}, ` +
      `nonce="${RFC7616.nonce}", opaque="${RFC7616.opaque}"`;
    const res = { status: 401, get: (n) => (n === 'www-authenticate' ? `${ch('MD5')},${ch('SHA-256')}` : undefined) };
    const out = withCnonce(RFC7616.cnonce, () => new DigestClient().nextCredentials({
      res, method: 'GET', uri: RFC7616.uri, username: RFC7616.username, password: RFC7616.password,
    }));
    assert.equal(out.header, 'Authorization');
    assert.equal(out.value,
      `Digest username="Mufasa",realm="http-auth@example.org",nonce="${RFC7616.nonce}",uri="/dir/index.html",` +
      `response="${RFC7616_SHA256}",algorithm=SHA-256,qop=auth,opaque="${RFC7616.opaque}",nc=00000001,` +
      `cnonce="${RFC7616.cnonce}"`);

    const onlyMd5 = { status: 401, get: () => ch('MD5') };
    const out2 = withCnonce(RFC7616.cnonce, () => new DigestClient().nextCredentials({
      res: onlyMd5, method: 'GET', uri: RFC7616.uri, username: RFC7616.username, password: RFC7616.password,
    }));
    assert.equal(parseCredentials(out2.value).response, RFC7616_MD5);
  });
});

describe('parsing', () => {
  test('challenge params quoted and unquoted, scheme case-insensitive', () => {
    const c = parseChallenge('DIGEST realm="sip.example.com", nonce=abc123,algorithm=MD5 ,qop="auth", opaque=""');
    assert.deepEqual(c, { scheme: 'digest', realm: 'sip.example.com', nonce: 'abc123', algorithm: 'MD5',
      qop: 'auth', opaque: '' });
    assert.equal(parseChallenge('digest realm="x"').realm, 'x');
    assert.equal(parseChallenge('  Digest   realm = "x" ').realm, 'x');
  });

  test('commas inside quotes, escaped quotes, stale as boolean, qop list', () => {
    const c = parseChallenge('Digest realm="a, b", nonce="n\\"q", qop="auth,auth-int", stale=TRUE');
    assert.equal(c.realm, 'a, b');
    assert.equal(c.nonce, 'n"q');
    assert.equal(c.qop, 'auth,auth-int');
    assert.equal(c.stale, true);
    assert.equal(parseChallenge('Digest realm="a", stale=false').stale, false);
    assert.equal(chooseQop(c.qop), 'auth');
    assert.equal(chooseQop('auth-int'), 'auth-int');
    assert.equal(chooseQop(' Auth-Int , AUTH '), 'auth');
    assert.equal(chooseQop('foo'), undefined);
    // unquoted list (a common server bug) still parsed as a list
    assert.equal(parseChallenge('Digest realm="a", qop=auth,auth-int, nonce="n"').qop, 'auth,auth-int');
    assert.equal(parseChallenge('Digest realm="a", qop=auth,auth-int, nonce="n"').nonce, 'n');
  });

  test('non-Digest → {}', () => {
    assert.deepEqual(parseChallenge('Basic realm="x"'), {});
    assert.deepEqual(parseChallenge('realm="x", nonce="y"'), {});
    assert.deepEqual(parseChallenge(''), {});
    assert.deepEqual(parseChallenge(undefined), {});
    assert.deepEqual(parseChallenge(42), {});
    assert.deepEqual(parseChallenge('Digestrealm="x"'), {});
  });

  test('several challenges in one joined header', () => {
    const v = 'Digest realm="a", nonce="b", algorithm=MD5, Digest realm="c",nonce="d",algorithm=SHA-256,' +
      'Basic realm="e",Negotiate abc==, Digest realm="f, g", nonce="h"';
    const all = parseAll(v);
    assert.deepEqual(all.map((c) => c.scheme), ['digest', 'digest', 'basic', 'negotiate', 'digest']);
    assert.deepEqual(all[0], { scheme: 'digest', realm: 'a', nonce: 'b', algorithm: 'MD5' });
    assert.deepEqual(all[1], { scheme: 'digest', realm: 'c', nonce: 'd', algorithm: 'SHA-256' });
    assert.equal(all[3].token68, 'abc==');
    assert.equal(all[4].realm, 'f, g');
    assert.equal(all[4].nonce, 'h');
    // parseChallenge: the first Digest one, even after another scheme
    assert.equal(parseChallenge('Basic realm="x", Digest realm="y", nonce="z"').realm, 'y');
  });

  test('credentials', () => {
    const v = 'Digest username="103482",realm="sip.drachtio.org",nonce="df24fd41-4fc5",' +
      'uri="sip:73.15.46.10:6060",algorithm=MD5,response="a4881ad854cc0677158206ac9fa90e3b",' +
      'qop=auth,nc=00000032,cnonce="ea5cec20"';
    assert.deepEqual(parseCredentials(v), {
      scheme: 'digest', username: '103482', realm: 'sip.drachtio.org', nonce: 'df24fd41-4fc5',
      uri: 'sip:73.15.46.10:6060', algorithm: 'MD5', response: 'a4881ad854cc0677158206ac9fa90e3b',
      qop: 'auth', nc: '00000032', cnonce: 'ea5cec20',
    });
  });

  test('parameter names are lower-cased, first occurrence wins, reserved names ignored', () => {
    const c = parseChallenge('Digest Realm="a", realm="b", __proto__="x", scheme="basic", constructor=1');
    assert.equal(c.realm, 'a');
    assert.equal(c.scheme, 'digest');
    assert.equal(Object.getPrototypeOf(c), Object.prototype);
    assert.equal(Object.prototype.hasOwnProperty.call(c, 'constructor'), false);
  });

  test('fuzz: 2000 random strings never throw', (t) => {
    const rng = fuzzRng(t);
    const alphabet = 'Digest realm= nonce"\\,;:=\t qop=auth,auth-int algorithm=SHA-256 Basic xyz\u00e9\u0000';
    for (let i = 0; i < 2000; i++) {
      const len = rng.int(80);
      let s = '';
      if (i % 2) for (let j = 0; j < len; j++) s += alphabet[rng.int(alphabet.length)];
      else s = rng.bytes(len).toString('latin1');
      assert.doesNotThrow(() => { parseAll(s); parseChallenge(s); parseCredentials(s); }, `${JSON.stringify(s)} (DIGEST_FUZZ_SEED=${FUZZ_SEED})`);
      const c = parseChallenge(s);
      assert.equal(typeof c, 'object');
    }
  });
});

describe('buildAuthorization', () => {
  test('MD5 without qop: exact format', () => {
    const v = buildAuthorization({ username: 'bob', password: 'pw', realm: 'r', nonce: 'n', uri: 'sip:x',
      method: 'INVITE' });
    const resp = md5(`${md5('bob:r:pw')}:n:${md5('INVITE:sip:x')}`);
    assert.equal(v, `Digest username="bob",realm="r",nonce="n",uri="sip:x",response="${resp}",algorithm=MD5`);
  });

  test('with qop, opaque, nc, cnonce: exact format and order', () => {
    const v = buildAuthorization({ username: 'bob', password: 'pw', realm: 'r', nonce: 'n', uri: 'sip:x',
      method: 'INVITE', qop: 'auth,auth-int', opaque: 'op', nc: 2, cnonce: 'deadbeef' });
    const resp = md5(`${md5('bob:r:pw')}:n:00000002:deadbeef:auth:${md5('INVITE:sip:x')}`);
    assert.equal(v, `Digest username="bob",realm="r",nonce="n",uri="sip:x",response="${resp}",algorithm=MD5,` +
      'qop=auth,opaque="op",nc=00000002,cnonce="deadbeef"');
  });

  test('SHA-256, empty realm, quoting of special characters, given response kept', () => {
    const v = buildAuthorization({ username: 'a"b', realm: '', nonce: 'n', uri: 'sip:x', response: 'abc',
      algorithm: 'sha-256' });
    assert.equal(v, 'Digest username="a\\"b",realm="",nonce="n",uri="sip:x",response="abc",algorithm=SHA-256');
    assert.equal(parseCredentials(v).username, 'a"b');
  });
});

describe('DigestClient', () => {
  const res = (status, header, value) => ({
    status,
    get: (n) => (n.toLowerCase() === header ? value : undefined),
  });
  const base = { method: 'INVITE', uri: 'sip:bob@example.com', username: 'alice', password: 'secret' };

  test('errors of api.md §8', () => {
    const c = new DigestClient();
    assert.throws(() => c.nextCredentials({ ...base, res: res(401, 'x', 'y') }),
      { message: 'missing www-authenticate in 401 response' });
    assert.throws(() => c.nextCredentials({ ...base, res: res(407, 'www-authenticate', 'Digest realm="a"') }),
      { message: 'missing proxy-authenticate in 407 response' });
    assert.throws(() => c.nextCredentials({ ...base, res: { status: 401, has: () => true, get: () => '' } }),
      { message: 'empty or non-string www-authenticate value in 401 response' });
    assert.throws(() => c.nextCredentials({ ...base, res: { statusCode: 407, has: () => true, get: () => 17 } }),
      { message: 'empty or non-string proxy-authenticate value in 407 response' });
    assert.throws(() => c.nextCredentials({ ...base, res: res(401, 'www-authenticate', 'Basic realm="a"') }),
      { message: 'no supported digest algorithm in challenge' });
    assert.throws(() => c.nextCredentials({ ...base,
      res: res(401, 'www-authenticate', 'Digest realm="a", nonce="b", algorithm=SHA-512-256') }),
    { message: 'no supported digest algorithm in challenge' });
  });

  test('401 → Authorization, 407 → Proxy-Authorization; statusCode accepted', () => {
    const c = new DigestClient();
    assert.equal(c.nextCredentials({ ...base, res: res(401, 'www-authenticate', 'Digest realm="a", nonce="b"') })
      .header, 'Authorization');
    const p = c.nextCredentials({ ...base,
      res: { statusCode: 407, get: (n) => (n === 'proxy-authenticate' ? 'Digest realm="a", nonce="b"' : undefined) } });
    assert.equal(p.header, 'Proxy-Authorization');
    assert.match(p.value, /^Digest username="alice",realm="a",nonce="b",uri="sip:bob@example.com",response="[0-9a-f]{32}",algorithm=MD5$/);
  });

  test('strongest algorithm chosen from a joined header; unknown algorithms skipped', () => {
    const v = 'Digest realm="a", nonce="n1", algorithm=SHA-512-256, qop="auth", ' +
      'Digest realm="a", nonce="n2", algorithm=MD5, qop="auth", Digest realm="a", nonce="n3", algorithm=SHA-256, qop="auth"';
    const out = new DigestClient().nextCredentials({ ...base, res: res(401, 'www-authenticate', v) });
    const cr = parseCredentials(out.value);
    assert.equal(cr.algorithm, 'SHA-256');
    assert.equal(cr.nonce, 'n3');
    assert.equal(out.algorithm, 'SHA-256');
    assert.equal(cr.response,
      computeResponse({ ...base, algorithm: 'SHA-256', realm: 'a', nonce: 'n3', qop: 'auth', nc: cr.nc,
        cnonce: cr.cnonce }));
  });

  test('nc increments per nonce, restarts for a new nonce; cnonce is 8 hex chars', () => {
    const c = new DigestClient();
    const ch = (n) => res(401, 'www-authenticate', `Digest realm="a", nonce="${n}", qop="auth"`);
    const nc = (n) => parseCredentials(c.nextCredentials({ ...base, res: ch(n) }).value).nc;
    assert.equal(nc('x'), '00000001');
    assert.equal(nc('x'), '00000002');
    assert.equal(nc('y'), '00000001');
    assert.equal(nc('x'), '00000003');
    for (let i = 4; i <= 16; i++) nc('x');
    assert.equal(nc('x'), '00000011', 'nc is hexadecimal (RFC 7616 nc-value)');
    const cn = parseCredentials(c.nextCredentials({ ...base, res: ch('z') }).value).cnonce;
    assert.match(cn, /^[0-9a-f]{8}$/);
    assert.equal(c.nextNc('fresh'), '00000001');
  });

  test('no qop: no nc/cnonce; precomputed ha1 usable', () => {
    const c = new DigestClient();
    const r = res(401, 'www-authenticate', 'Digest realm="a", nonce="b", opaque="o"');
    const out = c.nextCredentials({ ...base, res: r });
    assert.doesNotMatch(out.value, /nc=|cnonce=/);
    assert.match(out.value, /,opaque="o"$/);
    const out2 = c.nextCredentials({ ...base, password: undefined, ha1: md5('alice:a:secret'), res: r });
    assert.equal(parseCredentials(out2.value).response, parseCredentials(out.value).response);
  });

  test('resolveAuth', async () => {
    assert.deepEqual(await resolveAuth({ username: 'u', password: 'p' }), { username: 'u', password: 'p' });
    const seen = [];
    const fn = (req, res, cb) => { seen.push(req, res); cb(null, 'u2', 'p2'); cb(null, 'again', 'x'); };
    assert.deepEqual(await resolveAuth(fn, 'REQ', 'RES'), { username: 'u2', password: 'p2' });
    assert.deepEqual(seen, ['REQ', 'RES']);
    await assert.rejects(resolveAuth((req, res, cb) => cb(new Error('nope'))), { message: 'nope' });
    await assert.rejects(resolveAuth(() => { throw new Error('boom'); }), { message: 'boom' });
    await assert.rejects(resolveAuth(undefined),
      { message: 'no credentials were supplied to reply to server authentication challenge' });
    const later = (req, res, cb) => setTimeout(() => cb(null, 'late', 'pw'), 5);
    assert.deepEqual(await resolveAuth(later), { username: 'late', password: 'pw' });
  });
});

describe('digestAuth middleware', () => {
  test('options are validated', () => {
    assert.throws(() => digestAuth({}), /passwordLookup/);
    assert.throws(() => digestAuth(), /options/);
    assert.throws(() => digestAuth({ passwordLookup: lookup, algorithms: ['SHA-512'] }), /unsupported/);
    assert.throws(() => digestAuth({ passwordLookup: lookup, algorithms: [] }), /algorithms/);
    assert.throws(() => digestAuth({ passwordLookup: lookup, nonceExpiry: -1 }), /nonceExpiry/);
    assert.throws(() => digestAuth({ passwordLookup: lookup, qop: 'foo' }), /qop/);
    assert.throws(() => digestAuth({ passwordLookup: lookup, nonceSecret: 42 }), /nonceSecret/);
    assert.equal(typeof digestAuth.digestAuth, 'function');
    assert.equal(digestAuth({ passwordLookup: lookup }).length, 3, 'arity 3: a normal (non-error) middleware');
  });

  test('challenge → credentials → accepted (MD5 default)', async () => {
    const mw = digestAuth({ realm: 'example.com', passwordLookup: lookup });
    const { first, second } = await authenticated(mw);
    const www = first.headers['WWW-Authenticate'];
    assert.match(www, /^Digest realm="example.com", nonce="[A-Za-z0-9_-]{43}", opaque="[0-9a-f]{32}", algorithm=MD5, qop="auth"$/);
    assert.equal(first.next, undefined);
    assert.equal(second.sent.length, 0);
    assert.deepEqual(second.next, []);
    assert.equal(second.outcomes, 1);
    const a = second.req.authorization;
    assert.equal(a.scheme, 'digest');
    assert.equal(a.username, 'alice');
    assert.equal(a.realm, 'example.com');
    assert.equal(a.algorithm, 'MD5');
    assert.equal(a.qop, 'auth');
    assert.equal(a.nc, '00000001');
    assert.equal(a.uri, 'sip:example.com');
  });

  test('wrong password → 403; unknown user → 403', async () => {
    const mw = digestAuth({ realm: 'example.com', passwordLookup: lookup });
    const wrong = await authenticated(mw, { password: 'nope' });
    assert.equal(wrong.second.status, 403);
    assert.equal(wrong.second.next, undefined);
    assert.equal(wrong.second.req.authorization, undefined);
    const unknown = await authenticated(mw, { username: 'mallory', password: 'x' });
    assert.equal(unknown.second.status, 403);
    const empty = digestAuth({ realm: 'example.com', passwordLookup: (u, r, cb) => cb(null, '') });
    assert.equal((await authenticated(empty, { password: '' })).second.status, 403, 'falsy password = unknown user');
  });

  test('SHA-256 and MD5 offered together, SHA-256 first; either accepted', async () => {
    const mw = digestAuth({ realm: 'example.com', passwordLookup: lookup, algorithms: ['MD5', 'SHA-256'] });
    const { first, second } = await authenticated(mw);
    const chs = parseAll(first.headers['WWW-Authenticate']);
    assert.deepEqual(chs.map((c) => c.algorithm), ['SHA-256', 'MD5']);
    assert.equal(chs[0].nonce, chs[1].nonce);
    assert.deepEqual(second.next, []);
    assert.equal(second.req.authorization.algorithm, 'SHA-256');

    // an MD5-only client answering the second challenge
    const md5Only = { status: 401, headers: { 'WWW-Authenticate': `Digest ${first.headers['WWW-Authenticate'].split(', Digest ')[1]}` } };
    const cred = answer(md5Only);
    assert.match(cred.value, /algorithm=MD5/);
    const r = await run(mw, fakeReq({ headers: { Authorization: cred.value } }));
    assert.deepEqual(r.next, []);
  });

  test('SHA-256 only: MD5 credentials get a fresh challenge', async () => {
    const mw = digestAuth({ realm: 'example.com', passwordLookup: lookup, algorithms: ['SHA-256'] });
    const { first, second } = await authenticated(mw);
    assert.match(first.headers['WWW-Authenticate'], /algorithm=SHA-256/);
    assert.doesNotMatch(first.headers['WWW-Authenticate'], /MD5/);
    assert.deepEqual(second.next, []);
    const c = parseChallenge(first.headers['WWW-Authenticate']);
    const v = buildAuthorization({ username: 'alice', password: 'secret', realm: 'example.com', nonce: c.nonce,
      uri: 'sip:example.com', method: 'REGISTER', qop: 'auth', nc: 1, cnonce: 'abcd1234', opaque: c.opaque });
    const r = await run(mw, fakeReq({ headers: { Authorization: v } }));
    assert.equal(r.status, 401);
  });

  test('precomputed ha1 (MD5 string, SHA-256 string, per-algorithm object)', async () => {
    const ha1md5 = md5('alice:example.com:secret');
    const ha1sha = sha256('alice:example.com:secret');
    const mk = (found, algorithms) => digestAuth({ realm: 'example.com', algorithms,
      passwordLookup: (u, r, cb) => cb(null, found) });
    assert.deepEqual((await authenticated(mk({ ha1: ha1md5 }))).second.next, []);
    assert.deepEqual((await authenticated(mk({ ha1: ha1md5.toUpperCase() }))).second.next, []);
    assert.deepEqual((await authenticated(mk({ ha1: ha1sha }, ['SHA-256']))).second.next, []);
    assert.deepEqual((await authenticated(mk({ ha1: { 'MD5': ha1md5, 'SHA-256': ha1sha } }, ['SHA-256', 'MD5'])))
      .second.next, []);
    // an MD5 ha1 cannot verify a SHA-256 answer
    assert.equal((await authenticated(mk({ ha1: ha1md5 }, ['SHA-256']))).second.status, 403);
    assert.equal((await authenticated(mk({ ha1: md5('alice:example.com:other') }))).second.status, 403);
  });

  test('proxy mode: 407 / Proxy-Authenticate / Proxy-Authorization', async () => {
    const mw = digestAuth({ proxy: true, realm: 'example.com', passwordLookup: lookup });
    const { first, cred, second } = await authenticated(mw, { proxy: true, reqOpts: { method: 'INVITE', uri: 'sip:bob@example.com' } });
    assert.equal(first.status, 407);
    assert.ok(first.headers['Proxy-Authenticate']);
    assert.equal(first.headers['WWW-Authenticate'], undefined);
    assert.equal(cred.header, 'Proxy-Authorization');
    assert.deepEqual(second.next, []);
    // an Authorization header is not what a proxy looks at
    const r = await run(mw, fakeReq({ method: 'INVITE', headers: { Authorization: cred.value } }));
    assert.equal(r.status, 407);
  });

  test('stale nonce with a correct digest → challenge with stale=true; with a wrong one → 403', async (t) => {
    // The nonce's age is read from Date.now: the test owns the clock, so no sleep decides it.
    let now = Date.now();
    t.mock.method(Date, 'now', () => now);
    const mw = digestAuth({ realm: 'example.com', passwordLookup: lookup, nonceExpiry: 0.05 });
    const first = await run(mw, fakeReq());
    const good = answer(first);
    const bad = answer(first, { password: 'wrong' });
    now += 49;
    assert.deepEqual((await run(mw, fakeReq({ headers: { Authorization: answer(first).value } }))).next, [], 'still fresh at 49 ms');
    now += 71; // 120 ms: past the 50 ms expiry
    const r = await run(mw, fakeReq({ headers: { Authorization: good.value } }));
    assert.equal(r.status, 401);
    const c = parseChallenge(r.headers['WWW-Authenticate']);
    assert.equal(c.stale, true);
    assert.match(r.headers['WWW-Authenticate'], /, stale=true$/);
    assert.notEqual(c.nonce, parseCredentials(good.value).nonce);
    assert.equal((await run(mw, fakeReq({ headers: { Authorization: bad.value } }))).status, 403);
    // the client answers the stale challenge and gets in
    const again = answer(r);
    assert.deepEqual((await run(mw, fakeReq({ headers: { Authorization: again.value } }))).next, []);
  });

  test('tampered or foreign nonce → a fresh challenge (no stale), not 403', async () => {
    const mw = digestAuth({ realm: 'example.com', passwordLookup: lookup });
    const first = await run(mw, fakeReq());
    const c = parseChallenge(first.headers['WWW-Authenticate']);
    const flip = c.nonce[5] === 'A' ? 'B' : 'A';
    const tampered = c.nonce.slice(0, 5) + flip + c.nonce.slice(6);
    for (const nonce of [tampered, 'not-our-nonce', c.nonce + 'x']) {
      const v = buildAuthorization({ username: 'alice', password: 'secret', realm: 'example.com', nonce,
        uri: 'sip:example.com', method: 'REGISTER', qop: 'auth', nc: 1, cnonce: 'abcd1234', opaque: c.opaque });
      const r = await run(mw, fakeReq({ headers: { Authorization: v } }));
      assert.equal(r.status, 401, nonce);
      assert.equal(parseChallenge(r.headers['WWW-Authenticate']).stale, undefined);
    }
    // a nonce from another instance (other secret) is foreign too; a shared nonceSecret makes it valid
    const other = digestAuth({ realm: 'example.com', passwordLookup: lookup });
    const cred = answer(first);
    assert.equal((await run(other, fakeReq({ headers: { Authorization: cred.value } }))).status, 401);
    const s1 = digestAuth({ realm: 'example.com', passwordLookup: lookup, nonceSecret: 'shared' });
    const s2 = digestAuth({ realm: 'example.com', passwordLookup: lookup, nonceSecret: 'shared' });
    const ch = await run(s1, fakeReq());
    assert.deepEqual((await run(s2, fakeReq({ headers: { Authorization: answer(ch).value } }))).next, []);
    // changed opaque → fresh challenge
    const v = answer(first).value.replace(/opaque="[^"]*"/, 'opaque="changed"');
    assert.equal((await run(mw, fakeReq({ headers: { Authorization: v } }))).status, 401);
  });

  test('nonce is bound to the realm', async () => {
    const mw = digestAuth({ realm: (req) => (req.uri.includes('a.com') ? 'a.com' : 'b.com'), passwordLookup: lookup });
    const first = await run(mw, fakeReq({ uri: 'sip:a.com' }));
    const c = parseChallenge(first.headers['WWW-Authenticate']);
    const v = buildAuthorization({ username: 'alice', password: 'secret', realm: 'b.com', nonce: c.nonce,
      uri: 'sip:b.com', method: 'REGISTER', qop: 'auth', nc: 1, cnonce: 'abcd1234' });
    assert.equal((await run(mw, fakeReq({ uri: 'sip:b.com', headers: { Authorization: v } }))).status, 401);
  });

  test('realm: function, promise, null → 403, default from the Request-URI', async () => {
    const viaPromise = digestAuth({ realm: async () => 'p.example', passwordLookup: lookup });
    const r1 = await run(viaPromise, fakeReq());
    assert.equal(parseChallenge(r1.headers['WWW-Authenticate']).realm, 'p.example');

    const none = digestAuth({ realm: () => null, passwordLookup: lookup });
    const r2 = await run(none, fakeReq());
    assert.equal(r2.status, 403);
    assert.equal(r2.headers.Reason, 'SIP ;cause=403 ;text="Invalid domain"');
    const r2b = await run(digestAuth({ realm: () => Promise.resolve(undefined), passwordLookup: lookup }), fakeReq());
    assert.equal(r2b.status, 403);

    const dflt = digestAuth({ passwordLookup: lookup });
    const r3 = await run(dflt, fakeReq({ uri: 'sip:alice@Registrar.example.org:5060;transport=tcp' }));
    assert.equal(parseChallenge(r3.headers['WWW-Authenticate']).realm, 'Registrar.example.org');
    assert.equal((await run(dflt, fakeReq({ uri: 'garbage' }))).status, 403);

    const throwing = digestAuth({ realm: () => { throw new Error('realm db down'); }, passwordLookup: lookup });
    const r4 = await run(throwing, fakeReq());
    assert.equal(r4.next[0].message, 'realm db down');
    assert.equal(r4.sent.length, 0);
  });

  test('credentials for another realm → challenge for ours; several entries: ours is used', async () => {
    const mw = digestAuth({ realm: 'example.com', passwordLookup: lookup });
    const first = await run(mw, fakeReq());
    const ours = answer(first).value;
    const foreign = buildAuthorization({ username: 'alice', password: 'x', realm: 'other.net', nonce: 'n',
      uri: 'sip:example.com', method: 'REGISTER' });
    assert.equal((await run(mw, fakeReq({ headers: { Authorization: foreign } }))).status, 401);
    const r = await run(mw, fakeReq({ headers: { Authorization: `${foreign},${ours}` } }));
    assert.deepEqual(r.next, []);
    assert.equal(r.req.authorization.realm, 'example.com');
  });

  test('srf.endSession is called after 400/401/403/407 only', async () => {
    const ended = [];
    const srf = { endSession: (req) => ended.push(req) };
    const mw = digestAuth({ realm: 'example.com', passwordLookup: lookup, srf });
    const { first, second } = await authenticated(mw);
    assert.deepEqual(ended, [first.req]);
    assert.deepEqual(second.next, []);
    await authenticated(mw, { password: 'bad' });
    assert.equal(ended.length, 3);
    await run(mw, fakeReq({ headers: { Authorization: 'Digest realm="example.com"' } }));
    assert.equal(ended.length, 4);
    const px = digestAuth({ proxy: true, realm: 'example.com', passwordLookup: lookup, srf });
    await run(px, fakeReq());
    assert.equal(ended.length, 5);
  });

  test('passwordLookup error (callback or throw) → next(err)', async () => {
    const mw = digestAuth({ realm: 'example.com', passwordLookup: (u, r, cb) => cb(new Error('db down')) });
    const { second } = await authenticated(mw);
    assert.equal(second.next[0].message, 'db down');
    assert.equal(second.sent.length, 0);
    const mw2 = digestAuth({ realm: 'example.com', passwordLookup: () => { throw new Error('sync boom'); } });
    assert.equal((await authenticated(mw2)).second.next[0].message, 'sync boom');
    // asynchronous lookup, callback called twice: one outcome only
    const mw3 = digestAuth({ realm: 'example.com',
      passwordLookup: (u, r, cb) => setTimeout(() => { cb(null, 'secret'); cb(null, 'secret'); }, 5) });
    const r3 = (await authenticated(mw3)).second;
    assert.deepEqual(r3.nextCalls, [[]]);
  });

  test('malformed credentials → 400 (missing fields, bad qop / nc, missing cnonce)', async () => {
    const mw = digestAuth({ realm: 'example.com', passwordLookup: lookup });
    const first = await run(mw, fakeReq());
    const good = answer(first).value;
    const cases = [
      'Digest realm="example.com"',
      good.replace(/response="[^"]*",/, ''),
      good.replace(/username="[^"]*",/, ''),
      good.replace(/uri="[^"]*",/, ''),
      good.replace(/nonce="[^"]*",/, ''),
      good.replace('qop=auth', 'qop=auth-int'),
      good.replace('qop=auth', 'qop=bogus'),
      good.replace(/nc=\w+/, 'nc=1'),
      good.replace(/nc=\w+/, 'nc=zzzzzzzz'),
      good.replace(/,cnonce="[^"]*"/, ''),
    ];
    for (const v of cases) {
      const r = await run(mw, fakeReq({ headers: { Authorization: v } }));
      assert.equal(r.status, 400, v);
      assert.match(r.headers.Reason, /cause=400/);
    }
  });

  test('legacy credentials without qop are accepted', async () => {
    const mw = digestAuth({ realm: 'example.com', passwordLookup: lookup });
    const first = await run(mw, fakeReq());
    const c = parseChallenge(first.headers['WWW-Authenticate']);
    const v = buildAuthorization({ username: 'alice', password: 'secret', realm: 'example.com', nonce: c.nonce,
      uri: 'sip:example.com', method: 'REGISTER', opaque: c.opaque });
    assert.deepEqual((await run(mw, fakeReq({ headers: { Authorization: v } }))).next, []);
  });

  test('non-Digest or empty Authorization → challenge', async () => {
    const mw = digestAuth({ realm: 'example.com', passwordLookup: lookup });
    for (const v of ['', 'Basic YWxpY2U6c2VjcmV0', '   ', 'Digest']) {
      const r = await run(mw, fakeReq({ headers: { Authorization: v } }));
      assert.ok(r.status === 401 || r.status === 400, JSON.stringify(v));
    }
    assert.equal((await run(mw, fakeReq({ headers: { Authorization: 'Basic x' } }))).status, 401);
  });

  test('usernames with quotes round trip', async () => {
    const mw = digestAuth({ realm: 'example.com', passwordLookup: lookup });
    assert.deepEqual((await authenticated(mw, { username: 'q"uote', password: 'pw' })).second.next, []);
  });

  test('fuzz: 2000 garbage Authorization headers never throw; exactly one outcome each', async (t) => {
    const rng = fuzzRng(t);
    const seedNote = ` (DIGEST_FUZZ_SEED=${FUZZ_SEED})`;
    const mw = digestAuth({ realm: 'example.com', passwordLookup: lookup, algorithms: ['MD5', 'SHA-256'] });
    const first = await run(mw, fakeReq());
    const good = answer(first).value;
    const pieces = ['Digest ', 'username=', 'realm=', '"example.com"', 'nonce=', 'uri=', 'response=', 'qop=',
      'auth', 'nc=', 'cnonce=', 'algorithm=', 'SHA-256', 'MD5', '"', ',', ' ', '\\', '=', '\u0000', '\u00ff'];
    for (let i = 0; i < 2000; i++) {
      let v;
      switch (i % 4) {
        case 0: v = rng.bytes(rng.int(120)).toString('latin1'); break;
        case 1: v = Array.from({ length: 1 + rng.int(20) },
          () => pieces[rng.int(pieces.length)]).join(''); break;
        case 2: { // mutate a valid header
          const a = good.split('');
          for (let k = 0, n = 1 + rng.int(4); k < n; k++) {
            a[rng.int(a.length)] = String.fromCharCode(rng.int(128));
          }
          v = a.join('');
          break;
        }
        default: v = good.slice(0, rng.int(good.length));
      }
      const req = fakeReq({ headers: { Authorization: v } });
      let r;
      try {
        r = await run(mw, req);
      } catch (err) {
        assert.fail(`threw for ${JSON.stringify(v)}: ${err}${seedNote}`);
      }
      assert.equal(r.outcomes, 1, JSON.stringify(v) + seedNote);
      assert.ok(r.next ? r.next.length === 0 : [400, 401, 403].includes(r.status), JSON.stringify(v) + seedNote);
      if (r.next) assert.equal(req.authorization.username, 'alice');
    }
    // odd req objects
    for (const req of [{ method: 'INVITE', uri: 'sip:example.com' }, { get() { throw new Error('x'); } },
      { method: 'INVITE', get: () => 42 }]) {
      const r = await run(mw, req);
      assert.equal(r.status, 401);
    }
  });

  test('nc increments across requests with the same nonce (client state), all accepted', async () => {
    const mw = digestAuth({ realm: 'example.com', passwordLookup: lookup });
    const client = new DigestClient();
    const first = await run(mw, fakeReq());
    for (let i = 1; i <= 3; i++) {
      const cred = answer(first, { client });
      const r = await run(mw, fakeReq({ headers: { Authorization: cred.value } }));
      assert.deepEqual(r.next, []);
      assert.equal(r.req.authorization.nc, `0000000${i}`);
    }
  });
});
