'use strict';
/**
 * Client side of SIP digest authentication (api.md §8): builds the Authorization /
 * Proxy-Authorization value that answers a 401 / 407 challenge.
 *
 * The request layer owns the re-send (CSeq bump, Call-ID/From preservation, next-hop pinning); this
 * module only turns a challenge plus credentials into a header.
 */
const crypto = require('node:crypto');
const debug = require('debug')('drachtio:digest-client');
const {
  parseAll, normalizeAlgorithm, ALGORITHM_PREFERENCE, chooseQop, buildAuthorization,
} = require('./digest.js');

const MAX_NC = 0xffffffff;
const MAX_TRACKED_NONCES = 64;

function headerGetter(res) {
  return (name) => {
    if (!res || typeof res.get !== 'function') return undefined;
    return res.get(name);
  };
}

function hasHeader(res, name) {
  if (res && typeof res.has === 'function') return !!res.has(name);
  const v = headerGetter(res)(name);
  return v !== undefined && v !== null;
}

class DigestClient {
  constructor() {
    // nonce → last nonce count used with it (Map keeps insertion order: oldest first)
    this._nc = new Map();
  }

  /** Next nonce count for `nonce`, as 8 hex digits: 00000001, 00000002, … */
  nextNc(nonce) {
    const key = String(nonce);
    let n = (this._nc.get(key) || 0) + 1;
    if (n > MAX_NC) n = 1;
    this._nc.delete(key);
    this._nc.set(key, n);
    while (this._nc.size > MAX_TRACKED_NONCES) this._nc.delete(this._nc.keys().next().value);
    return n.toString(16).padStart(8, '0');
  }

  /** Random client nonce: 8 hex characters. */
  static cnonce() {
    return crypto.randomBytes(4).toString('hex');
  }

  /**
   * The best Digest challenge of a WWW-/Proxy-Authenticate value: the strongest supported
   * algorithm (SHA-256 > SHA-256-sess > MD5 > MD5-sess; no algorithm = MD5), first one on ties.
   * Returns {challenge, algorithm} or undefined when none is usable.
   */
  static selectChallenge(headerValue) {
    let best;
    for (const c of parseAll(headerValue)) {
      if (c.scheme !== 'digest') continue;
      const algorithm = normalizeAlgorithm(c.algorithm);
      if (!algorithm) {
        debug('skipping challenge with unsupported algorithm %s', c.algorithm);
        continue;
      }
      const rank = ALGORITHM_PREFERENCE.indexOf(algorithm);
      if (!best || rank < best.rank) best = { challenge: c, algorithm, rank };
    }
    return best && { challenge: best.challenge, algorithm: best.algorithm };
  }

  /**
   * Credentials answering the challenge in `res` (a 401 or 407 response: `status` or `statusCode`,
   * `get(name)`, optionally `has(name)`).
   *
   * @param {object} o
   * @param {object} o.res       the challenging response
   * @param {string} o.method    method of the request being authenticated
   * @param {string} o.uri       its Request-URI (the digest-uri)
   * @param {string} o.username
   * @param {string} [o.password]
   * @param {string} [o.ha1]     precomputed H(username:realm:password), used instead of the password
   * @param {string} [o.body]    request body (only for qop=auth-int)
   * @returns {{header: 'Authorization'|'Proxy-Authorization', value: string, algorithm: string,
   *            challenge: object}}
   * @throws {Error} `missing <header> in <status> response`,
   *   `empty or non-string <header> value in <status> response`,
   *   `no supported digest algorithm in challenge`
   */
  nextCredentials({ res, method, uri, username, password, ha1, body } = {}) {
    const status = res && (res.status !== undefined ? res.status : res.statusCode);
    const proxy = Number(status) === 407;
    const name = proxy ? 'proxy-authenticate' : 'www-authenticate';
    if (!hasHeader(res, name)) throw new Error(`missing ${name} in ${status} response`);
    const raw = headerGetter(res)(name);
    if (typeof raw !== 'string' || raw.trim().length === 0) {
      throw new Error(`empty or non-string ${name} value in ${status} response`);
    }

    const selected = DigestClient.selectChallenge(raw);
    if (!selected) throw new Error('no supported digest algorithm in challenge');
    const { challenge, algorithm } = selected;

    const nonce = challenge.nonce === undefined ? '' : challenge.nonce;
    const qop = chooseQop(challenge.qop);
    const params = {
      algorithm,
      username,
      password,
      ha1,
      realm: challenge.realm === undefined ? '' : challenge.realm,
      nonce,
      uri,
      method,
      opaque: challenge.opaque,
      body,
    };
    if (qop || algorithm.endsWith('-sess')) params.cnonce = DigestClient.cnonce();
    if (qop) {
      params.qop = qop;
      params.nc = this.nextNc(nonce);
    }
    const value = buildAuthorization(params);
    debug('answering %d (%s, qop %s): %s', status, algorithm, qop || 'none', value);
    return { header: proxy ? 'Proxy-Authorization' : 'Authorization', value, algorithm, challenge };
  }
}

/**
 * The credentials for a challenge, from the request's `auth` option: `{username, password}` or
 * `auth(req, res, cb(err, username, password))`. Resolves `{username, password}`.
 */
function resolveAuth(auth, req, res) {
  return new Promise((resolve, reject) => {
    if (typeof auth === 'function') {
      let settled = false;
      const cb = (err, username, password) => {
        if (settled) return;
        settled = true;
        if (err) reject(err instanceof Error ? err : new Error(String(err)));
        else resolve({ username, password });
      };
      try {
        auth(req, res, cb);
      } catch (err) {
        cb(err || new Error('auth callback threw'));
      }
      return;
    }
    if (auth && typeof auth === 'object') {
      resolve({ username: auth.username, password: auth.password });
      return;
    }
    reject(new Error('no credentials were supplied to reply to server authentication challenge'));
  });
}

module.exports = DigestClient;
module.exports.DigestClient = DigestClient;
module.exports.resolveAuth = resolveAuth;
