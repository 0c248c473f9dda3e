//! [`OnceLock`]: std's `OnceLock` API, for green threads.
//!
//! std's `OnceLock` blocks the OS thread of a caller that finds another
//! thread initialising: on a weft worker that stalls every green thread of
//! the worker, and deadlocks if the initialiser is one of them (it cannot
//! run to finish while its worker is blocked). This one parks the caller.
//!
//! # States
//!
//! | state        | meaning                                  | moved by                      |
//! |--------------|------------------------------------------|-------------------------------|
//! | `INCOMPLETE` | no value                                 | initial; an initialiser's panic |
//! | `RUNNING`    | one thread runs its initialiser          | the thread that won the CAS   |
//! | `COMPLETE`   | the value is written, never changes again | the initialiser, `Release`   |
//!
//! `INCOMPLETE -> RUNNING -> COMPLETE`, or `RUNNING -> INCOMPLETE` if the
//! initialiser panics (the panic propagates; a waiter then retries, as
//! std). A thread that finds `RUNNING` queues under the lock after
//! re-checking it; the initialiser changes the state before taking the
//! lock to wake everyone, so no waiter is missed.

use std::cell::UnsafeCell;
use std::fmt;
use std::mem::MaybeUninit;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::sync::Arc;

use super::shim::{loom_const_fn, Lock};
use super::waitq::{self, grant_all, Signal, WaitQueue, WaitResult, Withdraw};

const INCOMPLETE: usize = 0;
const RUNNING: usize = 1;
const COMPLETE: usize = 2;

/// A cell written at most once, whose initialisation parks (instead of
/// blocking the worker) the other threads that want the value meanwhile.
///
/// ```
/// use weft::sync::OnceLock;
///
/// static CONFIG: OnceLock<String> = OnceLock::new();
/// let handles: Vec<_> = (0..4)
///     .map(|_| weft::spawn(|| CONFIG.get_or_init(|| "loaded".to_owned()).len()))
///     .collect();
/// for h in handles {
///     assert_eq!(h.join().unwrap(), 6);
/// }
/// assert_eq!(CONFIG.get().map(String::as_str), Some("loaded"));
/// ```
pub struct OnceLock<T> {
    /// See the module docs. Any thread.
    state: AtomicUsize,
    queue: Lock<WaitQueue<Arc<Signal>>>,
    /// Written once by the initialiser while `RUNNING`; read only after
    /// `COMPLETE` is observed with `Acquire`.
    value: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: the value is written by one thread and then shared by reference
// with all, so sharing needs `T: Sync`, and `T: Send` because the writer may
// not be the thread that drops it; std's OnceLock has the same bounds.
unsafe impl<T: Sync + Send> Sync for OnceLock<T> {}
// SAFETY: moving the cell moves the value.
unsafe impl<T: Send> Send for OnceLock<T> {}

impl<T> OnceLock<T> {
    loom_const_fn! {
        /// An empty cell. `const`, so it can initialise a `static`.
        pub fn new() -> OnceLock<T> {
            OnceLock { state: AtomicUsize::new(INCOMPLETE), queue: Lock::new(WaitQueue::new()), value: UnsafeCell::new(MaybeUninit::uninit()) }
        }
    }

    /// The value, if initialised. Never waits.
    pub fn get(&self) -> Option<&T> {
        if self.state.load(Acquire) == COMPLETE {
            // SAFETY: COMPLETE was observed with Acquire: the value is
            // written and never written again while `self` is shared.
            Some(unsafe { (*self.value.get()).assume_init_ref() })
        } else {
            None
        }
    }

