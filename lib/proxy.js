'use strict';
// proxyRequest / req.proxy (api.md §7): the server proxies a new incoming request to one or
// more destinations and reports each target's final response; we shape the result.
const assert = require('node:assert');
const SipMessage = require('./message.js');
const { settle } = require('./dialog.js');

function destinations(dest, req) {
  const list = dest === undefined ? [req.uri] : dest;
  assert.ok(typeof list === 'string' || (Array.isArray(list) && list.every((d) => typeof d === 'string')),
    'proxyRequest: destination must be a string or an array of strings');
  return (Array.isArray(list) ? list : [list]).map((d) => (/^(sips?|tel):/i.test(d) ? d : `sip:${d}`));
}

// '2s' and '1500ms' pass as written; a number counts as milliseconds.
function timeout(value) {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return `${Math.round(value)}ms`;
  return typeof value === 'string' ? value : '';
}

/** proxyRequest(req[, destination][, opts][, cb]) → Promise<result>. */
function proxyRequest(srf, req, destination, opts, cb) {
  if (typeof destination === 'function') [destination, opts, cb] = [undefined, {}, destination];
  else if (destination && typeof destination === 'object' && !Array.isArray(destination)) [destination, opts, cb] = [destination.destination, destination, opts];
  if (typeof opts === 'function') [opts, cb] = [{}, opts];
  opts = opts || {};
  const run = async () => {
    assert.ok(req && req.source === 'network', 'proxyRequest: only a received request can be proxied');
    const dests = destinations(destination === undefined ? opts.destination : destination, req);
    const link = srf._linkFor(req.socket); // listen mode: the request's own session
    const headers = opts.headers || {};
    const raw = new SipMessage({ method: req.method, uri: dests[0], headers }).toString();
    const result = { connected: false, finalStatus: undefined, finalResponse: undefined, responses: [] };
    const onMore = ({ meta, msg }) => {
      if (!msg) return;
      const entry = { time: meta.stackTime, status: msg.status, msg };
      const last = result.responses[result.responses.length - 1];
      // One entry per target: group when address AND port match (upstream compares wrongly).
      if (last && last.address === meta.source_address && last.port === meta.source_port) last.msgs.push(entry);
      else result.responses.push({ address: meta.source_address, port: meta.source_port, msgs: [entry] });
      result.finalStatus = msg.status;
      result.finalResponse = entry;
    };
    srf._pendingInvites.delete(req.get('call-id')); // the app no longer owns the transaction
    await link.sendProxy(req.stackTxnId, {
      recordRoute: !!(opts.remainInDialog || opts.recordRoute || opts.path),
      followRedirects: !!opts.followRedirects,
      simultaneous: opts.forking === 'simultaneous' || opts.forking === 'parallel',
      provisionalTimeout: timeout(opts.provisionalTimeout),
      finalTimeout: timeout(opts.finalTimeout),
      destinations: dests,
    }, raw, onMore);
    result.connected = result.finalStatus === 200;
    return result;
  };
  return settle(run(), cb, srf);
}

module.exports = { proxyRequest };
