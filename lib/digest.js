'use strict';
/**
 * HTTP/SIP Digest authentication primitives (RFC 2617, RFC 7616, RFC 3261 §22), shared by the
 * client that answers 401/407 challenges (digest-client.js) and the server middleware
 * (digest-auth.js).
 *
 * Parsing is lenient and never throws: anything that cannot be understood is skipped.
 */
const crypto = require('node:crypto');

// RFC 7230 tchar
const TOKEN = "[A-Za-z0-9!#$%&'*+.^_`|~-]+";
const SCHEME_ONLY_RE = new RegExp(`^(${TOKEN})$`);
const SCHEME_AND_REST_RE = new RegExp(`^(${TOKEN})\\s+([\\s\\S]*)$`);
const PARAM_RE = new RegExp(`^(${TOKEN})\\s*=\\s*([\\s\\S]*)$`);
const TOKEN68_RE = /^[A-Za-z0-9._~+/-]+=+$/;

// Bare tokens that may legitimately open a challenge/credentials entry without parameters. Any
// other bare token inside a list is taken as the continuation of an unquoted list value
// (e.g. the common server bug `qop=auth,auth-int` without quotes).
const KNOWN_SCHEMES = new Set(['digest', 'basic', 'bearer', 'negotiate', 'ntlm', 'kerberos',
  'hoba', 'mutual', 'vapid', 'scram-sha-1', 'scram-sha-256', 'aws4-hmac-sha256']);

// Parameter names never copied onto a result object.
const RESERVED = new Set(['scheme', '__proto__', 'constructor', 'prototype']);

/** Canonical names of the algorithms we can compute, with the node hash behind each. */
const ALGORITHMS = {
  'MD5': { hash: 'md5', sess: false },
  'MD5-sess': { hash: 'md5', sess: true },
  'SHA-256': { hash: 'sha256', sess: false },
  'SHA-256-sess': { hash: 'sha256', sess: true },
};
const SUPPORTED_ALGORITHMS = Object.keys(ALGORITHMS);
const CANONICAL = new Map(SUPPORTED_ALGORITHMS.map((a) => [a.toLowerCase(), a]));

/** Strength order used when several challenges are offered (best first). */
const ALGORITHM_PREFERENCE = ['SHA-256', 'SHA-256-sess', 'MD5', 'MD5-sess'];

/**
 * Canonical spelling of a supported algorithm name (case-insensitive), e.g. 'sha-256' → 'SHA-256'.
 * A missing/empty name means MD5 (RFC 2617 default). Unknown names → undefined.
 */
function normalizeAlgorithm(name) {
  if (name === undefined || name === null) return 'MD5';
  const s = String(name).trim();
  if (s === '') return 'MD5';
  return CANONICAL.get(s.toLowerCase());
}

/**
 * Split a header value on the commas that are outside quoted strings (backslash escapes inside
 * quotes are honoured). An unterminated quote runs to the end of the string.
 */
function splitOutsideQuotes(s) {
  const out = [];
  let start = 0;
  let inQuote = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (inQuote) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inQuote = false;
    } else if (c === 0x22) {
      inQuote = true;
    } else if (c === 0x2c /* , */) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  out.push(s.slice(start));
  return out;
}

/** Value of a parameter: a quoted-string (unescaped; junk after the closing quote ignored) or a token. */
function paramValue(raw) {
  const v = raw.trim();
  if (v.charCodeAt(0) !== 0x22) return { value: v, quoted: false };
  let out = '';
  for (let i = 1; i < v.length; i++) {
    const c = v[i];
    if (c === '\\' && i + 1 < v.length) {
      out += v[++i];
    } else if (c === '"') {
      return { value: out, quoted: true };
    } else {
      out += c;
    }
  }
  return { value: out, quoted: true };
}

/**
 * Parse every challenge (WWW-/Proxy-Authenticate) or credentials entry ((Proxy-)Authorization) in a
 * header value. Several headers joined with ',' are handled: an entry starts at a token followed by
 * whitespace and a parameter (`Digest realm=…`). Returns an array of objects
 * `{scheme: <lower-cased scheme>, <lower-cased param name>: <string value>, …}`; a `stale` param is
 * turned into a boolean; a token68 (e.g. `Basic dXNlcg==`) is kept as `token68`.
 */
