//! Giving memory back to the system after a burst of calls. glibc keeps what the engine (and
//! the rest of the process) frees in its arenas, so after 100,000 calls end most of their RSS
//! would stay resident; once the engine's tables have shrunk well below their peak,
//! `malloc_trim` returns the free pages.

/// Below this many transactions, dialogs and proxy transactions at the peak, there is too
/// little to give back to be worth a trim.
const MIN_PEAK: usize = 2_000;

#[derive(Default)]
pub struct Trim {
    peak: usize,
}

impl Trim {
    /// Called now and then with what the engine holds; trims once it is under a quarter of
    /// the peak since the last trim.
    pub fn observe(&mut self, live: usize) {
        if live > self.peak {
            self.peak = live;
        } else if self.peak >= MIN_PEAK && live * 4 <= self.peak {
            release();
            tracing::debug!(peak = self.peak, live, "returned free memory to the system");
            self.peak = live;
        }
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
    fn trims_once_the_engine_holds_a_quarter_of_its_peak() {
        let mut t = Trim::default();
        t.observe(10_000);
        t.observe(5_000);
        assert_eq!(t.peak, 10_000, "not yet");
        t.observe(2_500);
        assert_eq!(t.peak, 2_500, "trimmed; the peak starts again from here");
        let mut small = Trim::default();
        small.observe(1_000);
        small.observe(0);
        assert_eq!(small.peak, 1_000, "too little to bother");
    }
}
