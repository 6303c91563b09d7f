'use strict';
// drachtio-srf-rs public entry: `require('drachtio-srf-rs')` is the Srf class, as with
// drachtio-srf; the helpers hang off it as static getters.
const assert = require('node:assert');
const { EventEmitter } = require('node:events');
const debug = require('debug')('drachtio:srf');
const SipMessage = require('./lib/message.js');
const Request = require('./lib/request.js');
const Response = require('./lib/response.js');
const SipError = require('./lib/sip-error.js');
const Link = require('./lib/link.js');
const Registry = require('./lib/registry.js');
const { ListenLink, Session } = Link;
const ListenServer = require('./lib/listen-server.js');
const tls = require('node:tls');
const { parseUri, stringifyUri, tagOf } = require('./lib/parse.js');
const { MiddlewareStack, endOfStack, addVerbs } = require('./lib/middleware.js');
const { nativeConnectOptions, nativeEmbeddedOptions, nativeListenOptions } = require('./lib/connect-options.js');
const { Uac, requestArgs } = require('./lib/uac.js');
const digestAuth = require('./lib/digest-auth.js');
const Dialog = require('./lib/dialog.js');
const { createUAS, createUAC } = require('./lib/uas-uac.js');
const { proxyRequest } = require('./lib/proxy.js');
const { createB2BUA } = require('./lib/b2bua.js');
const { MemoryStore, RedisStore, isStore } = require('./lib/session-store.js');
const { DialogPersistence } = require('./lib/dialog-persistence.js');

const DialogState = Object.freeze({
  Trying: 'trying', Proceeding: 'proceeding', Early: 'early', Confirmed: 'confirmed',
  Terminated: 'terminated', Rejected: 'rejected', Cancelled: 'cancelled',
});
const DialogDirection = Object.freeze({ Initiator: 'initiator', Recipient: 'recipient' });

const TAG = /^[a-zA-Z0-9\-_+@:]+$/;
const MAX_TAGS = 20;
const MAX_TAG_LENGTH = 32;
const CDR_EVENTS = new Set(['cdr:attempt', 'cdr:start', 'cdr:stop']);

function validateTags(tags) {
  assert.ok(tags.length <= MAX_TAGS, `Srf: at most ${MAX_TAGS} tags`);
  for (const tag of tags) {
    assert.ok(tag.length <= MAX_TAG_LENGTH, `Srf: tag '${tag}' is longer than ${MAX_TAG_LENGTH} characters`);
    assert.ok(TAG.test(tag), `Srf: tag '${tag}' has characters other than letters, digits and -_+@:`);
  }
}

class Srf extends EventEmitter {
  /** @param {string|string[]|object|function} [arg] a tag, tags, connect() options, or an app */
  constructor(arg) {
    super();
    this.locals = Object.create(null);
    this._settings = new Map();
    this.tags = [];
    this._link = null;
    this._routes = new Set();
    // Incoming INVITEs not yet answered with a final response, by Call-ID (CANCEL, UPDATE).
    this._pendingInvites = new Registry();
    // fnAck callbacks of res.send, by dialog id: the ACK or PRACK they wait for.
    this._ackWaiters = new Registry();
    this._stack = new MiddlewareStack({ onRoute: (verb) => this._route(verb), app: this });
    this._uac = new Uac(this);
    this._dialogs = new Registry();
    // With a session store: dialogs saved there, and rebuilt when another process made them.
    this._persistence = null;
    // First layer: requests inside a known dialog go to that Dialog, not to middleware; with a
    // session store, a dialog this process does not hold is looked for there first.
    this._dialogLayer = (req, res, next) => {
      const dialog = req.stackDialogId && this._dialogs.get(req.stackDialogId);
      if (dialog) return dialog.handle(req, res);
      req.srf = res.srf = this;
      if (!this._persistence || req.method === 'ACK' || !tagOf(req.get('to'))) return next();
      this._persistence.restore(req).then((restored) => (restored ? restored.handle(req, res) : next()), next);
    };
    this._stack.use(this._dialogLayer);
    this.on('newListener', (event) => {
      if (CDR_EVENTS.has(event)) this._route(event);
    });
    if (typeof arg === 'string') this.tags = [arg];
    else if (Array.isArray(arg)) this.tags = arg.filter((t) => typeof t === 'string');
    validateTags(this.tags);
    if (typeof arg === 'function') this.use(arg);
    else if (arg && typeof arg === 'object' && !Array.isArray(arg)) {
      assert.ok(typeof arg.host === 'string' || arg.embedded, 'Srf: connection options need a host (or embedded)');
      this.connect(arg);
    }
  }