function parseAll(headerValue) {
  const entries = [];
  if (typeof headerValue !== 'string' || headerValue.length === 0) return entries;

  let current = null;
  let lastParam = null; // {name, quoted} of the last param of `current`
  const addParam = (item) => {
    const m = PARAM_RE.exec(item);
    if (!m || (lastParam === null && current.scheme !== 'digest' && TOKEN68_RE.test(item))) {
      // a token68 (or junk) right after the scheme
      if (current && lastParam === null && !('token68' in current) && item !== '') current.token68 = item;
      return;
    }
    const name = m[1].toLowerCase();
    const { value, quoted } = paramValue(m[2]);
    lastParam = { name, quoted };
    if (RESERVED.has(name) || Object.prototype.hasOwnProperty.call(current, name)) return;
    current[name] = value;
  };

  for (const part of splitOutsideQuotes(headerValue)) {
    const item = part.trim();
    if (item === '') continue;

    let m = SCHEME_AND_REST_RE.exec(item);
    if (m && m[2].charCodeAt(0) !== 0x3d /* = */) {
      current = { scheme: m[1].toLowerCase() };
      lastParam = null;
      entries.push(current);
      addParam(m[2].trim());
      continue;
    }
    m = SCHEME_ONLY_RE.exec(item);
    if (m) {
      if (KNOWN_SCHEMES.has(m[1].toLowerCase()) || current === null) {
        current = { scheme: m[1].toLowerCase() };
        lastParam = null;
        entries.push(current);
      } else if (lastParam && !lastParam.quoted && typeof current[lastParam.name] === 'string') {
        current[lastParam.name] += ',' + m[1];
      }
      continue;
    }
    if (current) addParam(item);
  }

  for (const e of entries) {
    if (typeof e.stale === 'string') e.stale = e.stale.trim().toLowerCase() === 'true';
  }
  return entries;
}

function firstDigest(headerValue) {
  try {
    return parseAll(headerValue).find((e) => e.scheme === 'digest') || {};
  } catch (_) {
    return {};
  }
}

/**
 * The first Digest challenge of a WWW-Authenticate / Proxy-Authenticate value:
 * `{scheme: 'digest', realm, nonce, qop, opaque, algorithm, stale (boolean), …}` (only the params
 * present); `{}` when there is no Digest challenge.
 */
function parseChallenge(headerValue) {
  return firstDigest(headerValue);
}

/**
 * The first Digest credentials of an Authorization / Proxy-Authorization value:
 * `{scheme: 'digest', username, realm, nonce, uri, response, algorithm, qop, nc, cnonce, opaque, …}`
 * (only the params present); `{}` when there are none.
 */
function parseCredentials(headerValue) {
  return firstDigest(headerValue);
}

/**
 * hex digest of `text` (UTF-8) with the hash behind a digest algorithm name: MD5 / MD5-sess → md5,
 * SHA-256 / SHA-256-sess → sha256 (case-insensitive). Throws on unsupported algorithms.
 */
function hash(algorithm, text) {
  const canonical = normalizeAlgorithm(algorithm);
  if (!canonical) throw new Error(`unsupported digest algorithm: ${algorithm}`);
  return crypto.createHash(ALGORITHMS[canonical].hash).update(String(text), 'utf8').digest('hex');
}

/** Format a nonce count: numbers as 8 lower-case hex digits (RFC 7616 nc-value); strings as is. */
function formatNc(nc) {
  if (typeof nc === 'number' && Number.isFinite(nc)) {
    return (Math.trunc(nc) >>> 0).toString(16).padStart(8, '0');
  }
  return nc === undefined || nc === null ? undefined : String(nc);
}

/**
 * The qop the client should use for a challenge's qop list: 'auth' when offered, else 'auth-int'
 * when offered, else undefined (legacy RFC 2069 computation).
 */
function chooseQop(qopList) {
  if (typeof qopList !== 'string') return undefined;
  const offered = qopList.split(',').map((q) => q.trim().toLowerCase());
  if (offered.includes('auth')) return 'auth';
  if (offered.includes('auth-int')) return 'auth-int';
  return undefined;
}

/**
 * HA1 for an algorithm: H(username:realm:password), or the precomputed `ha1` when given; for the
 * -sess variants H(HA1:nonce:cnonce).
 */
function computeHa1({ algorithm, username, realm, password, ha1, nonce, cnonce }) {
  const canonical = normalizeAlgorithm(algorithm);
  if (!canonical) throw new Error(`unsupported digest algorithm: ${algorithm}`);
  let h = typeof ha1 === 'string' && ha1.length > 0
    ? ha1.toLowerCase()
    : hash(canonical, `${str(username)}:${str(realm)}:${str(password)}`);
  if (ALGORITHMS[canonical].sess) h = hash(canonical, `${h}:${str(nonce)}:${str(cnonce)}`);
  return h;
}

