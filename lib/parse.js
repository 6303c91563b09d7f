'use strict';

// SIP URI and header-value parsing.
//
// Output shapes follow drachtio-srf 5.0.29 (parseUri / stringifyUri / SipMessage#getParsedHeader) so that
// application code written against it keeps working. Everything is done by linear index scanning rather
// than regular expressions: header values come off the network and can be long, hostile strings, and the
// scanners below are O(n) whatever the input.
//
// Deliberate differences from drachtio-srf (all on inputs where it returns garbage or crashes):
//   parseUri
//   * a host without a user followed by params (`sip:feature-server;transport=tcp`): drachtio-srf folds the
//     params into the host; here the host is `feature-server` and params are parsed.
//   * the scheme is matched case-insensitively (`SIP:`, `TEL:`) and reported lower-case.
//   * surrounding whitespace is ignored; whitespace, `<` or `>` inside a sip URI makes it invalid (drachtio-srf
//     sometimes folds such characters into the host).
//   * a sip URI without a host (`sip:`, `sip:alice@`) is undefined, as is a tel URI with no digits.
//   * `;a=b=c` gives {a: 'b=c'}; empty `;;` segments are skipped; a `?name` header without `=` gives
//     {name: ''}; IPv4-mapped IPv6 hosts (`[::ffff:1.2.3.4]`) are accepted.
//   * tel params are taken as written, flags included (`;flag` → null), and any value characters; drachtio-srf
//     drops all params unless every one matches a narrow `key=value` pattern. `*`/`#` are number characters.
//   parseHeader
//   * never throws a TypeError. Via and CSeq values that cannot be interpreted throw an Error naming the
//     header and the Call-ID (drachtio-srf throws a TypeError there); every other header yields a best-effort
//     result for malformed input.
//   * list headers are split on every top-level comma, so entries after junk are still returned
//     (drachtio-srf stops at the first entry it cannot fully consume, and keeps `sip:a@b,sip:c@d` as one).
//   * param values run to the next `;`/`,`/whitespace, so `received=2001:db8::9` and `;x=a/b` survive whole;
//     `;tag=` gives ''. Junk between params is skipped rather than ending the param list.
//   * display names are whatever precedes `<` (trimmed), so `Bob (work) <sip:a@b>` keeps its URI.
//   * whitespace just inside angle brackets is trimmed from the URI; an unclosed `<` still yields the URI.
//   * Via hosts in brackets (`[2001:db8::1]:5060`) are kept whole; `sip/2.0/udp` is accepted.
//   * auth headers with no parameters (`Digest`) give {scheme}; CSeq methods are not %-decoded.
// Kept as drachtio-srf really behaves (even where its docs or typings say otherwise): absent port is NaN,
// absent user/password are present-but-undefined keys; Contact `*` parses to [{name: undefined, uri: '*',
// params: {}}] (drachtio-srf's '*' shortcut never fires); display names keep their quotes; name-addr param
// keys are lower-cased while URI param keys keep their case; compact header names are not expanded here.

const HTAB = 9, LF = 10, CR = 13, SP = 32, DQUOTE = 34, HASH = 35, DOLLAR = 36, PERCENT = 37, SQUOTE = 39,
  LPAREN = 40, RPAREN = 41, STAR = 42, PLUS = 43, COMMA = 44, DASH = 45, DOT = 46, SLASH = 47, COLON = 58,
  SEMI = 59, LT = 60, EQ = 61, GT = 62, QMARK = 63, AT = 64, LBRACK = 91, BSLASH = 92,
  UNDERSCORE = 95, TILDE = 126, BANG = 33, AMP = 38;

function isWs(c) {
  return c === SP || c === HTAB || c === CR || c === LF;
}
function isDigit(c) {
  return c >= 48 && c <= 57;
}
function isAlnum(c) {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}
function isHex(c) {
  return isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}
// Host characters: RFC 3261 hostname characters plus a few drachtio-srf also tolerates (`_`, `~`, `%`, ...).
function isHostChar(c) {
  return isAlnum(c) || c === DASH || c === DOT || c === UNDERSCORE || c === TILDE || c === PERCENT ||
    c === BANG || c === STAR || c === SQUOTE || c === PLUS || c === DOLLAR;
}
function isPhoneChar(c) {
  return isDigit(c) || c === PLUS || c === DASH || c === DOT || c === LPAREN || c === RPAREN ||
    c === STAR || c === HASH;
}

