//! The engine's tables of transactions and dialogs, each split into shards.
//!
//! A hash table grows by doubling, rehashing every entry at once. The transaction tables hold
//! every transaction of the last 32 s (Timers J and L), so at a few thousand calls/s one
//! doubling rehashes over 100,000 keys, each up to three strings: measured at 7,000 calls/s,
//! that stopped the engine for about 100 ms, and every call arriving meanwhile waited. Split
//! into shards, each doubling touches one shard, a 64th of the entries. The shards take
//! unequal shares of the keys, so that they reach their doubling points one after another
//! rather than all in the same instant (which would add up to the same stop).

use std::borrow::Borrow;
use foldhash::fast::RandomState;
use std::collections::hash_map::Entry;
use std::collections::HashMap as StdMap;
use std::hash::{Hash, Hasher};
use std::ops::Index;
use std::sync::LazyLock;

/// A shard: keyed with a per-process random seed, as std's SipHash is, but several times
/// cheaper on the short strings used here (SipHash was 4-5 % of the engine thread's samples at
/// 3,000 calls/s). foldhash gives up SipHash's proven resistance to chosen keys for speed;
/// its seed still keeps a sender from predicting where keys land.
type HashMap<K, V> = StdMap<K, V, RandomState>;

const SHARDS: usize = 64;
const SLOTS: usize = 1024;

/// The shard of each of SLOTS hash values. Shard i gets a share proportional to 2^(i/64):
/// the shares span one doubling, so the shards' doubling points spread evenly over the time
/// the whole table takes to double.
static SHARD_OF_SLOT: LazyLock<[u8; SLOTS]> = LazyLock::new(|| {
    let weight = |i: usize| (i as f64 / SHARDS as f64).exp2();
    let total: f64 = (0..SHARDS).map(weight).sum();
    let mut slots = [0u8; SLOTS];
    let (mut shard, mut upto) = (0, weight(0));
    for (s, slot) in slots.iter_mut().enumerate() {
        while (s as f64 + 0.5) / SLOTS as f64 * total > upto && shard + 1 < SHARDS {
            shard += 1;
            upto += weight(shard);
        }
        *slot = shard as u8;
    }
    slots
});

pub struct Table<K, V> {
    shards: Box<[HashMap<K, V>]>,
    /// Entries in all shards: read after every engine step when metrics are on.
    len: usize,
}

/// Picks a key's shard: a multiply-and-rotate hash, a few instructions a word, where each shard
/// hashes again with its keyed hasher. Being unkeyed, it lets a sender who chooses keys crowd
/// them into one shard; that shard's own hashing still spreads them, and growing it costs what
/// one unsharded table did.
struct ShardHasher(u64);

impl Hasher for ShardHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl<K: Hash + Eq, V> Default for Table<K, V> {
    fn default() -> Self {
        Table { shards: (0..SHARDS).map(|_| HashMap::default()).collect(), len: 0 }
    }
}

impl<K: Hash + Eq, V> Table<K, V> {
    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> usize {
        let mut h = ShardHasher(0);
        key.hash(&mut h);
        // The top bits: a multiplication carries every input bit up, not down.
        SHARD_OF_SLOT[(h.finish() >> (64 - SLOTS.trailing_zeros())) as usize] as usize
    }

    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shards[self.shard(key)].get(key)
    }

    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let i = self.shard(key);
        self.shards[i].get_mut(key)
    }

    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(key).is_some()
    }

    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let i = self.shard(&key);
        let old = self.shards[i].insert(key, value);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// The value under `key`, made by `make` first if there is none.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let i = self.shard(&key);
        match self.shards[i].entry(key) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                self.len += 1;
                e.insert(make())
            }
        }
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let i = self.shard(key);
        let old = self.shards[i].remove(key);
        if old.is_some() {
            self.len -= 1;
        }
        old
    }

    pub fn len(&self) -> usize {
        self.len
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.shards.iter().flat_map(HashMap::iter)
    }

    #[cfg(test)]
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.shards.iter().flat_map(HashMap::keys)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.shards.iter().flat_map(HashMap::values)
    }
}

/// `table[key]`, with HashMap's contract: for a key just found in the table (the engine re-reads
/// an entry this way after changing it through `get_mut`); a missing key panics, as it does there.
impl<K, Q, V> Index<&Q> for Table<K, V>
where
    K: Hash + Eq + Borrow<Q>,
    Q: Hash + Eq + ?Sized,
{
    type Output = V;

    fn index(&self, key: &Q) -> &V {
        match self.get(key) {
            Some(v) => v,
            None => panic!("no entry for the key in the table"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_one_map() {
        let mut t: Table<String, u32> = Table::default();
        assert!(t.is_empty());
        for i in 0..1000 {
            assert_eq!(t.insert(format!("k{i}"), i), None);
        }
        assert_eq!(t.len(), 1000);
        assert_eq!(t.insert("k7".into(), 70), Some(7));
        assert_eq!(t.get("k7"), Some(&70));
        *t.get_mut("k8").expect("k8") += 1;
        assert_eq!(t.get("k8"), Some(&9));
        assert!(t.contains_key("k999") && !t.contains_key("k1000"));
        *t.get_or_insert_with("k1000".into(), || 0) += 5;
        *t.get_or_insert_with("k1000".into(), || 0) += 1;
        assert_eq!(t.len(), 1001);
        assert_eq!(t.remove("k1000"), Some(6));
        assert_eq!(t.remove("k1000"), None);
        assert_eq!(t.len(), 1000);
        assert_eq!(t.len(), t.shards.iter().map(HashMap::len).sum::<usize>());
        let mut keys: Vec<_> = t.keys().cloned().collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 1000);
        assert_eq!(t.values().count(), 1000);
        assert_eq!(t.iter().count(), 1000);
        assert_eq!(t["k1"], 1);
        // Spread over the shards, not crowded into a few.
        assert!(t.shards.iter().filter(|s| !s.is_empty()).count() > SHARDS / 2);
    }

    #[test]
    fn keys_alike_but_for_a_counter_spread_as_the_shares_say() {
        // sipp's branches and Call-IDs differ only in a call number.
        let mut t: Table<(String, String, String), ()> = Table::default();
        let n = 64_000;
        for i in 0..n {
            t.insert((format!("z9hG4bK-2280-{i}-0"), "127.0.0.1:34503".into(), "INVITE".into()), ());
        }
        for (i, shard) in t.shards.iter().enumerate() {
            let share = SHARD_OF_SLOT.iter().filter(|&&s| s as usize == i).count() as f64 / SLOTS as f64;
            let ratio = shard.len() as f64 / (share * n as f64);
            assert!((0.8..1.25).contains(&ratio), "shard {i}: {} keys, {ratio:.2} of its share", shard.len());
        }
    }

    #[test]
    fn shard_shares_span_one_doubling() {
        let share = |i: usize| SHARD_OF_SLOT.iter().filter(|&&s| s as usize == i).count();
        assert!((0..SHARDS).all(|i| share(i) > 0), "every shard is used");
        assert!(SHARD_OF_SLOT.windows(2).all(|w| w[0] <= w[1]));
        let (first, last) = (share(0) as f64, share(SHARDS - 1) as f64);
        assert!((1.8..=2.2).contains(&(last / first)), "{first} .. {last}");
    }
}
