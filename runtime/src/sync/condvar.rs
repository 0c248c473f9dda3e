//! [`Condvar`]: std's `Condvar` API over weft's [`Mutex`].
//!
//! A waiter pushes its node on the condvar's queue *before* it releases
//! the mutex, so a `notify_*` made by whoever takes the mutex next finds
//! it: no lost wakeup between unlock and park. `notify_one` grants the
//! oldest waiter; `notify_all` grants everyone queued at that moment. A
//! waiter returns only when notified or timed out: weft's condvar has no
//! spurious wakeups (std allows them, so code written for std is fine).

use std::fmt;
use std::sync::{Arc, LockResult};
use std::time::{Duration, Instant};

use super::mutex::MutexGuard;
use super::poison;
use super::shim::{loom_const_fn, Lock};
use super::waitq::{self, grant_all, Signal, WaitQueue, WaitResult, Withdraw};

/// A condition variable with std's API, for [`weft::sync::Mutex`]
/// guards. Waiting parks a green thread or blocks an OS thread.
///
/// ```
/// use std::sync::Arc;
/// use weft::sync::{Condvar, Mutex};
///
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let pair2 = pair.clone();
/// weft::spawn(move || {
///     *pair2.0.lock().unwrap() = true;
///     pair2.1.notify_one();
/// });
/// let (lock, cvar) = &*pair;
/// let ready = cvar.wait_while(lock.lock().unwrap(), |ready| !*ready).unwrap();
/// assert!(*ready);
/// ```
///
/// [`weft::sync::Mutex`]: super::Mutex
pub struct Condvar {
    queue: Lock<WaitQueue<Arc<Signal>>>,
}

/// Whether a timed wait ended by timing out, as
/// [`std::sync::WaitTimeoutResult`] (whose constructor is private to std).
#[derive(Debug, PartialEq, Eq, Copy, Clone)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// True if the wait ended because its time ran out.
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

impl Condvar {
    loom_const_fn! {
        /// A condition variable nobody waits on.
        pub fn new() -> Condvar {
            Condvar { queue: Lock::new(WaitQueue::new()) }
        }
    }

    /// Releases the guard's mutex, waits for a notification, re-locks.
    /// `Err` if the mutex is poisoned when re-locked (with the guard).
    ///
    /// # Panics
    ///
    /// If called while the runtime force-unwinds the calling green thread
    /// at shutdown (nobody could notify it).
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        self.wait_until(guard, None).0
    }

    /// Waits until `condition` is false, re-checking it after each
    /// notification (with the lock held).
    pub fn wait_while<'a, T, F>(&self, mut guard: MutexGuard<'a, T>, mut condition: F) -> LockResult<MutexGuard<'a, T>>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard)?;
        }
        Ok(guard)
    }

    /// Like [`wait`](Condvar::wait), for at most `dur`.
    pub fn wait_timeout<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        dur: Duration,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        let (result, timed_out) = self.wait_until(guard, Instant::now().checked_add(dur));
        poison::map_result(result, |guard| (guard, WaitTimeoutResult(timed_out)))
    }

    /// Waits until `condition` is false or `dur` has passed; `timed_out()`
    /// is true only if the condition still held at the deadline.
    pub fn wait_timeout_while<'a, T, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        dur: Duration,
        mut condition: F,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)>
    where
        F: FnMut(&mut T) -> bool,
    {
        let deadline = Instant::now().checked_add(dur);
        loop {
            if !condition(&mut *guard) {
                return Ok((guard, WaitTimeoutResult(false)));
            }
            let remaining = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::MAX,
            };
            if remaining.is_zero() {
                return Ok((guard, WaitTimeoutResult(true)));
            }
            guard = self.wait_timeout(guard, remaining)?.0;
        }
    }

    /// Wakes the longest-waiting thread, if any.
    pub fn notify_one(&self) {
        let next = self.queue.lock().grant_one(0);
        if let Some(next) = next {
            next.unpark();
        }
    }

    /// Wakes every thread waiting now.
    pub fn notify_all(&self) {
        let all = self.queue.lock().take_all();
        grant_all(all, 0);
    }

    /// The shared body: returns the re-locked guard and whether it timed
    /// out.
    fn wait_until<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
    ) -> (LockResult<MutexGuard<'a, T>>, bool) {
        let mutex = guard.mutex;
        let signal = self.queue.lock().push_current();
        drop(guard);
        let mut cleanup = Withdraw::new(&self.queue, &signal)
            // Notified while unwinding: the notification goes to another.
            .on_abandon(|_| self.notify_one());
        let _waiting = crate::observe::waiting_on(crate::observe::WaitReason::Condvar {
            object: (self as *const Self).cast::<()>() as usize,
        });
        let timed_out = match waitq::wait(&signal, deadline, &mut cleanup) {
            WaitResult::Granted(_) => false,
            WaitResult::TimedOut => true,
            WaitResult::Cancelled => panic!("weft: Condvar wait while the runtime shuts down"),
        };
        (mutex.lock(), timed_out)
    }
}

impl Default for Condvar {
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}
