// Type definitions for drachtio-srf-rs, a drop-in replacement for drachtio-srf 5.0.29.
//
// `require('drachtio-srf-rs')` is the Srf class; everything else hangs off it (`Srf.SipError`,
// `Srf.parseUri`, ...) and its types live in `namespace Srf`. ESM users get the same class as the
// default export plus named exports (index.mjs / index.d.mts). TypeScript 4.7 or later.
//
// These typings accept what compiled against drachtio-srf's own typings (__test__/types/compat
// checks a sample both ways), except where those were wrong about the running code (api.md §12,
// item 16): connect()/listen() return the Srf / the server, not Promises; srf.request takes
// (uri, opts[, cb]) or (opts[, cb]); res.send has a (status, cb) form; ports (parseUri, Via,
// source_port) are numbers; createUAC's cbRequest gets (err, req); the callbacks of modify(),
// proxyRequest() and createB2BUA() get an SDP string / a result object / {uas, uac}; events that
// are never emitted (disconnect, message, request, per-method) are no longer declared one by one
// (the generic `on(string, ...)` overload still accepts them). Where drachtio-srf's typings were
// merely optimistic (`get()` returning string, AOR names), their types are kept for
// compatibility and the JSDoc says what happens at run time.
/// <reference types="node" />
import { EventEmitter } from 'events';
import * as net from 'net';
import * as tls from 'tls';

declare namespace Srf {
  // ---------------------------------------------------------------------------------------------
  // Helpers

  /**
   * A callback type checked bivariantly in its parameters: arrow functions get precise
   * contextual types, while callbacks annotated the way drachtio-srf's typings allowed
   * (for example `(err: Error, ...)`) are still accepted.
   */
  type Callback<A extends unknown[]> = { bivarianceHack(...args: A): void }['bivarianceHack'];

  /** SIP methods the framework routes and that `Dialog#request` accepts. */
  type SipMethod =
    | 'ACK' | 'BYE' | 'CANCEL' | 'INFO' | 'INVITE' | 'MESSAGE' | 'NOTIFY' | 'OPTIONS' | 'PRACK'
    | 'PUBLISH' | 'REFER' | 'REGISTER' | 'SUBSCRIBE' | 'UPDATE';

  /** Lower-case method names, as passed to `srf.use(method, ...)`. */
  type SipVerb = Lowercase<SipMethod>;

  /** Headers as stored on a message: normalised name → value (repeats comma-joined). */
  type SipMessageHeaders = Record<string, string>;

  /** Headers given to the library (request options, `res.send`, ...). Numbers are stringified. */
  type SipHeadersInit = Record<string, string | number>;

  // ---------------------------------------------------------------------------------------------
  // URIs (api.md §10)

  /** `parseUri` result for `sip:` and `sips:` URIs. */
  interface SipUri {
    family: 'ipv4' | 'ipv6';
    scheme: 'sip' | 'sips';
    /** undefined when the URI has no user part */
    user: string | undefined;
    password: string | undefined;
    host: string;
    /** The port as a number; `NaN` when the URI has none (test it for truthiness). */
    port: number;
    /** URI parameters; a flag parameter (`;lr`) has the value null. */
    params: Record<string, string | null>;
    /** `?name=value&...` headers of the URI */
    headers: Record<string, string>;
    number?: undefined;
    context?: undefined;
  }

  /** `parseUri` result for `tel:` URIs. */
  interface TelUri {
    scheme: 'tel';
    number: string;
    /** the phone-context parameter, null when absent */
    context: string | null;
    params: Record<string, string | null>;
    family?: undefined;
    user?: undefined;
    password?: undefined;
    host?: undefined;
    port?: undefined;
    headers?: undefined;
  }

  /** What `parseUri` returns; narrow on `scheme`. */
  type ParseUriResult = SipUri | TelUri;

  /** Parts `stringifyUri` serialises (`scheme` defaults to `sip`). */
  interface UriParts {
    scheme?: string;
    user?: string;
    password?: string;
    host?: string;
    port?: number | string;
    params?: Record<string, string | number | null | undefined>;
    headers?: Record<string, string | number>;
    number?: string;
  }

  /**
   * Parses a SIP, SIPS or TEL URI. An object is returned as is. A string that is not a
   * sip/sips/tel URI gives `undefined` at run time (the type omits it, as drachtio-srf's does,
   * so existing `parseUri(x).user` code keeps compiling: check the result where input may be bad).
   */
  function parseUri(uri: `sip:${string}` | `sips:${string}`): SipUri;
  function parseUri(uri: `tel:${string}` | `<tel:${string}`): TelUri;
  function parseUri(uri: string): ParseUriResult;
  function parseUri<T extends object>(uri: T): T;

  /** Serialises a URI object (`parseUri`'s result or parts); a string is returned unchanged. */
  function stringifyUri(uri: string | UriParts | ParseUriResult): string;
  function stringifyUri(uri: object): string;

  // ---------------------------------------------------------------------------------------------
  // Parsed headers (api.md §9)

  /**
   * A name-addr value (To, From, Contact, Refer-To, P-Asserted-Identity, ...), as drachtio-srf's
   * typings declare it. `getParsedHeader` returns the more precise {@link NameAddr}.
   */
  interface AOR {
    name: string;
    uri: string;
    params?: Record<string, any>;
  }

  /** A parsed name-addr header value, as `getParsedHeader` returns it. */
  interface NameAddr extends AOR {
    /** Display name as written (quotes kept); undefined at run time when there is none. */
    name: string;
    /** the URI inside the angle brackets, as a string */
    uri: string;
    /** Header parameters, keys lower-cased; a flag parameter has the value undefined. */
    params: Record<string, string>;
  }

  interface Via {
    version: string;
    protocol: string;
    host: string;
    /** undefined when the Via has no port */
    port: number | undefined;
    params: Record<string, string>;
  }

  interface CSeq {
    seq: number;
    method: string;
  }

  /** An entry of Route, Record-Route or Path: the URI is parsed. */
  interface RouteEntry {
    name: string | undefined;
    uri: ParseUriResult | undefined;
    params: Record<string, string>;
  }

  /** One challenge or credentials entry: the scheme plus its parameters (quotes kept). */
  interface AuthHeaderEntry {
    scheme: string;
    [param: string]: string;
  }

  /** getParsedHeader result by (lower-case) header name; compact forms included. */
  interface ParsedHeaders {
    'to': NameAddr; 't': NameAddr;
    'from': NameAddr; 'f': NameAddr;
    'refer-to': NameAddr; 'r': NameAddr;
    'referred-by': NameAddr; 'b': NameAddr;
    'p-asserted-identity': NameAddr;
    'remote-party-id': NameAddr;
    'contact': NameAddr[]; 'm': NameAddr[];
    'route': RouteEntry[];
    'record-route': RouteEntry[];
    'path': RouteEntry[];
    'via': Via[]; 'v': Via[];
    'cseq': CSeq;
    'content-length': number; 'l': number;
    'www-authenticate': AuthHeaderEntry[];
    'proxy-authenticate': AuthHeaderEntry[];
    'authorization': AuthHeaderEntry[];
    'proxy-authorization': AuthHeaderEntry[];
    'authentication-info': Record<string, string>;
  }

  /** The type `getParsedHeader(name)` returns: by header name, any case; others are the raw string. */
  type ParsedHeader<K extends string> = K extends keyof ParsedHeaders
    ? ParsedHeaders[K]
    : Lowercase<K> extends keyof ParsedHeaders ? ParsedHeaders[Lowercase<K>] : string;

  // ---------------------------------------------------------------------------------------------
  // SipMessage (api.md §9)

  /** One body part (multipart bodies are split by boundary). */
  interface Payload {
    /** the part's Content-Type; null for a part without one, undefined for a message without one */
    type: string | null | undefined;
    content: string;
  }

  interface SipMessageInit {
    method?: string;
    uri?: string;
    version?: string;
    status?: number;
    reason?: string;
    headers?: SipHeadersInit;
    body?: string;
    payload?: Payload[];
  }

  class SipMessage {
    /** Parses raw SIP text (throws `Error('failed to parse sip message')`), or builds from parts. */
    constructor(msg?: string | Buffer | SipMessageInit);
    /** request method (requests only) */
    method?: string;
    /** Request-URI (requests only) */
    uri?: string;
    version?: string;
    /** status code (responses only) */
    status?: number;
    reason?: string;
    headers: SipMessageHeaders;
    body: string;
    payload: Payload[];
    raw: string;
    readonly type: 'request' | 'response' | 'unknown';
    /** user part of the Request-URI, or '' */
    readonly calledNumber: string;
    /** user part of P-Asserted-Identity if present, else of From, or '' */
    readonly callingNumber: string;
    /** display name from P-Asserted-Identity / From, or '' */
    readonly callingName: string;
    /** an INVITE or SUBSCRIBE without a To tag */
    readonly canFormDialog: boolean;
    /** A header value, case-insensitive, compact forms too. undefined at run time when absent. */
    get(name: string): string;
    has(name: string): boolean;
    /** the key under which the header is stored in `headers` */
    getHeaderName(name: string): string | undefined;
    /** Adds a header (repeats are comma-joined). */
    set(name: string, value: string | number): this;
    set(headers: SipHeadersInit): this;
    /** Parsed header value; throws when the header is absent. */
    getParsedHeader<K extends string>(name: K): ParsedHeader<K>;
    toString(): string;
  }

