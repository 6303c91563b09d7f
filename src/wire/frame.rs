//! Framing: `<decimal byte count>#<payload>`, no terminator (wire-protocol.md §1). The count is
//! of UTF-8 bytes, so framing works on bytes and never decodes text.

use std::fmt;

/// drachtio-server reads at most five length digits: a larger frame from an app would make it
/// drop the connection, so we refuse to send one.
pub const MAX_APP_FRAME: usize = 99_999;
/// Default ceiling on a frame we accept (server → app frames carry whole SIP messages).
pub const MAX_RECEIVE_FRAME: usize = 1 << 20;
/// More digits than this cannot be a valid length under any ceiling we allow.
const MAX_LENGTH_DIGITS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The bytes before `#` are not a positive decimal number: the stream is corrupt.
    BadLength { at: usize },
    /// A frame announced more bytes than the receive limit.
    TooLarge { len: usize, max: usize },
    /// We were asked to send a frame larger than the server accepts.
    SendTooLarge { len: usize },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::BadLength { at } => write!(f, "corrupt frame: expected a byte count before '#' (stream offset {at})"),
            FrameError::TooLarge { len, max } => write!(f, "frame of {len} bytes exceeds the {max}-byte limit"),
            FrameError::SendTooLarge { len } => {
                write!(f, "refusing to send a {len}-byte frame: the server accepts at most {MAX_APP_FRAME}")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// Writes one frame. Fails, writing nothing, when the payload is over the server's limit.
pub fn encode_frame(payload: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
    if payload.len() > MAX_APP_FRAME {
        return Err(FrameError::SendTooLarge { len: payload.len() });
    }
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b'#');
    out.extend_from_slice(payload);
    Ok(())
}

/// Turns a byte stream into frames: many per read, or one split over many reads (inside the
/// digits or inside a multi-byte character alike).
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Start of unconsumed bytes; compacted lazily so a burst of frames costs one move.
    start: usize,
    /// Bytes consumed over the stream's life, for error offsets.
    consumed: usize,
    max_frame: usize,
}

impl FrameDecoder {
    pub fn new(max_frame: usize) -> Self {
        FrameDecoder { buf: Vec::new(), start: 0, consumed: 0, max_frame }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 64 * 1024 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete payload, `Ok(None)` when more bytes are needed, or an error after
    /// which the connection must be closed.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let pending = &self.buf[self.start..];
        let mut len: usize = 0;
        let mut digits = 0;
        for &b in pending {
            match b {
                b'0'..=b'9' if digits < MAX_LENGTH_DIGITS => {
                    len = len * 10 + usize::from(b - b'0');
                    digits += 1;
                }
                b'#' if digits > 0 && len > 0 => {
                    if len > self.max_frame {
                        return Err(FrameError::TooLarge { len, max: self.max_frame });
                    }
                    let body_start = self.start + digits + 1;
                    if self.buf.len() - body_start < len {
                        return Ok(None);
                    }
                    let frame = self.buf[body_start..body_start + len].to_vec();
                    self.consumed += digits + 1 + len;
                    self.start = body_start + len;
                    return Ok(Some(frame));
                }
                _ => return Err(FrameError::BadLength { at: self.consumed + digits }),
            }
            if len > self.max_frame {
                return Err(FrameError::TooLarge { len, max: self.max_frame });
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[&[u8]]) -> Result<Vec<Vec<u8>>, FrameError> {
        let mut d = FrameDecoder::new(MAX_RECEIVE_FRAME);
        let mut out = Vec::new();
        for chunk in input {
            d.feed(chunk);
            while let Some(f) = d.next_frame()? {
                out.push(f);
            }
        }
        Ok(out)
    }

    #[test]
    fn splits_and_joins() {
        let mut all = Vec::new();
        for p in [&b"a|ping"[..], "ü|π|€".as_bytes(), &[b'#'; 10_000]] {
            encode_frame(p, &mut all).expect("small");
        }
        for size in [1, 2, 3, 7, 100, all.len()] {
            let chunks: Vec<&[u8]> = all.chunks(size).collect();
            let out = frames(&chunks).expect("valid");
            assert_eq!(out.len(), 3, "chunk size {size}");
            assert_eq!(out[1], "ü|π|€".as_bytes());
            assert_eq!(out[2].len(), 10_000);
        }
    }

    #[test]
    fn invalid_utf8_does_not_desynchronise() {
        let mut all = Vec::new();
        encode_frame(&[0xff, 0xfe, b'|', 0xc3], &mut all).expect("small");
        encode_frame(b"next", &mut all).expect("small");
        assert_eq!(frames(&[&all]).expect("valid")[1], b"next");
    }

    #[test]
    fn corrupt_and_oversized() {
        assert!(matches!(frames(&[b"12x#"]), Err(FrameError::BadLength { at: 2 })));
        assert!(matches!(frames(&[b"#abc"]), Err(FrameError::BadLength { .. })));
        assert!(matches!(frames(&[b"0#"]), Err(FrameError::BadLength { .. })));
        assert!(matches!(frames(&[b"99999999999#"]), Err(FrameError::TooLarge { .. })));
        let mut d = FrameDecoder::new(100);
        d.feed(b"101#");
        assert_eq!(d.next_frame(), Err(FrameError::TooLarge { len: 101, max: 100 }));
        let mut d = FrameDecoder::new(100);
        d.feed(b"1000");
        assert!(d.next_frame().is_err(), "too large is known before the '#'");
        let mut out = Vec::new();
        assert_eq!(encode_frame(&vec![b'x'; MAX_APP_FRAME + 1], &mut out), Err(FrameError::SendTooLarge { len: 100_000 }));
        assert!(out.is_empty());
    }
}
