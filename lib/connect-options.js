'use strict';
// Validates srf.connect() options and turns them into what the native client takes.
const assert = require('node:assert');

const MIN_PING = 5000;
const MAX_PING = 300000;

/** PEM text from what Node's tls options accept: a string, a Buffer, or an array of them. */
function pem(value, name) {
  if (value === undefined || value === null) return undefined;
  const list = Array.isArray(value) ? value : [value];
  return list.map((v) => {
    assert.ok(typeof v === 'string' || Buffer.isBuffer(v), `srf.connect: tls.${name} must be a string or Buffer`);
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

function nativeConnectOptions(opts, tags) {
  assert.ok(opts && typeof opts === 'object', 'srf.connect: options must be an object');
  const host = opts.host === undefined ? 'localhost' : opts.host;
  assert.ok(typeof host === 'string' && host.length > 0, 'srf.connect: host must be a string');
  const port = Number(opts.port === undefined ? 9022 : opts.port);
  assert.ok(Number.isInteger(port) && port > 0 && port < 65536, 'srf.connect: port must be a port number');
  assert.ok(typeof opts.secret === 'string', 'srf.connect: secret must be a string');
  assert.ok(!opts.secret.includes('|'), 'srf.connect: secret must not contain "|"');
  let pingInterval;
  if (opts.enablePing) {
    pingInterval = opts.pingInterval === undefined ? 15000 : opts.pingInterval;
    assert.ok(Number.isInteger(pingInterval) && pingInterval >= MIN_PING && pingInterval <= MAX_PING,
      `srf.connect: pingInterval must be between ${MIN_PING} and ${MAX_PING} ms`);
  }
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
 * `connect({ embedded: { contacts, t1, t2, t4, externalIp, maxPendingRequests, tcpMessageTimeout,
 * minSE, defaultRefresher } })` for the in-process engine. maxPendingRequests: new requests the app
 * may hold unanswered before the engine answers 503 with Retry-After (default 2000).
 * tcpMessageTimeout: ms a TCP peer may take over one message, or over its first one, before it is
 * disconnected (default 32000). Session timers (RFC 4028): minSE, our Min-SE in seconds (default
 * 90: smaller offers get 422, intervals are raised to it); defaultRefresher, who refreshes when a
 * UAC offers Session-Expires without a refresher: 'none' (default, as drachtio-server: no session
 * timer), 'uac' or 'uas'.
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
  const max = embedded.maxPendingRequests;
  assert.ok(max === undefined || (Number.isInteger(max) && max > 0), 'srf.connect: embedded.maxPendingRequests must be a positive integer');
  const { minSE, defaultRefresher } = embedded;
  assert.ok(minSE === undefined || (Number.isInteger(minSE) && minSE > 0 && minSE < 2 ** 32), 'srf.connect: embedded.minSE must be a positive number of seconds');
  assert.ok(defaultRefresher === undefined || ['none', 'uac', 'uas'].includes(defaultRefresher),
    "srf.connect: embedded.defaultRefresher must be 'none', 'uac' or 'uas'");
  return { contacts, externalIp: embedded.externalIp, t1: timer('t1'), t2: timer('t2'), t4: timer('t4'), maxPendingRequests: max,
    tcpMessageTimeout: timer('tcpMessageTimeout'), minSE, defaultRefresher };
}

module.exports = { nativeConnectOptions, nativeEmbeddedOptions };
