'use strict';
// SipMessage: header access over a raw message plus the byte-offset index made in Rust
// (src/sip/index.rs). Nothing is decoded until asked for; the first write (or a read of the
// whole `headers` object) turns the message into a plain header map, as drachtio-srf has.
const binding = require('./binding.js');
const { idOf, keyOf, wireName, lowerName } = require('./headers.js');
const { parseHeader, parseNameAddr, splitHeaderValues } = require('./parse.js');

// Word positions in the index (must match src/sip/index.rs, layout version 1).
const LAYOUT_VERSION = 1;
const KIND = 1, A0 = 2, A1 = 3, B0 = 4, B1 = 5, LINE0 = 6, BODY0 = 8, BODY1 = 9, COUNT = 10;
const FIXED = 11, WORDS = 5, FOLDED = 0x100;
const [nativeLayout, MAX_WORDS] = binding.indexLayout();
if (nativeLayout !== LAYOUT_VERSION) {
  throw new Error('drachtio-srf-rs: the native addon does not match lib/message.js; rebuild it');
}
// Rust writes each index here; the message keeps a copy in a plain array, which V8 makes
// several times faster than a new typed array (those get a separate backing store).
const scratch = new Uint32Array(MAX_WORDS);

/** Parses raw bytes in Rust; returns the message index (throws on malformed input). */
function indexMessage(raw, stream = false) {
  const n = binding.parseMessage(raw, scratch, stream);
  const offs = new Array(n);
  for (let i = 0; i < n; i++) offs[i] = scratch[i];
  return offs;
}

const FOLD = /\r?\n[ \t]+/g;

// The index of a detached message, until a read needs it again (see `_detach`).
const DETACHED = Object.freeze([]);

/**
 * Every field a message may cache, set up front in one order: messages then share one hidden
 * class, and the lazy getters store into it instead of growing a new shape per message.
 */
function init(m, raw, offs, headers) {
  m._raw = raw;
  m._offs = offs;
  m._headers = headers;
  m._edited = false;
  m._method = undefined;
  m._uri = undefined;
  m._version = undefined;
  m._status = undefined;
  m._reason = undefined;
  m._body = undefined;
  m._payload = undefined;
  m._rawText = undefined;
  return m;
}

class SipMessage {
  /**
   * @param {string|Buffer|object} [msg] raw SIP text, or `{method, uri, version, status,
   * reason, headers, body, payload}`
   */
  constructor(msg) {
    if (typeof msg === 'string' || Buffer.isBuffer(msg)) {
      const raw = Buffer.isBuffer(msg) ? msg : Buffer.from(msg, 'utf8');
      let offs;
      try {
        offs = indexMessage(raw);
      } catch (err) {
        const e = new Error('failed to parse sip message');
        e.cause = err;
        throw e;
      }
      init(this, raw, offs, null);
      return;
    }
    init(this, null, null, {});
    if (msg && typeof msg === 'object') {
      for (const k of ['method', 'uri', 'version', 'status', 'reason', 'body', 'payload']) {
        if (msg[k] !== undefined) this[k] = msg[k];
      }
      if (msg.headers) this.set(msg.headers);
    }
  }

  /** Wraps a message received from Rust: the raw bytes and their index. */
  static fromIndex(raw, offs) {
    return init(Object.create(SipMessage.prototype), raw, offs, null);
  }

  _slice(start, end) {
    return this._raw.utf8Slice(start, end);
  }

  /**
   * For messages kept for a long time (a Dialog's request and response): a message received
   * from Rust is a view into its whole event batch, which it would keep alive; copy out just
   * its own bytes. Its index is dropped too and made again if a header is ever read: kept, it
   * was about a fifth of an established call's memory, and most are never read again.
   */
  _detach() {
    if (this._raw && this._raw.byteLength !== this._raw.buffer.byteLength) {
      this._raw = Buffer.from(this._raw);
      this._offs = DETACHED;
    }
    return this;
  }

  /** The message's index (made again after `_detach`); null for a message built from fields. */
  _index() {
    if (this._offs === DETACHED) this._offs = indexMessage(this._raw);
    return this._offs;
  }

  get method() {
    if (this._method === undefined) {
      const o = this._index();
      this._method = o && o[KIND] === 1 ? this._raw.latin1Slice(o[A0], o[A1]) : undefined;
    }
    return this._method;
  }
  set method(v) { this._method = v; this._edited = true; }

