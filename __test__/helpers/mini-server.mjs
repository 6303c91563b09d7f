// A scripted drachtio server for tests: each test drives the server side frame by frame.
// Loopback only, ephemeral ports; close() ends every socket so the test process exits.
import net from 'node:net';
import tls from 'node:tls';
import { randomUUID } from 'node:crypto';
import { frame, FrameReader, parseLeader } from './wire.mjs';

export class Conn {
  constructor(socket) {
    this.socket = socket;
    this.reader = new FrameReader();
    this.queue = [];
    this.waiters = [];
    this.closed = new Promise((resolve) => socket.on('close', resolve));
    socket.on('data', (chunk) => {
      for (const payload of this.reader.feed(chunk)) {
        const f = { payload, ...parseLeader(payload) };
        const w = this.waiters.shift();
        if (w) w(f);
        else this.queue.push(f);
      }
    });
    socket.on('error', () => {});
  }

  /** The next frame from the client (rejects after `ms`). */
  next(ms = 3000) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timed out waiting for a frame from the client')), ms);
      this.waiters.push((f) => { clearTimeout(t); resolve(f); });
    });
  }

  /** Waits for a frame of the given type, skipping others (e.g. pings). */
  async nextOf(type, ms) {
    for (;;) {
      const f = await this.next(ms);
      if (f.tokens[1] === type) return f;
    }
  }

  send(leaderTokens, body) {
    const payload = leaderTokens.join('|') + (body === undefined ? '' : `\r\n${body}`);
    this.socket.write(frame(payload));
  }

  reply(to, tokens, body) {
    this.send([randomUUID(), 'response', to.tokens[0], ...tokens], body);
  }

  /** Reads the authenticate frame and accepts it (or refuses it when `ok` is false). */
  async authenticate({ ok = true, hostports = 'udp/127.0.0.1:5060,tcp/127.0.0.1:5060', version = 'v0.9.10-test' } = {}) {
    const f = await this.nextOf('authenticate');
    if (ok) this.reply(f, ['OK', hostports, version, hostports]);
    else {
      this.reply(f, ['NO', 'incorrect secret']);
      this.socket.end();
    }
    return f;
  }
}

export async function miniServer({ tlsOptions } = {}) {
  const conns = [];
  const waiters = [];
  const onSocket = (socket) => {
    const c = new Conn(socket);
    conns.push(c);
    const w = waiters.shift();
    if (w) w(c);
  };
  const server = tlsOptions ? tls.createServer(tlsOptions, onSocket) : net.createServer(onSocket);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  let taken = 0;
  return {
    port: server.address().port,
    conns,
    /** The next client connection (one not yet handed out). */
    accept(ms = 5000) {
      if (conns.length > taken) return Promise.resolve(conns[taken++]);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('timed out waiting for the client to connect')), ms);
        waiters.push((c) => { clearTimeout(t); taken++; resolve(c); });
      });
    },
    async close() {
      for (const c of conns) c.socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A SIP request as drachtio-server forwards it (CRLF line ends, exact Content-Length). */
export function sipRequest(method, { callId = randomUUID(), toTag, body = '', extra = [] } = {}) {
  return [
    `${method} sip:service@127.0.0.1:5060 SIP/2.0`,
    'Via: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK-' + randomUUID().slice(0, 8) + ';rport=5090',
    'Max-Forwards: 70',
    'From: "Caller" <sip:+15550001111@127.0.0.1:5090>;tag=from1',
    `To: <sip:service@127.0.0.1>${toTag ? `;tag=${toTag}` : ''}`,
    `Call-ID: ${callId}`,
    `CSeq: 1 ${method}`,
    'Contact: <sip:caller@127.0.0.1:5090>',
    ...extra,
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

/** Leader tokens of a `sip` frame for a new request (wire-protocol.md §2.2). */
export function sipLeader(txnId, { dialogId = '', source = 'network' } = {}) {
  return [randomUUID(), 'sip', source, '300', 'udp', '127.0.0.1', '5090', '12:00:00.000000', txnId, dialogId, '127.0.0.1', '5060', ''];
}