  // ---------------------------------------------------------------------------------------------
  // Requests (api.md §3.2)

  /** What `req.meta` / `res.meta` return. */
  interface MessageMeta {
    source: 'network' | 'application';
    source_address: string;
    source_port: number;
    protocol: string;
    time: string;
    transactionId: string;
    dialogId: string;
  }

  /** Options of the `ack` function given to `response` listeners (and to createUAC's 3pcc). */
  interface AckOptions {
    headers?: SipHeadersInit;
    /** body of the ACK (PRACK), e.g. the SDP answer of a late-offer INVITE */
    body?: string;
  }

  /**
   * Sends the ACK for a final response to an INVITE, or the PRACK for a reliable provisional
   * response, and resolves with the request as sent (failures are logged, not thrown). For any
   * other response it is a no-op returning undefined.
   */
  type AckFunction = (opts?: AckOptions) => Promise<SipMessage | null> | undefined;

  /** Credentials set on `req.authorization` by the digestAuth middleware. */
  interface DigestCredentials {
    username: string;
    realm: string;
    nonce: string;
    uri: string;
    response: string;
    algorithm: string;
    qop?: string;
    nc?: string;
    cnonce?: string;
    opaque?: string;
    [param: string]: string | undefined;
  }

  interface SrfRequestEvents {
    /** The caller cancelled this INVITE; the server already answered 487. */
    cancel: [cancelRequest: SrfRequest];
    /** A response (provisional or final) to a request the app sent. */
    response: [res: SrfResponse, ack: AckFunction];
    /** An UPDATE for this INVITE before it was answered (or, for a sent INVITE, while pending). */
    update: [req: SrfRequest, res: SrfResponse];
    /** A digest challenge was answered: `newReq` is the re-sent request. */
    authenticate: [newReq: SrfRequest];
  }

  /** A SIP request: received (`source: 'network'`) or sent by the app (`'application'`). */
  interface SrfRequest extends EventEmitter {
    msg: SipMessage;
    method: SipMethod;
    uri: string;
    /** alias of `uri` */
    readonly url: string;
    headers: SipMessageHeaders;
    body: string;
    payload: Payload[];
    readonly type: 'request';
    readonly raw: string;
    readonly callingNumber: string;
    readonly callingName: string;
    readonly calledNumber: string;
    readonly canFormDialog: boolean;
    /** an INVITE without a To tag */
    readonly isNewInvite: boolean;

    /** 'network' for a received request, 'application' for one the app sent */
    source: 'network' | 'application';
    /** far-end address */
    source_address: string;
    /** far-end port (5060 when the server gave none) */
    source_port: number;
    /** 'udp' | 'tcp' | 'tls' | 'ws' | 'wss' */
    protocol: string;
    /** server timestamp */
    stackTime: string;
    /** server transaction id */
    stackTxnId: string;
    /** server dialog id; may be empty */
    stackDialogId: string;
    /** the drachtio server the request came through (received requests) */
    server?: { address: string; hostport: string | undefined };
    /** "addr:port" the server received a new request on, when it said so */
    receivedOn?: string;
    sessionToken?: string;
    readonly meta: MessageMeta;
    /** set when the caller cancelled the INVITE */
    canceled?: boolean;
    /** the Response for a received request */
    res?: SrfResponse;
    srf: Srf;
    app?: Srf;
    /**
     * Listen mode: the session (server connection) the request came on. It has a net.Socket's
     * remoteAddress/remotePort/localAddress/localPort, `end()`/`destroy()` (= endSession) and a
     * `close` event; pass it to `srf.request(socket, ...)` to send on that connection.
     */
    socket?: net.Socket;
    /** set by the digestAuth middleware on success */
    authorization?: DigestCredentials;

    /** Declared by drachtio-srf's typings, never set by the library. */
    branch?: string;
    /** Declared by drachtio-srf's typings, never set by the library: use `req.get('Call-ID')`. */
    callId?: string;
    /** Declared by drachtio-srf's typings, never set by the library: use `req.get('From')`. */
    from?: string;
    /** Declared by drachtio-srf's typings, never set by the library: use `req.get('To')`. */
    to?: string;
    /** Declared by drachtio-srf's typings, never set by the library: use `req.body`. */
    sdp?: string;
    /** set by third-party registrar middleware (drachtio-mw-registration-parser) */
    registration?: {
      type: 'unregister' | 'register';
      expires: number;
      contact: AOR[];
      aor: string;
    };

    /** See SipMessage#get: undefined at run time when absent. */
    get(name: string): string;
    has(name: string): boolean;
    getHeaderName(name: string): string | undefined;
    set(name: string, value: string | number): this;
    set(headers: SipHeadersInit): this;
    getParsedHeader<K extends string>(name: K): ParsedHeader<K>;

    /**
     * CANCELs this INVITE (only for requests the app sent; throws otherwise).
     * `cb(err, cancelRequest)` once the CANCEL is sent. No Promise form.
     */
    cancel(cb?: Callback<[err: Error | null, cancelRequest: SrfRequest]>): void;
    cancel(opts: { headers?: SipHeadersInit }, cb?: Callback<[err: Error | null, cancelRequest: SrfRequest]>): void;

    /**
     * Proxies this (received) request. Needs a drachtio server: the embedded engine does not
     * proxy yet.
     */
    proxy(opts?: ProxyRequestOptions): Promise<ProxyResult>;
    proxy(opts: ProxyRequestOptions | undefined, cb: Callback<[err: Error | null, result: ProxyResult]>): this;

    toJSON(): object;
    toString(): string;

    on<K extends keyof SrfRequestEvents>(event: K, listener: (...args: SrfRequestEvents[K]) => void): this;
    on(event: string | symbol, listener: (...args: any[]) => void): this;
    once<K extends keyof SrfRequestEvents>(event: K, listener: (...args: SrfRequestEvents[K]) => void): this;
    once(event: string | symbol, listener: (...args: any[]) => void): this;
    addListener<K extends keyof SrfRequestEvents>(event: K, listener: (...args: SrfRequestEvents[K]) => void): this;
    addListener(event: string | symbol, listener: (...args: any[]) => void): this;
    prependListener<K extends keyof SrfRequestEvents>(event: K, listener: (...args: SrfRequestEvents[K]) => void): this;
    prependListener(event: string | symbol, listener: (...args: any[]) => void): this;
    prependOnceListener<K extends keyof SrfRequestEvents>(event: K, listener: (...args: SrfRequestEvents[K]) => void): this;
    prependOnceListener(event: string | symbol, listener: (...args: any[]) => void): this;
    off<K extends keyof SrfRequestEvents>(event: K, listener: (...args: SrfRequestEvents[K]) => void): this;
    off(event: string | symbol, listener: (...args: any[]) => void): this;
    removeListener<K extends keyof SrfRequestEvents>(event: K, listener: (...args: SrfRequestEvents[K]) => void): this;
    removeListener(event: string | symbol, listener: (...args: any[]) => void): this;
  }

  interface SipRequestConstructor {
    new (msg?: SipMessage | string | Buffer | SipMessageInit, meta?: object): SrfRequest;
    readonly prototype: SrfRequest;
  }

  /** `Srf.SipRequest`: the request class (instances are {@link SrfRequest}). */
  type SipRequest = SrfRequest;
  const SipRequest: SipRequestConstructor;

  // ---------------------------------------------------------------------------------------------
  // Responses (api.md §3.4)

  interface SendOptions {
    /**
     * Extra headers for this response (not sticky; `res.set` headers are). A `To` entry with
     * `;tag=X` sets the local tag.
     */
    headers?: SipHeadersInit;
    /** body, e.g. SDP (no Content-Type needed for SDP) */
    body?: string;
  }

  /**
   * `cb(err, msg)` once the server has sent the response: `msg` is the response as sent.
   * `err` is an Error whose message is the server's reason.
   */
  type SendCallback = Callback<[err: Error | null, msg: SipMessage]>;

  /** Receives the ACK for a 200, or the PRACK for a reliable provisional response. */
  type AckHandler = Callback<[ackOrPrack: SrfRequest]>;

  interface SrfResponseEvents {
    /** A final response was sent (emitted synchronously from `send`). */
    end: [info: { status: number; reason: string }];
    /** A final response was sent (emitted on the next macrotask). */
    finish: [];
  }

