//! [`RwLock`]: std's `RwLock` API; a contended acquisition parks the green
//! thread, never the worker.
//!
//! # State word
//!
//! | bits                  | meaning                                              |
//! |-----------------------|------------------------------------------------------|
//! | `WRITER`              | a writer holds the lock                              |
//! | `QUEUED`              | the wait queue is not empty: no fast acquisition     |
//! | `n * READER` (the rest) | `n` readers hold the lock                          |
//!
//! Invariant, under the queue lock: the queue is non-empty exactly when
//! `QUEUED` is set. Pushers set it before pushing; whoever empties the
//! queue (a granter, a withdrawing waiter) clears it.
//!
//! # Protocol
//!
//! * Fast paths: a reader CASes `n -> n + 1` while neither `WRITER` nor
//!   `QUEUED` is set; a writer CASes `0 -> WRITER`; a writer unlocks with
//!   CAS `WRITER -> 0`; a reader unlocks with `fetch_sub(READER)`.
//! * Slow acquisition, under the queue lock: retry the fast path; else set
//!   `QUEUED`, push a node marked reader or writer, and wait.
//! * Slow release, when the lock becomes *free while `QUEUED`*: the
//!   releasing writer (its unlock CAS failed on `QUEUED`), or the last
//!   reader (its `fetch_sub` saw exactly `READER | QUEUED`), takes the queue
//!   lock and, if the lock is still free-and-queued, grants the head: one
//!   writer, or every consecutive reader at the head. Nobody else can
//!   acquire meanwhile (`QUEUED` blocks the fast paths), so the releaser
//!   owns the handoff. Each grant's share is added to the state *before*
//!   the grant CAS (and taken back if the node had given up), so a granted
//!   thread that unlocks at once finds its share there.
//!
//! # Fairness: FIFO, with adjacent readers batched
//!
//! Neither side starves: once anyone waits, newcomers queue behind it (a
//! reader does not join the current readers while a writer waits), and
//! the lock passes in arrival order. Consecutive waiting readers are
//! admitted together. Writer-preferring would starve readers behind a
//! stream of writers; reader-preferring (std's on some platforms) starves
//! writers behind overlapping readers, which green threads make easy.

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::sync::{Arc, LockResult, TryLockError, TryLockResult};

use super::poison::{self, lock_impls, Panicking};
use super::shim::{loom_const_fn, AtomicUsize, Lock};
use super::waitq::{self, Cleanup, Node, Signal, WaitQueue, WaitResult};

const WRITER: usize = 1;
const QUEUED: usize = 2;
const READER: usize = 4;
/// Readers at most: beyond, `read` panics rather than overflow the count.
const MAX_READERS: usize = usize::MAX / READER / 2;

/// A reader-writer lock with std's API and poisoning. Blocking parks a
/// green thread or blocks an OS thread. FIFO between readers and writers;
/// see the module docs of `sync::rwlock` for the policy.
///
/// ```
/// use weft::sync::RwLock;
///
/// let lock = RwLock::new(5);
/// {
///     let r1 = lock.read().unwrap();
///     let r2 = lock.read().unwrap(); // readers share
///     assert_eq!(*r1 + *r2, 10);
/// }
/// *lock.write().unwrap() += 1;
/// assert_eq!(*lock.read().unwrap(), 6);
/// ```
pub struct RwLock<T: ?Sized> {
    /// See the module docs. Any thread.
    state: AtomicUsize,
    queue: Lock<WaitQueue<RwNode>>,
    poison: poison::Flag,
    data: UnsafeCell<T>,
}

// SAFETY: a writer gets `&mut T` on any thread (`T: Send`), readers share
// `&T` across threads (`T: Sync`), as for std's RwLock.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

/// A waiting reader or writer.
struct RwNode {
    signal: Arc<Signal>,
    write: bool,
}

impl Node for RwNode {
    fn signal(&self) -> &Signal {
        &self.signal
    }
}

