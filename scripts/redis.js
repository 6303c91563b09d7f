'use strict';
// Starting a throwaway redis-server (Debian package redis-server) from node, for the
// high-availability tests and benchmarks (issue #19), which keep dialog state in Redis.
// CommonJS, like scripts/sipp.js, so bench scripts require it and the ES-module tests load it
// through createRequire.
//
//   const { startRedis } = require('./scripts/redis.js');
//   const redis = await startRedis();        // { host, port, url, pid, stop(), pause(), resume() }
//   ... redis.url is 'redis://127.0.0.1:PORT'
//   await redis.pause();                     // Redis is down: connections are refused
//   await redis.resume();                    // up again on the same port
//   await redis.stop();
//
// Each server listens on 127.0.0.1 only, on a free port (or the one asked for), with no
// persistence to speak of (no save points, no append-only file) and a fresh temporary
// directory as its working directory; stop() removes it. Every wait is bounded. A server still
// running when this node process exits is killed then (by its PID).
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { freePort } = require('./sipp.js');

/** The redis-server binary: `redis-server` on PATH, or REDIS_SERVER_BIN. */
const REDIS_SERVER = process.env.REDIS_SERVER_BIN || 'redis-server';
const HOST = '127.0.0.1';

let version;
/** redis-server's version ("7.0.15"), or null when it is not installed; asked once. */
function redisAvailable() {
  if (version === undefined) {
    const r = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8', timeout: 5000 });
    version = r.error || r.status !== 0 ? null : ((/v=(\S+)/.exec(r.stdout || '') || [])[1] || 'unknown version');
  }
  return version;
}

/** Sends `command` (inline form, e.g. 'PING') on a fresh connection; resolves with the first
 * line of the reply, rejects on a connection error or after `ms`. */
function redisCommand(port, command, { host = HOST, ms = 1000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    let data = '';
    const done = (err, line) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(line);
    };
    const timer = setTimeout(() => done(new Error(`redis ${host}:${port}: no reply to ${command} within ${ms} ms`)), ms);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(`${command}\r\n`));
    sock.on('data', (d) => {
      data += d;
      const eol = data.indexOf('\r\n');
      if (eol !== -1) done(null, data.slice(0, eol));
    });
    sock.on('error', (err) => done(err));
    sock.on('close', () => done(new Error(`redis ${host}:${port}: closed before replying to ${command}`)));
  });
}

/** Resolves true when a server on `port` answers PING with +PONG. */
async function ping(port, opts) {
  try {
    return (await redisCommand(port, 'PING', opts)) === '+PONG';
  } catch {
    return false;
  }
}

