// High availability with the embedded engine (seed 003, issue #19): three app processes, each
// with its own engine and Redis as their shared session store, behind kamailio's dispatcher
// (examples/ha/kamailio.cfg: round robin, OPTIONS probing, record-route). Calls are spread over
// the three; one process is SIGKILLed; the dispatcher takes it out, and the re-INVITE and BYE
// of each call it held, record-routed through kamailio, land on a survivor, whose engine hands
// them to its app: the app rebuilds the dialog from Redis ('sipdialog:restore', session data
// intact), the engine adopts it, and both requests are answered there.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { SipPeer } from '../helpers/sip-peer.mjs';
import { freePort } from '../helpers/sipp.mjs';
import { needTools, startHaApp } from '../helpers/ha.mjs';

const require = createRequire(import.meta.url);
const { startRedis } = require('../../scripts/redis.js');
const { startKamailio } = require('../../scripts/kamailio.js');
const SDP = 'v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 42000 RTP/AVP 0\r\n';

const waitUntil = async (cond, ms, what) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`not in time: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

test('kamailio + 3 embedded-engine processes + Redis: the calls of a killed process are taken over by the survivors', { timeout: 120000 }, async (t) => {
  if (!needTools(t, { kamailio: true })) return;
  const redis = await startRedis();
  t.after(() => redis.stop());
  const apps = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const app = await startHaApp(t, ['--embedded', String(port), '--redis', redis.url]);
    apps.push(Object.assign(app, { port }));
  }
  const lb = await startKamailio({ targets: apps.map((a) => `127.0.0.1:${a.port}`) });
  t.after(() => lb.stop());
  const caller = await SipPeer.udp(lb.sip);
  t.after(() => caller.close());

  const CALLS = 30;
  const calls = [];
  for (let i = 0; i < CALLS; i++) {
    const call = caller.call();
    caller.send(call.request('INVITE', { body: SDP }));
    const ok = await caller.expect((m) => m.callId === call.callId && m.status >= 200 && m.cseqMethod === 'INVITE');
    assert.equal(ok.status, 200, ok.start);
    call.toTag = ok.tag('to');
    // The route set: kamailio's Record-Route (one entry), so in-dialog requests pass it.
    const route = ok.get('record-route');
    assert.ok(route, 'the 200 carries kamailio\'s Record-Route');
    caller.send(call.request('ACK', { uri: ok.contactUri, headers: { Route: route } }));
    const owner = apps.find((a) => new RegExp(`o=ha ${a.pid} 1 `).test(ok.body));
    assert.ok(owner, 'answered by one of the apps');
    calls.push({ call, ok, route, owner });
  }
  const victim = apps[0];
  const doomed = calls.filter((c) => c.owner === victim);
  assert.ok(doomed.length >= 5, `round robin gave the first app ${doomed.length} calls`);
  await new Promise((r) => setTimeout(r, 500)); // the last saves land in Redis
  await victim.kill();
  await lb.waitDown(`127.0.0.1:${victim.port}`, 10000);

  for (const { call, ok, route, owner } of calls) {
    const headers = { Route: route };
    caller.send(call.request('INVITE', { uri: ok.contactUri, headers, body: SDP.replace('1 1', '1 2') }));
    const re = await caller.expect((m) => m.callId === call.callId && m.status >= 200 && m.cseqMethod === 'INVITE' && m.get('cseq').startsWith('2 '), { timeout: 8000 });
    assert.equal(re.status, 200, `${re.start} (call owned by ${owner === victim ? 'the killed app' : 'a survivor'})`);
    const answeredBy = apps.find((a) => new RegExp(`o=ha ${a.pid} 2 `).test(re.body));
    assert.ok(answeredBy && answeredBy !== victim, 'a survivor answered');
    if (owner !== victim) assert.equal(answeredBy, owner, 'calls of survivors stay where they are');
    // The answer names the engine that answered: the ACK and BYE follow it.
    caller.send(call.request('ACK', { uri: re.contactUri, headers }));
    caller.send(call.request('BYE', { uri: re.contactUri, headers }));
    const bye = await caller.expect((m) => m.callId === call.callId && m.status >= 200 && m.cseqMethod === 'BYE', { timeout: 8000 });
    assert.equal(bye.status, 200, bye.start);
  }
  const survivors = apps.slice(1);
  const restored = survivors.flatMap((a) => a.events.filter((e) => e.event === 'restore'));
  assert.equal(restored.length, doomed.length, 'each call of the killed app rebuilt once');
  for (const r of restored) assert.deepEqual(r.session, { user: 'DaveH', createdBy: victim.pid });
  await waitUntil(() => survivors.reduce((n, a) => n + a.events.filter((e) => e.event === 'terminate').length, 0) === CALLS, 5000, 'every call ended');
});
