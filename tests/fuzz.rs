//! Seeded mutation fuzzing on stable Rust: RFC 4475 messages (from ../shared) and our own
//! seeds, mutated (bit flips, byte insertions and deletions, truncation, splices, repeated
//! lines), then fed to every parser that takes outside input: the SIP parser in both framings,
//! validation, URI / name-addr / Via / digest parsers, the TCP stream framer with random read
//! sizes, and the drachtio wire framing and messages. Each input must be parsed or rejected
//! with an error: no panic, no hang, nothing unbounded. Each case is held to `CASE_TIME` and
//! `CASE_MEMORY` (heap counted by the allocator below); a hang is caught by a watchdog.
//!
//! `FUZZ_CASES` sets the number of cases (default 20 000 for `cargo test`; CI runs a million
//! in release mode). The seed changes every run so runs cover new inputs; it is printed, and
//! `FUZZ_SEED=<seed>` (with the same `FUZZ_CASES` or more) replays a failure.

mod common;

use drachtio_srf_rs::sip::auth::AuthParams;
use drachtio_srf_rs::sip::name_addr::{parse_contacts, NameAddr};
use drachtio_srf_rs::sip::stream::StreamDecoder;
use drachtio_srf_rs::sip::uri::Uri;
use drachtio_srf_rs::sip::via::parse_list;
use drachtio_srf_rs::sip::{parse, validate::validate, Framing, HeaderName, Limits};
use drachtio_srf_rs::wire::{AppMsg, FrameDecoder, ServerMsg};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Far beyond what any case needs (microseconds, and a few hundred KiB for a 100 KB input)
/// even in a debug build on a loaded machine; past these, something is unbounded.
const CASE_TIME: Duration = Duration::from_secs(2);
const CASE_MEMORY: usize = 32 << 20;
/// Mutated inputs are cut to this size; larger ones only test the limits again.
const MAX_INPUT: usize = 100_000;
/// A case still running after this has hung: the watchdog ends the process, naming it.
const HANG: Duration = Duration::from_secs(30);

/// The system allocator, counting live heap bytes and their peak, so a case's memory can be
/// bounded. This test binary holds only the fuzz test, so the count is the case's own.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let live = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            grew(new_size - layout.size());
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// xorshift64*: tiny, deterministic, good enough to drive mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

const SEEDS: &[&[u8]] = &[
    b"INVITE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1;rport\r\nMax-Forwards: 70\r\nFrom: \"A\" <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContact: <sip:a@127.0.0.1:5070>\r\nContent-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n",
    b"SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK2\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: x\r\nCSeq: 2 REGISTER\r\nWWW-Authenticate: Digest realm=\"r\", nonce=\"n\", qop=\"auth\", algorithm=SHA-256\r\nContent-Length: 0\r\n\r\n",
];

const WIRE_SEEDS: &[&[u8]] = &[
    b"a1|response|m1|OK|udp/127.0.0.1:5060|v0.9.10|udp/127.0.0.1:5060",
    b"s1|sip|network|10|udp|127.0.0.1|5060|12:00:00.0|t1||127.0.0.1|5060|\r\nOPTIONS sip:a@b SIP/2.0\r\n\r\n",
    b"m7|proxy|t1|remainInDialog|fullResponse||simultaneous|2s||sip:a@b\r\nINVITE sip:a@b SIP/2.0\r\n\r\n",
    b"c1|cdr:stop|application|14:00:00|call-rejected\r\nSIP/2.0 486 Busy\r\n\r\n",
];

const INTERESTING: &[&[u8]] = &[b"\r\n", b"\r\n ", b";", b",", b"\"", b"<", b">", b":", b"%", b"%0", b"\0", b"99999999999999999999", b"SIP/2.0", b"Content-Length: 99999\r\n", b"l:", b"|", b"#", b"\xff\xfe"];

fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let pos = rng.below(v.len() + 1);
        match rng.below(8) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => v.insert(pos, rng.next() as u8),
            2 if pos < v.len() => {
                let n = 1 + rng.below(16.min(v.len() - pos));
                v.drain(pos..pos + n);
            }
            3 => v.truncate(pos),
            4 => {
                let s = INTERESTING[rng.below(INTERESTING.len())];
                v.splice(pos..pos, s.iter().copied());
            }
            5 if !corpus.is_empty() => {
                // Splice a slice of another corpus entry.
                let other = &corpus[rng.below(corpus.len())];
                let a = rng.below(other.len() + 1);
                let b = (a + rng.below(64)).min(other.len());
                v.splice(pos..pos, other[a..b].iter().copied());
            }
            6 => {
                // Repeat a line (duplicate headers, long values).
                let start = v[..pos].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                let end = v[pos..].iter().position(|&b| b == b'\n').map_or(v.len(), |i| pos + i + 1);
                let line = v[start..end].to_vec();
                for _ in 0..1 + rng.below(3) {
                    v.splice(end..end, line.iter().copied());
                }
            }
            _ => {}
        }
    }
    v.truncate(MAX_INPUT);
    v
}

