//! Message validation beyond framing: what a transaction layer needs to trust before acting
//! on a message (RFC 3261 §8.2, §16.3, RFC 4475 §3.1.2 and §3.3). Framing (parser.rs) stays
//! lenient so JavaScript can inspect odd messages; the engine calls `validate` before it
//! creates a transaction and answers 400 (or 505) with `ParseError::reason` when it fails.

use super::error::{ErrorKind, ParseError};
use super::header::HeaderName;
use super::lex::{parse_bounded, split_commas, trim_lws};
use super::message::{parse_cseq, unfold, HeaderEntry, Message};
use super::name_addr::{parse_contacts, NameAddr};
use super::uri::Uri;
use super::via;

/// Headers every request and response must carry (§8.1.1), as bits of the missing mask.
const REQUIRED: [HeaderName; 5] =
    [HeaderName::To, HeaderName::From, HeaderName::CallId, HeaderName::CSeq, HeaderName::Via];
pub(crate) const MISSING_CSEQ: u8 = 1 << 3;

/// Headers that may appear at most once (RFC 4475 §3.3.8: never pick one silently).
const SINGLE: [HeaderName; 5] =
    [HeaderName::To, HeaderName::From, HeaderName::CallId, HeaderName::CSeq, HeaderName::MaxForwards];

const U32_MAX: u64 = u32::MAX as u64;

pub(crate) fn missing_names(mask: u8) -> impl Iterator<Item = &'static str> {
    REQUIRED.iter().enumerate().filter(move |(i, _)| mask & (1 << i) != 0).map(|(_, h)| h.as_str())
}

pub fn validate(msg: &Message<'_>) -> Result<(), ParseError> {
    validate_with(msg, true)
}

/// `validate` without the Request-URI check: for a request whose dialog identifies it (some
/// peers send in-dialog requests to a bare `sip:`, and drachtio-server accepts them).
pub fn validate_except_request_uri(msg: &Message<'_>) -> Result<(), ParseError> {
    validate_with(msg, false)
}

fn validate_with(msg: &Message<'_>, check_uri: bool) -> Result<(), ParseError> {
    if !msg.is_sip_2_0() {
        return Err(ParseError::new(ErrorKind::VersionNotSupported, msg.start_line_range().0));
    }
    let mut seen = [0u8; 64];
    for h in msg.headers() {
        let slot = &mut seen[usize::from(h.name.id()) % 64];
        *slot = slot.saturating_add(1);
        if *slot > 1 && SINGLE.contains(&h.name) {
            return Err(ParseError::in_header(ErrorKind::DuplicateHeader, h.name_range.0 as usize, h.name));
        }
    }
    let missing = REQUIRED
        .iter()
        .enumerate()
        .filter(|(_, h)| seen[usize::from(h.id())] == 0)
        .fold(0u8, |mask, (i, _)| mask | (1 << i));
    if missing != 0 {
        return Err(ParseError::new(ErrorKind::MissingHeaders(missing), msg.start_line_range().1));
    }
    if let (true, Some(method), Some(uri)) = (check_uri, msg.method(), msg.request_uri()) {
        check_request_uri(uri, msg.start_line_range().0 + method.len() + 1)?;
    }
    for h in msg.headers() {
        check_header(msg, h)?;
    }
    Ok(())
}

fn check_request_uri(uri: &[u8], at: usize) -> Result<(), ParseError> {
    let parsed = Uri::parse(uri).map_err(|why| ParseError::new(ErrorKind::BadRequestUri(why), at))?;
    // URI headers make no sense in a Request-URI (RFC 3261 §19.1.5, RFC 4475 §3.1.2.11).
    if parsed.as_sip().is_some_and(|u| u.headers.is_some()) {
        return Err(ParseError::new(ErrorKind::BadRequestUri("headers are not allowed in a Request-URI"), at));
    }
    Ok(())
}

fn check_header(msg: &Message<'_>, h: &HeaderEntry) -> Result<(), ParseError> {
    let v = msg.raw_value(h);
    let at = h.value.0 as usize;
    let bad = |why: &'static str| ParseError::in_header(ErrorKind::BadHeaderValue(why), at, h.name);
    match h.name {
        HeaderName::CSeq => {
            let cseq = parse_cseq(v).ok_or(bad("expected a 32-bit sequence number and a method"))?;
            if msg.method().is_some_and(|m| m != cseq.method) {
                return Err(ParseError::in_header(ErrorKind::CSeqMethodMismatch, at, h.name));
            }
        }
        HeaderName::MaxForwards => {
            parse_bounded(trim_lws(v), 255).ok_or(bad("Max-Forwards must be a number from 0 to 255"))?;
        }
        HeaderName::Expires | HeaderName::MinExpires => {
            parse_bounded(trim_lws(v), U32_MAX).ok_or(bad("expected a 32-bit number of seconds"))?;
        }
        HeaderName::RetryAfter => {
            let digits = v.iter().take_while(|b| b.is_ascii_digit()).count();
            parse_bounded(&v[..digits], U32_MAX).ok_or(bad("expected a 32-bit number of seconds"))?;
        }
        HeaderName::Via => {
            for one in via::parse_list(v) {
                one.map_err(bad)?;
            }
        }
        HeaderName::From | HeaderName::To => {
            NameAddr::parse(v).map_err(bad)?;
        }
        HeaderName::Contact => {
            for contact in parse_contacts(v).map_err(bad)?.unwrap_or_default() {
                if let Some(expires) = contact.param(b"expires").flatten() {
                    parse_bounded(expires, U32_MAX).ok_or(bad("expires parameter out of range"))?;
                }
            }
        }
        HeaderName::Warning => {
            for w in split_commas(v) {
                check_warning(trim_lws(w)).ok_or(bad("expected a 3-digit warn-code, agent and text"))?;
            }
        }
        HeaderName::Date
            // SIP-date is RFC 1123 in GMT only (RFC 3261 §20.17, RFC 4475 §3.1.2.12).
            if !unfold(v, h.folded).trim_end().ends_with(" GMT") => {
                return Err(bad("Date must be in GMT"));
            }
        _ => {}
    }
    Ok(())
}

/// `warning-value = warn-code SP warn-agent SP warn-text` (RFC 3261 §20.43).
fn check_warning(w: &[u8]) -> Option<()> {
    let code = w.get(..3)?;
    (code.iter().all(u8::is_ascii_digit) && w.get(3) == Some(&b' ')).then_some(())?;
    let rest = &w[4..];
    let sp = memchr::memchr(b' ', rest)?;
    let text = trim_lws(&rest[sp + 1..]);
    (sp > 0 && text.len() >= 2 && text[0] == b'"' && text[text.len() - 1] == b'"').then_some(())
}
