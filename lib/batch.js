'use strict';
// Reads the event batches the native client delivers: one string with every text field and
// one buffer with each event's header words and SIP message (layout in src/node/batch.rs).
// Two values cross from Rust per batch instead of an object per event.

const KINDS = ['connected', 'auth-failed', 'error', 'closed', 'reconnecting', 'sip', 'reply', 'failed', 'cdr',
  'listening', 'accepted', 'bytes', 'stopped'];
const MORE = 1;
const MESSAGE = 2;
const UNPARSED = 4;
const OPAQUE = 8;
const HEADER_WORDS = 7;

/**
 * Calls `onEvent(ev)` for each event of `batch`, in order. `ev`: {kind, cmd, session, status,
 * tokens, more, raw, index, error}: `raw` (a Buffer) and `index` (a Uint32Array over it) when
 * the event carries a SIP message, `error` when that message did not parse; `session` names
 * the server connection in listen mode (0 otherwise). `bytes` events carry raw bytes, no index.
 */
function forEachEvent({ text, data }, onEvent) {
  // A Uint32Array view needs a 4-aligned offset; the native buffer starts at 0, but be sure.
  const bytes = data.byteOffset & 3 ? new Uint8Array(data) : data;
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2);
  const tokens = text.split('\0');
  let w = 0;
  let t = 0;
  while (w + HEADER_WORDS <= words.length) {
    const kind = KINDS[words[w]];
    const flags = words[w + 2];
    const n = words[w + 3];
    const rawLength = words[w + 4];
    const indexWords = words[w + 5];
    const ev = { kind, cmd: words[w + 1], session: words[w + 6], status: undefined, tokens: tokens.slice(t, t + n), more: (flags & MORE) !== 0, raw: null, index: null, error: undefined };
    w += HEADER_WORDS;
    t += n;
    if (kind === 'reply' || kind === 'failed') ev.status = ev.tokens.shift();
    if (flags & MESSAGE) {
      const start = bytes.byteOffset + w * 4;
      ev.raw = Buffer.from(bytes.buffer, start, rawLength);
      w += (rawLength + 3) >> 2;
      if (flags & UNPARSED) {
        ev.error = ev.tokens.pop();
      } else if (!(flags & OPAQUE)) {
        ev.index = words.subarray(w, w + indexWords);
        w += indexWords;
      }
    }
    onEvent(ev);
  }
}

module.exports = { forEachEvent };
