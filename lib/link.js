'use strict';
// Link: the app's connection to a SIP server, through the native client: a drachtio server
// over TCP/TLS, or an engine embedded in this process; both speak the same commands and
// events. It numbers commands, keeps the callbacks waiting on them, and turns native event
// batches into events with parsed SIP messages. Srf (index.js) listens to it; nothing here
// knows about middleware.
//
// ListenLink: listen mode (srf.listen), where drachtio servers connect to us. Each connection
// is a Session (what `req.socket` is in this mode): requests arrive on it, and their
// responses, dialogs and in-dialog requests go back on it. One ListenLink carries every
// session through one native listener; commands name their session.
const { EventEmitter } = require('node:events');
const debug = require('debug')('drachtio:agent');
const { NativeClient, NativeListener } = require('./binding.js');
const SipMessage = require('./message.js');
const { forEachEvent } = require('./batch.js');
const Registry = require('./registry.js');

// Token positions of a `sip` event (src/node/batch.rs).
const SOURCE = 0, PROTOCOL = 2, ADDRESS = 3, PORT = 4, TIME = 5, TXN = 6, DIALOG = 7,
  RECV_ADDR = 8, RECV_PORT = 9, SESSION = 10;
// Token positions of a reply's arguments (wire-protocol.md §2.2, after the status).
const R_SOURCE = 0, R_PROTOCOL = 2, R_ADDRESS = 3, R_PORT = 4, R_TIME = 5, R_TXN = 6, R_DIALOG = 7;

function messageOf(ev) {
  return ev.index ? SipMessage.fromIndex(ev.raw, ev.index) : null;
}

/** Meta fields of a received SIP message, as drachtio-srf names them on Request/Response. */
function sipMeta(t) {
  const meta = {
    source: t[SOURCE],
    source_address: t[ADDRESS],
    source_port: t[PORT] ? parseInt(t[PORT], 10) : 5060,
    protocol: t[PROTOCOL],
    stackTime: t[TIME],
    stackTxnId: t[TXN],
    stackDialogId: t[DIALOG],
  };
  if (t[RECV_ADDR]) meta.receivedOn = `${t[RECV_ADDR]}:${t[RECV_PORT]}`;
  if (t[SESSION]) meta.sessionToken = t[SESSION];
  return meta;
}

/** What the server said about a sent message: its meta fields and the text as sent. */
function replyMeta(t) {
  return {
    source: t[R_SOURCE],
    source_address: t[R_ADDRESS],
    source_port: t[R_PORT] ? parseInt(t[R_PORT], 10) : 5060,
    protocol: t[R_PROTOCOL],
    stackTime: t[R_TIME],
    stackTxnId: t[R_TXN],
    // Echoes of requests have no dialog id: the marker text stands in its place.
    stackDialogId: t[R_DIALOG] === 'Msg sent:' ? '' : t[R_DIALOG],
  };
}

/** Commands awaiting the backend's answer, and the decoding of event batches. */
class CommandLink extends EventEmitter {
  constructor(native) {
    super();
    this.native = native;
    this.nextCmd = 1;
    this.pending = new Registry(); // cmd id -> { resolve, reject, onSent, onMore }
  }

  get idle() { return this.pending.size === 0; }

  _command(send, { onSent, onMore } = {}) {
    return new Promise((resolve, reject) => {
      const cmd = this.nextCmd;
      this.nextCmd = this.nextCmd >= 0xffffffff ? 1 : this.nextCmd + 1;
      try {
        send(cmd);
      } catch (err) {
        reject(err);
        return;
      }
      this.pending.set(cmd, { resolve, reject, onSent, onMore });
      this._scheduleFlush();
    });
  }

  /**
   * A native client queues SIP and proxy commands until `flush`: handed over once per tick,
   * they wake the backend's thread once rather than once each. Anything else sent to it
   * (routes, stats, disconnect) flushes first, so the order holds.
   */
  _scheduleFlush() {
    if (this._flushDue || typeof this.native.flush !== 'function') return;
    this._flushDue = true;
    queueMicrotask(() => this._flush());
  }

