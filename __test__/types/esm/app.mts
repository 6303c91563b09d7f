// Every public API of drachtio-srf-rs, type-checked as an ES module (default and named
// imports), resolving 'drachtio-srf-rs' as the package itself (self-reference through
// "exports", condition "import" → index.d.mts).
// `// @ts-expect-error` lines are checks that wrong code, including what drachtio-srf's own
// typings wrongly allowed, is rejected.
import Srf, {
  SipError, SipMessage, SipRequest, SipResponse, parseUri, stringifyUri, DialogState, DialogDirection,
  digestAuth, Dialog,
} from 'drachtio-srf-rs';
import type { SrfRequest, SrfResponse, Middleware, ConnectOptions, ParseUriResult } from 'drachtio-srf-rs';
import { EventEmitter } from 'node:events';
import * as net from 'node:net';

// Named exports are the same values, and carry their types.
const errorType: SipError = new Srf.SipError(404);
const dialogClass: typeof Srf.Dialog = Dialog;
const namedTypes: [SrfRequest | undefined, SrfResponse | undefined, Middleware | undefined, ConnectOptions | undefined, ParseUriResult | undefined] = [undefined, undefined, undefined, undefined, undefined];
const namedMessage: Srf.SipMessage = new SipMessage();
// @ts-expect-error there is no named export 'Srf'
import('drachtio-srf-rs').then((m) => m.Srf);
void import('drachtio-srf-rs').then((m) => { const S: typeof Srf = m.default; return S; });
[errorType, dialogClass, namedTypes, namedMessage].forEach(() => {});

// ---- shared body: identical in cjs/app.ts and esm/app.mts (types.test.mjs checks) ----

type Req = Srf.SrfRequest;
type Res = Srf.SrfResponse;

declare const someSocket: net.Socket;
declare function use(...values: unknown[]): void;

// ------------------------------------------------------------------------------------------
// Module shape: static getters and the namespace

const statics = [Srf.SipError, Srf.SipMessage, Srf.SipRequest, Srf.SipResponse, Srf.parseUri,
  Srf.stringifyUri, Srf.DialogState, Srf.DialogDirection, Srf.digestAuth, Srf.Dialog] as const;
use(statics);
const namedSame: [typeof SipError, typeof parseUri, typeof digestAuth] = [Srf.SipError, Srf.parseUri, Srf.digestAuth];
use(namedSame, SipMessage, SipRequest, SipResponse, stringifyUri, DialogState, DialogDirection, Dialog);

// ------------------------------------------------------------------------------------------
// Constructor forms

const srf = new Srf();
const tagged: Srf = new Srf('tag-1');
const multi: Srf = new Srf(['tag-1', 'tag_2']);
const auto: Srf = new Srf({ host: '127.0.0.1', port: 9022, secret: 'cymru' });
const legacyApp: Srf = new Srf((req, res, next) => { use(req.method, res.statusCode); next(); });
// @ts-expect-error options given to the constructor need a host
new Srf({ secret: 'cymru' });
// @ts-expect-error tags are strings
new Srf([1, 2]);
const tags: readonly string[] = tagged.tags;
use(multi, auto, legacyApp, tags);

// ------------------------------------------------------------------------------------------
// Connecting

const connected: Srf = srf.connect({
  host: '127.0.0.1',
  port: 9022,
  secret: 'cymru',
  tls: { ca: 'PEM', cert: Buffer.from('PEM'), key: ['PEM'], servername: 'drachtio.example.com', rejectUnauthorized: false },
  enablePing: true,
  pingInterval: 15000,
  reconnect: { retryMaxDelay: 30000, maxAttempts: 10, connectTimeout: 5000 },
  tags: ['a', 'b'],
  logger: (line) => { const s: string = line; use(s); },
}, (err, hostport, serverVersion, localHostports) => {
  const e: Error | null = err;
  const parts: string[] = [hostport, serverVersion, localHostports];
  use(e, parts);
});
srf.connect({ secret: 'cymru' });
// @ts-expect-error connect() returns the Srf, not Promise<void> (drachtio-srf's typings were wrong)
const notAPromise: Promise<void> = srf.connect({ host: 'h', secret: 's' });
// (Options without a secret still compile, against a deprecated overload, because
// drachtio-srf's SrfConfig declared it optional; it is required at run time.)
// @ts-expect-error port is a number
srf.connect({ host: '127.0.0.1', port: '9022', secret: 's' });

// The embedded, in-process SIP engine.
const embedded: Srf = new Srf().connect({
  embedded: {
    contacts: ['sip:127.0.0.1:5060;transport=udp,tcp'], t1: 500, t2: 4000, t4: 5000, externalIp: '203.0.113.7',
    maxPendingRequests: 500, tcpMessageTimeout: 32000, prometheus: { port: 9090, host: '127.0.0.1' },
  },
}, (err) => { use(err); });
new Srf().connect({ embedded: { contacts: [] }, tags: ['x'] });
// @ts-expect-error embedded needs its contacts
new Srf().connect({ embedded: { t1: 500 } });
// @ts-expect-error tcpMessageTimeout is a number of ms
new Srf().connect({ embedded: { contacts: ['sip:127.0.0.1:5060'], tcpMessageTimeout: '32s' } });
// @ts-expect-error prometheus needs its port
new Srf().connect({ embedded: { contacts: ['sip:127.0.0.1:5060'], prometheus: { host: '127.0.0.1' } } });
use(connected, notAPromise, embedded);

