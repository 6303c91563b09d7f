'use strict';
// createB2BUA (api.md §4.3): answer the A leg by placing a B leg, relaying B's provisional
// and failure responses to A, and returning both dialogs once A has its 200.
const assert = require('node:assert');
const SipError = require('./sip-error.js');
const { settle } = require('./dialog.js');

const STRIP = new Set(['via', 'from', 'to', 'call-id', 'cseq', 'contact', 'content-length', 'content-type']);

/** Headers named in a proxy list (`['all', '-X-Secret']` or names) copied from `msg`. */
function copied(msg, list) {
  if (!Array.isArray(list) || list.length === 0) return {};
  const all = list.includes('all');
  const minus = new Set(list.filter((h) => h.startsWith('-')).map((h) => h.slice(1).toLowerCase()));
  const out = {};
  for (const [name, value] of Object.entries(msg.headers)) {
    const lower = name.toLowerCase();
    if (STRIP.has(lower) || minus.has(lower)) continue;
    if (all || list.some((h) => h.toLowerCase() === lower)) out[name] = value;
  }
  return out;
}

async function extraHeaders(opts, resB, base) {
  const rh = typeof opts.responseHeaders === 'function' ? opts.responseHeaders(resB, { ...base }) : opts.responseHeaders;
  return { ...base, ...(rh || {}) };
}

/** createB2BUA(req, res, uri[, opts][, progress][, cb]) → Promise<{uas, uac}>. */
function createB2BUA(srf, req, res, uri, opts, progress, cb) {
  if (uri && typeof uri === 'object') [uri, opts, progress, cb] = [uri.uri, uri, opts, progress];
  if (typeof opts === 'function') [opts, progress, cb] = [{}, {}, opts];
  if (typeof progress === 'function') [progress, cb] = [{}, progress];
  opts = opts || {};
  progress = progress || {};
  assert.ok(typeof uri === 'string', 'createB2BUA: uri must be a string');
  const run = async () => {
    const headers = { ...copied(req, opts.proxyRequestHeaders), ...(opts.headers || {}) };
    const localSdpB = typeof opts.localSdpB === 'string' ? opts.localSdpB : req.body;
    let uacReq = null;
    let cancelled = false;
    const onCancel = () => {
      cancelled = true;
      req.canceled = true;
      if (uacReq) uacReq.cancel({ headers: {} });
    };
    req.once('cancel', onCancel);
    let uac;
    try {
      uac = await srf.createUAC(uri, {
        ...opts,
        method: req.method,
        headers,
        localSdp: localSdpB,
        callingNumber: opts.callingNumber || (headers.From || headers.from ? undefined : req.callingNumber),
        callingName: opts.callingName,
      }, {
        cbRequest: (err, sent) => {
          uacReq = sent;
          if (progress.cbRequest) progress.cbRequest(err, sent);
          if (sent && cancelled) sent.cancel();
        },
        cbProvisional: async (resB) => {
          if (progress.cbProvisional) progress.cbProvisional(resB);
          if (opts.passProvisionalResponses === false || resB.status <= 101 || res.finalResponseSent) return;
          const h = await extraHeaders(opts, resB, copied(resB, opts.proxyResponseHeaders));
          res.send(resB.status, resB.reason, { headers: h, body: resB.body || undefined });
        },
      });
    } catch (err) {
      req.off('cancel', onCancel);
      if (cancelled) throw new SipError(487, 'Request Terminated');
      if (opts.passFailure !== false && !res.finalResponseSent) {
        const h = err.res ? await extraHeaders(opts, err.res, copied(err.res, opts.proxyResponseHeaders)) : {};
        res.send(err.status || 500, err.reason, { headers: h });
      }
      throw err;
    }
    req.off('cancel', onCancel);
    if (progress.cbFinalizedUac) progress.cbFinalizedUac(uac);
    try {
      const sdpA = typeof opts.localSdpA === 'function' ? await opts.localSdpA(uac.remote.sdp, uac.res)
        : (opts.localSdpA !== undefined ? opts.localSdpA : uac.remote.sdp);
      const h = await extraHeaders(opts, uac.res, copied(uac.res, opts.proxyResponseHeaders));
      const uas = await srf.createUAS(req, res, { headers: h, localSdp: sdpA });
      uas.other = uac;
      uac.other = uas;
      return { uas, uac };
    } catch (err) {
      uac.destroy().catch(() => {});
      throw err;
    }
  };
  return settle(run(), cb, srf);
}

module.exports = { createB2BUA };
