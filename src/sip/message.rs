//! A parsed message: the input bytes plus an index of byte ranges. Nothing is copied; typed
//! views (CSeq, name-addr, Via, URIs) are parsed when asked for.

use super::error::{ErrorKind, ParseError};
use super::header::HeaderName;
use super::lex;
use std::borrow::Cow;

/// Byte range `(start, end)` into the message buffer. u32 keeps entries small and matches
/// the Uint32Array handed to JavaScript.
pub type Span = (u32, u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine {
    Request { method: Span, uri: Span },
    Response { status: u16, reason: Span },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderEntry {
    pub name: HeaderName,
    pub name_range: Span,
    /// The value with surrounding white space trimmed; folds inside are kept as written.
    pub value: Span,
    /// The value contains a line fold, so readers must unfold it.
    pub folded: bool,
}

#[derive(Debug, Clone)]
pub struct Message<'a> {
    buf: &'a [u8],
    msg_start: usize,
    start: StartLine,
    start_line_end: usize,
    headers: Vec<HeaderEntry>,
    body: (usize, usize),
    /// The start line names a SIP version other than 2.0 (answered with 505 by validation).
    other_version: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'a> {
    pub seq: u32,
    pub method: &'a [u8],
}

fn span(buf: &[u8], s: Span) -> &[u8] {
    &buf[s.0 as usize..s.1 as usize]
}

impl<'a> Message<'a> {
    pub(crate) fn from_parts(
        buf: &'a [u8],
        msg_start: usize,
        start: StartLine,
        start_line_end: usize,
        headers: Vec<HeaderEntry>,
        body_start: usize,
        body_end: usize,
    ) -> Self {
        Message { buf, msg_start, start, start_line_end, headers, body: (body_start, body_end), other_version: false }
    }

    pub(crate) fn set_other_version(&mut self, other: bool) {
        self.other_version = other;
    }

    /// False when the start line names a SIP version other than 2.0.
    pub fn is_sip_2_0(&self) -> bool {
        !self.other_version
    }

    /// The whole input buffer; every span indexes into it.
    pub fn buffer(&self) -> &'a [u8] {
        self.buf
    }

    /// Bytes consumed from the input, leading CRLFs included: the offset of the next message
    /// on a stream.
    pub fn len(&self) -> usize {
        self.body.1
    }

    pub fn is_empty(&self) -> bool {
        self.body.1 == 0
    }

    /// The message itself, from its start line to the end of its body.
    pub fn as_bytes(&self) -> &'a [u8] {
        &self.buf[self.msg_start..self.body.1]
    }

    pub fn start_line(&self) -> StartLine {
        self.start
    }

    pub fn start_line_range(&self) -> (usize, usize) {
        (self.msg_start, self.start_line_end)
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    pub fn method(&self) -> Option<&'a [u8]> {
        match self.start {
            StartLine::Request { method, .. } => Some(span(self.buf, method)),
            StartLine::Response { .. } => None,
        }
    }

    pub fn request_uri(&self) -> Option<&'a [u8]> {
        match self.start {
            StartLine::Request { uri, .. } => Some(span(self.buf, uri)),
            StartLine::Response { .. } => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { status, .. } => Some(status),
            StartLine::Request { .. } => None,
        }
    }

    pub fn reason(&self) -> Option<&'a [u8]> {
        match self.start {
            StartLine::Response { reason, .. } => Some(span(self.buf, reason)),
            StartLine::Request { .. } => None,
        }
    }

    pub fn headers(&self) -> &[HeaderEntry] {
        &self.headers
    }

    pub fn body_range(&self) -> (usize, usize) {
        self.body
    }

    pub fn body(&self) -> &'a [u8] {
        &self.buf[self.body.0..self.body.1]
    }

    /// The raw value bytes of an entry (folds not removed).
    pub fn raw_value(&self, entry: &HeaderEntry) -> &'a [u8] {
        span(self.buf, entry.value)
    }

    pub fn header_name_bytes(&self, entry: &HeaderEntry) -> &'a [u8] {
        span(self.buf, entry.name_range)
    }

    /// All raw values of a known header, in order.
    pub fn values(&self, name: HeaderName) -> impl Iterator<Item = (&HeaderEntry, &'a [u8])> + '_ {
        let buf = self.buf;
        self.headers.iter().filter(move |h| h.name == name).map(move |h| (h, span(buf, h.value)))
    }

    /// First raw value of a known header.
    pub fn header(&self, name: HeaderName) -> Option<&'a [u8]> {
        self.values(name).next().map(|(_, v)| v)
    }

    /// All raw values of a header given by its spelling (known or extension), case-insensitive.
    pub fn values_by_name<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a [u8]> + 's {
        let known = HeaderName::from_bytes(name.as_bytes());
        let buf = self.buf;
        self.headers
            .iter()
            .filter(move |h| match known {
                HeaderName::Other => {
                    h.name == HeaderName::Other && span(buf, h.name_range).eq_ignore_ascii_case(name.as_bytes())
                }
                k => h.name == k,
            })
            .map(move |h| span(buf, h.value))
    }

    /// First value of a header as text, unfolded and lossily decoded.
    pub fn header_str(&self, name: HeaderName) -> Option<Cow<'a, str>> {
        self.values(name).next().map(|(e, v)| unfold(v, e.folded))
    }

    pub fn call_id(&self) -> Option<&'a [u8]> {
        self.header(HeaderName::CallId)
    }

    pub fn cseq(&self) -> Result<CSeq<'a>, ParseError> {
        let (entry, v) = self
            .values(HeaderName::CSeq)
            .next()
            .ok_or(ParseError::new(ErrorKind::MissingHeaders(super::validate::MISSING_CSEQ), 0))?;
        parse_cseq(v).ok_or(ParseError::in_header(
            ErrorKind::BadHeaderValue("expected a 32-bit sequence number and a method"),
            entry.value.0 as usize,
            HeaderName::CSeq,
        ))
    }

    /// The `tag` parameter of From or To, if any.
    pub fn tag(&self, which: HeaderName) -> Option<&'a [u8]> {
        let v = self.header(which)?;
        super::params::find(super::name_addr::header_params(v), b"tag").flatten()
    }
}

