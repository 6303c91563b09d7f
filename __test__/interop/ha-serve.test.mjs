// High availability through `drachtio-rs serve` (seed 003): calls answered by app A, dialogs
// and their session data in Redis; A is killed (SIGKILL); the calls' next requests go to app B,
// which rebuilds each dialog from Redis (the 'sipdialog:restore' event, session intact) and
// answers the re-INVITE (with its own SDP) and the BYE. A B2BUA pair is rebuilt as a pair and
// both legs end. And with Redis down, calls still complete and the failed writes are counted.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { startServe } from '../helpers/serve.mjs';
import { SipPeer } from '../helpers/sip-peer.mjs';
import { requireSipp, runSipp, scenario } from '../helpers/sipp.mjs';
import { needTools, startHaApp } from '../helpers/ha.mjs';
import { embeddedSrf, Srf, waitFor } from '../helpers/embedded.mjs';

const require = createRequire(import.meta.url);
const { startRedis } = require('../../scripts/redis.js');
const SDP = 'v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 42000 RTP/AVP 0\r\n';

async function setup(t) {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const serve = await startServe();
  t.after(() => serve.stop());
  const args = ['--connect', `${serve.admin.host}:${serve.admin.port}`, '--redis', redis.url];
  return { redis, serve, args };
}

test('serve: 100 calls answered by app A, A killed, app B takes each over: re-INVITE answered with its SDP, session intact, BYE ends it', { timeout: 120000 }, async (t) => {
  if (!needTools(t)) return;
  const { serve, args } = await setup(t);
  const a = await startHaApp(t, args);
  const peer = await SipPeer.udp(serve.sip);
  t.after(() => peer.close());
  const calls = [];
  for (let i = 0; i < 100; i++) {
    const call = peer.call();
    peer.send(call.request('INVITE', { body: SDP }));
    const ok = await peer.expect((m) => m.callId === call.callId && m.status >= 200 && m.cseqMethod === 'INVITE');
    assert.equal(ok.status, 200);
    assert.match(ok.body, new RegExp(`o=ha ${a.pid} 1 `));
    call.toTag = ok.tag('to');
    peer.send(call.request('ACK', { uri: ok.contactUri }));
    calls.push({ call, ok });
  }
  await a.until((ev) => ev.filter((e) => e.event === 'create').length === 100);
  await new Promise((r) => setTimeout(r, 500)); // the last saves land in Redis
  const b = await startHaApp(t, args);
  await a.kill();
  // INFO and REFER on a rebuilt dialog are answered there too (the Dialog's default answers).
  for (const method of ['INFO', 'REFER']) {
    const { call, ok } = calls[calls.length - 1];
    const headers = method === 'REFER' ? { 'Refer-To': '<sip:elsewhere@127.0.0.1>' } : {};
    peer.send(call.request(method, { uri: ok.contactUri, headers }));
    const answer = await peer.expect((m) => m.callId === call.callId && m.status >= 200 && m.cseqMethod === method);
    assert.ok(answer.status < 300, `${method} on a rebuilt dialog: ${answer.start}`);
  }
  for (const { call, ok } of calls) {
    peer.send(call.request('INVITE', { uri: ok.contactUri, body: SDP.replace('1 1', '1 2') }));
    const re = await peer.expect((m) => m.callId === call.callId && m.status >= 200 && m.cseqMethod === 'INVITE' && m.get('cseq').split(' ')[0] !== '1');
    assert.equal(re.status, 200, re.start);
    assert.match(re.body, new RegExp(`o=ha ${b.pid} 2 `), 'answered by app B');
    peer.send(call.request('ACK', { uri: ok.contactUri }));
    peer.send(call.request('BYE', { uri: ok.contactUri }));
    const bye = await peer.expect((m) => m.callId === call.callId && m.status >= 200 && m.cseqMethod === 'BYE');
    assert.equal(bye.status, 200);
  }
  await b.until((ev) => ev.filter((e) => e.event === 'terminate').length === 100);
  const restored = b.events.filter((e) => e.event === 'restore');
  assert.equal(restored.length, 100);
  for (const r of restored) assert.deepEqual(r.session, { user: 'DaveH', createdBy: a.pid }, 'session data made by A');
  assert.equal(b.count('reinvite'), 100);
  assert.equal(b.count('create'), 0, 'B created nothing: it took over');
});

test('serve: a sipp call established via app A, A killed, the re-INVITE and BYE are answered by app B', { timeout: 60000 }, async (t) => {
  if (!needTools(t) || !requireSipp(t)) return;
  const { serve, args } = await setup(t);
  const a = await startHaApp(t, args);
  const [host, port] = [serve.sip.slice(0, serve.sip.lastIndexOf(':')), serve.sip.slice(serve.sip.lastIndexOf(':') + 1)];
  const sipp = runSipp(['-sf', scenario('ha-uac-takeover.xml'), '-m', '1', '-i', '127.0.0.1', `${host}:${port}`], { timeoutMs: 30000 });
  await a.until((ev) => ev.some((e) => e.event === 'create'));
  const b = await startHaApp(t, args);
  await a.kill();
  const r = await sipp;
  assert.equal(r.code, 0, r.summary());
  assert.equal(r.stats.successful, 1, r.summary());
  await b.until((ev) => ev.some((e) => e.event === 'terminate'));
  assert.equal(b.count('restore'), 1);
});

