#!/usr/bin/env node
'use strict';
// Stream-transport benchmark: the embedded bench app (apps/embedded.js, createUAS + SDP) answers
// calls over TCP, TLS, WS or WSS at fixed rates, and we measure its CPU per call and the
// INVITE→200 time. Debian's sipp has no TLS or WebSocket, so the callers are ours: `--connections`
// persistent connections in this process, each carrying its share of the calls (INVITE, 200,
// ACK, BYE, 200). The same generator drives every transport, so the columns compare; only the app
// process's CPU is counted. Loopback only; every step is bounded by calls and time; the app is
// stopped by its PID.
//   node bench/transports.js [--transports tcp,tls,ws,wss] [--rates 500,1000,2000] [--seconds 5]
//                            [--connections 50] [--json out.json]
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const WebSocket = require('ws');
const { CLK_TCK, procSample } = require('./proc.js');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
};
const TRANSPORTS = arg('transports', 'tcp,tls,ws,wss').split(',');
const RATES = arg('rates', '500,1000,2000').split(',').map(Number);
const SECONDS = Number(arg('seconds', 5));
const CONNECTIONS = Number(arg('connections', 50));
const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n';

function makeCert() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srf-bench-pki-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', 'key.pem', '-out', 'cert.pem'], { cwd: dir, stdio: 'pipe' });
  return { dir, keyFile: path.join(dir, 'key.pem'), certFile: path.join(dir, 'cert.pem') };
}

function startApp(transport, pki) {
  const args = [path.join(__dirname, 'apps', 'embedded.js'), '--transport', transport, '--max-seconds', '600'];
  if (transport === 'tls' || transport === 'wss') args.push('--key-file', pki.keyFile, '--cert-file', pki.certFile);
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      const m = /ready (.*)\n/.exec(buf);
      if (m) resolve({ child, sip: JSON.parse(m[1]).sip });
    });
    child.on('exit', (code) => reject(new Error(`bench app exited with ${code}`)));
  });
}

/** One connection to the app; `send(text)` and an `onMessage(text)` per SIP message received. */
function connect(transport, hostport, onMessage) {
  const [host, port] = [hostport.slice(0, hostport.lastIndexOf(':')), Number(hostport.slice(hostport.lastIndexOf(':') + 1))];
  if (transport === 'ws' || transport === 'wss') {
    const ws = new WebSocket(`${transport}://${host}:${port}`, 'sip', { rejectUnauthorized: false });
    ws.on('message', (d) => onMessage(d.toString()));
    return new Promise((resolve, reject) => {
      ws.on('open', () => resolve({ send: (t) => ws.send(t), close: () => ws.close() }));
      ws.on('error', reject);
    });
  }
  const socket = transport === 'tls' ? tls.connect({ host, port, rejectUnauthorized: false }) : net.connect(port, host);
  socket.setNoDelay(true); // as the ws package does: no Nagle delay on the small ACK/BYE writes
  let buf = '';
  socket.setEncoding('utf8');
  socket.on('data', (d) => {
    buf += d;
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      const len = Number((/\r\ncontent-length:\s*(\d+)/i.exec(buf.slice(0, end)) || [0, 0])[1]);
      if (buf.length < end + 4 + len) return;
      onMessage(buf.slice(0, end + 4 + len));
      buf = buf.slice(end + 4 + len);
    }
  });
  return new Promise((resolve, reject) => {
    socket.once(transport === 'tls' ? 'secureConnect' : 'connect', () => resolve({ send: (t) => socket.write(t), close: () => socket.destroy() }));
    socket.once('error', reject);
  });
}

