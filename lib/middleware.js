'use strict';
// The middleware container behind srf.use() / srf.invite() / ...: an ordered list of layers,
// each bound to one SIP method (or '*'), run for an incoming request until one of them stops
// calling next(), a final response has gone out, or the list runs out.
const assert = require('node:assert');
const debug = require('debug')('drachtio:srf');

const METHODS = Object.freeze([
  'INVITE', 'BYE', 'REGISTER', 'INFO', 'SUBSCRIBE', 'OPTIONS', 'MESSAGE',
  'NOTIFY', 'CANCEL', 'UPDATE', 'PRACK', 'ACK', 'REFER', 'PUBLISH',
]);

const ANY = '*';
// The lower-case names of the methods above, made once rather than for every request.
const LOWER = new Map(METHODS.map((m) => [m, m.toLowerCase()]));

function lowerMethod(method) {
  return LOWER.get(method) ?? String(method || '').toLowerCase();
}

const isSubApp = (x) => x != null && (typeof x === 'object' || typeof x === 'function') &&
  typeof x.handle === 'function';

const isThenable = (x) => x != null && (typeof x === 'object' || typeof x === 'function') &&
  typeof x.then === 'function';

// Flatten nested arrays of middleware, checking every entry as we go.
function collect(args, out) {
  for (const a of args) {
    if (Array.isArray(a)) collect(a, out);
    else if (isSubApp(a) || typeof a === 'function') out.push(a);
    else throw new TypeError(`middleware must be a function or an object with a handle() method, got ${describe(a)}`);
  }
  return out;
}

