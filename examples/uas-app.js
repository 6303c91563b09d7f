'use strict';
// A small drachtio-srf style app: answers INVITEs with 180 and then 200 with an SDP answer,
// answers OPTIONS, and logs the end of each call. Works the same on the embedded engine, on a
// drachtio server, or on `drachtio-rs serve`.
const sdp = (port) => [
  'v=0', `o=- ${Date.now()} 1 IN IP4 127.0.0.1`, 's=drachtio-srf-rs example', 'c=IN IP4 127.0.0.1', 't=0 0',
  `m=audio ${port} RTP/AVP 0 8`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000', 'a=sendrecv', '',
].join('\r\n');

function install(srf, log = console.log) {
  srf.options((req, res) => res.send(200, { headers: { Allow: 'INVITE, ACK, BYE, CANCEL, OPTIONS' } }));
  srf.invite(async (req, res) => {
    log(`app: INVITE from ${req.callingNumber || 'anonymous'} to ${req.calledNumber}, ringing`);
    res.send(180);
    try {
      const dialog = await srf.createUAS(req, res, { localSdp: sdp(40000) });
      log(`app: call ${dialog.sip.callId} answered`);
      dialog.on('destroy', () => log('app: caller hung up'));
    } catch (err) {
      log(`app: call not answered: ${err.message}`);
    }
  });
}

module.exports = { install, sdp };

if (require.main === module) {
  // Stand-alone: `node examples/uas-app.js` listens on 127.0.0.1:5060 (UDP and TCP).
  const Srf = require('..');
  const srf = new Srf();
  install(srf);
  srf.on('error', (err) => console.error(err.message));
  srf.connect({ embedded: { contacts: ['sip:127.0.0.1:5060;transport=udp', 'sip:127.0.0.1:5060;transport=tcp'] } },
    (err, hostport) => console.log(err ? `failed: ${err.message}` : `listening on ${hostport}`));
}
