//! Message parsing for JS: the index of byte offsets that lib/message.js decodes lazily.

use crate::sip::{self, Framing, HeaderName, Limits};
use napi_derive::napi;

fn parse_error(e: sip::ParseError) -> napi::Error {
    napi::Error::new(napi::Status::InvalidArg, format!("failed to parse sip message: {e}"))
}

/// A JS Uint32Array borrowed for the duration of one call. The alias makes napi-derive read it
/// by value (a borrowed view of the array's memory) rather than as a `&mut` to a Rust object.
type IndexOut<'a> = &'a mut [u32];

/// Parses one SIP message and writes its index (see `sip::index` for the layout) into `out`,
/// returning the number of words written. JS passes a reusable scratch array: creating a typed
/// array on the Rust side costs several times the parse itself. `stream` selects TCP framing
/// (Content-Length required); otherwise the buffer is one datagram.
#[napi(ts_args_type = "buf: Uint8Array, out: Uint32Array, stream?: boolean")]
pub fn parse_message(buf: &[u8], out: IndexOut<'_>, stream: Option<bool>) -> napi::Result<u32> {
    let framing = if stream.unwrap_or(false) { Framing::Stream } else { Framing::Datagram };
    let msg = sip::parse(buf, framing, &Limits::default()).map_err(parse_error)?;
    msg.write_index(out).map(|n| n as u32).ok_or_else(|| {
        napi::Error::new(napi::Status::InvalidArg, format!("index needs more than {} words", out.len()))
    })
}

/// Why a message failed validation: the response a UAS should send, and the detail.
#[napi(object)]
pub struct ValidationFailure {
    pub status: u32,
    pub reason: String,
    pub message: String,
}

/// Checks a message the way the engine does before acting on it: `null` when it is valid.
#[napi]
pub fn validate_message(buf: &[u8]) -> Option<ValidationFailure> {
    let failure = |e: sip::ParseError| ValidationFailure {
        status: u32::from(e.status()),
        reason: e.reason(),
        message: e.to_string(),
    };
    match sip::parse(buf, Framing::Datagram, &Limits::default()) {
        Ok(msg) => sip::validate::validate(&msg).err().map(failure),
        Err(e) => Some(failure(e)),
    }
}

/// The known header names, indexed by the ids in the message index, each with its compact
/// form ('' when none), so JS and Rust share one table.
#[napi]
pub fn header_table() -> Vec<Vec<String>> {
    let mut table = vec![vec![String::new(), String::new()]];
    for (h, canon, compact) in HeaderName::TABLE {
        debug_assert_eq!(usize::from(h.id()), table.len());
        let compact = if *compact == 0 { String::new() } else { char::from(*compact).to_string() };
        table.push(vec![(*canon).to_string(), compact]);
    }
    table
}

/// The index layout version, and the most words one message's index can take.
#[napi]
pub fn index_layout() -> Vec<u32> {
    let max_words = sip::FIXED_WORDS + sip::HEADER_WORDS * Limits::default().max_headers;
    vec![sip::LAYOUT_VERSION, max_words as u32]
}