  _flush() {
    this._flushDue = false;
    if (typeof this.native.flush !== 'function') return;
    for (const { cmd, reason } of this.native.flush()) {
      const p = this.pending.get(cmd);
      if (!p) continue;
      this.pending.delete(cmd);
      p.reject(new Error(reason));
    }
  }

  _onBatch(batch) {
    forEachEvent(batch, (ev) => {
      try {
        this._onEvent(ev);
      } catch (err) {
        // An app handler threw: report it, and keep delivering the rest of the batch.
        if (this.listenerCount('handler-error')) this.emit('handler-error', err);
        else process.nextTick(() => { throw err; });
      }
    });
  }

  _onFailed(ev) {
    const p = this.pending.get(ev.cmd);
    if (!p) return;
    this.pending.delete(ev.cmd);
    const err = new Error(ev.tokens[0]);
    err.code = ev.status;
    p.reject(err);
  }

  _onReply(ev) {
    const p = this.pending.get(ev.cmd);
    if (!p) return;
    const result = { status: ev.status, args: ev.tokens, meta: replyMeta(ev.tokens), msg: messageOf(ev) };
    if (ev.more) {
      if (p.onMore) p.onMore(result);
      return;
    }
    this.pending.delete(ev.cmd);
    if (ev.status === 'OK') {
      p.resolve(p.onSent ? p.onSent(result) : result);
      return;
    }
    // Anything but OK fails; the next token is the reason (wire-protocol.md §2.2).
    const reason = ev.tokens[0] || 'request failed';
    const err = new Error(reason);
    err.code = /unable to find dialog/i.test(reason) ? 'ENODIALOG' : 'EDRACHTIO';
    p.reject(err);
  }

  _onCdr(ev, ...extra) {
    const [kind, source, time, more] = ev.tokens;
    this.emit('cdr', kind, source, time, more, messageOf(ev), ...extra);
  }
}

class Link extends CommandLink {
  constructor() {
    super(new NativeClient());
    this.connected = false;
  }

  connect(opts) {
    this.native.connect(opts, (batch) => this._onBatch(batch));
  }

  startEmbedded(opts) {
    this.native.startEmbedded(opts, (batch) => this._onBatch(batch));
  }

  route(verb) { this._flush(); this.native.route(verb); }
  removeRoute(verb) { this._flush(); this.native.removeRoute(verb); }
  /** A dialog rebuilt from a session store, for the embedded engine to take on (a server ignores it). */
  adoptDialog(state) { this._flush(); this.native.adoptDialog(state); }

  /** The backend's counts (embedded engine only): resolves with their numbers in order. */
  stats() {
    this._flush();
    return this._command((cmd) => this.native.stats(cmd)).then(({ args }) => args.map(Number));
  }

  disconnect() {
    this.connected = false;
    // The app closed this link: the native side may still report the connection going down
    // (the server can close its end first), which is no error to the app.
    this.disconnected = true;
    this._flush();
    this.native.disconnect();
  }

  /**
   * Sends a SIP message; resolves with `{meta, msg, args}` once the server has sent it
   * (msg is the message as sent), rejects with an Error carrying `code` otherwise.
   * `onSent(result)` runs synchronously when the confirmation arrives, before any later event
   * of the same batch (the response to a request, the ACK for a 200): state that those
   * events need must be recorded there, not in a promise continuation. Its return value is
   * what the promise resolves with.
   */
  sendSip({ txnId = '', dialogId = '', routeUri, raw, onSent, answerBye = false }) {
    return this._command((cmd) => this.native.sendSip(cmd, txnId, dialogId, routeUri || null, raw, answerBye), { onSent });
  }

  /** `onMore` receives the intermediate replies of a multi-reply operation (proxy). */
  sendProxy(txnId, opts, raw, onMore) {
    return this._command((cmd) => this.native.sendProxy(cmd, txnId, opts, raw), { onMore });
  }

