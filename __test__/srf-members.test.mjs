// Srf members of api.md §2.5 against the embedded engine, over real loopback sockets:
// unregisterForMessages / reregisterForMessages (remove_route and route), srf.dialog(),
// idle, and the dialog map (findDialogById, findDialogByCallIDAndFromTag, addDialog,
// removeDialog).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { embeddedSrf, errorsFail, Srf, SDP, waitFor } from './helpers/embedded.mjs';
import { startServe, routesApplied } from './helpers/serve.mjs';

/** Sends `method` from `from` to `uri` and resolves with the final status. */
async function finalStatus(from, uri, method) {
  const req = await from.request(uri, { method, headers: { Subject: 'srf-members' } });
  return new Promise((resolve) => {
    req.on('response', (res) => { if (res.status >= 200) resolve(res.status); });
  });
}

/**
 * The status `method` gets once it equals `want`, re-sending until then: a route command and
 * a request on another socket race, so the first request after the command may still see the
 * old routing. Fails if `want` never comes.
 */
async function statusBecomes(from, uri, method, want, ms = 3000) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    last = await finalStatus(from, uri, method);
    if (last === want || Date.now() > end) return last;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function pair(setup) {
  const server = await embeddedSrf({ setup });
  const client = await embeddedSrf();
  const close = () => { client.srf.disconnect(); server.srf.disconnect(); };
  return { server, client, close };
}

test('unregisterForMessages withdraws one verb; the engine answers 503; the other verbs stay routed', { timeout: 20000 }, async () => {
  const seen = [];
  const { server, client, close } = await pair((s) => {
    s.options((req, res) => { seen.push('OPTIONS'); res.send(200); });
    s.message((req, res) => { seen.push('MESSAGE'); res.send(202); });
    s.info((req, res) => { seen.push('INFO'); res.send(200); });
  });
  try {
    const uri = server.uri('svc');
    assert.equal(await finalStatus(client.srf, uri, 'OPTIONS'), 200);
    assert.equal(await finalStatus(client.srf, uri, 'MESSAGE'), 202);

    server.srf.unregisterForMessages('options');
    assert.equal(await statusBecomes(client.srf, uri, 'OPTIONS', 503), 503,
      'with no app routed for OPTIONS the engine answers 503 Service Unavailable');
    // remove_route clears every route of the app on the engine: the Srf routes the rest again.
    assert.equal(await finalStatus(client.srf, uri, 'MESSAGE'), 202, 'MESSAGE is still routed');
    assert.equal(await finalStatus(client.srf, uri, 'INFO'), 200, 'INFO is still routed');
    const optionsSeen = seen.filter((m) => m === 'OPTIONS').length;
    assert.equal(await finalStatus(client.srf, uri, 'OPTIONS'), 503, 'still withdrawn');
    assert.equal(seen.filter((m) => m === 'OPTIONS').length, optionsSeen, 'the withdrawn verb never reached middleware');

    server.srf.reregisterForMessages('options');
    assert.equal(await statusBecomes(client.srf, uri, 'OPTIONS', 200), 200, 'routed again: the middleware answers');
    assert.equal(await finalStatus(client.srf, uri, 'MESSAGE'), 202);
    assert.equal(await finalStatus(client.srf, uri, 'INFO'), 200);

    // Two verbs withdrawn, one after the other: only those two are gone.
    server.srf.unregisterForMessages('MESSAGE'); // any case: routes are lower-case
    server.srf.unregisterForMessages('info');
    assert.equal(await statusBecomes(client.srf, uri, 'INFO', 503), 503);
    assert.equal(await finalStatus(client.srf, uri, 'MESSAGE'), 503);
    assert.equal(await finalStatus(client.srf, uri, 'OPTIONS'), 200, 'OPTIONS survives both removals');
  } finally {
    close();
  }
});

