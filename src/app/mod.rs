//! The internal interface between the JS-facing front and a backend (a drachtio-server
//! connection now; the embedded engine later). Shaped after the drachtio protocol's semantics,
//! which drachtio-srf apps already rely on, but typed. One ordered event stream carries both
//! traffic and command outcomes, so a reply (say, the echo of a sent 200 OK) always reaches JS
//! before the traffic that follows it (the ACK).

use crate::wire::{CdrKind, ProxySpec, ReplyStatus, SipMeta};
use bytes::Bytes;

/// Identifies a command so its outcome can be matched; chosen by the front (JS).
pub type CmdId = u32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Ask for new requests of this method (lower-case), or for `cdr:*` events. With `ack`,
    /// the backend answers with a `Reply` once the route is in force (serve answers the
    /// app's `route` frame only then, so a request sent after it reaches the app).
    Route { verb: String, ack: Option<CmdId> },
    RemoveRoute(String),
    /// A request or response. `txn_id` names the transaction being answered (or the INVITE
    /// being cancelled); `dialog_id` an existing dialog; both empty for a new request.
    /// `answer_bye`, on the 2xx that forms a dialog (UAS) or the ACK of one (UAC): the app's
    /// Dialog answers the far end's BYE with a plain 200 whatever happens, so the embedded
    /// engine may send that 200 itself and hand the app the BYE as already answered (txn id
    /// `unsolicited`). A drachtio server has no such option and ignores it.
    Sip { cmd: CmdId, txn_id: String, dialog_id: String, route_uri: Option<String>, raw: Vec<u8>, answer_bye: bool },
    Proxy { cmd: CmdId, txn_id: String, spec: ProxySpec, raw: Vec<u8> },
    /// What the backend holds, for leak checks and metrics: a `Reply` whose args count dialogs,
    /// server and client transactions, and the app's unanswered requests (the embedded
    /// engine; a drachtio-server connection answers NOK).
    Stats { cmd: CmdId },
    /// A dialog another process made, rebuilt from a session store (seed 003): the embedded
    /// engine takes it on; a drachtio server still holds its dialogs and ignores this.
    AdoptDialog(AdoptedDialog),
    Disconnect,
}

/// What the engine needs to go on with a dialog it did not make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdoptedDialog {
    pub id: String,
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
    /// Our From/To value (with our tag) and the far end's (with its tag).
    pub local_uri: String,
    pub remote_uri: String,
    pub remote_target: String,
    /// Route headers for our requests, in order.
    pub route_set: Vec<String>,
    /// The last CSeq we sent in it, when known.
    pub local_seq: Option<u32>,
    pub subscription: bool,
    /// The request that brought the dialog here, still to be answered (empty: none).
    pub txn_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Authenticated: the server's SIP addresses, its version, and its bound addresses.
    Connected { hostports: String, version: String, local_hostports: String },
    /// The server refused us (e.g. a wrong secret).
    AuthFailed { reason: String },
    /// A socket or protocol error; the connection is closed after it.
    Error { message: String },
    Closed,
    Reconnecting { delay_ms: u64, attempt: u32 },
    /// A SIP message from the server: a new or in-dialog request, or a response to ours.
    Sip { meta: SipMeta, raw: Bytes },
    /// The server's answer to a command; `more` when further answers follow (proxy).
    Reply { cmd: CmdId, status: ReplyStatus, args: Vec<String>, raw: Option<Vec<u8>>, more: bool },
    /// A command failed before the server could answer it.
    Failed { cmd: CmdId, code: FailureCode, reason: String },
    Cdr { kind: CdrKind, source: String, time: String, extra: Option<String>, raw: Vec<u8> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCode {
    NotConnected,
    ConnectionClosed,
    FrameTooLarge,
    Timeout,
    /// Too many commands queued for one connection (a server that stopped reading).
    Backpressure,
}

impl FailureCode {
    /// The stable `code` a JS Error carries.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::NotConnected => "ERR_NOT_CONNECTED",
            FailureCode::ConnectionClosed => "ERR_CONNECTION_CLOSED",
            FailureCode::FrameTooLarge => "ERR_FRAME_TOO_LARGE",
            FailureCode::Timeout => "ERR_TIMEOUT",
            FailureCode::Backpressure => "ERR_BACKPRESSURE",
        }
    }
}

/// Where a backend delivers its events. Implementations must not block for long: the front
/// applies its own bound (a full sink slows the backend down instead of growing memory).
pub trait EventSink: Send + Sync + 'static {
    fn emit(&self, event: Event) -> impl std::future::Future<Output = ()> + Send;
}
