//! Poisoning exactly as std's locks do it: a guard dropped while its thread
//! panics marks the lock poisoned, and later acquisitions return the guard
//! wrapped in [`PoisonError`](std::sync::PoisonError).
//!
//! `std::thread::panicking()` is per OS thread; a green thread runs on one
//! worker for its whole life and does not switch out while it panics unless
//! a destructor parks, so the answer is the green thread's own in practice.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{LockResult, PoisonError};

/// Set when a guard is dropped during a panic. Any thread.
pub(crate) struct Flag {
    poisoned: AtomicBool,
}

/// Whether the acquiring thread was already panicking (then dropping the
/// guard during that panic does not poison). Held in every guard.
pub(crate) struct Panicking(bool);

impl Flag {
    pub(crate) const fn new() -> Flag {
        Flag { poisoned: AtomicBool::new(false) }
    }

    pub(crate) fn get(&self) -> bool {
        self.poisoned.load(Relaxed)
    }

    pub(crate) fn clear(&self) {
        self.poisoned.store(false, Relaxed);
    }

    /// At acquisition: the guard's poison state, and `guard` wrapped as std
    /// wraps it.
    pub(crate) fn guard<G>(&self, guard: G) -> LockResult<G> {
        if self.get() {
            Err(PoisonError::new(guard))
        } else {
            Ok(guard)
        }
    }

    /// At release.
    pub(crate) fn done(&self, at_acquire: &Panicking) {
        if !at_acquire.0 && std::thread::panicking() {
            self.poisoned.store(true, Relaxed);
        }
    }
}

impl Panicking {
    pub(crate) fn now() -> Panicking {
        Panicking(std::thread::panicking())
    }
}

/// `LockResult<A>` mapped to `LockResult<B>`, keeping the poison.
pub(crate) fn map_result<A, B>(result: LockResult<A>, f: impl FnOnce(A) -> B) -> LockResult<B> {
    match result {
        Ok(a) => Ok(f(a)),
        Err(e) => Err(PoisonError::new(f(e.into_inner()))),
    }
}
