//! Connection limits. Per remote address: one address (a flood, a misbehaving peer) cannot take
//! every connection slot. In all: a `Bounded` count of connections of one kind. A `Slot` or a
//! `Place` is held for as long as its connection counts against the limit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// At most `max` at once, across tasks.
#[derive(Clone)]
pub struct Bounded {
    count: Arc<AtomicUsize>,
    max: usize,
}

/// One counted connection of a `Bounded` kind; dropping it gives the place back.
pub struct Place(Arc<AtomicUsize>);

impl Bounded {
    pub fn new(max: usize) -> Bounded {
        Bounded { count: Arc::new(AtomicUsize::new(0)), max }
    }

    /// A place, or None when `max` are taken.
    pub fn claim(&self) -> Option<Place> {
        if self.count.fetch_add(1, Ordering::Relaxed) >= self.max {
            self.count.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(Place(self.count.clone()))
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Clone)]
pub struct PerAddress {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
    max: usize,
}

/// One counted connection; dropping it frees the slot.
pub struct Slot {
    owner: PerAddress,
    ip: IpAddr,
}

impl PerAddress {
    pub fn new(max: usize) -> PerAddress {
        PerAddress { counts: Arc::new(Mutex::new(HashMap::new())), max }
    }

    /// A slot for a connection from `ip`, or None when that address already holds `max`.
    pub fn claim(&self, ip: IpAddr) -> Option<Slot> {
        let mut counts = self.counts.lock().ok()?;
        let n = counts.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Slot { owner: self.clone(), ip })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.owner.counts.lock() {
            if let Some(n) = counts.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    counts.remove(&self.ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_address_and_freed_on_drop() {
        let limit = PerAddress::new(2);
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        let first = limit.claim(a).expect("first");
        let _second = limit.claim(a).expect("second");
        assert!(limit.claim(a).is_none(), "third from the same address");
        assert!(limit.claim(b).is_some(), "another address is not affected");
        drop(first);
        assert!(limit.claim(a).is_some(), "a freed slot can be claimed again");
    }

    #[test]
    fn places_are_bounded_and_given_back_on_drop() {
        let limit = Bounded::new(2);
        let first = limit.claim().expect("first");
        let _second = limit.claim().expect("second");
        assert!(limit.claim().is_none(), "third");
        assert!(limit.claim().is_none(), "a refused claim takes no place");
        drop(first);
        assert!(limit.claim().is_some(), "a freed place can be claimed again");
    }
}
