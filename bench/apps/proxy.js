'use strict';
// Bench app 6: a stateful proxy. Each INVITE is handed to `proxyRequest(req, dest,
// {recordRoute: true})` toward --uas, so the ACK and BYE come back through the proxy along the
// Record-Route set. Runs on drachtio-srf-rs with the embedded engine, or connected to
// `drachtio-rs serve` with --host/--port/--secret (and --library drachtio-srf for the real
// drachtio-srf from node_modules). Prints `ready {...}`.
//   node bench/apps/proxy.js --uas 127.0.0.1:PORT [--host H --port P --secret S] [--library drachtio-srf]
const path = require('node:path');
const { arg, counters, failed, watchErrors, controlChannel, ready } = require('./common.js');

const ROOT = path.join(__dirname, '..', '..');
const uas = arg('uas');
if (!uas) {
  process.stderr.write('proxy: --uas host:port is required\n');
  process.exit(2);
}
const library = arg('library', 'drachtio-srf-rs');
const Srf = library === 'drachtio-srf' ? require(require.resolve('drachtio-srf', { paths: [ROOT] })) : require(path.join(ROOT, 'index.js'));
const stats = counters();
const srf = new Srf();
srf.invite((req) => {
  stats.invites++;
  srf.proxyRequest(req, `sip:${uas}`, { recordRoute: true }).then((result) => {
    if (result.connected) stats.answered++;
    else failed(stats, new Error(`proxied call ended ${result.finalStatus}`));
  }, (err) => failed(stats, err));
});
watchErrors(srf, stats);
controlChannel(stats);
const host = arg('host');
const onConnect = (err, hostport, version) => {
  if (err) {
    process.stderr.write(`connect failed: ${err.message}\n`);
    process.exit(2);
  }
  const sip = hostport.split(',')[0].split('/')[1];
  ready({ library, mode: host ? 'serve proxy' : 'embedded proxy', version, uas, sip });
};
if (host) {
  srf.connect({ host, port: Number(arg('port')), secret: arg('secret', 'cymru') });
  srf.once('connect', onConnect);
} else {
  srf.connect({ embedded: { contacts: ['sip:127.0.0.1:0;transport=udp'] } }, onConnect);
}
