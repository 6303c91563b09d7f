#!/usr/bin/env node
'use strict';
// Load benchmark: SIPp places calls at fixed rates against a UAS and we measure what it costs.
// See bench/README.md. One scenario per invocation; every step is bounded by a call count and
// by time, every process we start is on 127.0.0.1 and is stopped (by its PID) when we are done.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
// shared with the interop tests: the sipp binary, free ports, spawning sipp, a UAS's start-up
const { SIPP, sippVersion, freePort, loopbackArgs, spawnSipp, startListening } = require('../scripts/sipp.js');
const { CLK_TCK, procSample, threadSample, threadsPerCall } = require('./proc.js');

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'lib', 'cli.js');
const APPS = path.join(__dirname, 'apps');
const UAC_XML = path.join(__dirname, 'scenarios', 'uac-call.xml');
const OVERLOAD_XML = path.join(__dirname, 'scenarios', 'uac-overload.xml');
const UAS_RR_XML = path.join(__dirname, 'scenarios', 'uas-rr.xml');
const OUT = path.join(__dirname, 'out');
const SECRET = 'cymru';
const DEFAULT_RATES = [500, 1000, 2000, 3000, 4000, 5000];

const SCENARIOS = {
  embedded: 'JS UAS app (createUAS, 200 + SDP) on drachtio-srf-rs with the embedded engine',
  'sipp-uas': "sipp's built-in uas (-sn uas), the reference cost of answering",
  'serve-ours': 'the same app on drachtio-srf-rs over TCP to `drachtio-rs serve`',
  'serve-drachtio-srf': 'the same app on drachtio-srf 5.0.29 over TCP to `drachtio-rs serve`',
  'memory-embedded': 'N concurrent established calls on the embedded app: RSS per call and after',
  'soak-embedded': 'M minutes at one rate on the embedded app: RSS sampled, slope reported',
  'b2bua-embedded': "a B2BUA (createB2BUA) on the embedded engine between sipp's uac and sipp's built-in uas",
  'proxy-embedded': 'proxyRequest(req, uas, {recordRoute: true}) on the embedded engine, sipp uac -> app -> sipp uas echoing Record-Route',
  'proxy-serve-ours': 'the same proxy app on drachtio-srf-rs over TCP to `drachtio-rs serve`',
  'proxy-serve-drachtio-srf': 'the same proxy app on drachtio-srf 5.0.29 over TCP to `drachtio-rs serve`',
  'proxy-direct': 'no proxy: sipp uac straight to the Record-Route-echoing sipp uas (the rig\'s own ceiling)',
  'ha-embedded': '--processes N embedded apps (Redis session store) behind kamailio (examples/ha/kamailio.cfg): how it scales with processes',
  'overload-embedded': 'an embedded app that cannot keep up (--busy-ms of CPU per INVITE) at the rates given: 503 shedding',
};

const USAGE = `usage: node bench/load.js <scenario> [options]

scenarios:
${Object.entries(SCENARIOS).map(([k, v]) => `  ${k.padEnd(20)} ${v}`).join('\n')}

options:
  --rates 500,1000,...   call rates (calls/s), one step each. Default ${DEFAULT_RATES.join(',')} and on,
                         +1000 a step, while clean (up to --max-rate); an explicit list runs as given
  --seconds N            seconds of calls per step (default 5): a step places rate*N calls
  --max-calls N          cap on the calls of one step
  --max-rate N           last rate the default list may reach (default 10000)
  --keep-going           with the default list, go on after a step that is not clean
  --hold-ms N            pause between ACK and BYE in load steps (default 0)
  --warm-up CALLS[@RATE] calls placed before the first step, not reported (default 3000@1000: V8 has
                         optimized the app's hot path by then; 400@200, the earlier default, leaves
                         most of it to be compiled during the first step)
  --concurrent N         memory-embedded: calls held at once (default 5000; 50000 for the full run)
  --rate N               memory/soak: call rate (default 1000 for memory, 500 for soak)
  --plateau-seconds N    memory-embedded: seconds all calls are held together (default 10)
  --settle-seconds N     memory-embedded: wait after the calls end before the last RSS (default 40,
                         past the 32 s that RFC 3261 keeps completed transactions)
  --rounds N             memory-embedded: hold-and-release rounds in the same process (default 1); a
                         leak grows round after round, allocator caching does not
  --busy-ms X            overload-embedded: CPU ms the app spends on each INVITE (default 1)
  --max-pending N        overload-embedded: the engine's maxPendingRequests (default: the engine's, 2000)
  --processes N          ha-embedded: app processes behind kamailio (default 1)
  --soak-minutes M       soak-embedded: minutes of calls (default 2)
  --sample-seconds N     soak-embedded: RSS sample period (default 5)
  --max-minutes N        hard limit for the whole invocation (default 9); everything is killed
  --json FILE            where to write the JSON (default bench/out/<scenario>-<time>.json)
  --keep-traces          keep every step's sipp directory (default: only steps that were not clean)
  --alloc-profile        load scenarios: the JS heap the app allocates per call, and the functions
                         that allocate most (V8's sampling allocation profiler in the app, collected
                         objects included); the profiler's own cost shows in that run's CPU figures
  --help                 this text
`;

// ---------------------------------------------------------------------------------------------
// arguments

