//! Framing-level parse of one SIP message (RFC 3261 §7): the start line, an index of header
//! lines (byte ranges, never copies), and the body located by Content-Length. Header values
//! are interpreted later, on demand (message.rs, validate.rs).

use super::error::{ErrorKind, ParseError};
use super::header::HeaderName;
use super::message::{HeaderEntry, Message, StartLine};
use memchr::memchr;

/// How the bytes arrived, which decides what a missing or short Content-Length means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One UDP datagram: no Content-Length means the body runs to the end of the datagram, and
    /// bytes past Content-Length are discarded (RFC 3261 §18.3, RFC 4475 §3.1.1.8).
    Datagram,
    /// A byte stream (TCP/TLS): Content-Length is mandatory and bytes past it start the next
    /// message; too few bytes is `Incomplete`, not an error.
    Stream,
    /// The header section alone, of a message too large to take: Content-Length is not read
    /// and there is no body. Enough to answer it 513 (§21.5.14).
    Head,
}

/// Bounds on what one message may hold. Every limit is checked before the work it guards.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_message: usize,
    pub max_headers: usize,
    pub max_header_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // 64 KiB is the largest UDP payload; 128 headers fit every real message while bounding
        // adversarial ones. A line may be as long as the message allows: Identity and Call-Info
        // values beyond 8 KiB are real.
        Limits { max_message: 65_535, max_headers: 128, max_header_line: 65_535 }
    }
}

pub fn parse<'a>(buf: &'a [u8], framing: Framing, limits: &Limits) -> Result<Message<'a>, ParseError> {
    // Leading CRLFs before a start line are keep-alives or junk and are ignored (§7.5).
    let mut pos = 0;
    while pos < buf.len() && matches!(buf[pos], b'\r' | b'\n') {
        pos += 1;
    }
    let msg_start = pos;
    let limit_end = msg_start.saturating_add(limits.max_message);
    if framing == Framing::Datagram && buf.len() > limit_end {
        return Err(ParseError::new(ErrorKind::TooLarge, limit_end));
    }
    let incomplete_or_large = |at: usize| {
        if at >= limit_end {
            ParseError::new(ErrorKind::TooLarge, limit_end)
        } else {
            ParseError::new(ErrorKind::Incomplete, at)
        }
    };

    let Some(nl) = memchr(b'\n', &buf[pos..]).map(|n| pos + n) else {
        return Err(incomplete_or_large(buf.len()));
    };
    let line_end = if nl > pos && buf[nl - 1] == b'\r' { nl - 1 } else { nl };
    let (start, sip_2_0) = parse_start_line(buf, pos, line_end)?;
    let start_line_end = line_end;
    pos = nl + 1;

    let mut headers: Vec<HeaderEntry> = Vec::with_capacity(24);
    let mut content_length: Option<usize> = None;
    let body_start = loop {
        match buf.get(pos) {
            None => return Err(incomplete_or_large(pos)),
            Some(b'\n') => break pos + 1,
            Some(b'\r') => match buf.get(pos + 1) {
                Some(b'\n') => break pos + 2,
                None => return Err(incomplete_or_large(pos)),
                Some(_) => return Err(ParseError::new(ErrorKind::BadHeaderName, pos)),
            },
            Some(_) => {}
        }
        if pos >= limit_end {
            return Err(ParseError::new(ErrorKind::TooLarge, limit_end));
        }
        let (entry, next) = parse_header_line(buf, pos, limits)?;
        if headers.len() == limits.max_headers {
            return Err(ParseError::new(ErrorKind::TooManyHeaders, pos));
        }
        if entry.name == HeaderName::ContentLength && framing != Framing::Head {
            if content_length.is_some() {
                return Err(ParseError::in_header(ErrorKind::DuplicateContentLength, pos, entry.name));
            }
            let value = &buf[entry.value.0 as usize..entry.value.1 as usize];
            let n = super::lex::parse_bounded(value, limits.max_message as u64).ok_or_else(|| {
                // A well-formed length past the limit announces a message too large (513).
                let kind = if !value.is_empty() && value.iter().all(u8::is_ascii_digit) { ErrorKind::TooLarge } else { ErrorKind::BadContentLength };
                ParseError::in_header(kind, entry.value.0 as usize, entry.name)
            })?;
            content_length = Some(n as usize);
        }
        headers.push(entry);
        pos = next;
    };

    let body_end = match (content_length, framing) {
        (_, Framing::Head) => body_start,
        (Some(n), _) => {
            let end = body_start + n;
            if end > limit_end {
                return Err(ParseError::new(ErrorKind::TooLarge, limit_end));
            }
            if end > buf.len() {
                let kind = match framing {
                    Framing::Stream | Framing::Head => ErrorKind::Incomplete,
                    Framing::Datagram => ErrorKind::BodyShorterThanContentLength,
                };
                return Err(ParseError::new(kind, buf.len()));
            }
            end
        }
        (None, Framing::Datagram) => buf.len(),
        (None, Framing::Stream) => return Err(ParseError::new(ErrorKind::MissingContentLength, body_start)),
    };

    let mut msg = Message::from_parts(buf, msg_start, start, start_line_end, headers, body_start, body_end);
    msg.set_other_version(!sip_2_0);
    Ok(msg)
}

