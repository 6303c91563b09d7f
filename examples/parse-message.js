'use strict';
// Parses a SIP INVITE with drachtio-srf-rs and prints what an app would read from it.
// Run: node examples/parse-message.js
const Srf = require('..');
const { SipMessage, parseUri } = Srf;

const sdp = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';
const invite = [
  'INVITE sip:+15551234567@127.0.0.1:5060 SIP/2.0',
  'v: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-example;rport',
  'f: "Alice" <sip:+15557654321@127.0.0.1:5070>;tag=1928301774',
  't: <sip:+15551234567@127.0.0.1>',
  'i: a84b4c76e66710@127.0.0.1',
  'CSeq: 314159 INVITE',
  'Contact: <sip:alice@127.0.0.1:5070>',
  'Subject: a header folded',
  '  over two lines',
  'Content-Type: application/sdp',
  `Content-Length: ${Buffer.byteLength(sdp)}`,
  '',
  sdp,
].join('\r\n');

const msg = new SipMessage(invite);
console.log(`${msg.method} ${msg.uri}`);
console.log(`  calling ${msg.callingNumber} (${msg.callingName}) -> called ${msg.calledNumber}`);
console.log(`  Call-ID ${msg.get('Call-ID')}, CSeq`, msg.getParsedHeader('CSeq'));
console.log('  From', msg.getParsedHeader('From'));
console.log('  Via', msg.getParsedHeader('Via'));
console.log(`  Subject "${msg.get('subject')}", ${Buffer.byteLength(msg.body)} bytes of ${msg.get('content-type')}`);
console.log('  Request-URI', parseUri(msg.uri));
try {
  new SipMessage('INVITE sip:bob@example.com\r\n\r\n'); // no SIP version
} catch (err) {
  console.log(`  a malformed message is refused: ${err.message} (${err.cause.message})`);
}
