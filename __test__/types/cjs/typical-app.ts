// A typical drachtio-srf application, written the way such apps are (no type gymnastics), to
// check it compiles unchanged against drachtio-srf-rs: a registrar behind digest auth, a UAS
// for one number, a B2BUA for the rest, and an OPTIONS ping to a peer.
import Srf = require('drachtio-srf-rs');
import { EventEmitter } from 'events';

const { SipError, parseUri, digestAuth } = Srf;

interface Registration {
  contact: string;
  expires: number;
  source: string;
}

const registrations = new Map<string, Registration>();
const users: Record<string, string> = { alice: 'wonderland', bob: 'builder' };
const config = {
  drachtio: { host: process.env.DRACHTIO_HOST || '127.0.0.1', port: 9022, secret: 'cymru' },
  domain: 'sip.example.com',
  carrier: 'sip:carrier.example.net',
  peer: 'sip:peer.example.net:5060',
};

const srf = new Srf(['registrar', 'pbx']);
srf.locals.registrations = registrations;

srf.connect(config.drachtio);
srf.on('connect', (err, hostport) => {
  if (err) return console.error(`failed to connect: ${err.message}`);
  console.log(`connected to drachtio listening on ${hostport}`);
  startPinging();
});
srf.on('error', (err) => console.error(`drachtio connection error: ${err.message}`));
srf.on('reconnecting', ({ attempt, delay }) => console.log(`reconnect #${attempt} in ${delay}ms`));
srf.on('cdr:stop', (source, time, reason) => console.log(`call ended at ${time} (${source}): ${reason}`));

// ----------------------------------------------------------------------------------- registrar

const challenge = digestAuth({
  realm: config.domain,
  passwordLookup: (username, realm, callback) => {
    const password = users[username];
    if (!password) return callback(null, false);
    callback(null, password);
  },
});

srf.register(challenge, (req, res) => {
  const to = req.getParsedHeader('To');
  const aor = parseUri(to.uri);
  if (!aor || aor.scheme === 'tel' || !aor.user) return res.send(400);
  const expiresHeader = req.get('Expires');
  const contact = req.getParsedHeader('Contact')[0];
  const expires = parseInt(contact.params.expires || expiresHeader || '3600', 10);
  const key = `${aor.user}@${aor.host}`;
  if (expires === 0) {
    registrations.delete(key);
  } else {
    registrations.set(key, { contact: contact.uri, expires, source: `${req.source_address}:${req.source_port}` });
  }
  res.send(200, {
    headers: {
      Contact: req.get('Contact'),
      Expires: expires,
    },
  });
});

// ---------------------------------------------------------------------------------- UAS + B2BUA

srf.use('invite', (req, res, next) => {
  if (!req.has('Contact')) return res.send(400, 'Missing Contact');
  next();
});

srf.invite(async (req, res) => {
  const dialed = req.calledNumber;
  req.on('cancel', () => console.log(`caller hung up before answer: ${req.get('Call-ID')}`));

  if (dialed === 'echo') {
    try {
      const uas = await srf.createUAS(req, res, {
        localSdp: req.body.replace(/a=sendrecv/, 'a=sendrecv'),
        headers: { 'User-Agent': 'typical-app' },
      });
      uas.on('destroy', () => console.log(`caller hung up: ${uas.id}`));
      uas.on('info', (infoReq, infoRes) => {
        console.log(`DTMF: ${infoReq.body}`);
        infoRes.send(200);
      });
      setTimeout(() => uas.destroy().catch(() => {}), 60000);
    } catch (err) {
      console.error(`createUAS failed: ${err}`);
    }
    return;
  }

  const registered = registrations.get(`${dialed}@${config.domain}`);
  const target = registered ? registered.contact : `${config.carrier.replace('sip:', `sip:${dialed}@`)}`;
  const dialogState = new EventEmitter();
  dialogState.on('stateChange', (state: Srf.DialogStateInfo) => console.log(`${state.callId}: ${state.state}`));

  try {
    const { uas, uac } = await srf.createB2BUA(req, res, target, {
      localSdpB: req.body,
      proxyRequestHeaders: ['X-Account-Id', 'P-Asserted-Identity'],
      proxyResponseHeaders: ['all', '-X-Internal'],
      headers: { 'X-Forwarded-By': 'typical-app' },
      auth: registered ? undefined : { username: 'trunk', password: 'trunk-secret' },
      dialogStateEmitter: dialogState,
    }, {
      cbRequest: (err, uacReq) => {
        if (err) return;
        req.on('cancel', () => uacReq.cancel());
      },
      cbProvisional: (provisional) => console.log(`B leg: ${provisional.status} ${provisional.reason}`),
    });
    uas.on('destroy', () => uac.destroy());
    uac.on('destroy', () => uas.destroy());
    uas.on('refer', async (referReq, referRes) => {
      referRes.send(202);
      const referTo = referReq.getParsedHeader('Refer-To');
      await uac.modify('hold');
      console.log(`transfer requested to ${referTo.uri}`);
    });
  } catch (err) {
    if (err instanceof SipError) {
      console.log(`B leg failed: ${err.status} ${err.reason || ''}`);
    } else {
      console.error(err);
      if (!res.finalResponseSent) res.send(500);
    }
  }
});

srf.use((err: Error, req: Srf.SrfRequest, res: Srf.SrfResponse, next: Srf.NextFunction) => {
  console.error(`error handling ${req.method}: ${err.message}`);
  next(err);
});

// ------------------------------------------------------------------------------- OPTIONS ping

let pingTimer: NodeJS.Timeout | undefined;

function startPinging(): void {
  if (pingTimer) return;
  pingTimer = setInterval(async () => {
    try {
      const req = await srf.request(config.peer, {
        method: 'OPTIONS',
        headers: { 'Subject': 'keepalive', 'Max-Forwards': 70 },
      });
      req.on('response', (res) => {
        if (res.status !== 200) console.log(`peer ${config.peer} answered ${res.status} ${res.reason}`);
      });
    } catch (err) {
      console.error(`OPTIONS ping failed: ${(err as Error).message}`);
    }
  }, 30000);
}

export = srf;
