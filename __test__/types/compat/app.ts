// Code written against drachtio-srf 5.0.29's own typings (lib/@types/index.d.ts). It is
// compiled twice: against those typings (tsconfig.upstream.json, to prove it is valid
// drachtio-srf code) and against ours with 'drachtio-srf' mapped to drachtio-srf-rs
// (tsconfig.json), to prove that switching packages does not break its compilation.
// Forms that only compiled because drachtio-srf's typings were wrong (connect().then, string
// ports, cbRequest(req), a modify() callback taking a response, ...) are left out: cjs/app.ts
// checks that those are now rejected.
import Srf = require('drachtio-srf');
import { EventEmitter } from 'events';

const config: Srf.SrfConfig = { host: '127.0.0.1', port: 9022, secret: 'cymru' };
const srf = new Srf(['compat']);
const plain = new Srf();
const oneTag = new Srf('one');

async function start(): Promise<void> {
  await srf.connect(config);
  plain.connect({ host: 'localhost', port: 9022, secret: 'cymru', logger: (msg: string) => console.log(msg) });
  oneTag.disconnect();
}
void start();

srf.on('connect', (err: Error, hostPort: string) => console.log(err, hostPort));
srf.on('connect', (err, hostPort) => console.log(err, hostPort));
srf.on('error', (err: Error) => console.error(err.message));
srf.on('disconnect', () => {});
srf.on('message', (req: Srf.SrfRequest, res: Srf.SrfResponse) => res.send(200));
srf.on('invite', (req, res) => res.send(480));
srf.on('cdr:attempt', (source: string, time: string, msg: Srf.SipMessage) => console.log(source, time, msg.get('Call-ID')));
srf.on('cdr:start', (source, time, role, msg) => console.log(source, time, role, msg.callingNumber));
srf.on('cdr:stop', (source: string, time: string, reason: string, msg: Srf.SipMessage) => console.log(reason, msg.body));
srf.locals.cache = new Map<string, number>();

srf.use((req: Srf.SrfRequest, res: Srf.SrfResponse, next: Function) => { console.log(req.method); next(); });
srf.use((req, res, next) => next());
srf.use('invite', (req: Srf.SrfRequest, res: Srf.SrfResponse, next: Function) => next());
srf.use('register', (req, res, next) => next());

const logMessage = (msg: Srf.SipMessage): string => `${msg.type} ${msg.get('Call-ID')} ${msg.calledNumber}`;

srf.invite(async (req: Srf.SrfRequest, res: Srf.SrfResponse) => {
  const callId: string = req.get('Call-ID');
  const method: Srf.SipMethod = req.method;
  const headers: Record<string, string> = req.headers;
  const from = req.getParsedHeader('From');
  const name: string = from.name;
  const tag = from.params?.tag;
  const contacts: Srf.AOR[] = req.getParsedHeader('Contact');
  const vias: Srf.Via[] = req.getParsedHeader('via');
  const raw: string = req.getParsedHeader('X-Custom');
  const sourceAddress: string = req.source_address;
  const stackTime: string = req.stackTime;
  const uri = Srf.parseUri(req.uri);
  const user: string | undefined = uri.user;
  const host: string | undefined = uri.host;
  const params: Record<string, string | null> = uri.params;
  const back: string = Srf.stringifyUri(uri);
  const isNew: boolean = req.isNewInvite;
  const owner: Srf = req.srf;
  const inner: Srf.SipMessage = req.msg;
  console.log(callId, method, headers, name, tag, contacts, vias.length, raw, sourceAddress, stackTime, user, host,
    params, back, isNew, owner, inner, logMessage(req), req.payload[0]?.type, req.calledNumber, req.callingNumber,
    req.raw, req.body, req.has('X-Foo'), req.registration?.aor);
  req.set('X-Added', 'yes');
  req.on('cancel', (msg: Srf.SipMessage) => console.log(logMessage(msg)));
  req.on('response', (resp?: Srf.SrfResponse) => console.log(resp?.status));

  try {
    const uas: Srf.Dialog = await srf.createUAS(req, res, { localSdp: 'v=0', headers: { 'X-A': 'b' } });
    uas.on('destroy', (msg: Srf.SrfRequest) => console.log(msg.get('Reason')));
    uas.on('modify', (modReq, modRes) => modRes.send(200, { body: uas.local.sdp }));
    uas.on('refresh', (msg: Srf.SrfRequest) => console.log(msg.body));
    uas.on('info', (infoReq: Srf.SrfRequest, infoRes: Srf.SrfResponse) => infoRes.send(200));
    uas.once('destroy', (msg: Srf.SrfResponse) => console.log(msg.status));
    const sdp: string = await uas.modify('hold');
    const sdp2: string = await uas.modify({ noAck: false });
    uas.modify('unhold', { noAck: false }, (err: any) => console.log(err));
    const infoRes: Srf.SrfResponse = await uas.request({ method: 'INFO', body: 'x' } as Srf.SrfRequest);
    uas.destroy();
    uas.destroy({ headers: { Reason: 'x' } }, (err: any, bye: Srf.SrfRequest) => console.log(err, bye.method));
    const peer: Srf.Dialog = uas.other;
    console.log(sdp, sdp2, infoRes.statusCode, peer, uas.sip.callId, uas.remote.uri, uas.onHold, uas.type, uas.req.uri);
  } catch (err) {
    console.error(err);
  }
});

