'use strict';
// Link: the app's connection to a SIP server, through the native client: a drachtio server
// over TCP/TLS, or an engine embedded in this process; both speak the same commands and
// events. It numbers commands, keeps the callbacks waiting on them, and turns native event
// batches into events with parsed SIP messages. Srf (index.js) listens to it; nothing here
// knows about middleware.
const { EventEmitter } = require('node:events');
const debug = require('debug')('drachtio:agent');
const { NativeClient } = require('./binding.js');
const SipMessage = require('./message.js');
const { forEachEvent } = require('./batch.js');

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

class Link extends EventEmitter {
  constructor() {
    super();
    this.native = new NativeClient();
    this.nextCmd = 1;
    this.pending = new Map(); // cmd id -> { resolve, reject, onMore }
    this.connected = false;
  }

  connect(opts) {
    this.native.connect(opts, (batch) => this._onBatch(batch));
  }

  startEmbedded(opts) {
    this.native.startEmbedded(opts, (batch) => this._onBatch(batch));
  }

  route(verb) { this.native.route(verb); }
  removeRoute(verb) { this.native.removeRoute(verb); }

  /** The backend's counts (embedded engine only): resolves with their numbers in order. */
  stats() {
    return this._command((cmd) => this.native.stats(cmd)).then(({ args }) => args.map(Number));
  }

  disconnect() {
    this.connected = false;
    // The app closed this link: the native side may still report the connection going down
    // (the server can close its end first), which is no error to the app.
    this.disconnected = true;
    this.native.disconnect();
  }

  get idle() { return this.pending.size === 0; }

  /**
   * Sends a SIP message; resolves with `{meta, msg, args}` once the server has sent it
   * (msg is the message as sent), rejects with an Error carrying `code` otherwise.
   * `onSent(result)` runs synchronously when the confirmation arrives, before any later event
   * of the same batch (the response to a request, the ACK for a 200): state that those
   * events need must be recorded there, not in a promise continuation. Its return value is
   * what the promise resolves with.
   */
  sendSip({ txnId = '', dialogId = '', routeUri, raw, onSent }) {
    return this._command((cmd) => this.native.sendSip(cmd, txnId, dialogId, routeUri || null, raw), { onSent });
  }

  /** `onMore` receives the intermediate replies of a multi-reply operation (proxy). */
  sendProxy(txnId, opts, raw, onMore) {
    return this._command((cmd) => this.native.sendProxy(cmd, txnId, opts, raw), { onMore });
  }

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
    });
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
      case 'failed': {
        const p = this.pending.get(ev.cmd);
        if (!p) break;
        this.pending.delete(ev.cmd);
        const err = new Error(ev.tokens[0]);
        err.code = ev.status;
        p.reject(err);
        break;
      }
      case 'cdr': {
        const [kind, source, time, extra] = ev.tokens;
        this.emit('cdr', kind, source, time, extra, messageOf(ev));
        break;
      }
      default:
        debug(`ignoring unknown native event ${ev.kind}`);
    }
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
}

module.exports = Link;
