// App logic reconstructed from the recorded traces in ../../../shared/traces (see its README for the
// recorded apps). Each scenario takes the Srf CLASS, so the same code runs against upstream
// drachtio-srf (validating the fake server) and against this library (drop-in check):
//
//   scenarios[name] = { trace, timeoutMs?, description, async run(Srf, ctx) }
//   ctx = { host, port, secret, untilTraceDone?: () => Promise, timeoutMs? }
//
// run() connects, does what the recorded app did, waits until the fake server has replayed the whole
// trace (ctx.untilTraceDone, or a short pause when absent), disconnects and returns a small summary of
// what the app observed. It throws if an expected app-level event does not happen within ctx.timeoutMs.
// Delays of the recorded apps that do not change the wire traffic are shortened.

const UAS_SDP_PORT = 20000;

export function sdp(port) {
  return [
    'v=0',
    'o=drachtio 1000 1 IN IP4 127.0.0.1',
    's=drachtio-srf',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} RTP/AVP 0 101`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

// The nonce the recorded registrar issued; the recorded REGISTER's digest response was computed over
// it, so the replayed conversation only verifies with this exact value.
export const REGISTRAR_NONCE = '8567a6d9f3a55a5c';
const REGISTRAR = { realm: '127.0.0.1', user: 'alice', password: 'secret' };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${typeof what === 'function' ? what() : what}`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

// Tiny event recorder: remembers every event so a wait can start after the event happened.
class Events {
  constructor() {
    this.log = [];
    this.waiters = [];
  }

  emit(name, data) {
    this.log.push({ name, data });
    this.waiters = this.waiters.filter((w) => {
      if (this.count(w.name) >= w.n) {
        w.resolve(this.log.filter((e) => e.name === w.name).map((e) => e.data));
        return false;
      }
      return true;
    });
  }

  count(name) {
    return this.log.filter((e) => e.name === name).length;
  }

  wait(name, n = 1) {
    if (this.count(name) >= n) return Promise.resolve(this.log.filter((e) => e.name === name).map((e) => e.data));
    return new Promise((resolve) => this.waiters.push({ name, n, resolve }));
  }

  names() {
    return this.log.map((e) => e.name);
  }

  /** Every event as "name" or "name=data", in order: what the app saw. */
  seen() {
    return this.log.map((e) => (e.data === undefined ? e.name : `${e.name}=${typeof e.data === 'object' ? JSON.stringify(e.data) : e.data}`));
  }
}

function uriUser(uri) {
  const m = /^sips?:([^@;:]+)@/.exec(uri || '');
  return m ? m[1] : '';
}

function limit(ctx) {
  return ctx.timeoutMs ?? 5000;
}

// Create an Srf, let `setup` register handlers, connect and wait for the `connect` event.
async function connectSrf(Srf, ctx, setup, connectOpts = {}) {
  const srf = new Srf();
  const errors = [];
  srf.on('error', (err) => errors.push(err));
  srf[ERRORS] = errors;
  if (setup) setup(srf);
  const connected = new Promise((resolve, reject) => {
    srf.on('connect', (err, hostport) => (err ? reject(err) : resolve(hostport)));
  });
  srf.connect({ host: ctx.host, port: ctx.port, secret: ctx.secret, ...connectOpts });
  try {
    await withTimeout(connected, limit(ctx), 'connect');
  } catch (err) {
    try { srf.disconnect(); } catch { /* not connected */ }
    throw err;
  }
  return srf;
}

// Errors the Srf emitted: none is expected in any scenario, so finish() fails the run on one.
const ERRORS = Symbol('errors');

async function finish(srf, ctx) {
  try {
    if (ctx.untilTraceDone) await withTimeout(ctx.untilTraceDone(), limit(ctx) + 1000, 'the fake server to finish the trace');
    else await sleep(200);
  } finally {
    try { srf.disconnect(); } catch { /* drachtio-srf asserts when no socket is connected */ }
  }
  const errors = srf[ERRORS] || [];
  if (errors.length) throw new Error(`the Srf emitted 'error': ${errors.map((e) => e && e.message).join('; ')}`);
}

// The recorded "uas" app: 180 (X-App), 100 ms later createUAS with a fixed SDP; re-INVITE answered via
// 'modify' (200 + SDP), INFO via 'info' (200); user "cancel" waits up to 3 s so the caller can CANCEL.
function installUas(srf, ev, { cdrs = false } = {}) {
  if (cdrs) {
    srf.on('cdr:attempt', (source, time, msg) => ev.emit('cdr:attempt', { source, method: msg.method }));
    srf.on('cdr:start', (source, time, role, msg) => ev.emit('cdr:start', { source, role, status: msg.status }));
    srf.on('cdr:stop', (source, time, reason) => ev.emit('cdr:stop', { source, reason }));
  }
  srf.invite(async (req, res) => {
    ev.emit('invite', uriUser(req.uri));
    let canceled = false;
    req.on('cancel', () => {
      canceled = true;
      ev.emit('cancel');
    });
    res.send(180, { headers: { 'X-App': 'srf-uas' } });
    if (uriUser(req.uri) === 'cancel') {
      await Promise.race([ev.wait('cancel'), sleep(3000)]);
    } else {
      await sleep(100);
    }
    if (canceled) return;
    try {
      const dialog = await srf.createUAS(req, res, { localSdp: sdp(UAS_SDP_PORT), headers: { 'X-App': 'srf-uas' } });
      ev.emit('dialog');
      dialog.on('modify', (mreq, mres) => {
        ev.emit('modify');
        mres.send(200, { body: sdp(UAS_SDP_PORT), headers: { 'content-type': 'application/sdp' } });
      });
      dialog.on('info', (ireq, ires) => {
        ev.emit('info', ireq.body);
        ires.send(200);
      });
      dialog.on('destroy', () => ev.emit('destroy'));
    } catch (err) {
      ev.emit('uas-error', err);
    }
  });
}

async function uasScenario(Srf, ctx, { waitFor, connectOpts, cdrs }) {
  const ev = new Events();
  const srf = await connectSrf(Srf, ctx, (s) => installUas(s, ev, { cdrs }), connectOpts);
  try {
    for (const [name, n] of waitFor) await withTimeout(ev.wait(name, n), limit(ctx), () => `app event '${name}' x${n} (saw ${ev.names().join(',')})`);
  } finally {
    await finish(srf, ctx).catch((err) => {
      try { srf.disconnect(); } catch { /* already disconnected */ }
      throw err;
    });
  }
  return { events: ev.seen() };
}

export const scenarios = {
  'connect-ping': {
    trace: 'connect-ping.trace',
    timeoutMs: 15000,
    description: 'uas app with enablePing/pingInterval 5000: authenticate, route|invite, two pings',
    async run(Srf, ctx) {
      return uasScenario(Srf, { timeoutMs: 15000, ...ctx }, { waitFor: [], connectOpts: { enablePing: true, pingInterval: 5000 } });
    },
  },

  'auth-failure': {
    trace: 'auth-failure.trace',
    description: 'wrong secret: the library reconnects after each rejection; stop after the 6th',
    async run(Srf, ctx) {
      const srf = new Srf();
      srf.on('error', () => {});
      srf.invite((req, res) => res.send(500));
      let failures = 0;
      const sixth = new Promise((resolve, reject) => {
        srf.on('connect', (err) => {
          if (!err) return reject(new Error('unexpectedly authenticated'));
          failures++;
          if (failures === 6) {
            srf.disconnect(); // synchronously, before the server's close schedules a reconnect
            resolve();
          }
        });
      });
      srf.connect({ host: ctx.host, port: ctx.port, secret: ctx.secret });
      try {
        await withTimeout(sixth, limit(ctx), () => `six authentication failures (saw ${failures})`);
      } catch (err) {
        try { srf.disconnect(); } catch { /* drachtio-srf asserts when no socket is connected */ }
        throw err;
      }
      if (ctx.untilTraceDone) await withTimeout(ctx.untilTraceDone(), limit(ctx) + 1000, 'trace end');
      return { failures };
    },
  },

  'uas-invite-bye': {
    trace: 'uas-invite-bye.trace',
    description: 'incoming INVITE (UDP): 180, 200+SDP, ACK, BYE answered',
    run: (Srf, ctx) => uasScenario(Srf, ctx, { waitFor: [['dialog', 1], ['destroy', 1]] }),
  },

  'uas-invite-bye-tcp': {
    trace: 'uas-invite-bye-tcp.trace',
    description: 'same call with the caller on TCP',
    run: (Srf, ctx) => uasScenario(Srf, ctx, { waitFor: [['dialog', 1], ['destroy', 1]] }),
  },

  'uas-cancel': {
    trace: 'uas-cancel.trace',
    description: 'INVITE to user cancel: 180, then the caller CANCELs; the app sends nothing more',
    run: (Srf, ctx) => uasScenario(Srf, ctx, { waitFor: [['cancel', 1]] }),
  },

  'uas-reinvite-info': {
    trace: 'uas-reinvite-info.trace',
    description: 'INVITE/180/200/ACK, re-INVITE answered via modify, INFO answered 200, BYE',
    run: (Srf, ctx) => uasScenario(Srf, ctx, { waitFor: [['modify', 1], ['info', 1], ['destroy', 1]] }),
  },

  cdr: {
    trace: 'cdr.trace',
    description: 'uas app with cdr:attempt/start/stop listeners: a completed call and a cancelled one',
    run: (Srf, ctx) => uasScenario(Srf, ctx, {
      cdrs: true,
      waitFor: [['destroy', 1], ['cancel', 1], ['cdr:attempt', 2], ['cdr:start', 1], ['cdr:stop', 2]],
    }),
  },

  'registrar-options': {
    trace: 'registrar-options.trace',
    description: 'middleware: global stamp, REGISTER digest challenge/verify, 200 with expires; OPTIONS 200',
    async run(Srf, ctx) {
      const ev = new Events();
      const { createHash } = await import('node:crypto');
      const md5 = (s) => createHash('md5').update(s).digest('hex');
      const srf = await connectSrf(Srf, ctx, (s) => {
        s.use((req, res, next) => {
          req.locals = { ...(req.locals || {}), stampedBy: 'global' };
          next();
        });
        s.use('register', (req, res, next) => {
          const auth = req.get('Authorization');
          if (!auth) {
            ev.emit('challenge');
            return res.send(401, {
              headers: {
                'www-authenticate': `Digest realm="${REGISTRAR.realm}", nonce="${REGISTRAR_NONCE}", algorithm=MD5, qop="auth"`,
              },
            });
          }
          const p = {};
          for (const m of auth.replace(/^Digest\s+/i, '').matchAll(/([a-z]+)=(?:"([^"]*)"|([^,\s]*))/gi)) p[m[1].toLowerCase()] = m[2] ?? m[3];
          const ha1 = md5(`${p.username}:${p.realm}:${REGISTRAR.password}`);
          const ha2 = md5(`${req.method}:${p.uri}`);
          const expect = p.qop ? md5(`${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`) : md5(`${ha1}:${p.nonce}:${ha2}`);
          if (p.username !== REGISTRAR.user || p.nonce !== REGISTRAR_NONCE || p.response !== expect) {
            ev.emit('forbidden');
            return res.send(403);
          }
          next();
        });
        s.register((req, res) => {
          ev.emit('register', req.locals && req.locals.stampedBy);
          const expires = req.get('Expires') || '3600';
          res.send(200, { headers: { contact: `${req.get('Contact')};expires=${expires}`, expires } });
        });
        s.options((req, res) => {
          ev.emit('options', req.locals && req.locals.stampedBy);
          res.send(200, { headers: { allow: 'INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, REGISTER', accept: 'application/sdp' } });
        });
      });
      try {
        await withTimeout(ev.wait('register'), limit(ctx), () => `REGISTER handled (saw ${ev.names().join(',')})`);
        await withTimeout(ev.wait('options'), limit(ctx), 'OPTIONS handled');
      } finally {
        await finish(srf, ctx);
      }
      return { events: ev.seen() };
    },
  },

  uac: {
    trace: 'uac.trace',
    description: 'createUAC with SDP (180/200), BYE; createUAC to a 486 UAS; OPTIONS via srf.request',
    async run(Srf, ctx) {
      const srf = await connectSrf(Srf, ctx);
      const out = {};
      try {
        const dialog = await withTimeout(srf.createUAC('sip:callee@127.0.0.1:5080', {
          localSdp: sdp(30000),
          headers: { From: 'sip:caller@127.0.0.1', 'X-App': 'srf-uac' },
        }), limit(ctx), 'first createUAC');
        out.connected = true;
        await sleep(50);
        await withTimeout(dialog.destroy(), limit(ctx), 'BYE');
        try {
          await withTimeout(srf.createUAC('sip:busy@127.0.0.1:5081', { localSdp: sdp(30002) }), limit(ctx), 'second createUAC');
          throw new Error('second createUAC unexpectedly succeeded');
        } catch (err) {
          if (err.status !== 486) throw err;
          out.rejected = err.status;
        }
        await sleep(50);
        out.options = await withTimeout(new Promise((resolve, reject) => {
          srf.request('sip:ping@127.0.0.1:5082', { method: 'OPTIONS', headers: { 'X-App': 'srf-uac' } }, (err, req) => {
            if (err) return reject(err);
            req.on('response', (res) => resolve(res.status));
          });
        }), limit(ctx), 'OPTIONS response');
      } finally {
        await finish(srf, ctx);
      }
      return out;
    },
  },

  proxy: {
    trace: 'proxy.trace',
    description: 'srf.proxyRequest(req, [dest], {recordRoute: true}); user fail goes to the 486 UAS',
    async run(Srf, ctx) {
      const ev = new Events();
      const srf = await connectSrf(Srf, ctx, (s) => {
        s.invite(async (req) => {
          const dest = uriUser(req.uri) === 'fail' ? 'sip:127.0.0.1:5081' : 'sip:127.0.0.1:5080';
          try {
            const results = await s.proxyRequest(req, [dest], { recordRoute: true });
            ev.emit('proxied', results.finalStatus);
          } catch (err) {
            ev.emit('proxy-error', err.message);
          }
        });
      });
      let statuses;
      try {
        statuses = await withTimeout(ev.wait('proxied', 2), limit(ctx), () => `two proxied calls (saw ${ev.names().join(',')})`);
      } finally {
        await finish(srf, ctx);
      }
      return { statuses, events: ev.seen() };
    },
  },

  b2bua: {
    trace: 'b2bua.trace',
    description: 'createB2BUA to :5080 (BYE tears down both legs), then user fail: 486 passed back to A',
    async run(Srf, ctx) {
      const ev = new Events();
      const srf = await connectSrf(Srf, ctx, (s) => {
        s.invite(async (req, res) => {
          const user = uriUser(req.uri);
          const port = user === 'fail' ? 5081 : 5080;
          try {
            const { uas, uac } = await s.createB2BUA(req, res, `sip:${user}@127.0.0.1:${port}`, {
              localSdpB: req.body,
              headers: { 'X-B2BUA': 'srf-check' },
            });
            ev.emit('connected');
            uas.on('destroy', () => {
              ev.emit('destroy-a');
              uac.destroy();
            });
            uac.on('destroy', () => {
              ev.emit('destroy-b');
              uas.destroy();
            });
          } catch (err) {
            ev.emit('failed', err.status);
          }
        });
      });
      try {
        await withTimeout(ev.wait('destroy-a'), limit(ctx), () => `A-leg BYE (saw ${ev.names().join(',')})`);
        await withTimeout(ev.wait('failed'), limit(ctx), () => `failed second call (saw ${ev.names().join(',')})`);
      } finally {
        await finish(srf, ctx);
      }
      return { events: ev.seen() };
    },
  },
};
