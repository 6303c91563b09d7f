'use strict';
// Starting kamailio (Debian package kamailio, 5.6) as the SIP load balancer in front of several
// app processes, for the high-availability tests and benchmarks (issue #19). It runs
// examples/ha/kamailio.cfg (read it for the routing: round robin, failover, OPTIONS probing,
// in-dialog requests moved off a dead app) with the values filled in here. CommonJS, like
// scripts/sipp.js.
//
//   const { startKamailio } = require('./scripts/kamailio.js');
//   const lb = await startKamailio({ targets: ['127.0.0.1:5071', '127.0.0.1:5072'] });
//   // send SIP to lb.sip ('127.0.0.1:PORT', UDP)
//   await lb.waitDown('127.0.0.1:5071');   // after that app died: the probes took it out
//   await lb.stop();
//
// Kamailio stays in the foreground (-DD, logs on stderr with -E) in a process group of its own,
// with a temporary directory for its pid file, runtime dir and dispatcher list, small memory
// (-m/-M) and two UDP workers; it listens on 127.0.0.1 only. stop() ends it by its PID (and
// its workers by its process group), and removes the directory. Every wait is bounded. One still
// running when this node process exits is killed then.
const { spawn, spawnSync } = require('node:child_process');
const dgram = require('node:dgram');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { freePort } = require('./sipp.js');

/** The kamailio binary: `kamailio` on PATH (Debian puts it in /usr/sbin), or KAMAILIO_BIN. */
const KAMAILIO = process.env.KAMAILIO_BIN
  || (['/usr/sbin/kamailio', '/usr/local/sbin/kamailio'].find((f) => fs.existsSync(f)) || 'kamailio');
const CFG = path.join(__dirname, '..', 'examples', 'ha', 'kamailio.cfg');
const HOST = '127.0.0.1';

let version;
/** kamailio's version ("5.6.3"), or null when it is not installed; asked once. */
function kamailioAvailable() {
  if (version === undefined) {
    const r = spawnSync(KAMAILIO, ['-v'], { encoding: 'utf8', timeout: 5000 });
    version = r.error || r.status !== 0 ? null : ((/kamailio (\S+)/.exec(r.stdout || '') || [])[1] || 'unknown version');
  }
  return version;
}

/** 'sip:127.0.0.1:5071' for '127.0.0.1:5071' or 'sip:127.0.0.1:5071' (as in the dispatcher list). */
const targetUri = (t) => (/^sips?:/.test(t) ? t : `sip:${t}`);

/** True when `port` on 127.0.0.1 cannot be bound for UDP (someone holds it). */
const udpTaken = (port) => new Promise((resolve) => {
  const s = dgram.createSocket('udp4');
  s.once('error', () => { s.close(); resolve(true); });
  s.bind(port, HOST, () => s.close(() => resolve(false)));
});

const running = new Set(); // process group ids to kill if this process exits first
process.on('exit', () => {
  for (const pgid of running) {
    try { process.kill(-pgid, 'SIGKILL'); } catch { /* already gone */ }
  }
});

/** `kamailio -c`: checks `cfg` with these defines (["HA_LISTEN=udp:127.0.0.1:5080", ...]); returns { ok, output }. */
function checkConfig({ cfg = CFG, defines = [] } = {}) {
  const r = spawnSync(KAMAILIO, ['-c', '-f', cfg, ...defines.flatMap((d) => ['-A', d])], { encoding: 'utf8', timeout: 10000 });
  return { ok: !r.error && r.status === 0, output: `${r.stdout || ''}${r.stderr || ''}${r.error ? r.error.message : ''}` };
}

/**
 * Starts kamailio on 127.0.0.1:`port` (UDP; a free port when not given, tried again on another
 * when taken meanwhile, up to `attempts` times) in front of `targets` ('127.0.0.1:5071' or
 * 'sip:127.0.0.1:5071', dispatcher set 1). `frTimer`: ms without any answer after which a
 * destination counts as dead (tm fr_timer; also bounds the probes); `pingInterval`: seconds
 * between OPTIONS probes; `ms` bounds the start. `cfg`: another config with the same HA_*
 * defines. Resolves once it listens, with:
 *   port, sip ('127.0.0.1:PORT'), uri ('sip:127.0.0.1:PORT'), pid, dir, targets (URIs),
 *   ready      a promise, already resolved: it listens,
 *   state(t)   'up' or 'down': what the probes last said of target t (all start 'up'),
 *   waitDown(t, ms = 10000), waitUp(t, ms = 10000)   resolve once t is down / up (reject at ms),
 *   failovers  the "HA failover ..." lines it logged (requests moved away from an app),
 *   output()   what it wrote on stderr (the last 200000 characters),
 *   exited     resolves with { code, signal } when it ends,
 *   stop()     SIGTERM, SIGKILL to its process group after 3 s, removes the dir; idempotent.
 */
