'use strict';
const { EventEmitter } = require('node:events');
const SipMessage = require('./message.js');
const { delegateProps, delegateMethods } = require('./delegate.js');

/** A SIP request, received from the network or sent by the app. */
class Request extends EventEmitter {
  constructor(msg, meta) {
    super();
    this.msg = msg instanceof SipMessage ? msg : new SipMessage(msg);
    if (meta) Object.assign(this, meta);
  }

  get url() { return this.msg.uri; }

  get isNewInvite() {
    return this.method === 'INVITE' && !/;\s*tag\s*=/i.test(this.get('to') || '');
  }

  toJSON() {
    return { msg: this.msg.raw, source: this.source, source_address: this.source_address,
      source_port: this.source_port, protocol: this.protocol, stackTime: this.stackTime };
  }

  toString() { return this.msg.toString(); }
}

delegateProps(Request, ['method', 'uri', 'headers', 'body', 'payload']);
delegateProps(Request, ['type', 'raw', 'callingNumber', 'callingName', 'calledNumber', 'canFormDialog'],
  { readOnly: true });
delegateMethods(Request, ['get', 'has', 'getHeaderName', 'getParsedHeader', 'set']);

module.exports = Request;
