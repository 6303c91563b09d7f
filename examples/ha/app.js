'use strict';
// One app process of the high-availability setup (issue #19): several of these run side by
// side, each with its own embedded SIP engine on its own UDP port, behind a load balancer
// (kamailio with examples/ha/kamailio.cfg, started by scripts/kamailio.js).
//
//   node examples/ha/app.js --port 5071 [--name a] [--redis redis://127.0.0.1:6379]
//
// With --redis, dialogs and their session data are kept in Redis: when a process dies, the
// load balancer sends the next request of each of its calls to another process, which
// rebuilds the call from Redis and carries on (`restore` below).
//
// It answers OPTIONS with 200 (the load balancer's probes) and INVITEs with 200 and an SDP
// answer, and prints one line per event on stdout, so whoever started it sees which process
// handled what:
//
//   ready <name> 127.0.0.1:<port>   the engine listens and the routes below are in force
//   invite <call-id>                an INVITE was answered (a dialog was made here)
//   invite-failed <call-id> <why>   an INVITE could not be answered
//   restore <call-id> <by-pid>      a call another process (by-pid) made was taken over here
//   reinvite <call-id>              a re-INVITE of a dialog of this process was answered
//   bye <call-id>                   the far end hung up a dialog of this process
//   error <message>                 the Srf reported an error
//
// It runs on 127.0.0.1 only and stops on SIGTERM/SIGINT (or when its stdin closes, with
// --exit-on-stdin-close, so a parent that dies cannot leave it behind).
const dgram = require('node:dgram');
const Srf = require('../..');

const sdp = (port) => [
  'v=0', `o=- ${Date.now()} 1 IN IP4 127.0.0.1`, 's=drachtio-srf-rs ha', 'c=IN IP4 127.0.0.1', 't=0 0',
  `m=audio ${port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', 'a=sendrecv', '',
].join('\r\n');

/** Command-line options: name → [default, parser]. */
const OPTIONS = {
  port: [5071, Number],
  name: [undefined, String],
  redis: [undefined, String],
  'exit-on-stdin-close': [false, () => true],
};

function parseArgs(argv) {
  const opts = Object.fromEntries(Object.entries(OPTIONS).map(([k, [def]]) => [k, def]));
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m || !(m[1] in OPTIONS)) throw new Error(`unknown argument ${argv[i]} (options: ${Object.keys(OPTIONS).map((k) => `--${k}`).join(' ')})`);
    const [, parse] = OPTIONS[m[1]];
    const flag = parse.length === 0;
    const value = flag ? undefined : m[2] !== undefined ? m[2] : argv[++i];
    if (!flag && value === undefined) throw new Error(`--${m[1]} needs a value`);
    opts[m[1]] = parse(value);
  }
  if (!Number.isInteger(opts.port) || opts.port <= 0 || opts.port > 65535) throw new Error(`--port: not a port: ${opts.port}`);
  if (opts.name === undefined) opts.name = String(opts.port);
  return opts;
}

/** The call handling: the same in every process. */
function install(srf, log) {
  srf.options((req, res) => res.send(200));
  srf.invite(async (req, res) => {
    const callId = req.get('Call-ID');
    try {
      const dialog = await srf.createUAS(req, res, { localSdp: sdp(40000) });
      log(`invite ${callId}`);
      track(dialog, log);
    } catch (err) {
      log(`invite-failed ${callId} ${err.message}`);
    }
  });
}

/** Events of one dialog of this process. */
function track(dialog, log) {
  const callId = dialog.sip.callId;
  dialog.on('modify', (req, res) => {
    res.send(200, { body: dialog.local.sdp });
    log(`reinvite ${callId}`);
  });
  dialog.on('destroy', () => log(`bye ${callId}`));
}

/**
 * Settings of the Srf that must be in place before it connects: where this process keeps its
 * dialogs' state, so that another process can take a call over.
 */
function configure(srf, opts, log) {
  if (!opts.redis) return srf;
  srf.sessionStore = new Srf.RedisStore({ url: opts.redis });
  // The app's own state rides along with each dialog.
  srf.on('sipdialog:create', (dialog) => { dialog.session.madeBy = process.pid; });
  srf.on('sipdialog:restore', (dialog) => {
    log(`restore ${dialog.sip.callId} ${dialog.session.madeBy}`);
    track(dialog, log);
  });
  return srf;
}

/**
 * Waits until the routes are in force: an OPTIONS sent to our engine from a plain UDP socket is
 * answered 200 by the handler above (a request arriving before that gets 503, and the load
 * balancer would take this process out). The engine does not send requests to itself, hence
 * the socket of our own.
 */
async function selfCheck(port, ms = 5000) {
  const sock = dgram.createSocket('udp4');
  await new Promise((resolve) => sock.bind(0, '127.0.0.1', resolve));
  const local = sock.address().port;
  let status = 0;
  sock.on('message', (msg) => {
    const m = /^SIP\/2\.0 (\d{3})/.exec(msg.toString('latin1'));
    if (m && Number(m[1]) >= 200) status = Number(m[1]);
  });
  try {
    const end = Date.now() + ms;
    for (let n = 1; status !== 200; n++) {
      if (Date.now() > end) throw new Error(`own OPTIONS not answered with 200 within ${ms} ms (last: ${status || 'no answer'})`);
      const options = [
        `OPTIONS sip:ready@127.0.0.1:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK-ready-${process.pid}-${n}`,
        'Max-Forwards: 70',
        `From: <sip:ready@127.0.0.1:${local}>;tag=ready${process.pid}`,
        `To: <sip:ready@127.0.0.1:${port}>`,
        `Call-ID: ready-${process.pid}-${n}@127.0.0.1`,
        `CSeq: ${n} OPTIONS`,
        'Content-Length: 0', '', '',
      ].join('\r\n');
      sock.send(options, port, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    sock.close();
  }
}

async function main(argv = process.argv.slice(2), log = (line) => process.stdout.write(`${line}\n`)) {
  const opts = parseArgs(argv);
  const srf = configure(new Srf(), opts, log);
  srf.on('error', (err) => log(`error ${err.message}`));
  install(srf, log);
  const stop = () => {
    srf.disconnect();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  if (opts['exit-on-stdin-close']) {
    process.stdin.on('end', stop).on('error', stop).resume();
  }
  await new Promise((resolve, reject) => {
    srf.connect({ embedded: { contacts: [`sip:127.0.0.1:${opts.port};transport=udp`] } }, (err) => (err ? reject(err) : resolve()));
  });
  await selfCheck(opts.port);
  log(`ready ${opts.name} 127.0.0.1:${opts.port}`);
  return srf;
}

module.exports = { parseArgs, install, track, configure, main, sdp };

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`${err.stack || err}\n`);
    process.exit(1);
  });
}
