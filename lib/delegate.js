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
      value(...args) {
        const r = this.msg[name](...args);
        return r === this.msg ? this : r;
      },
      configurable: true,
      writable: true,
    });
  }
}

module.exports = { delegateProps, delegateMethods };
