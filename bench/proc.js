'use strict';
// What a benchmark reads of a process from /proc (Linux): CPU ticks and memory, shared by
// bench/load.js and bench/transports.js.
const fs = require('node:fs');

const CLK_TCK = 100; // USER_HZ on Linux; /proc/<pid>/stat counts in these

/**
 * A /proc stat line (of a process or a thread): its name and the fields after it, numbered
 * from 0 = state (so utime is 11, stime 12).
 */
function readStat(file) {
  const stat = fs.readFileSync(file, 'utf8');
  return { name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), f: stat.slice(stat.lastIndexOf(')') + 2).split(' ') };
}

/** utime+stime (and children's) in ticks, VmRSS and VmHWM in kB; null once the process is gone. */
function procSample(pid) {
  try {
    const { f } = readStat(`/proc/${pid}/stat`);
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => { const m = new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status); return m ? Number(m[1]) : null; };
    return { ticks: Number(f[11]) + Number(f[12]), childTicks: Number(f[13]) + Number(f[14]), rssKb: kb('VmRSS'), hwmKb: kb('VmHWM'), threads: Number(f[17]) };
  } catch {
    return null;
  }
}

/**
 * The threads of `pid` by role, each {ticks, switches} (CPU ticks, voluntary context switches):
 * `main` (the process's first thread: Node's JS thread), `engine` (our runtime's thread, named
 * drachtio-rs) and `other` (V8's GC helpers, libuv's pool, anything else). Null once gone.
 */
function threadSample(pid) {
  const roles = { main: { ticks: 0, switches: 0 }, engine: { ticks: 0, switches: 0 }, other: { ticks: 0, switches: 0 } };
  let tids;
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return null;
  }
  for (const tid of tids) {
    try {
      const { name, f } = readStat(`/proc/${pid}/task/${tid}/stat`);
      const m = /^voluntary_ctxt_switches:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'));
      const role = roles[tid === String(pid) ? 'main' : name === 'drachtio-rs' ? 'engine' : 'other'];
      role.ticks += Number(f[11]) + Number(f[12]);
      role.switches += m ? Number(m[1]) : 0;
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return roles;
}

/** What each role of `threadSample` did between two samples, per call: CPU ms and switches. */
function threadsPerCall(before, after, calls) {
  if (!before || !after || !calls) return null;
  const out = {};
  for (const role of Object.keys(after)) {
    out[role] = { cpuMs: ((after[role].ticks - before[role].ticks) * 1000) / CLK_TCK / calls, switches: (after[role].switches - before[role].switches) / calls };
  }
  return out;
}

module.exports = { CLK_TCK, procSample, threadSample, threadsPerCall };
