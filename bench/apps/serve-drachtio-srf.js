'use strict';
// Bench app 4: the real drachtio-srf (5.0.29, from node_modules) connected over TCP to
// `drachtio-rs serve`. Same app logic as the others (common.js). Prints `ready {...}`.
//   node bench/apps/serve-drachtio-srf.js --host 127.0.0.1 --port PORT --secret cymru [--max-seconds S]
const path = require('node:path');
const Srf = require(require.resolve('drachtio-srf', { paths: [path.join(__dirname, '..', '..')] }));
const { version: srfVersion } = require(require.resolve('drachtio-srf/package.json', { paths: [path.join(__dirname, '..', '..')] }));
const { counters, installUas, arg, controlChannel, ready } = require('./common.js');

const stats = counters();
const srf = new Srf();
installUas(srf, stats);
controlChannel(stats);
srf.connect({ host: arg('host', '127.0.0.1'), port: Number(arg('port', 9022)), secret: arg('secret', 'cymru') });
srf.once('connect', (err, hostport) => {
  if (err) {
    process.stderr.write(`connect failed: ${err.message}\n`);
    process.exit(2);
  }
  ready({ library: `drachtio-srf ${srfVersion}`, mode: 'serve', hostport });
});
