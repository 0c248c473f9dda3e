//! The per-worker probe: what the monitor samples to see that a green
//! thread has kept its worker for too long.
//!
//! # Protocol
//!
//! The owner worker, around every resume of a green thread (`Local::resume`
//! in `sched/worker.rs`):
//!
//! 1. stores the green thread's id in `current` (Release);
//! 2. stores `epoch + 1` in `epoch` (Release): odd means "inside a resume";
//! 3. resumes the green thread, which runs until its next blocking point;
//! 4. stores `epoch + 1` again (Release): even means "back in the worker".
//!
//! Three plain stores (`mov` on x86-64; no read-modify-write, no fence, no
//! clock), to a cache line of its own that only the owner writes; the
//! owner is the only writer, so it reads `epoch` back with a relaxed load
//! instead of a `fetch_add`. Seven instructions per resume (callgrind: a
//! yield went from 177 to 184 on the worker thread), nothing measurable in
//! time next to the stack switch (see `mod.rs`).
//!
//! The monitor reads `epoch` (Acquire), `current` (Acquire) and `epoch`
//! again; if both epochs are the same odd value, `current` is the id of the
//! green thread of that resume (a seqlock with one writer: an id written
//! for a later resume is stored after that resume's even epoch, which the
//! second epoch load would then see). A worker whose epoch stays at the same
//! odd value across samples spanning the threshold has been running one
//! green thread, without a blocking point, for at least that long.
//!
//! # Rejected alternatives
//!
//! * A timestamp per resume (the obvious "running since"): a clock read on
//!   every switch, 20 ns on a 60 ns yield. The monitor measures the time
//!   itself, as the first sample that saw an epoch, which under-reports by
//!   at most one sample period.
//! * Having the worker check a deadline itself: a hogging green thread is
//!   by definition not giving its worker a chance to check anything.

use std::sync::atomic::{AtomicU64, Ordering::*};

/// One worker's resume counter and running green thread. Written by the
/// owner worker only; read by any thread.
#[derive(Debug, Default)]
pub(crate) struct Probe {
    /// Odd while the owner runs a green thread; bumped at every resume and
    /// every switch back.
    epoch: AtomicU64,
    /// Id of the green thread of the current odd epoch.
    current: AtomicU64,
}

/// What a sample saw: the worker has been inside resume `epoch`, running
/// green thread `id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Running {
    pub(crate) epoch: u64,
    pub(crate) id: u64,
}

impl Probe {
    /// Owner worker, just before resuming green thread `id`.
    #[inline]
    pub(crate) fn enter(&self, id: u64) {
        self.current.store(id, Release);
        self.epoch.store(self.epoch.load(Relaxed) + 1, Release);
    }

    /// Owner worker, once the green thread has switched back.
    #[inline]
    pub(crate) fn leave(&self) {
        self.epoch.store(self.epoch.load(Relaxed) + 1, Release);
    }

    /// Any thread: the green thread the worker is running, if it is running
    /// one (a snapshot, stale at once).
    pub(crate) fn sample(&self) -> Option<Running> {
        let epoch = self.epoch.load(Acquire);
        if epoch % 2 == 0 {
            return None;
        }
        let id = self.current.load(Acquire);
        (self.epoch.load(Relaxed) == epoch).then_some(Running { epoch, id })
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn probe_sees_the_running_green_thread_only_inside_a_resume() {
        let probe = Probe::default();
        assert_eq!(probe.sample(), None);
        probe.enter(7);
        let first = probe.sample().unwrap();
        assert_eq!(first.id, 7);
        assert_eq!(probe.sample(), Some(first), "no switch: the same epoch");
        probe.leave();
        assert_eq!(probe.sample(), None);
        probe.enter(7);
        let second = probe.sample().unwrap();
        assert_eq!(second.id, 7);
        assert_ne!(second.epoch, first.epoch, "a new resume of the same green thread is a new epoch");
    }
}
