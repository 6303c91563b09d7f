'use strict';
// Requests the app sends outside a dialog (srf.request): sending, matching the responses that
// come back on the server's transaction id, ACK and PRACK, CANCEL, and answering digest
// challenges when the app gave credentials (api.md §3.1, §8).
const assert = require('node:assert');
const net = require('node:net');
const debug = require('debug')('drachtio:srf');
const SipMessage = require('./message.js');
const Request = require('./request.js');
const Response = require('./response.js');
const Registry = require('./registry.js');

function noop() {}

/** Normalises srf.request's argument forms to `{uri, opts, cb}`. */
function requestArgs(args) {
  // A connection first: in listen mode the session (req.socket) to send on.
  let socket;
  if (args[0] instanceof net.Socket || isSession(args[0])) [socket, ...args] = args;
  let [uri, opts, cb] = args;
  if (typeof uri === 'object' && uri !== null) {
    [opts, cb] = [uri, opts];
    uri = opts.uri;
  }
  if (typeof opts === 'function') [opts, cb] = [{}, opts];
  assert.ok(typeof uri === 'string', 'srf.request: uri is required');
  opts = opts || {};
  assert.ok(typeof opts.method === 'string', 'srf.request: method is required');
  const out = { ...opts, method: opts.method.toUpperCase() };
  if (isSession(socket)) out._socket = socket;
  return { uri, opts: out, cb };
}

/** A listen-mode session (lib/link.js Session): something to send on. */
function isSession(v) {
  return Boolean(v) && typeof v === 'object' && typeof v.sendSip === 'function' && typeof v.id === 'number';
}

class Uac {
  constructor(srf) {
    this.srf = srf;
    this.byTxn = new Registry(); // server transaction id -> sent Request
    // INVITEs we sent outside a dialog and not yet finally answered, by Call-ID: an UPDATE
    // from the callee in the early dialog goes to the request's 'update' listeners.
    this.pendingInvites = new Registry();
  }

  /** Where to send: the session given (listen mode), else the Srf's connection; throws if none. */
  linkFor(socket) {
    return this.srf._linkFor(socket);
  }

  /** Sends a request inside a dialog; resolves with the Request as sent (responses follow). */
  sendInDialog(dialogId, method, { headers = {}, body, auth, socket } = {}) {
    return this.send('sip:placeholder', { method, headers, body, auth, _socket: socket }, dialogId);
  }

  /** Sends a new request (or one in `dialogId`); resolves with the Request as sent. */
  send(uri, opts, dialogId) {
    const msg = new SipMessage({ method: opts.method, uri, headers: opts.headers || {}, body: opts.body });
    const raw = msg.toString();
    let link;
    try {
      link = this.linkFor(opts._socket);
    } catch (err) {
      return Promise.reject(err);
    }
    // A listen-mode session, once chosen, carries everything about this request.
    const session = isSession(link) ? link : undefined;
    if (session) opts = { ...opts, _socket: session };
    return link.sendSip({
      routeUri: opts.proxy,
      dialogId,
      raw,
      // Registered before any response of the same batch is dispatched.
      onSent: ({ msg: sent, meta }) => {
        const req = new Request(sent || msg, { ...meta, source: 'application', srf: this.srf, app: this.srf });
        if (session) req.socket = session;
        req._uac = { uac: this, uri: sent ? sent.uri : uri, opts, raw, challenged: false, dialogId };
        this.byTxn.set(meta.stackTxnId, req);
        if (opts.method === 'INVITE' && !dialogId) this.pendingInvites.set(req.get('call-id'), req);
        return req;
      },
    });
  }

  /** A response from the server; false when it belongs to no request we sent. */
  onResponse(msg, meta) {
    const req = this.byTxn.get(meta.stackTxnId);
    if (!req) return false;
    const res = new Response(msg, { ...meta, srf: this.srf });
    res._req = req;
    const status = msg.status;
    if (status >= 200) {
      this.byTxn.delete(meta.stackTxnId);
      if (this.pendingInvites.get(req.get('call-id')) === req) this.pendingInvites.delete(req.get('call-id'));
    }
    if ((status === 401 || status === 407) && req._uac.opts.auth && !req._uac.challenged) {
      this.authenticate(req, res).catch((err) => {
        debug(`digest authentication failed: ${err.message}`);
        req._emitResponse(res, noop);
      });
      return true;
    }
    req._emitResponse(res, this.ackFor(req, res, meta.stackDialogId));
    return true;
  }

