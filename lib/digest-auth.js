'use strict';
/**
 * Server side of SIP digest authentication: a middleware that challenges requests (401
 * WWW-Authenticate, or 407 Proxy-Authenticate with `proxy: true`) and verifies the credentials
 * (RFC 2617 / RFC 7616 / RFC 3261 §22). Options-compatible with drachtio-mw-digest-auth.
 *
 *   const challenge = digestAuth({
 *     realm: 'sip.example.com',                    // or (req) => string | Promise<string> | null
 *     passwordLookup(username, realm, cb) { cb(null, password) },   // or cb(null, {ha1})
 *     proxy: false, srf, algorithms: ['MD5'], qop: 'auth', nonceExpiry: 300, nonceSecret,
 *   });
 *   srf.use('register', challenge);
 *
 * Outcomes:
 *   no (Proxy-)Authorization Digest credentials for our realm   → 401/407 challenge
 *   realm resolves to null/undefined/''                          → 403 (Reason: Invalid domain)
 *   credentials missing username/nonce/uri/response, bad qop/nc  → 400
 *   nonce not issued by us (tampered, other realm, other secret),
 *   opaque changed, or algorithm not offered                     → fresh 401/407 challenge
 *   unknown user (lookup gives a falsy password) or bad digest   → 403
 *   correct digest, expired nonce                                → 401/407 challenge with stale=true
 *   correct digest, live nonce                                   → req.authorization = credentials; next()
 *   passwordLookup error / realm function failure                → next(err)
 * After every 400/401/403/407, `srf.endSession(req)` is called when the `srf` option is given.
 *
 * Nonces are stateless: base64url(6-byte ms timestamp | 10 random bytes | 16-byte HMAC-SHA256 over
 * both and the realm, keyed with `nonceSecret`, default a random per-middleware secret). Processes
 * that share the load of one realm must share `nonceSecret`. Replays within the nonce lifetime
 * are not detected (no per-nonce nc state is kept).
 */
const assert = require('node:assert');
const crypto = require('node:crypto');
const debug = require('debug')('drachtio:digest-auth');
const {
  parseAll, normalizeAlgorithm, ALGORITHM_PREFERENCE, computeResponse, quoteString, safeEqualHex,
} = require('./digest.js');
const { parseUri } = require('./parse.js');

const NONCE_RE = /^[A-Za-z0-9_-]{43}$/;
const NC_RE = /^[0-9A-Fa-f]{8}$/;
const HEX_LENGTH = { md5: 32, sha256: 64 };
const CLOCK_SKEW_MS = 60 * 1000;

function defaultRealm(req) {
  try {
    const uri = parseUri(req.uri);
    return uri && uri.host;
  } catch (_) {
    return undefined;
  }
}

function readHeader(req, name) {
  try {
    if (req && typeof req.get === 'function') {
      const v = req.get(name);
      return typeof v === 'string' ? v : undefined;
    }
  } catch (_) { /* treated as absent */ }
  return undefined;
}

function parseQopOption(qop) {
  const list = (qop === undefined || qop === null ? 'auth' : String(qop))
    .split(',').map((q) => q.trim().toLowerCase()).filter(Boolean);
  assert(list.length > 0 && list.every((q) => q === 'auth' || q === 'auth-int'),
    "'qop' must be 'auth', 'auth-int' or 'auth,auth-int'");
  return [...new Set(list)];
}

function parseAlgorithmsOption(algorithms) {
  const list = algorithms === undefined ? ['MD5'] : algorithms;
  assert(Array.isArray(list) && list.length > 0, "'algorithms' must be a non-empty array");
  const canonical = list.map((a) => {
    const c = typeof a === 'string' ? normalizeAlgorithm(a) : undefined;
    assert(c, `unsupported digest algorithm in 'algorithms': ${a}`);
    return c;
  });
  // strongest first, whatever order they were given in
  return ALGORITHM_PREFERENCE.filter((a) => canonical.includes(a));
}

/** The HA1 to use from a lookup result `{ha1}`; undefined when it cannot serve `algorithm`. */
function pickHa1(found, algorithm) {
  const base = algorithm.replace(/-sess$/, '');
  const h = found.ha1;
  if (typeof h === 'string') {
    const want = HEX_LENGTH[base === 'MD5' ? 'md5' : 'sha256'];
    return h.length === want && /^[0-9A-Fa-f]+$/.test(h) ? h : undefined;
  }
  if (h && typeof h === 'object') {
    for (const [k, v] of Object.entries(h)) {
      if (typeof v === 'string' && normalizeAlgorithm(k) === base) return v;
    }
  }
  return undefined;
}