function request(method, transport, callId, cseq, toTag, body = '') {
  const via = transport.toUpperCase();
  return `${method} sip:svc@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/${via} bench.invalid;branch=z9hG4bK${callId}${cseq}${method}\r\n`
    + `From: <sip:bench@bench.invalid>;tag=${callId}\r\nTo: <sip:svc@127.0.0.1>${toTag ? `;tag=${toTag}` : ''}\r\n`
    + `Call-ID: ${callId}\r\nCSeq: ${cseq} ${method}\r\nMax-Forwards: 70\r\nContact: <sip:bench@bench.invalid;transport=${transport}>\r\n`
    + `${body ? 'Content-Type: application/sdp\r\n' : ''}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

async function step(transport, hostport, pid, rate) {
  const calls = new Map();
  const latencies = [];
  let done = 0;
  let failed = 0;
  const onMessage = (conn) => (text) => {
    const status = Number(text.slice(8, 11));
    const callId = (/\r\nCall-ID:\s*(\S+)/i.exec(text) || [])[1];
    const call = calls.get(callId);
    if (!call || !text.startsWith('SIP/2.0') || status < 200) return;
    if (/CSeq:\s*1 INVITE/i.test(text)) {
      if (status !== 200) { failed++; calls.delete(callId); return; }
      latencies.push(Number(process.hrtime.bigint() - call.start) / 1e6);
      const toTag = /\r\nTo:[^\r]*;tag=([^;\s>]+)/i.exec(text)[1];
      conn.send(request('ACK', transport, callId, 1, toTag));
      conn.send(request('BYE', transport, callId, 2, toTag));
    } else if (/CSeq:\s*2 BYE/i.test(text)) {
      calls.delete(callId);
      if (status === 200) done++; else failed++;
    }
  };
  const conns = [];
  for (let i = 0; i < CONNECTIONS; i++) {
    const holder = {};
    const c = await connect(transport, hostport, (t) => onMessage(holder.c)(t));
    holder.c = c;
    conns.push(c);
  }
  const total = rate * SECONDS;
  const cpu0 = procSample(pid).ticks;
  const t0 = Date.now();
  let sent = 0;
  await new Promise((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor(((Date.now() - t0) / 1000) * rate));
      for (; sent < due; sent++) {
        const callId = `b${rate}-${sent}-${t0}`;
        calls.set(callId, { start: process.hrtime.bigint() });
        conns[sent % conns.length].send(request('INVITE', transport, callId, 1, null, SDP));
      }
      if (sent >= total) { clearInterval(tick); resolve(); }
    }, 2);
  });
  const deadline = Date.now() + 10000;
  while (calls.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const seconds = (Date.now() - t0) / 1000;
  const cpu = (procSample(pid).ticks - cpu0) / CLK_TCK;
  conns.forEach((c) => c.close());
  latencies.sort((a, b) => a - b);
  const pct = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : NaN);
  return { transport, rate, calls: total, completed: done, failed, lost: calls.size, seconds: +seconds.toFixed(1),
    appCpuSeconds: +cpu.toFixed(2), msPerCall: +((cpu * 1000) / Math.max(done, 1)).toFixed(3), p50: +pct(0.5).toFixed(1), p99: +pct(0.99).toFixed(1) };
}

async function main() {
  const pki = makeCert();
  const rows = [];
  try {
    for (const transport of TRANSPORTS) {
      const { child, sip } = await startApp(transport, pki);
      try {
        for (const rate of RATES) {
          const r = await step(transport, sip, child.pid, rate);
          rows.push(r);
          process.stdout.write(`${JSON.stringify(r)}\n`);
          await new Promise((res) => setTimeout(res, 1000));
        }
      } finally {
        child.kill();
      }
    }
  } finally {
    fs.rmSync(pki.dir, { recursive: true, force: true });
  }
  console.log('\n| transport | calls/s | calls | completed | failed | lost | app CPU ms/call | INVITE→200 p50 / p99 ms |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.transport} | ${r.rate} | ${r.calls} | ${r.completed} | ${r.failed} | ${r.lost} | ${r.msPerCall} | ${r.p50} / ${r.p99} |`);
  if (arg('json')) fs.writeFileSync(arg('json'), JSON.stringify(rows, null, 2));
}

main().catch((err) => { console.error(err); process.exit(1); });