  _onEvent(ev) {
    switch (ev.kind) {
      case 'connected':
        this.connected = true;
        this.emit('connect', ev.tokens[0], ev.tokens[1], ev.tokens[2]);
        break;
      case 'auth-failed':
        this.emit('auth-failed', ev.tokens[0]);
        break;
      case 'error':
        if (!this.disconnected) this.emit('error', new Error(ev.tokens[0]));
        break;
      case 'closed':
        this.connected = false;
        this.emit('close');
        break;
      case 'reconnecting':
        this.emit('reconnecting', { delay: Number(ev.tokens[0]), attempt: Number(ev.tokens[1]) });
        break;
      case 'sip': {
        const msg = messageOf(ev);
        if (!msg) {
          this.emit('error', new Error(`malformed SIP message from the drachtio server: ${ev.error}`));
          break;
        }
        this.emit('sip', msg, sipMeta(ev.tokens));
        break;
      }
      case 'reply':
        this._onReply(ev);
        break;
      case 'failed':
        this._onFailed(ev);
        break;
      case 'cdr':
        this._onCdr(ev);
        break;
      default:
        debug(`ignoring unknown native event ${ev.kind}`);
    }
  }
}

/** `ip:port` (IPv6 in brackets) as Node's socket fields. */
function hostPort(text) {
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(text || '');
  return m ? { address: m[1], port: Number(m[2]) } : { address: text || '', port: undefined };
}

/**
 * One connection a drachtio server opened to us (listen mode): what `req.socket`, `res.socket`
 * and `dialog.socket` are, so everything about a request stays on its connection. Has the
 * address fields of a net.Socket; `end()`/`destroy()` end the session (srf.endSession).
 * Emits 'close' when the connection has closed.
 */
class Session extends EventEmitter {
  constructor(link, id, remote, local) {
    super();
    this.id = id;
    this._link = link;
    const r = hostPort(remote);
    const l = hostPort(local);
    this.remoteAddress = r.address;
    this.remotePort = r.port;
    this.localAddress = l.address;
    this.localPort = l.port;
    this.authenticated = false;
    this.destroyed = false;
    // req.server of requests on this session: the server's address and SIP hostports.
    this.server = { address: r.address, hostport: undefined };
    this.serverVersion = undefined;
    this.localHostports = undefined;
  }

  sendSip({ txnId = '', dialogId = '', routeUri, raw, onSent }) {
    const link = this._link;
    return link._command((cmd) => link.native.sendSip(this.id, cmd, txnId, dialogId, routeUri || null, raw), { onSent });
  }

  sendProxy(txnId, opts, raw, onMore) {
    const link = this._link;
    return link._command((cmd) => link.native.sendProxy(this.id, cmd, txnId, opts, raw), { onMore });
  }

  /** Ends the session: what was sent on it is answered first, then the connection closes. */
  end() {
    if (this.destroyed || this._ending) return this;
    this._ending = true;
    try {
      this._link.native.endSession(this.id);
    } catch (err) {
      debug(`ending session ${this.id}: ${err.message}`);
    }
    return this;
  }

  destroy() { return this.end(); }

  toString() { return `drachtio session ${this.id} (${this.remoteAddress}:${this.remotePort})`; }
}

/**
 * Listen mode: drachtio servers connect to us (wire-protocol.md §3.2). Events: 'listening',
 * 'stopped' (err|null), 'connect' (session, hostport, version, localHostports), 'auth-failed'
 * (session, reason), 'sip' (msg, meta, session), 'session-close' (session), 'cdr'.
 */
class ListenLink extends CommandLink {
  constructor() {
    super(new NativeListener());
    this.sessions = new Map(); // id -> Session, oldest first
    this.attached = new Map(); // id -> net.Socket the app's own server accepted
    this.address = null;
  }

  /** Binds (`{host, port}`) or, without a port, waits for attach() calls. */
  listen(opts) {
    this.native.listen(opts, (batch) => this._onBatch(batch));
  }

  /** Runs a session over a socket accepted by the app's own net.Server (`listen({server})`). */
  attach(socket) {
    let id;
    try {
      id = this.native.attach(`${socket.remoteAddress}:${socket.remotePort}`, `${socket.localAddress}:${socket.localPort}`);
    } catch (err) {
      debug(`cannot take a connection: ${err.message}`);
      socket.destroy();
      return;
    }
    this.attached.set(id, socket);
    if (typeof socket.setNoDelay === 'function') socket.setNoDelay(true);
    if (typeof socket.setKeepAlive === 'function') socket.setKeepAlive(true);
    const feed = (data) => {
      try {
        this.native.feed(id, data);
      } catch (err) {
        debug(`session ${id}: ${err.message}`);
        socket.destroy();
      }
    };
    socket.on('data', (chunk) => feed(chunk));
    socket.once('end', () => feed(null));
    socket.once('close', () => {
      if (this.attached.delete(id)) feed(null);
    });
    socket.on('error', (err) => debug(`session ${id} socket error: ${err.message}`));
  }