/// Removes line folds (CRLF followed by white space becomes one SP, RFC 3261 §7.3.1).
pub fn unfold(v: &[u8], folded: bool) -> Cow<'_, str> {
    if !folded {
        return String::from_utf8_lossy(v);
    }
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if matches!(v[i], b'\r' | b'\n') {
            while i < v.len() && lex::is_lws(v[i]) {
                i += 1;
            }
            // Keep one SP unless the fold sits against existing white space.
            if out.last().is_some_and(|b: &u8| !matches!(b, b' ' | b'\t')) {
                out.push(b' ');
            }
            continue;
        }
        out.push(v[i]);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// `CSeq = 1*DIGIT LWS Method`, the number below 2^32 (RFC 3261 §20.16).
pub fn parse_cseq(v: &[u8]) -> Option<CSeq<'_>> {
    let digits_end = v.iter().position(|b| !b.is_ascii_digit()).unwrap_or(v.len());
    let seq = lex::parse_bounded(&v[..digits_end], u64::from(u32::MAX))? as u32;
    let m_start = lex::skip_lws(v, digits_end);
    if m_start == digits_end {
        return None;
    }
    let m_end = lex::token_end(v, m_start);
    if m_end == m_start || lex::skip_lws(v, m_end) != v.len() {
        return None;
    }
    Some(CSeq { seq, method: &v[m_start..m_end] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfolds() {
        assert_eq!(unfold(b"a\r\n b", true), "a b");
        assert_eq!(unfold(b"a \r\n\t b", true), "a b");
        assert_eq!(unfold(b"a", false), "a");
    }

    #[test]
    fn cseq() {
        assert_eq!(parse_cseq(b"0009\r\n  INVITE"), Some(CSeq { seq: 9, method: b"INVITE" }));
        assert_eq!(parse_cseq(b"36893488147419103232 INVITE"), None);
        assert_eq!(parse_cseq(b"1INVITE"), None);
        assert_eq!(parse_cseq(b"1 INVITE x"), None);
    }
}