const running = new Set(); // children to kill if this process exits first
process.on('exit', () => {
  for (const child of running) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

/**
 * Spawns redis-server on `port` in `dir` and waits (up to `ms`) until it answers PING.
 * Resolves with { child, exited, output() }; rejects (the child killed) when it exits first or
 * does not answer in time, with its output in the message.
 */
async function launch(port, dir, { ms = 5000 } = {}) {
  const args = [
    '--bind', HOST, '--port', String(port), '--protected-mode', 'yes',
    '--save', '', '--appendonly', 'no', '--dir', dir, '--dbfilename', 'dump.rdb',
    '--daemonize', 'no', '--supervised', 'no', '--logfile', '', '--loglevel', 'warning',
    '--unixsocket', '', '--databases', '4',
  ];
  const child = spawn(REDIS_SERVER, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  for (const s of [child.stdout, child.stderr]) {
    s.setEncoding('utf8');
    s.on('data', (d) => { output = (output + d).slice(-20000); });
  }
  const exited = new Promise((resolve) => {
    child.once('error', (error) => { running.delete(child); resolve({ code: null, signal: null, error }); });
    child.once('exit', (code, signal) => { running.delete(child); resolve({ code, signal }); });
  });
  let gone = null;
  exited.then((r) => { gone = r; });
  const end = Date.now() + ms;
  while (!gone) {
    if (await ping(port, { ms: 500 })) return { child, exited, output: () => output };
    if (Date.now() > end) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  if (!gone) child.kill('SIGKILL');
  const r = await exited;
  const why = r.error ? r.error.message : `exit ${r.code}${r.signal ? ` signal ${r.signal}` : ''}`;
  throw new Error(`redis-server on ${HOST}:${port} ${gone ? 'exited early' : `did not answer PING within ${ms} ms`} (${why})\n${output}`);
}

/** Ends `child` (SIGTERM, then SIGKILL after `ms`) and resolves once it has exited. */
async function kill(child, exited, { ms = 3000 } = {}) {
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  const r = await exited;
  clearTimeout(timer);
  return r;
}

/** Resolves once nothing accepts connections on `port` (bounded by `ms`). */
async function waitRefused(port, ms = 3000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const refused = await new Promise((resolve) => {
      const s = net.connect({ host: HOST, port });
      s.on('connect', () => { s.destroy(); resolve(false); });
      s.on('error', () => resolve(true));
    });
    if (refused) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${HOST}:${port} still accepts connections ${ms} ms after redis-server stopped`);
}

/**
 * Starts a redis-server on 127.0.0.1: on `port`, or on a free one (tried again on another port
 * when it was taken meanwhile, up to `attempts` times). `ms` bounds each wait for PING.
 * Resolves with:
 *   host, port, url ('redis://127.0.0.1:PORT'), pid (of the current server process),
 *   running   true between start/resume and pause/stop,
 *   output()  what the server wrote (the current process's, the last 20000 characters),
 *   pause({ keepData = true })  Redis goes down: the server process ends and the port is closed,
 *             so clients get connection refused (their writes fail) until resume(). keepData:
 *             it writes its data out first (SHUTDOWN SAVE, into its temp dir), and resume()
 *             loads it again: an outage where the data survives, as with a persistent Redis or
 *             a network cut. keepData false: it is killed (SIGKILL) and comes back empty, as a
 *             Redis without persistence that crashed.
 *   resume()  starts it again on the same port (and the same dir), resolves once it answers PING,
 *   stop()    ends it and removes its temp dir; safe to call more than once.
 */
async function startRedis({ port: fixed, ms = 5000, attempts = 3 } = {}) {
  if (!redisAvailable()) throw new Error(`${REDIS_SERVER} not found: install it with apt-get install redis-server`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redis-'));
  let current;
  let port;
  try {
    for (let attempt = 1; ; attempt++) {
      port = fixed ? Number(fixed) : await freePort();
      try {
        current = await launch(port, dir, { ms });
        break;
      } catch (err) {
        if (fixed || !/Address already in use/i.test(err.message) || attempt >= attempts) throw err;
      }
    }
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let stopped = false;
  const redis = {
    host: HOST,
    port,
    url: `redis://${HOST}:${port}`,
    dir,
    get pid() { return current ? current.child.pid : null; },
    get running() { return current !== null; },
    output: () => (current ? current.output() : ''),
    async pause({ keepData = true } = {}) {
      if (!current) return;
      const { child, exited } = current;
      current = null;
      if (keepData) {
        // The reply never comes: the server exits (closing the connection) once saved.
        await redisCommand(port, 'SHUTDOWN SAVE', { ms }).catch(() => {});
        const timer = setTimeout(() => child.kill('SIGKILL'), ms);
        await exited;
        clearTimeout(timer);
      } else {
        child.kill('SIGKILL');
        await exited;
        fs.rmSync(path.join(dir, 'dump.rdb'), { force: true });
      }
      await waitRefused(port, ms);
    },
    async resume() {
      if (stopped) throw new Error('redis: resume() after stop()');
      if (current) return;
      current = await launch(port, dir, { ms });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (current) {
        const { child, exited } = current;
        current = null;
        await kill(child, exited);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return redis;
}

module.exports = { REDIS_SERVER, redisAvailable, redisCommand, startRedis };