  /** A SIP response: one the app sends (`res` in middleware), or one received for a sent request. */
  interface SrfResponse extends EventEmitter {
    msg: SipMessage;
    status: number;
    /** alias of `status` */
    statusCode: number;
    reason: string;
    headers: SipMessageHeaders;
    body: string;
    payload: Payload[];
    readonly type: 'response' | 'unknown';
    readonly raw: string;
    /** true once a final response was sent */
    finished: boolean;
    /** same as `finished` */
    readonly finalResponseSent: boolean;
    /** same as `finished` */
    readonly headersSent: boolean;
    /** the request this response answers (Call-ID, CSeq, From and To are copied from it) */
    req: SrfRequest;
    srf: Srf;
    socket?: net.Socket;

    // Meta properties of a received response (responses to requests the app sent).
    source: 'network' | 'application';
    source_address: string;
    source_port: number;
    protocol: string;
    stackTime: string;
    stackTxnId?: string;
    stackDialogId?: string;
    readonly meta: MessageMeta;

    /** See SipMessage#get: undefined at run time when absent. */
    get(name: string): string;
    has(name: string): boolean;
    getHeaderName(name: string): string | undefined;
    set(name: string, value: string | number): this;
    set(headers: SipHeadersInit): this;
    getParsedHeader<K extends string>(name: K): ParsedHeader<K>;

    /**
     * Sends a response. `status` must be a known SIP status code (else it throws); the reason
     * defaults to the standard text. After a final response, further calls send nothing and
     * pass `Error('Response#send: final response already sent')` to `cb`.
     */
    send(status: number): void;
    send(status: number, reason: string): void;
    send(status: number, opts: SendOptions): void;
    send(status: number, opts: SendOptions, cb: SendCallback, fnAck?: AckHandler): void;
    send(status: number, cb: SendCallback, fnAck?: AckHandler): void;
    send(status: number, reason: string, opts: SendOptions, cb?: SendCallback, fnAck?: AckHandler): void;

    // Express compatibility.
    /** See SipMessage#get: undefined at run time when absent. */
    getHeader(name: string): string;
    setHeader(name: string, value: string | number): this;
    /** no-op */
    removeHeader(name?: string): void;
    /** Sends `this.status` (default 200) with `data` as the reason; throws if already finished. */
    end(cb?: SendCallback): void;
    end(data: string | undefined, cb?: SendCallback): void;
    end(data: string | undefined, encoding: string | undefined, cb?: SendCallback): void;

    toJSON(): object;
    toString(): string;

    on<K extends keyof SrfResponseEvents>(event: K, listener: (...args: SrfResponseEvents[K]) => void): this;
    on(event: string | symbol, listener: (...args: any[]) => void): this;
    once<K extends keyof SrfResponseEvents>(event: K, listener: (...args: SrfResponseEvents[K]) => void): this;
    once(event: string | symbol, listener: (...args: any[]) => void): this;
    addListener<K extends keyof SrfResponseEvents>(event: K, listener: (...args: SrfResponseEvents[K]) => void): this;
    addListener(event: string | symbol, listener: (...args: any[]) => void): this;
    prependListener<K extends keyof SrfResponseEvents>(event: K, listener: (...args: SrfResponseEvents[K]) => void): this;
    prependListener(event: string | symbol, listener: (...args: any[]) => void): this;
    prependOnceListener<K extends keyof SrfResponseEvents>(event: K, listener: (...args: SrfResponseEvents[K]) => void): this;
    prependOnceListener(event: string | symbol, listener: (...args: any[]) => void): this;
    off<K extends keyof SrfResponseEvents>(event: K, listener: (...args: SrfResponseEvents[K]) => void): this;
    off(event: string | symbol, listener: (...args: any[]) => void): this;
    removeListener<K extends keyof SrfResponseEvents>(event: K, listener: (...args: SrfResponseEvents[K]) => void): this;
    removeListener(event: string | symbol, listener: (...args: any[]) => void): this;
  }

  interface SipResponseConstructor {
    new (msg?: SipMessage | string | Buffer | SipMessageInit, meta?: object): SrfResponse;
    readonly prototype: SrfResponse;
  }

  /** `Srf.SipResponse`: the response class (instances are {@link SrfResponse}). */
  type SipResponse = SrfResponse;
  const SipResponse: SipResponseConstructor;

  // ---------------------------------------------------------------------------------------------
  // SipError (api.md §6)

  /** A SIP failure: a non-success final response. */
  class SipError extends Error {
    /** `status` must be a number and `reason` a string (AssertionError otherwise). */
    constructor(status: number, reason?: string);
    name: 'SipError';
    status: number;
    /** only set when given */
    reason?: string;
    /** the final response, on errors the library creates for UAC failures */
    res?: SrfResponse;
  }

  // ---------------------------------------------------------------------------------------------
  // Middleware (api.md §2.4)

  /** Passes control to the next layer; with an argument, switches to error handlers. */
  type NextFunction = (err?: any) => void;

  /** A middleware layer `(req, res, next)`; may be async. */
  type Middleware = (req: SrfRequest, res: SrfResponse, next: NextFunction) => unknown;

  /**
   * An error-handling layer: it has four parameters, and is called only while an error
   * propagates. Annotate the parameters (or the function's type) when passing one inline.
   */
  type ErrorMiddleware = (err: any, req: SrfRequest, res: SrfResponse, next: NextFunction) => unknown;

  /** An object with a `handle(req, res, next)` method, e.g. another Srf-like app. */
  interface SubApp {
    handle(req: SrfRequest, res: SrfResponse, next: NextFunction): unknown;
  }

  /** What `use()` accepts: layers, sub-apps, and (nested) arrays of them. */
  type MiddlewareArg = Middleware | ErrorMiddleware | SubApp | ReadonlyArray<MiddlewareArg>;

  // ---------------------------------------------------------------------------------------------
  // Connecting (api.md §2.2)

  /** TLS options for `connect` (a subset of Node's `tls.ConnectionOptions`). */
  interface ConnectTlsOptions {
    /** CA certificate(s), PEM */
    ca?: string | Buffer | Array<string | Buffer>;
    /** client certificate chain, PEM */
    cert?: string | Buffer | Array<string | Buffer>;
    /** client private key, PEM */
    key?: string | Buffer | Array<string | Buffer>;
    /** SNI server name */
    servername?: string;
    /** default true */
    rejectUnauthorized?: boolean;
  }

  interface ReconnectOptions {
    /** longest delay between attempts, ms */
    retryMaxDelay?: number;
    /** give up after this many attempts */
    maxAttempts?: number;
    /** time allowed for one connection attempt, ms */
    connectTimeout?: number;
  }

  /** Connection to a drachtio server (inbound connection: app → server). */
  interface ConnectOptions {
    /** default 'localhost' */
    host?: string;
    /** admin port, default 9022 */
    port?: number;
    /** shared secret */
    secret: string;
    /** connect over TLS with these options */
    tls?: ConnectTlsOptions;
    /** send ping frames */
    enablePing?: boolean;
    /** ms between pings, 5000–300000 (default 15000) */
    pingInterval?: number;
    reconnect?: ReconnectOptions;
    /** tags for routing by the server (the constructor's tags are added) */
    tags?: string[];
    /** raw frame logger (accepted; not supported yet: a warning is emitted) */
    logger?: (message: string) => void;
    embedded?: undefined;
  }

  /** The in-process SIP engine: no drachtio server needed. */
  interface EmbeddedOptions {
    /**
     * SIP listening points (IP literals), e.g. `['sip:127.0.0.1:5060;transport=udp', 'sip:127.0.0.1:5060;transport=tcp',
     * 'sips:127.0.0.1:5061;transport=tls', 'sip:127.0.0.1:8080;transport=ws', 'sips:127.0.0.1:8443;transport=wss']`
     */
    contacts: string[];
    /** RFC 3261 T1, ms (default 500) */
    t1?: number;
    /** RFC 3261 T2, ms (default 4000) */
    t2?: number;
    /** RFC 3261 T4, ms (default 5000) */
    t4?: number;
    /** public address to advertise (Via, Contact, Record-Route) when behind NAT */
    externalIp?: string;
    /** networks (CIDR, e.g. '10.0.0.0/8') that reach us by our own address: toward them externalIp is not used */
    localNet?: string | string[];
    /** new requests the app may hold unanswered before the engine answers 503 + Retry-After (default 2000) */
    maxPendingRequests?: number;
    /** ms a TCP peer may take over one message, or over its first one on a connection it opened, before it is disconnected (default 32000) */
    tcpMessageTimeout?: number;
    /** session timers (RFC 4028): our Min-SE in seconds; a smaller offered Session-Expires gets 422 and intervals are raised to it (default 90) */
    minSE?: number;
    /** who refreshes when a UAC offers Session-Expires without a refresher: 'none' (default, as drachtio-server: no session timer), 'uac' or 'uas' */
    defaultRefresher?: 'none' | 'uac' | 'uas';
    /** Prometheus metrics on `http://host:port/metrics`, with drachtio-server's metric names (as `drachtio-rs serve --prometheus-scrape-port`) */
    prometheus?: PrometheusOptions;
    /** certificates for tls and wss contacts (required when there are any) and trust for requests sent over TLS */
    tls?: EmbeddedTlsOptions;
  }

