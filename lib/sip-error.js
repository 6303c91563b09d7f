'use strict';
const assert = require('node:assert');

/** A SIP failure: a non-success final response, with its status and reason. */
class SipError extends Error {
  constructor(status, reason) {
    assert.ok(typeof status === 'number', 'SipError: status must be a number');
    assert.ok(reason === undefined || typeof reason === 'string', 'SipError: reason must be a string');
    super(`Sip non-success response: ${status}`);
    this.name = 'SipError';
    this.status = status;
    if (reason !== undefined) this.reason = reason;
  }
}

module.exports = SipError;
