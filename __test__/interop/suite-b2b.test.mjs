// drachtio-srf 5.0.29's integration test "B2B" (../shared/traces/suite/b2b.trace, sip/b2b/*.msg)
// re-enacted against OUR Srf on the embedded engine and on `drachtio-rs serve`: the app's INVITE
// handler calls createB2BUA towards a SIPp callee, and a SIPp caller calls the app. Each test
// checks what the app saw, both SIPp runs, and the SIP each far end received.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS } from '../helpers/backends.mjs';
import { requireSipp } from '../helpers/sipp.mjs';
import { sharedDir } from '../helpers/shared.mjs';
import { assertSipp, withApp, sippUas, sippUac, scenario, sippMessages, received, header, deferred } from '../helpers/suite-apps.mjs';

const suite = sharedDir('traces/suite');
const T = { timeout: 45000 };

function ready(t) {
  if (suite.skip) { t.skip(suite.skip); return false; }
  return requireSipp(t);
}

/**
 * One scenario: a SIPp callee running `uasArgs` (or none), an app whose INVITE handler is
 * `handler(srf, req, res, bUri, seen)`, a SIPp caller running `uacArgs`. Resolves with
 * { a, b, seen } (SIPp results of caller and callee, and what the app recorded).
 */
async function b2b(kind, { uasArgs, uacArgs, handler, user = 'service', waitApp = true }) {
  const seen = { done: deferred(15000, 'the app\'s part of the scenario') };
  const uas = uasArgs ? await sippUas([...uasArgs, '-m', '1']) : null;
  let a;
  let b;
  try {
    const app = await withApp(kind, {
      setup: (srf) => srf.invite((req, res) => {
        Promise.resolve(handler(srf, req, res, uas ? uas.uri() : null, seen)).catch((err) => { seen.error = err; seen.done.resolve(); });
      }),
    }, async (appRun) => {
      a = await sippUac([...uacArgs, '-m', '1', '-s', user], appRun.addr);
      if (waitApp) await seen.done;
      if (uas) b = await uas.done;
    });
    assert.deepEqual(app.errors.map(String), [], 'the Srf emitted no error');
  } finally {
    if (uas) uas.stop();
  }
  return { a, b, seen };
}

/** The usual app end: both legs connected, hang-up of one ends the other. */
function connected(seen, { uas, uac }) {
  seen.uas = uas;
  seen.uac = uac;
  uas.on('destroy', () => { seen.ended = 'A'; uac.destroy().then(() => seen.done.resolve(), seen.done.reject); });
  uac.on('destroy', () => { seen.ended = 'B'; uas.destroy().then(() => seen.done.resolve(), seen.done.reject); });
}

const firstReceived = (r, re) => sippMessages(r.messages, 'received').find((m) => re.test(m));

