//! [`Mutex`]: std's `Mutex` API; a contended `lock` parks the green
//! thread (its worker runs others), never the worker.
//!
//! # State word
//!
//! | bits              | meaning                                                  |
//! |-------------------|----------------------------------------------------------|
//! | `0`               | unlocked, nobody waits                                   |
//! | `LOCKED`          | held, nobody waits                                       |
//! | `LOCKED \| QUEUED` | held, and the wait queue has (or is about to have) nodes |
//!
//! `QUEUED` never appears without `LOCKED`: an unlock that finds waiters
//! hands the lock over without unlocking it.
//!
//! # Protocol
//!
//! * `lock`, fast path: CAS `0 -> LOCKED` (one atomic, no allocation).
//! * `lock`, slow path, under the queue lock: `0` → CAS to `LOCKED`, done;
//!   `LOCKED` → CAS to `LOCKED | QUEUED`; then push a node and [`wait`].
//!   Setting `QUEUED` under the queue lock before pushing means an unlock
//!   that could miss the node fails its fast path and takes the queue lock.
//! * `unlock`, fast path: CAS `LOCKED -> 0`.
//! * `unlock`, slow path (`QUEUED` was set), under the queue lock: grant the
//!   first undecided node; the lock stays `LOCKED` and now belongs to that
//!   waiter (`QUEUED` is cleared if the queue became empty). If every node
//!   had given up, store `0`.
//!
//! # Fairness
//!
//! Strict FIFO handoff: once a thread waits, the lock goes to waiters in
//! arrival order and neither `lock` nor `try_lock` can barge past them.
//! The cost is a lock convoy under heavy contention (each handoff waits
//! for the next waiter to be scheduled); the gain is that no waiter
//! starves, which matters more for green threads, of which there can be
//! many thousands behind one lock.
//!
//! [`wait`]: super::waitq::wait

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::{Arc, LockResult, TryLockError, TryLockResult};

use super::poison::{self, lock_impls, Panicking};
use super::shim::{loom_const_fn, AtomicUsize, Lock};
use super::waitq::{self, Signal, WaitQueue, WaitResult, Withdraw};

const LOCKED: usize = 1;
const QUEUED: usize = 2;

/// A mutual exclusion lock with std's API and poisoning. Blocking in
/// [`lock`](Mutex::lock) parks a green thread (its worker keeps running
/// other green threads) or blocks an OS thread; the same mutex may be
/// shared by both.
///
/// Uncontended `lock` and unlock are one atomic compare-and-swap each. Under
/// contention the lock is handed to waiters in FIFO order.
///
/// ```
/// use std::sync::Arc;
/// use weft::sync::Mutex;
///
/// let counter = Arc::new(Mutex::new(0));
/// let handles: Vec<_> = (0..10)
///     .map(|_| {
///         let counter = counter.clone();
///         weft::spawn(move || {
///             for _ in 0..100 {
///                 *counter.lock().unwrap() += 1;
///             }
///         })
///     })
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// assert_eq!(*counter.lock().unwrap(), 1000);
/// ```
///
/// A guard cannot leave its thread, as with std:
///
/// ```compile_fail
/// let m = weft::sync::Mutex::new(0);
/// let guard = m.lock().unwrap();
/// std::thread::scope(|s| {
///     s.spawn(move || drop(guard));
/// });
/// ```
pub struct Mutex<T: ?Sized> {
    /// See the module docs. Any thread.
    state: AtomicUsize,
    /// Waiting lockers, oldest first. Touched only on contention.
    queue: Lock<WaitQueue<Arc<Signal>>>,
    poison: poison::Flag,
    data: UnsafeCell<T>,
}

// SAFETY: the lock hands `&mut T` to one thread at a time, which may be any
// thread, so `T: Send` is needed and sufficient, as for std's Mutex.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above: sharing the mutex only ever gives exclusive access.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