function parseArgs(argv) {
  const opts = { rates: null, seconds: 5, maxCalls: Infinity, maxRate: 10000, keepGoing: false, holdMs: 0,
    concurrent: 5000, rate: null, plateauSeconds: 10, settleSeconds: 40, rounds: 1, soakMinutes: 2, sampleSeconds: 5, maxMinutes: 9,
    busyMs: 1, maxPending: null, json: null, keepTraces: false, warmUp: { calls: 3000, rate: 1000 } };
  const num = (name, v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} needs a number, got ${v}`);
    return n;
  };
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--rates': opts.rates = next().split(',').filter(Boolean).map((r) => num('rates', r)); break;
      case '--seconds': opts.seconds = num('seconds', next()); break;
      case '--max-calls': opts.maxCalls = num('max-calls', next()); break;
      case '--max-rate': opts.maxRate = num('max-rate', next()); break;
      case '--keep-going': opts.keepGoing = true; break;
      case '--hold-ms': opts.holdMs = num('hold-ms', next()); break;
      case '--warm-up': {
        const [calls, rate = '1000'] = next().split('@');
        opts.warmUp = { calls: num('warm-up', calls), rate: Math.max(1, num('warm-up', rate)) };
        break;
      }
      case '--concurrent': opts.concurrent = num('concurrent', next()); break;
      case '--rate': opts.rate = num('rate', next()); break;
      case '--plateau-seconds': opts.plateauSeconds = num('plateau-seconds', next()); break;
      case '--settle-seconds': opts.settleSeconds = num('settle-seconds', next()); break;
      case '--rounds': opts.rounds = num('rounds', next()); break;
      case '--busy-ms': opts.busyMs = num('busy-ms', next()); break;
      case '--max-pending': opts.maxPending = num('max-pending', next()); break;
      case '--processes': opts.processes = num('processes', next()); break;
      case '--soak-minutes': opts.soakMinutes = num('soak-minutes', next()); break;
      case '--sample-seconds': opts.sampleSeconds = Math.max(1, num('sample-seconds', next())); break;
      case '--max-minutes': opts.maxMinutes = num('max-minutes', next()); break;
      case '--json': opts.json = path.resolve(next()); break;
      case '--keep-traces': opts.keepTraces = true; break;
      case '--alloc-profile': opts.allocProfile = true; break;
      case '--help': case '-h': opts.help = true; break;
      default:
        if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
        rest.push(a);
    }
  }
  opts.scenario = rest[0];
  return opts;
}

// ---------------------------------------------------------------------------------------------
// small helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (msg) => process.stderr.write(`[load] ${msg}\n`);

// Every port given to sipp here has port+2 free on UDP too (freePort's `rtp`), for its media.
const freeSippPort = () => freePort({ rtp: true });

const readIf = (file) => { try { return fs.readFileSync(file, 'utf8'); } catch { return ''; } };

/** Resets VmHWM to the current RSS (Linux >= 4.0: echo 5 > /proc/<pid>/clear_refs). */
function resetHwm(pid) {
  try { fs.writeFileSync(`/proc/${pid}/clear_refs`, '5'); return true; } catch { return false; }
}

function childrenOf(pid) {
  const list = readIf(`/proc/${pid}/task/${pid}/children`).trim();
  return list ? list.split(/\s+/).map(Number) : [];
}

/** Busy and total jiffies of the whole machine, to see how much CPU others used during a step. */
function systemCpu() {
  const line = readIf('/proc/stat').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = line[3] + (line[4] || 0);
  const total = line.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** Datagrams the kernel dropped on 127.0.0.1:port's UDP socket(s) (receive buffer full). */
function udpDrops(port) {
  const hex = `:${Number(port).toString(16).toUpperCase().padStart(4, '0')}`;
  let drops = 0;
  let found = false;
  for (const line of readIf('/proc/net/udp').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length > 12 && f[1].endsWith(hex)) { drops += Number(f[f.length - 1]) || 0; found = true; }
  }
  return found ? drops : null;
}

/** The machine's UDP RcvbufErrors counter (every socket). */
function udpRcvbufErrors() {
  const lines = readIf('/proc/net/snmp').split('\n').filter((l) => l.startsWith('Udp:'));
  if (lines.length < 2) return null;
  const head = lines[0].split(/\s+/);
  const vals = lines[1].split(/\s+/);
  return Number(vals[head.indexOf('RcvbufErrors')]);
}

function percentile(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function linearSlope(points) {
  const n = points.length;
  if (n < 2) return null;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) { num += (x - mx) * (y - my); den += (x - mx) ** 2; }
  return den ? num / den : null;
}

// ---------------------------------------------------------------------------------------------
// processes we start: each registered until it exits, all killed (by PID) if we exit early

const live = new Set();
function track(child, name) {
  const entry = { child, name };
  live.add(entry);
  child.once('exit', () => live.delete(entry));
  return child;
}
function killAll(signal = 'SIGKILL') {
  for (const { child } of live) {
    try { process.kill(child.pid, signal); } catch { /* gone */ }
  }
}
process.once('exit', () => killAll('SIGKILL'));
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => { log(`${sig}: stopping`); killAll('SIGKILL'); process.exit(130); });
}

function waitExit(child, ms) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => { clearTimeout(t); resolve(true); });
  });
}

/** A bench app (bench/apps/*.js): waits for its ready line, answers stats/gc queries. */
class App {
  static async start(file, args, { lifetimeSeconds, name = 'app' }) {
    // BENCH_NODE_FLAGS: extra flags for the app's node, e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`
    // (NODE_OPTIONS refuses some of them).
    const flags = (process.env.BENCH_NODE_FLAGS || '').split(' ').filter(Boolean);
    const child = track(spawn(process.execPath, ['--expose-gc', ...flags, path.join(APPS, file), ...args, '--max-seconds', String(lifetimeSeconds)],
      { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] }), name);
    const app = new App(child, name);
    app.info = await app._ready(20000);
    return app;
  }

  constructor(child, name) {
    this.child = child;
    this.pid = child.pid;
    this.name = name;
    this.stderr = '';
    this.lines = [];
    this.waiters = [];
    this.queries = [];
    let buf = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('{"stats"')) {
          const q = this.queries.shift();
          if (q) q(JSON.parse(line).stats);
        } else {
          this.lines.push(line);
          for (const w of this.waiters.splice(0)) w();
        }
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => { this.stderr = (this.stderr + d).slice(-20000); });
    child.stdin.on('error', () => {});
  }

  _ready(ms) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} not ready in ${ms} ms: ${this.stderr}`)), ms);
      const check = () => {
        const line = this.lines.find((l) => l.startsWith('ready '));
        if (line) { clearTimeout(timer); resolve(JSON.parse(line.slice(6))); } else this.waiters.push(check);
      };
      this.child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${this.name} exited ${code}: ${this.stderr}`)); });
      check();
    });
  }

  /** 'stats' or 'gc': resolves with the app's counters and process.memoryUsage(). */
  query(cmd = 'stats', ms = 10000) {
    if (this.child.exitCode !== null) return Promise.resolve(null);
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.queries.splice(this.queries.indexOf(done), 1); resolve(null); }, ms);
      const done = (s) => { clearTimeout(t); resolve(s); };
      this.queries.push(done);
      this.child.stdin.write(`${cmd}\n`);
    });
  }

  get alive() { return this.child.exitCode === null && this.child.signalCode === null; }

  async stop() {
    try { this.child.stdin.end(); } catch { /* closed */ }
    if (!(await waitExit(this.child, 5000))) {
      try { process.kill(this.pid, 'SIGKILL'); } catch { /* gone */ }
      await waitExit(this.child, 2000);
    }
  }
}