  /** `embedded.tls`: PEM text, or paths to PEM files (one of each pair). */
  interface EmbeddedTlsOptions {
    key?: string;
    keyFile?: string;
    /** our certificate */
    cert?: string;
    certFile?: string;
    /** certificates that follow ours (intermediates) */
    chain?: string;
    chainFile?: string;
    /** CAs that servers we connect to over TLS must chain to (default: the Mozilla roots) */
    ca?: string;
    caFile?: string;
    /** false: servers we connect to over TLS are not verified (test setups only; default true) */
    rejectUnauthorized?: boolean;
  }

  /** Where the embedded engine's Prometheus scrape endpoint listens. */
  interface PrometheusOptions {
    port: number;
    /** an IP address (default '0.0.0.0', every interface, as drachtio-server) */
    host?: string;
  }

  /**
   * `connect({embedded: {...}})` starts the in-process SIP engine instead of connecting to a
   * drachtio server; the `connect` event / callback fires once it listens.
   */
  interface EmbeddedConnectOptions {
    embedded: EmbeddedOptions;
    tags?: string[];
  }

  /** Outbound mode (`srf.listen`): drachtio servers connect to the app. */
  interface ListenOptions {
    /** port to listen on (0: any free port, see `server.address()`); not with `server` */
    port?: number;
    /** address to bind (default 0.0.0.0) */
    host?: string;
    /** the drachtio server's secret, sent in `authenticate` on every session */
    secret: string;
    /**
     * Listen over TLS: PEM `key` and `cert` (chain), and optionally `ca` with `requestCert` to
     * verify the server's client certificate. `pfx`/`passphrase` are refused; other Node TLS
     * options are not applied (a warning names them).
     */
    tls?: tls.TlsOptions;
    /** take the connections of this server (net.Server, or tls.Server for TLS) instead of listening */
    server?: net.Server;
    enablePing?: boolean;
    pingInterval?: number;
    tags?: string[];
  }

  /**
   * drachtio-srf's name for connection options (`secret` optional there; it is required at
   * run time).
   * @deprecated use ConnectOptions
   */
  interface SrfConfig {
    host?: string;
    port?: number;
    secret?: string;
    logger?: (message: string) => void;
  }

  /** What `srf.stats()` resolves with: counts of what the Srf (and its engine) holds. */
  interface SrfStats {
    /** registered Dialogs */
    dialogs: number;
    /** incoming INVITEs not yet answered with a final response */
    pendingInvites: number;
    /** requests the app sent that await their final response */
    sentRequests: number;
    /** ACK/PRACK waiters of `res.send(..., fnAck)` */
    ackWaiters: number;
    /** the embedded engine's counts; null when connected to a drachtio server (or not connected) */
    engine: {
      dialogs: number;
      serverTransactions: number;
      clientTransactions: number;
      /** new requests this app holds unanswered */
      pendingRequests: number;
      /** requests being proxied (`proxyRequest`, and in-dialog requests routed through the engine) */
      proxyTransactions: number;
    } | null;
    /** with a session store: dialogs saved, saves and removals that failed, dialogs rebuilt from it; else null */
    sessionStore: { writes: number; failedWrites: number; restored: number } | null;
  }

  type ConnectCallback = Callback<[err: Error | null, hostport: string, serverVersion: string, localHostports: string]>;

  type CdrSource = 'network' | 'application';
  type CdrRole = 'uac' | 'uas' | 'proxy-uac' | 'proxy-uas';

  interface SrfEvents {
    /**
     * After each (re)connection and authentication; `err` is set (and nothing else) when the
     * server refused the secret.
     */
    connect: [err: Error | null, hostport: string, serverVersion: string, localHostports: string];
    /** a socket error (listen for it, or it is only logged) */
    error: [err: Error];
    /** the connection closed (listen mode: a session closed) */
    close: [];
    /** a reconnection attempt is scheduled */
    reconnecting: [info: { delay: number; attempt: number }];
    /** listen mode: the listening socket is bound (or the app's own server listens) */
    listening: [];
    'cdr:attempt': [source: CdrSource, time: string, msg: SipMessage];
    'cdr:start': [source: CdrSource, time: string, role: CdrRole, msg: SipMessage];
    'cdr:stop': [source: CdrSource, time: string, reason: string, msg: SipMessage];
    /** a Dialog was created here (createUAS, createUAC, createB2BUA): set `dialog.session` data now */
    'sipdialog:create': [dialog: Dialog];
    /** a Dialog another process created was rebuilt from the session store (`session` included), before the request that brought it here is handled */
    'sipdialog:restore': [dialog: Dialog];
    /** a Dialog ended (either side) */
    'sipdialog:terminate': [dialog: Dialog];
  }

  /** What a session store keeps of a Dialog. */
  interface DialogSnapshot {
    v: number;
    id: string;
    type: 'uas' | 'uac';
    dialogType: string;
    sip: { callId: string; localTag: string; remoteTag: string };
    local: { uri: string; sdp: string; contact: string };
    remote: { uri: string; sdp: string };
    onHold: boolean;
    subscriptions: string[];
    subscribeEvent: string | null;
    /** the id of the other leg of a B2BUA pair */
    other: string | null;
    session: Record<string, any>;
  }

  /** Where `srf.sessionStore` keeps dialogs: any object with these three, each returning a Promise. */
  interface SessionStore {
    get(id: string): Promise<DialogSnapshot | null>;
    set(id: string, value: DialogSnapshot): Promise<unknown>;
    del(id: string): Promise<unknown>;
  }

  /** Dialogs kept in this process (no takeover across processes). */
  class MemoryStore implements SessionStore {
    constructor();
    get(id: string): Promise<DialogSnapshot | null>;
    set(id: string, value: DialogSnapshot): Promise<void>;
    del(id: string): Promise<void>;
    readonly size: number;
  }

  interface RedisStoreOptions {
    /** e.g. 'redis://127.0.0.1:6379'; else host, port, db */
    url?: string;
    host?: string;
    port?: number;
    password?: string;
    db?: number;
    /** key prefix (default 'srf:dialog:') */
    prefix?: string;
    /** seconds a record lives without being written again (default one day) */
    ttl?: number;
  }

  /** Dialogs kept in Redis (the optional `redis` package): another process can take calls over. */
  class RedisStore implements SessionStore {
    constructor(opts?: RedisStoreOptions);
    readonly prefix: string;
    readonly ttl: number;
    get(id: string): Promise<DialogSnapshot | null>;
    set(id: string, value: DialogSnapshot): Promise<void>;
    del(id: string): Promise<void>;
    /** closes the connection (at once when Redis is unreachable) */
    close(): Promise<void>;
  }

  // ---------------------------------------------------------------------------------------------
  // Sending requests (api.md §3.1)

  /**
   * Credentials for digest challenges: an object, or a function called with the request and
   * the 401/407 that calls back `cb(err, username, password)`.
   */
  type AuthOption =
    | { username: string; password: string }
    | ((req: SrfRequest, res: SrfResponse, cb: (err: Error | null | undefined, username?: string, password?: string) => void) => void);

  interface RequestOptions {
    /** SIP method (upper-cased) */
    method: SipMethod | SipVerb | (string & {});
    /** Request-URI, for the `request(opts)` form */
    uri?: string;
    headers?: SipHeadersInit;
    body?: string;
    /** answer 401/407 challenges with these credentials */
    auth?: AuthOption;
    /** outbound proxy URI */
    proxy?: string;
  }

  type RequestCallback = Callback<[err: Error | null, req: SrfRequest]>;

  // ---------------------------------------------------------------------------------------------
  // Dialogs (api.md §4–§5)

  type DialogStateValue = 'trying' | 'proceeding' | 'early' | 'confirmed' | 'terminated' | 'rejected' | 'cancelled';
  type DialogDirectionValue = 'initiator' | 'recipient';

  const DialogState: {
    readonly Trying: 'trying';
    readonly Proceeding: 'proceeding';
    readonly Early: 'early';
    readonly Confirmed: 'confirmed';
    readonly Terminated: 'terminated';
    readonly Rejected: 'rejected';
    readonly Cancelled: 'cancelled';
  };
  const DialogDirection: {
    readonly Initiator: 'initiator';
    readonly Recipient: 'recipient';
  };

