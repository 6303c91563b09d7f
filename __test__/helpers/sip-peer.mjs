// A scripted SIP far end on a raw loopback socket (UDP or TCP), for tests that assert what goes
// over the wire: it parses every message it receives, lets a test wait for the next one that
// matches, and builds requests and responses from plain fields. It keeps no transaction state of
// its own (no retransmissions, no automatic answers); each test says exactly what it sends.
//
//   const peer = await SipPeer.udp('127.0.0.1:5060')      // or SipPeer.tcp(addr)
//   const call = peer.call()                               // Call-ID, From tag, CSeq counter
//   peer.send(call.request('INVITE', { body }))
//   const ok = await peer.expect((m) => m.status === 200 && m.callId === call.callId)
//   peer.send(peer.response(ok_request, 200, { toTag }))
import dgram from 'node:dgram';
import net from 'node:net';
import { randomBytes } from 'node:crypto';

const COMPACT = { i: 'call-id', v: 'via', f: 'from', t: 'to', m: 'contact', l: 'content-length', c: 'content-type', k: 'supported', e: 'content-encoding' };

const rand = () => randomBytes(5).toString('hex');
export const branch = () => `z9hG4bK-peer-${rand()}`;

/** Parses one SIP message (the whole text); header names are lower-cased, compact forms expanded. */
export function parseSip(raw) {
  const end = raw.indexOf('\r\n\r\n');
  const head = end === -1 ? raw : raw.slice(0, end);
  const body = end === -1 ? '' : raw.slice(end + 4);
  const [start, ...lines] = head.split('\r\n');
  const headers = [];
  for (const line of lines) {
    if (/^[ \t]/.test(line) && headers.length) {
      headers[headers.length - 1][1] += ` ${line.trim()}`;
      continue;
    }
    const i = line.indexOf(':');
    if (i === -1) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    headers.push([COMPACT[name] || name, line.slice(i + 1).trim()]);
  }
  const msg = { raw, start, headers, body };
  const m = /^SIP\/2\.0 (\d{3}) ?(.*)$/.exec(start);
  if (m) {
    msg.status = Number(m[1]);
    msg.reason = m[2];
  } else {
    const [method, uri] = start.split(' ');
    msg.method = method;
    msg.uri = uri;
  }
  msg.get = (name) => headers.find(([n]) => n === name.toLowerCase())?.[1];
  msg.all = (name) => headers.filter(([n]) => n === name.toLowerCase()).map(([, v]) => v);
  msg.callId = msg.get('call-id');
  const cseq = /^(\d+)\s+(\S+)/.exec(msg.get('cseq') || '');
  msg.cseq = cseq ? Number(cseq[1]) : undefined;
  msg.cseqMethod = cseq ? cseq[2] : undefined;
  msg.branch = /;branch=([^;,\s]+)/.exec(msg.get('via') || '')?.[1];
  msg.tag = (name) => /;tag=([^;>\s]+)/.exec(msg.get(name) || '')?.[1];
  msg.contactUri = /<([^>]+)>/.exec(msg.get('contact') || '')?.[1];
  return msg;
}

/** Splits a TCP byte stream into SIP messages by Content-Length (RFC 3261 §18.3). */
class StreamFramer {
  constructor() { this.buf = ''; }

  feed(chunk) {
    this.buf += chunk.toString('latin1');
    const out = [];
    for (;;) {
      this.buf = this.buf.replace(/^(\r\n)+/, ''); // keep-alive CRLFs
      const end = this.buf.indexOf('\r\n\r\n');
      if (end === -1) break;
      const cl = /\r\n(?:content-length|l)[ \t]*:[ \t]*(\d+)/i.exec(this.buf.slice(0, end + 2));
      const total = end + 4 + (cl ? Number(cl[1]) : 0);
      if (this.buf.length < total) break;
      out.push(this.buf.slice(0, total));
      this.buf = this.buf.slice(total);
    }
    return out;
  }
}

export class SipPeer {
  constructor(transport, target) {
    this.transport = transport; // 'UDP' | 'TCP'
    this.target = target; // 'host:port' of the engine
    this.received = []; // every parsed message, in arrival order
    this.taken = new Set();
    this.waiters = new Set();
  }

  /** A UDP socket on 127.0.0.1 sending to `target` ('host:port'). */
  static async udp(target) {
    const peer = new SipPeer('UDP', target);
    const sock = dgram.createSocket('udp4');
    await new Promise((resolve) => sock.bind(0, '127.0.0.1', resolve));
    sock.on('message', (m) => peer._receive(m.toString('latin1')));
    peer.sock = sock;
    peer.port = sock.address().port;
    return peer;
  }

  /** A TCP connection from 127.0.0.1 to `target`. */
  static async tcp(target) {
    const peer = new SipPeer('TCP', target);
    const [host, port] = target.split(':');
    const sock = await new Promise((resolve, reject) => {
      const s = net.connect({ host, port: Number(port) }, () => resolve(s));
      s.once('error', reject);
    });
    sock.setNoDelay(true);
    const framer = new StreamFramer();
    sock.on('data', (d) => framer.feed(d).forEach((m) => peer._receive(m)));
    sock.on('error', () => {});
    peer.sock = sock;
    peer.port = sock.localPort;
    return peer;
  }

