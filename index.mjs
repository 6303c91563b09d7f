// ESM entry of drachtio-srf-rs: the Srf class (CommonJS, index.js) as the default export, and
// its static getters as named exports. Node's CommonJS named-export detection cannot see
// static getters, so they are listed here.
import Srf from './index.js';

export default Srf;

export const {
  SipError,
  SipMessage,
  SipRequest,
  SipResponse,
  parseUri,
  stringifyUri,
  DialogState,
  DialogDirection,
  digestAuth,
  Dialog,
  MemoryStore,
  RedisStore,
} = Srf;
