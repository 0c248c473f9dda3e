//! [`WaitGroup`]: Go's `sync.WaitGroup`.
//!
//! Go-style (`add` / `done` / `wait` on a shared value) rather than
//! crossbeam's clone-and-drop style: it is the shape people port from Go,
//! it lets one `add(n)` cover a batch spawned in a loop, and `wait` can be
//! called by any number of threads, any number of times.
//!
//! # Protocol
//!
//! The counter is an atomic outside the lock. `done` that brings it to zero
//! then takes the lock and grants every waiter. `wait` takes the lock,
//! re-checks the counter, and only then queues: either `done`'s decrement
//! came first and `wait` sees zero, or `wait` queued first and `done`'s
//! lock acquisition sees the node. A woken waiter re-checks the counter
//! (the group may have been reused with a new `add` meanwhile) and waits
//! again if it is not zero.

use std::fmt;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::sync::Arc;

use super::shim::{loom_const_fn, AtomicUsize, Lock};
use super::waitq::{self, grant_all, Signal, WaitQueue, WaitResult, Withdraw};

/// Waits for a collection of tasks to finish, as Go's `sync.WaitGroup`:
/// [`add`](WaitGroup::add) before starting tasks, [`done`](WaitGroup::done)
/// when each finishes, [`wait`](WaitGroup::wait) until the count is zero.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use weft::sync::WaitGroup;
///
/// let wg = Arc::new(WaitGroup::new());
/// let finished = Arc::new(AtomicUsize::new(0));
/// wg.add(10);
/// for _ in 0..10 {
///     let (wg, finished) = (wg.clone(), finished.clone());
///     weft::spawn(move || {
///         finished.fetch_add(1, Ordering::SeqCst);
///         wg.done();
///     });
/// }
/// wg.wait();
/// assert_eq!(finished.load(Ordering::SeqCst), 10);
/// ```
pub struct WaitGroup {
    /// Tasks added and not yet done. Any thread.
    count: AtomicUsize,
    queue: Lock<WaitQueue<Arc<Signal>>>,
}

impl WaitGroup {
    loom_const_fn! {
        /// A group with a count of zero.
        pub fn new() -> WaitGroup {
            WaitGroup { count: AtomicUsize::new(0), queue: Lock::new(WaitQueue::new()) }
        }
    }

    /// Adds `n` to the count.
    ///
    /// # Panics
    ///
    /// If the count overflows.
    pub fn add(&self, n: usize) {
        let before = self.count.fetch_add(n, Relaxed);
        if before.checked_add(n).is_none() {
            self.count.fetch_sub(n, Relaxed);
            panic!("weft: WaitGroup count overflow");
        }
    }

    /// Subtracts one from the count; at zero, wakes every waiter.
    ///
    /// # Panics
    ///
    /// If the count is already zero (more `done` than `add`), as Go does.
    pub fn done(&self) {
        let mut count = self.count.load(Relaxed);
        loop {
            assert!(count > 0, "weft: WaitGroup::done called more times than add");
            match self.count.compare_exchange_weak(count, count - 1, AcqRel, Relaxed) {
                Ok(_) => break,
                Err(actual) => count = actual,
            }
        }
        if count == 1 {
            let all = self.queue.lock().take_all();
            grant_all(all, 0);
        }
    }

    /// The current count.
    pub fn count(&self) -> usize {
        self.count.load(Acquire)
    }

    /// Waits until the count is zero (returns at once if it is).
    ///
    /// # Panics
    ///
    /// If it would block while the runtime force-unwinds the calling green
    /// thread at shutdown.
    pub fn wait(&self) {
        while self.count.load(Acquire) != 0 {
            let signal = {
                let mut queue = self.queue.lock();
                if self.count.load(Acquire) == 0 {
                    return;
                }
                queue.push_current()
            };
            let _waiting = crate::observe::waiting_on(crate::observe::WaitReason::WaitGroup {
                object: (self as *const Self).cast::<()>() as usize,
            });
            if waitq::wait(&signal, None, &mut Withdraw::new(&self.queue, &signal)) == WaitResult::Cancelled {
                panic!("weft: WaitGroup::wait while the runtime shuts down");
            }
        }
    }
}

impl Default for WaitGroup {
    fn default() -> WaitGroup {
        WaitGroup::new()
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGroup").field("count", &self.count()).finish_non_exhaustive()
    }
}
