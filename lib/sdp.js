'use strict';
// The little SDP reading the dialog recipes need (api.md §4.2, §5.4): the origin line, the
// direction attributes, and the "black-hole" answer. Plain line edits: an SDP the app gave is
// otherwise passed on untouched.

const DIRECTION = /^a=(sendrecv|sendonly|recvonly|inactive)\s*$/;

function lines(sdp) {
  return String(sdp || '').split(/\r?\n/).filter((l) => l !== '');
}

/** `{sessId, version}` of the o= line, or null. */
function origin(sdp) {
  const o = lines(sdp).find((l) => l.startsWith('o='));
  if (!o) return null;
  const [, sessId, version] = o.slice(2).split(/\s+/);
  return { sessId, version };
}

/** True when both SDPs carry the same origin session id and version (a session refresh). */
function sameOrigin(a, b) {
  const x = origin(a);
  const y = origin(b);
  return Boolean(x && y && x.sessId === y.sessId && x.version === y.version);
}

/** The SDP without its o= line, normalised to CRLF: for comparing offers whose version moved. */
function withoutOrigin(sdp) {
  return lines(sdp).filter((l) => !l.startsWith('o=')).join('\r\n');
}

/** True when `next` is `prev` with every `a=<from>` turned into `a=<to>` (o= ignored). */
function isDirectionChange(prev, next, from, to) {
  const changed = withoutOrigin(prev).split(`a=${from}`).join(`a=${to}`);
  return changed === withoutOrigin(next) && withoutOrigin(next).includes(`a=${to}`) && changed !== withoutOrigin(prev);
}

/**
 * The answer sent in the ACK when a 200 brings an SDP nobody asked for: the offer with its
 * session-level direction set to recvonly (media-level attributes as received).
 */
function blackHole(sdp) {
  const all = lines(sdp);
  const firstMedia = all.findIndex((l) => l.startsWith('m='));
  const session = (firstMedia < 0 ? all : all.slice(0, firstMedia)).filter((l) => !DIRECTION.test(l));
  const media = firstMedia < 0 ? [] : all.slice(firstMedia);
  return [...session, 'a=recvonly', ...media].join('\r\n').concat('\r\n');
}

module.exports = { origin, sameOrigin, isDirectionChange, blackHole };