  /** The app holding the middleware; drachtio-srf apps reach a few helpers through it. */
  get app() { return this; }

  set(key, value) { this._settings.set(key, value); return this; }
  get(key) { return this._settings.get(key); }

  /**
   * True when nothing is outstanding: no command waiting for the server's reply, no request the
   * app sent still waiting for its final response, no ACK or PRACK awaited by `res.send`.
   */
  get idle() {
    return (!this._link || this._link.idle) && this._uac.byTxn.size === 0 && this._ackWaiters.size === 0;
  }

  /**
   * What this Srf holds, for leak checks and metrics: dialogs, unanswered incoming INVITEs,
   * requests awaiting a final response, ACK/PRACK waiters; and, on the embedded engine, the
   * engine's dialogs, transactions and this app's unanswered requests (`engine` is null when
   * connected to a drachtio server, which cannot be asked).
   */
  async stats() {
    const local = {
      dialogs: this._dialogs.size,
      pendingInvites: this._pendingInvites.size,
      sentRequests: this._uac.byTxn.size,
      ackWaiters: this._ackWaiters.size,
    };
    const counts = this._link ? await this._link.stats().catch(() => null) : null;
    const engine = counts && { dialogs: counts[0], serverTransactions: counts[1], clientTransactions: counts[2], pendingRequests: counts[3], proxyTransactions: counts[4] || 0 };
    const sessionStore = this._persistence ? { ...this._persistence.stats } : null;
    return { ...local, engine, sessionStore };
  }

  /**
   * Connects to a drachtio server (`{host, port, secret, tls, enablePing, pingInterval,
   * reconnect}`), or starts the embedded SIP engine in this process (`{embedded: {contacts,
   * t1, t2, t4, externalIp}}`). `cb(err, hostport, serverVersion, localHostports)` runs on
   * every (re)connect.
   */
  connect(opts = {}, cb) {
    if (this._link instanceof ListenLink) {
      throw new Error('Srf#connect: this Srf listens for connections from drachtio servers (srf.listen); an Srf uses either connect or listen, not both');
    }
    const embedded = opts && opts.embedded ? nativeEmbeddedOptions(opts.embedded) : null;
    // With a session store, requests in dialogs the engine does not know come here (seed 003).
    if (embedded) embedded.adoptDialogs = !!this._persistence;
    this._embedded = !!embedded;
    // Tags given to connect() apply when the constructor gave none, as in drachtio-srf.
    const tags = this.tags.length ? this.tags : (Array.isArray(opts.tags) ? opts.tags : []);
    if (!embedded) validateTags(tags);
    const native = embedded || nativeConnectOptions(opts, tags);
    if (typeof cb === 'function') this.on('connect', cb);
    if (opts.logger) emitOnce('logger', 'srf.connect: the logger option is not supported yet; use DEBUG=drachtio:* or DRACHTIO_RS_LOG=debug');
    if (this._link) this._link.disconnect();
    const link = new Link();
    this._link = link;
    this._server = { address: embedded ? hostOf(embedded.contacts[0]) : native.host, hostport: undefined };
    link.on('connect', (hostport, version, localHostports) => {
      this._server.hostport = hostport;
      setImmediate(() => this.emit('connect', null, hostport, version, localHostports));
    });
    link.on('auth-failed', (reason) => {
      const err = new Error('failed to authenticate to server');
      err.reason = reason;
      setImmediate(() => this.emit('connect', err));
    });
    link.on('error', (err) => setImmediate(() => this._error(err)));
    link.on('close', () => setImmediate(() => this.emit('close')));
    link.on('reconnecting', (info) => setImmediate(() => this.emit('reconnecting', info)));
    link.on('sip', (msg, meta) => this._onSip(msg, meta));
    link.on('cdr', (kind, source, time, extra, msg) => this._onCdr(kind, source, time, extra, msg));
    // Routes given before connecting are in force before 'connect' is emitted.
    if (embedded) link.startEmbedded({ ...native, routes: [...this._routes] });
    else {
      link.connect(native);
      for (const verb of this._routes) link.route(verb);
    }
    return this;
  }

