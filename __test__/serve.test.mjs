// `drachtio-rs serve`: the engine behind the drachtio control protocol, with our Srf as the
// app over TCP and another Srf (embedded engine) as the caller over UDP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { embeddedSrf, errorsFail, Srf, SDP, waitFor } from './helpers/embedded.mjs';
import { startServe, routesApplied } from './helpers/serve.mjs';

const cli = fileURLToPath(new URL('../lib/cli.js', import.meta.url));

async function appOn(serve, setup, secret = 'cymru') {
  const srf = errorsFail(new Srf(), 'app on serve');
  setup(srf);
  srf.connect({ host: serve.admin.host, port: serve.admin.port, secret });
  const [err, hostport, version] = await once(srf, 'connect');
  if (!err) await routesApplied(srf);
  return { srf, err, hostport, version };
}

function answering(calls) {
  return (srf) => srf.invite(async (req, res) => {
    const dialog = await srf.createUAS(req, res, { localSdp: SDP(4000) });
    calls.push(dialog.id);
  });
}

test('an app on serve answers a call placed through serve', async () => {
  const serve = await startServe();
  const calls = [];
  const app = await appOn(serve, answering(calls));
  const caller = await embeddedSrf();
  try {
    assert.equal(app.err, null);
    assert.match(app.version, /^v0\.9\.10-drachtio-srf-rs/);
    assert.equal(app.hostport, `udp/${serve.sip}`);
    const dialog = await caller.srf.createUAC(`sip:svc@${serve.sip}`, { localSdp: SDP(5000) });
    assert.equal(dialog.remote.sdp, SDP(4000));
    await waitFor(() => calls.length === 1);
    const destroyed = new Promise((resolve) => app.srf.findDialogById(calls[0]).on('destroy', resolve));
    await dialog.destroy();
    await destroyed;
  } finally {
    caller.srf.disconnect();
    app.srf.disconnect();
    assert.equal(await serve.stop(), 0, 'SIGTERM shuts down cleanly');
  }
});

test('a wrong secret is refused; the right one still works', async () => {
  const serve = await startServe();
  try {
    const bad = new Srf();
    bad.on('error', () => {});
    bad.connect({ host: serve.admin.host, port: serve.admin.port, secret: 'wrong', reconnect: { maxAttempts: 0 } });
    const [err] = await once(bad, 'connect');
    assert.match(err.message, /failed to authenticate/);
    bad.disconnect();
    const good = await appOn(serve, () => {});
    assert.equal(good.err, null);
    good.srf.disconnect();
  } finally {
    await serve.stop();
  }
});

test('two apps share new calls round robin', async () => {
  const serve = await startServe();
  const a = [];
  const b = [];
  const appA = await appOn(serve, answering(a));
  const appB = await appOn(serve, answering(b));
  const caller = await embeddedSrf();
  try {
    for (let i = 0; i < 4; i++) {
      const dialog = await caller.srf.createUAC(`sip:svc@${serve.sip}`, { localSdp: SDP(5000) });
      await dialog.destroy();
    }
    await waitFor(() => a.length + b.length === 4);
    assert.equal(a.length, 2);
    assert.equal(b.length, 2);
  } finally {
    caller.srf.disconnect();
    appA.srf.disconnect();
    appB.srf.disconnect();
    await serve.stop();
  }
});

test('an app that goes away mid-call leaves nothing stuck: its pending INVITE gets 480', async () => {
  const serve = await startServe();
  let app;
  app = await appOn(serve, (srf) => srf.invite((req, res) => {
    res.send(180);
    setTimeout(() => app.srf.disconnect(), 50); // vanish without a final response
  }));
  const caller = await embeddedSrf();
  try {
    await assert.rejects(caller.srf.createUAC(`sip:svc@${serve.sip}`, { localSdp: SDP(5000) }), (err) => err.status === 480);
  } finally {
    caller.srf.disconnect();
    await serve.stop();
  }
});