  get uri() {
    if (this._uri === undefined) {
      const o = this._index();
      this._uri = o && o[KIND] === 1 ? this._slice(o[B0], o[B1]) : undefined;
    }
    return this._uri;
  }
  set uri(v) { this._uri = v; this._edited = true; }

  get status() {
    if (this._status === undefined) {
      const o = this._index();
      this._status = o && o[KIND] === 2 ? o[A0] : undefined;
    }
    return this._status;
  }
  set status(v) { this._status = v; this._edited = true; }

  get reason() {
    if (this._reason === undefined) {
      const o = this._index();
      this._reason = o && o[KIND] === 2 ? this._slice(o[B0], o[B1]) : undefined;
    }
    return this._reason;
  }
  set reason(v) { this._reason = v; this._edited = true; }

  get version() {
    if (this._version === undefined) this._version = this._offs ? '2.0' : undefined;
    return this._version;
  }
  set version(v) { this._version = v; this._edited = true; }

  get body() {
    if (this._body === undefined) {
      const o = this._index();
      this._body = o ? this._slice(o[BODY0], o[BODY1]) : undefined;
    }
    return this._body;
  }
  set body(v) { this._body = v; this._edited = true; }

  get payload() {
    if (this._payload === undefined) this._payload = splitPayload(this.get('content-type'), this.body);
    return this._payload;
  }
  set payload(v) { this._payload = v; }

  get type() {
    if (this.method) return 'request';
    if (this.status) return 'response';
    return 'unknown';
  }

  /** The message as received (for a parsed message), else as it would be sent. */
  get raw() {
    if (this._rawText === undefined) {
      const o = this._index();
      this._rawText = o ? this._slice(o[LINE0], o[BODY1]) : this.toString();
    }
    return this._rawText;
  }
  set raw(v) { this._rawText = v; this._edited = true; }

  get headers() {
    if (this._headers === null) this._headers = this._buildHeaders();
    return this._headers;
  }
  set headers(v) { this._headers = v; }

  _buildHeaders() {
    const headers = {};
    const o = this._index();
    for (let i = 0, p = FIXED; i < o[COUNT]; i++, p += WORDS) {
      const key = keyOf(this._raw.latin1Slice(o[p], o[p + 1]), o[p + 4] & 0xff);
      const value = this._value(p);
      headers[key] = key in headers ? headers[key] + ',' + value : value;
    }
    return headers;
  }

  _value(p) {
    const o = this._index();
    const v = this._slice(o[p + 2], o[p + 3]);
    return o[p + 4] & FOLDED ? v.replace(FOLD, ' ') : v;
  }

  /** The stored key for a header name, matched case-insensitively. */
  getHeaderName(name) {
    if (typeof name !== 'string') return undefined;
    const headers = this.headers;
    const key = keyOf(name);
    if (key in headers) return key;
    const lower = key.toLowerCase();
    for (const h in headers) if (sameName(h, lower) && Object.hasOwn(headers, h)) return h;
    return undefined;
  }

  get(name) {
    if (typeof name !== 'string') return undefined;
    if (this._headers !== null) {
      // Header names are case-insensitive: keys that differ only in case (kept apart by
      // drachtio-srf's X-/P- spelling rule) are one header.
      const lower = keyOf(name).toLowerCase();
      let value;
      for (const key in this._headers) {
        if (!sameName(key, lower) || !Object.hasOwn(this._headers, key)) continue;
        value = value === undefined ? this._headers[key] : value + ',' + this._headers[key];
      }
      return value;
    }
    // Fast path over the index: known headers by id, extension headers by name.
    const o = this._index();
    const id = idOf(name);
    const lower = id ? '' : name.toLowerCase();
    let value;
    for (let i = 0, p = FIXED; i < o[COUNT]; i++, p += WORDS) {
      const hid = o[p + 4] & 0xff;
      if (id ? hid !== id : hid !== 0 || this._raw.latin1Slice(o[p], o[p + 1]).toLowerCase() !== lower) continue;
      const v = this._value(p);
      value = value === undefined ? v : value + ',' + v;
    }
    return value;
  }

  has(name) {
    return this.get(name) !== undefined;
  }

  /** Adds headers (`set(name, value)` or `set({name: value})`); repeats are comma-joined. */
  set(name, value) {
    const headers = this.headers;
    const entries = typeof name === 'string' ? [[name, value]] : Object.entries(name || {});
    for (const [n, v] of entries) {
      const key = this.getHeaderName(n) || keyOf(n);
      headers[key] = key in headers ? headers[key] + ',' + v : String(v);
    }
    this._rawText = undefined;
    return this;
  }

