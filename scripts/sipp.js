'use strict';
// Starting SIPp (https://sipp.sourceforge.net, Debian package sip-tester) from node: the pieces
// the load benchmark (bench/load.js) and the interop tests (__test__/helpers/sipp.mjs) share.
//
// It lives in scripts/ because neither of its two users owns it: scripts/ holds the repository's
// own tooling, which bench/ and __test__/ can both reach without one depending on the other, and
// the published package takes only scripts/build-addon.js from here (package.json "files"), so
// this stays out of the npm tarball. CommonJS, so bench/load.js requires it and the ES-module
// tests load it through createRequire.
//
// Everything here is on 127.0.0.1: the ports it finds free, the ports it waits for, and the
// sockets loopbackArgs() binds SIPp's SIP, RTP (-i) and control (-ci/-cp) sockets to.
const { spawn, spawnSync } = require('node:child_process');
const dgram = require('node:dgram');
const net = require('node:net');

/** The SIPp binary: `sipp` on PATH, or SIPP_BIN. */
const SIPP = process.env.SIPP_BIN || 'sipp';

let available;
/** SIPp's version line ("SIPp v3.6.1-..."), or null when it is not installed; asked once. */
function sippVersion() {
  if (available === undefined) {
    const r = spawnSync(SIPP, ['-v'], { encoding: 'utf8', timeout: 5000 });
    available = r.error ? null : (/SIPp v[^\s]+/.exec(r.stdout || '') || ['SIPp (unknown version)'])[0];
  }
  return available;
}

/** Binds `port` (0: any) on 127.0.0.1 and closes it again: the port bound, or null when taken. */
const bindUdp = (port, host = '127.0.0.1') => new Promise((resolve) => {
  const s = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  s.once('error', () => { s.close(); resolve(null); });
  s.bind(port, host, () => { const p = s.address().port; s.close(() => resolve(p)); });
});
const bindTcp = (port, host = '127.0.0.1') => new Promise((resolve) => {
  const s = net.createServer();
  s.once('error', () => resolve(null));
  s.listen(port, host, () => { const p = s.address().port; s.close(() => resolve(p)); });
});

/**
 * A port free on 127.0.0.1 for both UDP and TCP right now (bind 0, read it, close). With
 * `rtp`, port+2 is free on UDP too, for a port given to SIPp's -mp (its media sockets take the
 * port and port+2); three ports to find free instead of one, so it tries twice as often.
 */
async function freePort({ rtp = false } = {}) {
  for (let i = 0; i < (rtp ? 100 : 50); i++) {
    const port = await bindUdp(0);
    if (port && (!rtp || port < 65530) && (await bindTcp(port)) && (!rtp || (await bindUdp(port + 2)))) return port;
  }
  throw new Error('no free port on 127.0.0.1');
}

/** Resolves once something (SIPp) holds `port` on 127.0.0.1, tested by failing to bind it. */
async function waitBound(port, { tcp = false, ms = 5000, host = '127.0.0.1' } = {}) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if ((await (tcp ? bindTcp(port, host) : bindUdp(port, host))) === null) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`sipp did not bind ${host}:${port}${tcp ? '/tcp' : '/udp'} within ${ms} ms`);
}

/**
 * SIPp's arguments that keep it on loopback: SIP and RTP on 127.0.0.1 (-i), and its control
 * socket on a free 127.0.0.1 port (-ci/-cp; otherwise it listens on 0.0.0.0:8888). `rtp` as
 * for freePort().
 */
async function loopbackArgs({ rtp = false } = {}) {
  return ['-i', '127.0.0.1', '-ci', '127.0.0.1', '-cp', String(await freePort({ rtp }))];
}

/**
 * Spawns SIPp with `args`, in `cwd`, with `stdio` (default: stdin ignored, stdout and stderr
 * piped) and `env`. `via` runs it under another command: ['sh', '-c', script, 'sh'] spawns
 * `sh -c script sh sipp ...args`. Of what SIPp writes to a piped stdout or stderr the last
 * `keep` characters are kept. Returns { child, stdout(), stderr(), exited }: exited resolves
 * with { code, signal } when the child exits, or { code: null, signal: null, error } when it
 * could not be started.
 */
function spawnSipp(args, { cwd, stdio = ['ignore', 'pipe', 'pipe'], env, via = [], keep = 200000 } = {}) {
  const [command, ...pre] = via.length ? via : [SIPP];
  const child = spawn(command, via.length ? [...pre, SIPP, ...args] : args, { cwd, stdio, env });
  const text = { stdout: '', stderr: '' };
  for (const name of ['stdout', 'stderr']) {
    if (!child[name]) continue;
    child[name].setEncoding('utf8');
    child[name].on('data', (d) => { text[name] = (text[name] + d).slice(-keep); });
  }
  const exited = new Promise((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return { child, stdout: () => text.stdout, stderr: () => text.stderr, exited };
}

/**
 * Starts a long-lived SIPp that listens (a UAS) and resolves once it holds its port.
 * `launch(port)` starts it on that port and returns (or resolves with) { child, done, ... },
 * where done resolves once SIPp has ended, with something `describe` turns into text. The port
 * is `port` when given, else a free one (freePort({ rtp })); `host`: the address SIPp binds
 * (its -i; 127.0.0.1 by default); `tcp`: wait for a TCP listener,
 * not a UDP socket. A port found free can be taken by another process before SIPp binds it:
 * when SIPp then exits saying "Address already in use", it is launched again on another port,
 * up to `attempts` launches. Resolves with { port, ...what launch returned }; throws
 * "sipp exited early" with the description when SIPp ends before it is bound, and waitBound's
 * error when it neither binds nor ends in time (the child is then left running).
 */
async function startListening(launch, { port: fixed, tcp = false, rtp = false, host = '127.0.0.1', attempts = 3, describe = (r) => String(r) } = {}) {
  for (let attempt = 1; ; attempt++) {
    const port = fixed ? Number(fixed) : await freePort({ rtp });
    const started = await launch(port);
    const early = started.done.then((r) => ({ r }));
    const bound = waitBound(port, { tcp, host }).then(() => null);
    bound.catch(() => {}); // after an early exit nobody waits for it
    const exited = await Promise.race([bound, early]);
    if (!exited) return { port, ...started };
    const why = describe(exited.r);
    if (fixed || !/Address already in use/.test(why) || attempt >= attempts) throw new Error(`sipp exited early\n${why}`);
  }
}

module.exports = { SIPP, sippVersion, freePort, waitBound, loopbackArgs, spawnSipp, startListening };
