// A scripted SIP far end on a raw loopback socket (UDP, TCP, TLS, or a WebSocket: RFC 7118),
// for tests that assert what goes over the wire: it parses every message it receives, lets a
// test wait for the next one that matches, and builds requests and responses from plain fields.
// It keeps no transaction state of its own (no retransmissions, no automatic answers); each
// test says exactly what it sends.
//
//   const peer = await SipPeer.udp('127.0.0.1:5060')      // or SipPeer.tcp(addr), SipPeer.tls(addr, { ca }),
//                                                          // SipPeer.ws('ws://127.0.0.1:8080'), SipPeer.wss(url, { ca })
//   const call = peer.call()                               // Call-ID, From tag, CSeq counter
//   peer.send(call.request('INVITE', { body }))
//   const ok = await peer.expect((m) => m.status === 200 && m.callId === call.callId)
//   peer.send(peer.response(ok_request, 200, { toTag }))
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
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

/** The `;transport=` parameter of a URI reaching `transport` (none for UDP). */
const uriParam = (transport) => (transport === 'UDP' ? '' : `;transport=${transport.toLowerCase()}`);

/** 'host:port' or '[v6]:port' to { host, port }. */
function splitTarget(target) {
  const [, host, port] = /^\[?(.*?)\]?:(\d+)$/.exec(target);
  return { host, port: Number(port) };
}

export class SipPeer {
  constructor(transport, target) {
    this.transport = transport; // 'UDP' | 'TCP' | 'TLS' | 'WS' | 'WSS': the Via token
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
    const sock = await new Promise((resolve, reject) => {
      const s = net.connect(splitTarget(target), () => resolve(s));
      s.once('error', reject);
    });
    peer._stream(sock);
    return peer;
  }

  /**
   * A TLS connection to `target`, verified against `ca` (PEM) and, when given, `servername`
   * (else the target's address, which the certificate must name). Framed as TCP.
   */
  static async tls(target, { ca, servername } = {}) {
    const peer = new SipPeer('TLS', target);
    const sock = await new Promise((resolve, reject) => {
      const s = tls.connect({ ...splitTarget(target), ca, servername }, () => resolve(s));
      s.once('error', reject);
    });
    peer._stream(sock);
    return peer;
  }

  /**
   * A WebSocket to `url` ('ws://host:port') offering the subprotocol 'sip' (RFC 7118): each
   * message goes out as one text frame, each frame received is one message. As a browser
   * would, the peer names itself by a random `.invalid` host in its Via and Contact, so the
   * far end can reach it only over this connection.
   */
  static ws(url) { return SipPeer._websocket('WS', url, {}); }

  /** The same over TLS ('wss://host:port'), verified against `ca` (PEM). */
  static wss(url, { ca } = {}) { return SipPeer._websocket('WSS', url, { ca }); }

  static async _websocket(transport, url, { ca }) {
    const { WebSocket } = await import('ws'); // only the suites that use WebSockets need the package
    const peer = new SipPeer(transport, new URL(url).host);
    const ws = new WebSocket(url, 'sip', { ca, perMessageDeflate: false });
    ws.once('upgrade', (res) => { peer.port = res.socket.localPort; });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    ws.on('error', () => {});
    ws.on('message', (data) => peer._receive(data.toString('latin1')));
    peer.closed = new Promise((resolve) => ws.once('close', (code, reason) => {
      peer.isClosed = true;
      resolve({ code, reason: reason.toString() });
    }));
    peer.ws = ws;
    peer.viaHost = `${rand()}.invalid`;
    return peer;
  }

  /** Talks SIP over the connected stream `sock`; `closed` resolves when it closes. */
  _stream(sock) {
    sock.setNoDelay(true);
    const framer = new StreamFramer();
    sock.on('data', (d) => framer.feed(d).forEach((m) => this._receive(m)));
    sock.on('error', () => {});
    this.closed = new Promise((resolve) => sock.once('close', () => {
      this.isClosed = true;
      resolve({});
    }));
    this.sock = sock;
    this.port = sock.localPort;
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

  /** The sent-by of our Via: our address, or the `.invalid` host of a WebSocket peer. */
  get hostport() { return this.viaHost ?? `127.0.0.1:${this.port}`; }
  get contact() { return `sip:peer@${this.hostport}${uriParam(this.transport)}`; }

  _receive(text) {
    const msg = parseSip(text);
    this.received.push(msg);
    for (const w of this.waiters) w();
  }

  /** Sends raw text (or a Buffer) as one datagram / one stream write / one WebSocket text frame. */
  send(data) {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1');
    if (this.ws) {
      this.ws.send(buf, { binary: false });
    } else if (this.transport === 'UDP') {
      const { host, port } = splitTarget(this.target);
      this.sock.send(buf, port, host);
    } else {
      this.sock.write(buf);
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

  /**
   * One whole call from this peer: INVITE with `sdp`, its 200, ACK; then `ready(call)` (a
   * test waits there until the app holds its dialog), then the hang-up: by default the peer's
   * BYE, awaiting its 200; with `hangUp` (a function, e.g. the app's dialog.destroy()) that is
   * called, and the BYE that arrives here is answered 200. Resolves with { call, ok, bye }: the
   * 200 to the INVITE, and the BYE received or the 200 to ours.
   */
  async fullCall({ sdp, ready = async () => {}, hangUp, timeout = 5000 } = {}) {
    const call = this.call();
    const isResponse = (method) => (m) => m.callId === call.callId && m.status >= 200 && m.cseqMethod === method;
    this.send(call.request('INVITE', { body: sdp }));
    const ok = await this.expect(isResponse('INVITE'), { timeout, what: `the final response to INVITE ${call.callId}` });
    if (ok.status !== 200) throw new Error(`INVITE ${call.callId} answered ${ok.start}`);
    call.toTag = ok.tag('to');
    this.send(call.request('ACK', { uri: ok.contactUri }));
    await ready(call);
    if (hangUp) {
      const done = hangUp();
      const bye = await this.expect((m) => m.callId === call.callId && m.method === 'BYE', { timeout, what: `a BYE in ${call.callId}` });
      this.send(this.response(bye, 200));
      await done;
      return { call, ok, bye };
    }
    this.send(call.request('BYE', { uri: ok.contactUri }));
    const bye = await this.expect(isResponse('BYE'), { timeout, what: `the final response to BYE ${call.callId}` });
    if (bye.status !== 200) throw new Error(`BYE ${call.callId} answered ${bye.start}`);
    return { call, ok, bye };
  }

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

  /** Closes the socket (once: a second call does nothing). */
  close() {
    if (this.shut) return;
    this.shut = true;
    if (this.server) this.server.close();
    if (this.ws) this.ws.terminate();
    else if (this.transport === 'UDP') this.sock.close();
    else this.sock?.destroy();
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
    this.uri = `sip:${user}@${peer.target}${uriParam(peer.transport)}`;
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
