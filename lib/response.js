'use strict';
const { EventEmitter } = require('node:events');
const assert = require('node:assert');
const SipMessage = require('./message.js');
const { STATUS } = require('./status.js');
const { delegateProps, delegateMethods } = require('./delegate.js');

const ECHOED = ['call-id', 'cseq', 'from', 'to'];
const STATUS_ERROR = 'Response#send: status is required and must be a valid sip response code';

/**
 * A SIP response: one the app sends to a received request (`res`), or one received for a
 * request the app sent.
 */
class Response extends EventEmitter {
  constructor(msg, meta) {
    super();
    this._msg = msg instanceof SipMessage ? msg : new SipMessage(msg);
    // The request whose Call-ID, CSeq, From and To this response has yet to echo (see `req`).
    this._echoOf = null;
    this.finished = false;
    // Set when it answers a received request: how it is sent, or that it needs no sending
    // (see Srf#_onSip), and whether the engine may answer the BYE of the dialog it forms.
    this._send = undefined;
    this._answered = false;
    this._answerBye = false;
    if (meta) Object.assign(this, meta);
  }

  get statusCode() { return this.msg.status; }
  set statusCode(v) { this.msg.status = v; }
  get finalResponseSent() { return this.finished; }
  get headersSent() { return this.finished; }

  get msg() {
    if (this._echoOf !== null) this._echo();
    return this._msg;
  }
  set msg(m) {
    this._msg = m;
    this._echoOf = null;
  }

  get req() { return this._req; }
  /**
   * Binding a request gives the response the headers it must echo (RFC 3261 §8.2.6.2), copied
   * when the response is first read or sent: most requests of a call (ACK, a BYE the engine
   * answered) never are.
   */
  set req(req) {
    this._req = req;
    this._echoOf = req;
  }

  _echo() {
    const req = this._echoOf;
    this._echoOf = null;
    for (const h of ECHOED) {
      const value = req.get(h);
      if (value !== undefined && !this._msg.has(h)) this._msg.set(h, value);
    }
  }

  get meta() {
    return { source: this.source, source_address: this.source_address, source_port: this.source_port,
      protocol: this.protocol, time: this.stackTime, transactionId: this.stackTxnId, dialogId: this.stackDialogId };
  }

  /**
   * send(status[, reason][, opts][, cb][, fnAck]): `opts` = {headers, body}; `cb(err, msg)`
   * once the server has sent it (msg = the response as sent); `fnAck(req)` gets the ACK or
   * PRACK for this response.
   */
  send(status, ...rest) {
    if (typeof status !== 'number' || !STATUS[status]) throw new Error(STATUS_ERROR);
    let reason;
    if (typeof rest[0] === 'string') reason = rest.shift();
    let opts = {};
    if (rest[0] && typeof rest[0] === 'object') opts = rest.shift();
    const cb = typeof rest[0] === 'function' ? rest.shift() : undefined;
    const fnAck = typeof rest[0] === 'function' ? rest.shift() : undefined;

    if (this.finished) {
      if (cb) cb(new Error('Response#send: final response already sent'));
      return;
    }
    // The status line needs no echoed headers: `_msg`, so an answer nobody builds (a BYE the
    // engine answered) copies none.
    this._msg.status = status;
    this._msg.reason = reason || STATUS[status];
    if (status >= 200) {
      this.finished = true;
      this.emit('end', { status, reason: this._msg.reason });
      setImmediate(() => this.emit('finish'));
    }
    if (this._answered) {
      if (cb) cb(null);
      return;
    }
    if (typeof this._send !== 'function') {
      if (cb) cb(new Error('Response#send: this response is not bound to a transaction'));
      return;
    }
    this._send(this._build(opts), { cb, fnAck, status });
  }

  /** The response text: sticky headers from `res.set`, plus this call's headers and body. */
  _build({ headers = {}, body } = {}) {
    const extra = {};
    for (const [name, value] of Object.entries(headers)) {
      if (name.toLowerCase() === 'to') this._adoptToTag(String(value));
      else extra[name] = value;
    }
    const out = new SipMessage({ status: this.msg.status, reason: this.msg.reason });
    Object.assign(out.headers, this.msg.headers);
    out.set(extra);
    if (body !== undefined && body !== null) out.body = String(body);
    return out.toString();
  }

  /** Only the tag of an app-supplied To matters: the server uses it as its local tag. */
  _adoptToTag(value) {
    const tag = /;\s*tag\s*=\s*([^;>\s]+)/i.exec(value);
    const key = this.msg.getHeaderName('to');
    if (!tag || !key || /;\s*tag\s*=/i.test(this.msg.headers[key])) return;
    this.msg.headers[key] += `;tag=${tag[1]}`;
  }

  // Express compatibility.
  getHeader(name) { return this.get(name); }
  setHeader(name, value) { return this.set(name, value); }
  removeHeader() {}
  end(data, encoding, cb) {
    assert.ok(!this.finished, 'Response#end: response already sent');
    if (typeof data === 'function') [cb, data] = [data, undefined];
    else if (typeof encoding === 'function') cb = encoding;
    this.send(this.msg.status || 200, typeof data === 'string' ? data : undefined, cb);
  }

  toJSON() {
    const out = { msg: this.msg.raw };
    for (const k of ['source', 'source_address', 'source_port', 'protocol', 'stackTime', 'stackDialogId', 'stackTxnId']) {
      if (this[k] !== undefined) out[k] = this[k];
    }
    return out;
  }

  toString() { return this.msg.toString(); }
}

delegateProps(Response, ['headers', 'body', 'payload', 'status', 'reason']);
delegateProps(Response, ['raw', 'type', 'callingNumber', 'callingName', 'calledNumber', 'canFormDialog'], { readOnly: true });
delegateMethods(Response, ['get', 'has', 'getHeaderName', 'getParsedHeader', 'set']);

module.exports = Response;