  /** A TCP listener on 127.0.0.1; the peer talks over the first connection accepted. */
  static async tcpListen() {
    const peer = new SipPeer('TCP', undefined);
    const server = net.createServer((sock) => {
      if (peer.sock) return sock.destroy();
      const framer = new StreamFramer();
      sock.on('data', (d) => framer.feed(d).forEach((m) => peer._receive(m)));
      sock.on('error', () => {});
      peer.sock = sock;
      return undefined;
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    peer.server = server;
    peer.port = server.address().port;
    return peer;
  }

  get hostport() { return `127.0.0.1:${this.port}`; }
  get contact() { return `sip:peer@${this.hostport}${this.transport === 'TCP' ? ';transport=tcp' : ''}`; }

  _receive(text) {
    const msg = parseSip(text);
    this.received.push(msg);
    for (const w of this.waiters) w();
  }

  /** Sends raw text (or a Buffer) as one datagram / one TCP write. */
  send(data) {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1');
    if (this.transport === 'TCP') {
      this.sock.write(buf);
    } else {
      const [host, port] = this.target.split(':');
      this.sock.send(buf, Number(port), host);
    }
    return buf;
  }

  /** Messages received so far that match. */
  all(pred) { return this.received.filter(pred); }

  /**
   * The first received message matching `pred` not already returned by expect (so two calls with
   * the same predicate return a message and then its retransmission). Rejects after `timeout` ms.
   */
  expect(pred, { timeout = 5000, what = pred.toString() } = {}) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const i = this.received.findIndex((m, n) => !this.taken.has(n) && pred(m));
        if (i === -1) return false;
        this.taken.add(i);
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(this.received[i]);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`peer: nothing matching ${what} within ${timeout} ms; received (last 30 of ${this.received.length}):\n${this.received.slice(-30).map((m) => `  ${m.start} (${m.get('cseq')}, ${m.callId})`).join('\n')}`));
      }, timeout);
      if (!check()) this.waiters.add(check);
    });
  }

  /** Starts a call (or any request sequence) from this peer towards the engine. */
  call(user = 'svc') { return new PeerCall(this, user); }

  /** A response to a received request: Via, From, To, Call-ID and CSeq copied; To gets `toTag`. */
  response(req, status, { reason, toTag, headers = {}, body = '' } = {}) {
    const lines = [`SIP/2.0 ${status} ${reason || REASONS[status] || 'Whatever'}`];
    for (const v of req.all('via')) lines.push(`Via: ${v}`);
    lines.push(`From: ${req.get('from')}`);
    const to = req.get('to');
    lines.push(`To: ${toTag && !/;tag=/.test(to) ? `${to};tag=${toTag}` : to}`);
    lines.push(`Call-ID: ${req.callId}`, `CSeq: ${req.get('cseq')}`);
    if (status < 300 && status > 100 && req.method === 'INVITE') lines.push(`Contact: <${this.contact}>`);
    for (const [n, v] of Object.entries(headers)) lines.push(`${n}: ${v}`);
    if (body) lines.push('Content-Type: application/sdp');
    lines.push(`Content-Length: ${Buffer.byteLength(body)}`, '', body);
    return lines.join('\r\n');
  }

  close() {
    if (this.server) this.server.close();
    if (this.transport === 'TCP') this.sock?.destroy();
    else this.sock.close();
  }
}

const REASONS = { 100: 'Trying', 180: 'Ringing', 183: 'Session Progress', 200: 'OK', 486: 'Busy Here', 487: 'Request Terminated' };

/** One dialog's worth of request state on the peer side. */
class PeerCall {
  constructor(peer, user) {
    this.peer = peer;
    this.callId = `${rand()}@peer`;
    this.fromTag = `peer-${rand()}`;
    this.cseq = 0;
    this.toTag = undefined;
    this.uri = `sip:${user}@${peer.target}${peer.transport === 'TCP' ? ';transport=tcp' : ''}`;
    this.toUri = `sip:${user}@${peer.target}`;
  }

  /**
   * Request text. Options: uri (Request-URI), cseq (number; default next), cseqMethod, branch,
   * toTag (default the call's), headers, body, omit (header names to leave out).
   */
  request(method, { uri = this.uri, cseq, cseqMethod = method, branch: br = branch(), toTag = this.toTag, headers = {}, body = '', omit = [] } = {}) {
    const n = cseq ?? (method === 'ACK' || method === 'CANCEL' ? this.cseq : ++this.cseq);
    const all = [
      ['Via', `SIP/2.0/${this.peer.transport} ${this.peer.hostport};branch=${br};rport`],
      ['Max-Forwards', '70'],
      ['From', `<sip:peer@${this.peer.hostport}>;tag=${this.fromTag}`],
      ['To', `<${this.toUri}>${toTag ? `;tag=${toTag}` : ''}`],
      ['Call-ID', this.callId],
      ['CSeq', `${n} ${cseqMethod}`],
      ...(method === 'INVITE' || method === 'OPTIONS' ? [['Contact', `<${this.peer.contact}>`]] : []),
      ...Object.entries(headers),
      ...(body ? [['Content-Type', /^v=0/.test(body) ? 'application/sdp' : 'text/plain']] : []),
      ['Content-Length', String(Buffer.byteLength(body))],
    ].filter(([name]) => !omit.map((o) => o.toLowerCase()).includes(name.toLowerCase()));
    return [`${method} ${uri} SIP/2.0`, ...all.map(([k, v]) => `${k}: ${v}`), '', body].join('\r\n');
  }
}