function digestAuth(opts) {
  assert(opts && typeof opts === 'object', 'digestAuth: options object is required');
  assert(typeof opts.passwordLookup === 'function',
    "'passwordLookup' is a required option for digest authentication and must be a function");

  const realmOpt = opts.realm || defaultRealm;
  assert(typeof realmOpt === 'string' || typeof realmOpt === 'function',
    "'realm' must be a string or a function");
  const passwordLookup = opts.passwordLookup;
  const algorithms = parseAlgorithmsOption(opts.algorithms);
  const qops = parseQopOption(opts.qop);
  const expirySeconds = opts.nonceExpiry === undefined ? 300 : Number(opts.nonceExpiry);
  assert(Number.isFinite(expirySeconds) && expirySeconds > 0, "'nonceExpiry' must be a positive number of seconds");
  const expiryMs = expirySeconds * 1000;
  const hasSecret = opts.nonceSecret !== undefined && opts.nonceSecret !== null;
  assert(!hasSecret || (typeof opts.nonceSecret === 'string' && opts.nonceSecret.length > 0) ||
    (Buffer.isBuffer(opts.nonceSecret) && opts.nonceSecret.length > 0),
  "'nonceSecret' must be a non-empty string or Buffer");
  const secret = hasSecret ? Buffer.from(opts.nonceSecret) : crypto.randomBytes(32);
  const srf = opts.srf;
  const status = opts.proxy ? 407 : 401;
  const challengeHeader = opts.proxy ? 'Proxy-Authenticate' : 'WWW-Authenticate';
  const credentialsHeader = opts.proxy ? 'Proxy-Authorization' : 'Authorization';

  const nonceMac = (realm, head) => crypto.createHmac('sha256', secret)
    .update('nonce\0').update(realm, 'utf8').update('\0').update(head)
    .digest().subarray(0, 16);

  const opaqueFor = (realm) => crypto.createHmac('sha256', secret)
    .update('opaque\0').update(realm, 'utf8')
    .digest('hex').slice(0, 32);

  const makeNonce = (realm) => {
    const buf = Buffer.alloc(32);
    buf.writeUIntBE(Date.now(), 0, 6);
    crypto.randomFillSync(buf, 6, 10);
    nonceMac(realm, buf.subarray(0, 16)).copy(buf, 16);
    return buf.toString('base64url');
  };

  /** 'valid' | 'stale' | 'invalid' */
  const checkNonce = (nonce, realm) => {
    if (!NONCE_RE.test(nonce)) return 'invalid';
    const buf = Buffer.from(nonce, 'base64url');
    if (buf.length !== 32 || buf.toString('base64url') !== nonce) return 'invalid';
    if (!crypto.timingSafeEqual(nonceMac(realm, buf.subarray(0, 16)), buf.subarray(16))) return 'invalid';
    const age = Date.now() - buf.readUIntBE(0, 6);
    if (age < -CLOCK_SKEW_MS) return 'invalid';
    return age > expiryMs ? 'stale' : 'valid';
  };

  const endSession = (req) => {
    if (srf && typeof srf.endSession === 'function') srf.endSession(req);
  };

  const reject = (req, res, code, headers) => {
    if (headers) res.send(code, { headers });
    else res.send(code);
    endSession(req);
    return false;
  };

  const challenge = (req, res, realm, stale) => {
    const nonce = makeNonce(realm);
    const common = `realm=${quoteString(realm)}, nonce="${nonce}", opaque="${opaqueFor(realm)}"`;
    const qop = `qop="${qops.join(',')}"`;
    const value = algorithms
      .map((a) => `Digest ${common}, algorithm=${a}, ${qop}${stale ? ', stale=true' : ''}`)
      .join(', ');
    debug('challenging %s %s (%d%s)', req.method, req.uri, status, stale ? ', stale' : '');
    return reject(req, res, status, { [challengeHeader]: value });
  };

  const lookup = (username, realm) => new Promise((resolve, reject) => {
    let settled = false;
    try {
      passwordLookup(username, realm, (err, password) => {
        if (settled) return;
        settled = true;
        if (err) reject(err);
        else resolve(password);
      });
    } catch (err) {
      if (!settled) {
        settled = true;
        reject(err);
      }
    }
  });

  /** Resolves true when the request is authenticated (caller then runs next()). */
  const authenticate = async (req, res) => {
    let realm = typeof realmOpt === 'function' ? await realmOpt(req) : realmOpt;
    if (realm === undefined || realm === null || realm === false || realm === '') {
      debug('no realm for %s: rejecting', req && req.uri);
      return reject(req, res, 403, { 'Reason': 'SIP ;cause=403 ;text="Invalid domain"' });
    }
    realm = String(realm);

    const raw = readHeader(req, credentialsHeader);
    const offered = raw ? parseAll(raw).filter((e) => e.scheme === 'digest') : [];
    if (offered.length === 0) return challenge(req, res, realm, false);

    // RFC 3261 §22.3: one entry per realm may be present; only ours is checked.
    const creds = offered.find((c) => c.realm === realm);
    if (!creds) {
      debug('no credentials for realm %s', realm);
      return challenge(req, res, realm, false);
    }

    const malformed = (why) => {
      debug('malformed credentials (%s): %s', why, raw);
      return reject(req, res, 400, { 'Reason': `SIP ;cause=400 ;text="Malformed ${credentialsHeader}"` });
    };
    for (const f of ['username', 'nonce', 'uri', 'response']) {
      if (typeof creds[f] !== 'string' || creds[f] === '') return malformed(`missing ${f}`);
    }
    let qop;
    if (creds.qop !== undefined) {
      qop = String(creds.qop).trim().toLowerCase();
      if (!qops.includes(qop)) return malformed(`qop ${creds.qop}`);
      if (typeof creds.nc !== 'string' || !NC_RE.test(creds.nc)) return malformed('nc');
      if (typeof creds.cnonce !== 'string' || creds.cnonce === '') return malformed('cnonce');
    }

    const algorithm = normalizeAlgorithm(creds.algorithm);
    if (!algorithm || !algorithms.includes(algorithm)) {
      debug('algorithm %s not offered', creds.algorithm);
      return challenge(req, res, realm, false);
    }
    if (algorithm.endsWith('-sess') && (typeof creds.cnonce !== 'string' || creds.cnonce === '')) {
      return malformed('cnonce');
    }

    const nonceState = checkNonce(creds.nonce, realm);
    if (nonceState === 'invalid') {
      debug('nonce not issued by us: %s', creds.nonce);
      return challenge(req, res, realm, false);
    }
    if (creds.opaque !== undefined && creds.opaque !== opaqueFor(realm)) {
      debug('opaque does not match');
      return challenge(req, res, realm, false);
    }

    const found = await lookup(creds.username, realm);
    if (!found) {
      debug('unknown user %s in realm %s', creds.username, realm);
      return reject(req, res, 403);
    }
    const params = {
      algorithm, username: creds.username, realm: creds.realm, method: req.method, uri: creds.uri,
      nonce: creds.nonce, qop, nc: creds.nc, cnonce: creds.cnonce, body: req.body,
    };
    if (typeof found === 'object') {
      params.ha1 = pickHa1(found, algorithm);
      if (!params.ha1) {
        debug('no usable ha1 for %s (%s) for user %s', algorithm, typeof found.ha1, creds.username);
        return reject(req, res, 403);
      }
    } else {
      params.password = String(found);
    }

    if (!safeEqualHex(computeResponse(params), creds.response)) {
      debug('wrong digest response from %s', creds.username);
      return reject(req, res, 403);
    }
    if (nonceState === 'stale') return challenge(req, res, realm, true);

    req.authorization = { ...creds, algorithm: creds.algorithm || 'MD5' };
    return true;
  };

  return function digestAuthMiddleware(req, res, next) {
    let done = false;
    const finish = (err) => {
      if (done) return;
      done = true;
      if (err) next(err);
      else next();
    };
    let p;
    try {
      p = authenticate(req, res);
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then((ok) => { if (ok === true) finish(); }, (err) => {
      debug('digest authentication failed with error: %s', err && err.message);
      finish(err instanceof Error ? err : new Error(String(err)));
    }).catch((err) => {
      // thrown by a downstream layer reached through next(): not ours to swallow
      process.nextTick(() => { throw err; });
    });
  };
}

module.exports = digestAuth;
module.exports.digestAuth = digestAuth;