  /** The `ack` handed to response listeners: ACK a final to INVITE, PRACK a reliable 1xx. */
  ackFor(req, res, dialogId) {
    if (req.method !== 'INVITE') return noop;
    if (res.status >= 200) return (opts = {}) => this.inDialog(dialogId, 'ACK', req.uri, opts, req.socket);
    const rseq = res.get('rseq');
    if (!rseq) return noop;
    const cseq = res.get('cseq');
    // In the early dialog: the engine sends it to the remote target (the 1xx's Contact, RFC 3262 §4).
    return (opts = {}) => this.inDialog(dialogId, 'PRACK', 'sip:placeholder',
      { ...opts, headers: { ...(opts.headers || {}), RAck: `${rseq.trim()} ${cseq}` } }, req.socket);
  }

  /**
   * Sends ACK/PRACK (or another request) inside a dialog the server knows by id. `_answerBye`
   * (createUAC's ACK): the Dialog answers the far end's BYE, so the engine may (Command::Sip).
   */
  inDialog(dialogId, method, uri, { headers = {}, body, _answerBye = false } = {}, socket) {
    const raw = new SipMessage({ method, uri, headers, body }).toString();
    // Sent at once, so requests reach the server in the order they were made (an ACK before
    // the BYE that follows it); a link that is down becomes a rejection.
    let sent;
    try {
      sent = this.linkFor(socket).sendSip({ dialogId, raw, answerBye: _answerBye }).then(({ msg }) => msg);
    } catch (err) {
      sent = Promise.reject(err);
    }
    // Callers often ignore the result (`ack()`): a failure is logged, never unhandled.
    sent.catch((err) => debug(`${method} on dialog ${dialogId} failed: ${err.message}`));
    return sent;
  }

  /** CANCEL for a pending INVITE we sent. */
  async cancel(req, { headers = {} } = {}) {
    if (req._uac.authenticating) await req._uac.authenticating;
    const raw = new SipMessage({ method: 'CANCEL', uri: req.uri, headers }).toString();
    const { msg, meta } = await this.linkFor(req.socket).sendSip({ txnId: req.stackTxnId, raw });
    const cancel = new Request(msg || new SipMessage(raw), { ...meta, source: 'application', srf: this.srf });
    if (req.socket) cancel.socket = req.socket;
    return cancel;
  }

  /** Answers a 401/407 with credentials and re-sends on the same Call-ID (api.md §3.1). */
  async authenticate(req, res) {
    const { DigestClient, resolveAuth } = require('./digest-client.js');
    const state = req._uac;
    state.challenged = true;
    let done;
    state.authenticating = new Promise((resolve) => { done = resolve; });
    try {
      const { username, password } = await resolveAuth(state.opts.auth, req, res);
      state.digest = state.digest || new DigestClient();
      const cred = state.digest.nextCredentials({ res, method: req.method, uri: req.uri, username, password });
      const headers = { ...(state.opts.headers || {}), [cred.header]: cred.value };
      const cseq = parseInt(req.get('cseq'), 10);
      headers['Call-ID'] = req.get('call-id');
      headers.From = req.get('from');
      headers.CSeq = `${cseq + 1} ${req.method}`;
      const proxy = state.dialogId ? undefined : pinnedProxy(state.opts.proxy, state.uri, res);
      const next = await this.send(state.uri, { ...state.opts, headers, auth: undefined, proxy }, state.dialogId);
      next._uac.challenged = true; // a second challenge goes to the app (no loop)
      next._uac.opts.auth = state.opts.auth;
      // The re-sent request carries on: its responses reach the listeners of the original,
      // and cancel() on the original cancels it (api.md §3.1).
      for (const fn of req.listeners('response')) next.on('response', fn);
      req.removeAllListeners('response');
      req.stackTxnId = next.stackTxnId;
      req.emit('authenticate', next);
    } finally {
      done();
    }
  }
}

/**
 * After a challenge, the re-sent request goes to the hop that challenged, unless the next
 * hop is already an IPv4 literal (so a DNS-balanced target does not switch servers).
 */
function pinnedProxy(proxy, uri, res) {
  const hop = proxy || uri;
  if (/^sips?:(?:[^@]*@)?\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?(?:[;>?]|$)/i.test(hop)) return proxy;
  const transport = /;transport=(\w+)/i.exec(hop);
  return `sip:${res.source_address}:${res.source_port}${transport ? `;transport=${transport[1]}` : ''}`;
}

module.exports = { Uac, requestArgs };