const server: net.Server = srf.listen({ port: 4000, secret: 'cymru', enablePing: true, pingInterval: 30000 }, () => {});
srf.listen({ port: 4001, secret: 'cymru', server: net.createServer(), tls: { cert: 'PEM', key: 'PEM' } });
srf.close(() => {});
srf.app.close();
// @ts-expect-error listen() returns the server, not Promise<void>
const listenPromise: Promise<void> = srf.listen({ port: 4002, secret: 'cymru' });
use(server, listenPromise);

srf.disconnect();
srf.disconnect(someSocket);

// ------------------------------------------------------------------------------------------
// Events

srf.on('connect', (err, hostport, serverVersion, localHostports) => {
  const e: Error | null = err;
  const s: string = hostport + serverVersion + localHostports;
  // @ts-expect-error hostport is a string
  const n: number = hostport;
  use(e, s, n);
});
srf.once('connect', (err) => { if (err) use(err.message); });
srf.on('error', (err) => { const m: string = err.message; use(m); });
srf.addListener('close', () => {});
srf.on('reconnecting', ({ delay, attempt }) => { const total: number = delay + attempt; use(total); });
srf.on('listening', () => {});
srf.on('cdr:attempt', (source, time, msg) => {
  const s: 'network' | 'application' = source;
  use(s, time, msg.get('Call-ID'));
});
srf.on('cdr:start', (source, time, role, msg) => {
  const r: 'uac' | 'uas' | 'proxy-uac' | 'proxy-uas' = role;
  use(source, time, r, msg.callingNumber);
});
srf.on('cdr:stop', (source, time, reason, msg) => {
  const why: string = reason;
  use(source, time, why, msg.calledNumber);
});
srf.prependListener('error', (err) => use(err));
srf.prependOnceListener('close', () => {});
const onClose = (): void => {};
srf.off('close', onClose);
srf.removeListener('close', onClose);
srf.on('some-event-of-a-subclass', (...args) => use(args));
// Listeners are typed by event name from their context; an explicitly annotated listener that
// does not match falls back to the generic (event: string, listener: (...args: any[]) => void).
srf.on('error', (err) => {
  // @ts-expect-error 'error' listeners get an Error
  const n: number = err;
  use(n);
});

// ------------------------------------------------------------------------------------------
// App data

srf.locals.db = { users: new Map<string, string>() };
const chained: Srf = srf.set('registrar', 'sip.example.com').set('x', 1);
const setting: string = srf.get('registrar');
const idle: boolean = srf.idle;
const app: Srf = srf.app;
use(chained, setting, idle, app);
// @ts-expect-error idle is read-only
srf.idle = true;

// ------------------------------------------------------------------------------------------
// Middleware

const logger: Srf.Middleware = (req, res, next) => { use(req.uri, res.finished); next(); };
const asyncLayer: Srf.Middleware = async (req, res, next) => { await Promise.resolve(); next(); };
const onError: Srf.ErrorMiddleware = (err, req, res, next) => {
  if (!res.finalResponseSent) res.send(500);
  next(err);
};
const subApp: Srf.SubApp = { handle(req, res, next) { use(req, res); next(); } };

srf.use((req, res, next) => { const m: Srf.SipMethod = req.method; use(m, res); next(); });
srf.use(async (req, res) => { await Promise.resolve(); res.send(404); });
srf.use('invite', (req, res, next) => next());
srf.use('INVITE', logger, asyncLayer);
srf.use([logger, asyncLayer]);
srf.use('register', [logger], asyncLayer);
srf.use([[logger], [asyncLayer]]);
srf.use(onError);
srf.use((err: Error, req: Req, res: Res, next: Srf.NextFunction) => { use(err, req, res); next(err); });
srf.use('invite', onError);
srf.use(subApp);
srf.use('options', subApp, logger, [onError]);
// @ts-expect-error use() needs at least one layer
srf.use();
// @ts-expect-error a layer is a function or a sub-app
srf.use(42);
// @ts-expect-error a method name alone is not a layer
srf.use('invite');

srf.invite((req, res) => { res.send(480); });
srf.register(logger);
srf.bye(logger, asyncLayer);
srf.cancel(logger);
srf.ack(logger);
srf.info([logger]);
srf.notify(logger);
srf.options((req, res) => res.send(200));
srf.prack(logger);
srf.publish(logger);
srf.refer(logger);
srf.subscribe(logger);
srf.update(logger);
srf.message(logger, onError);

// ------------------------------------------------------------------------------------------
// Requests: message and meta properties, events