for (const kind of BACKENDS) {
  test(`${kind}: b2b conn 1: PRACK on both legs (uac-prack -> sipp-uas-prack), response headers proxied, Contact override for A`, T, async (t) => {
    if (!ready(t)) return;
    const { a, b, seen } = await b2b(kind, {
      uasArgs: ['-sf', scenario('cov-uas-100rel.xml')],
      uacArgs: ['-sf', scenario('suite-uac-prack.xml')],
      handler: async (srf, req, res, uri, s) => connected(s, await srf.createB2BUA(req, res, uri, {
        proxyRequestHeaders: ['Supported'], proxyResponseHeaders: ['all'], responseHeaders: { Contact: 'sip:foo@localhost' },
      })),
    });
    assert.ifError(seen.error);
    assertSipp(a);
    assertSipp(b);
    assert.deepEqual(received(b.messages), ['INVITE', 'PRACK', 'ACK', 'BYE']);
    const ok = firstReceived(a, /^SIP\/2\.0 200[\s\S]*CSeq: 1 INVITE/);
    assert.match(header(ok, 'Contact'), /^<?sip:foo@127\.0\.0\.1:\d+/, ok);
  });

  test(`${kind}: b2b conn 2: late offer (uac-nosdp): B gets an offer-less INVITE, A's ACK carries the answer, uas.remote.sdp is that SDP`, T, async (t) => {
    if (!ready(t)) return;
    const { a, b, seen } = await b2b(kind, {
      uasArgs: ['-sn', 'uas'],
      uacArgs: ['-sf', scenario('suite-uac-nosdp.xml')],
      handler: async (srf, req, res, uri, s) => connected(s, await srf.createB2BUA(req, res, uri)),
    });
    assert.ifError(seen.error);
    assertSipp(a);
    assertSipp(b);
    assert.match(seen.uas.remote.sdp || '', /s=ack-answer/, 'the A dialog\'s remote SDP is the one from A\'s ACK');
    const bInvite = firstReceived(b, /^INVITE /);
    assert.ok(!/\r?\n\r?\nv=0/.test(bInvite), `B's INVITE has no SDP:\n${bInvite}`);
    const bAck = firstReceived(b, /^ACK /);
    assert.match(bAck, /s=ack-answer/, 'B\'s ACK carries the answer A gave');
  });

  for (const [label, opts, check] of [
    ['conn 3: plain success', {}, null],
    ['conn 4: responseHeaders as a function setting the A-leg To tag to B\'s Call-ID',
      { responseHeaders: (uacRes) => ({ To: `${uacRes.get('To').replace(/;tag=.*$/, '')};tag=${uacRes.get('Call-ID')}` }) },
      (a, b) => {
        const bCallId = header(firstReceived(b, /^INVITE /), 'Call-ID');
        const ok = firstReceived(a, /^SIP\/2\.0 200/);
        assert.match(header(ok, 'To'), new RegExp(`;tag=${bCallId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`), ok);
      }],
    ['conn 8: Subject proxied A->B on the request and B->A on responses', { proxyRequestHeaders: ['Subject'], proxyResponseHeaders: ['Subject'] },
      (a, b) => assert.equal(header(firstReceived(b, /^INVITE /), 'Subject'), 'Performance Test')],
    ['conn 16: createB2BUA(req, res, {uri})', { signature: 'object' }, null],
  ]) {
    test(`${kind}: b2b ${label} (uac -> sipp-uas), BYE from A ends both legs`, T, async (t) => {
      if (!ready(t)) return;
      const { a, b, seen } = await b2b(kind, {
        uasArgs: ['-sn', 'uas'],
        uacArgs: ['-sn', 'uac'],
        handler: async (srf, req, res, uri, s) => {
          const { signature, ...o } = opts;
          connected(s, await (signature === 'object' ? srf.createB2BUA(req, res, { uri, ...o }) : srf.createB2BUA(req, res, uri, o)));
        },
      });
      assert.ifError(seen.error);
      assertSipp(a);
      assertSipp(b);
      assert.equal(seen.ended, 'A');
      assert.deepEqual(received(b.messages), ['INVITE', 'ACK', 'BYE']);
      if (check) check(a, b);
    });
  }

  test(`${kind}: b2b conn 5: A cancels (uac-cancel): B (sipp-uas-cancel) gets CANCEL with Reason "Call completed elsewhere"; A gets 200 and 487`, T, async (t) => {
    if (!ready(t)) return;
    const { a, b, seen } = await b2b(kind, {
      uasArgs: ['-sf', scenario('suite-uas-cancel.xml')],
      uacArgs: ['-sf', scenario('suite-uac-cancel.xml')],
      handler: async (srf, req, res, uri, s) => {
        try {
          await srf.createB2BUA(req, res, uri);
          s.done.reject(new Error('createB2BUA resolved although A cancelled'));
        } catch (err) {
          s.status = err.status;
          s.done.resolve();
        }
      },
    });
    assert.ifError(seen.error);
    assertSipp(a);
    assertSipp(b);
    assert.equal(seen.status, 487);
  });

  for (const [label, passFailure, expectA] of [['conn 6: B answers 404, passed back to A', undefined, '404'], ['conn 7: passFailure false, the app answers 480', false, '480']]) {
    test(`${kind}: b2b ${label} (sipp-uas-404)`, T, async (t) => {
      if (!ready(t)) return;
      const { a, b, seen } = await b2b(kind, {
        uasArgs: ['-sf', scenario('suite-uas-404.xml')],
        uacArgs: ['-sf', scenario(`suite-uac-expect-${expectA}.xml`)],
        handler: async (srf, req, res, uri, s) => {
          try {
            await srf.createB2BUA(req, res, uri, passFailure === false ? { passFailure: false } : {});
          } catch (err) {
            s.status = err.status;
            if (passFailure === false) res.send(480);
            s.done.resolve();
          }
        },
      });
      assert.ifError(seen.error);
      assertSipp(a);
      assertSipp(b);
      assert.equal(seen.status, 404);
    });
  }

  test(`${kind}: b2b conn 9: an A-leg INVITE without Contact still reaches the app; B (sipp-uas-404) fails, the app answers A 400 (uac-expect-400-no-contact-header)`, T, async (t) => {
    if (!ready(t)) return;
    // As recorded: drachtio-server hands the Contact-less INVITE to the app, the app's B leg
    // gets 404 and the app sends 400 Bad Request to A itself.
    const { a, b, seen } = await b2b(kind, {
      uasArgs: ['-sf', scenario('suite-uas-404.xml')],
      uacArgs: ['-sf', scenario('suite-uac-expect-400-no-contact-header.xml')],
      handler: async (srf, req, res, uri, s) => {
        s.hasContact = req.has('Contact');
        try {
          await srf.createB2BUA(req, res, uri, { passFailure: false });
        } catch (err) {
          s.status = err.status;
          res.send(400);
          s.done.resolve();
        }
      },
    });
    assert.ifError(seen.error);
    assert.equal(seen.hasContact, false, 'the INVITE had no Contact');
    assert.equal(seen.status, 404);
    assertSipp(a);
    assertSipp(b);
  });

  test(`${kind}: b2b conn 10: B answers 200 without Contact (sipp-uas-200-ok-no-contact-cancel): the B2BUA fails with 500, the app answers A 480`, T, async (t) => {
    if (!ready(t)) return;
    const { a, b, seen } = await b2b(kind, {
      uasArgs: ['-sf', scenario('suite-uas-200-no-contact.xml')],
      uacArgs: ['-sf', scenario('suite-uac-expect-480.xml')],
      handler: async (srf, req, res, uri, s) => {
        try {
          connected(s, await srf.createB2BUA(req, res, uri));
          s.status = 200;
        } catch (err) {
          s.status = err.status;
          res.send(480);
          s.done.resolve();
        }
      },
    });
    assert.ifError(seen.error);
    assert.equal(seen.status, 500, 'createB2BUA fails with 500: a 2xx without Contact leaves no target for the ACK');
    assertSipp(a);
    // drachtio-server refuses the library's ACK (no route): B never sees an ACK.
    assertSipp(b);
  });

  for (const [label, responseHeaders] of [['conn 11: as an object', { 'X-Color': 'green' }], ['conn 12: as a function', () => ({ 'X-Color': 'green' })]]) {
    test(`${kind}: b2b ${label}: extra A-leg response headers (uac-success-green)`, T, async (t) => {
      if (!ready(t)) return;
      const { a, b, seen } = await b2b(kind, {
        uasArgs: ['-sn', 'uas'],
        uacArgs: ['-sf', scenario('suite-uac-success-green.xml')],
        user: 'green',
        handler: async (srf, req, res, uri, s) => connected(s, await srf.createB2BUA(req, res, uri, { responseHeaders })),
      });
      assert.ifError(seen.error);
      assertSipp(a);
      assertSipp(b);
    });
  }

  test(`${kind}: b2b conn 13: the caller's display name is carried to B's From and Contact (uac-displayname-from)`, T, async (t) => {
    if (!ready(t)) return;
    const { a, b, seen } = await b2b(kind, {
      uasArgs: ['-sn', 'uas'],
      uacArgs: ['-sf', scenario('suite-uac-displayname-from.xml')],
      handler: async (srf, req, res, uri, s) => connected(s, await srf.createB2BUA(req, res, uri)),
    });
    assert.ifError(seen.error);
    assertSipp(a);
    assertSipp(b);
    const inv = firstReceived(b, /^INVITE /);
    assert.match(header(inv, 'From'), /^"Dave H" <sip:sipp@127\.0\.0\.1:\d+>;tag=/, inv);
    assert.match(header(inv, 'Contact'), /^"Dave H" <sip:sipp@127\.0\.0\.1:\d+/, inv);
  });

  for (const [label, localSdpA] of [
    ['conn 14: a function returning a Promise', (sdp) => Promise.resolve(sdp.replace(/c=IN IP4 [\d.]+/, 'c=IN IP4 127.0.0.99'))],
    ['conn 15: a function returning a string', (sdp) => sdp.replace(/c=IN IP4 [\d.]+/, 'c=IN IP4 127.0.0.99')],
  ]) {
    test(`${kind}: b2b ${label} as localSdpA rewrites the SDP A gets`, T, async (t) => {
      if (!ready(t)) return;
      const { a, b, seen } = await b2b(kind, {
        uasArgs: ['-sn', 'uas'],
        uacArgs: ['-sn', 'uac'],
        handler: async (srf, req, res, uri, s) => connected(s, await srf.createB2BUA(req, res, uri, { localSdpA })),
      });
      assert.ifError(seen.error);
      assertSipp(a);
      assertSipp(b);
      assert.match(firstReceived(a, /^SIP\/2\.0 200/), /^c=IN IP4 127\.0\.0\.99/m);
      assert.match(seen.uas.local.sdp, /c=IN IP4 127\.0\.0\.99/);
    });
  }

  test(`${kind}: b2b conn 17: 3pcc failure: A has no SDP, B answers, producing A's SDP throws: B is ACKed and BYEd, A gets 480, nothing crashes`, T, async (t) => {
    if (!ready(t)) return;
    const { a, b, seen } = await b2b(kind, {
      uasArgs: ['-sn', 'uas'],
      uacArgs: ['-sf', scenario('suite-uac-3pcc-nosdp.xml')],
      handler: async (srf, req, res, uri, s) => {
        try {
          connected(s, await srf.createB2BUA(req, res, uri, { localSdpA: () => { throw new Error('no SDP for A'); } }));
          s.status = 200;
        } catch (err) {
          s.failure = err.message;
          res.send(480);
          s.done.resolve();
        }
      },
    });
    assert.ifError(seen.error);
    assert.ok(seen.failure, 'createB2BUA rejected');
    assertSipp(a);
    assert.deepEqual(received(b.messages), ['INVITE', 'ACK', 'BYE'], 'B is ACKed, then BYEd');
    assertSipp(b);
  });

  test(`${kind}: b2b conn 18: B re-INVITEs before A has ACKed (uac-delayed-ack, sipp-uas-fast-reinvite): held until A's ACK, relayed to A, B answered with A's SDP`, T, async (t) => {
    if (!ready(t)) return;
    const { a, b, seen } = await b2b(kind, {
      uasArgs: ['-sf', scenario('suite-uas-fast-reinvite.xml')],
      uacArgs: ['-sf', scenario('suite-uac-delayed-ack.xml')],
      handler: async (srf, req, res, uri, s) => {
        const { uas, uac } = await srf.createB2BUA(req, res, uri);
        connected(s, { uas, uac });
        uac.on('modify', async (reinvite, r) => {
          const sdp = await uas.modify(reinvite.body);
          s.reinviteRelayed = true;
          r.send(200, { body: sdp });
        });
      },
    });
    assert.ifError(seen.error);
    assertSipp(a);
    assertSipp(b);
    assert.equal(seen.reinviteRelayed, true);
    assert.deepEqual(received(a.messages).filter((m, i, all) => !/^1/.test(m) && m !== all[i - 1]), ['200 INVITE', 'INVITE', 'ACK', '200 BYE'], 'A: its 200, then the re-INVITE relayed after its ACK (and the ACK of A\'s answer), then its BYE answered');
    const bOk = firstReceived(b, /^SIP\/2\.0 200[\s\S]*CSeq: \d+ INVITE/);
    assert.match(bOk, /s=a-reanswer/, 'B\'s re-INVITE is answered with the SDP A gave');
  });
}