function skipWs(s, i, end) {
  while (i < end && isWs(s.charCodeAt(i))) i++;
  return i;
}
function trimEnd(s, start, end) {
  while (end > start && isWs(s.charCodeAt(end - 1))) end--;
  return end;
}
function trimmed(s, start, end) {
  start = skipWs(s, start, end);
  return s.slice(start, trimEnd(s, start, end));
}

// s[i] is '"': index just past the matching close quote (backslash escapes honoured), or end if unterminated.
function skipQuoted(s, i, end) {
  for (i++; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === BSLASH) i++;
    else if (c === DQUOTE) return i + 1;
  }
  return end;
}

// Bounded indexOf: searching only [from, to) keeps segment loops linear on long inputs.
function indexIn(s, code, from, to) {
  for (; from < to; from++) if (s.charCodeAt(from) === code) return from;
  return -1;
}

// Case-insensitive match of a lower-case ASCII literal at s[i].
function startsWithCI(s, i, lit) {
  if (i + lit.length > s.length) return false;
  for (let k = 0; k < lit.length; k++) {
    let c = s.charCodeAt(i + k);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== lit.charCodeAt(k)) return false;
  }
  return true;
}

// Plain assignment of '__proto__' would replace the object's prototype; keep it as an ordinary key.
function put(obj, key, value) {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, {value, enumerable: true, writable: true, configurable: true});
  }
  else obj[key] = value;
}

function toStr(v) {
  return typeof v === 'string' ? v : (v === undefined || v === null ? '' : String(v));
}

// ---------------------------------------------------------------------------------------------------------
// URIs

function parseUri(s) {
  // Objects (null included, as drachtio-srf does) are assumed to be already parsed.
  if (typeof s === 'object') return s;
  if (typeof s !== 'string') return undefined;
  const start = skipWs(s, 0, s.length);
  const end = trimEnd(s, start, s.length);
  if (startsWithCI(s, start, 'sip:')) return parseSipUri(s, 'sip', start + 4, end);
  if (startsWithCI(s, start, 'sips:')) return parseSipUri(s, 'sips', start + 5, end);
  return parseTelUri(s, start, end);
}

function parseSipUri(s, scheme, i, end) {
  // One pass rejects characters that cannot appear in a bare URI and finds the userinfo '@'. The first
  // '@' is the right one: '@' is not allowed unescaped in params or headers, while the user part may
  // contain ';', '?', '&' and '=' (RFC 4475 §3.1.1.3 semiuri).
  let at = -1;
  for (let k = i; k < end; k++) {
    const c = s.charCodeAt(k);
    if (c <= SP || c === 127 || c === LT || c === GT) return undefined;
    if (c === AT && at === -1) at = k;
  }

  let user, password, h = i;
  if (at !== -1) {
    const colon = indexIn(s, COLON, i, at);
    if (colon !== -1) {
      user = s.slice(i, colon);
      password = s.slice(colon + 1, at);
    }
    else user = s.slice(i, at);
    h = at + 1;
  }

  let p, family = 'ipv4';
  if (h < end && s.charCodeAt(h) === LBRACK) {
    const rb = indexIn(s, 93 /* ] */, h, end);
    if (rb === -1 || rb === h + 1) return undefined;
    let colons = 0;
    for (let k = h + 1; k < rb; k++) {
      const c = s.charCodeAt(k);
      if (c === COLON) colons++;
      else if (!isHex(c) && c !== DOT) return undefined;
    }
    if (colons === 0) return undefined;
    family = 'ipv6';
    p = rb + 1;
  }
  else {
    p = h;
    while (p < end && isHostChar(s.charCodeAt(p))) p++;
    if (p === h) return undefined;
  }
  const host = s.slice(h, p);

  // drachtio-srf reports an absent port as Number(undefined), i.e. NaN; callers test it for truthiness.
  let port = NaN;
  if (p < end && s.charCodeAt(p) === COLON) {
    let q = p + 1;
    while (q < end && isDigit(s.charCodeAt(q))) q++;
    if (q === p + 1) return undefined;
    port = Number(s.slice(p + 1, q));
    p = q;
  }
  if (p < end && s.charCodeAt(p) !== SEMI && s.charCodeAt(p) !== QMARK) return undefined;

  let qm = indexIn(s, QMARK, p, end);
  if (qm === -1) qm = end;

  const params = {};
  for (let k = p; k < qm;) {
    let e = indexIn(s, SEMI, k + 1, qm);
    if (e === -1) e = qm;
    // segment is s[k+1, e), s[k] being ';'
    const eq = indexIn(s, EQ, k + 1, e);
    if (eq !== -1) {
      if (eq > k + 1) put(params, s.slice(k + 1, eq), eq + 1 < e ? s.slice(eq + 1, e) : null);
    }
    else if (e > k + 1) put(params, s.slice(k + 1, e), null);
    k = e;
  }

  // Header values may contain ';' (e.g. User-To-User=AB;encoding=ascii): split only on '&'.
  const headers = {};
  for (let k = qm + 1; k < end;) {
    let e = indexIn(s, AMP, k, end);
    if (e === -1) e = end;
    if (e > k) {
      const eq = indexIn(s, EQ, k, e);
      if (eq !== -1) put(headers, s.slice(k, eq), s.slice(eq + 1, e));
      else put(headers, s.slice(k, e), '');
    }
    k = e + 1;
  }

  return {family, scheme, user, password, host, port, params, headers};
}

