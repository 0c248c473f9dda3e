//! [`Semaphore`]: counted permits, handed to waiters in FIFO order.
//!
//! # State word
//!
//! `permits * PERMIT | QUEUED`. Invariant: `QUEUED` (the queue has nodes)
//! implies zero free permits, because a release that finds waiters hands
//! its permit straight to the oldest one instead of adding it to the count.
//! So the fast paths are one CAS each: acquire `n -> n - 1` while not
//! `QUEUED`, release `n -> n + 1` while not `QUEUED`. With `QUEUED` set,
//! both go through the queue lock.

use std::fmt;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::shim::{loom_const_fn, AtomicUsize, Lock};
use super::waitq::{self, Signal, WaitQueue, WaitResult, Withdraw};

const QUEUED: usize = 1;
const PERMIT: usize = 2;

/// A counting semaphore. `acquire` parks a green thread (or blocks an OS
/// thread) until a permit is free; permits go to waiters in arrival order.
///
/// ```
/// use std::sync::Arc;
/// use weft::sync::Semaphore;
///
/// let sem = Arc::new(Semaphore::new(2));
/// let a = sem.acquire();
/// let b = sem.acquire();
/// assert!(sem.try_acquire().is_none());
/// drop(a);
/// assert_eq!(sem.available_permits(), 1);
/// drop(b);
/// ```
pub struct Semaphore {
    /// See the module docs. Any thread.
    state: AtomicUsize,
    queue: Lock<WaitQueue<Arc<Signal>>>,
}

/// One permit of a [`Semaphore`]; returned to it when dropped.
#[must_use = "the permit is released at once if unused"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
}

impl Semaphore {
    /// Most permits a semaphore can hold.
    pub const MAX_PERMITS: usize = usize::MAX / PERMIT;

    loom_const_fn! {
        /// A semaphore with `permits` free permits.
        ///
        /// # Panics
        ///
        /// If `permits` exceeds [`Semaphore::MAX_PERMITS`].
        pub fn new(permits: usize) -> Semaphore {
            assert!(permits <= Semaphore::MAX_PERMITS, "weft: too many permits");
            Semaphore { state: AtomicUsize::new(permits * PERMIT), queue: Lock::new(WaitQueue::new()) }
        }
    }

    /// Takes a permit, waiting for one if none is free.
    ///
    /// # Panics
    ///
    /// If it would block while the runtime force-unwinds the calling green
    /// thread at shutdown.
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        match self.acquire_until(None) {
            Some(permit) => permit,
            None => panic!("weft: Semaphore::acquire would block while the runtime shuts down"),
        }
    }

    /// Takes a permit if one is free now and nobody waits.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        let mut state = self.state.load(Relaxed);
        while state & QUEUED == 0 && state >= PERMIT {
            match self.state.compare_exchange_weak(state, state - PERMIT, Acquire, Relaxed) {
                Ok(_) => return Some(SemaphorePermit { sem: self }),
                Err(actual) => state = actual,
            }
        }
        None
    }

    /// Takes a permit, waiting at most `timeout`. `None` if it timed out
    /// (then it took nothing). A permit granted as the time runs out is
    /// returned, not lost.
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphorePermit<'_>> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.acquire_until(Some(deadline)),
            None => Some(self.acquire()),
        }
    }

    /// Adds `n` permits: each goes to a waiter (oldest first) if there is
    /// one, else to the free count.
    ///
    /// # Panics
    ///
    /// If the free count would exceed [`Semaphore::MAX_PERMITS`].
    pub fn add_permits(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut state = self.state.load(Relaxed);
        while state & QUEUED == 0 {
            assert!(n <= Semaphore::MAX_PERMITS - state / PERMIT, "weft: semaphore permit count overflow");
            match self.state.compare_exchange_weak(state, state + n * PERMIT, Release, Relaxed) {
                Ok(_) => return,
                Err(actual) => state = actual,
            }
        }
        self.release_slow(n);
    }

    /// Free permits now.
    pub fn available_permits(&self) -> usize {
        self.state.load(Relaxed) / PERMIT
    }

    fn acquire_until(&self, deadline: Option<Instant>) -> Option<SemaphorePermit<'_>> {
        if let Some(permit) = self.try_acquire() {
            return Some(permit);
        }
        let signal = {
            let mut queue = self.queue.lock();
            let was = self.state.fetch_update(Acquire, Relaxed, |state| match state {
                s if s & QUEUED != 0 => None,
                s if s >= PERMIT => Some(s - PERMIT),
                s => Some(s | QUEUED),
            });
            if was.is_ok_and(|s| s >= PERMIT) {
                return Some(SemaphorePermit { sem: self });
            }
            queue.push_current()
        };
        let mut cleanup =
            Withdraw::new(&self.queue, &signal).clearing(&self.state, QUEUED).on_abandon(|_| self.add_permits(1));
        let _waiting = crate::observe::waiting_on(crate::observe::WaitReason::Semaphore {
            object: (self as *const Self).cast::<()>() as usize,
        });
        match waitq::wait(&signal, deadline, &mut cleanup) {
            WaitResult::Granted(_) => Some(SemaphorePermit { sem: self }),
            WaitResult::TimedOut | WaitResult::Cancelled => None,
        }
    }

    #[cold]
    fn release_slow(&self, mut n: usize) {
        let mut queue = self.queue.lock();
        let mut woken = Vec::new();
        // QUEUED can only be cleared under this lock, so it is stable here
        // unless the queue empties; with it set, the count is zero and no
        // fast path changes the state.
        while n > 0 && self.state.load(Relaxed) & QUEUED != 0 {
            match queue.grant_one(0) {
                Some(next) => {
                    woken.push(next);
                    n -= 1;
                }
                None => self.state.store(0, Relaxed),
            }
        }
        if queue.is_empty() {
            self.state.fetch_and(!QUEUED, Relaxed);
        }
        if n > 0 {
            let before = self.state.fetch_add(n * PERMIT, Release);
            assert!(before / PERMIT <= Semaphore::MAX_PERMITS - n, "weft: semaphore permit count overflow");
        }
        drop(queue);
        for signal in woken {
            signal.unpark();
        }
    }
}

impl SemaphorePermit<'_> {
    /// Keeps the permit out of the semaphore for good (the semaphore has
    /// one permit fewer from now on).
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.add_permits(1);
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore").field("available_permits", &self.available_permits()).finish_non_exhaustive()
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}
