//! Giving memory back to the system after a burst of calls. glibc keeps what the engine (and
//! the rest of the process) frees in its arenas, so after 100,000 calls end most of their RSS
//! would stay resident; once the engine's tables have shrunk well below their peak,
//! `malloc_trim` returns the free pages.

/// Below this many transactions, dialogs and proxy transactions at the peak, there is too
/// little to give back to be worth a trim.
const MIN_PEAK: usize = 2_000;

/// Checks after a trim that trim again while the engine stays as low: the JavaScript side
/// frees its share of the calls (the messages its Dialogs kept) only when V8 collects them,
/// often some seconds after the engine's tables have emptied. Twelve checks of 5 s: a minute.
const FOLLOW_UPS: u32 = 12;

#[derive(Default)]
pub struct Trim {
    peak: usize,
    follow_ups: u32,
}

impl Trim {
    /// Called now and then with what the engine holds; trims once it is under a quarter of
    /// the peak since the last trim, and then at each of the next FOLLOW_UPS calls. Returns
    /// whether it trimmed.
    pub fn observe(&mut self, live: usize) -> bool {
        if live > self.peak {
            self.peak = live;
        }
        if self.peak >= MIN_PEAK && live * 4 <= self.peak {
            tracing::debug!(peak = self.peak, live, "returning free memory to the system");
            self.peak = live;
            self.follow_ups = FOLLOW_UPS;
        } else if self.follow_ups > 0 {
            self.follow_ups -= 1;
        } else {
            return false;
        }
        release();
        true
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release() {
    extern "C" {
        fn malloc_trim(pad: usize) -> i32;
    }
    // SAFETY: glibc's malloc_trim only releases free memory; it takes the arena locks itself.
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_once_the_engine_holds_a_quarter_of_its_peak_then_for_a_minute() {
        let mut t = Trim::default();
        assert!(!t.observe(10_000));
        assert!(!t.observe(5_000), "not yet");
        assert!(t.observe(2_500), "a quarter of the peak");
        assert_eq!(t.peak, 2_500, "the peak starts again from here");
        for _ in 0..FOLLOW_UPS {
            assert!(t.observe(2_000), "a follow-up");
        }
        assert!(!t.observe(2_000), "a minute of follow-ups, then no more");
        let mut small = Trim::default();
        assert!(!small.observe(1_000));
        assert!(!small.observe(0), "too little to bother");
    }
}