test('the same through serve, a drachtio server on the admin protocol: remove_route and route frames', { timeout: 30000 }, async () => {
  const serve = await startServe();
  const app = errorsFail(new Srf(), 'app on serve');
  app.options((req, res) => res.send(200));
  app.message((req, res) => res.send(202));
  const connected = once(app, 'connect');
  app.connect({ host: serve.admin.host, port: serve.admin.port, secret: 'cymru' });
  const caller = await embeddedSrf();
  try {
    const [err] = await connected;
    assert.equal(err, null);
    await routesApplied(app);
    const uri = `sip:svc@${serve.sip}`;
    assert.equal(await finalStatus(caller.srf, uri, 'OPTIONS'), 200);

    app.unregisterForMessages('options');
    // serve handles an app's frames in order: once a later request is confirmed, the
    // remove_route and the route frames after it have been applied.
    await routesApplied(app);
    assert.equal(await finalStatus(caller.srf, uri, 'OPTIONS'), 503, 'no app for OPTIONS: 503');
    assert.equal(await finalStatus(caller.srf, uri, 'MESSAGE'), 202, 'MESSAGE was routed again after the remove_route');

    app.reregisterForMessages('options');
    await routesApplied(app);
    assert.equal(await finalStatus(caller.srf, uri, 'OPTIONS'), 200);
    assert.equal(await finalStatus(caller.srf, uri, 'MESSAGE'), 202);
  } finally {
    caller.srf.disconnect();
    app.disconnect();
    await serve.stop();
  }
});

test('unregisterForMessages throws for a verb not routed; reregisterForMessages throws for one routed', async () => {
  const srf = new Srf();
  srf.options((req, res) => res.send(200));
  assert.throws(() => srf.unregisterForMessages('invite'), /'invite' is not routed/, 'never routed');
  assert.throws(() => srf.reregisterForMessages('options'), /'options' is already routed/, 'a duplicate route');
  assert.throws(() => srf.reregisterForMessages('OPTIONS'), /already routed/, 'verbs compare lower-case');
  srf.unregisterForMessages('OPTIONS');
  assert.throws(() => srf.unregisterForMessages('options'), /not routed/, 'withdrawn already');
  srf.reregisterForMessages('options');
  // A verb that no middleware was registered for can be routed too (the requests then reach
  // the end of the stack).
  srf.reregisterForMessages('notify');
  assert.throws(() => srf.reregisterForMessages('notify'), /already routed/);
  srf.unregisterForMessages('notify');
});

test('routes changed before connect() are the ones in force once connected', { timeout: 20000 }, async () => {
  const server = await embeddedSrf({
    setup: (s) => {
      s.options((req, res) => res.send(200));
      s.message((req, res) => res.send(202));
      s.unregisterForMessages('options');
    },
  });
  const client = await embeddedSrf();
  try {
    const uri = server.uri();
    assert.equal(await finalStatus(client.srf, uri, 'OPTIONS'), 503);
    assert.equal(await finalStatus(client.srf, uri, 'MESSAGE'), 202);
  } finally {
    client.srf.disconnect();
    server.srf.disconnect();
  }
});

test('srf.dialog() is the dispatch layer the constructor installed', async () => {
  const srf = new Srf();
  const layer = srf.dialog();
  assert.equal(typeof layer, 'function');
  assert.equal(layer.length, 3, '(req, res, next)');
  assert.equal(srf.dialog({}), layer, 'one layer per Srf, whatever the options');
  assert.notEqual(new Srf().dialog(), layer, 'bound to its own Srf');
  // A request in no known dialog continues, with req.srf / res.srf set.
  const req = { stackDialogId: 'nope;from-tag=x' };
  const res = {};
  let nexts = 0;
  layer(req, res, () => { nexts++; });
  assert.equal(nexts, 1);
  assert.equal(req.srf, srf);
  assert.equal(res.srf, srf);
  // A request in a registered dialog goes to it, not on.
  const handled = [];
  const fake = { id: 'cid;from-tag=abc', handle: (q, s) => handled.push([q, s]) };
  srf.addDialog(fake);
  const inDialog = { stackDialogId: 'cid;from-tag=abc' };
  layer(inDialog, res, () => { nexts++; });
  assert.equal(nexts, 1, 'next is not called');
  assert.deepEqual(handled, [[inDialog, res]]);
});

test('the dialog map: addDialog, findDialogById, findDialogByCallIDAndFromTag, removeDialog', () => {
  const srf = new Srf();
  const dlg = { id: 'abc@host;from-tag=t1' };
  assert.equal(srf.findDialogById(dlg.id), undefined);
  srf.addDialog(dlg);
  assert.equal(srf.findDialogById('abc@host;from-tag=t1'), dlg);
  assert.equal(srf.findDialogByCallIDAndFromTag('abc@host', 't1'), dlg);
  assert.equal(srf.findDialogByCallIDAndFromTag('abc@host', 't2'), undefined);
  srf.removeDialog(dlg);
  assert.equal(srf.findDialogById(dlg.id), undefined);
  assert.equal(srf.findDialogByCallIDAndFromTag('abc@host', 't1'), undefined);
});

