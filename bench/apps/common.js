'use strict';
// What every bench app shares, so the three processes run the same code around different
// libraries: the UAS logic (answer each INVITE with 200 and an SDP answer through createUAS; the
// caller hangs up), a few counters, and a control channel on stdin.
//
// Control channel (one command a line on stdin, one JSON reply a line on stdout):
//   stats  -> {"stats": {...counters, memory, gc}}: gc = the JS thread's garbage-collection
//            pauses since start, {minor: {count, ms}, major: {count, ms}}
//   gc     -> runs global.gc() when node was started with --expose-gc, then replies like stats
//   alloc-start, alloc-stop -> V8's sampling allocation profiler; stop replies with
//            stats.alloc = {bytes, top} (bench/load.js --alloc-profile)
// The app exits when stdin closes (its parent went away) or after --max-seconds, whichever is
// first: nothing outlives the benchmark.
const inspector = require('node:inspector');
const path = require('node:path');
const { PerformanceObserver, constants: { NODE_PERFORMANCE_GC_MINOR } } = require('node:perf_hooks');

// Built once: the same bytes for every call and every library.
const SDP = [
  'v=0', 'o=- 1700000000 1 IN IP4 127.0.0.1', 's=drachtio-srf-rs bench', 'c=IN IP4 127.0.0.1', 't=0 0',
  'm=audio 40000 RTP/AVP 0 8 101', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000', 'a=sendrecv', '',
].join('\r\n');

function counters() {
  return { invites: 0, answered: 0, active: 0, peakActive: 0, ended: 0, endedBeforeResolved: 0, failed: 0, srfErrors: 0, lastError: null };
}

/** Keeps the JS thread busy for `ms`: an app that does real work per call (overload runs). */
function busy(ms) {
  const end = process.hrtime.bigint() + BigInt(Math.round(ms * 1e6));
  while (process.hrtime.bigint() < end);
}

/**
 * The app: identical for drachtio-srf and drachtio-srf-rs (both have createUAS → Promise<Dialog>).
 * `--busy-ms X` spends X ms of CPU on each INVITE before answering it.
 */
function installUas(srf, stats) {
  const busyMs = Number(arg('busy-ms', 0));
  srf.invite((req, res) => {
    stats.invites++;
    if (busyMs > 0) busy(busyMs);
    srf.createUAS(req, res, { localSdp: SDP }).then((dialog) => {
      stats.answered++;
      // Both libraries can handle a BYE that came right behind the ACK before this promise
      // resolves (the Dialog emits 'destroy' synchronously, before we could listen).
      if (dialog.connected === false) {
        stats.ended++;
        stats.endedBeforeResolved++;
        return;
      }
      trackDialog(stats, dialog);
    }, (err) => failed(stats, err));
  });
  watchErrors(srf, stats);
}

/** Counts an established call until its Dialog's 'destroy' (then runs `onEnd`). */
function trackDialog(stats, dialog, onEnd) {
  stats.active++;
  if (stats.active > stats.peakActive) stats.peakActive = stats.active;
  dialog.on('destroy', () => {
    if (onEnd) onEnd();
    stats.active--;
    stats.ended++;
  });
}

function failed(stats, err) {
  stats.failed++;
  stats.lastError = String((err && err.message) || err);
}

function watchErrors(srf, stats) {
  srf.on('error', (err) => {
    stats.srfErrors++;
    stats.lastError = `srf error: ${(err && err.message) || err}`;
  });
}

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
}

/**
 * V8's sampling allocation profiler (`alloc-start`, `alloc-stop`), counting the objects
 * already collected too: `stop` gives the bytes allocated in between and the functions that
 * allocated most (bench/load.js --alloc-profile).
 */
function allocProfiler() {
  let session = null;
  const post = (method, params) => new Promise((resolve, reject) => {
    session.post(method, params, (err, r) => (err ? reject(err) : resolve(r)));
  });
  return {
    async start() {
      if (session) return;
      session = new inspector.Session();
      session.connect();
      await post('HeapProfiler.startSampling', { samplingInterval: 4096,
        includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    },
    async stop(top = Number(process.env.BENCH_ALLOC_TOP) || 10) {
      if (!session) throw new Error('alloc-stop without alloc-start');
      const { profile } = await post('HeapProfiler.stopSampling');
      session.disconnect();
      session = null;
      const bySite = new Map();
      let bytes = 0;
      const root = path.join(__dirname, '..', '..');
      // A builtin (no script, such as `split`) is named with the function that called it.
      const walk = (node, caller) => {
        const { functionName, url, lineNumber } = node.callFrame;
        const file = url ? path.relative(root, url.replace(/^file:\/\//, '')) : '';
        const own = `${functionName || '(anonymous)'}${file ? ` ${file}:${lineNumber + 1}` : ''}`;
        const site = file || !caller ? own : `${own} in ${caller}`;
        if (node.selfSize) {
          bySite.set(site, (bySite.get(site) || 0) + node.selfSize);
          bytes += node.selfSize;
        }
        for (const child of node.children) walk(child, file ? own : caller);
      };
      walk(profile.head, null);
      return { bytes, top: [...bySite].sort((a, b) => b[1] - a[1]).slice(0, top) };
    },
  };
}

/**
 * The JS thread's garbage-collection pauses, counted from now: scavenges (minor) apart from the
 * rest (mark-compact and its incremental steps), each {count, ms} (bench/load.js's GC table).
 */
function gcPauses() {
  const totals = { minor: { count: 0, ms: 0 }, major: { count: 0, ms: 0 } };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const t = e.detail.kind === NODE_PERFORMANCE_GC_MINOR ? totals.minor : totals.major;
      t.count++;
      t.ms += e.duration;
    }
  }).observe({ entryTypes: ['gc'] });
  return totals;
}

/** Reads commands on stdin; exits on EOF and after --max-seconds (default 900). */
function controlChannel(stats) {
  const gc = gcPauses();
  const reply = (extra) => {
    const m = process.memoryUsage();
    process.stdout.write(`${JSON.stringify({ stats: { ...stats, ...extra, gc, memory: { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers } } })}\n`);
  };
  const profiler = allocProfiler();
  const fail = (err) => reply({ allocError: err.message });
  let buf = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) !== -1) {
      const cmd = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (cmd === 'gc' && typeof global.gc === 'function') global.gc();
      if (cmd === 'stats' || cmd === 'gc') reply();
      if (cmd === 'alloc-start') profiler.start().then(() => reply(), fail);
      if (cmd === 'alloc-stop') profiler.stop().then((alloc) => reply({ alloc }), fail);
    }
  });
  process.stdin.on('end', () => process.exit(0));
  const maxSeconds = Number(arg('max-seconds', 900));
  setTimeout(() => {
    process.stderr.write(`bench app: --max-seconds ${maxSeconds} reached, exiting\n`);
    process.exit(3);
  }, maxSeconds * 1000).unref();
}

/** The ready line bench/load.js waits for: `ready <json>`. */
function ready(info) {
  process.stdout.write(`ready ${JSON.stringify(info)}\n`);
}

module.exports = { SDP, counters, installUas, trackDialog, failed, watchErrors, arg, controlChannel, ready };
