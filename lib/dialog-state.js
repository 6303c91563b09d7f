'use strict';
// RFC 4235-style dialog state reports (api.md §4.5): when the app passes a
// `dialogStateEmitter` with 'stateChange' listeners, one state object per dialog is updated
// and re-emitted at each step, from 'trying' to 'terminated'.
const crypto = require('node:crypto');
const { parseNameAddr, parseUri, tagOf } = require('./parse.js');

/** `user@host` of a From/To header value, or null when either part is missing. */
function aorOf(headerValue) {
  const uri = parseUri(parseNameAddr(headerValue || '').uri);
  return uri && uri.user && uri.host ? `${uri.user}@${uri.host}` : null;
}

class DialogStateReporter {
  /** `role` 'uas' (the state reports call it 'initiator') or 'uac' ('recipient'). */
  constructor(emitter, role, req) {
    this.emitter = null;
    // Most calls have no emitter: nothing is parsed for them.
    if (!emitter || typeof emitter.emit !== 'function' || emitter.listenerCount('stateChange') === 0) return;
    const aor = aorOf(role === 'uas' ? req.get('from') : req.get('to'));
    if (!aor) return;
    this.emitter = emitter;
    this.state = {
      state: 'trying',
      direction: role === 'uas' ? 'initiator' : 'recipient',
      aor,
      callId: req.get('call-id'),
      localTag: role === 'uas' ? undefined : tagOf(req.get('from')),
      id: crypto.randomBytes(4).toString('hex'),
    };
    if (role === 'uas') this.state.remoteTag = tagOf(req.get('from'));
    this.emitter.emit('stateChange', this.state);
  }

  /** Moves to `state`; `fields` fills in tags learnt on the way. Nothing after 'terminated'. */
  set(state, fields = {}) {
    if (!this.emitter || this.state.state === state || this.state.state === 'terminated') return;
    Object.assign(this.state, fields, { state });
    this.emitter.emit('stateChange', this.state);
  }

  /** A response seen by a UAC: 1xx (with or without a tag), then its final outcome. */
  response(res) {
    const remoteTag = tagOf(res.get('to'));
    if (res.status < 200) this.set(remoteTag ? 'early' : 'proceeding', remoteTag ? { remoteTag } : {});
    else if (res.status < 300) this.set('confirmed', { remoteTag });
    else this.set(res.status === 487 ? 'cancelled' : 'rejected');
  }
}

module.exports = { DialogStateReporter, aorOf };
