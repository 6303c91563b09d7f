// Running SIPp (https://sipp.sourceforge.net, Debian package sip-tester) from node:test.
//
// Every run is bounded three ways: a call count (-m, required), SIPp's own global timeout
// (-timeout with -timeout_error, so reaching it is a failure) and a hard SIGKILL of the child
// after timeoutMs. Everything is bound to 127.0.0.1: the SIP port (-i/-p), the control socket
// (-ci/-cp, which otherwise listens on 0.0.0.0:8888), and SIPp's RTP sockets, which follow -i.
// Trace files (-trace_err, -trace_screen, and -trace_msg on request) go to a fresh directory
// under the OS temp dir, never into the repository; their text is returned and the directory
// removed unless SIPP_KEEP_TRACES is set.
//
// The SIPp binary, free ports, spawning and the UAS start-up with its retry are shared with the
// load benchmark, in scripts/sipp.js.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { onCI } from './shared.mjs';

const require = createRequire(import.meta.url);
const { SIPP, sippVersion, freePort, loopbackArgs, spawnSipp, startListening } = require('../../scripts/sipp.js');

export { SIPP, sippVersion, freePort };
export const SCENARIOS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'interop', 'scenarios');
export const scenario = (name) => path.join(SCENARIOS, name);

/**
 * For the top of a test: true when SIPp can run. Otherwise the test is skipped with a visible
 * reason, or fails on CI (any non-empty CI: a CI image without SIPp must not pass silently).
 */
export function requireSipp(t) {
  if (sippVersion()) return true;
  const reason = `sipp not found (${SIPP}); install it with apt-get install sip-tester`;
  if (onCI()) throw new Error(`${reason}: required on CI (CI=${process.env.CI})`);
  t.skip(reason);
  return false;
}

const has = (args, flag) => args.includes(flag);
const valueOf = (args, flag) => (has(args, flag) ? args[args.indexOf(flag) + 1] : undefined);
const readIf = (file) => { try { return fs.readFileSync(file, 'utf8'); } catch { return ''; } };
const tailOf = (s, n = 6000) => (s.length > n ? `...${s.slice(-n)}` : s);

/** Counters from SIPp's final statistics screen ("Successful call | periodic | cumulative"). */
export function sippStats(screen) {
  const last = (name) => {
    const all = [...screen.matchAll(new RegExp(`${name}\\s*\\|[^|]*\\|\\s*(\\d+)`, 'g'))];
    return all.length ? Number(all[all.length - 1][1]) : undefined;
  };
  return { successful: last('Successful call'), failed: last('Failed call'), created: last('Total Calls created') };
}

async function launch(args, { timeoutMs = 20000, traceMsg = !!process.env.SIPP_TRACE_MSG, port } = {}) {
  if (!has(args, '-m')) throw new Error('runSipp: -m (a call limit) is required');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipp-'));
  const files = { errors: path.join(dir, 'errors.log'), screen: path.join(dir, 'screen.log'), messages: path.join(dir, 'messages.log') };
  // 127.0.0.1 unless the caller names its own local address (an IPv6 test: -i ::1 -ci ::1 -cp).
  const full = [...args, '-nostdin', ...(has(args, '-i') ? [] : await loopbackArgs()),
    '-trace_err', '-error_file', files.errors, '-trace_screen', '-screen_file', files.screen];
  if (port) full.push('-p', String(port));
  else if (!has(args, '-p')) full.push('-p', String(await freePort()));
  if (!has(args, '-timeout')) full.push('-timeout', `${Math.max(1, Math.floor(timeoutMs / 1000) - 1)}s`);
  if (!has(args, '-timeout_error')) full.push('-timeout_error');
  if (traceMsg) full.push('-trace_msg', '-message_file', files.messages);

  const sipp = spawnSipp(full, { cwd: dir, keep: 200000 });
  const { child } = sipp;
  let killed = false;
  const guard = setTimeout(() => { killed = true; child.kill('SIGKILL'); }, timeoutMs);
  const done = sipp.exited.then(({ code, signal, error }) => {
    clearTimeout(guard);
    const stdout = sipp.stdout();
    const screen = readIf(files.screen);
    const result = {
      code, signal, killed, error, args: full, dir,
      stdout, stderr: sipp.stderr(), screen, errors: readIf(files.errors), messages: readIf(files.messages),
      stats: sippStats(screen || stdout),
    };
    result.summary = () => [`sipp ${full.join(' ')}`, `exit ${code}${signal ? ` signal ${signal}` : ''}${killed ? ' (killed after timeout)' : ''}`,
      `stats ${JSON.stringify(result.stats)}`, tailOf(result.errors && `errors:\n${result.errors}`),
      tailOf(sipp.stderr() && `stderr:\n${sipp.stderr()}`), tailOf(screen || sipp.stdout(), 4000), traceMsg ? `messages: ${files.messages}` : ''].filter(Boolean).join('\n');
    if (!process.env.SIPP_KEEP_TRACES && !traceMsg) fs.rmSync(dir, { recursive: true, force: true });
    return result;
  });
  return { child, done };
}

/** Runs SIPp in the foreground: resolves with { code, stdout, stderr, stats, screen, errors, summary() }. */
export async function runSipp(args, opts = {}) {
  const { done } = await launch(args, opts);
  return done;
}

/**
 * Starts a SIPp UAS (e.g. ['-sn', 'uas', '-m', '10']) in the background on a free port and
 * resolves once it is listening: { port, child, done } where done resolves like runSipp. A port
 * found free can be taken by another process before SIPp binds it: then it tries another one.
 */
export async function startSippUas(args, opts = {}) {
  const fixed = valueOf(args, '-p');
  return startListening((port) => launch(args, { ...opts, port: fixed ? undefined : port }), {
    port: fixed, tcp: /^t/.test(valueOf(args, '-t') || ''), host: valueOf(args, '-i') || '127.0.0.1', describe: (r) => r.summary(),
  });
}
