// SIP over TLS, WebSocket and secure WebSocket through `drachtio-rs serve` (#17), with our Srf
// and with the real drachtio-srf 5.0.29 connected over the control protocol: calls from a peer
// over each transport, hung up by the peer, and calls over a WebSocket hung up by the app (its
// BYE goes back over the peer's own connection: the peer's Contact is a `.invalid` host). The
// app sees req.protocol as drachtio-server reports it ('tls', 'ws', 'wss'). Certificates come
// from openssl (helpers/pki.mjs): without it the tests skip with the reason, except on CI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { SDP, waitFor } from '../helpers/embedded.mjs';
import { startServe, routesApplied, failOnError } from '../helpers/serve.mjs';
import { freePort } from '../helpers/sipp.mjs';
import { pkiFor } from '../helpers/pki.mjs';
import { SipPeer } from '../helpers/sip-peer.mjs';

const require = createRequire(import.meta.url);
const CALLS = 20;
const libraries = {
  'drachtio-srf-rs': () => require('../../index.js'),
  'drachtio-srf 5.0.29': () => require('drachtio-srf'),
};

/** INVITEs answered with createUAS; each call kept by Call-ID with the transport the app saw. */
function installUas(srf) {
  const calls = new Map();
  srf.invite(async (req, res) => {
    const call = { protocol: req.protocol, source: `${req.source_address}:${req.source_port}` };
    calls.set(req.get('Call-ID'), call);
    try {
      call.dialog = await srf.createUAS(req, res, { localSdp: SDP(4000) });
      call.dialog.on('destroy', () => { call.destroyed = true; });
    } catch (err) {
      call.error = err;
    }
  });
  return calls;
}

/**
 * One call from `peer` over transport `x`, hung up by the peer or (appHangsUp) by the app. The
 * peer hangs up only once the app holds its dialog: drachtio-srf attaches its dialog listeners
 * after createUAS resumes and would miss a BYE that came with the ACK.
 */
async function callOver(calls, peer, x, sipPorts, { appHangsUp = false } = {}) {
  let entry;
  const { ok, bye } = await peer.fullCall({
    sdp: SDP(5000),
    ready: async (call) => {
      await waitFor(() => calls.get(call.callId)?.dialog || calls.get(call.callId)?.error, 5000);
      entry = calls.get(call.callId);
      assert.ifError(entry.error);
    },
    hangUp: appHangsUp ? () => entry.dialog.destroy() : undefined,
  });
  assert.equal(ok.body, SDP(4000));
  assert.match(ok.contactUri, new RegExp(`^sips?:(?:[^@]*@)?127\\.0\\.0\\.1:${sipPorts[x]};(?:.*;)?transport=${x}(?:;|$)`, 'i'),
    `serve's Contact is its ${x} listening point`);
  assert.equal(entry.protocol, x, 'req.protocol');
  assert.equal(entry.source, `127.0.0.1:${peer.port}`, 'req.source_address:source_port');
  if (appHangsUp) {
    assert.equal(bye.uri, peer.contact, 'the BYE goes to the peer\'s Contact');
    assert.match(bye.get('via'), new RegExp(`^SIP/2\\.0/${x.toUpperCase()} `), 'serve\'s Via names the transport');
  } else {
    await waitFor(() => entry.destroyed, 5000);
  }
}

for (const [name, load] of Object.entries(libraries)) {
  test(`serve with tls, ws and wss contacts, a ${name} app: ${CALLS} calls over each hung up by the peer, ${CALLS} over ws hung up by the app`, { timeout: 120000 }, async (t) => {
    const pki = pkiFor(t);
    if (!pki) return;
    const ports = {};
    for (const x of ['tls', 'ws', 'wss']) {
      let port;
      do port = await freePort(); while (Object.values(ports).includes(port));
      ports[x] = port;
    }
    const serve = await startServe({
      extra: ['--contact', `sips:127.0.0.1:${ports.tls};transport=tls`, '--contact', `sip:127.0.0.1:${ports.ws};transport=ws`,
        '--contact', `sips:127.0.0.1:${ports.wss};transport=wss`, '--key-file', pki.keyFile, '--cert-file', pki.certFile],
    });
    const Srf = load();
    const srf = new Srf();
    const peers = [];
    t.after(async () => {
      for (const p of peers) p.close();
      srf.disconnect();
      await serve.stop();
    });
    failOnError(t, srf, `${name} app`);
    const calls = installUas(srf);
    srf.connect({ host: serve.admin.host, port: serve.admin.port, secret: 'cymru' });
    const [err, hostport] = await once(srf, 'connect');
    assert.equal(err, null);
    for (const x of ['tls', 'ws', 'wss']) assert.match(String(hostport), new RegExp(`\\b${x}/127\\.0\\.0\\.1:${ports[x]}\\b`), `hostport lists ${x}`);
    await routesApplied(srf);

    const open = {
      tls: () => SipPeer.tls(`127.0.0.1:${ports.tls}`, { ca: pki.ca }),
      ws: () => SipPeer.ws(`ws://127.0.0.1:${ports.ws}`),
      wss: () => SipPeer.wss(`wss://127.0.0.1:${ports.wss}`, { ca: pki.ca }),
    };
    for (const x of ['tls', 'ws', 'wss']) {
      const peer = await open[x]();
      peers.push(peer);
      for (let i = 0; i < CALLS; i++) await callOver(calls, peer, x, ports);
    }
    const ws = await open.ws();
    peers.push(ws);
    for (let i = 0; i < CALLS; i++) await callOver(calls, ws, 'ws', ports, { appHangsUp: true });
    assert.equal(calls.size, 4 * CALLS);
  });
}