fn exercise_sip(bytes: &[u8], rng: &mut Rng) {
    let limits = Limits::default();
    for framing in [Framing::Datagram, Framing::Stream] {
        if let Ok(msg) = parse(bytes, framing, &limits) {
            let _ = validate(&msg);
            let _ = msg.index_words();
            let _ = msg.cseq();
            if let Some(u) = msg.request_uri() {
                let _ = Uri::parse(u);
            }
            for (_, v) in msg.values(HeaderName::Via) {
                for via in parse_list(v).flatten() {
                    let _ = via.branch();
                }
            }
            for h in [HeaderName::From, HeaderName::To] {
                if let Some(v) = msg.header(h) {
                    if let Ok(n) = NameAddr::parse(v) {
                        let _ = n.display_name();
                    }
                }
            }
            if let Some(v) = msg.header(HeaderName::Contact) {
                let _ = parse_contacts(v);
            }
            for h in [HeaderName::WwwAuthenticate, HeaderName::Authorization] {
                if let Some(v) = msg.header(h) {
                    let _ = AuthParams::parse(v).map(|a| a.get("nonce"));
                }
            }
        }
    }
    // The stream framer, fed in random pieces, must end with messages or an error.
    let mut d = StreamDecoder::new(limits);
    let mut i = 0;
    while i < bytes.len() {
        let n = 1 + rng.below(64);
        d.feed(&bytes[i..(i + n).min(bytes.len())]);
        i += n;
        loop {
            match d.next_message() {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
}

fn exercise_wire(bytes: &[u8], rng: &mut Rng) {
    let _ = ServerMsg::parse(bytes);
    let _ = AppMsg::parse(bytes);
    let mut framed = format!("{}#", bytes.len()).into_bytes();
    framed.extend_from_slice(bytes);
    if rng.below(4) == 0 {
        framed = mutate(rng, &framed, &[]);
    }
    let mut d = FrameDecoder::new(4096);
    for chunk in framed.chunks(1 + rng.below(32)) {
        d.feed(chunk);
        loop {
            match d.next_frame() {
                Ok(Some(f)) => {
                    let _ = ServerMsg::parse(&f);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
}

/// `FUZZ_SEED` when given (decimal or 0x-hex), else a new seed from the clock and the pid.
fn seed() -> u64 {
    match std::env::var("FUZZ_SEED") {
        Ok(v) => {
            let v = v.trim();
            let parsed = match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            };
            parsed.unwrap_or_else(|e| panic!("FUZZ_SEED={v}: {e}"))
        }
        Err(_) => {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos() as u64;
            // splitmix64 finaliser: nearby clocks give unrelated seeds.
            let mut z = nanos ^ (u64::from(std::process::id()) << 32);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
    }
}

/// Ends the process when no case has started for `HANG`: a hung case cannot be interrupted,
/// and a test that never ends would otherwise only be cut by CI's job timeout, seedless.
fn watchdog(seed: u64) -> std::sync::mpsc::Sender<u64> {
    let (tx, rx) = std::sync::mpsc::channel::<u64>();
    std::thread::spawn(move || {
        let mut case = 0;
        loop {
            match rx.recv_timeout(HANG) {
                Ok(c) => case = c,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    let _ = writeln!(std::io::stderr(), "fuzz: case {case} hung for {HANG:?}; replay with FUZZ_SEED={seed}");
                    std::process::exit(101);
                }
            }
        }
    });
    tx
}

#[test]
fn mutated_inputs_never_panic() {
    let cases: u64 = std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let seed = seed();
    // Straight to stderr, past libtest's capture: the seed shows even when the test passes.
    let _ = writeln!(std::io::stderr(), "fuzz: seed {seed} (replay with FUZZ_SEED={seed} FUZZ_CASES={cases})");
    let mut corpus: Vec<Vec<u8>> = SEEDS.iter().map(|s| s.to_vec()).collect();
    if let Some(dir) = common::shared_dir("testdata/sip/rfc4475") {
        for sub in ["valid", "invalid"] {
            for e in std::fs::read_dir(dir.join(sub)).expect("dir") {
                corpus.push(std::fs::read(e.expect("entry").path()).expect("file"));
            }
        }
    }
    let wire: Vec<Vec<u8>> = WIRE_SEEDS.iter().map(|s| s.to_vec()).collect();
    let mut rng = Rng(seed | 1);
    let alive = watchdog(seed);
    let started = Instant::now();
    for case in 0..cases {
        let _ = alive.send(case);
        let fail = |what: String| -> ! { panic!("fuzz case {case}: {what}; replay with FUZZ_SEED={seed} FUZZ_CASES={}", case + 1) };
        let wire_case = case % 4 == 3;
        let input = if wire_case {
            let pick = rng.below(wire.len());
            mutate(&mut rng, &wire[pick], &wire)
        } else {
            let pick = rng.below(corpus.len());
            mutate(&mut rng, &corpus[pick], &corpus)
        };
        if input.len() > MAX_INPUT {
            fail(format!("input of {} bytes exceeds {MAX_INPUT}", input.len()));
        }
        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let t0 = Instant::now();
        let run = catch_unwind(AssertUnwindSafe(|| {
            if wire_case {
                exercise_wire(&input, &mut rng);
            } else {
                exercise_sip(&input, &mut rng);
            }
        }));
        let (took, memory) = (t0.elapsed(), PEAK.load(Ordering::Relaxed).saturating_sub(base));
        if run.is_err() {
            fail(format!("panicked on {:?}", String::from_utf8_lossy(&input)));
        }
        if took > CASE_TIME {
            fail(format!("took {took:?} (limit {CASE_TIME:?})"));
        }
        if memory > CASE_MEMORY {
            fail(format!("used {memory} bytes of heap (limit {CASE_MEMORY})"));
        }
    }
    eprintln!("fuzz: {cases} cases, seed {seed}, {} corpus messages, {:.1} s", corpus.len(), started.elapsed().as_secs_f64());
}
