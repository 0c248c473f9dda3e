//! Waiting before a retry that no readiness event announces.
//!
//! Most operations that would block are retried when epoll reports the
//! socket ready. A few cannot be: the kernel either reports the socket
//! ready while the operation keeps failing, or never reports anything:
//!
//! * `accept` out of descriptors (`EMFILE`): the listener stays readable,
//!   a retry at once fails again;
//! * a Unix-domain `connect` to a listener whose backlog is full
//!   (`EAGAIN`): the unconnected socket polls writable and hung up at once,
//!   and no event arrives when the listener accepts (a blocking connect
//!   sleeps on the listener's own wait queue, which epoll cannot reach);
//! * a Unix datagram `send_to` a socket whose queue is full (`EAGAIN`): the
//!   same, unless the sender is connected to that socket.
//!
//! These wait with an exponential backoff instead: `min`, doubling with
//! each consecutive failure, at most `max`.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::Duration;

use crate::sys::socket;

/// The wait after `failures` consecutive failures (0 for the first):
/// `min * 2^failures`, at most `max`.
pub(crate) fn delay(min: Duration, max: Duration, failures: u32) -> Duration {
    min.saturating_mul(1 << failures.min(16)).min(max)
}

/// A listener's `accept` backoff after resource-exhaustion errors, shared
/// by [`super::TcpListener`] and [`super::UnixListener`]. Any thread (a
/// listener may be shared); counts consecutive failures.
#[derive(Debug, Default)]
pub(crate) struct AcceptBackoff {
    exhausted: AtomicU32,
}

impl AcceptBackoff {
    /// Passes an `accept` result through. A success resets the count; a
    /// resource-exhaustion error (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`)
    /// on a listener in blocking mode first sleeps
    /// [`delay`]`(ACCEPT_BACKOFF_MIN, ACCEPT_BACKOFF_MAX, n)`, so a loop that
    /// calls `accept` again does not spin.
    pub(crate) fn check<T>(&self, result: io::Result<T>, nonblocking: bool) -> io::Result<T> {
        match &result {
            Ok(_) => self.exhausted.store(0, Relaxed),
            Err(e) if socket::is_resource_exhausted(e) && !nonblocking => {
                let failures = self.exhausted.fetch_add(1, Relaxed);
                crate::sleep(delay(super::ACCEPT_BACKOFF_MIN, super::ACCEPT_BACKOFF_MAX, failures));
            }
            Err(_) => {}
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_delay_doubles_from_min_up_to_max() {
        let (min, max) = (Duration::from_millis(1), Duration::from_millis(100));
        let waits: Vec<_> = (0..9).map(|n| delay(min, max, n).as_millis()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 100, 100]);
        assert_eq!(delay(min, max, u32::MAX), max, "no overflow after many failures");
    }
}
