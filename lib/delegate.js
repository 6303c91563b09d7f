'use strict';
// Request and Response wrap a SipMessage (`this.msg`), as drachtio-srf's do; these helpers
// forward the message's properties and methods so both read like the message itself.

function delegateProps(Class, props, { readOnly = false } = {}) {
  for (const prop of props) {
    const desc = {
      get() { return this.msg[prop]; },
      configurable: true,
      enumerable: false,
    };
    if (!readOnly) desc.set = function (v) { this.msg[prop] = v; };
    Object.defineProperty(Class.prototype, prop, desc);
  }
}

function delegateMethods(Class, methods) {
  for (const name of methods) {
    Object.defineProperty(Class.prototype, name, {
      // Two parameters cover every delegated method (get, has, set, ...): no rest array per call.
      value(a, b) {
        const msg = this.msg;
        const r = msg[name](a, b);
        return r === msg ? this : r;
      },
      configurable: true,
      writable: true,
    });
  }
}

module.exports = { delegateProps, delegateMethods };
