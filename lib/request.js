'use strict';
const { EventEmitter } = require('node:events');
const SipMessage = require('./message.js');
const { delegateProps, delegateMethods } = require('./delegate.js');

// Responses held for a request nobody listens to yet; a call has a handful at most.
const MAX_HELD = 64;

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

  get meta() {
    return { source: this.source, source_address: this.source_address, source_port: this.source_port,
      protocol: this.protocol, time: this.stackTime, transactionId: this.stackTxnId, dialogId: this.stackDialogId };
  }

  /** CANCEL this INVITE (one the app sent). `cb(err, cancelRequest)` once it is sent. */
  cancel(opts, cb) {
    if (this.source !== 'application' || !this._uac) throw new Error('Request#cancel can only be used for uac Request');
    if (typeof opts === 'function') [opts, cb] = [{}, opts];
    this._uac.uac.cancel(this, opts || {}).then((req) => cb && cb(null, req), (err) => cb && cb(err));
  }

  /** Proxies this (received) request: see srf.proxyRequest. */
  proxy(opts, cb) {
    if (this.source !== 'network') throw new Error('Request#proxy can only be used for incoming requests');
    return this.srf.proxyRequest(this, opts, cb);
  }

  /**
   * Delivers a response to the 'response' listeners. One that arrives before anybody listens
   * (e.g. before the app's `await srf.request()` resumes) is held until a listener is added.
   */
  _emitResponse(res, ack) {
    if (this._held) {
      if (this._held.length < MAX_HELD) this._held.push([res, ack]);
      return;
    }
    if (this.listenerCount('response') > 0) {
      this.emit('response', res, ack);
      return;
    }
    this._held = [[res, ack]];
    const onListener = (event) => {
      if (event !== 'response') return;
      this.off('newListener', onListener);
      setImmediate(() => {
        const held = this._held;
        this._held = null;
        for (const [r, a] of held) this.emit('response', r, a);
      });
    };
    this.on('newListener', onListener);
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
