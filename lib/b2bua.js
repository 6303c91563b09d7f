'use strict';
// createB2BUA (api.md §4.3): answer the A leg by placing a B leg, relaying B's provisional
// and failure responses to A, and returning both dialogs once A has its 200.
const assert = require('node:assert');
const { once } = require('node:events');
const SipError = require('./sip-error.js');
const Dialog = require('./dialog.js');
const { settle } = Dialog;

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
    const handlers = {};
    try {
      return await setUp(handlers);
    } finally {
      // A's UPDATEs are answered here until A has its final response.
      req.off('update', handlers.onUpdate);
    }
  };
  const setUp = async (handlers) => {
    const headers = { ...copied(req, opts.proxyRequestHeaders), ...(opts.headers || {}) };
    // 3pcc: A offered nothing (or the app asked for it), so B is asked for the offer.
    const thirdParty = !req.body || opts.noAck === true;
    const localSdpB = thirdParty ? undefined : (typeof opts.localSdpB === 'string' ? opts.localSdpB : req.body);
    let uacReq = null;
    let cancelled = false;
    const sdpForA = translatorForA(opts);
    const pracks = new PrackWait();
    // A's UPDATE while B is being set up: answered with the SDP A has been given so far.
    let sdpGivenToA = null;
    handlers.onUpdate = (update, updateRes) => {
      if (sdpGivenToA) updateRes.send(200, { body: sdpGivenToA });
      else updateRes.send(500, { headers: { 'Retry-After': '5' } });
    };
    req.on('update', handlers.onUpdate);
    // B's CANCEL carries the Reason (and X-Reason) of A's.
    const cancelHeaders = {};
    const onCancel = (cancel) => {
      cancelled = true;
      req.canceled = true;
      for (const name of ['Reason', 'X-Reason']) if (cancel && cancel.has(name)) cancelHeaders[name] = cancel.get(name);
      if (uacReq) uacReq.cancel({ headers: cancelHeaders });
    };
    req.once('cancel', onCancel);
    let uac;
    try {
      uac = await srf.createUAC(uri, {
        ...opts,
        method: req.method,
        headers,
        localSdp: localSdpB,
        noAck: thirdParty,
        // Listen mode: B is placed through the server session A came on.
        _socket: opts._socket || req.socket,
        // B's in-dialog requests wait until A has ACKed (api.md §4.3 step 4).
        _queueRequests: !thirdParty,
        callingNumber: opts.callingNumber || (headers.From || headers.from ? undefined : req.callingNumber),
        callingName: opts.callingName || (headers.From || headers.from ? undefined : req.callingName),
        // A bare-host target ('10.0.0.1') becomes sip:<A's called number>@10.0.0.1 (api.md §4.2).
        calledNumber: opts.calledNumber || (headers.To || headers.to ? undefined : req.calledNumber),
      }, {
        cbRequest: (err, sent) => {
          uacReq = sent;
          if (progress.cbRequest) progress.cbRequest(err, sent);
          if (sent && cancelled) sent.cancel({ headers: cancelHeaders });
        },
        cbProvisional: async (resB) => {
          if (progress.cbProvisional) progress.cbProvisional(resB);
          if (opts.passProvisionalResponses === false || resB.status <= 101 || res.finalResponseSent) return;
          const h = await extraHeaders(opts, resB, copied(resB, opts.proxyResponseHeaders));
          let body;
          if (resB.body) {
            try {
              body = sdpGivenToA = await sdpForA(resB.body, resB);
            } catch (err) {
              res.send(500);
              if (uacReq) uacReq.cancel();
              return;
            }
          }
          // Sent reliably when B's 100rel requirement was copied: A's PRACK is then awaited.
          if (requires100rel(h)) res.send(resB.status, resB.reason, { headers: h, body }, pracks.sent(), pracks.acked());
          else res.send(resB.status, resB.reason, { headers: h, body });
        },
      });
    } catch (err) {
      req.off('cancel', onCancel);
      if (cancelled) throw new SipError(487, 'Request Terminated');
      // B's failure response (or no B leg at all) is relayed; a 2xx the library refused is not B's failure.
      const bFailed = !err.res || err.res.status >= 300;
      if (opts.passFailure !== false && !res.finalResponseSent && bFailed) {
        const h = err.res ? await extraHeaders(opts, err.res, copied(err.res, opts.proxyResponseHeaders)) : {};
        res.send(err.status || 500, err.reason, { headers: h });
      }
      throw err;
    }
    req.off('cancel', onCancel);
    await pracks.settled();
    // B may answer a late offer without SDP: then there is no offer to relay, only a Dialog.
    return uac instanceof Dialog ? answerA(srf, req, res, uac, opts, progress, sdpForA) : answerThirdParty(srf, req, res, uac, opts, progress, sdpForA);
  };
  return settle(run(), cb, srf);
}

