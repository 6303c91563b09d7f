'use strict';
// The benchmark messages from bench/data, with CRLF line ends and an exact Content-Length
// (the same transformation as bench/rust/parse.rs).
const fs = require('node:fs');
const path = require('node:path');

function load(name) {
  const text = fs.readFileSync(path.join(__dirname, 'data', name), 'utf8');
  const split = text.indexOf('\n\n');
  const head = split === -1 ? text : text.slice(0, split);
  const body = split === -1 ? '' : text.slice(split + 2).replace(/\n/g, '\r\n');
  const lines = head.split('\n').map((l) => l.startsWith('Content-Length:') ? `Content-Length: ${Buffer.byteLength(body)}` : l);
  return lines.join('\r\n') + '\r\n\r\n' + body;
}

module.exports = { invite: load('invite.sip.txt'), ok: load('ok.sip.txt') };