  getParsedHeader(name) {
    const v = this.get(name);
    if (!v) {
      const callId = this.get('Call-ID') || 'unknown';
      throw new Error(`header '${name}' not available in SIP message with Call-ID: ${callId}`);
    }
    return parseHeader(lowerName(name), v);
  }

  get calledNumber() {
    return userPart(this.uri);
  }

  get callingNumber() {
    const v = this.get('p-asserted-identity') ?? this.get('from');
    if (!v) return '';
    return userPart(v) || userPart(nameAddrUri(splitHeaderValues(v)[0] || ''));
  }

  get callingName() {
    const v = this.get('p-asserted-identity') ?? this.get('from');
    if (!v) return '';
    for (const part of splitHeaderValues(v)) {
      const trimmed = part.trimStart();
      if (trimmed[0] !== '"') continue;
      const na = parseNameAddr(trimmed);
      if (na && na.name && /^sips?:/i.test(na.uri || '')) return na.name.replace(/^"|"$/g, '');
    }
    return '';
  }

  get canFormDialog() {
    if (this.method !== 'INVITE' && this.method !== 'SUBSCRIBE') return false;
    const to = this.get('to');
    return !to || !/;\s*tag\s*=/i.test(to);
  }

  toString() {
    // A parsed message nobody changed is its own text; otherwise write it from its parts.
    if (this._offs && !this._edited && this._headers === null) return this.raw;
    const lines = [this.type === 'response'
      ? `SIP/${this.version || '2.0'} ${this.status} ${this.reason || ''}`
      : `${this.method} ${this.uri} SIP/${this.version || '2.0'}`];
    const body = this.body || '';
    for (const [key, value] of Object.entries(this.headers)) {
      if (key.toLowerCase() === 'content-length') continue;
      lines.push(`${wireName(key)}: ${value}`);
    }
    lines.push(`Content-Length: ${Buffer.byteLength(body, 'utf8')}`);
    return lines.join('\r\n') + '\r\n\r\n' + body;
  }
}

/**
 * Whether header key `key` is `lower` (a lower-cased name); lower-cases only same-length keys.
 * Callers walk keys with for-in (no key array) and keep only own ones, as Object.keys did.
 */
function sameName(key, lower) {
  return key.length === lower.length && (key === lower || key.toLowerCase() === lower);
}

/** The URI inside a name-addr or addr-spec value (`"A" <sip:a@b>;tag=1` → `sip:a@b`). */
function nameAddrUri(v) {
  const lt = v.indexOf('<');
  if (lt !== -1) {
    const gt = v.indexOf('>', lt);
    return v.slice(lt + 1, gt === -1 ? undefined : gt);
  }
  return v.trim().split(';')[0];
}

/**
 * The user of the first sip/sips URI in a value, up to any `;` (drachtio-srf reads it this
 * loosely, and apps rely on it for slightly broken From/PAI values); '' when there is none.
 */
function sipUser(v) {
  const m = /sips?:([^@]*?)@/i.exec(v);
  return m ? m[1].split(';')[0] : '';
}

/** The number of a tel URI, for the same purpose. */
function telNumber(uri) {
  const m = /^\s*tel:([^;>]*)/i.exec(uri);
  return m ? m[1] : '';
}

function userPart(v) {
  return typeof v === 'string' ? sipUser(v) || telNumber(v) : '';
}

/** `payload` as drachtio-srf shapes it: one entry per multipart part, else the whole body. */
function splitPayload(contentType, body) {
  if (body === undefined) return [];
  const m = typeof contentType === 'string' && contentType.includes('multipart/')
    ? /;\s*boundary\s*=\s*"?([^";]+)"?/i.exec(contentType) : null;
  if (!m) return [{ type: contentType, content: body }];
  const delimiter = '--' + m[1];
  const parts = [];
  for (let chunk of body.split(delimiter).slice(1)) {
    if (chunk.startsWith('--')) break; // closing delimiter
    chunk = chunk.replace(/^\r?\n/, '');
    const sep = chunk.search(/\r?\n\r?\n/);
    const head = sep === -1 ? chunk : chunk.slice(0, sep);
    const content = sep === -1 ? '' : chunk.slice(chunk.indexOf('\n', chunk.indexOf('\n', sep) + 1) + 1).replace(/\r?\n$/, '');
    const ct = /^content-type\s*:\s*(.*)$/im.exec(head);
    parts.push({ type: ct ? ct[1].trim() : null, content });
  }
  return parts;
}

module.exports = SipMessage;
module.exports.indexMessage = indexMessage;