  /** What a `dialogStateEmitter` emits as `stateChange` (RFC 4235 style). */
  interface DialogStateInfo {
    state: DialogStateValue;
    direction: DialogDirectionValue;
    aor: string;
    callId: string;
    /** our tag; a UAS (direction 'initiator') learns it when the 200 is sent */
    localTag?: string;
    /** the far end's tag, once known */
    remoteTag?: string;
    /** a short random id of this dialog's reports */
    id: string;
  }

  interface CreateUASOptions {
    /** SDP for the 200, or a function producing it */
    localSdp?: string | (() => string | Promise<string>);
    /** alias of `localSdp` (wins if both are given) */
    body?: string | (() => string | Promise<string>);
    /** extra headers for the 200/202 */
    headers?: SipHeadersInit;
    dialogStateEmitter?: EventEmitter;
  }

  interface CreateUACOptions {
    /** Request-URI (when the options object is the first argument) */
    uri?: string;
    /** default 'INVITE' */
    method?: 'INVITE' | 'SUBSCRIBE';
    headers?: SipHeadersInit;
    /** the offer; without it an INVITE is a late-offer (3pcc) INVITE */
    localSdp?: string;
    /** outbound proxy URI */
    proxy?: string;
    auth?: AuthOption;
    /** builds From (and Contact) as `sip:<callingNumber>@localhost` unless given in headers */
    callingNumber?: string;
    /** display name for the generated From */
    callingName?: string;
    /** user part when `uri` is a bare host */
    calledNumber?: string;
    /** follow 3xx redirects (up to 4) */
    followRedirects?: boolean;
    /** with followRedirects: keep the Request-URI and send to the Contact as proxy */
    keepUriOnRedirect?: boolean;
    /** 3pcc: do not ACK the 200 (resolves with a {@link UacNoAckResult}) */
    noAck?: boolean;
    dialogStateEmitter?: EventEmitter;
  }

  /**
   * The createUAC options that can give a {@link UacNoAckResult}: `noAck: true` on an INVITE
   * without `localSdp` (3pcc).
   */
  interface UacNoAckOptions {
    noAck: true;
    localSdp?: undefined;
  }

  /**
   * createUAC result for a late-offer INVITE with `noAck: true` whose 200 carried an offer: the
   * 200 is not ACKed yet, the app does it with its answer.
   */
  interface UacNoAckResult {
    /** the SDP offer in the 200 */
    sdp: string;
    /** the 200 */
    res: SrfResponse;
    /**
     * ACKs with the answer (`localSdp`) and resolves with the registered Dialog; rejects with
     * `SipError(500)` when the 200 had no Contact.
     */
    ack(localSdp: string): Promise<Dialog>;
    /** ACKs (echoing the remote SDP) and then BYEs */
    destroy(): Promise<void>;
  }

  /** createUAC's callback when the result can be a {@link UacNoAckResult} (`noAck: true`). */
  type UacResultCallback = Callback<[err: Error | null, result: Dialog | UacNoAckResult]>;

  interface UacProgressCallbacks {
    /** with (err) when sending failed, else (null, req): keep `req` to `req.cancel()` */
    cbRequest?: Callback<[err: Error | null, req: SrfRequest]>;
    /** each provisional response */
    cbProvisional?: Callback<[provisionalRes: SrfResponse]>;
  }

  interface B2BUAProgressCallbacks extends UacProgressCallbacks {
    /** the B leg was answered (before the A leg is) */
    cbFinalizedUac?: Callback<[uac: Dialog]>;
  }

  interface CreateB2BUAOptions extends CreateUACOptions {
    /** headers for the B-leg INVITE */
    headers?: SipHeadersInit;
    /** headers to copy from A's request (`['all', '-X-Name']` copies all but some) */
    proxyRequestHeaders?: string[];
    /** headers to copy from B's responses to A's */
    proxyResponseHeaders?: string[];
    /** headers for every response to A, or a function producing them */
    responseHeaders?: SipHeadersInit | ((uacRes: SrfResponse, headers: SipMessageHeaders) => SipHeadersInit | null | undefined);
    /** SDP for A, or a function of B's SDP (default: B's SDP) */
    localSdpA?: string | ((sdp: string, res: SrfResponse) => string | Promise<string>);
    /** offer for B (default: A's body); a function only in the 3pcc path */
    localSdpB?: string | ((sdp: string) => string | Promise<string>);
    /** relay B's failure to A (default true) */
    passFailure?: boolean;
    /** relay B's provisional responses to A (default true) */
    passProvisionalResponses?: boolean;
  }

  interface B2BUAResult {
    /** the A leg (answering the incoming INVITE) */
    uas: Dialog;
    /** the B leg (the call placed to `uri`) */
    uac: Dialog;
  }

  type B2BUACallback = Callback<[err: Error | null, result: B2BUAResult]>;

  type DialogCallback = Callback<[err: Error | null, dialog: Dialog]>;

  interface ProxyRequestOptions {
    /** string or list of targets; default the Request-URI */
    destination?: string | string[];
    remainInDialog?: boolean;
    recordRoute?: boolean;
    /** Path for REGISTER */
    path?: boolean;
    /** 'simultaneous' (or 'parallel') forks in parallel; default sequential */
    forking?: 'sequential' | 'simultaneous' | 'parallel';
    /** e.g. '2s', '1500ms': try the next target when no response */
    provisionalTimeout?: string;
    finalTimeout?: string;
    followRedirects?: boolean;
    headers?: SipHeadersInit;
  }

  interface ProxyResponseInfo {
    time: string;
    status: number;
    msg: SipMessage;
  }

  interface ProxyResult {
    /** finalStatus === 200 */
    connected: boolean;
    finalStatus: number;
    finalResponse: ProxyResponseInfo;
    /** one entry per target */
    responses: Array<{ address: string; port: number; msgs: ProxyResponseInfo[] }>;
  }

  interface DestroyOptions {
    headers?: SipHeadersInit;
    auth?: AuthOption;
  }

  interface ModifyOptions {
    /** the new local SDP (the `modify(opts)` form); without it a re-INVITE carries no offer */
    sdp?: string;
    /** headers of the re-INVITE (Contact defaults to the dialog's local contact) */
    headers?: SipHeadersInit;
    auth?: AuthOption;
    /** with no SDP: do not ACK the 200; the app calls `ack(sdp)` */
    noAck?: boolean;
  }

  /** `modify(opts)` with `noAck: true` and no SDP: the app must ACK with its answer. */
  interface ModifyNoAckResult {
    /** the offer in the far end's 200 */
    sdp: string;
    /** sends the ACK with the answer (which becomes `local.sdp`) */
    ack(sdp: string): void;
  }

  type ModifyCallback = Callback<[err: Error | null, sdp: string, ack?: (sdp: string) => void]>;

  interface DialogRequestOptions {
    /** upper-case SIP method */
    method: SipMethod;
    headers?: SipHeadersInit;
    body?: string;
    auth?: AuthOption;
    /** re-INVITE without SDP: do not ACK the 200 (the callback gets `ack`) */
    noAck?: boolean;
  }

  type DialogRequestCallback = Callback<[err: Error | null, res: SrfResponse, ack?: AckFunction]>;

  /** `dlg.info(...)`, `dlg.notify(...)`, ...: `request({...opts, method})`. */
  interface DialogVerb {
    (opts?: Omit<DialogRequestOptions, 'method'>): Promise<SrfResponse>;
    (opts: Omit<DialogRequestOptions, 'method'> | undefined, cb: DialogRequestCallback): Dialog;
  }

  interface DialogEvents {
    /** the far end ended the dialog (BYE; reason e.g. 'normal release'), or a subscription ended */
    destroy: [req: SrfRequest, reason?: string];
    /** a re-INVITE that is not hold/unhold/refresh: answer it */
    modify: [req: SrfRequest, res: SrfResponse];
    /** a session-refresh re-INVITE (answered automatically) */
    refresh: [req: SrfRequest];
    hold: [req: SrfRequest];
    unhold: [req: SrfRequest];
    info: [req: SrfRequest, res: SrfResponse];
    notify: [req: SrfRequest, res: SrfResponse];
    options: [req: SrfRequest, res: SrfResponse];
    message: [req: SrfRequest, res: SrfResponse];
    publish: [req: SrfRequest, res: SrfResponse];
    refer: [req: SrfRequest, res: SrfResponse];
    update: [req: SrfRequest, res: SrfResponse];
    subscribe: [req: SrfRequest, res: SrfResponse];
    unsubscribe: [req: SrfRequest, reason: 'unsubscribe'];
    ack: [req: SrfRequest];
  }