/**
 * `(sdpB, resB) => Promise<sdpA>`: `localSdpA` (string or function) or B's own SDP. A function
 * is called once per distinct SDP from B: B repeating its SDP (18x then 200) reuses the answer.
 */
function translatorForA(opts) {
  const cache = new Map();
  return (sdpB, resB) => {
    if (typeof opts.localSdpA !== 'function') return Promise.resolve(opts.localSdpA !== undefined ? opts.localSdpA : sdpB);
    if (!cache.has(sdpB)) cache.set(sdpB, Promise.resolve().then(() => opts.localSdpA(sdpB, resB)));
    return cache.get(sdpB);
  };
}

function requires100rel(headers) {
  return Object.entries(headers).some(([name, value]) => name.toLowerCase() === 'require' && /\b100rel\b/i.test(String(value)));
}

/** Reliable provisionals relayed to A whose PRACK has not come yet (api.md §4.3 step 2, 4). */
class PrackWait {
  constructor() { this.outstanding = 0; }

  /** The send callback of a reliable provisional: a failed send is not awaited. */
  sent() {
    this.outstanding++;
    return (err) => { if (err) this.outstanding--; };
  }

  /** Its fnAck: the PRACK arrived. */
  acked() {
    return () => { this.outstanding--; };
  }

  /** Waits up to 500 ms (100 + 200 + 200) for outstanding PRACKs before A's 200. */
  async settled() {
    for (const ms of [100, 200, 200]) {
      if (this.outstanding <= 0) return;
      await new Promise((r) => setTimeout(r, ms));
    }
  }
}

function link(uas, uac) {
  uas.other = uac;
  uac.other = uas;
  // The pairing is part of what a session store keeps: another process rebuilds both legs.
  uas.save();
  uac.save();
  return { uas, uac };
}

/** B answered with a Dialog: answer A, and hold B's requests until A's ACK. */
async function answerA(srf, req, res, uac, opts, progress, sdpForA) {
  if (progress.cbFinalizedUac) progress.cbFinalizedUac(uac);
  try {
    const sdpA = await sdpForA(uac.remote.sdp, uac.res);
    const h = await extraHeaders(opts, uac.res, copied(uac.res, opts.proxyResponseHeaders));
    const uas = await srf.createUAS(req, res, { headers: h, localSdp: sdpA });
    const release = () => { uac.queueRequests = false; };
    uas.once('ack', release);
    uas.once('destroy', release);
    return link(uas, uac);
  } catch (err) {
    uac.queueRequests = false;
    uac.destroy().catch(() => {});
    throw err;
  }
}

/**
 * 3pcc (api.md §4.3 step 5): B's offer goes to A in A's 200; the answer in A's ACK (through
 * `localSdpB` when it is a function) goes to B in B's ACK.
 */
async function answerThirdParty(srf, req, res, pending, opts, progress, sdpForA) {
  let uas;
  try {
    const sdpA = await sdpForA(pending.sdp, pending.res);
    const h = await extraHeaders(opts, pending.res, copied(pending.res, opts.proxyResponseHeaders));
    uas = await srf.createUAS(req, res, { headers: h, localSdp: sdpA });
    const [ackReq] = await Promise.race([once(uas, 'ack'), once(uas, 'destroy').then(() => {
      throw new SipError(408, 'no ACK from the caller');
    })]);
    const answer = typeof opts.localSdpB === 'function' ? await opts.localSdpB(ackReq.body) : ackReq.body;
    const uac = await pending.ack(answer);
    if (progress.cbFinalizedUac) progress.cbFinalizedUac(uac);
    return link(uas, uac);
  } catch (err) {
    pending.destroy().catch(() => {});
    throw err;
  }
}

module.exports = { createB2BUA };
