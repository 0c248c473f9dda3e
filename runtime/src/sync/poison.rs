//! Poisoning exactly as std's locks do it: a guard dropped while its thread
//! panics marks the lock poisoned, and later acquisitions return the guard
//! wrapped in [`PoisonError`](std::sync::PoisonError).
//!
//! `std::thread::panicking()` is per OS thread; a green thread runs on one
//! worker for its whole life and does not switch out while it panics unless
//! a destructor parks, so the answer is the green thread's own in practice.
//!
//! Also here, as the macro `lock_impls!`: the std trait impls `Mutex` and
//! `RwLock` share, whose `Debug` reports the poison flag.

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

    /// `value` wrapped as std wraps it: `Err(PoisonError)` if the lock is
    /// poisoned. `value` is a new guard at acquisition, or the lock's value
    /// itself for `into_inner` and `get_mut`.
    pub(crate) fn wrap<V>(&self, value: V) -> LockResult<V> {
        if self.get() {
            Err(PoisonError::new(value))
        } else {
            Ok(value)
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

/// std's `Default`, `From<T>` and `Debug` for a lock `$lock<T>`, and
/// `Debug` for its guards (they show the value). `$lock` has std's `new`,
/// a `poison: Flag` field, and `$try_lock`, the non-blocking acquisition
/// `Debug` peeks through (as std's, it prints `<locked>` when that fails).
macro_rules! lock_impls {
    ($lock:ident, $try_lock:ident, guards: $($guard:ident),+) => {
        impl<T: Default> Default for $lock<T> {
            fn default() -> $lock<T> {
                $lock::new(T::default())
            }
        }

        impl<T> From<T> for $lock<T> {
            fn from(value: T) -> $lock<T> {
                $lock::new(value)
            }
        }

        impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for $lock<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut d = f.debug_struct(stringify!($lock));
                match self.$try_lock() {
                    Ok(guard) => d.field("data", &&*guard),
                    Err(std::sync::TryLockError::Poisoned(err)) => d.field("data", &&**err.get_ref()),
                    Err(std::sync::TryLockError::WouldBlock) => d.field("data", &format_args!("<locked>")),
                };
                d.field("poisoned", &self.poison.get()).finish_non_exhaustive()
            }
        }

        $(
            impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for $guard<'_, T> {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    std::fmt::Debug::fmt(&**self, f)
                }
            }
        )+
    };
}

pub(crate) use lock_impls;
