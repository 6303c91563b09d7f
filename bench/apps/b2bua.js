'use strict';
// Bench app 5: a B2BUA on drachtio-srf-rs with the embedded engine. Each INVITE is bridged with
// createB2BUA to the UAS given by --uas (sipp's built-in uas); the caller hangs up and the app
// tears down the B-leg, as drachtio-srf apps do. Prints `ready {"sip":"127.0.0.1:PORT",...}`.
//   node bench/apps/b2bua.js --uas 127.0.0.1:PORT [--max-seconds S]
const path = require('node:path');
const Srf = require(path.join(__dirname, '..', '..', 'index.js'));
const { arg, counters, trackDialog, failed, watchErrors, controlChannel, ready } = require('./common.js');

const uas = arg('uas');
if (!uas) {
  process.stderr.write('b2bua: --uas host:port is required\n');
  process.exit(2);
}
const stats = counters();
const srf = new Srf();
srf.invite((req, res) => {
  stats.invites++;
  srf.createB2BUA(req, res, `sip:service@${uas}`, { localSdpB: req.body }).then(({ uas: aLeg, uac: bLeg }) => {
    stats.answered++;
    bLeg.on('destroy', () => aLeg.destroy().catch(() => {}));
    if (aLeg.connected === false) {
      bLeg.destroy().catch(() => {});
      stats.ended++;
      stats.endedBeforeResolved++;
      return;
    }
    trackDialog(stats, aLeg, () => bLeg.destroy().catch(() => {}));
  }, (err) => failed(stats, err));
});
watchErrors(srf, stats);
controlChannel(stats);
srf.connect({ embedded: { contacts: ['sip:127.0.0.1:0;transport=udp'] } }, (err, hostport, version) => {
  if (err) {
    process.stderr.write(`embedded engine failed: ${err.message}\n`);
    process.exit(2);
  }
  ready({ library: 'drachtio-srf-rs', mode: 'embedded b2bua', version, uas, sip: hostport.split(',')[0].split('/')[1] });
});
