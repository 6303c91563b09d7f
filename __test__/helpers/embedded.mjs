// Embedded-engine Srf instances on loopback with ports the OS picks.
import { once } from 'node:events';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
export const Srf = require('../../index.js');

/**
 * Makes an 'error' event of `srf` fail the test it happens in: none is expected, and a listener
 * that dropped it would hide the failure. It is rethrown outside the emitter, as an uncaught
 * exception, which node:test reports against the running test.
 */
export function errorsFail(srf, label = 'Srf') {
  srf.on('error', (err) => {
    setImmediate(() => { throw new Error(`unexpected 'error' event on ${label}: ${err && err.stack ? err.stack : err}`); });
  });
  return srf;
}

/** Starts an Srf on its own engine; resolves with it and the address its engine bound. */
export async function embeddedSrf({ transport = 'udp', setup, timers = {} } = {}) {
  const srf = new Srf();
  errorsFail(srf, `embedded Srf (${transport})`);
  if (setup) setup(srf);
  srf.connect({ embedded: { contacts: [`sip:127.0.0.1:0;transport=${transport}`], ...timers } });
  const [err, hostport] = await once(srf, 'connect');
  if (err) throw err;
  const [, addr] = hostport.split(',')[0].split('/');
  return { srf, addr, uri: (user = 'svc') => `sip:${user}@${addr}${transport === 'tcp' ? ';transport=tcp' : ''}` };
}

export const SDP = (port) => `v=0\r\no=- ${port} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0\r\n`;

/** Polls `cond` (which may return a Promise) until it holds; throws after `ms`. */
export async function waitFor(cond, ms = 3000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
