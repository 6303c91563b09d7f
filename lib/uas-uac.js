'use strict';
// The dialog recipes: createUAS (answer an INVITE or SUBSCRIBE and get a Dialog) and
// createUAC (place one and get a Dialog), per api.md §4.1 and §4.2.
const assert = require('node:assert');
const Dialog = require('./dialog.js');
const SipError = require('./sip-error.js');
const { DialogStateReporter } = require('./dialog-state.js');
const { parseNameAddr } = require('./parse.js');
const { blackHole } = require('./sdp.js');
const { settle } = Dialog;

/** At most this many 3xx are followed for one createUAC (api.md §4.2). */
const MAX_REDIRECTS = 4;

async function localSdpOf(opts) {
  const sdp = opts.body !== undefined ? opts.body : opts.localSdp;
  return typeof sdp === 'function' ? sdp() : sdp;
}

/** createUAS(req, res[, opts][, cb]) → Promise<Dialog> once the 200 (202) is sent. */
function createUAS(srf, req, res, opts = {}, cb) {
  if (typeof opts === 'function') [opts, cb] = [{}, opts];
  const run = async () => {
    if (!req.has('contact')) throw new Error('createUAS: Request is missing Contact header');
    if (req.canceled) throw new SipError(487, 'Request Terminated');
    const body = await localSdpOf(opts);
    const status = req.method === 'SUBSCRIBE' ? 202 : 200;
    const state = new DialogStateReporter(opts.dialogStateEmitter, 'uas', req);
    return new Promise((resolve, reject) => {
      const onCancel = () => {
        state.set('cancelled');
        reject(new SipError(487, 'Request Terminated'));
      };
      req.once('cancel', onCancel);
      // Registered the moment the 200 is confirmed: the ACK and a BYE may follow in the
      // same batch of events, and must find the dialog.
      res._onFinalSent = (sent, meta) => {
        const dialog = new Dialog(srf, 'uas', { req, res: wrapSent(res, sent), id: meta.stackDialogId, localSdp: body });
        if (req.method === 'SUBSCRIBE') dialog.addSubscription(req);
        dialog._state = state;
        srf.addDialog(dialog);
        res._dialog = dialog;
        state.set('confirmed', { localTag: dialog.sip.localTag });
      };
      // The Dialog will answer the far end's BYE with a plain 200: the embedded engine may
      // send it without asking (one message less each way); a drachtio server ignores this.
      res._answerBye = status === 200;
      res.send(status, { headers: opts.headers || {}, body }, (err) => {
        req.off('cancel', onCancel);
        if (err) {
          state.set('rejected');
          reject(err);
        } else resolve(res._dialog);
      });
    });
  };
  return settle(run(), cb, srf);
}

// Once the final response is out, `res` reads as it went out (with our tag and Contact): its
// message becomes the sent one, and the message the app filled in (a header map) is dropped,
// which an established call would otherwise keep for its whole life.
function wrapSent(res, sent) {
  if (sent) res.msg = sent;
  return res;
}

/**
 * createUAC(uri, opts[, progress][, cb]) → Promise<Dialog> on the 200 (ACK sent); following
 * redirects when asked; with `noAck` on a late-offer INVITE, the 3pcc result instead.
 */
function createUAC(srf, ...args) {
  let [uri, opts, progress, cb] = uacArgs(args);
  opts = opts || {};
  progress = progress || {};
  const method = (opts.method || 'INVITE').toUpperCase();
  assert.ok(method === 'INVITE' || method === 'SUBSCRIBE', 'createUAC: method must be INVITE or SUBSCRIBE');
  assert.ok(typeof uri === 'string', 'createUAC: uri is required');
  if (!/^(sips?|tel):/i.test(uri)) uri = uri.includes('@') ? `sip:${uri}` : `sip:${opts.calledNumber ? `${opts.calledNumber}@` : ''}${uri}`;
  const run = async () => {
    const headers = { ...(opts.headers || {}) };
    const has = (name) => Object.keys(headers).some((k) => k.toLowerCase() === name);
    if (opts.callingNumber && !has('from')) {
      const scheme = uri.startsWith('sips') ? 'sips' : 'sip';
      const addr = `${scheme}:${opts.callingNumber}@localhost`;
      headers.From = opts.callingName ? `"${opts.callingName}" <${addr}>` : addr;
      if (!has('contact')) headers.Contact = headers.From;
    }
    const localSdp = await localSdpOf(opts);
    // `_socket`: listen mode, the session to place the call on (createB2BUA: the A leg's).
    const attempt = (target, proxy) => sendAndWait(srf, target, { method, headers, body: localSdp, auth: opts.auth, proxy, _socket: opts._socket }, progress, opts);
    let outcome = await attempt(uri, opts.proxy);
    for (let hops = 0; opts.followRedirects && hops < MAX_REDIRECTS && isRedirect(outcome.res); hops++) {
      const contact = parseNameAddr(outcome.res.get('contact')).uri;
      if (!contact) break;
      outcome = opts.keepUriOnRedirect ? await attempt(uri, contact) : await attempt(contact, opts.proxy);
    }
    return established(srf, method, outcome, localSdp, opts);
  };
  return settle(run(), cb, srf);
}