  /**
   * Outbound mode (wire-protocol.md §3.2): drachtio servers connect to this app, each
   * connection a session of its own. `opts`: {port, host, secret, tls, server, enablePing,
   * pingInterval}; `cb` listens for 'listening'. Returns the listening server: the app's own
   * `opts.server`, or an object with net.Server's address(), close(cb), listening and events.
   */
  listen(opts, cb) {
    if (this._link instanceof ListenLink) throw new Error('Srf#listen: this Srf is listening already');
    if (this._link) {
      throw new Error('Srf#listen: this Srf is connected with srf.connect; an Srf uses either connect or listen, not both');
    }
    const tags = this.tags.length ? this.tags : (opts && Array.isArray(opts.tags) ? opts.tags : []);
    validateTags(tags);
    const { native, server, ignoredTls } = nativeListenOptions(opts, tags);
    if (ignoredTls.length) emitOnce('listen-tls', `srf.listen: TLS options not applied: ${ignoredTls.join(', ')} (supported: key, cert, ca, requestCert, rejectUnauthorized)`);
    const link = new ListenLink();
    link.listen(native); // throws on unusable TLS material, before anything is registered
    this._link = link;
    if (typeof cb === 'function') this.on('listening', cb);
    link.on('connect', (session, hostport, version, localHostports) => {
      setImmediate(() => this.emit('connect', null, hostport, version, localHostports));
    });
    link.on('auth-failed', (session, reason) => {
      const err = new Error('failed to authenticate to server');
      err.reason = reason;
      setImmediate(() => this.emit('connect', err));
    });
    link.on('session-close', (session) => setImmediate(() => this.emit('close', session)));
    link.on('sip', (msg, meta, session) => this._onSip(msg, meta, session));
    link.on('cdr', (kind, source, time, extra, msg) => this._onCdr(kind, source, time, extra, msg));
    link.on('stopped', (err) => { if (err) setImmediate(() => this._error(err)); });
    if (server) {
      // The app's own server: its connections are handed to the native sessions.
      const event = server instanceof tls.Server ? 'secureConnection' : 'connection';
      const onConnection = (socket) => link.attach(socket);
      server.on(event, onConnection);
      const onListening = () => setImmediate(() => this.emit('listening'));
      if (server.listening) onListening();
      server.on('listening', onListening);
      this._closeListener = () => {
        server.off(event, onConnection);
        server.off('listening', onListening);
        link.close(false);
      };
      server.once('close', this._closeListener);
      return server;
    }
    link.on('listening', () => setImmediate(() => this.emit('listening')));
    const listenServer = new ListenServer(link);
    this._closeListener = (cb) => listenServer.close(cb);
    return listenServer;
  }

  /**
   * Listen mode: stops accepting connections from drachtio servers (open sessions carry on);
   * `cb` once the last has ended. drachtio-srf apps reach this as `srf.app.close()`.
   */
  close(cb) {
    if (!this._closeListener) {
      if (typeof cb === 'function') process.nextTick(cb, new Error('Srf#close: not listening'));
      return this;
    }
    if (typeof cb === 'function') this._link.once('stopped', () => cb());
    this._closeListener();
    return this;
  }

  /**
   * Closes the connection to the server and stops reconnecting; in listen mode stops listening
   * and ends every session, or, given a session (`req.socket`), ends that one.
   */
  disconnect(socket) {
    if (socket instanceof Session) socket.end();
    else if (this._link) this._link.disconnect();
  }

  /** Listen mode: ends the session (server connection) `req` or `res` came on. */
  endSession(holder) {
    const session = holder && holder.socket;
    if (session instanceof Session) session.end();
  }

  /**
   * The link to send on: the session given (listen mode), else the connection; in listen mode
   * without a session, the oldest authenticated one. Throws when there is none.
   */
  _linkFor(socket) {
    if (socket instanceof Session) return socket;
    const link = this._link;
    if (!link) throw Object.assign(new Error('not connected to a drachtio server'), { code: 'ERR_NOT_CONNECTED' });
    return link instanceof ListenLink ? link.defaultSession() : link;
  }

  /**
   * Sends a request outside a dialog: `request(uri, opts[, cb])` or `request(opts[, cb])`.
   * Resolves (or calls back) with the Request as sent; its 'response' events follow.
   */
  request(...args) {
    const { uri, opts, cb } = requestArgs(args);
    const sent = this._uac.send(uri, opts);
    if (typeof cb !== 'function') return sent;
    sent.then((req) => cb(null, req), (err) => cb(err));
    return this;
  }

  use(...args) {
    this._stack.use(...args);
    return this;
  }

