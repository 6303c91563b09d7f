'use strict';
// Validates srf.connect() options and turns them into what the native client takes.
const assert = require('node:assert');
const fs = require('node:fs');
const net = require('node:net');

const MIN_PING = 5000;
const MAX_PING = 300000;

/** PEM text from what Node's tls options accept: a string, a Buffer, or an array of them. */
function pem(value, name, fn = 'srf.connect') {
  if (value === undefined || value === null) return undefined;
  const list = Array.isArray(value) ? value : [value];
  return list.map((v) => {
    assert.ok(typeof v === 'string' || Buffer.isBuffer(v), `${fn}: tls.${name} must be a string or Buffer`);
    return v.toString();
  }).join('\n');
}

function tlsOptions(tls) {
  if (!tls) return undefined;
  assert.ok(typeof tls === 'object', 'srf.connect: tls must be an object of TLS options');
  return {
    ca: pem(tls.ca, 'ca'),
    cert: pem(tls.cert, 'cert'),
    key: pem(tls.key, 'key'),
    servername: tls.servername,
    rejectUnauthorized: tls.rejectUnauthorized !== false,
  };
}

function pingIntervalOf(opts, fn) {
  if (!opts.enablePing) return undefined;
  const pingInterval = opts.pingInterval === undefined ? 15000 : opts.pingInterval;
  assert.ok(Number.isInteger(pingInterval) && pingInterval >= MIN_PING && pingInterval <= MAX_PING,
    `${fn}: pingInterval must be between ${MIN_PING} and ${MAX_PING} ms`);
  return pingInterval;
}

function nativeConnectOptions(opts, tags) {
  assert.ok(opts && typeof opts === 'object', 'srf.connect: options must be an object');
  const host = opts.host === undefined ? 'localhost' : opts.host;
  assert.ok(typeof host === 'string' && host.length > 0, 'srf.connect: host must be a string');
  const port = Number(opts.port === undefined ? 9022 : opts.port);
  assert.ok(Number.isInteger(port) && port > 0 && port < 65536, 'srf.connect: port must be a port number');
  assert.ok(typeof opts.secret === 'string', 'srf.connect: secret must be a string');
  assert.ok(!opts.secret.includes('|'), 'srf.connect: secret must not contain "|"');
  const pingInterval = pingIntervalOf(opts, 'srf.connect');
  const reconnect = opts.reconnect || {};
  assert.ok(typeof reconnect === 'object', 'srf.connect: reconnect must be an object');
  const ms = (v, name) => {
    if (v === undefined) return undefined;
    assert.ok(Number.isInteger(v) && v >= 0, `srf.connect: reconnect.${name} must be a number of ms`);
    return v;
  };
  return {
    host,
    port,
    secret: opts.secret,
    tags,
    tls: tlsOptions(opts.tls),
    pingInterval,
    reconnect: true,
    retryMaxDelay: ms(reconnect.retryMaxDelay, 'retryMaxDelay'),
    maxAttempts: ms(reconnect.maxAttempts, 'maxAttempts'),
    connectTimeout: ms(reconnect.connectTimeout, 'connectTimeout'),
  };
}

/**
 * `connect({ embedded: { contacts, t1, t2, t4, externalIp, localNet, maxPendingRequests, tcpMessageTimeout,
 * minSE, defaultRefresher } })` for the in-process engine. maxPendingRequests: new requests the app
 * may hold unanswered before the engine answers 503 with Retry-After (default 2000).
 * tcpMessageTimeout: ms a TCP peer may take over one message, or over its first one, before it is
 * disconnected (default 32000). Session timers (RFC 4028): minSE, our Min-SE in seconds (default
 * 90: smaller offers get 422, intervals are raised to it); defaultRefresher, who refreshes when a
 * UAC offers Session-Expires without a refresher: 'none' (default, as drachtio-server: no session
 * timer), 'uac' or 'uas'. prometheus: { port, host }, Prometheus metrics on http://host:port/metrics
 * (host 0.0.0.0 unless given), with drachtio-server's metric names. tls: certificates for tls and
 * wss contacts and trust for requests sent over TLS (see embeddedTlsOptions).
 */
