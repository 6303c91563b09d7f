//! Small helpers: identifiers (branches, tags, Call-IDs, transaction ids) and the wall-clock
//! format drachtio uses in its meta fields.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Branches we generate carry this after the RFC 3261 cookie, so loops through ourselves are
/// recognised (§16.6 step 8 asks proxies to do the same).
pub const BRANCH_PREFIX: &str = "z9hG4bK-drs";

/// Random bytes for identifiers, drawn from the OS a block at a time: tags must be
/// cryptographically random (§19.3), and a system call per identifier (several per call) was a
/// visible share of the engine's time.
struct Pool {
    bytes: [u8; 512],
    used: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = const { RefCell::new(Pool { bytes: [0; 512], used: 512 }) };
}

fn random<const N: usize>() -> [u8; N] {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.used + N > p.bytes.len() {
            if getrandom::fill(&mut p.bytes).is_err() {
                unique_fill(&mut p.bytes);
            }
            p.used = 0;
        }
        let mut out = [0u8; N];
        out.copy_from_slice(&p.bytes[p.used..p.used + N]);
        p.used += N;
        out
    })
}

/// Without OS randomness (never seen on supported systems): not random, but every 8 bytes
/// differ, so identifiers stay unique in this process.
fn unique_fill(bytes: &mut [u8]) {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as u64;
    for c in bytes.chunks_mut(8) {
        c.copy_from_slice(&now.wrapping_add(COUNTER.fetch_add(1, Ordering::Relaxed)).to_le_bytes()[..c.len()]);
    }
}

/// Lower-case hex, two digits a byte (without the formatting machinery: several identifiers
/// are made for every call).
fn hex(bytes: &[u8], into: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        into.push(DIGITS[usize::from(b >> 4)] as char);
        into.push(DIGITS[usize::from(b & 15)] as char);
    }
}

pub fn branch() -> String {
    let mut s = String::with_capacity(BRANCH_PREFIX.len() + 16);
    s.push_str(BRANCH_PREFIX);
    hex(&random::<8>(), &mut s);
    s
}

pub fn tag() -> String {
    let mut s = String::with_capacity(12);
    hex(&random::<6>(), &mut s);
    s
}

/// 128 random bits in the familiar 8-4-4-4-12 form (drachtio uses UUIDs for these).
fn uuid_like() -> String {
    let b = random::<16>();
    let mut s = String::with_capacity(36);
    for (i, part) in [&b[0..4], &b[4..6], &b[6..8], &b[8..10], &b[10..16]].iter().enumerate() {
        if i > 0 {
            s.push('-');
        }
        hex(part, &mut s);
    }
    s
}

pub fn call_id() -> String {
    uuid_like()
}

pub fn txn_id() -> String {
    uuid_like()
}

/// A starting CSeq for requests outside a dialog: random, and far from 2^32 (§8.1.1.5).
pub fn initial_cseq() -> u32 {
    u32::from_le_bytes(random::<4>()) % 100_000_000 + 1
}

/// `HH:MM:SS.uuuuuu` (UTC), as drachtio-server stamps messages (one for every message an app
/// gets, so written digit by digit rather than through `format!`).
pub fn wall_clock() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs() % 86_400;
    let mut s = String::with_capacity(15);
    push_digits(&mut s, secs / 3600, 2);
    s.push(':');
    push_digits(&mut s, secs / 60 % 60, 2);
    s.push(':');
    push_digits(&mut s, secs % 60, 2);
    s.push('.');
    push_digits(&mut s, u64::from(now.subsec_micros()), 6);
    s
}

/// An address as text. IPv4 (the common case) is written without the formatting machinery,
/// which took 2 % of the engine thread: meta fields and Vias need several per message.
pub fn ip_text(ip: IpAddr) -> String {
    let mut s = String::with_capacity(15);
    push_ip(&mut s, ip);
    s
}

/// `ip_text`, appended to `s`.
pub fn push_ip(s: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    s.push('.');
                }
                s.push_str(itoa::Buffer::new().format(octet));
            }
        }
        IpAddr::V6(v6) => {
            use std::fmt::Write;
            let _ = write!(s, "{v6}");
        }
    }
}

/// `host:port`.
pub fn host_port(host: &str, port: u16) -> String {
    let mut s = String::with_capacity(host.len() + 6);
    s.push_str(host);
    s.push(':');
    s.push_str(itoa::Buffer::new().format(port));
    s
}

/// A socket address as `SocketAddr`'s Display writes it (IPv6 in brackets).
pub fn socket_text(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => host_port(&ip_text(IpAddr::V4(*a.ip())), a.port()),
        SocketAddr::V6(_) => addr.to_string(),
    }
}

/// The last `width` decimal digits of `n`, zero-padded.
fn push_digits(s: &mut String, n: u64, width: u32) {
    for place in (0..width).rev() {
        s.push(char::from(b'0' + (n / 10u64.pow(place) % 10) as u8));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_their_shapes() {
        assert!(branch().starts_with("z9hG4bK-drs"));
        assert_ne!(tag(), tag());
        let c = wall_clock();
        assert_eq!(c.len(), 15, "{c}");
        assert!(c.bytes().enumerate().all(|(i, b)| if [2, 5].contains(&i) { b == b':' } else if i == 8 { b == b'.' } else { b.is_ascii_digit() }), "{c}");
        let mut d = String::new();
        push_digits(&mut d, 7, 2);
        push_digits(&mut d, 123_456, 6);
        push_digits(&mut d, 42, 6);
        assert_eq!(d, "07123456000042");
        for ip in ["127.0.0.1", "0.0.0.0", "255.255.10.200", "::1", "2001:db8::7"] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert_eq!(ip_text(ip), ip.to_string());
            let addr = SocketAddr::new(ip, 5060);
            assert_eq!(socket_text(addr), addr.to_string());
        }
        assert_eq!(host_port("example.com", 65535), "example.com:65535");
        let mut h = String::new();
        hex(&[0x00, 0x0f, 0xa5, 0xff], &mut h);
        assert_eq!(h, "000fa5ff");
        assert!(initial_cseq() > 0);
        assert_eq!(tag().len(), 12);
        let t = txn_id();
        assert_eq!(t.split('-').map(str::len).collect::<Vec<_>>(), [8, 4, 4, 4, 12], "{t}");
        let many: std::collections::HashSet<String> = (0..10_000).map(|_| branch()).collect();
        assert_eq!(many.len(), 10_000, "pool refills keep identifiers unique");
        let mut block = [0u8; 512];
        unique_fill(&mut block);
        let chunks: std::collections::HashSet<&[u8]> = block.chunks(8).collect();
        assert_eq!(chunks.len(), 64, "the fallback repeats nothing within a block");
    }
}
