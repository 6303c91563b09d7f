// `import Srf from` (esModuleInterop) and `import = require` under node10 resolution, where the
// package's top-level "types" field (index.d.ts) is what TypeScript reads.
import Srf from 'drachtio-srf-rs';
import SrfToo = require('drachtio-srf-rs');

const same: typeof SrfToo = Srf;
const srf = new Srf(['legacy']);
srf.connect({ host: '127.0.0.1', port: 9022, secret: 'cymru' });
srf.invite((req, res) => {
  const uri = Srf.parseUri(req.uri);
  const port: number | undefined = uri.port;
  res.send(486, 'Busy Here', { headers: { 'X-Port': String(port) } });
});
const { SipError, digestAuth } = Srf;
const err: Srf.SipError = new SipError(503);
srf.register(digestAuth({ passwordLookup: (u, r, cb) => cb(null, 'secret') }), (req, res) => res.send(200));
// @ts-expect-error connect() returns the Srf
const p: Promise<void> = srf.connect({ secret: 's' });
void [same, err, p];
