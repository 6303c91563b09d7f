// Shared pieces of the suite-*.test.mjs files, which re-enact drachtio-srf 5.0.29's own
// integration suite (recorded in ../shared/traces/suite, see its README.md) against OUR Srf on
// the embedded engine and on `drachtio-rs serve`, with SIPp as every far end.
import assert from 'node:assert/strict';
import { startApp } from './backends.mjs';
import { startSippUas, runSipp, scenario } from './sipp.mjs';

export { scenario };

/** SIPp finished cleanly with exactly `calls` successful calls and none failed. */
export function assertSipp(r, calls = 1) {
  assert.equal(r.code, 0, r.summary());
  assert.equal(r.stats.successful, calls, r.summary());
  assert.equal(r.stats.failed, 0, r.summary());
}

/** Runs `body(app)` with an app on `kind`; the app is closed afterwards. Returns the app (errors recorded). */
export async function withApp(kind, opts, body) {
  const app = await startApp(kind, opts);
  try {
    await body(app);
  } finally {
    await app.close();
  }
  return app;
}

/**
 * A SIPp far end (UAS) running `args` (e.g. ['-sf', file, '-m', '1']), its messages traced.
 * Resolves with { port, uri(user), done, stop() }; done resolves like runSipp (result.messages
 * holds what SIPp sent and received).
 */
export async function sippUas(args, { timeoutMs = 20000 } = {}) {
  const uas = await startSippUas(args, { timeoutMs, traceMsg: true });
  return {
    ...uas,
    uri: (user) => `sip:${user ? `${user}@` : ''}127.0.0.1:${uas.port}`,
    stop: () => { if (uas.child.exitCode === null && uas.child.signalCode === null) uas.child.kill('SIGKILL'); },
  };
}

/** Runs a SIPp caller against the app at `addr` (message trace kept in result.messages). */
export function sippUac(args, addr, { timeoutMs = 20000 } = {}) {
  return runSipp([...args, addr], { timeoutMs, traceMsg: true });
}

/** The SIP messages in a SIPp -trace_msg log, each as its text (start line first). */
export function sippMessages(log, dir) {
  const out = [];
  const re = /(UDP|TCP) message (sent|received)[^\n]*\n\n?([\s\S]*?)(?=\n-{5,}|\n\s*\n\S*-{5,}|$)/g;
  for (const m of log.matchAll(re)) {
    const msg = m[3].trim();
    if (!msg) continue;
    if (dir && m[2] !== dir) continue;
    out.push(msg);
  }
  return out;
}

/** Start lines of the messages SIPp received ('INVITE', '200 INVITE', ...), for order checks. */
export function received(log) {
  return sippMessages(log, 'received').map((m) => {
    const first = m.split(/\r?\n/)[0];
    const cseq = (/^CSeq:\s*\d+\s+(\w+)/im.exec(m) || [])[1];
    return first.startsWith('SIP/2.0') ? `${first.split(' ')[1]} ${cseq}` : first.split(' ')[0];
  });
}

/** A header's value in a message text (first occurrence, case-insensitive, compact forms not handled). */
export function header(msg, name) {
  const m = new RegExp(`^${name}\\s*:\\s*(.*)$`, 'im').exec(msg);
  return m ? m[1].trim() : undefined;
}

export const SDP = (port, s = '-') => `v=0\r\no=- ${port} 1 IN IP4 127.0.0.1\r\ns=${s}\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0\r\n`;

/** Resolves when `emitter` emits `event` (first argument), rejects after `ms`. */
export function eventWithin(emitter, event, ms, what = event) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${what}' within ${ms} ms`)), ms);
    emitter.once(event, (...args) => { clearTimeout(timer); resolve(args[0]); });
  });
}

/** A promise with its resolve/reject exposed. */
export function deferred(ms, what) {
  let resolve;
  let reject;
  const p = new Promise((res, rej) => { resolve = res; reject = rej; });
  if (ms) {
    const t = setTimeout(() => reject(new Error(`${what || 'event'} did not happen within ${ms} ms`)), ms);
    p.then(() => clearTimeout(t), () => clearTimeout(t));
  }
  return Object.assign(p, { resolve, reject });
}