srf.invite(async (req, res) => {
  res.send(100);
  res.send(180, {});
  res.send(486, 'Busy Here', { headers: { 'Retry-After': '60' } });
  res.send(200, 'OK', { body: 'v=0' }, (err: any, msg: Srf.SipMessage) => console.log(err, msg.raw));
  const looseOpts: object = { headers: {} };
  res.send(200, looseOpts);
  res.end();
  const done: boolean = res.finalResponseSent;
  console.log(done, res.status, res.statusCode, res.reason, res.get('To'), res.has('To'));

  const uac: Srf.Dialog = await srf.createUAC('sip:bob@example.com', {
    localSdp: 'v=0',
    headers: { From: 'sip:alice@localhost' },
    proxy: 'sip:proxy.example.com',
    auth: { username: 'alice', password: 'secret' },
    noAck: false,
  }, { cbProvisional: (prov: Srf.SrfResponse) => console.log(prov.status) });
  const uac2: Srf.Dialog = await srf.createUAC({ uri: 'sip:bob@example.com', localSdp: 'v=0' });
  srf.createUAC('sip:bob@example.com', { localSdp: 'v=0' }, {}, (err: any, dialog: Srf.Dialog) => console.log(err, dialog.sip));
  const { uas, uac: bLeg } = await srf.createB2BUA(req, res, 'sip:carol@example.com', {
    localSdpB: req.body,
    localSdpA: (sdp: string, bRes: Srf.SrfResponse) => `${sdp}${bRes.status}`,
    proxyRequestHeaders: ['X-Foo'],
    proxyResponseHeaders: ['X-Bar'],
    passFailure: true,
    passProvisionalResponses: false,
    headers: { 'X-B': '1' },
    auth: { username: 'u', password: 'p' },
  }, { cbFinalizedUac: (d: Srf.Dialog) => console.log(d.local.uri) });
  srf.proxyRequest(req, 'sip:dave@example.com', { recordRoute: true, forking: 'sequential', provisionalTimeout: '2s' });
  srf.proxyRequest(req, ['sip:a@example.com', 'sip:b@example.com'], { forking: 'simultaneous', remainInDialog: true, followRedirects: true, finalTimeout: '30s' });
  console.log(uac.other, uac2.remote.sdp, uas.local.sdp, bLeg.req.method);
});

const emitter = new EventEmitter();
const socketOfSrf = srf.socket;
const { parseUri, stringifyUri } = Srf;
const parsed: Srf.ParseUriResult = parseUri('sip:alice@example.com');
const str: string = stringifyUri({ scheme: 'sip', user: 'alice', host: 'example.com' });
const aor: Srf.AOR = { name: 'Alice', uri: 'sip:alice@example.com' };
const createUasOptions: Srf.CreateUASOptions = { localSdp: 'v=0' };
const createUacOptions: Srf.CreateUACOptions = { uri: 'sip:x@y', noAck: true, localSdp: 'v=0' };
const b2bOptions: Srf.CreateB2BUAOptions = { proxyRequestHeaders: [], responseHeaders: { 'X-A': 'b' } };
const proxyOptions: Srf.ProxyRequestOptions = { forking: 'simultaneous' };
const headersType: Srf.SipMessageHeaders = { 'X-A': 'b' };
console.log(emitter, socketOfSrf, parsed.family, parsed.scheme, parsed.context, str, aor, createUasOptions,
  createUacOptions, b2bOptions, proxyOptions, headersType);