  /**
   * A SIP dialog, created by createUAS / createUAC / createB2BUA (not by the app: the recipes
   * construct and register it). Requests inside it go by the server's dialog id.
   */
  class Dialog extends EventEmitter {
    constructor(srf: Srf, type: 'uas' | 'uac', opts: { req: SrfRequest; res: SrfResponse; id?: string; localSdp?: string; sent?: SipMessage; auth?: AuthOption });
    /** the server's dialog id */
    readonly id: string;
    type: 'uac' | 'uas';
    /** method that created the dialog */
    readonly dialogType: 'INVITE' | 'SUBSCRIBE';
    sip: { callId: string; localTag: string; remoteTag: string };
    local: { uri: string; sdp: string; contact: string };
    remote: { uri: string; sdp: string };
    req: SrfRequest;
    res: SrfResponse;
    srf: Srf;
    auth?: AuthOption;
    readonly socket?: net.Socket;
    /** true until destroyed */
    connected: boolean;
    onHold: boolean;
    /** the peer dialog of a B2BUA pair (null at run time otherwise) */
    other: Dialog;
    /** `user@host:event` of each subscription */
    subscriptions: string[];
    /** the Event header of the SUBSCRIBE, else null */
    readonly subscribeEvent: string | null;
    /** the app's own state for this dialog, saved with it when the Srf has a session store */
    session: Record<string, any>;
    /** true when rebuilt from the session store (its `req` and `res` are then null) */
    readonly restored?: boolean;
    /** saves the dialog (and `session`) to the session store now; changes are also saved on their own */
    save(): void;
    /** while true, incoming in-dialog requests are held; false replays them */
    set queueRequests(enqueue: boolean);

    /**
     * Ends the dialog (BYE, or a terminating NOTIFY); resolves with the request sent. Rejects
     * with an ENODIALOG error if the dialog is already gone.
     */
    destroy(opts?: DestroyOptions): Promise<SrfRequest>;
    destroy(cb: Callback<[err: Error | null, msg: SrfRequest]>): this;
    destroy(opts: DestroyOptions | undefined, cb: Callback<[err: Error | null, msg: SrfRequest]>): this;

    /**
     * Re-INVITE: `'hold'` (sendrecv → inactive, `onHold`), `'unhold'` (back; rejects if not on
     * hold), a new local SDP, or `{sdp, headers, noAck}`; resolves with the remote SDP. Calls
     * are serialised; a non-2xx final rejects with a SipError.
     */
    modify(sdp: 'hold' | 'unhold' | (string & {}), opts?: ModifyOptions): Promise<string>;
    /** no SDP of ours and `noAck: true`: resolves with the far end's offer and the ACK to send */
    modify(opts: ModifyOptions & { noAck: true; sdp?: undefined }): Promise<ModifyNoAckResult>;
    modify(opts: ModifyOptions): Promise<string>;
    modify(sdp: string, cb: ModifyCallback): this;
    modify(sdp: string, opts: ModifyOptions | undefined, cb: ModifyCallback): this;
    modify(opts: ModifyOptions, cb: ModifyCallback): this;

    /** Sends a request within the dialog; resolves with the final response. */
    request(opts: DialogRequestOptions): Promise<SrfResponse>;
    request(opts: DialogRequestOptions, cb: DialogRequestCallback): this;

    // Method shortcuts (none for ACK and CANCEL, which have no final response to wait for).
    bye: DialogVerb;
    info: DialogVerb;
    invite: DialogVerb;
    message: DialogVerb;
    notify: DialogVerb;
    options: DialogVerb;
    prack: DialogVerb;
    publish: DialogVerb;
    refer: DialogVerb;
    register: DialogVerb;
    subscribe: DialogVerb;
    update: DialogVerb;

    getCountOfSubscriptions(): number;
    addSubscription(req: SrfRequest): number;
    /** returns the number of subscriptions left */
    removeSubscription(uri: string, event: string): number;

    toJSON(): {
      id: string;
      type: 'uac' | 'uas';
      sip: { callId: string; localTag: string; remoteTag: string };
      local: { uri: string; sdp: string; contact: string };
      remote: { uri: string; sdp: string };
      onHold: boolean;
    };
    toString(): string;

    on<K extends keyof DialogEvents>(event: K, listener: (...args: DialogEvents[K]) => void): this;
    on(event: string | symbol, listener: (...args: any[]) => void): this;
    once<K extends keyof DialogEvents>(event: K, listener: (...args: DialogEvents[K]) => void): this;
    once(event: string | symbol, listener: (...args: any[]) => void): this;
    addListener<K extends keyof DialogEvents>(event: K, listener: (...args: DialogEvents[K]) => void): this;
    addListener(event: string | symbol, listener: (...args: any[]) => void): this;
    prependListener<K extends keyof DialogEvents>(event: K, listener: (...args: DialogEvents[K]) => void): this;
    prependListener(event: string | symbol, listener: (...args: any[]) => void): this;
    prependOnceListener<K extends keyof DialogEvents>(event: K, listener: (...args: DialogEvents[K]) => void): this;
    prependOnceListener(event: string | symbol, listener: (...args: any[]) => void): this;
    off<K extends keyof DialogEvents>(event: K, listener: (...args: DialogEvents[K]) => void): this;
    off(event: string | symbol, listener: (...args: any[]) => void): this;
    removeListener<K extends keyof DialogEvents>(event: K, listener: (...args: DialogEvents[K]) => void): this;
    removeListener(event: string | symbol, listener: (...args: any[]) => void): this;
  }

  // ---------------------------------------------------------------------------------------------
  // Server-side digest authentication (lib/digest-auth.js)

  /** Digest algorithms the middleware can offer (any case). */
  type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess';

  /**
   * What `passwordLookup` calls back with: the password, or precomputed `{ha1}` (hex, or one
   * per algorithm, e.g. `{ha1: {MD5: '...', 'SHA-256': '...'}}`); a falsy value means "unknown
   * user" (403).
   */
  type PasswordLookupResult = string | { ha1: string | Partial<Record<DigestAlgorithm | (string & {}), string>> } | null | undefined | false;

  interface DigestAuthOptions {
    /**
     * Realm, or a function of the request returning it (or a Promise); a falsy realm
     * rejects with 403. Default: the host of the Request-URI.
     */
    realm?: string | ((req: SrfRequest) => string | null | undefined | false | Promise<string | null | undefined | false>);
    /** Looks up the credentials of `username` in `realm`. Required. */
    passwordLookup: (username: string, realm: string, cb: (err: Error | null | undefined, result?: PasswordLookupResult) => void) => void;
    /** challenge with 407 Proxy-Authenticate instead of 401 WWW-Authenticate */
    proxy?: boolean;
    /** when given, `srf.endSession(req)` is called after each rejection */
    srf?: { endSession(msg: SrfRequest): void };
    /** algorithms to offer, strongest first (default ['MD5']) */
    algorithms?: Array<DigestAlgorithm | Lowercase<DigestAlgorithm>>;
    /** default 'auth' */
    qop?: 'auth' | 'auth-int' | 'auth,auth-int' | 'auth-int,auth';
    /** nonce lifetime in seconds (default 300) */
    nonceExpiry?: number;
    /** key for stateless nonces; share it between processes serving one realm */
    nonceSecret?: string | Buffer;
  }

  /**
   * A middleware that challenges requests and verifies digest credentials; on success it sets
   * `req.authorization` and calls `next()`. Options-compatible with drachtio-mw-digest-auth.
   */
  function digestAuth(opts: DigestAuthOptions): Middleware;
}

/**
 * The signaling resource framework: connects to a drachtio server (or runs the embedded SIP
 * engine), routes incoming requests through middleware, and creates dialogs.
 */
declare class Srf extends EventEmitter {
  constructor();
  /** one tag, or a list of tags (≤ 20, each ≤ 32 characters of `a-zA-Z0-9-_+@:`) */
  constructor(tags: string | string[]);
  /** connection options: `connect(opts)` is called immediately (`host` is required here) */
  constructor(opts: Srf.ConnectOptions & { host: string });
  /** @deprecated use `new Srf()` then `srf.use(fn)` */
  constructor(app: Srf.Middleware);

  /** app data */
  locals: Record<string, any>;
  /** the tags given to the constructor */
  readonly tags: string[];
  /** the middleware container (the Srf itself) */
  readonly app: this;
  /** true when no reply, sent request or ACK/PRACK is pending */
  readonly idle: boolean;
  /** Declared by drachtio-srf's typings; not set. */
  socket?: net.Socket;

  set(key: string, value: unknown): this;
  get(key: string): any;

  /** Counts of what this Srf holds (dialogs, pending transactions), for leak checks and metrics. */
  stats(): Promise<Srf.SrfStats>;

  /**
   * Where dialogs and their `session` data are kept (seed 003): a `Srf.RedisStore` lets another
   * process take a call over when this one dies; null (the default) keeps nothing. Set it
   * before calls arrive.
   */
  sessionStore: Srf.SessionStore | null;