  route() {} // no routes in listen mode: the server's request handler chooses the app
  removeRoute() {}
  adoptDialog() {} // servers keep their dialogs

  stats() {
    return Promise.reject(Object.assign(new Error('counts are only available from the embedded engine'), { code: 'EDRACHTIO' }));
  }

  /** The session to use when the app names none: the oldest authenticated one (as drachtio-srf). */
  defaultSession() {
    for (const s of this.sessions.values()) if (s.authenticated && !s._ending) return s;
    throw Object.assign(new Error('no drachtio server is connected to this app (listen mode)'), { code: 'ERR_NOT_CONNECTED' });
  }

  sendSip(opts) { return this._withDefault((s) => s.sendSip(opts)); }
  sendProxy(...args) { return this._withDefault((s) => s.sendProxy(...args)); }

  _withDefault(fn) {
    let s;
    try {
      s = this.defaultSession();
    } catch (err) {
      return Promise.reject(err);
    }
    return fn(s);
  }

  /** Stops accepting connections; with `endSessions` also ends every session. */
  close(endSessions) {
    this.disconnected = endSessions || this.disconnected;
    this.native.close(Boolean(endSessions));
  }

  disconnect() { this.close(true); }

  _onEvent(ev) {
    const session = this.sessions.get(ev.session);
    switch (ev.kind) {
      case 'listening':
        this.address = { address: ev.tokens[0], port: Number(ev.tokens[1]) };
        this.emit('listening');
        break;
      case 'stopped':
        this.emit('stopped', ev.tokens[0] ? new Error(ev.tokens[0]) : null);
        break;
      case 'accepted': {
        const s = new Session(this, ev.session, ev.tokens[0], ev.tokens[1]);
        this.sessions.set(ev.session, s);
        debug(`drachtio server connected: session ${s.id} from ${ev.tokens[0]}`);
        break;
      }
      case 'bytes': {
        const socket = this.attached.get(ev.session);
        if (socket && !socket.destroyed) socket.write(Buffer.from(ev.raw));
        break;
      }
      case 'connected':
        if (!session) break;
        session.authenticated = true;
        session.server.hostport = ev.tokens[0];
        session.serverVersion = ev.tokens[1];
        session.localHostports = ev.tokens[2];
        this.emit('connect', session, ev.tokens[0], ev.tokens[1], ev.tokens[2]);
        break;
      case 'auth-failed':
        if (session) this.emit('auth-failed', session, ev.tokens[0]);
        break;
      case 'error':
        // As drachtio-srf: a session's socket errors are not the app's 'error'; it just closes.
        debug(`session ${ev.session}: ${ev.tokens[0]}`);
        break;
      case 'closed': {
        const socket = this.attached.get(ev.session);
        if (socket) {
          this.attached.delete(ev.session);
          socket.end();
        }
        if (!session) break;
        this.sessions.delete(ev.session);
        session.destroyed = true;
        session.authenticated = false;
        debug(`session ${session.id} closed`);
        session.emit('close');
        this.emit('session-close', session);
        break;
      }
      case 'sip': {
        if (!session) break;
        const msg = messageOf(ev);
        if (!msg) {
          debug(`malformed SIP message from the drachtio server on session ${ev.session}: ${ev.error}`);
          break;
        }
        this.emit('sip', msg, sipMeta(ev.tokens), session);
        break;
      }
      case 'reply':
        this._onReply(ev);
        break;
      case 'failed':
        this._onFailed(ev);
        break;
      case 'cdr':
        this._onCdr(ev, session);
        break;
      default:
        debug(`ignoring unknown native event ${ev.kind}`);
    }
  }
}

module.exports = Link;
module.exports.Link = Link;
module.exports.ListenLink = ListenLink;
module.exports.Session = Session;
