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
pub fn write_message(start_line: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let size = start_line.len() + headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum::<usize>() + body.len() + 32;
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(start_line.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (n, v) in headers {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
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