/// The start line, and whether its version is SIP/2.0. Another well-formed version still
/// parses, so that validation can answer it with 505 (RFC 3261 §8.2.2.1... §21.5.6).
fn parse_start_line(buf: &[u8], from: usize, to: usize) -> Result<(StartLine, bool), ParseError> {
    let line = &buf[from..to];
    let bad = |why, at| Err(ParseError::new(ErrorKind::BadStartLine(why), at));
    if line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"SIP/") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let Some(sp) = memchr(b' ', line) else {
            return bad("missing status code", to);
        };
        let sip_2_0 = check_version(&line[..sp], from)?;
        let rest = &line[sp + 1..];
        let code_end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        let code = &rest[..code_end];
        if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) || code[0] == b'0' {
            return bad("status code must be three digits", from + sp + 1);
        }
        let status = code.iter().fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
        if !(100..=699).contains(&status) {
            return bad("status code out of range", from + sp + 1);
        }
        let reason_start = (from + sp + 1 + code_end + 1).min(to);
        return Ok((StartLine::Response { status, reason: (reason_start as u32, to as u32) }, sip_2_0));
    }
    // Request-Line = Method SP Request-URI SP SIP-Version, single spaces (RFC 4475 §3.1.2.9).
    let method_end = super::lex::token_end(line, 0);
    if method_end == 0 {
        return bad("missing method", from);
    }
    if line.get(method_end) != Some(&b' ') {
        return bad("method must be a token followed by one SP", from + method_end);
    }
    let uri_start = method_end + 1;
    let uri_len = line[uri_start..].iter().position(|&b| b == b' ' || b < 0x21 || b == 0x7f);
    let uri_end = match uri_len {
        Some(n) => uri_start + n,
        None => return bad("missing SIP version", to),
    };
    if uri_end == uri_start {
        return bad("elements must be separated by exactly one SP", from + uri_start);
    }
    if line[uri_end] != b' ' {
        return bad("control character in Request-URI", from + uri_end);
    }
    let sip_2_0 = check_version(&line[uri_end + 1..], from + uri_end + 1)?;
    let start = StartLine::Request {
        method: (from as u32, (from + method_end) as u32),
        uri: ((from + uri_start) as u32, (from + uri_end) as u32),
    };
    Ok((start, sip_2_0))
}

/// True for SIP/2.0, false for another `SIP/<digits>.<digits>`, an error for anything else.
fn check_version(v: &[u8], at: usize) -> Result<bool, ParseError> {
    if v.eq_ignore_ascii_case(b"SIP/2.0") {
        return Ok(true);
    }
    let looks_like_version = v.len() > 4
        && v[..4].eq_ignore_ascii_case(b"SIP/")
        && v[4..].iter().all(|&b| b.is_ascii_digit() || b == b'.');
    if looks_like_version {
        return Ok(false);
    }
    Err(ParseError::new(ErrorKind::BadStartLine("expected SIP/2.0 at the end of the line"), at))
}