test('a call registers its dialogs under the engine ids, and idle follows outstanding work', { timeout: 20000 }, async () => {
  let uasDialog;
  let hold = null;
  const { server, client, close } = await pair((s) => {
    s.invite(async (req, res) => {
      uasDialog = await s.createUAS(req, res, { localSdp: SDP(6100) });
    });
    // An OPTIONS answered only when the test says so: the client's request stays outstanding.
    s.options((req, res) => { hold = () => res.send(200); });
  });
  try {
    assert.equal(client.srf.idle, true, 'nothing sent yet');
    const uac = await client.srf.createUAC(server.uri('bob'), { localSdp: SDP(6200) });
    await waitFor(() => uasDialog && uasDialog.connected);
    // Both ends: findDialogById by the engine's id, and by Call-ID and the caller's From tag.
    assert.equal(client.srf.findDialogById(uac.id), uac);
    assert.equal(server.srf.findDialogById(uasDialog.id), uasDialog);
    assert.equal(client.srf.findDialogByCallIDAndFromTag(uac.sip.callId, uac.sip.localTag), uac);
    assert.equal(server.srf.findDialogByCallIDAndFromTag(uasDialog.sip.callId, uasDialog.sip.remoteTag), uasDialog);

    // idle: false while an OPTIONS the client sent waits for its final response.
    await waitFor(() => client.srf.idle);
    const status = finalStatus(client.srf, server.uri(), 'OPTIONS');
    await waitFor(() => hold !== null);
    assert.equal(client.srf.idle, false, 'a sent request awaits its final response');
    hold();
    assert.equal(await status, 200);
    await waitFor(() => client.srf.idle);

    const destroyed = new Promise((r) => uasDialog.once('destroy', r));
    await uac.destroy();
    await destroyed;
    assert.equal(client.srf.findDialogById(uac.id), undefined, 'removed when destroyed');
    assert.equal(server.srf.findDialogById(uasDialog.id), undefined, 'removed on the BYE');
    await waitFor(() => client.srf.idle && server.srf.idle);
  } finally {
    close();
  }
});

test('createB2BUA in the legacy positional form (req, res, uri, opts, cbRequest, cbProvisional, cb)', { timeout: 20000 }, async () => {
  const callee = await embeddedSrf({
    setup: (s) => s.invite(async (req, res) => {
      res.send(180);
      await s.createUAS(req, res, { localSdp: SDP(7100) });
    }),
  });
  const seen = { requests: [], provisionals: [] };
  let settled;
  const result = new Promise((resolve) => { settled = resolve; });
  const b2b = await embeddedSrf({
    setup: (s) => s.invite((req, res) => {
      const returned = s.createB2BUA(req, res, callee.uri('carol'), { headers: { 'X-B2B': 'legacy' } },
        (err, bReq) => seen.requests.push([err, bReq && bReq.method]),
        (p) => seen.provisionals.push(p.status),
        (err, legs) => settled({ err, legs, returned }));
    }),
  });
  const caller = await embeddedSrf();
  try {
    const dialog = await caller.srf.createUAC(b2b.uri('carol'), { localSdp: SDP(7200) });
    const { err, legs, returned } = await result;
    assert.equal(err, null);
    assert.equal(returned, b2b.srf, 'the callback form returns the Srf');
    assert.deepEqual(seen.requests, [[null, 'INVITE']], 'cbRequest(null, req)');
    assert.ok(seen.provisionals.includes(180), 'cbProvisional got the 180');
    assert.equal(legs.uas.other, legs.uac);
    assert.equal(legs.uac.other, legs.uas);
    assert.equal(dialog.remote.sdp, SDP(7100), "the caller got the callee's SDP through the B2BUA");
    const gone = new Promise((r) => legs.uas.once('destroy', r));
    await dialog.destroy();
    await gone;
    await legs.uac.destroy();
  } finally {
    caller.srf.disconnect();
    b2b.srf.disconnect();
    callee.srf.disconnect();
  }
});