test('the CLI: --help, unknown and not-yet-supported flags, missing secret', () => {
  const run = (...args) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  assert.match(run('--help').stdout, /drachtio-rs serve/);
  assert.match(run('serve', '--help').stdout, /--contact/);
  const prom = run('serve', '--secret', 's', '--prometheus-scrape-port', 'nowhere:x');
  assert.equal(prom.status, 2);
  assert.match(prom.stderr, /--prometheus-scrape-port: invalid Prometheus scrape port/);
  assert.match(run('serve', '--secret', 's', '--daemon').stderr, /--daemon .* is not supported yet/);
  assert.match(run('serve', '-f', '/nonexistent/drachtio.conf.xml').stderr, /cannot read configuration file/);
  assert.match(run('serve', '--port', '0').stderr, /--secret is required/);
  assert.match(run('serve', '--secret', 's', '--bogus').stderr, /unknown option --bogus/);
  assert.match(run('frobnicate').stderr, /unknown command/);
});

test('garbage and a wrong secret on the admin port: a clear refusal and a closed connection; serve stays up', async () => {
  const net = await import('node:net');
  const serve = await startServe();
  const talk = (bytes) => new Promise((resolve) => {
    const sock = net.connect(serve.admin.port, serve.admin.host, () => sock.write(bytes));
    let got = '';
    sock.on('data', (d) => { got += d; });
    sock.on('close', () => resolve(got));
    sock.on('error', () => {});
  });
  try {
    assert.equal(await talk('this is not a frame\r\n'), '', 'a corrupt frame closes the connection');
    const started = Date.now();
    const frame = (p) => `${Buffer.byteLength(p)}#${p}`;
    const refused = await talk(frame('m1|authenticate|wrong-secret|'));
    assert.match(refused, /\|response\|m1\|NO\|incorrect secret$/);
    assert.ok(Date.now() - started >= 400, 'a failed authentication is answered after a delay');
    assert.match(await talk(frame('m2|ping')), /\|response\|m2\|NO\|authenticate first$/);
    assert.match(await talk(frame('m3|bogus|message')), /\|response\|m3\|NO\|Unknown message type$/);
    const ok = await appOn(serve, () => {});
    assert.equal(ok.err, null, 'serve still accepts apps');
    ok.srf.disconnect();
  } finally {
    await serve.stop();
  }
});

test('a drachtio.conf.xml and a drachtio-server start command run unchanged; the command line overrides the file', async () => {
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'serve-xml-'));
  const file = path.join(dir, 'drachtio.conf.xml');
  fs.writeFileSync(file, `<drachtio>
  <admin port="9022" secret="from-the-file">127.0.0.1</admin>
  <sip>
    <contacts><contact>sip:127.0.0.1:5060;transport=udp,tcp</contact></contacts>
    <timers><t1>500</t1><t2>4000</t2><t4>5000</t4></timers>
  </sip>
  <cdrs>true</cdrs>
  <logging><console/><sofia-loglevel>3</sofia-loglevel><loglevel>info</loglevel></logging>
</drachtio>`);
  // startServe adds --port 0, --contact and --secret cymru, which override the file's.
  const serve = await startServe({ extra: ['-f', file, '--sofia-loglevel', '3', '--stdout', '--loglevel', 'notice'] });
  try {
    const calls = [];
    const app = await appOn(serve, answering(calls));
    assert.equal(app.err, null);
    const wrong = new Srf();
    wrong.on('error', () => {});
    wrong.connect({ host: serve.admin.host, port: serve.admin.port, secret: 'from-the-file', reconnect: { maxAttempts: 0 } });
    const [err] = await once(wrong, 'connect');
    assert.match(err.message, /failed to authenticate/, 'the command line secret replaced the file one');
    wrong.disconnect();
    const caller = await embeddedSrf();
    try {
      const dialog = await caller.srf.createUAC(`sip:svc@${serve.sip}`, { localSdp: SDP(5000) });
      dialog.destroy();
      await waitFor(() => calls.length === 1, 2000);
    } finally {
      caller.srf.disconnect();
      app.srf.disconnect();
    }
  } finally {
    await serve.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
