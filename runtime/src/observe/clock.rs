//! The clock of wait records: microseconds since a process-wide epoch, kept
//! coarsely by the monitor threads.
//!
//! A wait record stamps the moment a green thread started waiting, at every
//! blocking point. Reading the real clock there would cost a
//! `clock_gettime` per park: about 20 ns through the vDSO, and over 100 ns
//! where the vDSO cannot be used (measured on a virtual machine whose
//! clock source forces the system call: a park went from 158 to 273 ns).
//! Instead, each sample of a monitor thread (every 10 ms at the default
//! threshold) publishes the time in [`COARSE_US`], and a blocking point
//! reads that: two relaxed loads. A stamp is then early by at most one
//! sample period, so a "time in state" is over-reported by at most that
//! much; for a dump read by a person that is precise enough.
//!
//! With every monitor off (`WEFT_MONITOR_MS=0`) nothing keeps the coarse
//! clock, and stamps are 0: "unknown". Dumps then show states without
//! durations; that is the price of turning the monitor off, rather than a
//! clock read at every park. Deadlines (`sleep until`) never go through the
//! coarse clock: they are converted exactly.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Largest value a stamp can hold (56 bits of microseconds: 2,284 years).
pub(crate) const MAX_US: u64 = (1 << 56) - 1;

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// The time of the last monitor sample, in microseconds since [`EPOCH`].
/// Written by monitor threads (`fetch_max`: several may run), read by
/// blocking points on any thread.
static COARSE_US: AtomicU64 = AtomicU64::new(0);

/// Monitor threads currently running, hence refreshing [`COARSE_US`].
static TICKERS: AtomicUsize = AtomicUsize::new(0);

/// The process-wide epoch; fixed by the first runtime that is built (or the
/// first caller), before any stamp or deadline is converted.
pub(crate) fn epoch() -> Instant {
    *EPOCH.get_or_init(Instant::now)
}

/// `t` as microseconds since the epoch (0 for an earlier instant).
pub(crate) fn to_us(t: Instant) -> u64 {
    (t.saturating_duration_since(epoch()).as_micros()).min(u128::from(MAX_US)) as u64
}

/// The instant `us` microseconds after the epoch.
pub(crate) fn from_us(us: u64) -> Instant {
    epoch() + Duration::from_micros(us)
}

/// Now, for a wait stamp, as of the last monitor sample; 0 (unknown) while
/// no monitor runs.
#[inline]
pub(crate) fn stamp_us() -> u64 {
    if TICKERS.load(Relaxed) != 0 {
        COARSE_US.load(Relaxed)
    } else {
        0
    }
}

/// Held by a running monitor thread: while one exists, blocking points use
/// the coarse clock, which the holder refreshes with [`Ticker::tick`].
pub(crate) struct Ticker(());

impl Ticker {
    pub(crate) fn start() -> Ticker {
        let ticker = Ticker(());
        // Refresh before announcing, so no reader sees a stale value.
        ticker.tick(Instant::now());
        TICKERS.fetch_add(1, Relaxed);
        ticker
    }

    /// Publishes `now` (a monitor sample's time); never 0, which means
    /// unknown.
    pub(crate) fn tick(&self, now: Instant) {
        COARSE_US.fetch_max(to_us(now).max(1), Relaxed);
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        TICKERS.fetch_sub(1, Relaxed);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn clock_round_trips_instants_to_the_microsecond() {
        let t = epoch() + Duration::from_micros(1_234_567);
        assert_eq!(to_us(t), 1_234_567);
        assert_eq!(from_us(to_us(t)), t);
        if let Some(earlier) = epoch().checked_sub(Duration::from_secs(1)) {
            assert_eq!(to_us(earlier), 0, "earlier instants clamp to the epoch");
        }
    }

    #[test]
    fn clock_coarse_time_never_runs_ahead_of_the_real_one() {
        let ticker = Ticker::start();
        let stamp = stamp_us();
        assert!(stamp > 0, "known while a monitor runs");
        assert!(stamp <= to_us(Instant::now()).max(1));
        drop(ticker);
    }
}
