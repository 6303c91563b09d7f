// srf.request against a scripted drachtio server: the frames sent, responses matched by
// transaction id (even when they arrive before the app listens), ACK, PRACK and CANCEL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { miniServer } from './helpers/mini-server.mjs';
import { errorsFail } from './helpers/embedded.mjs';

const require = createRequire(import.meta.url);
const Srf = require('../index.js');

async function setup() {
  const server = await miniServer();
  const srf = errorsFail(new Srf());
  srf.connect({ host: '127.0.0.1', port: server.port, secret: 'cymru' });
  const conn = await server.accept();
  await conn.authenticate();
  await once(srf, 'connect');
  return { server, srf, conn, async close() { srf.disconnect(); await server.close(); } };
}

/** The server's side of sending a request: echo it as sent, with a transaction id. */
function echoSent(conn, f, txnId) {
  const lines = f.body.split('\r\n');
  const [start] = lines;
  const method = start.split(' ')[0];
  const sent = [start, 'Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-s1;rport', 'Max-Forwards: 70',
    'From: <sip:app@127.0.0.1:5060>;tag=ourtag', 'To: <sip:far@127.0.0.1:5090>', 'Call-ID: call-1', `CSeq: 10 ${method}`,
    'Content-Length: 0', '', ''].join('\r\n');
  conn.reply(f, ['OK', 'application', '200', 'udp', '127.0.0.1', '5090', '12:00:00.0', txnId, 'Msg sent:', ''], sent);
}

function responseFrame(conn, txnId, status, reason, { dialogId = '', method = 'OPTIONS', extra = [] } = {}) {
  const body = [`SIP/2.0 ${status} ${reason}`, 'Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-s1;rport',
    'From: <sip:app@127.0.0.1:5060>;tag=ourtag', `To: <sip:far@127.0.0.1:5090>${status > 100 ? ';tag=far1' : ''}`,
    'Call-ID: call-1', `CSeq: 10 ${method}`, ...extra, 'Content-Length: 0', '', ''].join('\r\n');
  conn.send([randomUUID(), 'sip', 'network', '200', 'udp', '127.0.0.1', '5090', '12:00:01.0', txnId, dialogId, ''], body);
}

test('OPTIONS: promise and callback forms, and a response that arrives at once is not lost', async () => {
  const t = await setup();
  try {
    const pending = t.srf.request('sip:far@127.0.0.1:5090', { method: 'options', headers: { 'X-Probe': '1' } });
    const f = await t.conn.nextOf('sip');
    assert.deepEqual(f.tokens.slice(1, 4), ['sip', '', '']);
    assert.match(f.body, /^OPTIONS sip:far@127\.0\.0\.1:5090 SIP\/2\.0\r\n/);
    assert.match(f.body, /\r\nX-Probe: 1\r\n/);
    echoSent(t.conn, f, 'txn-o1');
    responseFrame(t.conn, 'txn-o1', 200, 'OK'); // in the same burst as the echo
    const req = await pending;
    assert.equal(req.stackTxnId, 'txn-o1');
    assert.equal(req.source, 'application');
    assert.equal(req.get('call-id'), 'call-1');
    const [res] = await once(req, 'response');
    assert.equal(res.status, 200);
    assert.equal(res.req, req);

    let ret;
    const viaCallback = new Promise((resolve, reject) => {
      ret = t.srf.request({ uri: 'sip:far@127.0.0.1:5090', method: 'MESSAGE', body: 'hello', headers: { 'Content-Type': 'text/plain' } },
        (err, r) => (err ? reject(err) : resolve(r)));
    });
    assert.equal(ret, t.srf, 'callback form returns the Srf');
    const m = await t.conn.nextOf('sip');
    assert.match(m.body, /\r\n\r\nhello$/);
    echoSent(t.conn, m, 'txn-m1');
    assert.equal((await viaCallback).method, 'MESSAGE');
  } finally {
    await t.close();
  }
});

test('INVITE: PRACK for a reliable 183, ACK for the 200, on the dialog', async () => {
  const t = await setup();
  try {
    const pending = t.srf.request('sip:far@127.0.0.1:5090', { method: 'INVITE', body: 'v=0\r\n' });
    echoSent(t.conn, await t.conn.nextOf('sip'), 'txn-i1');
    const req = await pending;
    const seen = [];
    req.on('response', (res, ack) => {
      seen.push(res.status);
      ack();
    });
    responseFrame(t.conn, 'txn-i1', 183, 'Session Progress', { method: 'INVITE', dialogId: 'call-1;from-tag=ourtag', extra: ['RSeq: 7', 'Require: 100rel'] });
    const prack = await t.conn.nextOf('sip');
    assert.deepEqual(prack.tokens.slice(2, 4), ['', 'call-1;from-tag=ourtag']);
    assert.match(prack.body, /^PRACK /);
    assert.match(prack.body, /\r\nRAck: 7 10 INVITE\r\n/i);
    responseFrame(t.conn, 'txn-i1', 200, 'OK', { method: 'INVITE', dialogId: 'call-1;from-tag=ourtag' });
    const ack = await t.conn.nextOf('sip');
    assert.deepEqual(ack.tokens.slice(2, 4), ['', 'call-1;from-tag=ourtag']);
    assert.match(ack.body, /^ACK sip:far@127\.0\.0\.1:5090 SIP\/2\.0\r\n/);
    assert.deepEqual(seen, [183, 200]);
  } finally {
    await t.close();
  }
});

test('req.cancel sends CANCEL on the INVITE transaction; only for requests we sent', async () => {
  const t = await setup();
  try {
    const pending = t.srf.request('sip:far@127.0.0.1:5090', { method: 'INVITE' });
    echoSent(t.conn, await t.conn.nextOf('sip'), 'txn-c1');
    const req = await pending;
    const cancelled = new Promise((resolve, reject) => req.cancel({ headers: { Reason: 'SIP;cause=200;text="done"' } }, (err, c) => (err ? reject(err) : resolve(c))));
    const f = await t.conn.nextOf('sip');
    assert.deepEqual(f.tokens.slice(2, 4), ['txn-c1', '']);
    assert.match(f.body, /^CANCEL sip:far@127\.0\.0\.1:5090 SIP\/2\.0\r\n/);
    assert.match(f.body, /\r\nReason: SIP;cause=200;text="done"\r\n/);
    echoSent(t.conn, f, 'txn-c2');
    assert.equal((await cancelled).method, 'CANCEL');
    const incoming = new Srf.SipRequest(new Srf.SipMessage({ method: 'INVITE', uri: 'sip:x' }), { source: 'network' });
    assert.throws(() => incoming.cancel(), /can only be used for uac Request/);
  } finally {
    await t.close();
  }
});

test('server refusals reject with ENODIALOG / EDRACHTIO; bad arguments throw', async () => {
  const t = await setup();
  try {
    const p1 = t.srf.request('sip:far@127.0.0.1:5090', { method: 'OPTIONS' });
    t.conn.reply(await t.conn.nextOf('sip'), ['NOK', 'can not send request to myself']);
    await assert.rejects(p1, (err) => err.code === 'EDRACHTIO' && err.message === 'can not send request to myself');
    assert.throws(() => t.srf.request(undefined, { method: 'OPTIONS' }), assert.AssertionError);
    assert.throws(() => t.srf.request('sip:a@b', {}), assert.AssertionError);
  } finally {
    await t.close();
  }
});

test('a request while not connected rejects with a clear error', async () => {
  const srf = new Srf();
  await assert.rejects(srf.request('sip:a@b', { method: 'OPTIONS' }), /not connected/);
});
