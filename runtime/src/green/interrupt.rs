//! Cancellation and deadlines: what makes a blocking point end early.
//!
//! A blocking point (park, sleep, join, a socket wait, a `weft::sync` wait,
//! `yield_now` for cancellation) calls [`check`] before and after it parks.
//! Two things interrupt it:
//!
//! * **Cancellation** ([`crate::JoinHandle::cancel`]): a flag in the control
//!   block, set by any thread, followed by an unpark. The green thread
//!   unwinds from the blocking point with a [`Cancelled`] payload
//!   (`resume_unwind`: no panic message), its destructors run, and `join`
//!   returns that payload. Green threads only: an OS thread cannot be
//!   cancelled.
//! * **A deadline** ([`crate::timeout`]): the nearest deadline of the
//!   enclosing `timeout` calls. A socket wait then fails with `TimedOut`
//!   (the caller handles it like any I/O error); every other blocking point
//!   unwinds with a private [`DeadlineUnwind`] payload naming the `timeout`
//!   call that owns the deadline, which catches it and returns `Elapsed`.
//!
//! [`crate::shield`] defers both for a critical section.
//!
//! # Who touches what
//!
//! The cancel flag: any thread sets it, the green thread reads it. The
//! deadline and the shield depth: only the green thread itself (they are
//! atomics only because the control block is shared; `Relaxed` suffices).
//! On an OS thread, the same deadline and shield live in thread-locals.
//!
//! # Not while unwinding
//!
//! A green thread that is already unwinding (a panic, a cancellation, a
//! deadline) is not interrupted again: a second unwind started from a
//! destructor would abort the process.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::context;
use crate::thread::Cancelled;

/// The interruption state of one green thread (in its control block).
#[derive(Debug, Default)]
pub(crate) struct Interrupts {
    cancel: AtomicBool,
    shield: AtomicU32,
    /// Nanoseconds since [`epoch`]; [`NO_DEADLINE`] when none.
    deadline: AtomicU64,
    /// The `timeout` call that owns `deadline`.
    scope: AtomicU64,
}

const NO_DEADLINE: u64 = u64::MAX;

impl Interrupts {
    pub(crate) fn new() -> Interrupts {
        Interrupts {
            cancel: AtomicBool::new(false),
            shield: AtomicU32::new(0),
            deadline: AtomicU64::new(NO_DEADLINE),
            scope: AtomicU64::new(0),
        }
    }

    /// Any thread. The caller then unparks the green thread.
    pub(crate) fn request_cancel(&self) {
        self.cancel.store(true, Relaxed);
    }

    pub(crate) fn cancel_requested(&self) -> bool {
        self.cancel.load(Relaxed)
    }
}

thread_local! {
    /// Deadline (nanos since epoch) and owning scope of an OS thread.
    static OS_DEADLINE: Cell<(u64, u64)> = const { Cell::new((NO_DEADLINE, 0)) };
    static OS_SHIELD: Cell<u32> = const { Cell::new(0) };
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn to_nanos(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(epoch()).as_nanos()).unwrap_or(NO_DEADLINE - 1)
}

fn from_nanos(nanos: u64) -> Option<Instant> {
    (nanos != NO_DEADLINE).then(|| epoch() + Duration::from_nanos(nanos))
}

/// The payload a deadline unwinds with; caught by the `timeout` call whose
/// id it carries.
#[derive(Debug)]
pub(crate) struct DeadlineUnwind {
    pub(crate) scope: u64,
}

/// Why a blocking point must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interrupt {
    Cancel,
    Deadline { scope: u64 },
}

/// The caller's (deadline, scope), green thread or OS thread.
fn current() -> (u64, u64) {
    context::with_green(|green| match green {
        Some(g) => (g.interrupts.deadline.load(Relaxed), g.interrupts.scope.load(Relaxed)),
        None => OS_DEADLINE.with(Cell::get),
    })
}

fn set_current(value: (u64, u64)) {
    context::with_green(|green| match green {
        Some(g) => {
            g.interrupts.deadline.store(value.0, Relaxed);
            g.interrupts.scope.store(value.1, Relaxed);
        }
        None => OS_DEADLINE.with(|d| d.set(value)),
    })
}

fn shielded() -> bool {
    context::with_green(|green| match green {
        Some(g) => g.interrupts.shield.load(Relaxed) != 0,
        None => OS_SHIELD.with(Cell::get) != 0,
    })
}

/// The deadline blocking points of the caller must end by, if any (none
/// inside [`shield`]).
pub(crate) fn deadline() -> Option<Instant> {
    if shielded() {
        return None;
    }
    from_nanos(current().0)
}

/// What interrupts the caller's blocking point now, if anything.
pub(crate) fn pending() -> Option<Interrupt> {
    if shielded() || std::thread::panicking() {
        return None;
    }
    let cancelled = context::with_green(|g| g.is_some_and(|g| g.interrupts.cancel_requested()));
    if cancelled {
        return Some(Interrupt::Cancel);
    }
    let (deadline, scope) = current();
    if deadline != NO_DEADLINE && to_nanos(Instant::now()) >= deadline {
        return Some(Interrupt::Deadline { scope });
    }
    None
}

/// Unwinds the caller for `interrupt`. No panic hook runs.
pub(crate) fn raise(interrupt: Interrupt) -> ! {
    match interrupt {
        Interrupt::Cancel => std::panic::resume_unwind(Box::new(Cancelled)),
        Interrupt::Deadline { scope } => std::panic::resume_unwind(Box::new(DeadlineUnwind { scope })),
    }
}

/// A blocking point that unwinds on any interrupt.
pub(crate) fn check() {
    if let Some(interrupt) = pending() {
        raise(interrupt);
    }
}

/// A blocking point where an expired deadline is reported by the caller
/// (sockets: `TimedOut`) instead of unwinding. Returns true if the deadline
/// expired; unwinds on cancellation.
pub(crate) fn check_soft() -> bool {
    match pending() {
        None => false,
        Some(Interrupt::Cancel) => raise(Interrupt::Cancel),
        Some(Interrupt::Deadline { .. }) => true,
    }
}

/// Installs a deadline for the duration of a `timeout` call: the nearer of
/// `at` and the enclosing one. Returns the previous state to restore.
pub(crate) fn push_deadline(at: Instant, scope: u64) -> (u64, u64) {
    let previous = current();
    let nanos = to_nanos(at);
    if nanos < previous.0 {
        set_current((nanos, scope));
    }
    previous
}

pub(crate) fn restore_deadline(previous: (u64, u64)) {
    set_current(previous);
}

/// A fresh id for a `timeout` call.
pub(crate) fn next_scope() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Relaxed)
}

/// Enters a shielded section.
pub(crate) fn enter_shield() {
    context::with_green(|green| match green {
        Some(g) => {
            g.interrupts.shield.fetch_add(1, Relaxed);
        }
        None => OS_SHIELD.with(|s| s.set(s.get() + 1)),
    })
}

pub(crate) fn leave_shield() {
    context::with_green(|green| match green {
        Some(g) => {
            g.interrupts.shield.fetch_sub(1, Relaxed);
        }
        None => OS_SHIELD.with(|s| s.set(s.get() - 1)),
    })
}
