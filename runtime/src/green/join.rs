//! The join slot: where a green thread leaves its result, and how a joiner
//! waits for it.
//!
//! # Protocol
//!
//! `state` moves `EMPTY -> WAITING -> DONE` or `EMPTY -> DONE`, never back.
//! A packet has at most one joiner (`join` consumes the handle).
//!
//! Joiner (a green thread or an OS thread):
//! 1. if `state` is `DONE` (Acquire): take the result;
//! 2. else store itself in `waiter` (it alone touches `waiter` while the
//!    state is `EMPTY`) and CAS `EMPTY -> WAITING` (Release); if the CAS
//!    finds `DONE`, take the result;
//! 3. park until `state` is `DONE` (a spurious return just parks again).
//!
//! Completer (the green thread, or whoever drops its unstarted task):
//! 1. writes the result;
//! 2. swaps `state` to `DONE` (AcqRel);
//! 3. if the swap returned `WAITING`, takes `waiter` and unparks it.
//!
//! The swap and the CAS are totally ordered on `state`: either the joiner
//! registers first and the completer sees `WAITING` (and the waiter, by the
//! Release/Acquire pair), or the completer finishes first and the joiner's
//! CAS sees `DONE`. No lock, and no lost wakeup.

use std::any::Any;
use std::cell::UnsafeCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, Ordering::*};
use std::sync::Arc;
use std::thread::Result;

use super::scope::ScopeData;
use crate::thread::{Cancelled, GreenThread};

pub(crate) struct Packet<T> {
    /// Written once by the completer before `done`; read once by the joiner
    /// after `done`.
    result: UnsafeCell<Option<Result<T>>>,
    state: AtomicU8,
    /// Written by the joiner while `EMPTY`; taken by the completer after
    /// its swap returned `WAITING`.
    waiter: UnsafeCell<Option<GreenThread>>,
    /// For scoped green threads: who to tell when this packet is gone.
    scope: Option<Arc<ScopeData>>,
}

const EMPTY: u8 = 0;
const WAITING: u8 = 1;
const DONE: u8 = 2;

// SAFETY: the result is handed from the completer to the joiner exactly
// once, and the waiter from the joiner to the completer exactly once, each
// ordered by `state` (see the protocol above), so sharing a Packet across
// threads only ever moves a `T` (or a GreenThread, which is Send) between
// threads: `T: Send` suffices.
unsafe impl<T: Send> Sync for Packet<T> {}

impl<T> Packet<T> {
    pub(crate) fn new(scope: Option<Arc<ScopeData>>) -> Packet<T> {
        Packet { result: UnsafeCell::new(None), state: AtomicU8::new(EMPTY), waiter: UnsafeCell::new(None), scope }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.state.load(Acquire) == DONE
    }

    /// Waits for the result. `wait` parks the caller until a wakeup and
    /// returns false if it cannot wait (runtime shutdown).
    pub(crate) fn join(&self, me: impl Fn() -> GreenThread, wait: impl Fn() -> bool) -> Result<T> {
        if self.state.load(Acquire) == EMPTY {
            // SAFETY: the state is EMPTY, so the completer has not looked at
            // `waiter` and will not before our CAS; we are the only joiner.
            unsafe { *self.waiter.get() = Some(me()) };
            // Failure means DONE: the completer came first.
            let _ = self.state.compare_exchange(EMPTY, WAITING, Release, Acquire);
        }
        while !self.is_done() {
            if !wait() {
                // The runtime is shutting down underneath a destructor that
                // joins: the target may never finish.
                if self.is_done() {
                    break;
                }
                return Err(Box::new(Cancelled));
            }
        }
        // SAFETY: DONE was observed with Acquire, so the completer's write
        // is visible and complete; the JoinHandle is consumed by join, so this
        // is the only reader.
        unsafe { (*self.result.get()).take() }.expect("a finished green thread left a result")
    }
}

impl<T> Drop for Packet<T> {
    fn drop(&mut self) {
        // A cancelled child (runtime shutdown) did not panic.
        let unhandled_panic = matches!(self.result.get_mut(), Some(Err(e)) if !e.is::<Cancelled>());
        // Drop the result before telling the scope: it may borrow from it.
        // A panic here would escape into the worker (or an unrelated
        // joiner); std aborts in this case too.
        let result = self.result.get_mut().take();
        if panic::catch_unwind(AssertUnwindSafe(move || drop(result))).is_err() {
            crate::sys::signal::write_stderr(b"fatal runtime error: a green thread's result panicked on drop\n");
            std::process::abort();
        }
        if let Some(scope) = &self.scope {
            scope.decrement(unhandled_panic);
        }
    }
}

/// Held by the green thread's main closure. Completing is mandatory: if the
/// closure is dropped without running (runtime shutdown), `Drop` completes
/// the packet with [`Cancelled`].
pub(crate) struct Completer<T> {
    packet: Option<Arc<Packet<T>>>,
}

impl<T> Completer<T> {
    pub(crate) fn new(packet: Arc<Packet<T>>) -> Completer<T> {
        Completer { packet: Some(packet) }
    }

    pub(crate) fn complete(mut self, result: Result<T>) {
        if let Some(packet) = self.packet.take() {
            finish(packet, result);
        }
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        if let Some(packet) = self.packet.take() {
            finish(packet, Err(Box::new(Cancelled) as Box<dyn Any + Send>));
        }
    }
}

fn finish<T>(packet: Arc<Packet<T>>, result: Result<T>) {
    // SAFETY: only the completer writes, once, before publishing DONE; the
    // joiner does not read until it observes DONE.
    unsafe { *packet.result.get() = Some(result) };
    let scope = packet.scope.clone();
    if packet.state.swap(DONE, AcqRel) == WAITING {
        // SAFETY: WAITING means the joiner finished writing `waiter` before
        // its Release CAS, which our AcqRel swap acquired; it never touches
        // `waiter` again.
        let waiter = unsafe { (*packet.waiter.get()).take() };
        if let Some(waiter) = waiter {
            waiter.unpark();
        }
    }
    // Only once our reference is gone may shutdown unwind the scope's owner:
    // if it was the last one, the result (which may borrow from the owner's
    // frames) has just been dropped; if not, the owner's handle holds it and
    // unwinding the owner drops the handle before what it borrows from.
    drop(packet);
    if let Some(scope) = scope {
        scope.child_finished();
    }
}
