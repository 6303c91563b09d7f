// Digest authentication end to end over a scripted drachtio server: srf.request answering
// 401/407 challenges (MD5 and SHA-256), and the digestAuth middleware guarding a REGISTER.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomUUID, createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { miniServer, sipLeader, sipRequest } from './helpers/mini-server.mjs';
import { errorsFail, waitFor } from './helpers/embedded.mjs';

const require = createRequire(import.meta.url);
const Srf = require('../index.js');
const { digestAuth } = require('../index.js');

async function setup(configure) {
  const server = await miniServer();
  const srf = errorsFail(new Srf());
  if (configure) configure(srf);
  srf.connect({ host: '127.0.0.1', port: server.port, secret: 'cymru' });
  const conn = await server.accept();
  await conn.authenticate();
  await once(srf, 'connect');
  return { srf, conn, async close() { srf.disconnect(); await server.close(); } };
}

function echo(conn, f, txnId, cseq) {
  const method = f.body.split(' ')[0];
  const sent = f.body.replace(/\r\n\r\n/, `\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-${txnId}\r\nCall-ID: ${'call-a'}\r\nFrom: <sip:app@127.0.0.1>;tag=t1\r\nCSeq: ${cseq} ${method}\r\n\r\n`);
  conn.reply(f, ['OK', 'application', '1', 'udp', '127.0.0.1', '5090', '12:00:00', txnId, 'Msg sent:', ''], sent);
}

function respond(conn, txnId, status, method, extra = []) {
  const reason = { 200: 'OK', 401: 'Unauthorized', 407: 'Proxy Authentication Required' }[status];
  conn.send([randomUUID(), 'sip', 'network', '1', 'udp', '127.0.0.9', '5070', '12:00:01', txnId, '', ''],
    [`SIP/2.0 ${status} ${reason}`, 'Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-x', 'From: <sip:app@127.0.0.1>;tag=t1',
      'To: <sip:registrar@example.com>;tag=r1', 'Call-ID: call-a', `CSeq: 1 ${method}`, ...extra, 'Content-Length: 0', '', ''].join('\r\n'));
}

const H = (alg, s) => createHash(alg === 'SHA-256' ? 'sha256' : 'md5').update(s).digest('hex');

for (const [status, algorithm] of [[401, 'MD5'], [407, 'SHA-256']]) {
  test(`srf.request answers a ${status} ${algorithm} challenge and the app sees only the final response`, async () => {
    const t = await setup();
    try {
      const p = t.srf.request('sip:registrar@example.com', { method: 'REGISTER', headers: { Contact: '<sip:me@127.0.0.1>', Expires: '60' },
        auth: { username: 'alice', password: 'secret' } });
      echo(t.conn, await t.conn.nextOf('sip'), 'txn-1', 1);
      const req = await p;
      const seen = [];
      let reissued;
      req.on('response', (res) => seen.push(res.status));
      req.on('authenticate', (r) => { reissued = r; });
      const header = status === 401 ? 'WWW-Authenticate' : 'Proxy-Authenticate';
      respond(t.conn, 'txn-1', status, 'REGISTER', [`${header}: Digest realm="example.com", nonce="abc123", qop="auth", algorithm=${algorithm}`]);
      const retry = await t.conn.nextOf('sip');
      const cred = new RegExp(`\\r\\n${status === 401 ? 'Authorization' : 'Proxy-Authorization'}: (Digest [^\\r]+)`, 'i').exec(retry.body);
      assert.ok(cred, retry.body);
      const p2 = Object.fromEntries([...cred[1].matchAll(/(\w+)=(?:"([^"]*)"|([^,]+))/g)].map((m) => [m[1], m[2] ?? m[3]]));
      assert.equal(p2.username, 'alice');
      assert.equal(p2.uri, 'sip:registrar@example.com');
      assert.equal(p2.algorithm, algorithm);
      const ha1 = H(algorithm, 'alice:example.com:secret');
      const ha2 = H(algorithm, 'REGISTER:sip:registrar@example.com');
      assert.equal(p2.response, H(algorithm, `${ha1}:abc123:${p2.nc}:${p2.cnonce}:auth:${ha2}`));
      assert.match(retry.body, /\r\nCSeq: 2 REGISTER\r\n/i, 'CSeq incremented');
      assert.match(retry.body, /\r\nCall-ID: call-a\r\n/i, 'same Call-ID');
      assert.match(retry.body, /\r\nFrom: <sip:app@127\.0\.0\.1>;tag=t1\r\n/i, 'same From with tag');
      assert.equal(retry.tokens[4], 'sip:127.0.0.9:5070', 'pinned to the challenger');
      echo(t.conn, retry, 'txn-2', 2);
      respond(t.conn, 'txn-2', 200, 'REGISTER');
      await waitFor(() => seen.length === 1);
      assert.deepEqual(seen, [200]);
      assert.ok(reissued);
      assert.equal(req.stackTxnId, 'txn-2', 'the original now names the new transaction');
    } finally {
      await t.close();
    }
  });
}

test('digestAuth middleware: challenge, wrong password 403, right password reaches the handler', async () => {
  const handled = [];
  const t = await setup((srf) => {
    srf.use('register', digestAuth({ realm: 'example.com', passwordLookup: (u, realm, cb) => cb(null, u === 'bob' ? 'pw' : null) }));
    srf.register((req, res) => { handled.push(req.authorization.username); res.send(200); });
  });
  try {
    t.conn.send(sipLeader('r1'), sipRequest('REGISTER'));
    const challenge = await t.conn.nextOf('sip');
    assert.match(challenge.body, /^SIP\/2\.0 401 /);
    const www = /\r\nWWW-Authenticate: ([^\r]+)/i.exec(challenge.body)[1];
    const { DigestClient } = require('../lib/digest-client.js');
    const resLike = { status: 401, get: (n) => (n.toLowerCase() === 'www-authenticate' ? www : undefined), has: (n) => n.toLowerCase() === 'www-authenticate' };
    const client = new DigestClient();
    for (const [password, expected] of [['wrong', /^SIP\/2\.0 403 /], ['pw', /^SIP\/2\.0 200 /]]) {
      const cred = client.nextCredentials({ res: resLike, method: 'REGISTER', uri: 'sip:service@127.0.0.1:5060', username: 'bob', password });
      t.conn.send(sipLeader(`r-${password}`), sipRequest('REGISTER', { extra: [`${cred.header}: ${cred.value}`] }));
      const answer = await t.conn.nextOf('sip');
      assert.match(answer.body, expected, password);
    }
    assert.deepEqual(handled, ['bob']);
  } finally {
    await t.close();
  }
});

