// drachtio-srf 5.0.29's integration test "UAC" (../shared/traces/suite/uac.trace and
// sip/uac/*.msg), re-enacted against OUR Srf on the embedded engine and on `drachtio-rs serve`:
// the app only originates (createUAC / request) and SIPp plays each callee of the testbed
// (scenarios/suite-uas-*.xml, cov-uas-100rel.xml, SIPp's built-in uas). Each test checks what
// the app got and what SIPp saw on the wire (its -trace_msg log), and that SIPp's call passed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS } from '../helpers/backends.mjs';
import { requireSipp } from '../helpers/sipp.mjs';
import { sharedDir } from '../helpers/shared.mjs';
import { assertSipp, withApp, sippUas, scenario, sippMessages, received, header, SDP } from '../helpers/suite-apps.mjs';

const suite = sharedDir('traces/suite');
const AUTH = { username: 'foo', password: 'bar' };
const T = { timeout: 45000 };

function ready(t) {
  if (suite.skip) { t.skip(suite.skip); return false; }
  return requireSipp(t);
}

/** Runs `body(app, uas)` with a SIPp callee; returns SIPp's result after the body. */
async function withCallee(kind, args, body, { appOpts = {}, timeoutMs = 20000 } = {}) {
  let result;
  const app = await withApp(kind, appOpts, async (a) => {
    const uas = await sippUas([...args, '-m', '1'], { timeoutMs });
    try {
      await body(a, uas);
      result = await uas.done;
    } finally {
      uas.stop();
    }
  });
  assert.deepEqual(app.errors.map(String), [], 'the Srf emitted no error');
  return result;
}

const invites = (log) => sippMessages(log, 'received').filter((m) => /^INVITE /.test(m));