async function startKamailio({
  targets, port: fixed, cfg = CFG, frTimer = 1500, pingInterval = 1, ms = 10000, attempts = 3,
  shmMb = 32, pkgMb = 4, workers = 2,
} = {}) {
  if (!Array.isArray(targets) || !targets.length) throw new Error('startKamailio: targets (["127.0.0.1:5071", ...]) required');
  if (!kamailioAvailable()) throw new Error(`${KAMAILIO} not found: install it with apt-get install kamailio`);
  const uris = targets.map(targetUri);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kamailio-'));
  const list = path.join(dir, 'dispatcher.list');
  fs.writeFileSync(list, `# set destination flags priority\n${uris.map((u) => `1 ${u} 0 0`).join('\n')}\n`);
  try {
    for (let attempt = 1; ; attempt++) {
      const port = fixed ? Number(fixed) : await freePort();
      try {
        return await launch({ port, dir, list, cfg, uris, frTimer, pingInterval, ms, shmMb, pkgMb, workers });
      } catch (err) {
        if (fixed || !/Address already in use|bind/i.test(err.message) || attempt >= attempts) throw err;
      }
    }
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

async function launch({ port, dir, list, cfg, uris, frTimer, pingInterval, ms, shmMb, pkgMb, workers }) {
  const args = [
    '-f', cfg, '-DD', '-E', '-m', String(shmMb), '-M', String(pkgMb), '-n', String(workers),
    '-P', path.join(dir, 'kamailio.pid'), '-Y', dir, '-w', dir,
    '-A', `HA_LISTEN=udp:${HOST}:${port}`, '-A', `HA_DS_LIST="${list}"`,
    '-A', `HA_FR_TIMER=${Number(frTimer)}`, '-A', `HA_PING_INTERVAL=${Number(pingInterval)}`,
  ];
  const child = spawn(KAMAILIO, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  if (child.pid) running.add(child.pid);
  const states = new Map(uris.map((u) => [u, 'up']));
  const failovers = [];
  const waiters = new Set();
  let output = '';
  let partial = '';
  const onLine = (line) => {
    const m = /HA dst-(down|up) (\S+)/.exec(line);
    if (m) {
      const uri = m[2];
      states.set(uri, m[1]);
      for (const w of [...waiters]) w();
    }
    if (/HA failover /.test(line)) failovers.push(line.slice(line.indexOf('HA failover ')));
  };
  for (const s of [child.stdout, child.stderr]) {
    s.setEncoding('utf8');
    s.on('data', (d) => {
      output = (output + d).slice(-200000);
      if (s !== child.stderr) return;
      const lines = (partial + d).split('\n');
      partial = lines.pop();
      lines.forEach(onLine);
    });
  }
  const exited = new Promise((resolve) => {
    child.once('error', (error) => { running.delete(child.pid); resolve({ code: null, signal: null, error }); });
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  let gone = null;
  exited.then((r) => { gone = r; });
  const killGroup = (signal) => {
    try { process.kill(-child.pid, signal); } catch { /* gone */ }
  };

  // Listening: its UDP port is held (kamailio binds before it forks its workers).
  const end = Date.now() + ms;
  while (!gone && !(await udpTaken(port))) {
    if (Date.now() > end) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  if (gone || !(await udpTaken(port))) {
    if (!gone) killGroup('SIGKILL');
    const r = await exited;
    killGroup('SIGKILL');
    running.delete(child.pid);
    const why = r.error ? r.error.message : `exit ${r.code}${r.signal ? ` signal ${r.signal}` : ''}`;
    throw new Error(`kamailio on ${HOST}:${port} ${gone ? 'exited early' : `did not bind within ${ms} ms`} (${why})\n${output.slice(-6000)}`);
  }

  const state = (t) => states.get(targetUri(t));
  const waitState = (t, want, within) => new Promise((resolve, reject) => {
    const uri = targetUri(t);
    if (!states.has(uri)) return reject(new Error(`kamailio: ${uri} is not a target (${uris.join(', ')})`));
    const check = () => {
      if (states.get(uri) !== want) return;
      finish();
      resolve();
    };
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`kamailio: ${uri} not ${want} within ${within} ms (it is ${states.get(uri)})`));
    }, within);
    const finish = () => { clearTimeout(timer); waiters.delete(check); };
    waiters.add(check);
    check();
  });
  let stopping = null;
  return {
    port,
    sip: `${HOST}:${port}`,
    uri: `sip:${HOST}:${port}`,
    pid: child.pid,
    dir,
    targets: uris,
    ready: Promise.resolve(true),
    state,
    waitDown: (t, within = 10000) => waitState(t, 'down', within),
    waitUp: (t, within = 10000) => waitState(t, 'up', within),
    failovers,
    output: () => output,
    exited,
    stop() {
      if (!stopping) {
        stopping = (async () => {
          if (!gone) {
            child.kill('SIGTERM');
            const timer = setTimeout(() => killGroup('SIGKILL'), 3000);
            await exited;
            clearTimeout(timer);
          }
          // its workers end with it; anything of the group that did not is killed
          killGroup('SIGKILL');
          running.delete(child.pid);
          fs.rmSync(dir, { recursive: true, force: true });
        })();
      }
      return stopping;
    },
  };
}

module.exports = { KAMAILIO, CFG, kamailioAvailable, checkConfig, startKamailio };
