// Our digest client / middleware beside drachtio-srf's own digest client (an installed
// devDependency): for the same challenge and credentials the Authorization values must be
// identical, the error messages the same, and upstream's client must get through our middleware.
// Our client is also checked against drachtio-mw-digest-auth, the digest middleware drachtio-srf
// apps use (a pinned devDependency).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const DigestClient = require('../../lib/digest-client.js');
const digestAuth = require('../../lib/digest-auth.js');
const { parseCredentials, buildAuthorization } = require('../../lib/digest.js');
const UpstreamDigestClient = require('drachtio-srf/lib/digest-client.js');

/**
 * Drives drachtio-srf's DigestClient#authenticate with fakes; resolves with the options it hands to
 * agent.request (options.headers carries the credentials) or rejects with its error.
 */
function upstreamAnswer({ status = 401, challenge, method = 'INVITE', uri = 'sip:bob@example.com',
  username = 'alice', password = 'secret' }) {
  return new Promise((resolve, reject) => {
    const options = { method, uri, auth: { username, password }, headers: {} };
    const req = {
      _originalParams: { options },
      method,
      getParsedHeader: () => ({ seq: 1, method }),
      get: (n) => ({ 'call-id': 'cid-1', from: '<sip:alice@example.com>;tag=1' })[n],
    };
    const hdr = status === 407 ? 'proxy-authenticate' : 'www-authenticate';
    const res = {
      req,
      agent: { request: (opts) => resolve(opts) },
      statusCode: status,
      has: (n) => n === hdr && challenge !== undefined,
      get: (n) => (n === hdr ? challenge : undefined),
      source_address: '10.0.0.1',
      source_port: 5060,
    };
    new UpstreamDigestClient(res).authenticate((err) => reject(err));
  });
}

function oursAnswer({ status = 401, challenge, method = 'INVITE', uri = 'sip:bob@example.com',
  username = 'alice', password = 'secret', cnonce, client = new DigestClient() }) {
  const hdr = status === 407 ? 'proxy-authenticate' : 'www-authenticate';
  const res = { status, get: (n) => (n === hdr ? challenge : undefined), has: (n) => n === hdr && challenge !== undefined };
  const orig = DigestClient.cnonce;
  if (cnonce) DigestClient.cnonce = () => cnonce;
  try {
    return client.nextCredentials({ res, method, uri, username, password });
  } finally {
    DigestClient.cnonce = orig;
  }
}

const CASES = [
  { name: 'MD5, no qop', challenge: 'Digest realm="example.com", nonce="abc123"' },
  { name: 'MD5, qop=auth', challenge: 'Digest realm="example.com", nonce="abc123", qop="auth"' },
  { name: 'MD5, qop + opaque + algorithm', challenge: 'Digest realm="sip.example.com", algorithm=MD5, qop="auth", nonce="n-1", opaque="op-9"' },
  { name: 'upper-case scheme, unquoted values', challenge: 'DIGEST realm=example.com, nonce=xyz, qop=auth' },
  { name: '407', status: 407, challenge: 'Digest realm="proxy.example.com", nonce="p1", qop="auth"' },
  { name: 'qop list "auth,auth-int" → auth', challenge: 'Digest realm="example.com", nonce="abc", qop="auth,auth-int"' },
  { name: 'empty realm', challenge: 'Digest realm="", nonce="abc"' },
  { name: 'REGISTER', method: 'REGISTER', uri: 'sip:example.com', challenge: 'Digest realm="example.com", nonce="r1", qop="auth"' },
];

describe('our client vs drachtio-srf DigestClient: identical Authorization values', () => {
  for (const c of CASES) {
    test(c.name, async () => {
      const up = await upstreamAnswer(c);
      const header = c.status === 407 ? 'Proxy-Authorization' : 'Authorization';
      const upValue = up.headers[header];
      assert.ok(upValue, 'upstream produced credentials');
      const { cnonce } = parseCredentials(upValue);
      const ours = oursAnswer({ ...c, cnonce });
      assert.equal(ours.header, header);
      assert.equal(ours.value, upValue);

      // and the primitive alone, given the same inputs
      const p = parseCredentials(upValue);
      assert.equal(buildAuthorization({ username: 'alice', password: 'secret', realm: p.realm, nonce: p.nonce,
        uri: p.uri, method: c.method || 'INVITE', qop: p.qop, opaque: p.opaque, nc: p.nc, cnonce: p.cnonce }), upValue);
    });
  }

  test('error messages for missing / empty challenge headers', async () => {
    for (const [status, challenge] of [[401, undefined], [407, undefined], [401, ''], [407, '']]) {
      const upErr = await upstreamAnswer({ status, challenge }).then(() => null, (e) => e);
      assert.ok(upErr, `upstream fails for ${status} ${JSON.stringify(challenge)}`);
      assert.throws(() => oursAnswer({ status, challenge }), { message: upErr.message });
    }
  });

  test('INTENDED: qop="auth-int,auth" is answered with qop=auth (upstream takes the first token)', async () => {
    const challenge = 'Digest realm="example.com", nonce="abc", qop="auth-int,auth"';
    const up = await upstreamAnswer({ challenge });
    assert.match(up.headers.Authorization, /,qop=auth-int,/);
    const ours = oursAnswer({ challenge });
    assert.match(ours.value, /,qop=auth,nc=00000001,/);
  });

  test('INTENDED: nc is hexadecimal after 9 (upstream counts in decimal)', () => {
    const client = new DigestClient();
    const challenge = 'Digest realm="example.com", nonce="abc", qop="auth"';
    let last;
    for (let i = 0; i < 10; i++) last = oursAnswer({ challenge, client });
    assert.equal(parseCredentials(last.value).nc, '0000000a');
  });
});

