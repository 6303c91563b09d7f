'use strict';
// Dialog: one SIP dialog the app is part of (api.md §5), as created by createUAS/createUAC.
// Requests inside it go to the server by dialog id; the server supplies tags, CSeq and the
// remote target. Incoming in-dialog requests are handed here by the Srf's dialog dispatcher.
const { EventEmitter } = require('node:events');
const assert = require('node:assert');
const SipError = require('./sip-error.js');
const { METHODS } = require('./middleware.js');
const { parseNameAddr, parseUri, splitHeaderValues, tagOf } = require('./parse.js');
const sdp = require('./sdp.js');
const debug = require('debug')('drachtio:srf');

/** The CSeq number of a message, or null. */
function cseqOf(msg) {
  const n = parseInt(msg.get('cseq') || '', 10);
  return Number.isInteger(n) ? n : null;
}

function reasonOf(req) {
  const m = /text="([^"]*)"/.exec(req.get('reason') || '');
  return m ? m[1] : 'normal release';
}

class Dialog extends EventEmitter {
  /**
   * Built by the library: `type` is 'uas' or 'uac'; `req`/`res` the dialog-forming pair, or a
   * `snapshot` from the session store (dialog-persistence.js) when another process made it.
   */
  constructor(srf, type, { req, res, id, localSdp, snapshot }) {
    super();
    this.srf = srf;
    this.type = type;
    if (snapshot) {
      this._restore(snapshot);
      return;
    }
    // The app's own state for this dialog; saved with it when a session store is in use.
    this.session = {};
    this.req = req;
    this.res = res;
    // Listen mode: the session (server connection) the dialog lives on; its requests use it.
    this.socket = req.socket;
    this._id = id;
    this.dialogType = req.method;
    this.connected = true;
    this.onHold = false;
    this.other = null;
    this.subscriptions = [];
    this.subscribeEvent = req.method === 'SUBSCRIBE' ? req.get('event') || null : null;
    this._queue = null;
    this._modifying = Promise.resolve();
    // The dialogStateEmitter reporter of the recipe that made it (api.md §4.5), if any.
    this._state = null;
    const uriOf = (v) => {
      const m = /<([^>]*)>/.exec(v || '');
      return m ? m[1] : (v || '').split(';')[0].trim();
    };
    const contact = res.get('contact');
    const recordRoute = (msg) => splitHeaderValues(msg.get('record-route') || '');
    if (type === 'uas') {
      this.sip = { callId: req.get('call-id'), localTag: tagOf(res.get('to')), remoteTag: tagOf(req.get('from')) };
      this.local = { uri: uriOf(contact), sdp: localSdp, contact };
      this.remote = { uri: uriOf(req.get('contact')), sdp: req.body };
      // What an engine in another process needs to go on with this dialog (§12.1.1).
      this._wire = { localUri: res.get('to'), remoteUri: req.get('from'), routeSet: recordRoute(req), localSeq: null };
    } else {
      this.sip = { callId: req.get('call-id'), localTag: tagOf(req.get('from')), remoteTag: tagOf(res.get('to')) };
      this.local = { uri: req.uri, sdp: localSdp, contact: req.get('contact') };
      this.remote = { uri: uriOf(contact), sdp: res.body };
      this._wire = { localUri: req.get('from'), remoteUri: res.get('to'), routeSet: recordRoute(res).reverse(), localSeq: cseqOf(req) };
    }
    // Kept for the dialog's lifetime: detached last, after the reads above.
    if (req.msg) req.msg._detach();
    if (res.msg) res.msg._detach();
  }

  get id() { return this._id; }

  /** The state a session store kept (see dialog-persistence.js snapshot()). */
  _restore(snap) {
    this.req = null;
    this.res = null;
    this._id = snap.id;
    this.dialogType = snap.dialogType;
    this.connected = true;
    this.onHold = !!snap.onHold;
    this.other = null;
    this.subscriptions = snap.subscriptions || [];
    this.subscribeEvent = snap.subscribeEvent || null;
    this._queue = null;
    this._modifying = Promise.resolve();
    this._state = null;
    this.sip = snap.sip;
    this.local = snap.local;
    this.remote = snap.remote;
    this.session = snap.session || {};
    this._wire = snap.wire;
    this.restored = true;
  }

  /** Saves the dialog (with `session`) to the session store now, if there is one. */
  save() {
    this.srf._dialogChanged(this);
  }

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

  getCountOfSubscriptions() { return this.subscriptions.length; }

  /** Records the subscription a SUBSCRIBE (or its 2xx) set up: `user@host:event` of its To. */
  addSubscription(req) {
    const key = subscriptionKey(parseNameAddr(req.get('to')).uri, req.get('event'));
    if (key && !this.subscriptions.includes(key)) this.subscriptions.push(key);
    return this.subscriptions.length;
  }