for (const kind of BACKENDS) {
  test(`${kind}: uac conn 1a: INVITE to a callee with a reliable 180 (sipp-uas-prack): PRACK, 200/ACK, BYE`, T, async (t) => {
    if (!ready(t)) return;
    const provisional = [];
    const r = await withCallee(kind, ['-sf', scenario('cov-uas-100rel.xml')], async (app, uas) => {
      const dialog = await app.srf.createUAC(uas.uri(), { localSdp: SDP(6000), headers: { Supported: '100rel' } },
        { cbProvisional: (res) => provisional.push(res.status) });
      assert.match(dialog.remote.sdp, /s=reliable/);
      await dialog.destroy();
    });
    assertSipp(r);
    assert.deepEqual(provisional, [180]);
    assert.deepEqual(received(r.messages), ['INVITE', 'PRACK', 'ACK', 'BYE']);
  });

  test(`${kind}: uac conn 1b: followRedirects: 302 (sipp-uas-302) then a new INVITE to its Contact, then BYE`, T, async (t) => {
    if (!ready(t)) return;
    let r302;
    const r = await withCallee(kind, ['-sn', 'uas'], async (app, target) => {
      const redirector = await sippUas(['-sf', scenario('suite-uas-302.xml'), '-key', 'target', `127.0.0.1:${target.port}`, '-m', '1']);
      try {
        const dialog = await app.srf.createUAC(redirector.uri(), { localSdp: SDP(6002), followRedirects: true });
        assert.equal(dialog.sip.callId.length > 0, true);
        await dialog.destroy();
        r302 = await redirector.done;
      } finally {
        redirector.stop();
      }
    });
    assertSipp(r302);
    assertSipp(r);
    assert.deepEqual(received(r302.messages), ['INVITE', 'ACK']);
    assert.deepEqual(received(r.messages), ['INVITE', 'ACK', 'BYE']);
    assert.match(sippMessages(r.messages, 'received')[0], new RegExp(`^INVITE sip:127\\.0\\.0\\.1:${r.args[r.args.indexOf('-p') + 1]}[ ;]`));
  });

  test(`${kind}: uac conn 1b': without followRedirects a 302 rejects createUAC with status 302`, T, async (t) => {
    if (!ready(t)) return;
    const r = await withCallee(kind, ['-sf', scenario('suite-uas-302.xml'), '-key', 'target', '127.0.0.1:9'], async (app, uas) => {
      await assert.rejects(app.srf.createUAC(uas.uri(), { localSdp: SDP(6004) }), (err) => err.status === 302);
    });
    assertSipp(r);
  });

  test(`${kind}: uac conns 1c/2: Promise and callback forms of createUAC to sipp-uas`, T, async (t) => {
    if (!ready(t)) return;
    const r = await withCallee(kind, ['-sn', 'uas'], async (app, uas) => {
      const dialog = await new Promise((resolve, reject) => {
        app.srf.createUAC(uas.uri(), { localSdp: SDP(6006) }, (err, d) => (err ? reject(err) : resolve(d)));
      });
      assert.ok(dialog.remote.sdp);
      await dialog.destroy();
    });
    assertSipp(r);
  });

  for (const [label, opts, contact] of [
    ['conn 3: callingNumber 12345', { callingNumber: '12345', headers: { Subject: 'calling number' } }, /^<?sip:12345@127\.0\.0\.1:\d+(;[^>]*)?>?$/],
    ['conn 4: explicit Contact: sip:foo@localhost', { headers: { Subject: 'contact', Contact: 'sip:foo@localhost' } }, /^<?sip:foo@127\.0\.0\.1:\d+(;[^>]*)?>?$/],
    ['conn 5: lower-case contact header', { headers: { Subject: 'contact', contact: 'sip:foo@localhost' } }, /^<?sip:foo@127\.0\.0\.1:\d+(;[^>]*)?>?$/],
  ]) {
    test(`${kind}: uac ${label}: the INVITE's Contact keeps the user with our host:port; Subject passes`, T, async (t) => {
      if (!ready(t)) return;
      const r = await withCallee(kind, ['-sn', 'uas'], async (app, uas) => {
        const dialog = await app.srf.createUAC(uas.uri(), { localSdp: SDP(6008), ...opts });
        await dialog.destroy();
      });
      assertSipp(r);
      const [invite] = invites(r.messages);
      assert.match(header(invite, 'Contact'), contact, invite);
      assert.equal(header(invite, 'Subject'), opts.headers.Subject);
      if (opts.callingNumber) assert.match(header(invite, 'From'), /sip:12345@/, invite);
    });
  }

  test(`${kind}: uac conn 6: three modify() at once to sipp-uas-reinvite-overlap: re-INVITEs one after another, then BYE`, T, async (t) => {
    if (!ready(t)) return;
    const r = await withCallee(kind, ['-sf', scenario('suite-uas-reinvite-overlap.xml')], async (app, uas) => {
      const dialog = await app.srf.createUAC(uas.uri(), { localSdp: SDP(6010) });
      const answers = await Promise.all([dialog.modify(SDP(6012, 'a')), dialog.modify(SDP(6014, 'b')), dialog.modify(SDP(6016, 'c'))]);
      assert.deepEqual(answers.map((s) => (/s=(\w+)/.exec(s) || [])[1]).sort(), ['modify1', 'modify2', 'modify3']);
      await dialog.destroy();
    });
    assertSipp(r);
    assert.deepEqual(received(r.messages), ['INVITE', 'ACK', 'INVITE', 'ACK', 'INVITE', 'ACK', 'INVITE', 'ACK', 'BYE']);
  });

  test(`${kind}: uac conn 7: 407 on the INVITE and on the hold re-INVITE (sipp-uas-reinvite-with-auth): both re-sent with Proxy-Authorization`, T, async (t) => {
    if (!ready(t)) return;
    const r = await withCallee(kind, ['-sf', scenario('suite-uas-auth-reinvite.xml')], async (app, uas) => {
      const dialog = await app.srf.createUAC(uas.uri(), { localSdp: `${SDP(6018)}a=sendrecv\r\n`, auth: AUTH });
      await dialog.modify('hold');
      await dialog.destroy();
    });
    assertSipp(r);
    const inv = invites(r.messages);
    assert.equal(inv.length, 4);
    assert.match(inv[3], /^a=inactive/m, 'the hold re-INVITE offers a=inactive');
  });

  for (const [label, user] of [['conn 8: by name', 'foo'], ['conn 10: by IP', '']]) {
    test(`${kind}: uac ${label}: digest auth on INVITE (sipp-uas-auth), then BYE`, T, async (t) => {
      if (!ready(t)) return;
      const r = await withCallee(kind, ['-sf', scenario('suite-uas-auth-invite.xml')], async (app, uas) => {
        const dialog = await app.srf.createUAC(uas.uri(user), { localSdp: SDP(6020), auth: AUTH });
        await dialog.destroy();
      });
      assertSipp(r);
      assert.deepEqual(received(r.messages), ['INVITE', 'ACK', 'INVITE', 'ACK', 'BYE']);
    });
  }

  test(`${kind}: uac conn 9: 407 without Proxy-Authenticate (sipp-uas-407-no-auth-header): createUAC rejects with 407`, T, async (t) => {
    if (!ready(t)) return;
    const r = await withCallee(kind, ['-sf', scenario('suite-uas-407-no-auth-header.xml')], async (app, uas) => {
      await assert.rejects(app.srf.createUAC(uas.uri(), { localSdp: SDP(6022), auth: AUTH }), (err) => err.status === 407);
    });
    assertSipp(r);
    assert.deepEqual(received(r.messages), ['INVITE', 'ACK']);
  });

  test(`${kind}: uac conn 11: the callee challenges the INVITE and the BYE (sipp-uas-bye-with-auth): both re-sent with credentials`, T, async (t) => {
    if (!ready(t)) return;
    const r = await withCallee(kind, ['-sf', scenario('suite-uas-auth-bye.xml')], async (app, uas) => {
      const dialog = await app.srf.createUAC(uas.uri(), { localSdp: SDP(6024), auth: AUTH });
      await dialog.destroy();
    });
    assertSipp(r);
    assert.deepEqual(received(r.messages), ['INVITE', 'ACK', 'INVITE', 'ACK', 'BYE', 'BYE']);
  });

  for (const [label, realm, style] of [
    ['conn 12: callback', 'local', 'callback'], ['conn 13: Promise', 'local', 'promise'], ['conn 14: opts.uri', 'local', 'uri'],
    ['conn 15: empty realm', '', 'promise'],
  ]) {
    test(`${kind}: uac ${label}: REGISTER with digest auth (sipp-uas-auth-register${realm ? '' : '-no-realm'}) ends 200`, T, async (t) => {
      if (!ready(t)) return;
      const r = await withCallee(kind, ['-sf', scenario('suite-uas-register-auth.xml'), '-key', 'realm', realm], async (app, uas) => {
        const opts = { method: 'REGISTER', headers: { Contact: '<sip:dhorton@localhost>;expires=3600', To: '<sip:dhorton@sip.drachtio.org>', From: '<sip:dhorton@sip.drachtio.org>' }, auth: AUTH };
        let req;
        if (style === 'callback') req = await new Promise((res, rej) => app.srf.request(uas.uri(), opts, (err, rq) => (err ? rej(err) : res(rq))));
        else if (style === 'uri') req = await app.srf.request({ uri: uas.uri(), ...opts });
        else req = await app.srf.request(uas.uri(), opts);
        const res = await new Promise((resolve) => req.on('response', resolve));
        assert.equal(res.status, 200);
      });
      assertSipp(r);
      const regs = sippMessages(r.messages, 'received').filter((m) => /^REGISTER /.test(m));
      assert.equal(regs.length, 2);
      assert.match(header(regs[1], 'Authorization'), new RegExp(`realm="${realm}"`));
      assert.match(header(regs[0], 'Contact'), /;expires=3600/);
    });
  }

  test(`${kind}: uac conn 16: INVITE cancelled on the first provisional with a Reason header (sipp-uas-cancel): ends 487`, T, async (t) => {
    if (!ready(t)) return;
    const r = await withCallee(kind, ['-sf', scenario('suite-uas-cancel.xml')], async (app, uas) => {
      let invite;
      const p = app.srf.createUAC(uas.uri(), { localSdp: SDP(6026) }, {
        cbRequest: (err, req) => { invite = req; },
        cbProvisional: () => invite.cancel({ headers: { Reason: 'SIP;cause=200;text="Call completed elsewhere"' } }),
      });
      await assert.rejects(p, (err) => err.status === 487);
    });
    assertSipp(r);
    assert.deepEqual(received(r.messages), ['INVITE', 'CANCEL', 'ACK']);
  });

  test(`${kind}: uac conn 17: the callee sends UPDATE with SDP right after the ACK (sipp-uas-fast-update): 200 with SDP`, T, async (t) => {
    if (!ready(t)) return;
    const r = await withCallee(kind, ['-sf', scenario('suite-uas-fast-update.xml')], async (app, uas) => {
      const dialog = await app.srf.createUAC(uas.uri(), { localSdp: SDP(6028) });
      const updated = new Promise((resolve) => {
        dialog.on('update', (req, res) => { res.send(200, { body: SDP(6030) }); resolve(req.body); });
        dialog.on('modify', (req, res) => { res.send(200, { body: SDP(6030) }); resolve(req.body); });
      });
      assert.match(await updated, /s=update/);
      await dialog.destroy();
    });
    assertSipp(r);
    assert.deepEqual(received(r.messages), ['INVITE', 'ACK', '200 UPDATE', 'BYE']);
  });
}