function parseTelUri(s, start, end) {
  let i = start;
  if (i < end && s.charCodeAt(i) === LT) i++;
  if (!startsWithCI(s, i, 'tel:')) return undefined;
  i += 4;
  let j = i;
  while (j < end && isPhoneChar(s.charCodeAt(j))) j++;
  if (j === i) return undefined;
  const number = s.slice(i, j);

  // Anything after the number other than params (a closing '>', trailing header params, junk) is ignored,
  // which lets `<tel:+123>;tag=x` parse as drachtio-srf allows.
  let context = null;
  const params = {};
  if (j < end && s.charCodeAt(j) === SEMI) {
    let stop = j;
    while (stop < end) {
      const c = s.charCodeAt(stop);
      if (c === GT || isWs(c)) break;
      stop++;
    }
    for (let k = j; k < stop;) {
      let e = indexIn(s, SEMI, k + 1, stop);
      if (e === -1) e = stop;
      const eq = indexIn(s, EQ, k + 1, e);
      let name, value = null;
      if (eq !== -1) {
        name = s.slice(k + 1, eq);
        if (eq + 1 < e) value = s.slice(eq + 1, e);
      }
      else name = s.slice(k + 1, e);
      if (name) {
        put(params, name, value);
        if (name.toLowerCase() === 'phone-context') context = value;
      }
      k = e;
    }
  }
  return {scheme: 'tel', number, context, params};
}

function stringifyParams(params) {
  let s = '';
  if (params && typeof params === 'object') {
    for (const k of Object.keys(params)) {
      const v = params[k];
      s += ';' + k + (v === null || v === undefined || v === '' ? '' : '=' + v);
    }
  }
  return s;
}

function stringifyUri(uri) {
  if (typeof uri === 'string') return uri;
  if (uri === null || typeof uri !== 'object') {
    throw new TypeError('stringifyUri: expected a URI string or a parsed URI object');
  }
  const scheme = uri.scheme || 'sip';
  let s = scheme + ':';
  if (scheme === 'tel') return s + toStr(uri.number) + stringifyParams(uri.params);

  if (uri.user) s += uri.user + (uri.password ? ':' + uri.password : '') + '@';
  s += toStr(uri.host);
  if (uri.port) s += ':' + uri.port;
  s += stringifyParams(uri.params);
  if (uri.headers && typeof uri.headers === 'object') {
    const hs = Object.keys(uri.headers).map((k) => k + '=' + toStr(uri.headers[k]));
    if (hs.length) s += '?' + hs.join('&');
  }
  return s;
}

// ---------------------------------------------------------------------------------------------------------
// Header values

// Index of the next comma at top level (outside quoted strings and angle brackets) at or after i, or n.
// Inside <...> quotes are not special: a URI cannot contain one, and treating a stray one as an opening
// quote would swallow the rest of the header.
function nextComma(s, i, n) {
  let inAngle = false;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (inAngle) {
      if (c === GT) inAngle = false;
    }
    else if (c === COMMA) return i;
    else if (c === DQUOTE) i = skipQuoted(s, i, n) - 1;
    else if (c === LT) inAngle = true;
  }
  return n;
}

function splitHeaderValues(value) {
  const s = toStr(value);
  const n = s.length;
  const out = [];
  for (let i = 0; i <= n;) {
    const e = nextComma(s, i, n);
    const part = trimmed(s, i, e);
    if (part) out.push(part);
    i = e + 1;
  }
  return out;
}