  /** Drops the subscription to `uri` for `event`; returns how many remain. */
  removeSubscription(uri, event) {
    const key = subscriptionKey(uri, event);
    const i = this.subscriptions.indexOf(key);
    if (i >= 0) this.subscriptions.splice(i, 1);
    else debug(`removeSubscription: no subscription ${key} on dialog ${this.id}`);
    return this.subscriptions.length;
  }

  /** Ends the dialog: BYE (INVITE dialogs) or a terminating NOTIFY (SUBSCRIBE dialogs). */
  destroy(opts = {}, cb) {
    if (typeof opts === 'function') [opts, cb] = [{}, opts];
    const run = async () => {
      if (!this.connected) throw Object.assign(new Error('dialog is no longer connected'), { code: 'ENODIALOG' });
      this._ended();
      try {
        if (this.dialogType === 'SUBSCRIBE') {
          this.subscriptions = [];
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

  /**
   * Sends a request inside the dialog; resolves with the final response. An INVITE sent with
   * `noAck` and no body is not ACKed: the callback gets `(null, res, ack)`.
   */
  request(opts = {}, cb) {
    assert.ok(opts && typeof opts.method === 'string' && METHODS.includes(opts.method), 'Dialog#request: method must be an upper-case SIP method');
    const holdAck = opts.method === 'INVITE' && opts.noAck === true && !opts.body;
    const run = this._transact(opts.method, opts, { ack: !holdAck }).then(({ req, res, ack }) => {
      this._afterRequest(req, res);
      return { value: res, extra: ack ? [ack] : [] };
    });
    return settleWith(run, cb, this);
  }

  /**
   * A re-INVITE: `modify('hold')`, `modify('unhold')`, `modify(sdp)`, `modify({sdp, headers,
   * noAck})`; one at a time. Resolves with the far end's SDP; with `noAck` and no SDP of ours,
   * with `{sdp, ack(answer)}` (callback: `(null, sdp, ack)`).
   */
  modify(sdpArg, opts = {}, cb) {
    if (typeof opts === 'function') [opts, cb] = [{}, opts];
    if (typeof sdpArg === 'object' && sdpArg !== null) [opts, sdpArg] = [sdpArg, sdpArg.sdp];
    const wasConnected = this.connected;
    const run = this._modifying.catch(() => {}).then(async () => {
      if (!wasConnected) throw new Error('invalid request to modify a completed dialog');
      if (!this.connected) throw new Error('dialog was destroyed before we could modify it');
      let body = sdpArg;
      if (sdpArg === 'hold') {
        body = (this.local.sdp || '').replace(/a=sendrecv/, 'a=inactive');
        this.onHold = true;
      } else if (sdpArg === 'unhold') {
        if (!this.onHold) throw new Error('attempt to unhold session that is not on hold');
        body = (this.local.sdp || '').replace(/a=inactive/, 'a=sendrecv');
        this.onHold = false;
      }
      if (typeof body === 'string') this.local.sdp = body;
      const holdAck = opts.noAck === true && typeof body !== 'string';
      const headers = { Contact: this.local.contact, ...(opts.headers || {}) };
      const { res, ack } = await this._transact('INVITE', { ...opts, headers, body }, { ack: !holdAck });
      if (res.status >= 300) throw Object.assign(new SipError(res.status, res.reason), { res });
      this.remote.sdp = res.body;
      this.save();
      if (!holdAck) return { value: res.body, extra: [] };
      const ackWith = (answer) => {
        if (typeof answer === 'string') this.local.sdp = answer;
        return ack(typeof answer === 'string' ? { body: answer, headers: { 'Content-Type': 'application/sdp' } } : {});
      };
      return { value: { sdp: res.body, ack: ackWith }, extra: [ackWith], cbValue: res.body };
    });
    this._modifying = run;
    return settleWith(run, cb, this);
  }

  /** Sends `method` in the dialog; with `final`, waits for the final response. */
  async _send(method, opts, { final } = {}) {
    if (!final) return this._sent(await this.srf._uac.sendInDialog(this.id, method, this._sendOpts(opts)));
    const { req, res } = await this._transact(method, opts, { ack: true });
    if (method !== 'BYE' && res.status >= 300) throw Object.assign(new SipError(res.status, res.reason), { res });
    return method === 'BYE' ? req : res;
  }

  /** Notes the CSeq of a request we sent in the dialog: a takeover must go on above it. */
  _sent(req) {
    const seq = cseqOf(req);
    if (this._wire && seq !== null && req.method !== 'ACK') this._wire.localSeq = seq;
    return req;
  }

  _sendOpts({ headers = {}, body, auth } = {}) {
    return { headers, body, auth: auth || this.auth, socket: this.socket };
  }

  /**
   * Sends `method` and waits for its final response: `{req, res, ack}`. A 2xx to INVITE is
   * ACKed here unless `ack` is false; then `ack` is the function that sends it.
   */
  async _transact(method, opts, { ack }) {
    const req = this._sent(await this.srf._uac.sendInDialog(this.id, method, this._sendOpts(opts)));
    if (method === 'BYE') this._ended();
    return new Promise((resolve) => {
      req.on('response', (res, ackFn) => {
        if (res.status < 200) return;
        const isInvite2xx = method === 'INVITE' && res.status < 300;
        if (isInvite2xx && ack) ackFn();
        resolve({ req, res, ack: isInvite2xx && !ack ? ackFn : null });
      });
    });
  }

  /** What a request we sent does to the dialog: a terminating NOTIFY ends a subscription. */
  _afterRequest(req, res) {
    if (this.dialogType !== 'SUBSCRIBE' || req.method !== 'NOTIFY' || res.status >= 300 || !isTerminating(req)) return;
    this._subscriptionEnded(req);
  }

  /** A subscription named by a terminating NOTIFY (from its notifier) is gone. */
  _subscriptionEnded(notify) {
    if (!this.connected) return;
    if (this.removeSubscription(parseNameAddr(notify.get('from')).uri, notify.get('event')) > 0) return;
    this._endedByPeer(notify);
  }

  /** The far end ended the dialog: unregister, tell the app, then drop its listeners. */
  _endedByPeer(req, ...reason) {
    this._ended();
    this.emit('destroy', req, ...reason);
    setImmediate(() => this.removeAllListeners());
  }

  /** No longer usable: unregistered, and reported terminated. Idempotent. */
  _ended() {
    this.connected = false;
    this.srf.removeDialog(this);
    if (this._state) this._state.set('terminated');
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
    // What these change (SDP, hold, subscriptions) is saved once they are answered.
    if (['INVITE', 'UPDATE', 'SUBSCRIBE', 'NOTIFY'].includes(req.method)) res.once('end', () => this.save());
    else if (req.method === 'ACK' && req.body) setImmediate(() => this.save());
    switch (req.method) {
      case 'BYE':
        res.send(200);
        this._endedByPeer(req, reasonOf(req));
        return;
      case 'ACK':
        if (req.body) this.remote.sdp = req.body;
        return emit('ack');
      case 'INVITE':
        return this._reinvite(req, res);
      case 'SUBSCRIBE':
        if (req.has('expires') && parseInt(req.get('expires'), 10) === 0) {
          res.send(202);
          return this.emit('unsubscribe', req, 'unsubscribe');
        }
        if (this.listenerCount('subscribe') > 0) return this.emit('subscribe', req, res);
        return res.send(489, 'Bad Event - no dialog handler');
      case 'NOTIFY':
        emit('notify');
        if (this.dialogType === 'SUBSCRIBE' && isTerminating(req)) this._subscriptionEnded(req);
        return undefined;
      default:
        if (!METHODS.includes(req.method)) return res.send(501);
        return emit(req.method.toLowerCase());
    }
  }

  /** A re-INVITE from the far end, classified as api.md §5.4 orders it. */
  _reinvite(req, res) {
    const previous = this.remote.sdp || '';
    const offer = req.body || '';
    this.remote.sdp = offer;
    const answer = () => res.send(200, { body: this.local.sdp, headers: { Contact: this.local.contact, 'Content-Type': 'application/sdp' } });
    if (this.listenerCount('refresh') > 0 && sdp.sameOrigin(previous, offer)) {
      this.emit('refresh', req);
      return answer();
    }
    if (this.listenerCount('hold') > 0 && sdp.isDirectionChange(previous, offer, 'sendrecv', 'sendonly')) {
      this.local.sdp = (this.local.sdp || '').replace(/a=sendrecv/g, 'a=recvonly');
      this.onHold = true;
      this.emit('hold', req);
      return answer();
    }
    if (this.listenerCount('unhold') > 0 && this.onHold && sdp.isDirectionChange(previous, offer, 'sendonly', 'sendrecv')) {
      this.local.sdp = (this.local.sdp || '').replace(/a=recvonly/g, 'a=sendrecv');
      this.onHold = false;
      this.emit('unhold', req);
      return answer();
    }
    if (this.listenerCount('modify') > 0) return this.emit('modify', req, res);
    return answer();
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

/**
 * settle for results `{value, extra, cbValue}`: the Promise resolves with `value`, the callback
 * gets `(null, cbValue ?? value, ...extra)` (drachtio-srf's callbacks pass an ack function).
 */
function settleWith(promise, cb, self) {
  const value = promise.then((r) => r.value);
  if (typeof cb !== 'function') return value;
  promise.then((r) => cb(null, r.cbValue !== undefined ? r.cbValue : r.value, ...r.extra), (err) => cb(err));
  return self;
}

function isTerminating(req) {
  return /^\s*terminated\b/i.test(req.get('subscription-state') || '');
}

/** `user@host:event-package` for a subscription (the Event header's id parameter aside). */
function subscriptionKey(uri, event) {
  const u = parseUri(uri || '');
  const pkg = String(event || '').split(';')[0].trim();
  return u ? `${u.user ? `${u.user}@` : ''}${u.host}:${pkg}` : null;
}

module.exports = Dialog;
module.exports.settle = settle;
