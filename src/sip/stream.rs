//! Stream framing for TCP/TLS: bytes in, complete messages out. Handles several messages in
//! one read, a message split across reads, keep-alive CRLFs between messages, and a hard limit
//! on how much one message may buffer (RFC 3261 §18.3).

use super::error::{ErrorKind, ParseError};
use super::parser::{parse, Framing, Limits};

#[derive(Debug, Default)]
pub struct StreamDecoder {
    buf: Vec<u8>,
    limits: Limits,
    /// How far the buffer has been searched for the end of the header section, so a message
    /// trickled byte by byte is not rescanned from the start on every read; `usize::MAX` once
    /// the end was found and only body bytes are awaited.
    scanned: usize,
    /// Line feeds seen between messages since the last ping (RFC 5626 §4.4.1: CRLFCRLF is a
    /// keep-alive ping), kept across reads so a ping split in two still counts.
    newlines: usize,
    /// Pings received and not yet answered.
    pings: usize,
}

impl StreamDecoder {
    pub fn new(limits: Limits) -> Self {
        StreamDecoder { buf: Vec::new(), limits, scanned: 0, newlines: 0, pings: 0 }
    }

    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Appends bytes from the socket.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Returns the next complete message, `Ok(None)` when more bytes are needed, or an error
    /// after which the connection must be closed (framing can no longer be trusted).
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, ParseError> {
        let leading = self.buf.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
        if leading > 0 {
            for b in self.buf.drain(..leading) {
                if b == b'\n' {
                    self.newlines += 1;
                    if self.newlines == 2 {
                        self.newlines = 0;
                        self.pings += 1;
                    }
                }
            }
            self.scanned = 0;
        }
        if self.buf.is_empty() {
            return Ok(None);
        }
        if !self.header_section_complete() {
            if self.buf.len() > self.limits.max_message {
                return Err(ParseError::new(ErrorKind::TooLarge, self.limits.max_message));
            }
            return Ok(None);
        }
        match parse(&self.buf, Framing::Stream, &self.limits) {
            Ok(msg) => {
                let len = msg.len();
                let rest = self.buf.split_off(len);
                self.scanned = 0;
                self.newlines = 0;
                Ok(Some(std::mem::replace(&mut self.buf, rest)))
            }
            Err(e) if e.is_incomplete() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// After a `TooLarge` error: the header section of the message, when all of it arrived
    /// within the limit, so the sender can be told why it is refused (513).
    pub fn oversized_head(&self) -> Option<Vec<u8>> {
        let within = &self.buf[..self.buf.len().min(self.limits.max_message)];
        memchr::memmem::find(within, b"\r\n\r\n").map(|end| within[..end + 4].to_vec())
    }

    /// Keep-alive pings (CRLFCRLF between messages) received since the last call; each is
    /// answered with a CRLF pong.
    pub fn take_pings(&mut self) -> usize {
        std::mem::take(&mut self.pings)
    }

    fn header_section_complete(&mut self) -> bool {
        if self.scanned == usize::MAX {
            return true;
        }
        let from = self.scanned.saturating_sub(3);
        let found = memchr::memmem::find(&self.buf[from..], b"\r\n\r\n").is_some()
            || memchr::memmem::find(&self.buf[from..], b"\n\n").is_some();
        // usize::MAX remembers "found" until this message is taken out of the buffer.
        self.scanned = if found { usize::MAX } else { self.buf.len() };
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_pings_are_counted_whole_or_split() {
        let mut d = StreamDecoder::new(Limits::default());
        d.feed(b"\r\n\r\n");
        assert_eq!(d.next_message().ok(), Some(None));
        assert_eq!(d.take_pings(), 1);
        d.feed(b"\r\n");
        assert_eq!(d.next_message().ok(), Some(None));
        d.feed(b"\r\n");
        assert_eq!(d.next_message().ok(), Some(None));
        assert_eq!(d.take_pings(), 1, "a ping split across reads");
        d.feed(b"\r\n");
        d.feed(A);
        assert!(matches!(d.next_message(), Ok(Some(_))));
        d.feed(b"\r\n");
        assert_eq!(d.next_message().ok(), Some(None));
        assert_eq!(d.take_pings(), 0, "a lone CRLF on each side of a message is no ping");
    }

    const A: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: 1\r\nContent-Length: 3\r\n\r\nabc";
    const B: &[u8] = b"SIP/2.0 200 OK\r\nCall-ID: 2\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn back_to_back_and_split() {
        let mut all = Vec::new();
        all.extend_from_slice(b"\r\n\r\n");
        all.extend_from_slice(A);
        all.extend_from_slice(B);
        all.extend_from_slice(A);
        for chunk in [1, 2, 7, 64, all.len()] {
            let mut d = StreamDecoder::new(Limits::default());
            let mut out = Vec::new();
            for piece in all.chunks(chunk) {
                d.feed(piece);
                while let Some(m) = d.next_message().expect("valid stream") {
                    out.push(m);
                }
            }
            assert_eq!(out, vec![A.to_vec(), B.to_vec(), A.to_vec()], "chunk size {chunk}");
            assert_eq!(d.buffered(), 0);
        }
    }

    #[test]
    fn oversized_and_malformed_streams_fail() {
        let mut d = StreamDecoder::new(Limits { max_message: 100, ..Limits::default() });
        d.feed(&[b'x'; 101]);
        assert_eq!(d.next_message().expect_err("too large").kind, ErrorKind::TooLarge);
        let mut d = StreamDecoder::new(Limits::default());
        d.feed(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
        assert_eq!(d.next_message().expect_err("dup").kind, ErrorKind::DuplicateContentLength);
    }

    #[test]
    fn an_oversized_message_keeps_its_head_for_the_513() {
        let mut d = StreamDecoder::new(Limits::default());
        let head = b"INVITE sip:a@b SIP/2.0\r\nCall-ID: 1\r\nContent-Length: 70000\r\n\r\n";
        d.feed(head);
        d.feed(&[b'v'; 1000]);
        assert_eq!(d.next_message().expect_err("too large").kind, ErrorKind::TooLarge);
        assert_eq!(d.oversized_head().as_deref(), Some(&head[..]));
        let msg = parse(head, Framing::Head, &Limits::default()).expect("the head parses on its own");
        assert_eq!((msg.call_id(), msg.body().len()), (Some(&b"1"[..]), 0));
        let mut d = StreamDecoder::new(Limits::default());
        d.feed(b"INVITE sip:a@b SIP/2.0\r\nContent-Length: 7x\r\n\r\n");
        assert_eq!(d.next_message().expect_err("bad").kind, ErrorKind::BadContentLength, "a malformed length is no 513");
        let mut d = StreamDecoder::new(Limits::default());
        d.feed(&[b'x'; 70_000]);
        assert_eq!(d.oversized_head(), None, "no header section within the limit");
    }

    #[test]
    fn a_header_line_may_be_as_long_as_a_message() {
        let long = format!("OPTIONS sip:a@b SIP/2.0\r\nCall-Info: <http://x/{}>\r\nContent-Length: 0\r\n\r\n", "a".repeat(10_240));
        let mut d = StreamDecoder::new(Limits::default());
        d.feed(long.as_bytes());
        assert_eq!(d.next_message().expect("valid").map(|m| m.len()), Some(long.len()));
    }
}
