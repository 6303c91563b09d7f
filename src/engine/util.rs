//! Small helpers: identifiers (branches, tags, Call-IDs, transaction ids) and the wall-clock
//! format drachtio uses in its meta fields.

use std::time::{SystemTime, UNIX_EPOCH};

/// Branches we generate carry this after the RFC 3261 cookie, so loops through ourselves are
/// recognised (§16.6 step 8 asks proxies to do the same).
pub const BRANCH_PREFIX: &str = "z9hG4bK-drs";

pub fn branch() -> String {
    format!("{BRANCH_PREFIX}{}", &uuid::Uuid::new_v4().simple().to_string()[..16])
}

pub fn tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

pub fn call_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn txn_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A starting CSeq for requests outside a dialog: random, and far from 2^32 (§8.1.1.5).
pub fn initial_cseq() -> u32 {
    u32::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..4].try_into().unwrap_or([1, 0, 0, 0])) % 100_000_000 + 1
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
    }
}
