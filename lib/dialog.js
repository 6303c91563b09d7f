'use strict';
// Dialog: one SIP dialog the app is part of (api.md §5), as created by createUAS/createUAC.
// Requests inside it go to the server by dialog id; the server supplies tags, CSeq and the
// remote target. Incoming in-dialog requests are handed here by the Srf's dialog dispatcher.
const { EventEmitter } = require('node:events');
const assert = require('node:assert');
const SipError = require('./sip-error.js');
const { METHODS } = require('./middleware.js');


function reasonOf(req) {
  const m = /text="([^"]*)"/.exec(req.get('reason') || '');
  return m ? m[1] : 'normal release';
}

class Dialog extends EventEmitter {
  /** Built by the library: `type` is 'uas' or 'uac'; `req`/`res` the dialog-forming pair. */
  constructor(srf, type, { req, res, id, localSdp }) {
    super();
    this.srf = srf;
    this.type = type;
    this.req = req;
    this.res = res;
    if (req.msg) req.msg._detach();
    if (res.msg) res.msg._detach();
    this._id = id;
    this.dialogType = req.method;
    this.connected = true;
    this.onHold = false;
    this.other = null;
    this.subscriptions = [];
    this.subscribeEvent = req.method === 'SUBSCRIBE' ? req.get('event') || null : null;
    this._queue = null;
    this._modifying = Promise.resolve();
    const uriOf = (v) => {
      const m = /<([^>]*)>/.exec(v || '');
      return m ? m[1] : (v || '').split(';')[0].trim();
    };
    const tagOf = (v) => (/;\s*tag=([^;>\s]+)/.exec(v || '') || [])[1];
    const contact = res.get('contact');
    if (type === 'uas') {
      this.sip = { callId: req.get('call-id'), localTag: tagOf(res.get('to')), remoteTag: tagOf(req.get('from')) };
      this.local = { uri: uriOf(contact), sdp: localSdp, contact };
      this.remote = { uri: uriOf(req.get('contact')), sdp: req.body };
    } else {
      this.sip = { callId: req.get('call-id'), localTag: tagOf(req.get('from')), remoteTag: tagOf(res.get('to')) };
      this.local = { uri: req.uri, sdp: localSdp, contact: req.get('contact') };
      this.remote = { uri: uriOf(contact), sdp: res.body };
    }
  }

  get id() { return this._id; }

  /** While true, incoming in-dialog requests wait; set it false to handle them in order. */
  set queueRequests(on) {
    if (on) this._queue = this._queue || [];
    else if (this._queue) {
      const held = this._queue;
      this._queue = null;
      setImmediate(() => held.forEach(([req, res]) => this.handle(req, res)));
    }
  }

  toJSON() {
    return { id: this.id, type: this.type, sip: this.sip, local: this.local, remote: this.remote, onHold: this.onHold };
  }

  toString() { return JSON.stringify(this.toJSON()); }

  /** Ends the dialog: BYE (INVITE dialogs) or a terminating NOTIFY (SUBSCRIBE dialogs). */
  destroy(opts = {}, cb) {
    if (typeof opts === 'function') [opts, cb] = [{}, opts];
    const run = async () => {
      if (!this.connected) throw Object.assign(new Error('dialog is no longer connected'), { code: 'ENODIALOG' });
      this.connected = false;
      this.srf.removeDialog(this);
      try {
        if (this.dialogType === 'SUBSCRIBE') {
          const headers = { 'Subscription-State': 'terminated', Event: this.subscribeEvent || '', ...(opts.headers || {}) };
          return await this._send('NOTIFY', { headers }, { final: false });
        }
        return await this._send('BYE', opts, { final: true });
      } finally {
        setImmediate(() => this.removeAllListeners());
      }
    };
    return settle(run(), cb, this);
  }

  /** Sends a request inside the dialog; resolves with the final response. */
  request(opts = {}, cb) {
    assert.ok(opts && typeof opts.method === 'string' && METHODS.includes(opts.method), 'Dialog#request: method must be an upper-case SIP method');
    return settle(this._send(opts.method, opts, { final: true }), cb, this);
  }

