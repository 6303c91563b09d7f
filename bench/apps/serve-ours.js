'use strict';
// Bench app 3: drachtio-srf-rs connected over TCP to `drachtio-rs serve` (drachtio-server's
// control protocol). Prints `ready {...}` once connected.
//   node bench/apps/serve-ours.js --host 127.0.0.1 --port PORT --secret cymru [--max-seconds S]
const path = require('node:path');
const Srf = require(path.join(__dirname, '..', '..', 'index.js'));
const { counters, installUas, arg, controlChannel, ready } = require('./common.js');

const stats = counters();
const srf = new Srf();
installUas(srf, stats);
controlChannel(stats);
srf.connect({ host: arg('host', '127.0.0.1'), port: Number(arg('port', 9022)), secret: arg('secret', 'cymru') });
srf.once('connect', (err, hostport, version) => {
  if (err) {
    process.stderr.write(`connect failed: ${err.message}\n`);
    process.exit(2);
  }
  ready({ library: 'drachtio-srf-rs', mode: 'serve', version, hostport });
});
