'use strict';
// What a benchmark reads of a process from /proc (Linux): CPU ticks and memory, shared by
// bench/load.js and bench/transports.js.
const fs = require('node:fs');

const CLK_TCK = 100; // USER_HZ on Linux; /proc/<pid>/stat counts in these

/** utime+stime (and children's) in ticks, VmRSS and VmHWM in kB; null once the process is gone. */
function procSample(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => { const m = new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status); return m ? Number(m[1]) : null; };
    return { ticks: Number(f[11]) + Number(f[12]), childTicks: Number(f[13]) + Number(f[14]), rssKb: kb('VmRSS'), hwmKb: kb('VmHWM'), threads: Number(f[17]) };
  } catch {
    return null;
  }
}

module.exports = { CLK_TCK, procSample };