// Parses `;name[=value]` pairs in s[i, end) into params (keys lower-cased). Values are a quoted string (kept
// with its quotes) or run to the next ';', ',' or whitespace; a flag gets undefined. Junk between params is
// skipped.
function parseParams(s, i, end, params) {
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c !== SEMI) {
      i = c === DQUOTE ? skipQuoted(s, i, end) : i + 1;
      continue;
    }
    i = skipWs(s, i + 1, end);
    let j = i;
    while (j < end) {
      const d = s.charCodeAt(j);
      if (d === SEMI || d === EQ || d === COMMA || d === DQUOTE || isWs(d)) break;
      j++;
    }
    if (j === i) continue;
    const name = s.slice(i, j).toLowerCase();
    let value;
    let k = skipWs(s, j, end);
    if (k < end && s.charCodeAt(k) === EQ) {
      k = skipWs(s, k + 1, end);
      let m;
      if (k < end && s.charCodeAt(k) === DQUOTE) m = skipQuoted(s, k, end);
      else {
        m = k;
        while (m < end) {
          const d = s.charCodeAt(m);
          if (d === SEMI || d === COMMA || isWs(d)) break;
          m++;
        }
      }
      value = s.slice(k, m);
      i = m;
    }
    else i = j;
    put(params, name, value);
  }
  return params;
}

// One already-trimmed element: `[display-name] <uri>;params` or `uri;params`.
function parseNameAddrElement(el) {
  const n = el.length;
  // Find the '<' opening a name-addr; an unquoted ';' first means this is a bare addr-spec.
  let lt = -1;
  for (let i = 0; i < n; i++) {
    const c = el.charCodeAt(i);
    if (c === LT) {
      lt = i;
      break;
    }
    if (c === SEMI) break;
    if (c === DQUOTE) i = skipQuoted(el, i, n) - 1;
  }

  if (lt === -1) {
    let j = 0;
    while (j < n) {
      const c = el.charCodeAt(j);
      if (c === SEMI || isWs(c)) break;
      j++;
    }
    return {name: undefined, uri: el.slice(0, j), params: parseParams(el, j, n, {})};
  }

  const name = trimmed(el, 0, lt) || undefined;
  const gt = el.indexOf('>', lt + 1);
  if (gt === -1) return {name, uri: trimmed(el, lt + 1, n), params: {}};
  return {name, uri: trimmed(el, lt + 1, gt), params: parseParams(el, gt + 1, n, {})};
}

// First non-empty top-level element of a (possibly multi-valued) name-addr header.
function parseNameAddr(value) {
  const s = toStr(value);
  const n = s.length;
  for (let i = 0; i <= n;) {
    const e = nextComma(s, i, n);
    const part = trimmed(s, i, e);
    if (part) return parseNameAddrElement(part);
    i = e + 1;
  }
  return {name: undefined, uri: '', params: {}};
}

function parseViaElement(el) {
  const n = el.length;
  if (!startsWithCI(el, 0, 'sip')) return null;
  let i = skipWs(el, 3, n);
  if (i >= n || el.charCodeAt(i) !== SLASH) return null;
  i = skipWs(el, i + 1, n);
  let j = i;
  while (j < n && isDigit(el.charCodeAt(j))) j++;
  if (j === i || j >= n || el.charCodeAt(j) !== DOT) return null;
  let k = j + 1;
  while (k < n && isDigit(el.charCodeAt(k))) k++;
  if (k === j + 1) return null;
  const version = el.slice(i, k);
  i = skipWs(el, k, n);
  if (i >= n || el.charCodeAt(i) !== SLASH) return null;
  i = skipWs(el, i + 1, n);
  j = i;
  while (j < n && !isWs(el.charCodeAt(j))) j++;
  if (j === i || j === n) return null;
  const protocol = el.slice(i, j);

  i = skipWs(el, j, n);
  if (el.charCodeAt(i) === LBRACK) {
    const rb = el.indexOf(']', i);
    if (rb === -1) return null;
    j = rb + 1;
  }
  else {
    j = i;
    while (j < n) {
      const c = el.charCodeAt(j);
      if (c === COLON || c === SEMI || c === COMMA || isWs(c)) break;
      j++;
    }
    if (j === i) return null;
  }
  const host = el.slice(i, j);

  let port;
  k = skipWs(el, j, n);
  if (k < n && el.charCodeAt(k) === COLON) {
    const d0 = skipWs(el, k + 1, n);
    let d = d0;
    while (d < n && isDigit(el.charCodeAt(d))) d++;
    if (d > d0) {
      port = Number(el.slice(d0, d));
      j = d;
    }
  }
  return {version, protocol, host, port, params: parseParams(el, j, n, {})};
}