describe('drachtio-srf DigestClient against our middleware', () => {
  const lookup = (u, r, cb) => cb(null, u === 'alice' ? 'secret' : null);
  const fakeReq = (headers = {}) => ({
    method: 'INVITE', uri: 'sip:bob@example.com',
    get: (n) => headers[Object.keys(headers).find((k) => k.toLowerCase() === n.toLowerCase())],
  });
  const run = (mw, req) => new Promise((resolve) => {
    mw(req, { send: (status, opts) => resolve({ status, headers: (opts && opts.headers) || {} }) },
      (err) => resolve({ next: true, err }));
  });

  for (const [label, opts] of [
    ['MD5 (default)', {}],
    ['SHA-256 and MD5 offered (upstream answers with MD5)', { algorithms: ['SHA-256', 'MD5'] }],
    ['proxy mode', { proxy: true }],
  ]) {
    test(label, async () => {
      const mw = digestAuth({ realm: 'example.com', passwordLookup: lookup, ...opts });
      const first = await run(mw, fakeReq());
      const status = opts.proxy ? 407 : 401;
      assert.equal(first.status, status);
      const challenge = first.headers[opts.proxy ? 'Proxy-Authenticate' : 'WWW-Authenticate'];
      const up = await upstreamAnswer({ status, challenge });
      const header = opts.proxy ? 'Proxy-Authorization' : 'Authorization';
      const second = await run(mw, fakeReq({ [header]: up.headers[header] }));
      assert.deepEqual(second, { next: true, err: undefined });
    });
  }

  test('wrong password from upstream client → 403', async () => {
    const mw = digestAuth({ realm: 'example.com', passwordLookup: lookup });
    const first = await run(mw, fakeReq());
    const up = await upstreamAnswer({ challenge: first.headers['WWW-Authenticate'], password: 'bad' });
    assert.equal((await run(mw, fakeReq({ Authorization: up.headers.Authorization }))).status, 403);
  });
});

// ---------------------------------------------------------------------------------------------
// drachtio-mw-digest-auth (a devDependency, pinned): the middleware drachtio-srf apps use

const loadMwd = () => require('drachtio-mw-digest-auth');

describe('our client against drachtio-mw-digest-auth', () => {
  const lookup = (u, r, cb) => cb(null, u === 'alice' ? 'secret' : null);
  const fakeReq = (headers = {}) => ({
    method: 'REGISTER', uri: 'sip:example.com',
    get: (n) => headers[Object.keys(headers).find((k) => k.toLowerCase() === n.toLowerCase())],
    has(n) { return this.get(n) !== undefined; },
  });
  const run = (mw, req) => new Promise((resolve) => {
    mw(req, { send: (status, opts) => resolve({ status, headers: (opts && opts.headers) || {} }) },
      (err) => resolve({ next: true, err }));
  });

  for (const proxy of [false, true]) {
    test(proxy ? 'proxy (407)' : '401', async () => {
      const theirs = loadMwd()({ realm: 'example.com', passwordLookup: lookup, proxy });
      const first = await run(theirs, fakeReq());
      const status = proxy ? 407 : 401;
      assert.equal(first.status, status);
      const challenge = first.headers[proxy ? 'Proxy-Authenticate' : 'WWW-Authenticate'];
      const cred = oursAnswer({ status, challenge, method: 'REGISTER', uri: 'sip:example.com' });
      const second = await run(theirs, fakeReq({ [cred.header]: cred.value }));
      assert.deepEqual(second, { next: true, err: undefined });
      const bad = oursAnswer({ status, challenge, method: 'REGISTER', uri: 'sip:example.com', password: 'x' });
      assert.equal((await run(theirs, fakeReq({ [bad.header]: bad.value }))).status, 403);
    });
  }
});
