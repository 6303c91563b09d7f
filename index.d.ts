// Type definitions for drachtio-srf-rs: a superset of drachtio-srf's own typings, corrected
// where those are wrong (see README, "Differences from drachtio-srf").
/// <reference types="node" />
import { EventEmitter } from 'node:events';

declare namespace Srf {
  /** Result of parseUri for sip: and sips: URIs. */
  interface SipUri {
    family: 'ipv4' | 'ipv6';
    scheme: 'sip' | 'sips';
    user: string | undefined;
    password: string | undefined;
    host: string;
    /** NaN when the URI has no port, as in drachtio-srf. */
    port: number;
    params: Record<string, string | null>;
    headers: Record<string, string>;
  }
  /** Result of parseUri for tel: URIs. */
  interface TelUri {
    scheme: 'tel';
    number: string;
    context: string | undefined;
    params: Record<string, string | null>;
  }
  type ParseUriResult = SipUri | TelUri;

  /** To, From, Contact, Refer-To, P-Asserted-Identity ... as getParsedHeader returns them. */
  interface AOR {
    name: string | undefined;
    uri: string;
    params: Record<string, string | undefined>;
  }
  interface Via {
    version: string;
    protocol: string;
    host: string;
    port: number | undefined;
    params: Record<string, string | undefined>;
  }
  interface CSeq {
    seq: number;
    method: string;
  }
  interface RouteEntry {
    name: string | undefined;
    uri: ParseUriResult | undefined;
    params: Record<string, string | undefined>;
  }
  type AuthHeader = Array<{ scheme: string } & Record<string, string>>;

  interface ParsedHeaders {
    from: AOR; f: AOR;
    to: AOR; t: AOR;
    'refer-to': AOR; 'referred-by': AOR; 'p-asserted-identity': AOR; 'remote-party-id': AOR;
    contact: AOR[]; m: AOR[];
    via: Via[]; v: Via[];
    cseq: CSeq;
    'content-length': number; l: number;
    route: RouteEntry[]; 'record-route': RouteEntry[]; path: RouteEntry[];
    'www-authenticate': AuthHeader; 'proxy-authenticate': AuthHeader;
    authorization: AuthHeader; 'proxy-authorization': AuthHeader;
    'authentication-info': Record<string, string>;
  }

  interface Payload {
    type: string | null | undefined;
    content: string;
  }

  interface SipMessageOptions {
    method?: string;
    uri?: string;
    version?: string;
    status?: number;
    reason?: string;
    headers?: Record<string, string>;
    body?: string;
    payload?: Payload[];
  }

  class SipMessage {
    /** Parses raw SIP text (throws `Error('failed to parse sip message')`), or builds from parts. */
    constructor(msg?: string | Buffer | SipMessageOptions);
    method: string | undefined;
    uri: string | undefined;
    version: string | undefined;
    status: number | undefined;
    reason: string | undefined;
    headers: Record<string, string>;
    body: string;
    payload: Payload[];
    raw: string;
    readonly type: 'request' | 'response' | 'unknown';
    readonly calledNumber: string;
    readonly callingNumber: string;
    readonly callingName: string;
    readonly canFormDialog: boolean;
    get(name: string): string | undefined;
    has(name: string): boolean;
    getHeaderName(name: string): string | undefined;
    set(name: string, value: string): this;
    set(headers: Record<string, string>): this;
    getParsedHeader<K extends string>(name: K): K extends keyof ParsedHeaders
      ? ParsedHeaders[K]
      : Lowercase<K> extends keyof ParsedHeaders ? ParsedHeaders[Lowercase<K>] : string;
    toString(): string;
  }

  /** Properties shared by requests and responses, delegated to their SipMessage. */
  interface MessageView {
    headers: Record<string, string>;
    body: string;
    payload: Payload[];
    readonly raw: string;
    readonly type: 'request' | 'response' | 'unknown';
    get(name: string): string | undefined;
    has(name: string): boolean;
    getHeaderName(name: string): string | undefined;
    set(name: string, value: string): this;
    set(headers: Record<string, string>): this;
    getParsedHeader: SipMessage['getParsedHeader'];
  }

  class SrfRequest extends EventEmitter implements MessageView {
    msg: SipMessage;
    method: string;
    uri: string;
    readonly url: string;
    headers: Record<string, string>;
    body: string;
    payload: Payload[];
    readonly raw: string;
    readonly type: 'request' | 'response' | 'unknown';
    readonly callingNumber: string;
    readonly callingName: string;
    readonly calledNumber: string;
    readonly canFormDialog: boolean;
    readonly isNewInvite: boolean;
    source?: 'network' | 'application';
    source_address?: string;
    source_port?: number;
    protocol?: string;
    stackTime?: string;
    stackTxnId?: string;
    stackDialogId?: string;
    get(name: string): string | undefined;
    has(name: string): boolean;
    getHeaderName(name: string): string | undefined;
    set(name: string, value: string): this;
    set(headers: Record<string, string>): this;
    getParsedHeader: SipMessage['getParsedHeader'];
    toString(): string;
  }

  class SrfResponse extends EventEmitter implements MessageView {
    msg: SipMessage;
    status: number;
    statusCode: number;
    reason: string;
    headers: Record<string, string>;
    body: string;
    payload: Payload[];
    readonly raw: string;
    readonly type: 'request' | 'response' | 'unknown';
    finished: boolean;
    readonly finalResponseSent: boolean;
    readonly headersSent: boolean;
    get(name: string): string | undefined;
    has(name: string): boolean;
    getHeaderName(name: string): string | undefined;
    set(name: string, value: string): this;
    set(headers: Record<string, string>): this;
    getParsedHeader: SipMessage['getParsedHeader'];
    toString(): string;
  }

  class SipError extends Error {
    constructor(status: number, reason?: string);
    name: 'SipError';
    status: number;
    reason?: string;
    res?: SrfResponse;
  }

  type DialogStateValue = 'trying' | 'proceeding' | 'early' | 'confirmed' | 'terminated' | 'rejected' | 'cancelled';
}

declare class Srf extends EventEmitter {
  /** A tag, a list of tags, or connection options. */
  constructor(arg?: string | string[] | Record<string, unknown>);
  locals: Record<string, any>;
  tags: string[];
  set(key: string, value: unknown): this;
  get(key: string): any;

  static readonly SipError: typeof Srf.SipError;
  static readonly SipMessage: typeof Srf.SipMessage;
  static readonly SipRequest: typeof Srf.SrfRequest;
  static readonly SipResponse: typeof Srf.SrfResponse;
  static readonly parseUri: (uri: string | object) => Srf.ParseUriResult | undefined;
  static readonly stringifyUri: (uri: string | Partial<Srf.SipUri> | Partial<Srf.TelUri>) => string;
  static readonly DialogState: {
    readonly Trying: 'trying'; readonly Proceeding: 'proceeding'; readonly Early: 'early';
    readonly Confirmed: 'confirmed'; readonly Terminated: 'terminated'; readonly Rejected: 'rejected';
    readonly Cancelled: 'cancelled';
  };
  static readonly DialogDirection: { readonly Initiator: 'initiator'; readonly Recipient: 'recipient' };
}

export = Srf;