  createUAS(req, res, opts, cb) { return createUAS(this, req, res, opts, cb); }
  createUAC(...args) { return createUAC(this, ...args); }
  createB2BUA(req, res, uri, opts, ...rest) {
    // The legacy positional form: (req, res, uri, opts, cbRequest, cbProvisional, cb).
    if (rest.length >= 3) {
      const [cbRequest, cbProvisional, cb] = rest;
      return createB2BUA(this, req, res, uri, opts, { cbRequest, cbProvisional }, cb);
    }
    return createB2BUA(this, req, res, uri, opts, ...rest);
  }
  proxyRequest(req, destination, opts, cb) { return proxyRequest(this, req, destination, opts, cb); }

  /**
   * The dialog-dispatch middleware: requests inside a known Dialog go to it, others get
   * `req.srf`/`res.srf` and continue. The constructor installed it as the first layer already;
   * `opts` is accepted for drachtio-srf compatibility and ignored.
   */
  dialog(opts) { return this._dialogLayer; }

  /** The Dialog with this server dialog id (`<Call-ID>;from-tag=<tag>`), or undefined. */
  findDialogById(id) { return this._dialogs.get(id); }
  findDialogByCallIDAndFromTag(callId, tag) { return this._dialogs.get(`${callId};from-tag=${tag}`); }
  addDialog(dialog) {
    this._dialogs.set(dialog.id, dialog);
    if (this._persistence) this._persistence.save(dialog);
    this.emit('sipdialog:create', dialog);
  }

  removeDialog(dialog) {
    if (!this._dialogs.delete(dialog.id)) return;
    if (this._persistence) this._persistence.remove(dialog);
    this.emit('sipdialog:terminate', dialog);
  }

  /** A Dialog changed in a way worth saving (SDP, hold, subscriptions, `dialog.save()`). */
  _dialogChanged(dialog) {
    if (this._persistence && dialog.connected) this._persistence.save(dialog);
  }

  /**
   * Where dialogs and their `session` data are kept (seed 003): `new Srf.RedisStore({url})`
   * lets another process take a call over when this one dies; `new Srf.MemoryStore()` keeps
   * them here; null (the default) keeps nothing. Set it before calls arrive.
   */
  set sessionStore(store) {
    assert.ok(store === null || isStore(store), 'Srf#sessionStore: a store has get(id), set(id, value) and del(id), each returning a Promise');
    this._persistence = store ? new DialogPersistence(this, store, Dialog) : null;
  }

  get sessionStore() { return this._persistence ? this._persistence.store : null; }

  /**
   * Stops routing new `verb` requests to this app (`remove_route`); throws unless the verb is
   * routed now. The server drops every route of the app on a remove_route (drachtio-server
   * does, and so does the embedded engine), so the verbs still wanted are routed again.
   */
  unregisterForMessages(verb) {
    const lower = String(verb).toLowerCase();
    if (!this._routes.has(lower)) throw new Error(`unregisterForMessages: '${lower}' is not routed to this app`);
    this._routes.delete(lower);
    if (!this._link) return;
    const kept = [...this._routes];
    this._link.removeRoute(lower);
    // The remote client remembers its routes (to send them again after a reconnect) and skips
    // a route it has: it forgets the kept verbs first, then routes them again. Every remove
    // goes before every route, since each remove_route clears all of them on the server.
    for (const v of kept) this._link.removeRoute(v);
    for (const v of kept) this._link.route(v);
  }

  /** Routes `verb` to this app again (`route`); throws if it is routed already. */
  reregisterForMessages(verb) {
    const lower = String(verb).toLowerCase();
    if (this._routes.has(lower)) throw new Error(`reregisterForMessages: '${lower}' is already routed to this app`);
    this._route(lower);
  }

  _route(verb) {
    const lower = verb.toLowerCase();
    if (this._routes.has(lower)) return;
    this._routes.add(lower);
    if (this._link) this._link.route(lower);
  }

  // An 'error' nobody listens for would throw; warn instead (the link keeps reconnecting).
  _error(err) {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else {
      debug(`error: ${err.message}`);
      emitOnce('error', `drachtio-srf-rs: ${err.message} (listen for 'error' on the Srf instance to handle this)`);
    }
  }

  /** A CDR as drachtio-srf emits it: attempt (source, time, msg); start/stop with their role or reason. */
  _onCdr(kind, source, time, extra, msg) {
    if (kind === 'cdr:attempt') this.emit(kind, source, time, msg);
    else this.emit(kind, source, time, extra, msg);
  }

