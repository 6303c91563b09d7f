'use strict';
const { EventEmitter } = require('node:events');
const SipMessage = require('./message.js');
const { delegateProps, delegateMethods } = require('./delegate.js');

/** A SIP response: one we send to a received request, or one received for a sent request. */
class Response extends EventEmitter {
  constructor(msg, meta) {
    super();
    this.msg = msg instanceof SipMessage ? msg : new SipMessage(msg);
    this.finished = false;
    if (meta) Object.assign(this, meta);
  }

  get statusCode() { return this.msg.status; }
  set statusCode(v) { this.msg.status = v; }
  get finalResponseSent() { return this.finished; }
  get headersSent() { return this.finished; }

  toString() { return this.msg.toString(); }
}

delegateProps(Response, ['headers', 'body', 'payload', 'status', 'reason']);
delegateProps(Response, ['raw', 'type'], { readOnly: true });
delegateMethods(Response, ['get', 'has', 'getHeaderName', 'getParsedHeader', 'set']);

module.exports = Response;