test('serve: a B2BUA pair made by app A is rebuilt as a pair by app B; the caller\'s BYE ends both legs', { timeout: 60000 }, async (t) => {
  if (!needTools(t)) return;
  const { serve, args: base } = await setup(t);
  // The far end of the B legs: it answers what serve sends it.
  const callee = await SipPeer.udp(serve.sip);
  t.after(() => callee.close());
  const args = [...base, '--b2bua', `sip:callee@127.0.0.1:${callee.port}`];
  const a = await startHaApp(t, args);
  const caller = await SipPeer.udp(serve.sip);
  t.after(() => caller.close());
  const CALLS = 10;
  const calls = [];
  for (let i = 0; i < CALLS; i++) {
    const call = caller.call();
    caller.send(call.request('INVITE', { body: SDP }));
    const bInvite = await callee.expect((m) => m.method === 'INVITE' && !m.tag('to'));
    callee.send(callee.response(bInvite, 200, { toTag: `callee${i}`, body: SDP }));
    await callee.expect((m) => m.method === 'ACK' && m.callId === bInvite.callId);
    const ok = await caller.expect((m) => m.callId === call.callId && m.status >= 200 && m.cseqMethod === 'INVITE');
    assert.equal(ok.status, 200);
    call.toTag = ok.tag('to');
    caller.send(call.request('ACK', { uri: ok.contactUri }));
    calls.push({ call, ok, bCallId: bInvite.callId });
  }
  await a.until((ev) => ev.filter((e) => e.event === 'create').length === 2 * CALLS);
  await new Promise((r) => setTimeout(r, 500));
  const b = await startHaApp(t, args);
  await a.kill();
  for (const { call, ok, bCallId } of calls) {
    caller.send(call.request('BYE', { uri: ok.contactUri }));
    const bye = await caller.expect((m) => m.callId === call.callId && m.status >= 200 && m.cseqMethod === 'BYE');
    assert.equal(bye.status, 200);
    // B ends the other leg: the BYE reaches the callee over the leg A set up.
    const bBye = await callee.expect((m) => m.method === 'BYE' && m.callId === bCallId);
    callee.send(callee.response(bBye, 200));
  }
  await b.until((ev) => ev.filter((e) => e.event === 'terminate').length === 2 * CALLS);
  const restored = b.events.filter((e) => e.event === 'restore');
  assert.equal(restored.length, 2 * CALLS, 'both legs of each pair');
  assert.ok(restored.every((r) => r.other), 'each rebuilt leg knows its partner');
});

test('Redis down: calls still complete, failed writes are counted, and writes resume when it is back', { timeout: 60000 }, async (t) => {
  if (!needTools(t)) return;
  const redis = await startRedis();
  t.after(() => redis.stop());
  const store = new Srf.RedisStore({ url: redis.url });
  t.after(() => store.close());
  const app = await embeddedSrf({ setup: (srf) => {
    srf.sessionStore = store;
    srf.invite((req, res) => srf.createUAS(req, res, { localSdp: SDP }).catch(() => {}));
  } });
  t.after(() => app.srf.disconnect());
  const peer = await SipPeer.udp(app.addr);
  t.after(() => peer.close());
  const call = async () => {
    const { ok } = await peer.fullCall({ sdp: SDP, ready: () => new Promise((r) => setTimeout(r, 50)) });
    return ok;
  };
  await call();
  const before = (await app.srf.stats()).sessionStore;
  assert.equal(before.failedWrites, 0);
  await redis.pause();
  for (let i = 0; i < 5; i++) await call();
  // Each call's save fails once its write is refused, which can be after the call ended.
  let down;
  await waitFor(async () => (down = (await app.srf.stats()).sessionStore).failedWrites >= 5, 5000).catch(() => {});
  assert.ok(down.failedWrites >= 5, JSON.stringify(down));
  await redis.resume();
  // The client reconnects by itself; then a new call's dialog is in Redis again.
  let stored = null;
  for (let i = 0; i < 50 && !stored; i++) {
    const c = peer.call();
    peer.send(c.request('INVITE', { body: SDP }));
    const ok = await peer.expect((m) => m.callId === c.callId && m.status >= 200 && m.cseqMethod === 'INVITE');
    c.toTag = ok.tag('to');
    peer.send(c.request('ACK', { uri: ok.contactUri }));
    await new Promise((r) => setTimeout(r, 100));
    stored = await store.get(`${c.callId};from-tag=${c.fromTag}`).catch(() => null);
    peer.send(c.request('BYE', { uri: ok.contactUri }));
    await peer.expect((m) => m.callId === c.callId && m.status >= 200 && m.cseqMethod === 'BYE');
  }
  assert.ok(stored, 'a dialog saved once Redis is back');
  assert.equal(stored.session && typeof stored.session, 'object');
});