  _onSip(msg, meta, session) {
    if (msg.type !== 'request') {
      if (!this._uac.onResponse(msg, meta)) debug(`response for unknown transaction ${meta.stackTxnId}`);
      return;
    }
    const req = new Request(msg, meta);
    if (session) req.socket = session;
    req.server = session ? session.server : this._server;
    req.srf = this;
    req.app = this;
    const callId = req.get('call-id');
    switch (req.method) {
      case 'CANCEL': {
        // The server has answered 200 to the CANCEL and 487 to the INVITE already.
        const invite = this._pendingInvites.get(callId);
        if (invite) {
          this._pendingInvites.delete(callId);
          invite.canceled = true;
          invite.emit('cancel', req);
        }
        return;
      }
      case 'ACK':
      case 'PRACK': {
        const waiter = this._ackWaiters.get(req.stackDialogId);
        if (waiter && (req.method === 'ACK' ? waiter.status >= 200 : waiter.status < 200)) {
          this._ackWaiters.delete(req.stackDialogId);
          waiter.fnAck(req);
        }
        break;
      }
      default:
    }
    const res = new Response(new SipMessage({}), session ? { srf: this, socket: session } : { srf: this });
    res.req = req;
    req.res = res;
    // 'unsolicited': a BYE the server sent itself, or one the embedded engine answered for
    // the Dialog (createUAS's answerBye): nothing to answer.
    if (req.stackTxnId === 'unsolicited') res._answered = true;
    else res._send = (raw, opts) => this._sendResponse(req, res, raw, opts);
    // An UPDATE during an INVITE's setup, received or sent (api.md §2.4).
    const settingUp = req.method === 'UPDATE' && (this._pendingInvites.get(callId) || this._uac.pendingInvites.get(callId));
    if (settingUp) {
      // Listeners are looked for once pending promise continuations have run: the UPDATE can
      // arrive in the same native batch as the reply to the INVITE it belongs to, before code
      // awaiting that reply (createUAC's) has attached its listener.
      setImmediate(() => {
        if (settingUp.listenerCount('update') > 0) settingUp.emit('update', req, res);
        else res.send(500, { headers: { 'Retry-After': '5' } });
      });
      return;
    }
    if (req.method === 'INVITE' && req.isNewInvite) {
      this._pendingInvites.set(callId, req);
      res.once('end', () => this._pendingInvites.delete(callId));
    }
    this._stack.handle(req, res, (err, reason) => endOfStack(err, req, res, { reason, endSession: () => this.endSession(res) }));
  }

  _sendResponse(req, res, raw, { cb, fnAck, status }) {
    let link;
    try {
      link = this._linkFor(req.socket);
    } catch (err) {
      if (cb) cb(err);
      return;
    }
    // The ACK (or PRACK) can arrive in the same batch as the confirmation: register its
    // waiter synchronously.
    const onSent = (result) => {
      const { msg, meta } = result;
      if (status >= 200 && typeof res._onFinalSent === 'function') res._onFinalSent(msg, meta);
      if (fnAck && meta.stackDialogId && (status === 200 || (msg && msg.has('rseq')))) {
        this._ackWaiters.set(meta.stackDialogId, { fnAck, status });
      }
      return result;
    };
    link.sendSip({ txnId: req.stackTxnId, raw, onSent, answerBye: res._answerBye }).then(({ msg }) => {
      if (cb) cb(null, msg);
    }, (err) => {
      debug(`sending ${status} for ${req.method} failed: ${err.message}`);
      if (cb) cb(err);
    });
  }

  static get SipError() { return SipError; }
  static get Dialog() { return Dialog; }
  static get MemoryStore() { return MemoryStore; }
  static get RedisStore() { return RedisStore; }
  static get parseUri() { return parseUri; }
  static get stringifyUri() { return stringifyUri; }
  static get SipMessage() { return SipMessage; }
  static get SipRequest() { return Request; }
  static get SipResponse() { return Response; }
  static get DialogState() { return DialogState; }
  static get DialogDirection() { return DialogDirection; }
  /** Server-side digest authentication middleware (the drachtio-mw-digest-auth options). */
  static get digestAuth() { return digestAuth; }
}

addVerbs(Srf.prototype);

function hostOf(contact) {
  const m = /^sips?:(?:[^@]*@)?(\[[^\]]+\]|[^:;>]+)/i.exec(contact);
  return m ? m[1] : contact;
}

const warned = new Set();
function emitOnce(key, message) {
  if (warned.has(key)) return;
  warned.add(key);
  process.emitWarning(message, 'DrachtioWarning');
}

module.exports = Srf;