srf.invite((req, res) => {
  const method: Srf.SipMethod = req.method;
  const uri: string = req.uri;
  const url: string = req.url;
  const headers: Record<string, string> = req.headers;
  const body: string = req.body;
  const part: Srf.Payload | undefined = req.payload[0];
  const type: 'request' = req.type;
  const raw: string = req.raw;
  const numbers: string[] = [req.callingNumber, req.callingName, req.calledNumber];
  const flags: boolean[] = [req.canFormDialog, req.isNewInvite, !!req.canceled];
  use(method, uri, url, headers, body, part, type, raw, numbers, flags);

  const source: 'network' | 'application' = req.source;
  const address: string = req.source_address;
  const port: number = req.source_port;
  // @ts-expect-error source_port is a number (drachtio-srf's typings said string)
  const portString: string = req.source_port;
  const protocol: string = req.protocol;
  const ids: string[] = [req.stackTime, req.stackTxnId, req.stackDialogId];
  const serverAddress: string | undefined = req.server?.address;
  const receivedOn: string | undefined = req.receivedOn;
  const token: string | undefined = req.sessionToken;
  const meta: Srf.MessageMeta = req.meta;
  const metaPort: number = meta.source_port;
  const owner: Srf = req.srf;
  const pinned: net.Socket | undefined = req.socket;
  use(source, address, port, portString, protocol, ids, serverAddress, receivedOn, token, meta.transactionId,
    meta.dialogId, metaPort, owner, pinned, req.res);
  // @ts-expect-error meta is read-only
  req.meta = meta;

  // headers
  const callId: string = req.get('Call-ID');
  const hasIt: boolean = req.has('x-foo');
  const stored: string | undefined = req.getHeaderName('x-foo');
  const self: Req = req.set('X-Added', 'yes').set({ 'X-Count': 2 });
  use(callId, hasIt, stored, self);

  const from: Srf.NameAddr = req.getParsedHeader('From');
  const fromTag: string = from.params.tag;
  const to = req.getParsedHeader('to');
  const compact = req.getParsedHeader('f');
  const contact: Srf.NameAddr[] = req.getParsedHeader('Contact');
  const vias: Srf.Via[] = req.getParsedHeader('Via');
  const viaPort: number | undefined = vias[0]?.port;
  // @ts-expect-error Via ports are numbers (drachtio-srf's typings said string)
  const viaPortString: string = vias[0].port;
  const cseq: Srf.CSeq = req.getParsedHeader('CSeq');
  const seq: number = cseq.seq;
  const length: number = req.getParsedHeader('Content-Length');
  const routes: Srf.RouteEntry[] = req.getParsedHeader('Record-Route');
  const routeHost: string | undefined = routes[0]?.uri?.host;
  const challenge: Srf.AuthHeaderEntry[] = req.getParsedHeader('WWW-Authenticate');
  const realm: string = challenge[0].realm;
  const info: Record<string, string> = req.getParsedHeader('authentication-info');
  const pai: Srf.NameAddr = req.getParsedHeader('P-Asserted-Identity');
  const other: string = req.getParsedHeader('X-Custom');
  const dynamicName: string = 'from' as string;
  const dynamic: string = req.getParsedHeader(dynamicName);
  const loose: Srf.AOR = req.getParsedHeader('Referred-By');
  use(fromTag, to.uri, compact.name, contact, viaPort, viaPortString, seq, length, routeHost, realm, info, pai,
    other, dynamic, loose);

  // third-party and library-set properties
  const reg = req.registration;
  if (reg) use(reg.type, reg.expires, reg.contact[0].uri, reg.aor);
  const user: string | undefined = req.authorization?.username;
  const notPopulated: Array<string | undefined> = [req.callId, req.from, req.to, req.sdp, req.branch];
  use(user, notPopulated);

  req.on('cancel', (cancelReq) => { const m: Srf.SipMethod = cancelReq.method; use(m); });
  req.on('update', (updateReq, updateRes) => { use(updateReq.body); updateRes.send(200); });
  req.once('cancel', () => {});
  req.on('custom', (...args) => use(args));
  req.on('cancel', (x) => {
    // @ts-expect-error 'cancel' listeners get the CANCEL request, not a response
    const r: Res = x;
    use(r);
  });

  // --------------------------------------------------------------------------------------------
  // Responses: send() forms exactly as api.md §3.4

  res.send(486);
  res.send(486, 'Busy Here');
  res.send(200, { headers: { 'Content-Type': 'application/sdp', 'X-Count': 1 }, body: 'v=0' });
  res.send(200, { body: 'v=0' }, (err, msg) => {
    const e: Error | null = err;
    const sent: Srf.SipMessage = msg;
    use(e, sent.get('To'));
  }, (ack) => { const m: Srf.SipMethod = ack.method; use(m); });
  res.send(180, (err, msg) => use(err, msg));
  res.send(183, { headers: { Require: '100rel' } }, () => {}, (prack) => use(prack.body));
  res.send(200, (err) => use(err), (ack) => use(ack));
  res.send(200, 'OK', { body: 'v=0' }, (err, msg) => use(err, msg), (ack) => use(ack));
  res.send(603, 'Decline', {});
  // @ts-expect-error the status is a number
  res.send('200');
  // @ts-expect-error the reason comes before the options
  res.send(200, { body: 'v=0' }, 'OK');
  // @ts-expect-error send() returns nothing
  res.send(200).then(() => {});

  const finished: boolean = res.finished;
  const final: boolean = res.finalResponseSent;
  const headersSent: boolean = res.headersSent;
  res.statusCode = 404;
  const status: number = res.status + res.statusCode;
  const reason: string = res.reason;
  const answered: Req = res.req;
  res.setHeader('X-Reason', 'test').set('X-More', 1);
  const fromRes: string = res.getHeader('X-Reason');
  res.removeHeader('X-Reason');
  res.end();
  res.end('Not Here');
  res.end('Not Here', 'utf8', (err) => use(err));
  res.end((err, msg) => use(err, msg));
  res.on('end', ({ status: s, reason: r }) => { const n: number = s; const t: string = r; use(n, t); });
  res.on('finish', () => {});
  use(finished, final, headersSent, status, reason, answered, fromRes);
  // @ts-expect-error finalResponseSent is read-only
  res.finalResponseSent = true;
});

// ------------------------------------------------------------------------------------------
// srf.request (api.md §3.1): the upstream typings' (uri, opts, method, [body]) form is gone

