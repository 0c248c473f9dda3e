//! Deadlines around any blocking code: [`timeout`] and [`shield`].
//!
//! The mechanism (how blocking points end early) is in
//! `green/interrupt.rs`; cancellation of another green thread is
//! [`crate::JoinHandle::cancel`].

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::green::interrupt::{self, DeadlineUnwind};

/// The error of a [`timeout`] whose deadline passed before its closure
/// finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

/// Runs `f` with a deadline `dur` from now, as `gevent.Timeout` does: every
/// blocking point inside `f` ends by the deadline.
///
/// * A socket call (read, write, accept, connect, ...) fails with
///   [`std::io::ErrorKind::TimedOut`]; `f` sees it like any I/O error.
/// * Any other blocking point (sleep, park, join, a lock, a channel) unwinds,
///   running destructors, back to this call, which returns `Err(Elapsed)`.
///
/// Deadlines nest: the nearest one wins, and the unwind goes to the
/// `timeout` call that set it. `f` is not interrupted while it computes
/// without blocking, nor inside [`shield`]. Works in green threads and on OS
/// threads.
///
/// ```
/// use std::time::Duration;
///
/// let r = weft::timeout(Duration::from_millis(10), || weft::sleep(Duration::from_secs(60)));
/// assert!(r.is_err());
/// let r = weft::timeout(Duration::from_secs(60), || 42);
/// assert_eq!(r, Ok(42));
/// ```
pub fn timeout<T>(dur: Duration, f: impl FnOnce() -> T) -> Result<T, Elapsed> {
    let Some(at) = Instant::now().checked_add(dur) else { return Ok(f()) };
    let scope = interrupt::next_scope();
    struct Restore((u64, u64));
    impl Drop for Restore {
        fn drop(&mut self) {
            interrupt::restore_deadline(self.0);
        }
    }
    let restore = Restore(interrupt::push_deadline(at, scope));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    drop(restore);
    match result {
        Ok(value) => Ok(value),
        Err(payload) if payload.downcast_ref::<DeadlineUnwind>().is_some_and(|d| d.scope == scope) => Err(Elapsed(())),
        Err(payload) => panic::resume_unwind(payload),
    }
}

/// Runs `f` with cancellation and [`timeout`] deadlines held off: blocking
/// points inside `f` are neither cancelled nor timed out. A cancellation
/// requested meanwhile takes effect at the first blocking point after `f`;
/// an elapsed deadline likewise. For critical sections that must not be
/// torn (a write that must complete, a cleanup).
///
/// ```
/// let h = weft::spawn(|| {
///     weft::shield(|| weft::sleep(std::time::Duration::from_millis(20))); // completes
///     weft::park(); // cancelled here
/// });
/// h.cancel();
/// assert!(h.join().unwrap_err().is::<weft::Cancelled>());
/// ```
pub fn shield<T>(f: impl FnOnce() -> T) -> T {
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            interrupt::leave_shield();
        }
    }
    interrupt::enter_shield();
    let _leave = Leave;
    f()
}