// Auth headers: a list of `scheme param=value, param=value, ...` items, themselves comma separated, so a
// new challenge is recognised as a bare token at the start of a comma-separated item. Keys keep their
// case and quoted values keep their quotes, as drachtio-srf returns them. With withScheme false (for
// Authentication-Info) all params go into one object.
function parseAuthParams(s, withScheme) {
  const n = s.length;
  const out = [];
  let cur = withScheme ? null : {};
  let itemStart = true;
  for (let i = 0; i < n;) {
    const c = s.charCodeAt(i);
    if (isWs(c)) {
      i++;
      continue;
    }
    if (c === COMMA) {
      itemStart = true;
      i++;
      continue;
    }
    let j = i;
    while (j < n) {
      const d = s.charCodeAt(j);
      if (d === COMMA || d === EQ || d === DQUOTE || isWs(d)) break;
      j++;
    }
    if (j === i) {
      // stray '=' or quoted string with no name: skip it
      i = c === DQUOTE ? skipQuoted(s, i, n) : i + 1;
      itemStart = false;
      continue;
    }
    const tok = s.slice(i, j);
    let k = skipWs(s, j, n);
    if (k < n && s.charCodeAt(k) === EQ) {
      k = skipWs(s, k + 1, n);
      let m;
      if (k < n && s.charCodeAt(k) === DQUOTE) m = skipQuoted(s, k, n);
      else {
        m = k;
        while (m < n) {
          const d = s.charCodeAt(m);
          if (d === COMMA || d === DQUOTE || isWs(d)) break;
          m++;
        }
      }
      if (!cur) {
        cur = {scheme: ''};
        out.push(cur);
      }
      put(cur, tok, s.slice(k, m));
      i = m;
    }
    else {
      // A bare token that is not at the start of an item (e.g. a token68 credential) is ignored.
      if (withScheme && itemStart) {
        cur = {scheme: tok};
        out.push(cur);
      }
      i = j;
    }
    itemStart = false;
  }
  return withScheme ? out : cur;
}

function malformed(header, value, callId) {
  const shown = value.length > 80 ? value.slice(0, 80) + '...' : value;
  return new Error(`malformed ${header} header '${shown}' in SIP message with Call-ID: ${callId || 'unknown'}`);
}

function parseVia(v, callId) {
  return splitHeaderValues(v).map((el) => {
    const via = parseViaElement(el);
    if (!via) throw malformed('Via', el, callId);
    return via;
  });
}

function parseCSeq(v, callId) {
  const n = v.length;
  const i = skipWs(v, 0, n);
  let j = i;
  while (j < n && isDigit(v.charCodeAt(j))) j++;
  if (j === i) throw malformed('CSeq', v, callId);
  const k = skipWs(v, j, n);
  let m = k;
  while (m < n && !isWs(v.charCodeAt(m))) m++;
  return {seq: Number(v.slice(i, j)), method: v.slice(k, m)};
}

function parseHeader(name, value, callId) {
  switch (typeof name === 'string' ? name.toLowerCase() : '') {
    case 'to':
    case 'from':
    case 'refer-to':
    case 'referred-by':
    case 'p-asserted-identity':
    case 'remote-party-id':
      return parseNameAddr(value);
    case 'contact':
      return splitHeaderValues(value).map(parseNameAddrElement);
    case 'route':
    case 'record-route':
    case 'path':
      return splitHeaderValues(value).map((el) => {
        const r = parseNameAddrElement(el);
        r.uri = parseUri(r.uri);
        return r;
      });
    case 'via':
      return parseVia(toStr(value), callId);
    case 'cseq':
      return parseCSeq(toStr(value), callId);
    case 'content-length':
      return Number(toStr(value));
    case 'www-authenticate':
    case 'proxy-authenticate':
    case 'authorization':
    case 'proxy-authorization':
      return parseAuthParams(toStr(value), true);
    case 'authentication-info':
      return parseAuthParams(toStr(value), false);
    default:
      return value;
  }
}

/** The `tag` parameter of a From or To value, or undefined. */
function tagOf(value) {
  return (/;\s*tag=([^;>\s]+)/.exec(value || '') || [])[1];
}

module.exports = {parseUri, stringifyUri, parseHeader, parseNameAddr, splitHeaderValues, tagOf};