async function sendRequests(): Promise<void> {
  const options: Req = await srf.request('sip:alice@example.com', {
    method: 'OPTIONS',
    headers: { 'User-Agent': 'drachtio-srf-rs', Expires: 0 },
  });
  options.on('response', (res, ack) => {
    const status: number = res.status;
    const fromServer: number = res.source_port;
    const acked: Promise<Srf.SipMessage | null> | undefined = ack();
    void ack({ headers: { 'X-Ack': '1' }, body: 'v=0' });
    // @ts-expect-error ack() is a no-op returning undefined for responses to non-INVITEs
    void ack().then(() => {});
    use(status, fromServer, acked, res.get('Allow'));
  });
  options.on('authenticate', (newReq) => { const txn: string = newReq.stackTxnId; use(txn); });
  options.on('response', (res) => {
    // @ts-expect-error 'response' listeners get the response first
    const r: Req = res;
    use(r);
  });

  const same: Srf = srf.request('sip:alice@example.com', { method: 'info', body: 'hi' }, (err, req) => {
    const e: Error | null = err;
    use(e, req.stackTxnId);
  });
  const viaOpts: Req = await srf.request({
    uri: 'sip:alice@example.com',
    method: 'MESSAGE',
    body: 'hello',
    headers: { 'Content-Type': 'text/plain' },
    auth: { username: 'alice', password: 'secret' },
    proxy: 'sip:proxy.example.com;transport=tcp',
  });
  srf.request({ uri: 'sip:bob@example.com', method: 'NOTIFY', auth: (req, res, cb) => {
    use(req.uri, res.status);
    cb(null, 'bob', 'secret');
  } }, (err, req) => use(err, req));
  const pinnedReq: Promise<Req> = srf.request(someSocket, 'sip:alice@example.com', { method: 'OPTIONS' });
  srf.request(someSocket, 'sip:alice@example.com', { method: 'OPTIONS' }, (err, req) => use(err, req));
  use(same, viaOpts, pinnedReq);

  // @ts-expect-error there is no (uri, opts, method, [body]) form
  srf.request('sip:alice@example.com', { method: 'OPTIONS' }, 'OPTIONS', ['body']);
  // @ts-expect-error the method is required
  srf.request('sip:alice@example.com', {});
  // @ts-expect-error the 1-argument form needs a uri
  srf.request({ method: 'OPTIONS' });

  // CANCEL an INVITE we sent
  const invite = await srf.request('sip:bob@example.com', { method: 'INVITE', body: 'v=0' });
  invite.cancel();
  invite.cancel((err, cancelReq) => use(err, cancelReq.method));
  invite.cancel({ headers: { Reason: 'SIP;cause=200;text="Call completed elsewhere"' } }, () => {});
  // @ts-expect-error cancel() has no Promise form
  invite.cancel().then(() => {});
}
use(sendRequests);

// ------------------------------------------------------------------------------------------
// SipError, SipMessage, URIs, dialog state constants

const sipError = new SipError(486, 'Busy Here');
const isError: Error = sipError;
const errStatus: number = sipError.status;
const errReason: string | undefined = sipError.reason;
const errName: 'SipError' = sipError.name;
const errRes: Res | undefined = sipError.res;
new Srf.SipError(500);
// @ts-expect-error the status is a number
new SipError('486');
use(isError, errStatus, errReason, errName, errRes);

const parsedMsg = new SipMessage('OPTIONS sip:a@b SIP/2.0\r\n\r\n');
const built = new Srf.SipMessage({ method: 'INVITE', uri: 'sip:bob@example.com', headers: { 'Max-Forwards': 70 }, body: 'v=0' });
new SipMessage(Buffer.from('SIP/2.0 200 OK\r\n\r\n'));
new SipMessage();
const msgType: 'request' | 'response' | 'unknown' = parsedMsg.type;
const msgStatus: number | undefined = built.status;
const msgCseq: number = built.getParsedHeader('cseq').seq;
const text: string = built.toString();
use(msgType, msgStatus, msgCseq, text, built.set('X-A', 'b').get('X-A'));
const reqAsMessage: Srf.SipMessage = {} as Req;
use(reqAsMessage);
new SipRequest(parsedMsg);
new SipResponse();
declare const someValue: unknown;
if (someValue instanceof SipRequest) use(someValue.method);
if (someValue instanceof Srf.SipResponse) use(someValue.status);
// @ts-expect-error SrfRequest is only a type: the class is Srf.SipRequest
new Srf.SrfRequest();

const sipUri = parseUri('sip:alice:pw@example.com:5070;transport=tcp;lr?X-Hdr=1');
const uriPort: number = sipUri.port;
const uriHost: string = sipUri.host;
const uriUser: string | undefined = sipUri.user;
const uriParam: string | null = sipUri.params.transport;
const family: 'ipv4' | 'ipv6' = sipUri.family;
// @ts-expect-error parseUri().port is a number (NaN when absent), not a string
const uriPortString: string = parseUri('sip:alice@example.com').port;
const telUri = parseUri('tel:+15551234567;phone-context=example.com');
const telNumber: string = telUri.number;
const telContext: string | null = telUri.context;
declare const unknownUri: string;
const anyUri = parseUri(unknownUri);
if (anyUri.scheme === 'tel') use(anyUri.number);
else use(anyUri.host, anyUri.port);
const loosely: string | undefined = anyUri.user;
const loosePort: number | undefined = anyUri.port;
const alreadyParsed = parseUri({ scheme: 'sip', host: 'x' });
const again: string = stringifyUri(sipUri);
stringifyUri(telUri);
stringifyUri('sip:alice@example.com');
stringifyUri({ scheme: 'sips', user: 'bob', host: 'example.com', port: 5061, params: { transport: 'tls' } });
use(uriPort, uriHost, uriUser, uriParam, family, uriPortString, telNumber, telContext, loosely, loosePort,
  alreadyParsed.host, again);

const trying: 'trying' = DialogState.Trying;
const states: Srf.DialogStateValue[] = [DialogState.Proceeding, DialogState.Early, DialogState.Confirmed,
  DialogState.Terminated, DialogState.Rejected, DialogState.Cancelled];
const directions: Srf.DialogDirectionValue[] = [DialogDirection.Initiator, DialogDirection.Recipient];
use(trying, states, directions);

// ------------------------------------------------------------------------------------------
// digestAuth middleware

