// A typical application written as an ES module: named imports, a proxy with a registrar
// lookup, digest auth on REGISTER, SUBSCRIBE dialogs, and a callback-style OPTIONS ping.
import Srf, { SipError, parseUri, stringifyUri, digestAuth, type SrfRequest, type SrfResponse } from 'drachtio-srf-rs';

const srf = new Srf('proxy');
const locations = new Map<string, string>();

srf.connect({ host: '127.0.0.1', port: 9022, secret: 'cymru', enablePing: true }, (err, hostport) => {
  if (err) throw err;
  console.log(`connected: ${hostport}`);
});

srf.register(
  digestAuth({
    realm: (req) => parseUri(req.uri).host ?? null,
    passwordLookup: (user, realm, cb) => (user === 'alice' ? cb(null, { ha1: '8e2d5a4b0b3c6f7d8e9fa0b1c2d3e4f5' }) : cb(null, null)),
    algorithms: ['SHA-256', 'MD5'],
    srf,
  }),
  (req: SrfRequest, res: SrfResponse) => {
    const contact = req.getParsedHeader('Contact')[0];
    const aor = parseUri(req.getParsedHeader('To').uri);
    if (aor.scheme === 'tel') return res.send(403);
    locations.set(`${aor.user}@${aor.host}`, contact.uri);
    res.send(200, { headers: { Contact: `<${contact.uri}>;expires=300` } });
  },
);

srf.invite(async (req, res) => {
  const uri = parseUri(req.uri);
  const key = uri.scheme === 'tel' ? uri.number : `${uri.user}@${uri.host}`;
  const location = locations.get(key);
  if (!location) return res.send(404);
  try {
    const result = await srf.proxyRequest(req, location, { recordRoute: true, followRedirects: true });
    if (!result.connected) console.log(`call failed with ${result.finalStatus}`);
  } catch (err) {
    console.error(err instanceof SipError ? err.status : err);
  }
});

srf.subscribe(async (req, res) => {
  const dlg = await srf.createUAS(req, res, { headers: { Expires: req.get('Expires') || 3600 } });
  dlg.on('unsubscribe', () => console.log(`unsubscribed ${dlg.id}`));
  await dlg.request({
    method: 'NOTIFY',
    headers: { 'Subscription-State': 'active', Event: req.get('Event'), 'Content-Type': 'application/pidf+xml' },
    body: '<presence/>',
  });
});

setInterval(() => {
  srf.request({ uri: stringifyUri({ scheme: 'sip', host: 'peer.example.net', port: 5060 }), method: 'OPTIONS' }, (err, req) => {
    if (err) return console.error(`ping failed: ${err.message}`);
    req.on('response', (res, ack) => {
      void ack;
      console.log(`ping: ${res.status}`);
    });
  });
}, 30000);

export default srf;