function nativeEmbeddedOptions(embedded) {
  assert.ok(embedded && typeof embedded === 'object', 'srf.connect: embedded must be an object');
  const { contacts } = embedded;
  assert.ok(Array.isArray(contacts) && contacts.length > 0 && contacts.every((c) => typeof c === 'string'),
    "srf.connect: embedded.contacts must be a non-empty array of SIP URIs, e.g. ['sip:127.0.0.1:5060;transport=udp']");
  const timer = (name) => {
    const v = embedded[name];
    assert.ok(v === undefined || (Number.isInteger(v) && v > 0), `srf.connect: embedded.${name} must be a positive number of ms`);
    return v;
  };
  assert.ok(embedded.externalIp === undefined || typeof embedded.externalIp === 'string', 'srf.connect: embedded.externalIp must be a string');
  const localNet = embedded.localNet === undefined ? undefined : [].concat(embedded.localNet);
  assert.ok(localNet === undefined || localNet.every((n) => typeof n === 'string'),
    "srf.connect: embedded.localNet must be a CIDR string or an array of them, e.g. '10.0.0.0/8'");
  const max = embedded.maxPendingRequests;
  assert.ok(max === undefined || (Number.isInteger(max) && max > 0), 'srf.connect: embedded.maxPendingRequests must be a positive integer');
  const { minSE, defaultRefresher } = embedded;
  assert.ok(minSE === undefined || (Number.isInteger(minSE) && minSE > 0 && minSE < 2 ** 32), 'srf.connect: embedded.minSE must be a positive number of seconds');
  assert.ok(defaultRefresher === undefined || ['none', 'uac', 'uas'].includes(defaultRefresher),
    "srf.connect: embedded.defaultRefresher must be 'none', 'uac' or 'uas'");
  return { contacts, externalIp: embedded.externalIp, localNet, t1: timer('t1'), t2: timer('t2'), t4: timer('t4'), maxPendingRequests: max,
    tcpMessageTimeout: timer('tcpMessageTimeout'), minSE, defaultRefresher, prometheus: prometheusOptions(embedded.prometheus),
    tls: embeddedTlsOptions(embedded.tls, contacts) };
}

/**
 * `embedded.tls: { key, cert, chain, ca } or { keyFile, certFile, chainFile, caFile }` (PEM text or
 * paths), plus rejectUnauthorized (default true): key and cert serve tls and wss contacts (needed
 * when there are any); ca is what servers we connect to over TLS must chain to (the Mozilla roots
 * when absent). Files are read here, so a wrong path is reported by connect().
 */
function embeddedTlsOptions(tls, contacts) {
  const secure = contacts.some((c) => /^sips:|;transport=(tls|wss)\b/i.test(c));
  if (tls === undefined) {
    assert.ok(!secure, "srf.connect: tls and wss contacts need embedded.tls with a key and a certificate, e.g. { keyFile, certFile }");
    return undefined;
  }
  assert.ok(tls && typeof tls === 'object', 'srf.connect: embedded.tls must be an object');
  const pem = (name) => {
    const text = tls[name];
    const file = tls[`${name}File`];
    assert.ok(text === undefined || typeof text === 'string', `srf.connect: embedded.tls.${name} must be PEM text`);
    assert.ok(file === undefined || typeof file === 'string', `srf.connect: embedded.tls.${name}File must be a path`);
    assert.ok(text === undefined || file === undefined, `srf.connect: give embedded.tls.${name} or ${name}File, not both`);
    if (file === undefined) return text;
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`srf.connect: cannot read embedded.tls.${name}File ${file}: ${err.message}`);
    }
  };
  const key = pem('key');
  const cert = [pem('cert'), pem('chain')].filter(Boolean).join('\n') || undefined;
  assert.ok(!secure || (key && cert), 'srf.connect: tls and wss contacts need embedded.tls.key (keyFile) and cert (certFile or chainFile)');
  const { rejectUnauthorized } = tls;
  assert.ok(rejectUnauthorized === undefined || typeof rejectUnauthorized === 'boolean', 'srf.connect: embedded.tls.rejectUnauthorized must be a boolean');
  return { key, cert, ca: pem('ca'), rejectUnauthorized };
}

