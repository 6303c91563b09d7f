//! The headers of a request that its responses copy (RFC 3261 §8.2.6.2: Via, From, To,
//! Call-ID, CSeq; Record-Route in responses that form a dialog, §12.1.1), as a server
//! transaction keeps them: in one buffer, where a string per header (and per Via) cost a
//! dozen allocations per request.

use super::core::{stamp_via_into, Source};
use crate::sip::{split_commas, unfold, HeaderName, Message};
use std::ops::Range;

/// From, To, Call-ID, CSeq and the From tag: their places in `spans`, after the Vias.
const FROM: usize = 0;
const TO: usize = 1;
const CALL_ID: usize = 2;
const CSEQ: usize = 3;
const FROM_TAG: usize = 4;
const FIXED: usize = 5;

#[derive(Debug, Default)]
pub struct EchoHeaders {
    text: String,
    /// Pieces of `text`: the Via values (the top one stamped with where the request came
    /// from), the FIXED single headers, then the Record-Route values.
    spans: Vec<Range<usize>>,
    vias: usize,
}

impl EchoHeaders {
    pub fn of(msg: &Message<'_>, src: Source) -> EchoHeaders {
        const COPIED: [HeaderName; 6] = [HeaderName::Via, HeaderName::From, HeaderName::To, HeaderName::CallId, HeaderName::CSeq, HeaderName::RecordRoute];
        // Room for the copies, the tag again, and what stamping the top Via adds.
        let room = msg.headers().iter().filter(|h| COPIED.contains(&h.name)).map(|h| msg.raw_value(h).len()).sum::<usize>() + 96;
        let mut e = EchoHeaders { text: String::with_capacity(room), spans: Vec::with_capacity(8), vias: 0 };
        for (entry, v) in msg.values(HeaderName::Via) {
            for one in split_commas(v) {
                let start = e.text.len();
                let one = unfold(one, entry.folded);
                if e.vias == 0 {
                    stamp_via_into(one.trim(), src, &mut e.text);
                } else {
                    e.text.push_str(one.trim());
                }
                e.spans.push(start..e.text.len());
                e.vias += 1;
            }
        }
        for h in [HeaderName::From, HeaderName::To, HeaderName::CallId, HeaderName::CSeq] {
            e.push(&msg.header_str(h).unwrap_or_default());
        }
        e.push(&String::from_utf8_lossy(msg.tag(HeaderName::From).unwrap_or_default()));
        for (_, v) in msg.values(HeaderName::RecordRoute) {
            for r in split_commas(v) {
                e.push(String::from_utf8_lossy(r).trim());
            }
        }
        e
    }

    fn push(&mut self, piece: &str) {
        let start = self.text.len();
        self.text.push_str(piece);
        self.spans.push(start..self.text.len());
    }

    fn piece(&self, i: usize) -> &str {
        self.spans.get(i).and_then(|r| self.text.get(r.clone())).unwrap_or("")
    }

    pub fn vias(&self) -> impl Iterator<Item = &str> {
        (0..self.vias).map(|i| self.piece(i))
    }

    pub fn from(&self) -> &str {
        self.piece(self.vias + FROM)
    }

    pub fn to(&self) -> &str {
        self.piece(self.vias + TO)
    }

    pub fn call_id(&self) -> &str {
        self.piece(self.vias + CALL_ID)
    }

    pub fn cseq(&self) -> &str {
        self.piece(self.vias + CSEQ)
    }

    pub fn remote_tag(&self) -> &str {
        self.piece(self.vias + FROM_TAG)
    }

    pub fn record_route(&self) -> impl Iterator<Item = &str> {
        (self.vias + FIXED..self.spans.len()).map(|i| self.piece(i))
    }

    /// Bytes the copies take when written as headers (a little over, for names).
    pub fn written_len(&self) -> usize {
        self.text.len() + 16 * self.spans.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::transport::Protocol;
    use crate::sip::{parse, Framing, Limits};

    #[test]
    fn copies_the_headers_a_response_echoes() {
        let raw = b"INVITE sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK1, SIP/2.0/UDP p.example.com;branch=z9hG4bK0\r\n\
Via: SIP/2.0/TCP q.example.com\r\n ;branch=z9hG4bKq\r\nFrom: <sip:a@example.com>;tag=ft\r\nTo: <sip:b@example.com>\r\nCall-ID: c1\r\nCSeq: 7 INVITE\r\n\
Record-Route: <sip:p1;lr>, <sip:p2;lr>\r\nRecord-Route: <sip:p3;lr>\r\nContent-Length: 0\r\n\r\n";
        let msg = parse(raw, Framing::Datagram, &Limits::default()).expect("parses");
        let from_net = Source { protocol: Protocol::Udp, local: "127.0.0.1:5060".parse().expect("address"), remote: "10.0.0.7:5062".parse().expect("address") };
        let e = EchoHeaders::of(&msg, from_net);
        assert_eq!(
            e.vias().collect::<Vec<_>>(),
            ["SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK1;received=10.0.0.7", "SIP/2.0/UDP p.example.com;branch=z9hG4bK0", "SIP/2.0/TCP q.example.com ;branch=z9hG4bKq"]
        );
        assert_eq!((e.from(), e.to(), e.call_id(), e.cseq(), e.remote_tag()), ("<sip:a@example.com>;tag=ft", "<sip:b@example.com>", "c1", "7 INVITE", "ft"));
        assert_eq!(e.record_route().collect::<Vec<_>>(), ["<sip:p1;lr>", "<sip:p2;lr>", "<sip:p3;lr>"]);
        assert_eq!(EchoHeaders::default().from(), "", "a compacted copy reads as empty");
    }
}
