'use strict';
// One app process of a high-availability test (seed 003): answers INVITEs with createUAS, or
// bridges them with createB2BUA (--b2bua sip:host:port), keeps dialogs in Redis (--redis URL),
// and reports what happens as JSON lines on stdout:
//   {"ready": ...} once connected, its routes in force; {"event":"create"|"restore"|"terminate"|"reinvite", "id", "session"}.
// Connects to a drachtio server (--connect host:port) or runs its own engine (--embedded port).
// Exits when stdin closes (the test went away).
const Srf = require('../../index.js');

const arg = (name) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : process.argv[i + 1];
};
const SDP = (v) => `v=0\r\no=ha ${process.pid} ${v} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 41000 RTP/AVP 0\r\n`;
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

const srf = new Srf();
srf.sessionStore = new Srf.RedisStore({ url: arg('redis') });
srf.on('error', (err) => say({ event: 'error', message: err.message }));

// The seed's example: session state written when the dialog is created, read when it ends,
// possibly in another process.
srf.on('sipdialog:create', (dialog) => {
  dialog.session.user = 'DaveH';
  dialog.session.createdBy = process.pid;
});
const track = (dialog, how) => {
  say({ event: how, id: dialog.id, session: dialog.session, other: dialog.other ? dialog.other.id : null });
  dialog.on('modify', (req, res) => {
    say({ event: 'reinvite', id: dialog.id, session: dialog.session });
    res.send(200, { body: SDP(2), headers: { 'Content-Type': 'application/sdp' } });
  });
  // A B2BUA ends the other leg with it.
  dialog.on('destroy', () => {
    if (dialog.other && dialog.other.connected) dialog.other.destroy().catch(() => {});
  });
};
srf.on('sipdialog:restore', (dialog) => track(dialog, 'restore'));
srf.on('sipdialog:terminate', (dialog) => say({ event: 'terminate', id: dialog.id, session: dialog.session }));

const b2bua = arg('b2bua');
srf.invite(async (req, res) => {
  try {
    if (b2bua) {
      const { uas, uac } = await srf.createB2BUA(req, res, b2bua, { localSdpB: req.body, localSdpA: SDP(1) });
      track(uas, 'create');
      track(uac, 'create');
    } else {
      track(await srf.createUAS(req, res, { localSdp: SDP(1) }), 'create');
    }
  } catch (err) {
    say({ event: 'failed', message: err.message });
  }
});

const connect = arg('connect');
if (connect) {
  const [host, port] = connect.split(':');
  srf.connect({ host, port: Number(port), secret: arg('secret') || 'cymru' });
} else {
  srf.options((req, res) => res.send(200));
  srf.connect({ embedded: { contacts: [`sip:127.0.0.1:${arg('embedded')};transport=udp`] } });
}
// Ready once the routes are in force. The embedded engine starts with them; a server applies
// them before a request sent after them, so once that request has gone out (to a port nobody
// answers on) they are in place.
srf.on('connect', (err, hostport) => {
  if (err || !connect) return say({ ready: hostport || null, error: err ? err.message : undefined });
  return srf.request('sip:barrier@127.0.0.1:9', { method: 'OPTIONS' })
    .then(() => say({ ready: hostport || null }), (e) => say({ ready: null, error: `routes barrier: ${e.message}` }));
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
