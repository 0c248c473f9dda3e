//! [`Barrier`]: std's `Barrier` API; waiting parks the green thread.
//!
//! The arrival count and the waiters share one internal lock: the `n`-th
//! arrival resets the count (the barrier is reusable at once), takes the
//! whole queue and grants it after releasing the lock.

use std::fmt;
use std::sync::Arc;

use super::shim::{loom_const_fn, Lock};
use super::waitq::{self, grant_all, Cleanup, Signal, WaitQueue, WaitResult};

/// Lets `n` threads (green or OS) wait until all of them have arrived.
///
/// ```
/// use std::sync::Arc;
/// use weft::sync::Barrier;
///
/// let barrier = Arc::new(Barrier::new(3));
/// let handles: Vec<_> = (0..3)
///     .map(|_| {
///         let barrier = barrier.clone();
///         weft::spawn(move || barrier.wait().is_leader())
///     })
///     .collect();
/// let leaders = handles.into_iter().map(|h| h.join().unwrap() as usize).sum::<usize>();
/// assert_eq!(leaders, 1);
/// ```
pub struct Barrier {
    n: usize,
    state: Lock<BarrierState>,
}

struct BarrierState {
    /// Threads waiting in the current round.
    arrived: usize,
    queue: WaitQueue<Arc<Signal>>,
}

/// What [`Barrier::wait`] returns, as [`std::sync::BarrierWaitResult`]
/// (whose constructor is private to std).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// True for exactly one thread of each round: the last to arrive.
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl Barrier {
    loom_const_fn! {
        /// A barrier for `n` threads. `n == 0` behaves as `n == 1`: every
        /// `wait` returns at once as leader.
        pub fn new(n: usize) -> Barrier {
            Barrier { n, state: Lock::new(BarrierState { arrived: 0, queue: WaitQueue::new() }) }
        }
    }

    /// Waits until `n` threads have called `wait` in this round.
    ///
    /// # Panics
    ///
    /// If it would block while the runtime force-unwinds the calling green
    /// thread at shutdown.
    pub fn wait(&self) -> BarrierWaitResult {
        let signal = {
            let mut state = self.state.lock();
            state.arrived += 1;
            if state.arrived >= self.n {
                state.arrived = 0;
                let all = state.queue.take_all();
                drop(state);
                grant_all(all, 0);
                return BarrierWaitResult(true);
            }
            state.queue.push_current()
        };
        let _waiting = crate::observe::waiting_on(crate::observe::WaitReason::Barrier {
            object: (self as *const Self).cast::<()>() as usize,
        });
        match waitq::wait(&signal, None, &mut BarrierCleanup { barrier: self, signal: &signal }) {
            WaitResult::Granted(_) => BarrierWaitResult(false),
            WaitResult::TimedOut => unreachable!("no deadline"),
            WaitResult::Cancelled => panic!("weft: Barrier::wait while the runtime shuts down"),
        }
    }
}

struct BarrierCleanup<'a> {
    barrier: &'a Barrier,
    signal: &'a Arc<Signal>,
}

impl Cleanup for BarrierCleanup<'_> {
    fn withdraw(&mut self) {
        let mut state = self.barrier.state.lock();
        if state.queue.remove(|n| Arc::ptr_eq(n, self.signal)).is_some() {
            state.arrived -= 1;
        }
    }

    fn abandon(&mut self, _: usize) {
        // The round completed; nothing is owed to anyone.
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier").field("n", &self.n).finish_non_exhaustive()
    }
}
