//! Parse errors: small `Copy` values that say what is wrong, where (byte offset into the
//! message) and, for header problems, which header. No allocation on the error path.

use super::header::HeaderName;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Not enough bytes yet (stream framing); the caller should read more.
    Incomplete,
    /// The message exceeds the configured size limit.
    TooLarge,
    TooManyHeaders,
    HeaderLineTooLong,
    BadStartLine(&'static str),
    /// A SIP version other than 2.0 (RFC 3261 §8.2.2: answer 505).
    VersionNotSupported,
    BadHeaderName,
    MissingColon,
    BadContentLength,
    DuplicateContentLength,
    /// Stream transports must carry Content-Length (RFC 3261 §18.3).
    MissingContentLength,
    BodyShorterThanContentLength,
    /// A header that may appear once appears more than once (RFC 4475 §3.3.8).
    DuplicateHeader,
    /// Required headers are absent; the mask is over `REQUIRED` in validate.rs.
    MissingHeaders(u8),
    BadHeaderValue(&'static str),
    CSeqMethodMismatch,
    BadRequestUri(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    pub kind: ErrorKind,
    /// Byte offset into the message where the problem was found.
    pub at: usize,
    pub header: Option<HeaderName>,
}

impl ParseError {
    pub(crate) fn new(kind: ErrorKind, at: usize) -> Self {
        ParseError { kind, at, header: None }
    }

    pub(crate) fn in_header(kind: ErrorKind, at: usize, header: HeaderName) -> Self {
        ParseError { kind, at, header: Some(header) }
    }

    pub fn is_incomplete(&self) -> bool {
        self.kind == ErrorKind::Incomplete
    }

    /// The SIP status a UAS should answer with when a request fails this way.
    pub fn status(&self) -> u16 {
        match self.kind {
            ErrorKind::VersionNotSupported => 505,
            ErrorKind::TooLarge => 513,
            _ => 400,
        }
    }

    /// A short reason phrase for a 400 response (no offsets, safe to put on the wire).
    pub fn reason(&self) -> String {
        match self.header {
            Some(h) => format!("Bad {} header: {}", h.as_str(), self.kind),
            None => self.kind.to_string(),
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Incomplete => f.write_str("incomplete message"),
            ErrorKind::TooLarge => f.write_str("message too large"),
            ErrorKind::TooManyHeaders => f.write_str("too many headers"),
            ErrorKind::HeaderLineTooLong => f.write_str("header line too long"),
            ErrorKind::BadStartLine(why) => write!(f, "malformed start line: {why}"),
            ErrorKind::VersionNotSupported => f.write_str("unsupported SIP version"),
            ErrorKind::BadHeaderName => f.write_str("malformed header name"),
            ErrorKind::MissingColon => f.write_str("header line without a colon"),
            ErrorKind::BadContentLength => f.write_str("Content-Length is not a number"),
            ErrorKind::DuplicateContentLength => f.write_str("more than one Content-Length"),
            ErrorKind::MissingContentLength => f.write_str("missing Content-Length on a stream"),
            ErrorKind::BodyShorterThanContentLength => f.write_str("body shorter than Content-Length"),
            ErrorKind::DuplicateHeader => f.write_str("header may appear only once"),
            ErrorKind::MissingHeaders(mask) => {
                f.write_str("missing required header(s):")?;
                for name in super::validate::missing_names(*mask) {
                    write!(f, " {name}")?;
                }
                Ok(())
            }
            ErrorKind::BadHeaderValue(why) => f.write_str(why),
            ErrorKind::CSeqMethodMismatch => f.write_str("CSeq method does not match request method"),
            ErrorKind::BadRequestUri(why) => write!(f, "malformed Request-URI: {why}"),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.header {
            Some(h) => write!(f, "{} header at byte {}: {}", h.as_str(), self.at, self.kind),
            None => write!(f, "{} at byte {}", self.kind, self.at),
        }
    }
}

impl std::error::Error for ParseError {}