/// Holds a [`Mutex`] locked; unlocks when dropped. Not `Send`, as std's.
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized + 'a> {
    pub(crate) mutex: &'a Mutex<T>,
    panicking: Panicking,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard only gives `&T`.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<T> Mutex<T> {
    loom_const_fn! {
        /// A new unlocked mutex. `const`, so it can initialise a `static`.
        pub fn new(value: T) -> Mutex<T> {
            Mutex { state: AtomicUsize::new(0), queue: Lock::new(WaitQueue::new()), poison: poison::Flag::new(), data: UnsafeCell::new(value) }
        }
    }

    /// Consumes the mutex and returns its value (`Err` if poisoned, with
    /// the value inside).
    pub fn into_inner(self) -> LockResult<T> {
        self.poison.wrap(self.data.into_inner())
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Acquires the lock, parking the calling green thread (or blocking the
    /// calling OS thread) while another holds it.
    ///
    /// Returns `Err` with the guard inside if a holder panicked (poisoning,
    /// as std). Locking a mutex the calling thread already holds deadlocks.
    ///
    /// # Panics
    ///
    /// If it would block while the runtime force-unwinds the calling green
    /// thread at shutdown (a destructor locking a contended mutex): nobody
    /// would ever wake it.
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        if self.state.compare_exchange(0, LOCKED, Acquire, Relaxed).is_err() {
            self.lock_slow();
        }
        self.poison.wrap(self.guard())
    }

    /// Acquires the lock if it is free and nobody waits for it.
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T>> {
        if self.state.compare_exchange(0, LOCKED, Acquire, Relaxed).is_err() {
            return Err(TryLockError::WouldBlock);
        }
        Ok(self.poison.wrap(self.guard())?)
    }

    /// True if a holder panicked.
    pub fn is_poisoned(&self) -> bool {
        self.poison.get()
    }

    /// Clears the poisoned state.
    pub fn clear_poison(&self) {
        self.poison.clear();
    }

    /// Mutable access without locking: the borrow proves exclusivity.
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        self.poison.wrap(self.data.get_mut())
    }

    fn guard(&self) -> MutexGuard<'_, T> {
        MutexGuard { mutex: self, panicking: Panicking::now(), _not_send: PhantomData }
    }

    #[cold]
    fn lock_slow(&self) {
        let signal = {
            let mut queue = self.queue.lock();
            let was = self.state.fetch_update(Acquire, Relaxed, |state| match state {
                0 => Some(LOCKED),
                LOCKED => Some(LOCKED | QUEUED),
                _ => None, // QUEUED already
            });
            if was == Ok(0) {
                return;
            }
            queue.push_current()
        };
        let mut cleanup = Withdraw::new(&self.queue, &signal)
            .clearing(&self.state, QUEUED)
            // Granted while unwinding: the lock is ours; pass it on.
            .on_abandon(|_| self.unlock());
        let _waiting = crate::observe::waiting_on(crate::observe::WaitReason::Mutex {
            object: (self as *const Self).cast::<()>() as usize,
        });
        match waitq::wait(&signal, None, &mut cleanup) {
            // The unlocker handed the lock over; its writes were released by
            // the grant and acquired by `wait`'s load.
            WaitResult::Granted(_) => {}
            WaitResult::TimedOut => unreachable!("lock has no deadline"),
            WaitResult::Cancelled => panic!("weft: Mutex::lock would block while the runtime shuts down"),
        }
    }

    /// Releases the lock held by the caller.
    fn unlock(&self) {
        if self.state.compare_exchange(LOCKED, 0, Release, Relaxed).is_err() {
            self.unlock_slow();
        }
    }

    #[cold]
    fn unlock_slow(&self) {
        let mut queue = self.queue.lock();
        // We hold LOCKED and the queue lock: nobody else changes the state.
        // (QUEUED may be clear already: the last waiter withdrew.)
        debug_assert_ne!(self.state.load(Relaxed) & LOCKED, 0);
        match queue.grant_one(0) {
            Some(next) => {
                if queue.is_empty() {
                    self.state.store(LOCKED, Relaxed);
                }
                drop(queue);
                next.unpark();
            }
            None => self.state.store(0, Release),
        }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.poison.done(&self.panicking);
        self.mutex.unlock();
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves the lock is held by this thread.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves the lock is held; `&mut self` makes this
        // the only access through it.
        unsafe { &mut *self.mutex.data.get() }
    }
}

lock_impls!(Mutex, try_lock, guards: MutexGuard);

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}
