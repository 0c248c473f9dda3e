//! What `sync` needs from the platform, in one place, switched to loom's
//! models under `--cfg loom`: the atomics of the state words and of the
//! wait nodes, the short internal lock that guards wait queues and channel
//! state, and a thread handle with park / unpark.
//!
//! Outside loom, parking is weft's own: [`park`] parks a green thread (its
//! worker runs others) or blocks an OS thread, exactly as `weft::park`.
//! Under loom, threads are loom's and a timed wait counts as expired at its
//! first check, so a model explores every interleaving of "the waiter gives
//! up" against "a waker grants it" without modelling clocks.

use std::time::Instant;

#[cfg(loom)]
pub(crate) use loom::sync::atomic::AtomicUsize;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::AtomicUsize;

#[cfg(loom)]
use loom::sync::{Mutex as RawLock, MutexGuard as RawGuard};
#[cfg(not(loom))]
use std::sync::{Mutex as RawLock, MutexGuard as RawGuard};

/// Declares a function `const` outside loom (std's `Mutex::new` and friends
/// are `const`, so `static` locks port unchanged) and non-`const` under
/// loom, whose atomics cannot be built in a constant.
macro_rules! loom_const_fn {
    ($(#[$meta:meta])* $vis:vis fn $($rest:tt)*) => {
        #[cfg(not(loom))]
        $(#[$meta])* $vis const fn $($rest)*
        #[cfg(loom)]
        $(#[$meta])* $vis fn $($rest)*
    };
}
pub(crate) use loom_const_fn;

/// The internal lock of a wait queue or a channel. Held for a few
/// instructions (queue surgery, a state check), never across a park, never
/// while user code runs (no `T::drop`, no closure), so it cannot be
/// poisoned by user code and its poison flag is ignored. Any thread.
pub(crate) struct Lock<T> {
    inner: RawLock<T>,
}

pub(crate) type LockGuard<'a, T> = RawGuard<'a, T>;

impl<T> Lock<T> {
    loom_const_fn! {
        pub(crate) fn new(value: T) -> Lock<T> {
            Lock { inner: RawLock::new(value) }
        }
    }

    pub(crate) fn lock(&self) -> LockGuard<'_, T> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The thread that waits on a wait node: a green thread or an OS thread
/// (a loom thread in models). `unpark` may be called from any thread.
#[derive(Clone)]
pub(crate) struct Thread {
    #[cfg(not(loom))]
    inner: crate::GreenThread,
    #[cfg(loom)]
    inner: loom::thread::Thread,
}

impl Thread {
    /// The calling thread.
    pub(crate) fn current() -> Thread {
        #[cfg(not(loom))]
        return Thread { inner: crate::current() };
        #[cfg(loom)]
        return Thread { inner: loom::thread::current() };
    }

    pub(crate) fn unpark(&self) {
        self.inner.unpark();
    }
}

/// Parks the calling thread until an unpark or `deadline`. May return
/// early or spuriously; callers re-check in a loop.
pub(crate) fn park(deadline: Option<Instant>) {
    #[cfg(not(loom))]
    {
        // A blocking point: cancellation and `weft::timeout` unwind from
        // here (the caller's `GiveUpOnUnwind` guard gives the node up).
        crate::thread::park_until(deadline);
    }
    #[cfg(loom)]
    {
        // `expired` is always true under loom, so only untimed waits park.
        debug_assert!(deadline.is_none());
        loom::thread::park();
    }
}

/// Whether a wait with this deadline must give up now.
pub(crate) fn expired(deadline: Instant) -> bool {
    #[cfg(not(loom))]
    return Instant::now() >= deadline;
    #[cfg(loom)]
    {
        let _ = deadline;
        true
    }
}

/// True while the runtime force-unwinds the calling green thread at
/// shutdown (its destructors are running): a wait would never be woken,
/// because shutdown routes no wakeups. Always false on OS threads.
pub(crate) fn cancelled() -> bool {
    #[cfg(not(loom))]
    return crate::green::context::unwinding();
    #[cfg(loom)]
    return false;
}
