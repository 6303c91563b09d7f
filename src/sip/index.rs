//! The message index that crosses into JavaScript: one flat array of u32 byte offsets, so a
//! message costs one napi crossing and JS decodes only the headers it reads.
//!
//! Layout (version 1), all offsets into the buffer handed over with it:
//! ```text
//! [0] layout version   [1] kind: 1 request, 2 response
//! [2] [3]  method start/end            | status code, 0
//! [4] [5]  Request-URI start/end       | reason start/end
//! [6] [7]  start line start/end        [8] [9] body start/end
//! [10]     header count N, then N x 5:
//!          name start, name end, value start, value end, header id | folded << 8
//! ```

use super::message::{Message, StartLine};

pub const LAYOUT_VERSION: u32 = 1;
pub const HEADER_WORDS: usize = 5;
pub const FIXED_WORDS: usize = 11;
pub const FOLDED_BIT: u32 = 1 << 8;

impl Message<'_> {
    pub fn index_len(&self) -> usize {
        FIXED_WORDS + HEADER_WORDS * self.headers().len()
    }

    pub fn index_words(&self) -> Vec<u32> {
        let mut w = vec![0; self.index_len()];
        self.write_index(&mut w);
        w
    }

    /// Writes the index into `out`; `None` (and nothing written) when it does not fit.
    pub fn write_index(&self, out: &mut [u32]) -> Option<usize> {
        let len = self.index_len();
        let out = out.get_mut(..len)?;
        let (kind, a, b) = match self.start_line() {
            StartLine::Request { method, uri } => (1, method, uri),
            StartLine::Response { status, reason } => (2, (u32::from(status), 0), reason),
        };
        let (ls, le) = self.start_line_range();
        let (bs, be) = self.body_range();
        let fixed = [LAYOUT_VERSION, kind, a.0, a.1, b.0, b.1, ls as u32, le as u32, bs as u32, be as u32];
        out[..FIXED_WORDS - 1].copy_from_slice(&fixed);
        out[FIXED_WORDS - 1] = self.headers().len() as u32;
        for (h, words) in self.headers().iter().zip(out[FIXED_WORDS..].chunks_exact_mut(HEADER_WORDS)) {
            let flags = u32::from(h.name.id()) | if h.folded { FOLDED_BIT } else { 0 };
            words.copy_from_slice(&[h.name_range.0, h.name_range.1, h.value.0, h.value.1, flags]);
        }
        Some(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::{parse, Framing, HeaderName, Limits};

    #[test]
    fn words_describe_the_message() {
        let m = b"SIP/2.0 200 OK\r\nv: SIP/2.0/UDP h\r\nSubject: a\r\n b\r\nContent-Length: 2\r\n\r\nhi";
        let msg = parse(m, Framing::Stream, &Limits::default()).expect("ok");
        let w = msg.index_words();
        assert_eq!(&w[..4], &[LAYOUT_VERSION, 2, 200, 0]);
        assert_eq!(&m[w[4] as usize..w[5] as usize], b"OK");
        assert_eq!(&m[w[8] as usize..w[9] as usize], b"hi");
        assert_eq!(w[10], 3);
        let via = &w[FIXED_WORDS..FIXED_WORDS + HEADER_WORDS];
        assert_eq!(&m[via[0] as usize..via[1] as usize], b"v");
        assert_eq!(via[4], u32::from(HeaderName::Via.id()));
        assert_eq!(w[FIXED_WORDS + HEADER_WORDS + 4] & FOLDED_BIT, FOLDED_BIT);
    }
}