  /**
   * Connects to a drachtio server; reconnects automatically. `cb` is added as a `connect`
   * listener, so it runs on every (re)connection. Returns the Srf (not a Promise).
   */
  connect(opts: Srf.ConnectOptions, cb?: Srf.ConnectCallback): this;
  /** Starts the embedded, in-process SIP engine (no drachtio server). */
  connect(opts: Srf.EmbeddedConnectOptions, cb?: Srf.ConnectCallback): this;
  /** @deprecated `secret` is required */
  connect(opts: Srf.SrfConfig, cb?: Srf.ConnectCallback): this;

  /**
   * Outbound mode: drachtio servers connect to this app (their request handler routes calls
   * here); each connection is a session of its own, and everything about a request (its
   * responses, its dialogs' requests) goes back on it. `cb` is added as a `listening` listener;
   * `connect` fires once per authenticated session. Returns the listening server: `opts.server`
   * when given, else a net.Server whose listening socket the native side owns (address(),
   * close(cb), listening, getConnections(cb) and its events work). An Srf uses either
   * connect() or listen(): calling the other throws.
   */
  listen(opts: Srf.ListenOptions, cb?: () => void): net.Server;
  /** @deprecated `secret` is required */
  listen(opts: Srf.SrfConfig, cb?: () => void): net.Server;
  /**
   * Listen mode: stops accepting connections (open sessions carry on); `cb` once the last has
   * ended. drachtio-srf apps reach it as `srf.app.close()`.
   */
  close(cb?: (err?: Error) => void): this;

  /**
   * Closes the connection (no reconnect); a no-op when not connected. Listen mode: stops
   * listening and ends every session, or given a session (`req.socket`) ends just that one.
   */
  disconnect(socket?: net.Socket): void;
  /**
   * Listen mode: ends the session (server connection) a request or response came on, once
   * what was sent on it is confirmed; a no-op in connect mode.
   */
  endSession(msg?: Srf.SrfRequest | Srf.SrfResponse): void;

  /**
   * Appends middleware for all methods: functions, sub-apps (`{handle(req, res, next)}`) and
   * arrays of them. Error handlers (4 parameters) need their parameters annotated when written
   * inline (or a `Srf.ErrorMiddleware` type).
   */
  use(fn: Srf.Middleware | ReadonlyArray<Srf.Middleware>, ...fns: Array<Srf.Middleware | ReadonlyArray<Srf.Middleware>>): this;
  use(fn: Srf.MiddlewareArg, ...fns: Srf.MiddlewareArg[]): this;
  /** Appends middleware for one method (any case; routed lower-case). */
  use(method: Srf.SipVerb | Srf.SipMethod | (string & {}), fn: Srf.Middleware | ReadonlyArray<Srf.Middleware>, ...fns: Array<Srf.Middleware | ReadonlyArray<Srf.Middleware>>): this;
  use(method: Srf.SipVerb | Srf.SipMethod | (string & {}), fn: Srf.MiddlewareArg, ...fns: Srf.MiddlewareArg[]): this;

  /** `use('invite', ...)`; likewise for the other methods */
  invite(fn: Srf.Middleware | ReadonlyArray<Srf.Middleware>, ...fns: Array<Srf.Middleware | ReadonlyArray<Srf.Middleware>>): this;
  invite(fn: Srf.MiddlewareArg, ...fns: Srf.MiddlewareArg[]): this;
  register(fn: Srf.Middleware | ReadonlyArray<Srf.Middleware>, ...fns: Array<Srf.Middleware | ReadonlyArray<Srf.Middleware>>): this;
  register(fn: Srf.MiddlewareArg, ...fns: Srf.MiddlewareArg[]): this;
  bye(fn: Srf.Middleware | ReadonlyArray<Srf.Middleware>, ...fns: Array<Srf.Middleware | ReadonlyArray<Srf.Middleware>>): this;
  bye(fn: Srf.MiddlewareArg, ...fns: Srf.MiddlewareArg[]): this;
  cancel(fn: Srf.Middleware | ReadonlyArray<Srf.Middleware>, ...fns: Array<Srf.Middleware | ReadonlyArray<Srf.Middleware>>): this;
  cancel(fn: Srf.MiddlewareArg, ...fns: Srf.MiddlewareArg[]): this;
  ack(fn: Srf.Middleware | ReadonlyArray<Srf.Middleware>, ...fns: Array<Srf.Middleware | ReadonlyArray<Srf.Middleware>>): this;
  ack(fn: Srf.MiddlewareArg, ...fns: Srf.MiddlewareArg[]): this;
  info(fn: Srf.Middleware | ReadonlyArray<Srf.Middleware>, ...fns: Array<Srf.Middleware | ReadonlyArray<Srf.Middleware>>): this;
  info(fn: Srf.MiddlewareArg, ...fns: Srf.MiddlewareArg[]): this;
  notify(fn: Srf.Middleware | ReadonlyArray<Srf.Middleware>, ...fns: Array<Srf.Middleware | ReadonlyArray<Srf.Middleware>>): this;
  notify(fn: Srf.MiddlewareArg, ...fns: Srf.MiddlewareArg[]): this;
  options(fn: Srf.Middleware | ReadonlyArray<Srf.Middleware>, ...fns: Array<Srf.Middleware | ReadonlyArray<Srf.Middleware>>): this;
  options(fn: Srf.MiddlewareArg, ...fns: Srf.MiddlewareArg[]): this;
  prack(fn: Srf.Middleware | ReadonlyArray<Srf.Middleware>, ...fns: Array<Srf.Middleware | ReadonlyArray<Srf.Middleware>>): this;
  prack(fn: Srf.MiddlewareArg, ...fns: Srf.MiddlewareArg[]): this;
  publish(fn: Srf.Middleware | ReadonlyArray<Srf.Middleware>, ...fns: Array<Srf.Middleware | ReadonlyArray<Srf.Middleware>>): this;
  publish(fn: Srf.MiddlewareArg, ...fns: Srf.MiddlewareArg[]): this;
  refer(fn: Srf.Middleware | ReadonlyArray<Srf.Middleware>, ...fns: Array<Srf.Middleware | ReadonlyArray<Srf.Middleware>>): this;
  refer(fn: Srf.MiddlewareArg, ...fns: Srf.MiddlewareArg[]): this;
  subscribe(fn: Srf.Middleware | ReadonlyArray<Srf.Middleware>, ...fns: Array<Srf.Middleware | ReadonlyArray<Srf.Middleware>>): this;
  subscribe(fn: Srf.MiddlewareArg, ...fns: Srf.MiddlewareArg[]): this;
  update(fn: Srf.Middleware | ReadonlyArray<Srf.Middleware>, ...fns: Array<Srf.Middleware | ReadonlyArray<Srf.Middleware>>): this;
  update(fn: Srf.MiddlewareArg, ...fns: Srf.MiddlewareArg[]): this;
  message(fn: Srf.Middleware | ReadonlyArray<Srf.Middleware>, ...fns: Array<Srf.Middleware | ReadonlyArray<Srf.Middleware>>): this;
  message(fn: Srf.MiddlewareArg, ...fns: Srf.MiddlewareArg[]): this;

  /**
   * Sends a request outside a dialog. Resolves (or calls back) with the request as sent;
   * responses arrive as its `response` events.
   */
  request(uri: string, opts: Srf.RequestOptions): Promise<Srf.SrfRequest>;
  request(uri: string, opts: Srf.RequestOptions, cb: Srf.RequestCallback): this;
  request(opts: Srf.RequestOptions & { uri: string }): Promise<Srf.SrfRequest>;
  request(opts: Srf.RequestOptions & { uri: string }, cb: Srf.RequestCallback): this;
  /** listen mode: send on a given connection */
  request(socket: net.Socket, uri: string, opts: Srf.RequestOptions): Promise<Srf.SrfRequest>;
  request(socket: net.Socket, uri: string, opts: Srf.RequestOptions, cb: Srf.RequestCallback): this;

  /**
   * Answers an INVITE (200) or SUBSCRIBE (202) and resolves with the Dialog as soon as the
   * response is sent (not when the ACK arrives). Rejects when the request has no Contact, or
   * with `SipError(487)` when the caller cancelled first.
   */
  createUAS(req: Srf.SrfRequest, res: Srf.SrfResponse, opts?: Srf.CreateUASOptions): Promise<Srf.Dialog>;
  createUAS(req: Srf.SrfRequest, res: Srf.SrfResponse, cb: Srf.DialogCallback): this;
  createUAS(req: Srf.SrfRequest, res: Srf.SrfResponse, opts: Srf.CreateUASOptions | undefined, cb: Srf.DialogCallback): this;

