// drachtio-srf 5.0.29's integration suite as recorded against a real drachtio-server
// (../shared/traces/suite/*.trace, see its README.md), replayed against OUR Srf's remote backend:
// the fake drachtio-server (helpers/fake-server.mjs) plays the recorded server side of every
// connection and checks that the frames our Srf sends are equivalent to what upstream drachtio-srf
// sent (volatile ids/tags/branches/Call-IDs/timestamps bound as in traces.test.mjs). Each relay
// connection of a trace is one scenario: a new Srf, connected, running the app that connection
// shows, disconnected once the server side of that connection has been played. What the app saw
// (statuses, dialog fields, destroy reasons, rejections) is asserted as well. No SIPp: the SIP
// side of the recording was the real server's. Connections left out are listed per trace below.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { sharedDir } from './helpers/shared.mjs';
import { startFakeServer, formatReport } from './helpers/fake-server.mjs';
import { readTrace } from './helpers/wire.mjs';
import { deferred } from './helpers/suite-apps.mjs';

const require = createRequire(import.meta.url);
const Srf = require('../index.js');
const suite = sharedDir('traces/suite');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const type = (payload) => payload.split('\r\n', 1)[0].split('|')[1];

/**
 * Replays `frames` (one server's frames of a suite trace) with one app per relay connection:
 * apps[i](ctx) runs the i-th connection; ctx = { connect(setup, connectOpts) -> srf, connDone() }.
 * connDone() resolves once the fake server has sent every recorded server frame of the connection
 * (plus a short settle so the app has handled the last one). Returns what each app returned.
 */
async function replay(frames, apps, { timeoutMs = 10000 } = {}) {
  const connIds = [...new Set(frames.map((f) => f.conn))];
  assert.equal(connIds.length, apps.length, 'one app per recorded connection');
  const fake = await startFakeServer({ trace: frames, timeoutMs });
  const results = [];
  const srfErrors = [];
  let runError;
  try {
    for (const [i, app] of apps.entries()) {
      const conn = connIds[i];
      const serverFrames = frames.filter((f) => f.conn === conn && f.dir === 'server->app').length;
      const srfs = [];
      const ctx = {
        async connect(setup, connectOpts = {}) {
          const srf = new Srf(...(ctx.tags ? [ctx.tags] : []));
          srfs.push(srf);
          srf.on('error', (err) => srfErrors.push(`conn ${conn}: ${err}`));
          if (setup) setup(srf);
          const up = deferred(3000, `conn ${conn}: connect`);
          srf.on('connect', (err) => (err ? up.reject(err) : up.resolve()));
          srf.connect({ host: '127.0.0.1', port: fake.port, secret: fake.recordedSecret, ...connectOpts });
          await up;
          return srf;
        },
        async connDone(settle = 50) {
          const limit = Date.now() + timeoutMs;
          while (fake.sent.filter((s) => s.conn === conn).length < serverFrames) {
            if (Date.now() > limit) throw new Error(`conn ${conn}: the fake server did not play the whole connection`);
            await sleep(10);
          }
          await sleep(settle);
        },
      };
      try {
        results.push(await app(ctx));
      } finally {
        for (const srf of srfs) {
          try { srf.disconnect(); } catch { /* already disconnected */ }
        }
      }
    }
  } catch (err) {
    runError = err;
  } finally {
    let timer;
    await Promise.race([fake.exhausted, new Promise((r) => { timer = setTimeout(r, 2000); })]);
    clearTimeout(timer);
  }
  const report = await fake.done;
  await fake.close();
  assert.ifError(runError);
  assert.ok(report.ok, formatReport(report));
  assert.deepEqual(srfErrors, [], 'the Srf emitted no error');
  return results;
}

function traceFrames(name, keep = () => true) {
  return readTrace(join(suite.dir, name)).filter(keep);
}

// ---------------------------------------------------------------------------------------------
// uas.trace: test "UAS" (the recorded Srf had the tag `tag1`)
// ---------------------------------------------------------------------------------------------

/** conns 2-4: createUAS answers with the offer's SDP moved to port 15000; the caller ACKs and BYEs. */
function uasAnswer(answer) {
  return async (ctx) => {
    const seen = deferred(5000, 'the dialog to be destroyed');
    const out = {};
    await ctx.connect((srf) => srf.invite(async (req, res) => {
      try {
        const dialog = await answer(srf, req, res, req.body.replace(/m=audio \d+/, 'm=audio 15000'));
        out.type = dialog.type;
        out.callId = dialog.sip.callId;
        out.remoteTag = dialog.sip.remoteTag;
        out.localTagSet = Boolean(dialog.sip.localTag);
        out.remoteSdpPort = (/m=audio (\d+)/.exec(dialog.remote.sdp) || [])[1];
        dialog.on('destroy', (bye) => { out.destroyedBy = bye.method; seen.resolve(); });
      } catch (err) { seen.reject(err); }
    }));
    await seen;
    await ctx.connDone();
    return out;
  };
}