const challenge = digestAuth({
  realm: 'sip.example.com',
  passwordLookup(username, realm, cb) {
    const u: string = username;
    const r: string = realm;
    use(u, r);
    cb(null, 'secret');
  },
});
srf.register(challenge, (req, res) => {
  const creds: Srf.DigestCredentials | undefined = req.authorization;
  use(creds?.username, creds?.realm);
  res.send(200);
});
Srf.digestAuth({
  realm: async (req) => (req.uri.includes('example') ? 'example.com' : null),
  passwordLookup: (username, realm, cb) => cb(null, { ha1: { MD5: '0'.repeat(32), 'SHA-256': '0'.repeat(64) } }),
  proxy: true,
  srf,
  algorithms: ['SHA-256', 'MD5', 'sha-256-sess'],
  qop: 'auth,auth-int',
  nonceExpiry: 60,
  nonceSecret: Buffer.from('shared'),
});
digestAuth({ passwordLookup: (u, r, cb) => cb(new Error('db down')) });
// @ts-expect-error passwordLookup is required
digestAuth({ realm: 'sip.example.com' });
// @ts-expect-error unknown algorithm
digestAuth({ passwordLookup: () => {}, algorithms: ['SHA-1'] });

// ------------------------------------------------------------------------------------------
// Dialogs (api.md §4–§5)

