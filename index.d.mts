// ESM view of drachtio-srf-rs (index.mjs): the Srf class as the default export, and its
// helpers as named exports. Types are shared with the CommonJS typings (index.d.ts).
import Srf = require('./index.js');

export default Srf;

export import SipError = Srf.SipError;
export import SipMessage = Srf.SipMessage;
export import SipRequest = Srf.SipRequest;
export import SipResponse = Srf.SipResponse;
export import parseUri = Srf.parseUri;
export import stringifyUri = Srf.stringifyUri;
export import DialogState = Srf.DialogState;
export import DialogDirection = Srf.DialogDirection;
export import digestAuth = Srf.digestAuth;
/** The Dialog class (the recipes create its instances). */
export import Dialog = Srf.Dialog;
/** Session stores (`srf.sessionStore`): in this process, or in Redis for takeover by another process. */
export import MemoryStore = Srf.MemoryStore;
export import RedisStore = Srf.RedisStore;

export type {
  SipMethod, SipVerb, SipMessageHeaders, SipHeadersInit, Callback,
  SipUri, TelUri, ParseUriResult, UriParts,
  AOR, NameAddr, Via, CSeq, RouteEntry, AuthHeaderEntry, ParsedHeaders, ParsedHeader,
  Payload, SipMessageInit, MessageMeta, AckOptions, AckFunction, DigestCredentials,
  SrfRequest, SrfRequestEvents, SipRequestConstructor, SrfResponse, SrfResponseEvents, SipResponseConstructor, SendOptions, SendCallback, AckHandler,
  NextFunction, Middleware, ErrorMiddleware, SubApp, MiddlewareArg,
  ConnectTlsOptions, ReconnectOptions, ConnectOptions, EmbeddedOptions, PrometheusOptions, EmbeddedConnectOptions,
  ListenOptions, SrfConfig, SrfStats, SessionStore, DialogSnapshot, RedisStoreOptions, ConnectCallback, CdrSource, CdrRole, SrfEvents,
  AuthOption, RequestOptions, RequestCallback,
  DialogStateValue, DialogDirectionValue, DialogStateInfo,
  CreateUASOptions, CreateUACOptions, UacNoAckOptions, UacNoAckResult, UacResultCallback, UacProgressCallbacks, B2BUAProgressCallbacks,
  CreateB2BUAOptions, B2BUAResult, B2BUACallback, DialogCallback,
  ProxyRequestOptions, ProxyResponseInfo, ProxyResult,
  DestroyOptions, ModifyOptions, ModifyNoAckResult, ModifyCallback,
  DialogRequestOptions, DialogRequestCallback, DialogVerb, DialogEvents,
  DigestAlgorithm, PasswordLookupResult, DigestAuthOptions,
} from './index.js';