const UAS_APPS = [
  // conn 1: the app rejects the INVITE with 503
  async (ctx) => {
    const out = {};
    await ctx.connect((srf) => srf.invite((req, res) => {
      out.method = req.method;
      res.send(503);
    }));
    await ctx.connDone();
    return out;
  },
  uasAnswer((srf, req, res, sdp) => srf.createUAS(req, res, { localSdp: sdp })),
  uasAnswer((srf, req, res, sdp) => new Promise((ok, ko) => srf.createUAS(req, res, { localSdp: sdp }, (e, d) => (e ? ko(e) : ok(d))))),
  // conn 4 (createUAS with opts.body) is left out: upstream 5.0.29 sends opts.localSdp whenever
  // opts.body is not a function, so its 200 went out with no SDP; ours sends the body as given.
  // conn 5: the caller never ACKs; the server's unsolicited BYE destroys the dialog ('ACK timeout')
  async (ctx) => {
    const seen = deferred(15000, 'the dialog to be destroyed');
    const out = {};
    await ctx.connect((srf) => srf.invite(async (req, res) => {
      try {
        const dialog = await srf.createUAS(req, res, { localSdp: req.body.replace(/m=audio \d+/, 'm=audio 15000') });
        dialog.on('destroy', (msg, reason) => { out.destroyedBy = msg.method; out.reason = reason; seen.resolve(); });
      } catch (err) { seen.reject(err); }
    }), { enablePing: true, pingInterval: 5000 });
    await seen;
    return out;
  },
  // conn 6: SUBSCRIBE answered with createUAS, then NOTIFY active and NOTIFY terminated
  async (ctx) => {
    const seen = deferred(5000, 'both NOTIFYs');
    const out = {};
    await ctx.connect((srf) => srf.subscribe(async (req, res) => {
      try {
        const dialog = await srf.createUAS(req, res);
        out.dialogType = dialog.dialogType;
        out.counts = [dialog.getCountOfSubscriptions()];
        const r1 = await dialog.request({ method: 'NOTIFY', headers: { Event: 'presence', 'Subscription-State': 'active' } });
        const r2 = await dialog.request({ method: 'NOTIFY', headers: { Event: 'presence', 'Subscription-State': 'terminated' } });
        out.statuses = [r1.status, r2.status];
        out.counts.push(dialog.getCountOfSubscriptions());
        seen.resolve();
      } catch (err) { seen.reject(err); }
    }));
    await seen;
    await ctx.connDone();
    return out;
  },
];

const uasCall = (n, ip) => ({
  type: 'uas', callId: `1-${n}@${ip}-${ip.split('.')[3] - 1}`, remoteTag: `${n}SIPpTag001`, localTagSet: true, remoteSdpPort: '6000', destroyedBy: 'BYE',
});

test('uas.trace: 503 reject, createUAS (Promise / callback), ACK timeout, SUBSCRIBE + NOTIFYs', { timeout: 30000 }, async (t) => {
  if (suite.skip) return t.skip(suite.skip);
  // conn 5 waited 32 s for the server's ACK timeout with six pings (interval 5 s, the minimum the
  // library allows); the replay keeps the first ping only, so the connection takes ~5 s.
  let pings = 0;
  const frames = traceFrames('uas.trace', (f) => {
    if (f.conn === 4) return false;
    if (f.conn !== 5) return true;
    const t1 = type(f.payload);
    if (t1 === 'ping') return ++pings === 1;
    if (t1 === 'response' && f.payload.split('|')[4] === 'pong') return pings === 1;
    return true;
  });
  const results = await replay(frames, UAS_APPS.map((app) => (ctx) => app(Object.assign(ctx, { tags: ['tag1'] }))), { timeoutMs: 15000 });
  assert.deepEqual(results, [
    { method: 'INVITE' },
    uasCall(25452, '127.0.0.3'),
    uasCall(25455, '127.0.0.4'),
    { destroyedBy: 'BYE', reason: 'ACK timeout' },
    { dialogType: 'SUBSCRIBE', counts: [1, 0], statuses: [200, 200] },
  ]);
});
