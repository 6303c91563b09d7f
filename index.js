'use strict';
// drachtio-srf-rs public entry: `require('drachtio-srf-rs')` is the Srf class, as with
// drachtio-srf; the helpers hang off it as static getters.
const assert = require('node:assert');
const { EventEmitter } = require('node:events');
const SipMessage = require('./lib/message.js');
const Request = require('./lib/request.js');
const Response = require('./lib/response.js');
const SipError = require('./lib/sip-error.js');
const { parseUri, stringifyUri } = require('./lib/parse.js');

const DialogState = Object.freeze({
  Trying: 'trying', Proceeding: 'proceeding', Early: 'early', Confirmed: 'confirmed',
  Terminated: 'terminated', Rejected: 'rejected', Cancelled: 'cancelled',
});
const DialogDirection = Object.freeze({ Initiator: 'initiator', Recipient: 'recipient' });

const TAG = /^[a-zA-Z0-9\-_+@:]+$/;
const MAX_TAGS = 20;
const MAX_TAG_LENGTH = 32;

function validateTags(tags) {
  assert.ok(tags.length <= MAX_TAGS, `Srf: at most ${MAX_TAGS} tags`);
  for (const tag of tags) {
    assert.ok(tag.length <= MAX_TAG_LENGTH, `Srf: tag '${tag}' is longer than ${MAX_TAG_LENGTH} characters`);
    assert.ok(TAG.test(tag), `Srf: tag '${tag}' has characters other than letters, digits and -_+@:`);
  }
}

class Srf extends EventEmitter {
  /** @param {string|string[]|object} [arg] a tag, tags, or connect() options */
  constructor(arg) {
    super();
    this.locals = Object.create(null);
    this._settings = new Map();
    this.tags = [];
    if (typeof arg === 'string') this.tags = [arg];
    else if (Array.isArray(arg)) this.tags = arg.filter((t) => typeof t === 'string');
    validateTags(this.tags);
  }

  set(key, value) { this._settings.set(key, value); return this; }
  get(key) { return this._settings.get(key); }

  static get SipError() { return SipError; }
  static get parseUri() { return parseUri; }
  static get stringifyUri() { return stringifyUri; }
  static get SipMessage() { return SipMessage; }
  static get SipRequest() { return Request; }
  static get SipResponse() { return Response; }
  static get DialogState() { return DialogState; }
  static get DialogDirection() { return DialogDirection; }
}

module.exports = Srf;