  /**
   * Sends an INVITE (or SUBSCRIBE) and resolves with the Dialog when answered (the ACK is
   * sent); rejects with a SipError (with `.res`) on failure, 487 when cancelled. With
   * `noAck: true` and no `localSdp` (3pcc) a 200 carrying an offer resolves with a
   * {@link Srf.UacNoAckResult} instead: the app ACKs with its answer.
   */
  createUAC(uri: string, opts: Srf.CreateUACOptions & Srf.UacNoAckOptions, progress?: Srf.UacProgressCallbacks): Promise<Srf.Dialog | Srf.UacNoAckResult>;
  createUAC(uri: string, opts?: Srf.CreateUACOptions, progress?: Srf.UacProgressCallbacks): Promise<Srf.Dialog>;
  createUAC(opts: Srf.CreateUACOptions & Srf.UacNoAckOptions & { uri: string }, progress?: Srf.UacProgressCallbacks): Promise<Srf.Dialog | Srf.UacNoAckResult>;
  createUAC(opts: Srf.CreateUACOptions & { uri: string }, progress?: Srf.UacProgressCallbacks): Promise<Srf.Dialog>;
  createUAC(uri: string, opts: Srf.CreateUACOptions & Srf.UacNoAckOptions, cb: Srf.UacResultCallback): this;
  createUAC(uri: string, opts: Srf.CreateUACOptions & Srf.UacNoAckOptions, progress: Srf.UacProgressCallbacks | undefined, cb: Srf.UacResultCallback): this;
  createUAC(uri: string, opts: Srf.CreateUACOptions | undefined, cb: Srf.DialogCallback): this;
  createUAC(uri: string, opts: Srf.CreateUACOptions | undefined, progress: Srf.UacProgressCallbacks | undefined, cb: Srf.DialogCallback): this;
  createUAC(opts: Srf.CreateUACOptions & Srf.UacNoAckOptions & { uri: string }, cb: Srf.UacResultCallback): this;
  createUAC(opts: Srf.CreateUACOptions & Srf.UacNoAckOptions & { uri: string }, progress: Srf.UacProgressCallbacks | undefined, cb: Srf.UacResultCallback): this;
  createUAC(opts: Srf.CreateUACOptions & { uri: string }, cb: Srf.DialogCallback): this;
  createUAC(opts: Srf.CreateUACOptions & { uri: string }, progress: Srf.UacProgressCallbacks | undefined, cb: Srf.DialogCallback): this;
  /** legacy positional progress callbacks: `(uri, opts, cbRequest, cbProvisional, cb)` */
  createUAC(uri: string, opts: Srf.CreateUACOptions & Srf.UacNoAckOptions, cbRequest: Srf.UacProgressCallbacks['cbRequest'], cbProvisional: Srf.UacProgressCallbacks['cbProvisional'], cb: Srf.UacResultCallback): this;
  createUAC(uri: string, opts: Srf.CreateUACOptions | undefined, cbRequest: Srf.UacProgressCallbacks['cbRequest'], cbProvisional: Srf.UacProgressCallbacks['cbProvisional'], cb: Srf.DialogCallback): this;
  createUAC(opts: Srf.CreateUACOptions & { uri: string }, cbRequest: Srf.UacProgressCallbacks['cbRequest'], cbProvisional: Srf.UacProgressCallbacks['cbProvisional'], cb: Srf.DialogCallback): this;

  /**
   * Back-to-back user agent: places a call to `uri` (the B leg, with A's offer) and answers
   * `req` (the A leg) once B answers; relays B's provisional responses and, by default, its
   * failure. Resolves with both dialogs when A's 200 is sent; rejects with B's SipError (or
   * `SipError(487)` when A cancelled). An INVITE from A without SDP (or `noAck: true`) takes
   * the 3pcc path: B's offer goes to A, A's answer from its ACK to B.
   */
  createB2BUA(req: Srf.SrfRequest, res: Srf.SrfResponse, uri: string, opts?: Srf.CreateB2BUAOptions, progress?: Srf.B2BUAProgressCallbacks): Promise<Srf.B2BUAResult>;
  createB2BUA(req: Srf.SrfRequest, res: Srf.SrfResponse, opts: Srf.CreateB2BUAOptions & { uri: string }, progress?: Srf.B2BUAProgressCallbacks): Promise<Srf.B2BUAResult>;
  createB2BUA(req: Srf.SrfRequest, res: Srf.SrfResponse, uri: string, cb: Srf.B2BUACallback): this;
  createB2BUA(req: Srf.SrfRequest, res: Srf.SrfResponse, uri: string, opts: Srf.CreateB2BUAOptions | undefined, cb: Srf.B2BUACallback): this;
  createB2BUA(req: Srf.SrfRequest, res: Srf.SrfResponse, uri: string, opts: Srf.CreateB2BUAOptions | undefined, progress: Srf.B2BUAProgressCallbacks | undefined, cb: Srf.B2BUACallback): this;
  createB2BUA(req: Srf.SrfRequest, res: Srf.SrfResponse, opts: Srf.CreateB2BUAOptions & { uri: string }, cb: Srf.B2BUACallback): this;
  createB2BUA(req: Srf.SrfRequest, res: Srf.SrfResponse, opts: Srf.CreateB2BUAOptions & { uri: string }, progress: Srf.B2BUAProgressCallbacks | undefined, cb: Srf.B2BUACallback): this;
  /** legacy positional progress callbacks: `(req, res, uri, opts, cbRequest, cbProvisional, cb)` */
  createB2BUA(req: Srf.SrfRequest, res: Srf.SrfResponse, uri: string, opts: Srf.CreateB2BUAOptions | undefined, cbRequest: Srf.UacProgressCallbacks['cbRequest'], cbProvisional: Srf.UacProgressCallbacks['cbProvisional'], cb: Srf.B2BUACallback): this;

  /**
   * Proxies an incoming request to `destination` (default: its Request-URI). Needs a drachtio
   * server (`serve` or drachtio-server): the embedded engine does not proxy yet.
   */
  proxyRequest(req: Srf.SrfRequest, destination?: string | string[], opts?: Srf.ProxyRequestOptions): Promise<Srf.ProxyResult>;
  proxyRequest(req: Srf.SrfRequest, destination: string | string[] | undefined, cb: Srf.Callback<[err: Error | null, result: Srf.ProxyResult]>): this;
  proxyRequest(req: Srf.SrfRequest, destination: string | string[] | undefined, opts: Srf.ProxyRequestOptions | undefined, cb: Srf.Callback<[err: Error | null, result: Srf.ProxyResult]>): this;

  /**
   * The dialog-dispatch middleware `(req, res, next)`: the constructor installed it as the
   * first layer already (requests inside a known Dialog go to it). `opts` is ignored.
   */
  dialog(opts?: object): Srf.Middleware;
  /** The Dialog with this server dialog id (`<Call-ID>;from-tag=<tag>`), or undefined. */
  findDialogById(stackDialogId: string): Srf.Dialog | undefined;
  /** The Dialog with id `<callId>;from-tag=<tag>` (`tag`: the From tag of the dialog-forming request). */
  findDialogByCallIDAndFromTag(callId: string, tag: string): Srf.Dialog | undefined;
  /** Registers a Dialog under its `id` (the recipes do this). */
  addDialog(dialog: Srf.Dialog): void;
  /** Forgets a Dialog (destroy and a BYE do this). */
  removeDialog(dialog: Srf.Dialog): void;
  /**
   * Stops routing new `verb` requests to this app (`remove_route`; the others stay routed).
   * Throws if `verb` is not routed to it now.
   */
  unregisterForMessages(verb: Srf.SipVerb | Srf.SipMethod | (string & {})): void;
  /** Routes `verb` to this app again (`route`). Throws if it is routed already. */
  reregisterForMessages(verb: Srf.SipVerb | Srf.SipMethod | (string & {})): void;

  on<K extends keyof Srf.SrfEvents>(event: K, listener: (...args: Srf.SrfEvents[K]) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once<K extends keyof Srf.SrfEvents>(event: K, listener: (...args: Srf.SrfEvents[K]) => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
  addListener<K extends keyof Srf.SrfEvents>(event: K, listener: (...args: Srf.SrfEvents[K]) => void): this;
  addListener(event: string | symbol, listener: (...args: any[]) => void): this;
  prependListener<K extends keyof Srf.SrfEvents>(event: K, listener: (...args: Srf.SrfEvents[K]) => void): this;
  prependListener(event: string | symbol, listener: (...args: any[]) => void): this;
  prependOnceListener<K extends keyof Srf.SrfEvents>(event: K, listener: (...args: Srf.SrfEvents[K]) => void): this;
  prependOnceListener(event: string | symbol, listener: (...args: any[]) => void): this;
  off<K extends keyof Srf.SrfEvents>(event: K, listener: (...args: Srf.SrfEvents[K]) => void): this;
  off(event: string | symbol, listener: (...args: any[]) => void): this;
  removeListener<K extends keyof Srf.SrfEvents>(event: K, listener: (...args: Srf.SrfEvents[K]) => void): this;
  removeListener(event: string | symbol, listener: (...args: any[]) => void): this;
}

export = Srf;