    /// Mutable access to the value, if initialised.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        if *self.state.get_mut() == COMPLETE {
            // SAFETY: COMPLETE: the value is initialised; `&mut self` is
            // exclusive.
            Some(unsafe { self.value.get_mut().assume_init_mut() })
        } else {
            None
        }
    }

    /// Stores `value` if the cell is empty (`Err(value)` if not). Waits if
    /// another thread is initialising the cell, as std's does.
    pub fn set(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        self.get_or_init(|| value.take().expect("called once"));
        match value {
            None => Ok(()),
            Some(value) => Err(value),
        }
    }

    /// The value, initialising it with `f` if the cell is empty. Exactly
    /// one caller's `f` runs; the others park until it is done. If `f`
    /// panics, the panic propagates, the cell stays empty, and one waiter
    /// (if any) runs its own `f`. Calling `get_or_init` on the same cell
    /// from `f` deadlocks.
    ///
    /// # Panics
    ///
    /// If `f` panics, or if it would wait while the runtime force-unwinds
    /// the calling green thread at shutdown.
    pub fn get_or_init<F: FnOnce() -> T>(&self, f: F) -> &T {
        if let Some(value) = self.get() {
            return value;
        }
        self.initialize(f);
        self.get().expect("initialised")
    }

    /// Takes the value out, leaving the cell empty.
    pub fn take(&mut self) -> Option<T> {
        if *self.state.get_mut() != COMPLETE {
            return None;
        }
        *self.state.get_mut() = INCOMPLETE;
        // SAFETY: it was COMPLETE (initialised); the state now says it is
        // not, so it is read exactly once.
        Some(unsafe { self.value.get_mut().assume_init_read() })
    }

    /// Consumes the cell and returns its value, if any.
    pub fn into_inner(mut self) -> Option<T> {
        self.take()
    }

    #[cold]
    fn initialize<F: FnOnce() -> T>(&self, f: F) {
        loop {
            match self.state.compare_exchange(INCOMPLETE, RUNNING, Acquire, Acquire) {
                Ok(_) => {
                    let reset = ResetOnPanic(self);
                    let value = f();
                    std::mem::forget(reset);
                    // SAFETY: RUNNING is ours alone; nobody reads the value
                    // before COMPLETE.
                    unsafe { (*self.value.get()).write(value) };
                    self.state.store(COMPLETE, Release);
                    self.wake_all();
                    return;
                }
                Err(COMPLETE) => return,
                Err(_) => self.wait_while_running(),
            }
        }
    }

    fn wait_while_running(&self) {
        let signal = {
            let mut queue = self.queue.lock();
            if self.state.load(Acquire) != RUNNING {
                return;
            }
            queue.push_current()
        };
        if waitq::wait(&signal, None, &mut Withdraw::new(&self.queue, &signal)) == WaitResult::Cancelled {
            panic!("weft: OnceLock would wait while the runtime shuts down");
        }
    }

    fn wake_all(&self) {
        let all = self.queue.lock().take_all();
        grant_all(all, 0);
    }
}

/// Puts the cell back to `INCOMPLETE` if the initialiser unwinds.
struct ResetOnPanic<'a, T>(&'a OnceLock<T>);

impl<T> Drop for ResetOnPanic<'_, T> {
    fn drop(&mut self) {
        self.0.state.store(INCOMPLETE, Release);
        self.0.wake_all();
    }
}

impl<T> Drop for OnceLock<T> {
    fn drop(&mut self) {
        drop(self.take());
    }
}

impl<T> Default for OnceLock<T> {
    fn default() -> OnceLock<T> {
        OnceLock::new()
    }
}

impl<T> From<T> for OnceLock<T> {
    fn from(value: T) -> OnceLock<T> {
        let cell = OnceLock::new();
        let _ = cell.set(value);
        cell
    }
}

impl<T: Clone> Clone for OnceLock<T> {
    fn clone(&self) -> OnceLock<T> {
        let cell = OnceLock::new();
        if let Some(value) = self.get() {
            let _ = cell.set(value.clone());
        }
        cell
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("OnceLock");
        match self.get() {
            Some(v) => d.field(v),
            None => d.field(&format_args!("<uninit>")),
        };
        d.finish()
    }
}