  /** A re-INVITE: `modify('hold')`, `modify('unhold')`, `modify(sdp)`; one at a time. */
  modify(sdp, opts = {}, cb) {
    if (typeof opts === 'function') [opts, cb] = [{}, opts];
    if (typeof sdp === 'object' && sdp !== null) [opts, sdp] = [sdp, sdp.sdp];
    const run = this._modifying.catch(() => {}).then(async () => {
      if (!this.connected) throw new Error('invalid request to modify a completed dialog');
      let body = sdp;
      if (sdp === 'hold') {
        body = (this.local.sdp || '').replace(/a=sendrecv/, 'a=inactive');
        this.onHold = true;
      } else if (sdp === 'unhold') {
        if (!this.onHold) throw new Error('attempt to unhold session that is not on hold');
        body = (this.local.sdp || '').replace(/a=inactive/, 'a=sendrecv');
        this.onHold = false;
      }
      if (typeof body === 'string') this.local.sdp = body;
      const headers = { Contact: this.local.contact, ...(opts.headers || {}) };
      const res = await this._send('INVITE', { ...opts, headers, body }, { final: true, ack: !opts.noAck || body });
      this.remote.sdp = res.body;
      return res.body;
    });
    this._modifying = run;
    return settle(run, cb, this);
  }

  /** Sends `method` in the dialog; with `final`, waits for the final response. */
  async _send(method, { headers = {}, body, auth } = {}, { final, ack = true } = {}) {
    const uac = this.srf._uac;
    const req = await uac.sendInDialog(this.id, method, { headers, body, auth: auth || this.auth });
    if (!final) return req;
    const res = await new Promise((resolve) => {
      req.on('response', (r, ackFn) => {
        if (r.status < 200) return;
        if (method === 'INVITE' && ack) ackFn();
        resolve(r);
      });
    });
    if (method !== 'BYE' && res.status >= 300) throw Object.assign(new SipError(res.status, res.reason), { res });
    return method === 'BYE' ? req : res;
  }

  /**
   * An in-dialog request from the far end (api.md §5.3). Handled on the next macrotask (as
   * drachtio-srf does for INFO, ACK and others, and here for every method): the request can
   * arrive in the same batch as the 200 that created the dialog, before an app awaiting
   * createUAS/createUAC has had a chance to attach its listeners.
   */
  handle(req, res) {
    if (this._queue && req.method !== 'ACK') {
      this._queue.push([req, res]);
      return;
    }
    setImmediate(() => this._handle(req, res));
  }

  _handle(req, res) {
    const emit = (event) => this._dispatch(event, req, res, []);
    switch (req.method) {
      case 'BYE':
        res.send(200);
        this.connected = false;
        this.srf.removeDialog(this);
        this.emit('destroy', req, reasonOf(req));
        setImmediate(() => this.removeAllListeners());
        return;
      case 'ACK':
        if (req.body) this.remote.sdp = req.body;
        return emit('ack');
      case 'INVITE':
        this.remote.sdp = req.body || '';
        if (this.listenerCount('modify') > 0) return this.emit('modify', req, res);
        return res.send(200, { body: this.local.sdp, headers: { Contact: this.local.contact, 'Content-Type': 'application/sdp' } });
      case 'SUBSCRIBE':
        if (this.listenerCount('subscribe') > 0) return this.emit('subscribe', req, res);
        return res.send(489, 'Bad Event - no dialog handler');
      default:
        if (!METHODS.includes(req.method)) return res.send(501);
        return emit(req.method.toLowerCase());
    }
  }

  _dispatch(event, req, res, args) {
    if (this.listenerCount(event) > 0) return this.emit(event, req, res, ...args);
    if (req.method === 'ACK') return undefined;
    if (req.method === 'UPDATE' && req.body) return res.send(200, { body: this.local.sdp });
    return res.send(200);
  }
}

// Method shortcuts, as real functions (drachtio-srf's arrow functions have no `this`). ACK
// and CANCEL have no final response to wait for, so they get none.
for (const method of METHODS.filter((m) => m !== 'ACK' && m !== 'CANCEL')) {
  Dialog.prototype[method.toLowerCase()] = function (opts = {}, cb) {
    return this.request({ ...opts, method }, cb);
  };
}

/** Callback-or-Promise: with `cb` it is called and `self` returned, else the promise. */
function settle(promise, cb, self) {
  if (typeof cb !== 'function') return promise;
  promise.then((v) => cb(null, v), (err) => cb(err));
  return self;
}

module.exports = Dialog;
module.exports.settle = settle;