/** `drachtio-rs serve` on free loopback ports, under coreutils `timeout` so it always ends. */
async function startServe(lifetimeSeconds) {
  const args = ['-s', 'TERM', '-k', '5', String(lifetimeSeconds), process.execPath, CLI, 'serve',
    '--address', '127.0.0.1', '--port', '0', '--secret', SECRET,
    '--contact', 'sip:127.0.0.1:0;transport=udp', '--loglevel', 'warn'];
  const child = track(spawn('timeout', args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }), 'serve');
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { err = (err + d).slice(-20000); });
  const started = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${err}`)), 15000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      out += d;
      const m = /control on ([\d.]+):(\d+), SIP on (\S+)/.exec(out);
      if (m) { clearTimeout(timer); resolve({ host: m[1], port: Number(m[2]), sip: m[3] }); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`serve exited ${code}: ${err}`)); });
  });
  const [pid] = childrenOf(child.pid); // the node process under `timeout`
  return {
    name: 'serve', pid: pid || child.pid, child, control: started,
    sip: started.sip.split(',')[0].split('/')[1],
    stderr: () => err,
    get alive() { return child.exitCode === null && child.signalCode === null; },
    async stop() {
      try { process.kill(child.pid, 'SIGTERM'); } catch { /* gone */ }
      if (!(await waitExit(child, 8000))) {
        try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
        if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      }
    },
  };
}

/** sipp's built-in uas (or scenario `xml`), long-lived across the steps (the sipp-uas reference). */
async function startSippUas(totalCalls, lifetimeSeconds, dir, xml) {
  const { port, child, args } = await startListening(async (uasPort) => {
    const uasArgs = [...(xml ? ['-sf', xml] : ['-sn', 'uas']), ...(await loopbackArgs({ rtp: true })), '-p', String(uasPort),
      '-mp', String(await freeSippPort()), '-m', String(totalCalls), '-l', '1000000', '-timeout', `${lifetimeSeconds}s`,
      '-nostdin', '-buff_size', '4194304', '-trace_err', '-error_file', path.join(dir, 'uas-errors.log')];
    const sipp = spawnSipp(uasArgs, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], keep: 20000 });
    track(sipp.child, 'sipp-uas');
    return { child: sipp.child, args: uasArgs, done: sipp.exited.then((e) => ({ ...e, stderr: sipp.stderr() })) };
  }, { rtp: true, describe: (r) => `sipp uas exited ${r.code}: ${r.stderr}` });
  return {
    name: 'sipp uas', pid: child.pid, child, sip: `127.0.0.1:${port}`, args,
    get alive() { return child.exitCode === null && child.signalCode === null; },
    async stop() {
      try { process.kill(child.pid, 'SIGTERM'); } catch { /* gone */ }
      if (!(await waitExit(child, 3000))) { try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// one sipp UAC run

function parseCsv(text) {
  const lines = text.split('\n').filter((l) => l.trim());
  if (lines.length < 2) return {};
  const head = lines[0].split(';');
  const last = lines[lines.length - 1].split(';');
  const out = {};
  head.forEach((h, i) => { if (h) out[h] = last[i]; });
  return out;
}

/**
 * sipp's -trace_rtt file (`date_ms;response_time_ms;rtd_no` a line after a header): the sorted
 * response times and the span of their stamps in seconds. Read in chunks: an hour-long soak
 * writes millions of lines, too many for one string.
 */
function readRtt(file) {
  const rtt = [];
  let first = Infinity;
  let last = -Infinity;
  let fd;
  try { fd = fs.openSync(file, 'r'); } catch { return { rtt, rttSpan: null }; }
  const chunk = Buffer.alloc(1 << 20);
  let rest = '';
  let header = true;
  for (;;) {
    const n = fs.readSync(fd, chunk, 0, chunk.length, null);
    const text = rest + chunk.toString('latin1', 0, n);
    const lines = text.split('\n');
    rest = n === 0 ? '' : lines.pop();
    for (const l of lines) {
      if (header) { header = false; continue; }
      const [t, v] = l.split(';', 2).map(Number);
      if (v === undefined) continue;
      rtt.push(v);
      if (t < first) first = t;
      if (t > last) last = t;
    }
    if (n === 0) break;
  }
  fs.closeSync(fd);
  rtt.sort((a, b) => a - b);
  return { rtt, rttSpan: rtt.length > 1 ? (last - first) / 1000 : null };
}

/** Per-message rows of sipp's final scenario screen: sent/received counts and retransmissions. */
function parseScreen(screen) {
  const first = screen.split('Statistics Screen')[0];
  const rows = [];
  for (const line of first.split('\n')) {
    const m = /^\s*(\S+)\s+(---------->|<----------)\s+(?:[BE]-RTD\d+\s+)?(\d+)\s+(\d+)(?:\s+(\d+))?(?:\s+(\d+))?/.exec(line);
    if (m) {
      rows.push({ msg: m[1], dir: m[2].startsWith('<') ? 'recv' : 'send', count: Number(m[3]), retrans: Number(m[4]),
        timeout: m[5] === undefined ? 0 : Number(m[5]), unexpected: m[6] === undefined ? 0 : Number(m[6]) });
    }
  }
  return rows;
}

function summarizeErrors(text) {
  // one entry per event: "<date>\t<time>\t<epoch>: <what happened>", often followed by a message
  // (sipp's note that -l leaves no file descriptors for media is not a call problem: no RTP here)
  const entries = text.split(/(?=\d{4}-\d\d-\d\d\t[\d:.]+\t[\d.]+: )/)
    .filter((e) => /^\d{4}-/.test(e) && !/Maximum number of open sockets .* to allow for media support/.test(e));
  const kinds = new Map();
  for (const e of entries) {
    const lines = e.split('\n');
    const head = lines[0].trim().replace(/^[^:]+:\d\d:[\d.]+\t[\d.]+: /, '').replace(/'[^']*@[^']*'/g, "'…'").replace(/call \S+@\S+/gi, 'call …').slice(0, 160);
    const cseq = lines.find((l) => /^CSeq:/i.test(l));
    const key = cseq ? `${head} [${cseq.trim()}]` : head;
    kinds.set(key, (kinds.get(key) || 0) + 1);
  }
  return { events: entries.length, kinds: [...kinds.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, n]) => `${n}x ${k}`) };
}

/**
 * Runs the UAC scenario against `target` and samples `procs` while it runs. sipp runs under
 * `sh -c` so its CPU time survives its exit (the shell's cutime/cstime once it has waited).
 */
async function runUac({ xml = UAC_XML, target, rate, calls, holdMs = 0, limit, timeoutSeconds, dir, procs = [], onSample, sampleMs = 250 }) {
  fs.mkdirSync(dir, { recursive: true });
  const files = {
    stat: path.join(dir, 'stat.csv'), screen: path.join(dir, 'screen.log'), errors: path.join(dir, 'errors.log'),
    shStat: path.join(dir, 'sipp-proc-stat.txt'),
  };
  let rttFreq = 1;
  for (const f of [100, 50, 25, 20, 10, 5, 4, 2]) if (calls % f === 0) { rttFreq = f; break; }
  const uacPort = await freeSippPort();
  const targetPort = Number(target.split(':')[1]);
  const targetDrops0 = udpDrops(targetPort);
  const rcvbuf0 = udpRcvbufErrors();
  let sippDrops = null;
  const args = [target, '-sf', xml, ...(await loopbackArgs({ rtp: true })), '-p', String(uacPort), '-mp', String(await freeSippPort()),
    '-r', String(rate), '-m', String(calls), '-l', String(limit || Math.max(1000, Math.ceil(rate * (holdMs / 1000 + 5)))),
    '-d', String(holdMs), '-timer_resol', '1', '-timeout', `${Math.ceil(timeoutSeconds)}s`, '-nostdin', '-buff_size', '4194304',
    '-trace_stat', '-stf', files.stat, '-fd', '1', '-trace_rtt', '-rtt_freq', String(rttFreq),
    '-trace_screen', '-screen_file', files.screen, '-trace_err', '-error_file', files.errors];
  const script = '"$@"; rc=$?; cat /proc/$$/stat > "$BENCH_SH_STAT"; exit $rc';
  const started = Date.now();
  const sys0 = systemCpu();
  const sipp = spawnSipp(args, {
    via: ['sh', '-c', script, 'sh'], cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, BENCH_SH_STAT: files.shStat }, keep: 20000,
  });
  const child = track(sipp.child, 'sipp uac');
  const { exited } = sipp;
  let done = false;
  let exit;
  exited.then((e) => { done = true; exit = e; });

  // hard guard: sipp has -timeout, this is in case it does not honour it
  const guard = setTimeout(() => {
    for (const p of childrenOf(child.pid)) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
    try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
  }, (timeoutSeconds + 20) * 1000);

  let sippPid = null;
  const peakRss = new Map(procs.map((p) => [p.pid, 0]));
  let sippHwm = 0;
  let sippPeakRss = 0;
  while (!done) {
    if (!sippPid) [sippPid] = childrenOf(child.pid);
    for (const p of procs) {
      const s = procSample(p.pid);
      if (s && s.rssKb > peakRss.get(p.pid)) peakRss.set(p.pid, s.rssKb);
    }
    if (sippPid) {
      const s = procSample(sippPid);
      if (s) { sippHwm = Math.max(sippHwm, s.hwmKb || 0); sippPeakRss = Math.max(sippPeakRss, s.rssKb || 0); }
    }
    const d = udpDrops(uacPort);
    if (d !== null) sippDrops = d;
    if (onSample) await onSample((Date.now() - started) / 1000, sippPid);
    await Promise.race([sleep(sampleMs), exited]);
  }
  clearTimeout(guard);
  const wall = (Date.now() - started) / 1000;
  const targetDrops1 = udpDrops(targetPort);
  const rcvbuf1 = udpRcvbufErrors();
  const sys1 = systemCpu();

  const csv = parseCsv(readIf(files.stat));
  const screen = readIf(files.screen);
  const rows = parseScreen(screen);
  const rttFile = fs.readdirSync(dir).find((f) => f.endsWith('_rtt.csv'));
  const { rtt, rttSpan } = rttFile ? readRtt(path.join(dir, rttFile)) : { rtt: [], rttSpan: null };
  const shStat = readIf(files.shStat);
  let sippTicks = null;
  if (shStat) {
    const f = shStat.slice(shStat.lastIndexOf(')') + 2).split(' ');
    sippTicks = Number(f[13]) + Number(f[14]);
  }
  const n = (k) => (csv[k] === undefined || csv[k] === '' ? 0 : Number(csv[k]));
  const failReasons = {};
  for (const [k, v] of Object.entries(csv)) {
    if (/^Failed.*\(C\)$/.test(k) && k !== 'FailedCall(C)' && Number(v) > 0) failReasons[k.replace('(C)', '')] = Number(v);
  }
  const sentRetrans = n('Retransmissions(C)');
  const recvRetrans = rows.filter((r) => r.dir === 'recv').reduce((a, r) => a + r.retrans, 0);
  const attempted = n('TotalCallCreated');
  return {
    rate, planned: calls, holdMs, args: [SIPP, ...args], dir, exit, stderr: sipp.stderr().trim().slice(-2000), wall,
    attempted, completed: n('SuccessfulCall(C)'), failed: n('FailedCall(C)'), failReasons,
    retransSent: sentRetrans, retransReceived: recvRetrans, retrans: sentRetrans + recvRetrans,
    outOfCall: n('OutOfCallMsgs(C)'), deadCall: n('DeadCallMsgs(C)'), fatal: n('FatalErrors(C)'),
    watchdog: { major: n('WatchdogMajor(C)'), minor: n('WatchdogMinor(C)') },
    achievedRate: rttSpan && rtt.length > 1 ? (rtt.length - 1) / rttSpan : Number(csv['CallRate(C)']) || null,
    rtd: { samples: rtt.length, rttFreq, p50: percentile(rtt, 50), p99: percentile(rtt, 99), max: rtt.length ? rtt[rtt.length - 1] : null },
    messages: rows,
    errors: summarizeErrors(readIf(files.errors)),
    sipp: { pid: sippPid, cpuSeconds: sippTicks === null ? null : sippTicks / CLK_TCK, peakRssKb: sippHwm || sippPeakRss },
    peakRssSampledKb: Object.fromEntries(peakRss),
    systemBusySeconds: (sys1.busy - sys0.busy) / CLK_TCK,
    udp: { targetDrops: targetDrops0 === null || targetDrops1 === null ? null : targetDrops1 - targetDrops0, sippDrops,
      machineRcvbufErrors: rcvbuf0 === null || rcvbuf1 === null ? null : rcvbuf1 - rcvbuf0 },
  };
}

// ---------------------------------------------------------------------------------------------
// load steps

function isClean(r) {
  return r.failed === 0 && r.completed === r.planned && r.attempted === r.planned
    && r.retrans / Math.max(1, r.attempted) < 0.001 && (r.appErrors || 0) === 0;
}

/** One rate step: procs are the long-lived processes ({name, pid}); sipp is measured by runUac. */
async function loadStep({ xml, target, rate, opts, procs, app, dir }) {
  const calls = Math.min(Math.round(rate * opts.seconds), opts.maxCalls);
  const before = new Map();
  const threadsBefore = new Map();
  const hwmReset = new Map();
  for (const p of procs) {
    hwmReset.set(p.pid, resetHwm(p.pid));
    before.set(p.pid, procSample(p.pid));
    threadsBefore.set(p.pid, threadSample(p.pid));
  }
  const stats0 = app ? await app.query('stats') : null;
  if (app && opts.allocProfile) await app.query('alloc-start');
  log(`step ${rate} calls/s: ${calls} calls`);
  const r = await runUac({ xml, target, rate, calls, holdMs: opts.holdMs, timeoutSeconds: calls / rate + opts.holdMs / 1000 + 20, dir, procs });
  // let the last BYEs and dialog teardowns finish before reading CPU
  let stats1 = app ? await app.query('stats') : null;
  for (let i = 0; app && i < 20 && stats1 && stats1.active > 0; i++) { await sleep(250); stats1 = await app.query('stats'); }
  await sleep(300);
  r.processes = [];
  let ourTicks = 0;
  for (const p of procs) {
    const b = before.get(p.pid);
    const a = procSample(p.pid);
    if (!a || !b) { r.processes.push({ name: p.name, pid: p.pid, died: true }); continue; }
    ourTicks += a.ticks - b.ticks;
    r.processes.push({
      name: p.name, pid: p.pid, cpuSeconds: (a.ticks - b.ticks) / CLK_TCK,
      peakRssKb: hwmReset.get(p.pid) ? a.hwmKb : Math.max(r.peakRssSampledKb[p.pid] || 0, a.rssKb),
      peakFrom: hwmReset.get(p.pid) ? 'VmHWM (reset at step start)' : 'VmRSS sampled every 250 ms',
      rssAfterKb: a.rssKb, threads: a.threads,
      perThread: threadsPerCall(threadsBefore.get(p.pid), threadSample(p.pid), r.completed),
    });
  }
  if (app && opts.allocProfile) {
    // after the CPU readings: summing the profile up is the app's work, not the calls'
    const s = await app.query('alloc-stop', 60000);
    const perCall = (bytes) => (r.completed ? bytes / r.completed : null);
    r.alloc = s && s.alloc ? { bytesPerCall: perCall(s.alloc.bytes), top: s.alloc.top.map(([site, bytes]) => [site, perCall(bytes)]) }
      : { error: (s && s.allocError) || 'no answer from the app' };
  }
  r.processes.push({ name: 'sipp uac', pid: r.sipp.pid, cpuSeconds: r.sipp.cpuSeconds, peakRssKb: r.sipp.peakRssKb, peakFrom: 'VmHWM sampled every 250 ms' });
  ourTicks += (r.sipp.cpuSeconds || 0) * CLK_TCK;
  r.otherCpuSeconds = Math.max(0, r.systemBusySeconds - ourTicks / CLK_TCK);
  for (const p of r.processes) p.cpuPer1k = p.cpuSeconds == null || !r.completed ? null : (p.cpuSeconds / r.completed) * 1000;
  if (app) {
    const d = (k) => (stats1 && stats0 ? stats1[k] - stats0[k] : null);
    r.app = { invites: d('invites'), answered: d('answered'), ended: d('ended'), endedBeforeResolved: d('endedBeforeResolved'), failed: d('failed'), srfErrors: d('srfErrors'),
      activeAfter: stats1 ? stats1.active : null, leftOpen: d('active'), lastError: stats1 ? stats1.lastError : null, alive: app.alive };
    r.appErrors = (r.app.failed || 0) + (r.app.srfErrors || 0) + (r.app.leftOpen || 0) + (app.alive ? 0 : 1);
    r.gc = gcPerCall(stats0, stats1, r.completed);
  }
  for (const p of procs) {
    if (p.alive !== false) continue;
    r.appErrors = (r.appErrors || 0) + 1;
    const entry = r.processes.find((x) => x.pid === p.pid) || {};
    entry.died = true;
    entry.exit = { code: p.child.exitCode, signal: p.child.signalCode };
    entry.stderrTail = (typeof p.stderr === 'function' ? p.stderr() : p.stderr || '').slice(-3000);
  }
  r.clean = isClean(r);
  return r;
}

const fmt = (v, d = 2) => (v === null || v === undefined || Number.isNaN(v) ? '-' : Number(v).toFixed(d));
const ms = (v) => (v === null || v === undefined ? '-' : v === 0 ? '<1' : String(v));
const mb = (kb) => (kb ? (kb / 1024).toFixed(1) : '-');

/** Where each process's CPU went, by thread (proc.js threadSample), per completed call. */
function threadTable(steps) {
  const rows = [];
  for (const s of steps) {
    for (const p of s.processes) {
      const t = p.perThread;
      if (!t) continue;
      const cell = (role) => `${fmt(t[role].cpuMs, 3)} (${fmt(t[role].switches, 2)})`;
      rows.push(`| ${s.rate} | ${p.name} | ${cell('main')} | ${cell('engine')} | ${cell('other')} |`);
    }
  }
  if (!rows.length) return '';
  return ['CPU ms per call by thread (voluntary context switches per call):', '',
    '| rate | process | main (JS) thread | engine thread (drachtio-rs) | other threads (GC, libuv pool) |', '|---|---|---|---|---|', ...rows].join('\n');
}

/** The app's GC pauses during a step (bench/apps/common.js gcPauses), per 1,000 calls. */
function gcPerCall(stats0, stats1, calls) {
  if (!stats0 || !stats1 || !stats0.gc || !stats1.gc || !calls) return null;
  const per = (kind) => ({
    per1k: ((stats1.gc[kind].count - stats0.gc[kind].count) / calls) * 1000,
    msPer1k: ((stats1.gc[kind].ms - stats0.gc[kind].ms) / calls) * 1000,
  });
  return { minor: per('minor'), major: per('major') };
}

/** The app's GC pauses per 1,000 calls, step by step (gcPerCall). */
function gcTable(steps) {
  const rows = steps.filter((s) => s.gc).map((s) => `| ${s.rate} | ${fmt(s.gc.minor.per1k, 1)} | ${fmt(s.gc.minor.msPer1k, 1)} | ${fmt(s.gc.major.per1k, 1)} | ${fmt(s.gc.major.msPer1k, 1)} |`);
  if (!rows.length) return '';
  return ['Garbage-collection pauses of the app\'s JS thread, per 1,000 calls:', '',
    '| rate | scavenges | scavenge ms | mark-compact and steps | their ms |', '|---|---|---|---|---|', ...rows].join('\n');
}

/** What --alloc-profile found: JS heap allocated per call, and by whom. */
function allocTable(steps) {
  const rows = steps.filter((s) => s.alloc).map((s) => (s.alloc.error ? `| ${s.rate} | - | ${s.alloc.error} |`
    : `| ${s.rate} | ${fmt(s.alloc.bytesPerCall / 1000, 1)} | ${s.alloc.top.map(([site, b]) => `${site}: ${fmt(b, 0)}`).join('; ')} |`));
  if (!rows.length) return '';
  return ['JS heap allocated per call (V8 sampling allocation profile, collected objects included):', '',
    '| rate | KB per call | most allocated by (bytes per call) |', '|---|---|---|', ...rows].join('\n');
}

function loadTable(steps) {
  const names = [];
  for (const s of steps) for (const p of s.processes) if (!names.includes(p.name)) names.push(p.name);
  const head = ['rate', 'achieved', 'calls', 'completed', 'failed', 'retrans', 'INVITE→200 p50/p99 ms',
    ...names.map((n) => `CPU s/1k calls: ${n}`), ...names.map((n) => `peak RSS MB: ${n}`), 'clean'];
  const rows = steps.map((s) => {
    const by = (n) => s.processes.find((p) => p.name === n) || {};
    return [s.rate, fmt(s.achievedRate, 0), s.attempted, s.completed, s.failed,
      `${s.retrans}${s.retrans ? ` (${s.retransSent} sent, ${s.retransReceived} recv)` : ''}`,
      `${ms(s.rtd.p50)} / ${ms(s.rtd.p99)}`,
      ...names.map((n) => (by(n).died ? 'died' : fmt(by(n).cpuPer1k, 3))), ...names.map((n) => mb(by(n).peakRssKb)),
      s.clean ? 'yes' : 'no'];
  });
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function problems(s) {
  const out = [];
  if (s.failed) out.push(`${s.failed} failed (${Object.entries(s.failReasons).map(([k, v]) => `${k} ${v}`).join(', ') || 'no reason in csv'})`);
  if (s.attempted !== s.planned) out.push(`${s.attempted}/${s.planned} calls placed`);
  if (s.completed + s.failed < s.attempted) out.push(`${s.attempted - s.completed - s.failed} calls unfinished when sipp stopped`);
  if (s.retrans) out.push(`retransmissions: ${s.messages.filter((m) => m.retrans).map((m) => `${m.msg} ${m.dir} ${m.retrans}`).join(', ')}`);
  const to = s.messages.filter((m) => m.timeout);
  if (to.length) out.push(`timeouts: ${to.map((m) => `${m.msg} ${m.timeout}`).join(', ')}`);
  const un = s.messages.filter((m) => m.unexpected);
  if (un.length) out.push(`unexpected: ${un.map((m) => `${m.msg} ${m.unexpected}`).join(', ')}`);
  if (s.outOfCall || s.deadCall) out.push(`out-of-call ${s.outOfCall}, dead-call ${s.deadCall}`);
  if (s.udp && (s.udp.targetDrops || s.udp.sippDrops || s.udp.machineRcvbufErrors)) {
    out.push(`UDP datagrams dropped by the kernel (receive buffer full): ${s.udp.targetDrops ?? '-'} at the UAS socket, ${s.udp.sippDrops ?? '-'} at sipp's, ${s.udp.machineRcvbufErrors ?? '-'} machine-wide`);
  }
  if (s.watchdog.major || s.watchdog.minor) out.push(`sipp watchdog major ${s.watchdog.major} minor ${s.watchdog.minor} (sipp itself starved)`);
  if (s.app && (s.app.failed || s.app.srfErrors || s.app.leftOpen)) out.push(`app: ${s.app.failed} createUAS failures, ${s.app.srfErrors} srf errors, ${s.app.leftOpen} dialogs of this step never got 'destroy' (${s.app.activeAfter} open in all)${s.app.lastError ? `, last error: ${s.app.lastError}` : ''}`);
  if (s.app && !s.app.alive) out.push('app process died');
  for (const p of s.processes) {
    if (p.died) out.push(`${p.name} (pid ${p.pid}) died${p.exit ? ` (exit code ${p.exit.code}, signal ${p.exit.signal})` : ''}${p.stderrTail ? `; its stderr ends: ${JSON.stringify(p.stderrTail.slice(-600))}` : ''}`);
  }
  if (s.errors.events) out.push(`sipp error log, ${s.errors.events} events: ${s.errors.kinds.join(' | ')}`);
  if (s.achievedRate && s.achievedRate < 0.9 * s.rate) out.push(`sipp placed ${fmt(s.achievedRate, 0)} calls/s of ${s.rate}`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// scenarios

async function setup(scenario, lifetime, traceRoot, totalCalls, opts = {}) {
  if (scenario === 'ha-embedded') return setupHa(opts.processes || 1, lifetime);
  if (scenario === 'embedded' || scenario === 'memory-embedded' || scenario === 'soak-embedded') {
    const app = await App.start('embedded.js', [], { lifetimeSeconds: lifetime });
    return { target: app.info.sip, procs: [app], app, info: { app: app.info }, stop: () => app.stop() };
  }
  if (scenario === 'sipp-uas') {
    const uas = await startSippUas(totalCalls, lifetime, traceRoot);
    return { target: uas.sip, procs: [uas], app: null, info: { uas: uas.args.join(' ') }, stop: () => uas.stop() };
  }
  if (scenario === 'b2bua-embedded') {
    const uas = await startSippUas(totalCalls, lifetime, traceRoot);
    const app = await App.start('b2bua.js', ['--uas', uas.sip], { lifetimeSeconds: lifetime }).catch(async (err) => { await uas.stop(); throw err; });
    return { target: app.info.sip, procs: [app, uas], app, info: { app: app.info, uas: uas.args.join(' ') }, stop: async () => { await app.stop(); await uas.stop(); } };
  }
  if (scenario === 'proxy-direct') {
    const uas = await startSippUas(totalCalls, lifetime, traceRoot, UAS_RR_XML);
    return { target: uas.sip, procs: [uas], app: null, info: { uas: uas.args.join(' ') }, stop: () => uas.stop() };
  }
  if (scenario === 'proxy-embedded') {
    const uas = await startSippUas(totalCalls, lifetime, traceRoot, UAS_RR_XML);
    const app = await App.start('proxy.js', ['--uas', uas.sip], { lifetimeSeconds: lifetime }).catch(async (err) => { await uas.stop(); throw err; });
    return { target: app.info.sip, procs: [app, uas], app, info: { app: app.info, uas: uas.args.join(' ') }, stop: async () => { await app.stop(); await uas.stop(); } };
  }
  const proxy = scenario.startsWith('proxy-');
  const uas = proxy ? await startSippUas(totalCalls, lifetime, traceRoot, UAS_RR_XML) : null;
  const serve = await startServe(lifetime + 10);
  const control = ['--host', serve.control.host, '--port', String(serve.control.port), '--secret', SECRET];
  const [file, args] = proxy
    ? ['proxy.js', [...control, '--uas', uas.sip, ...(scenario === 'proxy-serve-drachtio-srf' ? ['--library', 'drachtio-srf'] : [])]]
    : [scenario === 'serve-ours' ? 'serve-ours.js' : 'serve-drachtio-srf.js', control];
  let app;
  try {
    app = await App.start(file, args, { lifetimeSeconds: lifetime });
  } catch (err) {
    await serve.stop();
    if (uas) await uas.stop();
    throw err;
  }
  await sleep(300); // the app's route registration reaches serve
  return {
    target: serve.sip, procs: uas ? [app, serve, uas] : [app, serve], app, info: { app: app.info, serve: serve.control, uas: uas && uas.args.join(' ') },
    stop: async () => { await app.stop(); await serve.stop(); if (uas) await uas.stop(); }, serve,
  };
}

/** N embedded apps sharing Redis, behind kamailio; sipp calls kamailio. */
async function setupHa(n, lifetime) {
  const { startRedis } = require('../scripts/redis.js');
  const { startKamailio } = require('../scripts/kamailio.js');
  const redis = await startRedis();
  const apps = [];
  const stop = async () => {
    for (const a of apps) await a.stop();
    if (lb) await lb.stop();
    await redis.stop();
  };
  let lb = null;
  try {
    for (let i = 0; i < n; i++) {
      const port = await freePort();
      apps.push(await App.start('embedded.js', ['--port', String(port), '--redis', redis.url], { lifetimeSeconds: lifetime, name: `app${i + 1}` }));
    }
    // Memory and workers for load (the defaults suit the tests): transactions live in shm.
    lb = await startKamailio({ targets: apps.map((a) => a.info.sip), shmMb: 512, pkgMb: 16, workers: 4 });
  } catch (err) {
    await stop();
    throw err;
  }
  return { target: lb.sip, procs: apps, app: null, info: { apps: apps.map((a) => a.info), kamailio: lb.sip }, stop };
}

function environment() {
  const cpu = os.cpus();
  let commit = null;
  try { commit = require('node:child_process').execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim(); } catch { /* no git */ }
  return { date: new Date().toISOString(), node: process.version, sipp: sippVersion(), cpus: cpu.length, cpu: cpu[0] && cpu[0].model,
    kernel: os.release(), commit, loadavg: os.loadavg(), addon: addonStamp() };
}

/** The native addon in lib/: its mtime, size and hash. */
function addonStamp() {
  const file = fs.readdirSync(path.join(ROOT, 'lib')).find((f) => f.endsWith('.node'));
  if (!file) return null;
  const full = path.join(ROOT, 'lib', file);
  const st = fs.statSync(full);
  const hash = require('node:crypto').createHash('sha256').update(fs.readFileSync(full)).digest('hex').slice(0, 12);
  return { file: path.relative(ROOT, full), mtime: st.mtime.toISOString(), size: st.size, sha256: hash };
}

/**
 * Rebuilding the addon in place while a process has it mapped crashes that process (SIGILL or
 * SIGSEGV). The apps and serve therefore load a private copy, through the napi-rs loader's
 * NAPI_RS_NATIVE_LIBRARY_PATH override; the copy is removed when we exit.
 */
function snapshotAddon() {
  if (process.env.NAPI_RS_NATIVE_LIBRARY_PATH) return { path: process.env.NAPI_RS_NATIVE_LIBRARY_PATH, own: false };
  for (let i = 0; i < 5; i++) {
    const before = addonStamp();
    if (!before) return null;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-addon-'));
    const copy = path.join(dir, path.basename(before.file));
    fs.copyFileSync(path.join(ROOT, before.file), copy);
    const after = addonStamp();
    const hash = require('node:crypto').createHash('sha256').update(fs.readFileSync(copy)).digest('hex').slice(0, 12);
    if (after && after.sha256 === before.sha256 && hash === before.sha256) {
      process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
      return { path: copy, own: true, ...before };
    }
    fs.rmSync(dir, { recursive: true, force: true });
    require('node:child_process').execFileSync('sleep', ['2']); // being rebuilt: try again
  }
  throw new Error('lib/*.node kept changing while it was copied; try again when the build is done');
}

async function runLoad(opts, env) {
  const explicit = !!opts.rates;
  const rates = opts.rates || DEFAULT_RATES.slice();
  const traceRoot = fs.mkdtempSync(path.join(os.tmpdir(), `bench-${opts.scenario}-`));
  const lifetime = Math.ceil(opts.maxMinutes * 60) + 30;
  const budgetEnd = Date.now() + opts.maxMinutes * 60 * 1000;
  const totalCalls = (explicit ? rates : [...rates, ...Array.from({ length: 20 }, (_, i) => 6000 + i * 1000)])
    .reduce((a, r) => a + Math.min(Math.round(r * opts.seconds), opts.maxCalls), opts.warmUp.calls + 1000);
  const s = await setup(opts.scenario, lifetime, traceRoot, totalCalls, opts);
  log(`${opts.scenario}: target ${s.target}; sipp traces in ${traceRoot}`);
  const steps = [];
  try {
    // warm-up: JIT, pools, first allocations (not reported)
    const warmUp = opts.warmUp;
    if (warmUp.calls > 0) {
      const warm = await runUac({ target: s.target, rate: warmUp.rate, calls: warmUp.calls, timeoutSeconds: warmUp.calls / warmUp.rate + 20, dir: path.join(traceRoot, 'warmup') });
      if (warm.completed !== warmUp.calls) log(`warm-up (not reported): ${warm.completed}/${warmUp.calls} calls completed: ${problems({ ...warm, processes: [] }).join('; ')}`);
    }
    for (let i = 0; i < rates.length; i++) {
      const rate = rates[i];
      const stepSeconds = Math.min(Math.round(rate * opts.seconds), opts.maxCalls) / rate + opts.holdMs / 1000 + 25;
      if (Date.now() + stepSeconds * 1000 > budgetEnd) { log(`stopping before ${rate} calls/s: --max-minutes budget`); break; }
      const dir = path.join(traceRoot, `rate-${rate}`);
      const r = await loadStep({ target: s.target, rate, opts, procs: s.procs, app: s.app, dir });
      r.problems = problems(r);
      steps.push(r);
      log(`  ${r.completed}/${r.planned} completed, ${r.failed} failed, ${r.retrans} retrans, p50/p99 ${ms(r.rtd.p50)}/${ms(r.rtd.p99)} ms, ${r.clean ? 'clean' : `NOT clean: ${r.problems.join('; ')}`}`);
      if (r.clean && !opts.keepTraces) fs.rmSync(dir, { recursive: true, force: true });
      if (s.procs.some((p) => p.alive === false)) { log('a process died; stopping'); break; }
      if (!explicit) {
        if (!r.clean && !opts.keepGoing) break;
        if (i === rates.length - 1 && r.clean && rate + 1000 <= opts.maxRate) rates.push(rate + 1000);
      }
      await sleep(1500);
    }
  } finally {
    s.stopResult = await s.stop();
  }
  const clean = steps.filter((r) => r.clean).map((r) => r.rate);
  const result = { scenario: opts.scenario, description: SCENARIOS[opts.scenario], env, setup: s.info,
    command: `node bench/load.js ${process.argv.slice(2).join(' ')}`, options: { ...opts, maxCalls: Number.isFinite(opts.maxCalls) ? opts.maxCalls : null },
    headline: { highestCleanRate: clean.length ? Math.max(...clean) : null }, steps, traces: traceRoot };
  const md = [`### ${opts.scenario}: ${SCENARIOS[opts.scenario]}`, '',
    `\`${result.command}\` — ${env.date}, commit ${env.commit} (addon ${env.addon && env.addon.sha256}), ${env.cpus} × ${env.cpu}, node ${env.node}, ${env.sipp}; ${opts.seconds} s a step, hold ${opts.holdMs} ms, warm-up ${opts.warmUp.calls} calls at ${opts.warmUp.rate}/s`, '',
    loadTable(steps), '',
    `**Highest clean rate: ${result.headline.highestCleanRate === null ? 'none' : `${result.headline.highestCleanRate} calls/s`}** (clean: every call completed, none failed, retransmissions < 0.1% of calls, no app errors, no dialog left open)`];
  const split = threadTable(steps);
  if (split) md.push('', split);
  const gc = gcTable(steps);
  if (gc) md.push('', gc);
  const alloc = allocTable(steps);
  if (alloc) md.push('', alloc);
  const notes = steps.filter((r) => r.problems.length).map((r) => `- ${r.rate} calls/s: ${r.problems.join('; ')}`);
  const busy = steps.filter((r) => r.otherCpuSeconds > 0.5).map((r) => `${r.rate}: ${fmt(r.otherCpuSeconds, 1)} s`);
  if (busy.length) notes.push(`- CPU used by processes outside this benchmark during the step (it competes for the same cores): ${busy.join(', ')}`);
  if (notes.length) md.push('', ...notes);
  if (steps.some((r) => !r.clean)) md.push('', `sipp traces of the steps that were not clean: ${traceRoot}`);
  else if (!opts.keepTraces) fs.rmSync(traceRoot, { recursive: true, force: true });
  return { result, md: md.join('\n') };
}

async function runMemory(opts, env) {
  const N = opts.concurrent;
  const rate = opts.rate || 1000;
  const rounds = Math.max(1, Math.round(opts.rounds));
  const traceRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-memory-'));
  const rampSeconds = N / rate;
  const holdMs = Math.ceil(rampSeconds * 1000 + opts.plateauSeconds * 1000);
  const roundSeconds = rampSeconds + holdMs / 1000 + opts.settleSeconds + 15;
  const total = rounds * roundSeconds + 30;
  if (total > opts.maxMinutes * 60) throw new Error(`memory run needs ~${Math.ceil(total)} s, over --max-minutes ${opts.maxMinutes}; raise --rate or --max-minutes, or lower --rounds`);
  const s = await setup('memory-embedded', Math.ceil(opts.maxMinutes * 60) + 30, traceRoot);
  const app = s.app;
  const out = [];
  let baseline;
  const rss = () => { const p = procSample(app.pid); return p ? p.rssKb : null; };
  try {
    await runUac({ target: s.target, rate: 500, calls: 1000, timeoutSeconds: 20, dir: path.join(traceRoot, 'warmup') });
    await sleep(1000);
    const b = await app.query('gc');
    await sleep(1000);
    baseline = { rssKb: rss(), heapUsed: b.memory.heapUsed, heapTotal: b.memory.heapTotal, external: b.memory.external };
    log(`memory: baseline RSS ${mb(baseline.rssKb)} MB; ${rounds} round(s) of ${N} calls at ${rate}/s, each held ${holdMs} ms`);
    for (let round = 1; round <= rounds; round++) {
      const startKb = round === 1 ? baseline.rssKb : out[out.length - 1].afterGc.rssKb;
      const samples = [];
      const settle = [];
      let plateau = null;
      let querying = false;
      const r = await runUac({
        target: s.target, rate, calls: N, holdMs, limit: N + 10, timeoutSeconds: roundSeconds, dir: path.join(traceRoot, `hold-${round}`), procs: [app], sampleMs: 500,
        onSample: async (t) => {
          if (querying) return;
          querying = true;
          const st = await app.query('stats', 3000);
          const now = rss();
          querying = false;
          if (!st || !now) return;
          samples.push({ t: Number(t.toFixed(2)), rssKb: now, active: st.active, heapUsed: st.memory.heapUsed });
          if (!plateau && st.active >= N) {
            await sleep(300);
            const raw = rss();
            const g = await app.query('gc', 5000);
            await sleep(500);
            plateau = { t, active: g ? g.active : null, rssKb: raw, rssAfterGcKb: rss(), heapUsed: g && g.memory.heapUsed, heapTotal: g && g.memory.heapTotal, external: g && g.memory.external };
            log(`memory: round ${round}: plateau at ${fmt(t, 1)} s: ${plateau.active} active, RSS ${mb(raw)} MB (${mb(plateau.rssAfterGcKb)} MB after gc)`);
          }
        },
      });
      let st = await app.query('stats');
      for (let i = 0; i < 40 && st && st.active > 0; i++) { await sleep(250); st = await app.query('stats'); }
      await sleep(2000);
      const a = await app.query('stats');
      const after = { rssKb: rss(), heapUsed: a.memory.heapUsed, active: a.active };
      // Completed transactions are kept for 64*T1 = 32 s (RFC 3261 timers J and H/I): wait that
      // out, sampling, before the last measurement.
      log(`memory: round ${round}: calls ended, RSS ${mb(after.rssKb)} MB; settling ${opts.settleSeconds} s`);
      const settleStart = Date.now();
      while (Date.now() - settleStart < opts.settleSeconds * 1000) {
        await sleep(2000);
        const st2 = await app.query('stats');
        settle.push({ t: Number(((Date.now() - settleStart) / 1000).toFixed(1)), rssKb: rss(), heapUsed: st2 && st2.memory.heapUsed });
      }
      const g = await app.query('gc');
      await sleep(2000);
      const afterGc = { rssKb: rss(), heapUsed: g.memory.heapUsed, heapTotal: g.memory.heapTotal, external: g.memory.external, arrayBuffers: g.memory.arrayBuffers, active: g.active };
      const grown = plateau ? plateau.rssAfterGcKb - baseline.rssKb : null;
      out.push({
        round, startRssKb: startKb, plateau, after, afterGc,
        roundGrowthPerCallBytes: plateau ? ((plateau.rssAfterGcKb - startKb) * 1024) / N : null,
        rssPerCallBytes: plateau ? ((plateau.rssKb - baseline.rssKb) * 1024) / N : null,
        rssPerCallAfterGcBytes: plateau ? ((plateau.rssAfterGcKb - baseline.rssKb) * 1024) / N : null,
        heapPerCallBytes: plateau ? (plateau.heapUsed - baseline.heapUsed) / N : null,
        retainedAfterFraction: grown ? (afterGc.rssKb - baseline.rssKb) / grown : null,
        sipp: { attempted: r.attempted, completed: r.completed, failed: r.failed, retrans: r.retrans, failReasons: r.failReasons, messages: r.messages, errors: r.errors, peakRssKb: r.sipp.peakRssKb, cpuSeconds: r.sipp.cpuSeconds, rtd: r.rtd, args: r.args },
        problems: problems({ ...r, processes: [], app: { ...a, alive: app.alive, activeAfter: afterGc.active, leftOpen: afterGc.active } }),
        app: { ...g, memory: undefined }, samples, settle,
      });
      if (!app.alive) break;
    }
  } finally {
    await s.stop();
  }
  const result = {
    scenario: 'memory-embedded', description: SCENARIOS['memory-embedded'], env, command: `node bench/load.js ${process.argv.slice(2).join(' ')}`,
    concurrent: N, rate, holdMs, settleSeconds: opts.settleSeconds, baseline, rounds: out, traces: traceRoot,
  };
  const md = [`### memory-embedded: ${N} concurrent calls${rounds > 1 ? `, ${rounds} rounds` : ''}`, '',
    `\`${result.command}\` — ${env.date}, commit ${env.commit} (addon ${env.addon && env.addon.sha256}); ${rate} calls/s, each held ${holdMs} ms (ACK→BYE)`, '',
    '| | app RSS MB | V8 heapUsed MB | dialogs active |', '|---|---|---|---|',
    `| baseline (after warm-up, gc) | ${mb(baseline.rssKb)} | ${fmt(baseline.heapUsed / 1048576, 1)} | 0 |`];
  for (const x of out) {
    const tag = rounds > 1 ? `round ${x.round}: ` : '';
    md.push(x.plateau ? `| ${tag}plateau, ${x.plateau.active} calls up | ${mb(x.plateau.rssKb)} (${mb(x.plateau.rssAfterGcKb)} after gc) | ${fmt(x.plateau.heapUsed / 1048576, 1)} | ${x.plateau.active} |` : `| ${tag}plateau | never reached | | |`,
      `| ${tag}all calls ended (2 s) | ${mb(x.after.rssKb)} | ${fmt(x.after.heapUsed / 1048576, 1)} | ${x.after.active} |`,
      `| ${tag}${opts.settleSeconds} s later, after gc | ${mb(x.afterGc.rssKb)} | ${fmt(x.afterGc.heapUsed / 1048576, 1)} | ${x.afterGc.active} |`);
  }
  md.push('');
  for (const x of out) {
    const tag = rounds > 1 ? `Round ${x.round}: ` : '';
    md.push(`${tag}RSS per established call **${fmt(x.rssPerCallAfterGcBytes / 1024, 2)} KiB** after gc over the baseline (${fmt(x.rssPerCallBytes / 1024, 2)} KiB raw; V8 heap ${fmt(x.heapPerCallBytes / 1024, 2)} KiB of it)${x.round > 1 ? `, ${fmt(x.roundGrowthPerCallBytes / 1024, 2)} KiB over the RSS the round started from` : ''}; `
      + `${opts.settleSeconds} s after the calls ended, ${x.retainedAfterFraction === null ? '-' : `${fmt(x.retainedAfterFraction * 100, 0)}%`} of the growth was still resident. `
      + `sipp: ${x.sipp.attempted} calls, ${x.sipp.completed} completed, ${x.sipp.failed} failed, ${x.sipp.retrans} retransmissions, INVITE→200 p50/p99 ${ms(x.sipp.rtd.p50)}/${ms(x.sipp.rtd.p99)} ms, sipp peak RSS ${mb(x.sipp.peakRssKb)} MB.`);
    md.push(`${tag}V8 heapTotal (heap pages V8 keeps): ${fmt(baseline.heapTotal / 1048576, 1)} MB at baseline, ${x.plateau ? fmt(x.plateau.heapTotal / 1048576, 1) : '-'} MB at the plateau, ${fmt(x.afterGc.heapTotal / 1048576, 1)} MB at the end. `
      + `RSS after the calls ended (s: MB): ${x.settle.map((y) => `${fmt(y.t, 0)}: ${mb(y.rssKb)}`).join(', ')}.`);
    if (x.problems.length) md.push(...x.problems.map((q) => `- ${q}`));
  }
  if (out.some((x) => x.problems.length)) md.push('', `sipp traces: ${traceRoot}`);
  else fs.rmSync(traceRoot, { recursive: true, force: true });
  return { result, md: md.join('\n') };
}

async function runSoak(opts, env) {
  const rate = opts.rate || 500;
  const seconds = opts.soakMinutes * 60;
  const calls = Math.round(rate * seconds);
  if (seconds + 60 > opts.maxMinutes * 60) throw new Error(`soak of ${opts.soakMinutes} min is over --max-minutes ${opts.maxMinutes}; raise --max-minutes`);
  const traceRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-soak-'));
  const s = await setup('soak-embedded', Math.ceil(opts.maxMinutes * 60) + 30, traceRoot);
  const app = s.app;
  const samples = [];
  let r;
  let lastT = -Infinity;
  let end;
  const before = procSample(app.pid);
  try {
    log(`soak: ${calls} calls at ${rate}/s (${opts.soakMinutes} min), RSS every ${opts.sampleSeconds} s`);
    r = await runUac({
      target: s.target, rate, calls, holdMs: opts.holdMs, timeoutSeconds: seconds + opts.holdMs / 1000 + 30, dir: path.join(traceRoot, 'soak'), procs: [app], sampleMs: 500,
      onSample: async (t, sippPid) => {
        if (t - lastT < opts.sampleSeconds) return;
        lastT = t;
        const st = await app.query('stats', 3000);
        const ps = procSample(app.pid);
        const ss = sippPid ? procSample(sippPid) : null;
        if (ps) samples.push({ t: Number(t.toFixed(1)), rssKb: ps.rssKb, heapUsed: st && st.memory.heapUsed, active: st && st.active, sippRssKb: ss && ss.rssKb });
      },
    });
    await sleep(2000);
    const g = await app.query('gc');
    await sleep(1000);
    end = { rssKb: procSample(app.pid).rssKb, heapUsed: g.memory.heapUsed, active: g.active, cpuSeconds: (procSample(app.pid).ticks - before.ticks) / CLK_TCK, stats: { ...g, memory: undefined } };
  } finally {
    await s.stop();
  }
  // slope after the first 20% of the run or 45 s, whichever is later: start-up growth, and the
  // 32 s for which completed transactions are kept, are not a leak
  const skip = Math.min(Math.max(0.2 * seconds, 45), 0.5 * seconds);
  const tail = samples.filter((x) => x.t >= skip);
  const slopeKbPerMin = linearSlope(tail.map((x) => [x.t / 60, x.rssKb]));
  const heapSlope = linearSlope(tail.filter((x) => x.heapUsed).map((x) => [x.t / 60, x.heapUsed / 1024]));
  const result = { scenario: 'soak-embedded', description: SCENARIOS['soak-embedded'], env, command: `node bench/load.js ${process.argv.slice(2).join(' ')}`,
    rate, minutes: opts.soakMinutes, holdMs: opts.holdMs, slopeFromSeconds: skip, slopeKbPerMin, heapSlopeKbPerMin: heapSlope, end,
    sipp: { attempted: r.attempted, completed: r.completed, failed: r.failed, retrans: r.retrans, failReasons: r.failReasons, messages: r.messages, errors: r.errors, rtd: r.rtd, cpuSeconds: r.sipp.cpuSeconds, peakRssKb: r.sipp.peakRssKb, achievedRate: r.achievedRate },
    samples, traces: traceRoot };
  const first = samples[0];
  const last = samples[samples.length - 1];
  const md = [`### soak-embedded: ${opts.soakMinutes} min at ${rate} calls/s`, '',
    `\`${result.command}\` — ${env.date}, commit ${env.commit}`, '',
    '| calls | completed | failed | retrans | p50/p99 ms | app CPU s/1k calls | app RSS MB first → last | RSS slope | heapUsed slope | RSS after, gc |',
    '|---|---|---|---|---|---|---|---|---|---|',
    `| ${r.attempted} | ${r.completed} | ${r.failed} | ${r.retrans} | ${ms(r.rtd.p50)}/${ms(r.rtd.p99)} | ${fmt((end.cpuSeconds / Math.max(1, r.completed)) * 1000, 3)} | ${mb(first && first.rssKb)} → ${mb(last && last.rssKb)} | ${fmt(slopeKbPerMin, 0)} KiB/min | ${fmt(heapSlope, 0)} KiB/min | ${mb(end.rssKb)} |`,
    '', `Slopes are least-squares fits of the samples from ${fmt(skip, 0)} s on (every ${opts.sampleSeconds} s). RSS samples (s: MB): ${samples.map((x) => `${fmt(x.t, 0)}: ${mb(x.rssKb)}`).join(', ')}`];
  const p = problems({ ...r, processes: [], app: null });
  if (p.length) md.push('', ...p.map((x) => `- ${x}`), '', `sipp traces: ${traceRoot}`);
  else fs.rmSync(traceRoot, { recursive: true, force: true });
  return { result, md: md.join('\n') };
}

/**
 * overload-embedded: the app spends --busy-ms of CPU on every INVITE, so at high rates it cannot
 * keep up; the engine must shed what it cannot hand over (503 + Retry-After) and keep the calls
 * it accepts fast. One step per rate (default 5000), with the 503-tolerant UAC scenario.
 */
async function runOverload(opts, env) {
  const rates = opts.rates || [5000];
  const traceRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-overload-'));
  const lifetime = Math.ceil(opts.maxMinutes * 60) + 30;
  const args = ['--busy-ms', String(opts.busyMs), ...(opts.maxPending ? ['--max-pending', String(opts.maxPending)] : [])];
  const app = await App.start('embedded.js', args, { lifetimeSeconds: lifetime });
  const steps = [];
  try {
    await runUac({ xml: OVERLOAD_XML, target: app.info.sip, rate: 200, calls: 400, timeoutSeconds: 20, dir: path.join(traceRoot, 'warmup') });
    for (const rate of rates) {
      log(`overload: app busy ${opts.busyMs} ms per INVITE`);
      const r = await loadStep({ xml: OVERLOAD_XML, target: app.info.sip, rate, opts, procs: [app], app, dir: path.join(traceRoot, `rate-${rate}`) });
      const row = (msg, dir) => r.messages.find((m) => m.msg === msg && m.dir === dir) || { count: 0, retrans: 0 };
      const measured = r.processes.find((p) => p.pid === app.pid) || {};
      steps.push({
        rate, offered: r.attempted, completed: r.completed, failed: r.failed, failReasons: r.failReasons,
        answered: row('200', 'recv').count, shed: row('503', 'recv').count, trying: row('100', 'recv').count,
        inviteRetrans: row('INVITE', 'send').retrans, byeRetrans: row('BYE', 'send').retrans, retrans: r.retrans,
        rtd: r.rtd, app: r.app, appCpuSeconds: measured.cpuSeconds, appPeakRssKb: measured.peakRssKb, alive: app.alive, problems: problems(r),
      });
      const st = steps[steps.length - 1];
      log(`  ${st.answered} answered, ${st.shed} shed with 503, ${st.failed} failed; answered p50/p99 ${ms(st.rtd.p50)}/${ms(st.rtd.p99)} ms`);
      if (!app.alive) break;
      await sleep(1500);
    }
  } finally {
    await app.stop();
  }
  const result = { scenario: 'overload-embedded', description: SCENARIOS['overload-embedded'], env, command: `node bench/load.js ${process.argv.slice(2).join(' ')}`,
    options: { busyMs: opts.busyMs, maxPending: opts.maxPending, seconds: opts.seconds }, steps, traces: traceRoot };
  const md = [`### overload-embedded: app busy ${opts.busyMs} ms per INVITE, maxPendingRequests ${opts.maxPending || 'default (2000)'}`, '',
    `\`${result.command}\` — ${env.date}, commit ${env.commit}`, '',
    '| rate | offered | answered 200 | shed 503 | failed | answered INVITE→200 p50/p99 ms | INVITE / BYE retrans | app CPU s | app peak RSS MB | app alive |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...steps.map((x) => `| ${x.rate} | ${x.offered} | ${x.answered} | ${x.shed} | ${x.failed} | ${ms(x.rtd.p50)}/${ms(x.rtd.p99)} | ${x.inviteRetrans} / ${x.byeRetrans} | ${fmt(x.appCpuSeconds, 1)} | ${mb(x.appPeakRssKb)} | ${x.alive ? 'yes' : 'no'} |`)];
  const notes = steps.filter((x) => x.problems.length).map((x) => `- ${x.rate} calls/s: ${x.problems.join('; ')}`);
  if (notes.length) md.push('', ...notes, '', `sipp traces: ${traceRoot}`);
  else if (!opts.keepTraces) fs.rmSync(traceRoot, { recursive: true, force: true });
  return { result, md: md.join('\n') };
}

// ---------------------------------------------------------------------------------------------

async function main() {
  let opts;
  try { opts = parseArgs(process.argv.slice(2)); } catch (err) {
    process.stderr.write(`${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (opts.help || !opts.scenario) { process.stdout.write(USAGE); return opts.help ? 0 : 2; }
  if (!SCENARIOS[opts.scenario]) { process.stderr.write(`unknown scenario ${opts.scenario}\n\n${USAGE}`); return 2; }
  // the whole invocation is bounded too
  const hard = setTimeout(() => { log(`--max-minutes ${opts.maxMinutes} reached: killing everything`); killAll('SIGKILL'); process.exit(124); }, opts.maxMinutes * 60 * 1000 + 30000);
  hard.unref();
  const env = environment();
  if (opts.scenario !== 'sipp-uas') {
    const snap = snapshotAddon();
    if (snap) {
      process.env.NAPI_RS_NATIVE_LIBRARY_PATH = snap.path;
      env.addonLoadedFrom = snap.own ? `private copy of ${snap.file}` : snap.path;
      if (snap.own) env.addon = { file: snap.file, mtime: snap.mtime, size: snap.size, sha256: snap.sha256 };
    }
  }
  let out;
  if (opts.scenario === 'memory-embedded') out = await runMemory(opts, env);
  else if (opts.scenario === 'soak-embedded') out = await runSoak(opts, env);
  else if (opts.scenario === 'overload-embedded') out = await runOverload(opts, env);
  else out = await runLoad(opts, env);
  const addonAfter = addonStamp();
  if (env.addon && addonAfter && addonAfter.sha256 !== env.addon.sha256) {
    out.result.addonChanged = addonAfter;
    out.md += `\n\n(${env.addon.file} was rebuilt during this run, at ${addonAfter.mtime}; the processes ran the copy taken at the start, ${env.addon.sha256}.)`;
  }
  fs.mkdirSync(OUT, { recursive: true });
  const stamp = env.date.replace(/[:.]/g, '-');
  const jsonFile = opts.json || path.join(OUT, `${opts.scenario}-${stamp}.json`);
  fs.mkdirSync(path.dirname(jsonFile), { recursive: true });
  fs.writeFileSync(jsonFile, `${JSON.stringify(out.result, null, 2)}\n`);
  fs.writeFileSync(jsonFile.replace(/\.json$/, '') + '.md', `${out.md}\n`);
  process.stdout.write(`${out.md}\n\nJSON: ${path.relative(process.cwd(), jsonFile) || jsonFile}\n`);
  return 0;
}

main().then((code) => { process.exitCode = code; }, (err) => {
  process.stderr.write(`load: ${err.stack || err}\n`);
  killAll('SIGKILL');
  process.exitCode = 1;
});
