'use strict';
// Dialogs in a session store (seed 003, "High availability"): each Dialog, with the app's
// `dialog.session` data, is saved when it is created and after changes that matter (SDP, hold,
// subscriptions), and removed when it ends. When a request arrives for a dialog this process
// does not hold (its app died; the server or a load balancer sent the dialog's next request
// here), the dialog is rebuilt from the store, a B2BUA pair as a pair, and handled as if this
// process had created it. Writes never hold up a call: they run in the background, and a store
// that fails only means no takeover, with one warning per outage and a count in srf.stats().
const debug = require('debug')('drachtio:srf');
const { tagOf } = require('./parse.js');

const SNAPSHOT_VERSION = 1;

/** What is saved of a dialog: enough to rebuild the same object, `session` included. */
function snapshot(d) {
  return {
    v: SNAPSHOT_VERSION,
    id: d.id,
    type: d.type,
    dialogType: d.dialogType,
    sip: d.sip,
    local: d.local,
    remote: d.remote,
    onHold: d.onHold,
    subscriptions: d.subscriptions,
    subscribeEvent: d.subscribeEvent,
    other: d.other ? d.other.id : null,
    session: d.session,
    wire: d._wire,
  };
}

/** The ids a request inside a dialog may know it by: the dialog-forming From tag is the
 * request's From tag (the far end formed it) or its To tag (we did). */
function candidateIds(req) {
  const callId = req.get('call-id');
  const ids = [req.stackDialogId, `${callId};from-tag=${tagOf(req.get('from'))}`, `${callId};from-tag=${tagOf(req.get('to'))}`];
  return [...new Set(ids.filter((id) => id && !id.endsWith('=undefined')))];
}

/**
 * `contact` (ours, as another engine wrote it) with this engine's address for its transport:
 * `hostports` is the engine's list, e.g. 'udp/127.0.0.1:5071,tcp/127.0.0.1:5071'.
 */
function rehome(contact, hostports) {
  const m = /^(.*?sips?:(?:[^@>;]*@)?)(\[[^\]]+\]|[^;>:]+)(?::\d+)?(.*)$/.exec(contact);
  const transport = ((/;transport=(\w+)/i.exec(contact) || [])[1] || 'udp').toLowerCase();
  const ours = hostports.split(',').map((h) => h.split('/')).find(([p]) => p === transport);
  return m && ours ? `${m[1]}${ours[1]}${m[3]}` : contact;
}

class DialogPersistence {
  constructor(srf, store, Dialog) {
    this.srf = srf;
    this.store = store;
    this.Dialog = Dialog;
    this.stats = { writes: 0, failedWrites: 0, restored: 0 };
    this._due = new Set();
    this._restoring = new Map();
    this._failing = false;
  }

  /** Saves `dialog` once the current turn is over (changes made in the same turn coalesce). */
  save(dialog) {
    if (this._due.has(dialog)) return;
    this._due.add(dialog);
    setImmediate(() => {
      this._due.delete(dialog);
      if (!dialog.connected) return;
      this.stats.writes++;
      this.store.set(dialog.id, snapshot(dialog)).then(() => this._ok(), (err) => this._failed('save', err));
    });
  }

  remove(dialog) {
    this._due.delete(dialog);
    this.store.del(dialog.id).then(() => this._ok(), (err) => this._failed('remove', err));
  }

  _ok() {
    if (this._failing) process.emitWarning('drachtio-srf-rs: the session store works again; dialogs can be taken over');
    this._failing = false;
  }

  _failed(what, err) {
    this.stats.failedWrites++;
    debug(`session store: ${what} failed: ${err && err.message}`);
    if (!this._failing) process.emitWarning(`drachtio-srf-rs: the session store failed (${err && err.message}); calls go on, but cannot be taken over by another process until it is back`);
    this._failing = true;
  }

  /**
   * The dialog `req` belongs to, rebuilt from the store (with its B2BUA partner), or null when
   * the store has none. Concurrent requests for the same dialog share one lookup.
   */
  restore(req) {
    const ids = candidateIds(req);
    const key = ids.join(' ');
    let pending = this._restoring.get(key);
    if (!pending) {
      pending = this._restore(ids, req.stackTxnId).finally(() => this._restoring.delete(key));
      this._restoring.set(key, pending);
    }
    return pending;
  }

  async _restore(ids, txnId) {
    for (const id of ids) {
      const known = this.srf._dialogs.get(id);
      if (known) return known;
      let snap;
      try {
        snap = await this.store.get(id);
      } catch (err) {
        this._failed('lookup', err);
        return null;
      }
      if (!snap || snap.v !== SNAPSHOT_VERSION) continue;
      const dialog = this._rebuild(snap, txnId);
      if (snap.other && !dialog.other) {
        const other = await this.store.get(snap.other).catch(() => null);
        if (other && other.v === SNAPSHOT_VERSION && !this.srf._dialogs.has(other.id)) {
          dialog.other = this._rebuild(other);
          dialog.other.other = dialog;
          this.srf.emit('sipdialog:restore', dialog.other);
        }
      }
      this.srf.emit('sipdialog:restore', dialog);
      return dialog;
    }
    return null;
  }

  /** A Dialog from its snapshot; the embedded engine takes it on too (`txnId`: the request that brought it). */
  _rebuild(snap, txnId) {
    const dialog = new this.Dialog(this.srf, snap.type, { snapshot: snap });
    this.srf._dialogs.set(dialog.id, dialog);
    // Another process's engine made it: our Contact names this engine from now on.
    const hostports = this.srf._server && this.srf._server.hostport;
    if (this.srf._embedded && hostports && dialog.local.contact) dialog.local.contact = rehome(dialog.local.contact, hostports);
    const w = snap.wire;
    if (w && this.srf._link) {
      this.srf._link.adoptDialog({
        id: snap.id, callId: snap.sip.callId, localTag: snap.sip.localTag, remoteTag: snap.sip.remoteTag,
        localUri: w.localUri, remoteUri: w.remoteUri, remoteTarget: snap.remote.uri,
        routeSet: w.routeSet || [], localSeq: w.localSeq === null ? undefined : w.localSeq,
        subscription: snap.dialogType === 'SUBSCRIBE', txnId: txnId || undefined,
      });
    }
    this.stats.restored++;
    debug(`restored dialog ${dialog.id} from the session store`);
    return dialog;
  }
}

module.exports = { DialogPersistence, snapshot, candidateIds, rehome };
