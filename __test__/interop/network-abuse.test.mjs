// Bad input over real sockets against `drachtio-rs serve` while sipp puts good calls through
// it: a flood of TCP connections from one address, slow senders, truncated and oversized TCP
// messages, garbage, an oversized UDP datagram, and a flood of unauthenticated admin
// connections. serve must stay up, every good call must complete, each bad input must get a
// closed connection (or be dropped), and serve's memory must come back to its level.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import dgram from 'node:dgram';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { waitFor } from '../helpers/embedded.mjs';
import { startServe } from '../helpers/serve.mjs';
import { freePort, requireSipp, runSipp } from '../helpers/sipp.mjs';

const require = createRequire(import.meta.url);
const Srf = require('../../index.js');
const { install } = require('../../examples/uas-app.js');

const MESSAGE_TIMEOUT_MS = 1500; // serve's --tcp-message-timeout for this test
const PER_ADDRESS = 256; // SIP TCP connections one address may open (src/engine/transport.rs)
const UNAUTHENTICATED_PER_ADDRESS = 16; // on the admin port (src/server/mod.rs)

const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

function options(callId, host, port) {
  return [`OPTIONS sip:svc@${host}:${port};transport=tcp SIP/2.0`, `Via: SIP/2.0/TCP 127.0.0.2:5999;rport;branch=z9hG4bK-${callId}`,
    'From: <sip:probe@127.0.0.2>;tag=p1', `To: <sip:svc@${host}:${port}>`, `Call-ID: ${callId}`, 'CSeq: 1 OPTIONS',
    'Max-Forwards: 70', 'Content-Length: 0', '', ''].join('\r\n');
}

/** Opens a TCP connection from `localAddress`; resolves with it and a promise of its close time. */
function connect(port, localAddress, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const opened = Date.now();
    const s = net.connect({ host, port, localAddress });
    s.on('error', () => {});
    const closed = new Promise((r) => s.once('close', () => r(Date.now() - opened)));
    s.once('connect', () => resolve({ s, closed }));
    s.once('error', reject);
  });
}

/** Sends `text` one byte every `ms` until the connection closes; resolves with bytes sent. */
async function trickle(s, text, ms) {
  let i = 0;
  while (!s.destroyed && i < text.length) {
    s.write(text[i++]);
    await new Promise((r) => setTimeout(r, ms));
  }
  return i;
}

