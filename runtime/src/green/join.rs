//! The join slot: where a green thread leaves its result, and how a joiner
//! waits for it.
//!
//! # Protocol
//!
//! Completer (the green thread, or whoever drops its unstarted task):
//! 1. writes the result into the packet;
//! 2. sets `done` (Release);
//! 3. takes the registered waiter, if any, under the `waiter` lock and
//!    unparks it.
//!
//! Joiner (a green thread or an OS thread):
//! 1. if `done` (Acquire): take the result;
//! 2. else register itself as the waiter under the lock, then re-check
//!    `done`, and park; loop.
//!
//! Either the completer's step 3 finds the waiter, or the joiner's re-check
//! (after its lock release, which the completer's lock acquire follows or
//! precedes) sees `done`: the wakeup cannot be lost.

use std::any::Any;
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering::*};
use std::sync::{Arc, Mutex};
use std::thread::Result;

use super::scope::ScopeData;
use crate::thread::{Cancelled, GreenThread};

pub(crate) struct Packet<T> {
    /// Written once by the completer before `done`; read once by the joiner
    /// after `done`.
    result: UnsafeCell<Option<Result<T>>>,
    done: AtomicBool,
    waiter: Mutex<Option<GreenThread>>,
    /// For scoped green threads: who to tell when this packet is gone.
    scope: Option<Arc<ScopeData>>,
}

// SAFETY: the result is handed from the completer to the joiner exactly
// once, ordered by `done` (Release/Acquire), so sharing a Packet across
// threads only ever moves a `T` between threads: `T: Send` suffices.
unsafe impl<T: Send> Sync for Packet<T> {}

impl<T> Packet<T> {
    pub(crate) fn new(scope: Option<Arc<ScopeData>>) -> Packet<T> {
        Packet { result: UnsafeCell::new(None), done: AtomicBool::new(false), waiter: Mutex::new(None), scope }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done.load(Acquire)
    }

    /// Waits for the result. `wait` parks the caller until a wakeup.
    pub(crate) fn join(&self, me: impl Fn() -> GreenThread, wait: impl Fn() -> bool) -> Result<T> {
        while !self.is_done() {
            *self.waiter.lock().unwrap_or_else(|e| e.into_inner()) = Some(me());
            if self.is_done() {
                break;
            }
            if !wait() {
                // The runtime is shutting down underneath a destructor that
                // joins: the target may never finish.
                if self.is_done() {
                    break;
                }
                return Err(Box::new(Cancelled));
            }
        }
        // SAFETY: `done` was observed with Acquire, so the completer's write
        // is visible and complete; the JoinHandle is consumed by join, so this
        // is the only reader.
        unsafe { (*self.result.get()).take() }.expect("a finished green thread left a result")
    }
}

impl<T> Drop for Packet<T> {
    fn drop(&mut self) {
        let unhandled_panic = matches!(self.result.get_mut(), Some(Err(_)));
        // Drop the result before telling the scope: it may borrow from it.
        *self.result.get_mut() = None;
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
    // SAFETY: only the completer writes, once, before publishing `done`; the
    // joiner does not read until it observes `done`.
    unsafe { *packet.result.get() = Some(result) };
    packet.done.store(true, Release);
    let waiter = packet.waiter.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(waiter) = waiter {
        waiter.unpark();
    }
}
