//! Writes SIP messages. Content-Length is always computed from the body bytes, never taken
//! from the caller, so a message we send is framed correctly on any transport.

use super::header::HeaderName;

#[derive(Debug, Clone)]
pub struct MessageBuilder {
    start_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl MessageBuilder {
    pub fn request(method: &str, uri: &str) -> Self {
        Self::with_start_line(format!("{method} {uri} SIP/2.0"))
    }

    pub fn response(status: u16, reason: &str) -> Self {
        Self::with_start_line(format!("SIP/2.0 {status} {reason}"))
    }

    fn with_start_line(start_line: String) -> Self {
        MessageBuilder { start_line, headers: Vec::new(), body: Vec::new() }
    }

    /// Appends a header. A Content-Length given here is ignored: it is derived from the body.
    /// Line breaks in names or values would split the message, so they become spaces.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if HeaderName::from_bytes(name.as_bytes()) != HeaderName::ContentLength {
            let clean = |s: &str| s.replace(['\r', '\n'], " ");
            self.headers.push((clean(name), clean(value)));
        }
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        write_message(&self.start_line, &self.headers, &self.body)
    }
}

/// A message on the wire: start line, headers in order, a Content-Length computed from the
/// body, the body. Callers keep Content-Length out of `headers`.
pub fn write_message<N: AsRef<str>>(start_line: &str, headers: &[(N, String)], body: &[u8]) -> Vec<u8> {
    let mut w = MessageWriter::new(start_line, written_len(headers, body));
    for (n, v) in headers {
        w.header(n.as_ref(), v);
    }
    w.finish(body)
}

/// The bytes `headers` and `body` take on the wire (Content-Length aside).
pub fn written_len<N: AsRef<str>>(headers: &[(N, String)], body: &[u8]) -> usize {
    headers.iter().map(|(n, v)| n.as_ref().len() + v.len() + 4).sum::<usize>() + body.len()
}

/// Writes a message piece by piece, so a message made of parts held in different places (a
/// transaction's copy of the request's headers, an app's headers) needs no intermediate list.
pub struct MessageWriter {
    out: Vec<u8>,
}

impl MessageWriter {
    /// `room`: the bytes expected after the start line, to allocate once.
    pub fn new(start_line: &str, room: usize) -> Self {
        let mut out = Vec::with_capacity(start_line.len() + room + 32);
        out.extend_from_slice(start_line.as_bytes());
        out.extend_from_slice(b"\r\n");
        MessageWriter { out }
    }

    pub fn header(&mut self, name: &str, value: &str) {
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b": ");
        self.out.extend_from_slice(value.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    /// Content-Length, the blank line and the body.
    pub fn finish(mut self, body: &[u8]) -> Vec<u8> {
        self.out.extend_from_slice(b"Content-Length: ");
        self.out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
        self.out.extend_from_slice(b"\r\n\r\n");
        self.out.extend_from_slice(body);
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::{parse, validate::validate, Framing, HeaderName, Limits};

    #[test]
    fn round_trips_through_the_parser() {
        let body = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=é\r\n";
        let bytes = MessageBuilder::request("INVITE", "sip:bob@127.0.0.1")
            .header("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1")
            .header("From", "\"Ünïcode\" <sip:alice@127.0.0.1>;tag=1")
            .header("To", "<sip:bob@127.0.0.1>")
            .header("Call-ID", "abc")
            .header("CSeq", "1 INVITE")
            .header("Content-Length", "999")
            .header("Subject", "evil\r\nInjected: yes")
            .body(body)
            .to_bytes();
        let msg = parse(&bytes, Framing::Stream, &Limits::default()).expect("parses");
        validate(&msg).expect("valid");
        assert_eq!(msg.body(), body.as_bytes());
        assert_eq!(msg.header(HeaderName::ContentLength), Some(body.len().to_string().as_bytes()));
        assert_eq!(msg.values_by_name("injected").count(), 0);
        assert_eq!(msg.len(), bytes.len());
        let res = MessageBuilder::response(486, "Busy Here").to_bytes();
        assert_eq!(parse(&res, Framing::Stream, &Limits::default()).expect("ok").status(), Some(486));
    }
}