test('serve stays up and keeps calls going through floods, slow senders and bad TCP input', { timeout: 120000 }, async (t) => {
  if (!requireSipp(t)) return;
  const sipPort = await freePort();
  const serve = await startServe({ ports: { admin: 0, sip: sipPort },
    extra: ['--contact', `sip:127.0.0.1:${sipPort};transport=tcp`, '--tcp-message-timeout', String(MESSAGE_TIMEOUT_MS)] });
  const srf = new Srf();
  srf.on('error', () => {});
  let hungUp = 0;
  install(srf, (line) => { if (line === 'app: caller hung up') hungUp++; });
  srf.connect({ host: serve.admin.host, port: serve.admin.port, secret: 'cymru' });
  await once(srf, 'connect');
  const report = [];
  try {
    await new Promise((r) => setTimeout(r, 100)); // routes registered
    const warm = await runSipp(['-sn', 'uac', serve.sip, '-m', '200', '-r', '100', '-l', '200'], { timeoutMs: 20000 });
    assert.equal(warm.stats.successful, 200, warm.summary());
    const rssBefore = rssKb(serve.child.pid);

    // good calls for the whole time the abuse goes on
    const good = runSipp(['-sn', 'uac', serve.sip, '-m', '300', '-r', '25', '-l', '100', '-d', '200'], { timeoutMs: 40000 });

    // 1. a flood of connections from 127.0.0.1 that never send anything
    const flood = [];
    for (let i = 0; i < PER_ADDRESS + 150; i++) flood.push(await connect(sipPort, '127.0.0.1').catch(() => null));
    const closeTimes = await Promise.all(flood.filter(Boolean).map((c) => c.closed));
    const refusedAtOnce = closeTimes.filter((ms) => ms < MESSAGE_TIMEOUT_MS / 2).length;
    const timedOut = closeTimes.filter((ms) => ms >= MESSAGE_TIMEOUT_MS - 100).length;
    report.push(`flood: ${flood.length} connections from one address; ${refusedAtOnce} closed at once, ${timedOut} closed after the ${MESSAGE_TIMEOUT_MS} ms message timeout`);
    assert.ok(refusedAtOnce >= 150 - 5, `connections past ${PER_ADDRESS} per address are refused (${refusedAtOnce})`);
    assert.ok(timedOut <= PER_ADDRESS, `at most ${PER_ADDRESS} held (${timedOut})`);
    assert.equal(refusedAtOnce + timedOut, closeTimes.length, `every flood connection was closed: ${closeTimes.join(',')}`);

    // 2. while a flood from 127.0.0.1 holds its slots, another address still gets answers
    const holders = [];
    for (let i = 0; i < PER_ADDRESS; i++) holders.push(await connect(sipPort, '127.0.0.1'));
    const probe = await connect(sipPort, '127.0.0.2');
    probe.s.write(options('probe-during-flood', '127.0.0.1', sipPort));
    const [reply] = await once(probe.s, 'data');
    assert.match(reply.toString(), /^SIP\/2\.0 200 /, 'OPTIONS from another address answered during the flood');
    probe.s.destroy();
    report.push(`during a flood holding ${PER_ADDRESS} connections from 127.0.0.1, an OPTIONS over TCP from 127.0.0.2 got 200`);
    await Promise.all(holders.map((c) => c.closed));

    // 3. slow senders: an INVITE trickled a byte every 50 ms, from 20 connections at once
    const invite = options('slow', '127.0.0.1', sipPort).replace(/OPTIONS/g, 'INVITE');
    const slow = await Promise.all(Array.from({ length: 20 }, () => connect(sipPort, '127.0.0.3')));
    const sent = await Promise.all(slow.map((c) => trickle(c.s, invite, 50)));
    const slowClosed = await Promise.all(slow.map((c) => c.closed));
    assert.ok(slowClosed.every((ms) => ms < MESSAGE_TIMEOUT_MS + 1000), `slow senders closed in time: ${slowClosed}`);
    assert.ok(sent.every((n) => n < invite.length), 'no slow sender got its message through');
    report.push(`slow senders: 20 connections trickling an INVITE (1 byte / 50 ms) closed after ${Math.min(...slowClosed)}-${Math.max(...slowClosed)} ms, ${Math.max(...sent)} of ${invite.length} bytes sent`);

    // 4. a truncated message, then the peer goes away: nothing to answer, nothing held
    const cut = await connect(sipPort, '127.0.0.4');
    cut.s.end(invite.slice(0, 120));
    await cut.closed;

    // 5. an oversized message (over 64 KiB of headers, no end) and binary garbage: closed
    const big = await connect(sipPort, '127.0.0.4');
    big.s.write(`INVITE sip:svc@127.0.0.1 SIP/2.0\r\n${'X-Pad: '.concat('a'.repeat(1000), '\r\n').repeat(70)}`);
    const bigClosed = await big.closed;
    const junk = await connect(sipPort, '127.0.0.4');
    junk.s.write(Buffer.concat([Buffer.from(Array.from({ length: 2000 }, (_, i) => (i * 7919) % 256)), Buffer.from('\r\n\r\n')]));
    const junkClosed = await junk.closed;
    assert.ok(bigClosed < MESSAGE_TIMEOUT_MS && junkClosed < MESSAGE_TIMEOUT_MS, `oversized (${bigClosed} ms) and garbage (${junkClosed} ms) closed at once`);
    report.push(`oversized TCP message (70 KiB of headers) closed after ${bigClosed} ms; 2 KB of binary garbage closed after ${junkClosed} ms; a truncated INVITE then FIN: nothing answered`);

    // 6. an oversized UDP datagram: dropped, and the next good one is answered
    const udp = dgram.createSocket('udp4');
    await new Promise((r) => udp.bind(0, '127.0.0.1', r));
    udp.send(Buffer.alloc(65000, 0x41), sipPort, '127.0.0.1');
    udp.send(options('udp-after-big', '127.0.0.1', sipPort).replace(/TCP/g, 'UDP').replace(';transport=tcp', ''), sipPort, '127.0.0.1');
    const [udpReply] = await once(udp, 'message');
    assert.match(udpReply.toString(), /^SIP\/2\.0 200 /);
    udp.close();
    report.push('a 65,000-byte UDP datagram was dropped; the OPTIONS behind it got 200');

    // 7. unauthenticated admin connections from one address: past the limit, closed at once
    const admin = await Promise.all(Array.from({ length: UNAUTHENTICATED_PER_ADDRESS + 10 }, () => connect(serve.admin.port, '127.0.0.5')));
    const adminClosed = await Promise.race([
      Promise.all(admin.map((c) => c.closed)),
      new Promise((r) => setTimeout(() => r(null), 11000 + 2000)),
    ]);
    assert.ok(adminClosed, 'every unauthenticated admin connection is closed within the 10 s authentication limit');
    const adminAtOnce = adminClosed.filter((ms) => ms < 1000).length;
    assert.ok(adminAtOnce >= 10, `admin connections past ${UNAUTHENTICATED_PER_ADDRESS} unauthenticated per address closed at once (${adminAtOnce})`);
    report.push(`${admin.length} unauthenticated admin connections from one address: ${adminAtOnce} closed at once, the rest after the 10 s authentication limit; the connected app was not affected`);

    const calls = await good;
    assert.equal(calls.stats.successful, 300, calls.summary());
    await waitFor(() => hungUp >= 500, 5000);
    report.push(`good calls alongside: ${calls.stats.successful}/300 completed, ${calls.stats.failed || 0} failed`);

    // memory back to its level once the bad connections are gone
    await new Promise((r) => setTimeout(r, 1000));
    const rssAfter = rssKb(serve.child.pid);
    report.push(`serve RSS: ${(rssBefore / 1024).toFixed(1)} MB before, ${(rssAfter / 1024).toFixed(1)} MB after`);
    assert.ok(rssAfter < rssBefore + 16 * 1024, `serve RSS ${rssBefore} kB before, ${rssAfter} kB after`);
    assert.equal(serve.child.exitCode, null, 'serve is still running');
  } finally {
    for (const line of report) t.diagnostic(line);
    srf.disconnect();
    await serve.stop();
  }
});
