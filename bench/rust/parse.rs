//! Parser micro-benchmarks: parse alone, parse plus the header reads every request needs,
//! and parse plus full validation, for a ~900-byte INVITE with SDP and a 200 OK.
//! Run: `cargo bench --bench parse`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use rsip::message::HasHeaders;
use drachtio_srf_rs::sip::{parse, validate::validate, via::Via, Framing, HeaderName, Limits};

/// Loads a message from bench/data with CRLF line ends and a correct Content-Length.
fn load(name: &str) -> Vec<u8> {
    let path = format!("{}/bench/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let body = body.replace('\n', "\r\n");
    let head: Vec<String> = head
        .lines()
        .map(|l| if l.starts_with("Content-Length:") { format!("Content-Length: {}", body.len()) } else { l.to_string() })
        .collect();
    format!("{}\r\n\r\n{}", head.join("\r\n"), body).into_bytes()
}

fn common_reads(bytes: &[u8]) -> usize {
    let msg = parse(bytes, Framing::Datagram, &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
    let mut n = msg.call_id().map_or(0, <[u8]>::len);
    n += msg.cseq().map_or(0, |c| c.seq as usize);
    n += msg.tag(HeaderName::From).map_or(0, <[u8]>::len);
    n += msg.tag(HeaderName::To).map_or(0, <[u8]>::len);
    n += msg.header(HeaderName::Via).and_then(|v| Via::parse(v).ok()).and_then(|v| v.branch()).map_or(0, <[u8]>::len);
    n
}

fn bench(c: &mut Criterion) {
    for (label, file) in [("invite", "invite.sip.txt"), ("200ok", "ok.sip.txt")] {
        let bytes = load(file);
        let mut g = c.benchmark_group(format!("{label} ({} bytes)", bytes.len()));
        g.bench_function("parse", |b| {
            b.iter(|| parse(black_box(&bytes), Framing::Datagram, &Limits::default()).map(|m| m.headers().len()))
        });
        g.bench_function("parse + common headers", |b| b.iter(|| common_reads(black_box(&bytes))));
        g.bench_function("parse + validate", |b| {
            b.iter(|| {
                let m = parse(black_box(&bytes), Framing::Datagram, &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
                validate(&m).is_ok()
            })
        });
        g.bench_function("parse + index for JS", |b| {
            b.iter(|| parse(black_box(&bytes), Framing::Datagram, &Limits::default()).map(|m| m.index_words().len()))
        });
        g.bench_function("rsip 0.4 parse (reference)", |b| {
            b.iter(|| rsip::SipMessage::try_from(black_box(&bytes[..])).map(|m| m.headers().iter().count()))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
