#!/usr/bin/env node
'use strict';
// Draws the rate-vs-latency and rate-vs-CPU curves of load runs as SVG (no dependencies).
//   node bench/plot.js [--out-dir bench] bench/out/embedded-....json bench/out/sipp-uas-....json ...
// Each JSON is one `bench/load.js` load run; steps of several runs of the same scenario are
// merged (a later run's step replaces an earlier one at the same rate). Writes
// rate-latency.svg (INVITE→200 p99, and p50 dashed) and rate-cpu.svg (CPU ms per call of the
// system under test).
const fs = require('node:fs');
const path = require('node:path');

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

function load(files) {
  const byScenario = new Map();
  for (const f of files) {
    const r = JSON.parse(fs.readFileSync(f, 'utf8'));
    if (!Array.isArray(r.steps) || !r.steps.length || !r.steps[0].processes) continue; // not a load run
    const steps = byScenario.get(r.scenario) || new Map();
    for (const s of r.steps) steps.set(s.rate, s);
    byScenario.set(r.scenario, steps);
  }
  return [...byScenario].map(([scenario, steps]) => ({ scenario, steps: [...steps.values()].sort((a, b) => a.rate - b.rate) }));
}

/**
 * CPU ms per call of the system under test: every measured process but sipp's UAC, and but
 * sipp's UAS where it is the far end (b2bua) rather than what is measured (sipp-uas).
 */
function cpuMsPerCall(step, scenario) {
  const far = (name) => name === 'sipp uac' || (name === 'sipp uas' && scenario !== 'sipp-uas');
  return step.processes.filter((p) => !far(p.name) && p.cpuPer1k != null).reduce((a, p) => a + p.cpuPer1k, 0);
}

function niceMax(v) {
  const p = 10 ** Math.floor(Math.log10(v || 1));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((m) => m >= v) || v;
}

function chart({ title, yLabel, series, yMax }) {
  const W = 720;
  const H = 420;
  const m = { l: 64, r: 200, t: 40, b: 50 };
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const xMax = niceMax(Math.max(...xs, 1));
  const yTop = yMax || niceMax(Math.max(...series.flatMap((s) => s.points.map((p) => p[1])), 1));
  const X = (x) => m.l + (x / xMax) * (W - m.l - m.r);
  const Y = (y) => H - m.b - (Math.min(y, yTop) / yTop) * (H - m.t - m.b);
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - m.r / 2}" y="22" text-anchor="middle" font-size="15">${title}</text>`];
  for (let i = 0; i <= 5; i++) {
    const xv = (xMax / 5) * i;
    const yv = (yTop / 5) * i;
    out.push(`<line x1="${X(xv)}" y1="${Y(0)}" x2="${X(xv)}" y2="${Y(yTop)}" stroke="#eee"/>`,
      `<text x="${X(xv)}" y="${H - m.b + 18}" text-anchor="middle">${xv}</text>`,
      `<line x1="${X(0)}" y1="${Y(yv)}" x2="${X(xMax)}" y2="${Y(yv)}" stroke="#eee"/>`,
      `<text x="${X(0) - 8}" y="${Y(yv) + 4}" text-anchor="end">${+yv.toFixed(2)}</text>`);
  }
  out.push(`<line x1="${X(0)}" y1="${Y(0)}" x2="${X(xMax)}" y2="${Y(0)}" stroke="black"/>`,
    `<line x1="${X(0)}" y1="${Y(0)}" x2="${X(0)}" y2="${Y(yTop)}" stroke="black"/>`,
    `<text x="${(X(0) + X(xMax)) / 2}" y="${H - 12}" text-anchor="middle">calls per second offered</text>`,
    `<text transform="translate(16 ${(Y(0) + Y(yTop)) / 2}) rotate(-90)" text-anchor="middle">${yLabel}</text>`);
  series.forEach((s, i) => {
    const pts = s.points.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 4"' : ''} points="${pts}"/>`);
    for (const [x, y, clean] of s.points) {
      out.push(`<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="3.5" fill="${clean === false ? 'white' : s.color}" stroke="${s.color}"/>`);
    }
    out.push(`<line x1="${W - m.r + 16}" y1="${m.t + 10 + i * 20}" x2="${W - m.r + 40}" y2="${m.t + 10 + i * 20}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 4"' : ''}/>`,
      `<text x="${W - m.r + 46}" y="${m.t + 14 + i * 20}">${s.name}</text>`);
  });
  out.push(`<text x="${W - m.r + 16}" y="${m.t + 24 + series.length * 20}" fill="#555">open circle: step not clean</text>`, '</svg>');
  return `${out.join('\n')}\n`;
}

function main(argv) {
  let outDir = __dirname;
  const files = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out-dir') outDir = path.resolve(argv[++i]);
    else files.push(argv[i]);
  }
  const runs = load(files);
  if (!runs.length) {
    process.stderr.write('usage: node bench/plot.js [--out-dir DIR] <load run JSON files from bench/out/>\n');
    return 2;
  }
  const latency = [];
  const cpu = [];
  runs.forEach((r, i) => {
    const color = COLORS[i % COLORS.length];
    const p99 = r.steps.map((s) => [s.rate, s.rtd.p99 ?? 0, s.clean]);
    const p50 = r.steps.map((s) => [s.rate, s.rtd.p50 ?? 0, s.clean]);
    latency.push({ name: `${r.scenario} p99`, color, points: p99 }, { name: `${r.scenario} p50`, color, dashed: true, points: p50 });
    cpu.push({ name: r.scenario, color, points: r.steps.map((s) => [s.rate, cpuMsPerCall(s, r.scenario), s.clean]) });
  });
  fs.writeFileSync(path.join(outDir, 'rate-latency.svg'), chart({ title: 'INVITE→200 response time by call rate', yLabel: 'ms (sipp rtd)', series: latency }));
  fs.writeFileSync(path.join(outDir, 'rate-cpu.svg'), chart({ title: 'CPU per call by call rate', yLabel: 'CPU ms per call (system under test)', series: cpu }));
  process.stdout.write(`wrote ${path.join(outDir, 'rate-latency.svg')} and ${path.join(outDir, 'rate-cpu.svg')}\n`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