/**
 * The argument forms: (uri, opts[, progress][, cb]), (opts[, progress][, cb]) and the legacy
 * (uri, opts, cbRequest, cbProvisional, cb).
 */
function uacArgs(args) {
  if (typeof args[0] === 'object' && args[0] !== null) args = [args[0].uri, ...args];
  const [uri, opts, a, b, c] = args;
  if (typeof a === 'function' && typeof b === 'function') {
    return [uri, opts, { cbRequest: a, cbProvisional: b }, c];
  }
  if (typeof a === 'function') return [uri, opts, {}, a];
  return [uri, opts, a, b];
}

const isRedirect = (res) => res.status >= 300 && res.status < 400;

/**
 * Sends one INVITE (or SUBSCRIBE) and waits for its final response: `{req, res, ack}`, where
 * `ack` sends the ACK for a 2xx (other finals are ACKed here). Provisionals go to
 * cbProvisional, reliable ones are PRACKed.
 */
async function sendAndWait(srf, uri, requestOpts, progress, opts) {
  let req;
  try {
    req = await srf.request(uri, requestOpts);
  } catch (err) {
    if (progress.cbRequest) progress.cbRequest(err);
    throw err;
  }
  if (progress.cbRequest) progress.cbRequest(null, req);
  // The callee's UPDATE before the call is answered gets our offer again (api.md §4.2).
  req.on('update', (update, res) => res.send(200, { body: requestOpts.body }));
  const state = new DialogStateReporter(opts.dialogStateEmitter, 'uac', req);
  return new Promise((resolve) => {
    req.on('response', (res, ack) => {
      state.response(res);
      if (res.status < 200) {
        if (res.has('rseq')) ack();
        if (progress.cbProvisional) progress.cbProvisional(res);
        return;
      }
      const invite2xx = requestOpts.method === 'INVITE' && res.status < 300;
      if (requestOpts.method === 'INVITE' && !invite2xx) ack();
      resolve({ req, res, ack: invite2xx ? ack : () => {}, state });
    });
  });
}

/** The Dialog (or the 3pcc result) for a final response; a rejection for anything else. */
function established(srf, method, { req, res, ack, state }, localSdp, opts) {
  if (res.status >= 300) throw Object.assign(new SipError(res.status, res.reason), { res });
  const lateOffer = method === 'INVITE' && !localSdp && Boolean(res.body);
  if (lateOffer && opts.noAck === true) return thirdPartyCall(srf, { req, res, ack, state }, opts);
  const answer = lateOffer ? blackHole(res.body) : undefined;
  // The Dialog made below answers the callee's BYE with a plain 200: the engine may send it.
  const _answerBye = method === 'INVITE' && res.has('contact');
  ack(answer ? { body: answer, headers: { 'Content-Type': 'application/sdp' }, _answerBye } : { _answerBye });
  if (!res.has('contact')) throw Object.assign(new SipError(500, 'No Contact header in response'), { res });
  return makeDialog(srf, { req, res, state }, answer !== undefined ? answer : localSdp, opts);
}

/** Registers the UAC Dialog at once, before an in-dialog request of the same batch arrives. */
function makeDialog(srf, { req, res, state }, localSdp, opts) {
  const dialog = new Dialog(srf, 'uac', { req, res, id: res.stackDialogId, localSdp });
  if (opts.auth) dialog.auth = opts.auth;
  if (req.method === 'SUBSCRIBE') dialog.addSubscription(req);
  if (opts._queueRequests) dialog.queueRequests = true;
  dialog._state = state;
  srf.addDialog(dialog);
  return dialog;
}

/**
 * 3pcc (api.md §4.2, `noAck`): the far end offered in its 200 and the app answers later.
 * `ack(sdp)` sends the answer and makes the Dialog; `destroy()` ACKs and hangs up.
 */
function thirdPartyCall(srf, { req, res, ack, state }, opts) {
  let acked = false;
  const sendAck = (body) => {
    assert.ok(!acked, 'createUAC: the 200 was already acknowledged');
    acked = true;
    return ack(body ? { body, headers: { 'Content-Type': 'application/sdp' } } : {});
  };
  return {
    sdp: res.body,
    res,
    ack: async (localSdp) => {
      sendAck(localSdp);
      if (!res.has('contact')) throw Object.assign(new SipError(500, 'No Contact header in response'), { res });
      return makeDialog(srf, { req, res, state }, localSdp, opts);
    },
    destroy: async () => {
      sendAck(res.body); // sent at once: it reaches the far end before the BYE
      if (!res.has('contact')) return;
      const dialog = new Dialog(srf, 'uac', { req, res, id: res.stackDialogId, localSdp: res.body });
      dialog._state = state;
      await dialog.destroy();
    },
  };
}

module.exports = { createUAS, createUAC };
