//! The drachtio control protocol between an application and a SIP server
//! (../shared/spec/wire-protocol.md): length-prefixed frames, `|`-separated leader tokens,
//! and an optional SIP message after CRLF. SIP text is opaque bytes here; this module never
//! imports `sip` and does no I/O.

mod frame;
mod message;

pub use frame::{encode_frame, FrameDecoder, FrameError, MAX_APP_FRAME, MAX_RECEIVE_FRAME};
pub use message::{AppMsg, CdrKind, ProxySpec, ReplyStatus, ServerMsg, SipMeta, WireError};