/// Shared access to an [`RwLock`]'s value; released when dropped.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized + 'a> {
    lock: &'a RwLock<T>,
    _not_send: PhantomData<*const ()>,
}

/// Exclusive access to an [`RwLock`]'s value; released when dropped.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized + 'a> {
    lock: &'a RwLock<T>,
    panicking: Panicking,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: shared guards only give `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<T> RwLock<T> {
    loom_const_fn! {
        /// A new unlocked lock. `const`, so it can initialise a `static`.
        pub fn new(value: T) -> RwLock<T> {
            RwLock { state: AtomicUsize::new(0), queue: Lock::new(WaitQueue::new()), poison: poison::Flag::new(), data: UnsafeCell::new(value) }
        }
    }

    /// Consumes the lock and returns its value (`Err` if poisoned).
    pub fn into_inner(self) -> LockResult<T> {
        self.poison.wrap(self.data.into_inner())
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Shared access, waiting while a writer holds the lock or anyone
    /// waits (FIFO). `Err` if a writer panicked (poisoned).
    ///
    /// # Panics
    ///
    /// If it would block while the runtime force-unwinds the calling green
    /// thread at shutdown, or on reader-count overflow.
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, T>> {
        if !self.try_read_fast() {
            self.acquire_slow(false);
        }
        self.poison.wrap(RwLockReadGuard { lock: self, _not_send: PhantomData })
    }

    /// Shared access if it is available now without waiting.
    pub fn try_read(&self) -> TryLockResult<RwLockReadGuard<'_, T>> {
        if !self.try_read_fast() {
            return Err(TryLockError::WouldBlock);
        }
        Ok(self.poison.wrap(RwLockReadGuard { lock: self, _not_send: PhantomData })?)
    }

    /// Exclusive access, waiting for the current holders and for everyone
    /// queued before. `Err` if a writer panicked (poisoned).
    ///
    /// # Panics
    ///
    /// If it would block while the runtime force-unwinds the calling green
    /// thread at shutdown.
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, T>> {
        if self.state.compare_exchange(0, WRITER, Acquire, Relaxed).is_err() {
            self.acquire_slow(true);
        }
        self.poison.wrap(self.write_guard())
    }

    /// Exclusive access if the lock is free now and nobody waits.
    pub fn try_write(&self) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        if self.state.compare_exchange(0, WRITER, Acquire, Relaxed).is_err() {
            return Err(TryLockError::WouldBlock);
        }
        Ok(self.poison.wrap(self.write_guard())?)
    }

    /// True if a writer panicked.
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

    fn write_guard(&self) -> RwLockWriteGuard<'_, T> {
        RwLockWriteGuard { lock: self, panicking: Panicking::now(), _not_send: PhantomData }
    }

    fn try_read_fast(&self) -> bool {
        let mut state = self.state.load(Relaxed);
        loop {
            if state & (WRITER | QUEUED) != 0 {
                return false;
            }
            assert!(state / READER < MAX_READERS, "weft: RwLock reader count overflow");
            match self.state.compare_exchange_weak(state, state + READER, Acquire, Relaxed) {
                Ok(_) => return true,
                Err(actual) => state = actual,
            }
        }
    }

    #[cold]
    fn acquire_slow(&self, write: bool) {
        let signal = {
            let mut queue = self.queue.lock();
            let free = |state: usize| if write { state == 0 } else { state & (WRITER | QUEUED) == 0 };
            let was = self.state.fetch_update(Acquire, Relaxed, |state| match state {
                s if free(s) && write => Some(WRITER),
                s if free(s) => Some(s + READER),
                s if s & QUEUED != 0 => None,
                s => Some(s | QUEUED),
            });
            if was.is_ok_and(free) {
                return;
            }
            let signal = Arc::new(Signal::new());
            queue.push(RwNode { signal: signal.clone(), write });
            signal
        };
        let object = (self as *const Self).cast::<()>() as usize;
        let _waiting = crate::observe::waiting_on(if write {
            crate::observe::WaitReason::RwLockWrite { object }
        } else {
            crate::observe::WaitReason::RwLockRead { object }
        });
        match waitq::wait(&signal, None, &mut RwCleanup { lock: self, signal: &signal, write }) {
            // The releaser added our share to the state before granting.
            WaitResult::Granted(_) => {}
            WaitResult::TimedOut => unreachable!("no deadline"),
            WaitResult::Cancelled => panic!("weft: RwLock would block while the runtime shuts down"),
        }
    }

    fn read_unlock(&self) {
        // AcqRel: the last reader's handoff must follow every reader's reads.
        if self.state.fetch_sub(READER, AcqRel) == READER | QUEUED {
            self.release_slow(false);
        }
    }

    fn write_unlock(&self) {
        if self.state.compare_exchange(WRITER, 0, Release, Relaxed).is_err() {
            self.release_slow(true);
        }
    }

    /// The lock became free while `QUEUED`: hand it to the head of the
    /// queue. `writer`: called by the releasing writer, which still holds
    /// `WRITER`.
    #[cold]
    fn release_slow(&self, writer: bool) {
        let mut queue = self.queue.lock();
        if writer {
            // If the last waiter withdrew meanwhile, QUEUED is clear, the
            // queue is empty, and the lock is simply free now.
            if self.state.fetch_and(!WRITER, Release) & QUEUED == 0 {
                return;
            }
        } else if self.state.load(Acquire) != QUEUED {
            // Someone already handed it over, or the queue emptied and a
            // newcomer took the lock: not ours to hand.
            return;
        }
        let mut woken = Vec::new();
        loop {
            let mut readers = 0;
            while let Some(head) = queue.front() {
                if head.write && readers > 0 {
                    break;
                }
                let node = queue.pop_front().expect("front exists");
                let share = if node.write { WRITER } else { READER };
                // The share goes in first, so a granted thread that unlocks
                // at once finds it; taken back if the node had given up.
                self.state.fetch_add(share, Relaxed);
                if node.signal.try_grant(0) {
                    woken.push(node.signal);
                    if share == WRITER {
                        break;
                    }
                    readers += 1;
                } else {
                    self.state.fetch_sub(share, Relaxed);
                }
            }
            if queue.is_empty() {
                self.state.fetch_and(!QUEUED, Relaxed);
                break;
            }
            // A reader we granted may have left while a share taken back
            // above was still counted, so its unlock did not see itself as
            // the last: if the lock is free and queued, it is still ours to
            // hand over.
            if self.state.load(Acquire) != QUEUED {
                break;
            }
        }
        drop(queue);
        for signal in woken {
            signal.unpark();
        }
    }
}

/// A waiter of an [`RwLock`] giving up.
struct RwCleanup<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    signal: &'a Arc<Signal>,
    write: bool,
}

impl<T: ?Sized> Cleanup for RwCleanup<'_, T> {
    fn withdraw(&mut self) {
        let mut queue = self.lock.queue.lock();
        queue.remove(|n| Arc::ptr_eq(&n.signal, self.signal));
        if queue.is_empty() {
            // If the lock is free, this makes it acquirable again; a
            // releaser still on its way then finds the state is not QUEUED.
            self.lock.state.fetch_and(!QUEUED, Relaxed);
        } else if self.lock.state.load(Acquire) == QUEUED {
            // We were the head a releaser skipped, or the lock is free and
            // queued for another reason: hand it on.
            drop(queue);
            self.lock.release_slow(false);
        }
    }

    fn abandon(&mut self, _: usize) {
        if self.write {
            self.lock.write_unlock();
        } else {
            self.lock.read_unlock();
        }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.read_unlock();
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.poison.done(&self.panicking);
        self.lock.write_unlock();
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a read guard proves no writer holds the lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a write guard proves exclusive access.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: a write guard proves exclusive access; `&mut self` makes
        // this the only access through it.
        unsafe { &mut *self.lock.data.get() }
    }
}

lock_impls!(RwLock, try_read, guards: RwLockReadGuard, RwLockWriteGuard);
