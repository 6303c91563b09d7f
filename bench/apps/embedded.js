'use strict';
// Bench app 1: drachtio-srf-rs with the embedded SIP engine in this process (UDP on a free
// loopback port, or --transport tcp|tls|ws|wss; tls and wss need --key-file and --cert-file).
// Prints `ready {"sip":"127.0.0.1:PORT",...}`.
//   node bench/apps/embedded.js [--max-seconds S] [--busy-ms X] [--max-pending N] [--transport T]
//                               [--port P --redis URL]   (one of several behind a load balancer:
//                               OPTIONS answered for its probes, dialogs kept in Redis)
const path = require('node:path');
const Srf = require(path.join(__dirname, '..', '..', 'index.js'));
const { arg, counters, installUas, controlChannel, ready } = require('./common.js');

const stats = counters();
const srf = new Srf();
if (arg('redis')) srf.sessionStore = new Srf.RedisStore({ url: arg('redis') });
if (arg('port')) srf.options((req, res) => res.send(200));
installUas(srf, stats);
controlChannel(stats);
const maxPending = arg('max-pending');
const transport = arg('transport', 'udp');
const scheme = transport === 'tls' || transport === 'wss' ? 'sips' : 'sip';
const tls = arg('key-file') ? { keyFile: arg('key-file'), certFile: arg('cert-file') } : undefined;
srf.connect({ embedded: { contacts: [`${scheme}:127.0.0.1:${arg('port', 0)};transport=${transport}`], tls, maxPendingRequests: maxPending && Number(maxPending) } }, (err, hostport, version) => {
  if (err) {
    process.stderr.write(`embedded engine failed: ${err.message}\n`);
    process.exit(2);
  }
  ready({ library: 'drachtio-srf-rs', mode: 'embedded', version, sip: hostport.split(',')[0].split('/')[1] });
});