/** `embedded.prometheus: { port, host }`: metrics on http://host:port/metrics (host 0.0.0.0 unless given). */
function prometheusOptions(p) {
  if (p === undefined) return undefined;
  assert.ok(p && typeof p === 'object', 'srf.connect: embedded.prometheus must be an object, e.g. { port: 9090, host: \'127.0.0.1\' }');
  assert.ok(Number.isInteger(p.port) && p.port > 0 && p.port < 65536, 'srf.connect: embedded.prometheus.port must be a port number');
  assert.ok(p.host === undefined || (typeof p.host === 'string' && net.isIP(p.host.replace(/^\[|\]$/g, '')) !== 0),
    'srf.connect: embedded.prometheus.host must be an IP address');
  return { port: p.port, host: p.host };
}

// Server TLS options we apply; the rest of Node's tls.createServer options are reported as ignored.
const TLS_LISTEN_KEYS = new Set(['key', 'cert', 'ca', 'requestCert', 'rejectUnauthorized']);

/**
 * `srf.listen({ port, host, secret, tls, server, enablePing, pingInterval })`: validated, as the
 * native listener takes them, plus `server` (the app's own net.Server, when given) and
 * `ignoredTls` (TLS option names we do not apply).
 */
function nativeListenOptions(opts, tags) {
  assert.ok(opts && typeof opts === 'object' && !Array.isArray(opts), 'srf.listen: options must be an object, e.g. { port: 3000, secret: "cymru" }');
  assert.ok(typeof opts.secret === 'string', 'srf.listen: secret must be a string (the drachtio server\'s secret)');
  assert.ok(!opts.secret.includes('|'), 'srf.listen: secret must not contain "|"');
  const pingInterval = pingIntervalOf(opts, 'srf.listen');
  if (opts.server !== undefined) {
    assert.ok(opts.server instanceof net.Server, 'srf.listen: server must be a net.Server or tls.Server');
    assert.ok(opts.tls === undefined, 'srf.listen: tls applies to the server listen() creates; to use TLS with your own server, pass a tls.Server');
    return { native: { secret: opts.secret, tags, pingInterval }, server: opts.server, ignoredTls: [] };
  }
  const port = Number(opts.port);
  assert.ok(opts.port !== undefined && opts.port !== null && Number.isInteger(port) && port >= 0 && port < 65536,
    'srf.listen: port must be a port number (0 for any free port)');
  const host = opts.host === undefined ? '0.0.0.0' : opts.host;
  assert.ok(typeof host === 'string' && host.length > 0, 'srf.listen: host must be a string');
  let tls;
  const ignoredTls = [];
  if (opts.tls !== undefined) {
    const t = opts.tls;
    assert.ok(t && typeof t === 'object', 'srf.listen: tls must be an object of TLS server options ({ key, cert, ... })');
    assert.ok(t.pfx === undefined && t.passphrase === undefined, 'srf.listen: tls.pfx and tls.passphrase are not supported: give tls.key and tls.cert as unencrypted PEM');
    const key = pem(t.key, 'key', 'srf.listen');
    const cert = pem(t.cert, 'cert', 'srf.listen');
    assert.ok(key && cert, 'srf.listen: tls needs key and cert (PEM text or Buffers)');
    const ca = pem(t.ca, 'ca', 'srf.listen');
    assert.ok(!t.requestCert || ca, 'srf.listen: tls.requestCert needs tls.ca to verify client certificates with');
    tls = { key, cert, ca, requestCert: Boolean(t.requestCert), rejectUnauthorized: t.rejectUnauthorized !== false };
    for (const name of Object.keys(t)) if (!TLS_LISTEN_KEYS.has(name) && t[name] !== undefined) ignoredTls.push(name);
  }
  return { native: { host, port, secret: opts.secret, tags, tls, pingInterval }, server: null, ignoredTls };
}

module.exports = { nativeConnectOptions, nativeEmbeddedOptions, nativeListenOptions };
