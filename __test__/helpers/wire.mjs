// Small helpers for the drachtio control protocol as used by the test harness.
//
//   frame(payload)            -> Buffer `<byteLength>#<payload>`
//   new FrameReader().feed(b) -> [payload strings] (keeps partial data between calls)
//   parseLeader(payload)      -> { tokens, body } (leader split on '|', body after the first CRLF)
//   readTrace(file)           -> [{ dir, conn, t_ms, payload }] complete frames, trace order
//
// Lengths are byte lengths of the UTF-8 payload (never string lengths).
import { readFileSync } from 'node:fs';

const HASH = 0x23; // '#'

/** Encode one payload string as a framed Buffer. */
export function frame(payload) {
  const body = Buffer.from(String(payload), 'utf8');
  return Buffer.concat([Buffer.from(`${body.length}#`, 'latin1'), body]);
}

/**
 * Incremental frame decoder. feed() accepts Buffers (or strings, taken as UTF-8) split at arbitrary
 * points, including inside the length digits or inside a multi-byte UTF-8 sequence, and returns every
 * payload completed by that chunk. A corrupt length prefix throws (and the reader stays corrupt).
 */
export class FrameReader {
  constructor() {
    this.buf = Buffer.alloc(0);
  }

  feed(chunk) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk), 'utf8');
    this.buf = this.buf.length ? Buffer.concat([this.buf, b]) : b;
    const out = [];
    for (;;) {
      const hash = this.buf.indexOf(HASH);
      if (hash === -1) {
        if (this.buf.length && !/^[0-9]*$/.test(this.buf.toString('latin1'))) {
          throw new Error(`FrameReader: corrupt length prefix ${JSON.stringify(this.buf.subarray(0, 20).toString('latin1'))}`);
        }
        break;
      }
      const digits = this.buf.subarray(0, hash).toString('latin1');
      if (!/^[0-9]+$/.test(digits)) {
        throw new Error(`FrameReader: corrupt length prefix ${JSON.stringify(digits.slice(0, 20))}`);
      }
      const len = Number(digits);
      if (this.buf.length < hash + 1 + len) break;
      out.push(this.buf.subarray(hash + 1, hash + 1 + len).toString('utf8'));
      this.buf = this.buf.subarray(hash + 1 + len);
    }
    return out;
  }

  /** Bytes buffered but not yet forming a complete frame. */
  get pending() {
    return this.buf.length;
  }
}

/**
 * Split a payload into its leader tokens and body. The leader ends at the first CRLF; the body is
 * everything after it ('' when the payload has no CRLF). Empty tokens are kept (positions matter).
 */
export function parseLeader(payload) {
  const i = payload.indexOf('\r\n');
  const leader = i === -1 ? payload : payload.slice(0, i);
  const body = i === -1 ? '' : payload.slice(i + 2);
  return { tokens: leader.split('|'), body };
}

/**
 * Read a JSON-lines trace and re-frame it: returns the complete frames of every (conn, dir) stream,
 * in the order in which the chunk completing each frame was recorded. t_ms is that chunk's time.
 */
export function readTrace(file) {
  const readers = new Map();
  const frames = [];
  const lines = readFileSync(file, 'utf8').split('\n');
  for (const [n, line] of lines.entries()) {
    if (!line.trim()) continue;
    let rec;
    try {
      rec = JSON.parse(line);
    } catch (err) {
      throw new Error(`${file}:${n + 1}: bad JSON (${err.message})`);
    }
    const { dir, conn = 1, t_ms: tMs, data } = rec;
    if (dir !== 'app->server' && dir !== 'server->app') throw new Error(`${file}:${n + 1}: bad dir ${dir}`);
    const key = `${conn}/${dir}`;
    if (!readers.has(key)) readers.set(key, new FrameReader());
    for (const payload of readers.get(key).feed(Buffer.from(data, 'utf8'))) {
      frames.push({ dir, conn, t_ms: tMs, payload });
    }
  }
  for (const [key, r] of readers) {
    if (r.pending) throw new Error(`${file}: ${r.pending} trailing bytes in stream ${key} do not form a frame`);
  }
  return frames;
}
