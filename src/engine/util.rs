//! Small helpers: identifiers (branches, tags, Call-IDs, transaction ids) and the wall-clock
//! format drachtio uses in its meta fields.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::fmt::Write;
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

fn hex(bytes: &[u8], into: &mut String) {
    for b in bytes {
        let _ = write!(into, "{b:02x}");
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

/// `HH:MM:SS.uuuuuu` (UTC), as drachtio-server stamps messages.
pub fn wall_clock() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs() % 86_400;
    format!("{:02}:{:02}:{:02}.{:06}", secs / 3600, secs / 60 % 60, secs % 60, now.subsec_micros())
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