/**
 * The `response` value (hex):
 *   qop auth / auth-int: H(HA1:nonce:nc:cnonce:qop:HA2)
 *   no qop:              H(HA1:nonce:HA2)
 * with HA2 = H(method:uri) (auth-int: H(method:uri:H(body))). `algorithm` defaults to MD5, `realm`
 * to ''. `nc` may be a number (formatted as 8 hex digits) or the string as sent.
 */
function computeResponse({ algorithm, username, realm, password, ha1, method, uri, nonce, qop, nc, cnonce,
  body } = {}) {
  const canonical = normalizeAlgorithm(algorithm);
  if (!canonical) throw new Error(`unsupported digest algorithm: ${algorithm}`);
  const HA1 = computeHa1({ algorithm: canonical, username, realm, password, ha1, nonce, cnonce });
  let q = typeof qop === 'string' && qop.trim() !== '' ? qop.trim().toLowerCase() : undefined;
  if (q && q.includes(',')) q = chooseQop(q);
  const HA2 = q === 'auth-int'
    ? hash(canonical, `${str(method)}:${str(uri)}:${hash(canonical, str(body))}`)
    : hash(canonical, `${str(method)}:${str(uri)}`);
  if (q) return hash(canonical, `${HA1}:${str(nonce)}:${str(formatNc(nc))}:${str(cnonce)}:${q}:${HA2}`);
  return hash(canonical, `${HA1}:${str(nonce)}:${HA2}`);
}

function str(v) {
  return v === undefined || v === null ? '' : String(v);
}

function quote(v) {
  return `"${str(v).replace(/[\\"]/g, '\\$&')}"`;
}

/**
 * The Authorization / Proxy-Authorization header value:
 *   Digest username="…",realm="…",nonce="…",uri="…",response="…",algorithm=MD5[,qop=…][,opaque="…"][,nc=…,cnonce="…"]
 * `response` is computed (computeResponse) when not supplied. A qop list ('auth,auth-int') is reduced
 * with chooseQop (qop values other than auth/auth-int are dropped). nc and cnonce are only written
 * with a qop. Quoted values are backslash-escaped where needed.
 */
function buildAuthorization(params = {}) {
  const algorithm = normalizeAlgorithm(params.algorithm);
  if (!algorithm) throw new Error(`unsupported digest algorithm: ${params.algorithm}`);
  const qop = chooseQop(params.qop);
  const nc = qop ? formatNc(params.nc) : undefined;
  const response = typeof params.response === 'string'
    ? params.response
    : computeResponse({ ...params, algorithm, qop, nc });
  const parts = [
    `username=${quote(params.username)}`,
    `realm=${quote(params.realm)}`,
    `nonce=${quote(params.nonce)}`,
    `uri=${quote(params.uri)}`,
    `response=${quote(response)}`,
    `algorithm=${algorithm}`,
  ];
  if (qop) parts.push(`qop=${qop}`);
  if (params.opaque !== undefined && params.opaque !== null && params.opaque !== '') {
    parts.push(`opaque=${quote(params.opaque)}`);
  }
  if (qop) parts.push(`nc=${str(nc)}`, `cnonce=${quote(params.cnonce)}`);
  else if (algorithm.endsWith('-sess')) parts.push(`cnonce=${quote(params.cnonce)}`); // HA1 needs it
  return `Digest ${parts.join(',')}`;
}

/** Constant-time comparison of two hex strings (case-insensitive); false on any length mismatch. */
function safeEqualHex(a, b) {
  if (typeof a !== 'string' || typeof b !== 'string') return false;
  const x = Buffer.from(a.toLowerCase(), 'utf8');
  const y = Buffer.from(b.toLowerCase(), 'utf8');
  if (x.length !== y.length || x.length === 0) return false;
  return crypto.timingSafeEqual(x, y);
}

module.exports = {
  SUPPORTED_ALGORITHMS,
  ALGORITHM_PREFERENCE,
  normalizeAlgorithm,
  splitOutsideQuotes,
  parseAll,
  parseChallenge,
  parseCredentials,
  hash,
  formatNc,
  chooseQop,
  computeHa1,
  computeResponse,
  buildAuthorization,
  quoteString: quote,
  safeEqualHex,
};