/// Parses one header line starting at `pos`, following folds (a line break followed by SP or
/// HT continues the value). Returns the entry and the offset of the next line.
fn parse_header_line(buf: &[u8], pos: usize, limits: &Limits) -> Result<(HeaderEntry, usize), ParseError> {
    let name_end = super::lex::token_end(buf, pos);
    if name_end == pos {
        return Err(ParseError::new(ErrorKind::BadHeaderName, pos));
    }
    let mut i = name_end;
    while i < buf.len() && matches!(buf[i], b' ' | b'\t') {
        i += 1;
    }
    match buf.get(i) {
        Some(b':') => {}
        None => return Err(ParseError::new(ErrorKind::Incomplete, i)),
        Some(_) => return Err(ParseError::new(ErrorKind::MissingColon, i)),
    }
    let value_start_raw = i + 1;
    // Find the end of the logical line: a LF not followed by SP/HT.
    let mut scan = value_start_raw;
    let mut folded = false;
    let next = loop {
        let Some(n) = memchr(b'\n', &buf[scan..]).map(|n| scan + n) else {
            if buf.len() - pos > limits.max_header_line {
                return Err(ParseError::new(ErrorKind::HeaderLineTooLong, pos));
            }
            return Err(ParseError::new(ErrorKind::Incomplete, buf.len()));
        };
        if n - pos > limits.max_header_line {
            return Err(ParseError::new(ErrorKind::HeaderLineTooLong, pos));
        }
        match buf.get(n + 1) {
            Some(b' ' | b'\t') => {
                folded = true;
                scan = n + 1;
            }
            Some(_) => break n + 1,
            None => return Err(ParseError::new(ErrorKind::Incomplete, buf.len())),
        }
    };
    let mut vs = value_start_raw;
    let mut ve = next - 1;
    while vs < ve && super::lex::is_lws(buf[vs]) {
        vs += 1;
    }
    while ve > vs && super::lex::is_lws(buf[ve - 1]) {
        ve -= 1;
    }
    let name = HeaderName::from_bytes(&buf[pos..name_end]);
    // A fold that was only leading white space leaves no fold inside the trimmed value.
    let folded = folded && buf[vs..ve].contains(&b'\n');
    let entry = HeaderEntry {
        name,
        name_range: (pos as u32, name_end as u32),
        value: (vs as u32, ve as u32),
        folded,
    };
    Ok((entry, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &[u8], f: Framing) -> Result<Message<'_>, ParseError> {
        parse(s, f, &Limits::default())
    }

    #[test]
    fn request_with_body_and_folded_header() {
        let m = b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nSubject: a\r\n b\r\nContent-Length: 4\r\n\r\nbodyEXTRA";
        let msg = p(m, Framing::Datagram).expect("parses");
        assert_eq!(msg.method(), Some(&b"INVITE"[..]));
        assert_eq!(msg.request_uri(), Some(&b"sip:bob@example.com"[..]));
        assert_eq!(msg.body(), b"body");
        assert_eq!(&*msg.header_str(HeaderName::Subject).expect("subject"), "a b");
        assert_eq!(msg.len(), m.len() - 5);
    }

    #[test]
    fn stream_needs_content_length_and_reports_incomplete() {
        let m = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 10\r\n\r\nabc";
        assert!(p(m, Framing::Stream).expect_err("short").is_incomplete());
        let e = p(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n", Framing::Stream).expect_err("no CL");
        assert_eq!(e.kind, ErrorKind::MissingContentLength);
        for cut in 0..m.len() {
            assert!(p(&m[..cut], Framing::Stream).expect_err("cut").is_incomplete(), "cut at {cut}");
        }
    }

    #[test]
    fn responses() {
        let msg = p(b"SIP/2.0 180 Ringing\r\nContent-Length: 0\r\n\r\n", Framing::Stream).expect("ok");
        assert_eq!(msg.status(), Some(180));
        assert_eq!(msg.reason(), Some(&b"Ringing"[..]));
        assert!(p(b"SIP/2.0 4294967301 x\r\n\r\n", Framing::Datagram).is_err());
        assert!(p(b"SIP/2.0 099 x\r\n\r\n", Framing::Datagram).is_err());
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits { max_message: 100, max_headers: 2, max_header_line: 30 };
        let many = b"OPTIONS sip:a@b SIP/2.0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        assert_eq!(parse(many, Framing::Datagram, &limits).expect_err("many").kind, ErrorKind::TooManyHeaders);
        let long = b"OPTIONS sip:a@b SIP/2.0\r\nA: 1234567890123456789012345678901234567890\r\n\r\n";
        assert_eq!(parse(long, Framing::Datagram, &limits).expect_err("long").kind, ErrorKind::HeaderLineTooLong);
        let big = vec![b'a'; 200];
        assert_eq!(parse(&big, Framing::Stream, &limits).expect_err("big").kind, ErrorKind::TooLarge);
    }
}
