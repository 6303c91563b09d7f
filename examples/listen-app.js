'use strict';
// One app, both connection modes. The call logic (examples/uas-app.js style) does not care
// whether it connected to a drachtio server (inbound connection, srf.connect) or a server
// connected to it (outbound connection, srf.listen); it calls srf.endSession when a call is
// over, which closes the server's connection in listen mode and does nothing in connect mode.
//
//   node examples/listen-app.js                      listen on 0.0.0.0:3000 (DRACHTIO_PORT)
//   node examples/listen-app.js connect 127.0.0.1:9022
//
// In listen mode the drachtio server needs a request handler that routes calls here, e.g.
// drachtio-server's `--http-handler http://my-webhook/` whose webhook answers
// {"action": "route", "data": {"uri": "app-host:3000"}}. Secret: DRACHTIO_SECRET (cymru).
const Srf = require('..');
const { sdp } = require('./uas-app.js');

/** The app: the same code for either mode. */
function install(srf, log = console.log) {
  srf.invite(async (req, res) => {
    log(`INVITE ${req.get('call-id')} from ${req.callingNumber || 'anonymous'}`);
    try {
      const dialog = await srf.createUAS(req, res, { localSdp: sdp(40000) });
      dialog.on('destroy', () => {
        log(`call ${dialog.sip.callId} ended`);
        srf.endSession(req); // the call was all this connection was for
      });
    } catch (err) {
      log(`call not answered: ${err.message}`);
      srf.endSession(req);
    }
  });
  srf.options((req, res) => {
    res.send(200);
    srf.endSession(req);
  });
}

module.exports = { install };

if (require.main === module) {
  const [mode = 'listen', target] = process.argv.slice(2);
  const secret = process.env.DRACHTIO_SECRET || 'cymru';
  const srf = new Srf();
  install(srf);
  srf.on('error', (err) => console.error(`error: ${err.message}`));
  if (mode === 'connect') {
    const [host = '127.0.0.1', port = '9022'] = (target || '').split(':');
    srf.connect({ host, port: Number(port), secret });
    srf.on('connect', (err, hostport) => console.log(err ? `not connected: ${err.message}` : `connected to a drachtio server at ${hostport}`));
  } else if (mode === 'listen') {
    const port = Number(process.env.DRACHTIO_PORT || 3000);
    const server = srf.listen({ port, secret }, () => console.log(`listening for drachtio servers on port ${server.address().port}`));
    srf.on('connect', (err, hostport) => console.log(err ? `a server refused our secret: ${err.message}` : `a drachtio server connected (${hostport})`));
  } else {
    console.error('usage: node examples/listen-app.js [listen | connect host:port]');
    process.exitCode = 2;
  }
  process.on('SIGINT', () => srf.disconnect());
}