srf.invite(async (req, res) => {
  const stateEmitter = new EventEmitter();
  stateEmitter.on('stateChange', (s: Srf.DialogStateInfo) => use(s.state, s.direction, s.aor, s.id));
  stateEmitter.on('stateChange', (s: Srf.DialogStateInfo) => {
    const fields: [string, string, string, string] = [s.state, s.direction, s.aor, s.callId];
    const tags: Array<string | undefined> = [s.localTag, s.remoteTag];
    const ended: boolean = s.state === DialogState.Terminated || s.state === Srf.DialogState.Rejected;
    const weCalled: boolean = s.direction === DialogDirection.Recipient;
    // @ts-expect-error the local tag is unknown until a UAS has sent its 200
    const localTag: string = s.localTag;
    // @ts-expect-error states are the DialogState values
    const unknownState: Srf.DialogStateInfo['state'] = 'ringing';
    use(fields, tags, ended, weCalled, localTag, unknownState);
  });
  const uas: Srf.Dialog = await srf.createUAS(req, res, {
    localSdp: 'v=0',
    headers: { 'X-Dialog': 'uas' },
    dialogStateEmitter: stateEmitter,
  });
  await srf.createUAS(req, res, { body: async () => 'v=0' });
  await srf.createUAS(req, res);
  srf.createUAS(req, res, { localSdp: () => 'v=0' }, (err, dlg) => use(err, dlg.id));
  srf.createUAS(req, res, { localSdp: async () => 'v=0', body: 'v=0 wins' }, (err, dlg) => use(err, dlg));
  const chainedUas: Srf = srf.createUAS(req, res, (err, dlg) => use(err, dlg.dialogType));
  // @ts-expect-error a localSdp function takes no arguments and returns the SDP
  await srf.createUAS(req, res, { localSdp: (offer: string) => offer.length });
  use(chainedUas);

  const id: string = uas.id;
  const kind: 'uac' | 'uas' = uas.type;
  const dialogType: 'INVITE' | 'SUBSCRIBE' = uas.dialogType;
  const isConnected: boolean = uas.connected;
  const onHold: boolean = uas.onHold;
  const sipInfo: string[] = [uas.sip.callId, uas.sip.localTag, uas.sip.remoteTag];
  const sdps: string[] = [uas.local.sdp, uas.local.uri, uas.local.contact, uas.remote.sdp, uas.remote.uri];
  const dlgReq: Req = uas.req;
  const dlgRes: Res = uas.res;
  const subscriptions: string[] = uas.subscriptions;
  const event: string | null = uas.subscribeEvent;
  uas.queueRequests = true;
  uas.queueRequests = false;
  const subscriptionCount: number = uas.addSubscription(req) + uas.getCountOfSubscriptions();
  const peer: Srf.Dialog = uas.other;
  const peerConnected: boolean = !!uas.other && uas.other.connected;
  const asJson: { id: string; type: 'uac' | 'uas'; onHold: boolean } = uas.toJSON();
  const jsonSdp: string = uas.toJSON().remote.sdp + uas.toJSON().local.contact;
  use(subscriptionCount, peer, peerConnected, asJson, jsonSdp);
  // @ts-expect-error dialogType is read-only
  uas.dialogType = 'INVITE';
  const json = uas.toJSON();
  use(id, kind, dialogType, isConnected, onHold, sipInfo, sdps, dlgReq, dlgRes, subscriptions, event, json.id,
    uas.toString(), uas.getCountOfSubscriptions(), uas.removeSubscription('sip:a@b', 'presence'));
  // @ts-expect-error id is read-only
  uas.id = 'x';

  uas.on('destroy', (bye, reason) => { const r: string | undefined = reason; use(bye.method, r); });
  uas.once('destroy', (bye: Req, reason?: string) => use(bye, reason === 'normal release' || reason === 'ACK timeout'));
  uas.on('modify', (reinvite, reinviteRes) => reinviteRes.send(200, { body: uas.local.sdp }));
  uas.on('refresh', (reinvite) => use(reinvite.body));
  uas.on('hold', (reinvite) => use(reinvite));
  uas.on('unhold', (reinvite) => use(reinvite));
  uas.on('info', (infoReq, infoRes) => infoRes.send(200));
  uas.on('notify', (r, s) => s.send(200));
  uas.on('options', (r, s) => s.send(200));
  uas.on('message', (r, s) => s.send(200));
  uas.on('publish', (r, s) => s.send(200));
  uas.on('refer', (r, s) => s.send(202));
  uas.on('update', (r, s) => s.send(200));
  uas.on('subscribe', (r, s) => s.send(202));
  uas.on('unsubscribe', (r, why) => { const w: 'unsubscribe' = why; use(r, w); });
  uas.once('ack', (ack) => use(ack.body));
  uas.off('ack', () => {});
  uas.on('modify', (r, s) => {
    // @ts-expect-error 'modify' listeners get (req, res)
    const wrong: Res = r;
    use(wrong, s);
  });

  // destroy(): a Promise now (drachtio-srf's typings said void)
  const bye: Promise<Req> = uas.destroy();
  await uas.destroy({ headers: { Reason: 'Q.850;cause=16' }, auth: { username: 'u', password: 'p' } });
  const chainedDestroy: Srf.Dialog = uas.destroy((err, msg) => use(err, msg.method));
  uas.destroy({ headers: {} }, (err) => use(err));
  use(bye, chainedDestroy);

  const remoteSdp: string = await uas.modify('hold');
  await uas.modify('unhold');
  await uas.modify('v=0 new offer', { headers: { 'X-Reason': 'codec change' } });
  const late: Srf.ModifyNoAckResult = await uas.modify({ noAck: true });
  late.ack('v=0 answer');
  const plain: string = await uas.modify({ headers: { Contact: '<sip:me@127.0.0.1>' } });
  uas.modify('v=0', (err, sdp, ack) => { use(err, sdp); if (ack) ack('v=0'); });
  uas.modify({ noAck: true }, (err, sdp, ack) => use(err, sdp, ack));
  const withSdp: string = await uas.modify({ sdp: 'v=0 offer', headers: { 'X-Why': 'codec' } });
  const offeredWithNoAck: string = await uas.modify({ sdp: 'v=0 offer', noAck: true });
  const lateOffer = await uas.modify({ noAck: true, headers: { 'X-Late': '1' } });
  const offerInThe200: string = lateOffer.sdp;
  lateOffer.ack('v=0 answer');
  uas.modify({ sdp: 'v=0' }, (err, sdp) => use(err, sdp));
  uas.modify('hold', undefined, (err, sdp) => use(err, sdp));
  // @ts-expect-error with an SDP of ours the result is the remote SDP, not {sdp, ack}
  const notLate: Srf.ModifyNoAckResult = await uas.modify({ sdp: 'v=0', noAck: true });
  // @ts-expect-error modify takes an SDP string, 'hold'/'unhold', or options
  await uas.modify(42);
  use(withSdp, offeredWithNoAck, offerInThe200, notLate);
  // @ts-expect-error the callback gets the remote SDP (a string), not a response
  uas.modify('unhold', {}, (err: Error | null, msg: Res) => use(err, msg));
  use(remoteSdp, plain);

  const infoRes: Res = await uas.request({ method: 'INFO', headers: { 'Content-Type': 'application/dtmf-relay' }, body: 'Signal=1' });
  uas.request({ method: 'INVITE', body: 'v=0', noAck: true }, (err, reinviteRes, ack) => {
    use(err, reinviteRes.status);
    if (ack) void ack({ body: 'v=0' });
  });
  // @ts-expect-error in-dialog methods are upper-case method names
  uas.request({ method: 'info' });
  await uas.info({ body: 'x' });
  await uas.bye();
  uas.notify({ headers: { Event: 'refer', 'Subscription-State': 'terminated' } }, (err, r) => use(err, r));
  await Promise.all([uas.refer({}), uas.message({ body: 'hi' }), uas.update(), uas.options(),
    uas.invite({ body: 'v=0' }), uas.prack(), uas.publish(), uas.register(), uas.subscribe()]);
  const viaShortcut: Srf.Dialog = uas.info({ body: 'x' }, (err, infoResponse) => use(err, infoResponse.status));
  uas.invite({ noAck: true }, (err, reinviteRes, ack) => { use(err, reinviteRes); if (ack) void ack({ body: 'v=0' }); });
  // @ts-expect-error no ACK shortcut: an ACK has no response to wait for (the ack function of a response sends it)
  uas.ack();
  // @ts-expect-error no CANCEL shortcut: cancel a sent INVITE with req.cancel()
  uas.cancel();
  // @ts-expect-error the shortcuts take the method from their name
  uas.info({ method: 'INFO' });
  use(viaShortcut);
  use(infoRes);

  // createUAC
  const uac: Srf.Dialog = await srf.createUAC('sip:bob@example.com', {
    localSdp: 'v=0',
    headers: { 'User-Agent': 'drachtio-srf-rs' },
    callingNumber: '+15551234567',
    callingName: 'Alice',
    calledNumber: '+15557654321',
    followRedirects: true,
    keepUriOnRedirect: true,
    method: 'INVITE',
    proxy: 'sip:proxy.example.com',
    auth: { username: 'alice', password: 'secret' },
    dialogStateEmitter: stateEmitter,
  }, {
    cbRequest: (err, sent) => { if (!err) sent.cancel(); },
    cbProvisional: (provisional) => use(provisional.status),
  });
  await srf.createUAC({ uri: 'sip:bob@example.com', localSdp: 'v=0', method: 'SUBSCRIBE' });
  srf.createUAC('sip:bob@example.com', { localSdp: 'v=0' }, {}, (err, dlg) => use(err, dlg.id));
  srf.createUAC({ uri: 'sip:bob@example.com' }, { cbRequest: () => {} }, (err, dlg) => use(err, dlg));
  srf.createUAC('sip:bob@example.com', { localSdp: 'v=0' }, (err, sent) => use(err, sent), (p) => use(p), (err, dlg) => use(err, dlg));
  srf.createUAC({ uri: 'sip:bob@example.com' }, (err, sent) => use(err, sent), undefined, (err, dlg) => use(err, dlg.id));
  const chainedUac: Srf = srf.createUAC('sip:bob@example.com', { localSdp: 'v=0' }, (err, dlg) => use(err, dlg.remote.sdp));
  srf.createUAC({ uri: 'sip:bob@example.com', localSdp: 'v=0' }, (err, dlg) => use(err, dlg.local.sdp));
  srf.createUAC('sip:bob@example.com', undefined, undefined, (err, dlg) => use(err, dlg));
  const lateOfferInvite: Srf.Dialog = await srf.createUAC('sip:bob@example.com');
  const barHost: Srf.Dialog = await srf.createUAC('example.com', { calledNumber: '+15557654321', localSdp: 'v=0' });
  const subscription: Srf.Dialog = await srf.createUAC('sip:presence@example.com', {
    method: 'SUBSCRIBE',
    headers: { Event: 'presence', Expires: 3600, Accept: 'application/pidf+xml' },
  });
  const subscribeEvent: string | null = subscription.subscribeEvent;
  use(chainedUac, lateOfferInvite, barHost, subscribeEvent);
  const threePcc = await srf.createUAC('sip:bob@example.com', { noAck: true });
  if ('sdp' in threePcc) {
    const answered: Srf.Dialog = await threePcc.ack('v=0 answer');
    const gone: Promise<void> = threePcc.destroy();
    const offer: string = threePcc.sdp;
    use(answered, threePcc.res.status, gone, offer);
  } else {
    const plainDialog: Srf.Dialog = threePcc;
    use(plainDialog);
  }
  const threePccObj: Srf.Dialog | Srf.UacNoAckResult = await srf.createUAC({ uri: 'sip:bob@example.com', noAck: true }, {
    cbRequest: (err, sent) => use(err, sent),
  });
  // @ts-expect-error with noAck and no localSdp the result may be the 3pcc object, not a Dialog
  const maybeNot: Srf.Dialog = await srf.createUAC('sip:bob@example.com', { noAck: true });
  // noAck with an offer of ours: always a Dialog
  const offered: Srf.Dialog = await srf.createUAC('sip:bob@example.com', { noAck: true, localSdp: 'v=0' });
  srf.createUAC('sip:bob@example.com', { noAck: true }, (err, result) => {
    if (result && !(result instanceof Dialog)) void result.ack('v=0 answer');
    use(err);
  });
  srf.createUAC('sip:bob@example.com', { noAck: true }, {}, (err, result) => use(err, result));
  srf.createUAC({ uri: 'sip:bob@example.com', noAck: true }, (err, result: Srf.Dialog | Srf.UacNoAckResult) => use(err, result));
  use(threePccObj, maybeNot, offered);
  // @ts-expect-error createUAC sends INVITE or SUBSCRIBE only
  srf.createUAC('sip:bob@example.com', { method: 'OPTIONS' });
  // @ts-expect-error createUAC sends INVITE or SUBSCRIBE only
  srf.createUAC({ uri: 'sip:bob@example.com', method: 'BYE' });
  // @ts-expect-error cbProvisional gets the provisional response only
  srf.createUAC('sip:bob@example.com', {}, { cbProvisional: (err: Error | null, p: Res) => use(err, p) });
  // @ts-expect-error followRedirects is a boolean
  srf.createUAC('sip:bob@example.com', { followRedirects: 'yes' });
  // @ts-expect-error cbRequest gets (err, req): a one-argument (req) callback is a bug
  srf.createUAC('sip:bob@example.com', { localSdp: 'v=0' }, { cbRequest: (sent: Req) => use(sent) });
  use(uac);

  // createB2BUA
  const { uas: aLeg, uac: bLeg }: Srf.B2BUAResult = await srf.createB2BUA(req, res, 'sip:bob@example.com', {
    localSdpB: req.body,
    localSdpA: async (sdp, bRes) => { use(bRes.status); return sdp; },
    proxyRequestHeaders: ['all', '-X-Secret'],
    proxyResponseHeaders: ['all'],
    responseHeaders: (uacRes, headersSoFar) => ({ 'X-B-Status': uacRes.status, ...headersSoFar }),
    passFailure: false,
    passProvisionalResponses: true,
    headers: { 'X-Leg': 'b' },
    followRedirects: true,
    callingNumber: '+1555',
  }, {
    cbRequest: (err, bReq) => use(err, bReq),
    cbProvisional: (p) => use(p.status),
    cbFinalizedUac: (finalUac) => use(finalUac.id),
  });
  aLeg.other.destroy();
  bLeg.on('destroy', () => aLeg.destroy());
  await srf.createB2BUA(req, res, { uri: 'sip:bob@example.com', responseHeaders: { 'X-A': 'b' } });
  await srf.createB2BUA(req, res, 'sip:bob@example.com');
  srf.createB2BUA(req, res, 'sip:bob@example.com', {}, {}, (err, result) => use(err, result.uac, result.uas));
  srf.createB2BUA(req, res, 'sip:bob@example.com', {}, undefined, undefined, (err, result) => use(err, result));
  // Every option of api.md §4.3, including the createUAC ones passed to the B leg.
  const threePccB2b: Srf.B2BUAResult = await srf.createB2BUA(req, res, 'sip:bob@example.com', {
    headers: { 'X-Leg': 'b' },
    proxyRequestHeaders: ['X-Account', 'Subject'],
    proxyResponseHeaders: ['all', '-X-Internal'],
    responseHeaders: { 'X-B2B': 1 },
    localSdpA: 'v=0 for A',
    localSdpB: async (sdpFromAck) => `${sdpFromAck} for B`,
    passFailure: true,
    passProvisionalResponses: false,
    proxy: 'sip:proxy.example.com;lr',
    auth: (authReq, challenge, cb) => cb(null, 'alice', challenge.status === 407 ? 'proxy-secret' : 'secret'),
    followRedirects: true,
    keepUriOnRedirect: true,
    noAck: true,
    method: 'INVITE',
    callingName: 'Alice',
    calledNumber: '+15557654321',
    dialogStateEmitter: stateEmitter,
  });
  srf.createB2BUA(req, res, 'sip:bob@example.com', (err, result) => use(err, result.uas.other));
  const chainedB2b: Srf = srf.createB2BUA(req, res, 'sip:bob@example.com', { passFailure: false }, (err, result) => use(err, result));
  srf.createB2BUA(req, res, { uri: 'sip:bob@example.com' }, (err, result) => use(err, result.uac));
  srf.createB2BUA(req, res, { uri: 'sip:bob@example.com' }, { cbFinalizedUac: (b) => use(b.id) }, (err, result) => use(err, result));
  srf.createB2BUA(req, res, 'sip:bob@example.com', {}, (err, bReq) => use(err, bReq.uri), (p) => use(p.status), (err, result) => use(err, result.uas));
  // @ts-expect-error responseHeaders functions return headers
  srf.createB2BUA(req, res, 'sip:bob@example.com', { responseHeaders: () => 'X-A: b' });
  // @ts-expect-error proxyRequestHeaders is a list of header names
  srf.createB2BUA(req, res, 'sip:bob@example.com', { proxyRequestHeaders: 'all' });
  // @ts-expect-error cbFinalizedUac gets the B-leg Dialog
  srf.createB2BUA(req, res, 'sip:bob@example.com', {}, { cbFinalizedUac: (r: Res) => use(r) });
  use(threePccB2b, chainedB2b);
  // @ts-expect-error the result is {uas, uac}, not a Dialog
  const notADialog: Srf.Dialog = await srf.createB2BUA(req, res, 'sip:bob@example.com', {});
  use(notADialog);

  // proxyRequest / req.proxy
  const result: Srf.ProxyResult = await srf.proxyRequest(req, ['sip:a@example.com', 'sip:b@example.com'], {
    recordRoute: true,
    remainInDialog: true,
    forking: 'simultaneous',
    provisionalTimeout: '2s',
    finalTimeout: '20s',
    followRedirects: true,
    headers: { 'X-Proxied': 'yes' },
  });
  const connectedCall: boolean = result.connected;
  const finalStatus: number = result.finalStatus + result.finalResponse.status;
  const attempts: number = result.responses[0].msgs.length + result.responses[0].port;
  srf.proxyRequest(req, 'sip:c@example.com', (err, r) => use(err, r.finalStatus));
  srf.proxyRequest(req, undefined, { forking: 'parallel' }, (err, r) => use(err, r));
  await srf.proxyRequest(req);
  await req.proxy({ destination: 'sip:d@example.com', path: true });
  // @ts-expect-error the callback gets the result object, not a string
  srf.proxyRequest(req, 'sip:e@example.com', {}, (err: Error | null, results: string) => use(err, results));
  use(connectedCall, finalStatus, attempts);

  // dialog registry
  const found: Srf.Dialog | undefined = srf.findDialogById(uas.id) ?? srf.findDialogByCallIDAndFromTag('call-id', 'tag');
  srf.addDialog(uas);
  srf.removeDialog(uas);
  srf.unregisterForMessages('subscribe');
  srf.reregisterForMessages('subscribe');
  srf.unregisterForMessages('INVITE');
  srf.reregisterForMessages('invite');
  const isIdle: boolean = srf.idle;
  const stats: Srf.SrfStats = await srf.stats();
  const held: number = stats.dialogs + stats.pendingInvites + stats.sentRequests + stats.ackWaiters
    + (stats.engine ? stats.engine.dialogs + stats.engine.serverTransactions + stats.engine.clientTransactions + stats.engine.pendingRequests : 0);
  // @ts-expect-error engine is null when connected to a drachtio server
  use(held, stats.engine.dialogs);
  // @ts-expect-error the dispatcher is a (req, res, next) middleware, not a Promise
  const notMiddleware: Promise<void> = srf.dialog({});
  use(isIdle, notMiddleware);
  const dispatcher: Srf.Middleware = srf.dialog();
  srf.endSession(req);
  srf.endSession(res);
  use(found, dispatcher);
});

// Session state and high availability (seed 003).
{
  const srf = new Srf();
  srf.sessionStore = new Srf.RedisStore({ url: 'redis://127.0.0.1:6379', prefix: 'app:', ttl: 3600 });
  srf.sessionStore = new Srf.MemoryStore();
  srf.sessionStore = null;
  // @ts-expect-error a store needs get, set and del
  srf.sessionStore = { get: async () => null };
  srf.on('sipdialog:create', (dialog: Srf.Dialog) => { dialog.session.user = 'DaveH'; });
  srf.on('sipdialog:restore', (dialog) => { const user: unknown = dialog.session.user; const again: boolean | undefined = dialog.restored; dialog.save(); use(user, again); });
  srf.on('sipdialog:terminate', (dialog) => use(dialog.id));
  srf.stats().then((s) => { if (s.sessionStore) use(s.sessionStore.writes + s.sessionStore.failedWrites + s.sessionStore.restored); });
  const store: Srf.SessionStore = new Srf.MemoryStore();
  store.get('id').then((snap: Srf.DialogSnapshot | null) => use(snap && snap.session, snap && snap.other));
}
