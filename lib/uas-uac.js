'use strict';
// The dialog recipes: createUAS (answer an INVITE or SUBSCRIBE and get a Dialog) and
// createUAC (place one and get a Dialog), per api.md §4.1 and §4.2.
const assert = require('node:assert');
const Dialog = require('./dialog.js');
const SipError = require('./sip-error.js');
const { settle } = Dialog;

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
    return new Promise((resolve, reject) => {
      const onCancel = () => reject(new SipError(487, 'Request Terminated'));
      req.once('cancel', onCancel);
      // Registered the moment the 200 is confirmed: the ACK and a BYE may follow in the
      // same batch of events, and must find the dialog.
      res._onFinalSent = (sent, meta) => {
        const dialog = new Dialog(srf, 'uas', { req, res: wrapSent(res, sent), id: meta.stackDialogId, localSdp: body });
        srf.addDialog(dialog);
        res._dialog = dialog;
      };
      res.send(status, { headers: opts.headers || {}, body }, (err) => {
        req.off('cancel', onCancel);
        if (err) reject(err);
        else resolve(res._dialog);
      });
    });
  };
  return settle(run(), cb, srf);
}

// The Response as it went out (with our tag and Contact), for the Dialog's fields: `res` seen
// through a Proxy whose get/has read the sent message. Not Object.create(res): every call's
// Response would become a prototype and every view get a hidden class of its own.
const SENT_VIEW = {
  get(res, prop) {
    if (prop === 'get' || prop === 'has') return res._sentAccess[prop];
    return Reflect.get(res, prop);
  },
};

function wrapSent(res, sent) {
  if (!sent) return res;
  sent._detach();
  res._sentAccess = { get: (name) => sent.get(name), has: (name) => sent.has(name) };
  return new Proxy(res, SENT_VIEW);
}

/** createUAC(uri, opts[, progress][, cb]) → Promise<Dialog> on the 200 (ACK sent). */
function createUAC(srf, uri, opts, progress, cb) {
  if (typeof uri === 'object') [uri, opts, progress, cb] = [uri.uri, uri, opts, progress];
  if (typeof progress === 'function') [progress, cb] = [{}, progress];
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
      if (!has('contact')) headers.Contact = addr;
    }
    const localSdp = await localSdpOf(opts);
    let req;
    try {
      req = await srf.request(uri, { method, headers, body: localSdp, auth: opts.auth, proxy: opts.proxy });
    } catch (err) {
      if (progress.cbRequest) progress.cbRequest(err);
      throw err;
    }
    if (progress.cbRequest) progress.cbRequest(null, req);
    return new Promise((resolve, reject) => {
      req.on('response', (res, ack) => {
        if (res.status < 200) {
          if (res.has('rseq')) ack();
          if (progress.cbProvisional) progress.cbProvisional(res);
          return;
        }
        if (method === 'INVITE') ack();
        if (res.status >= 300) return reject(Object.assign(new SipError(res.status, res.reason), { res }));
        if (!res.has('contact')) return reject(Object.assign(new SipError(500, 'No Contact header in response'), { res }));
        // Registered at once, before any in-dialog request of the same batch is dispatched.
        const dialog = new Dialog(srf, 'uac', { req, res, id: res.stackDialogId, localSdp });
        if (opts.auth) dialog.auth = opts.auth;
        srf.addDialog(dialog);
        resolve(dialog);
      });
    });
  };
  return settle(run(), cb, srf);
}

module.exports = { createUAS, createUAC };