function describe(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

// A thrown/rejected value that is not truthy still has to count as an error.
function asError(v, what) {
  if (v) return v;
  return new Error(`middleware ${what} ${v === undefined ? 'undefined' : String(v)}`);
}

function defaultLogger(...args) {
  console.error(...args);
}

class MiddlewareStack {
  /**
   * @param {object} [opts]
   * @param {(method: string) => void} [opts.onRoute] called the first time a specific method is registered
   * @param {object} [opts.app] if given, every handled request gets `req.app = opts.app`
   * @param {(...args: any[]) => void} [opts.logger] where errors that cannot be propagated any more are
   *   reported (defaults to console.error)
   */
  constructor(opts = {}) {
    assert(opts !== null && typeof opts === 'object', 'MiddlewareStack options must be an object');
    assert(opts.onRoute === undefined || typeof opts.onRoute === 'function', 'onRoute must be a function');
    this.stack = [];
    this._routed = new Set();
    this._onRoute = opts.onRoute;
    this._app = opts.app;
    this._logger = typeof opts.logger === 'function' ? opts.logger : defaultLogger;
  }

  /** Methods (lower-case) registered so far, in the order first seen. */
  get routedMethods() {
    return [...this._routed];
  }

  hasMethod(method) {
    return this._routed.has(String(method).toLowerCase());
  }

  /**
   * use([method,] ...fns)
   * @returns {{ newMethods: string[] }}
   */
  use(...args) {
    let method = ANY;
    if (typeof args[0] === 'string') {
      method = args.shift().toLowerCase();
      if (method.length === 0) throw new TypeError('use(): method name must not be empty');
    }
    const fns = collect(args, []);
    if (fns.length === 0) throw new TypeError('use() requires at least one middleware function');

    for (const fn of fns) {
      let handle = fn;
      if (isSubApp(fn)) {
        const sub = fn;
        handle = function subApp(req, res, next) { return sub.handle(req, res, next); };
      }
      debug('use %s %s', method, handle.name || 'anonymous');
      this.stack.push({ method, handle });
    }

    const newMethods = [];
    if (method !== ANY && !this._routed.has(method)) {
      this._routed.add(method);
      newMethods.push(method);
      if (this._onRoute) this._onRoute(method);
    }
    return { newMethods };
  }

  /**
   * Run the request through the layers. `done(err, reason)` is called once at the end, with reason
   * 'exhausted' or 'final-response-sent'. Without `done`, endOfStack() is applied (without endSession).
   */
  handle(req, res, done) {
    const stack = this.stack;
    const logger = this._logger;
    const method = lowerMethod(req.method);
    let index = 0;
    let finished = false;

    if (typeof done !== 'function') {
      done = (err, reason) => endOfStack(err, req, res, { reason, logger });
    }
    if (this._app !== undefined) req.app = this._app;
    if (debug.enabled) debug('handling %s request', req.method);

    const finish = (err, reason) => {
      finished = true;
      if (debug.enabled) debug('middleware finished (%s)%s', reason, err ? ' with error' : '');
      done(err, reason);
    };

    // Called once per layer invocation (and once to start): moves to the next matching layer.
    const advance = (err) => {
      if (finished) {
        debug('next() called after the middleware chain already ended; ignored');
        return;
      }
      if (res && res.finalResponseSent) return finish(err, 'final-response-sent');

      let layer;
      while (index < stack.length) {
        const candidate = stack[index++];
        if (candidate.method !== ANY && candidate.method !== method) continue;
        const arity = candidate.handle.length;
        if (err ? arity === 4 : arity < 4) { layer = candidate; break; }
      }
      if (!layer) return finish(err, 'exhausted');
      invoke(layer, err);
    };

    const invoke = (layer, err) => {
      let called = false;
      const name = layer.handle.name || 'anonymous';
      const next = (e) => {
        if (called) {
          debug('%s called next() more than once; ignoring the extra call', name);
          return;
        }
        called = true;
        advance(e);
      };
      // An error raised by a layer that already handed on (or after the chain ended) cannot be
      // propagated any more: report it instead of losing it.
      const fail = (e, how) => {
        if (!called) {
          debug('%s %s: %O', name, how, e);
          next(e);
        } else {
          debug('%s %s after calling next(): %O', name, how, e);
          logger(`middleware ${name} ${how} after calling next():`, e);
        }
      };

      if (debug.enabled) debug('%s %s %s', name, layer.method, req.uri || '');
      let ret;
      try {
        ret = err ? layer.handle(err, req, res, next) : layer.handle(req, res, next);
      } catch (e) {
        fail(asError(e, 'threw'), 'threw');
        return;
      }
      if (isThenable(ret)) {
        try {
          ret.then(undefined, (e) => {
            // Whatever happens downstream, this handler must not reject (no unhandledRejection).
            try {
              fail(asError(e, 'rejected with'), 'rejected');
            } catch (x) {
              logger('error while handling a rejected middleware promise:', x);
            }
          });
        } catch (e) {
          fail(asError(e, 'threw'), 'threw');
        }
      }
    };

    advance();
  }
}

/**
 * The end-of-stack rules: an error gets err.status (a 3xx-6xx number) or 500, a request nobody
 * answered gets 404 (PRACK: 200; ACK/UPDATE: nothing) and the session is ended; nothing is sent
 * when the stack stopped because a final response had already gone out.
 * Returns the status sent, or null.
 */
function endOfStack(err, req, res, opts = {}) {
  const { endSession, reason } = opts || {};
  const logger = typeof opts.logger === 'function' ? opts.logger : defaultLogger;
  const alreadySent = reason === 'final-response-sent' || !!(res && res.finalResponseSent);

  if (err) {
    logger('unhandled error in middleware:', err);
    if (alreadySent) return null;
    const st = Number(err.status);
    const status = Number.isInteger(st) && st >= 300 && st <= 699 ? st : 500;
    debug('end of middleware with error: sending %d', status);
    res.send(status);
    return status;
  }

  if (alreadySent) return null;
  const m = String(req.method || '').toUpperCase();
  if (m === 'PRACK') {
    res.send(200);
    return 200;
  }
  if (m === 'ACK' || m === 'UPDATE') return null;
  debug('no middleware answered %s: sending 404', m);
  res.send(404);
  if (typeof endSession === 'function') endSession(res);
  return 404;
}

/** Defines proto.invite(...fns), proto.bye(...fns), ... as this[useFnName]('<method>', ...fns). */
function addVerbs(proto, useFnName = 'use') {
  assert(proto && (typeof proto === 'object' || typeof proto === 'function'), 'addVerbs needs an object');
  for (const m of METHODS) {
    const verb = m.toLowerCase();
    Object.defineProperty(proto, verb, {
      configurable: true,
      enumerable: false,
      writable: true,
      value: function(...fns) { return this[useFnName](verb, ...fns); },
    });
  }
  return proto;
}

addVerbs(MiddlewareStack.prototype);

module.exports = { MiddlewareStack, endOfStack, addVerbs, METHODS };
