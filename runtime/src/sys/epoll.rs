//! One epoll instance per worker.
//!
//! In this version the only registered fd is the worker's wakeup eventfd;
//! the socket reactor registers its fds on the same instance.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use super::cvt;

/// Owner worker only: `wait` is called by the worker that owns the instance.
pub(crate) struct Epoll {
    fd: OwnedFd,
    events: Vec<libc::epoll_event>,
}

/// Interest in readability, level-triggered (used for the wakeup eventfd).
pub(crate) const READABLE: u32 = libc::EPOLLIN as u32;

impl Epoll {
    pub(crate) fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 has no memory preconditions.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        Ok(Epoll {
            // SAFETY: `fd` was just returned by epoll_create1 and is ours alone.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            events: Vec::with_capacity(64),
        })
    }

    /// Registers `fd` with the given interest; `token` comes back in events.
    pub(crate) fn add(&self, fd: RawFd, interest: u32, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event { events: interest, u64: token };
        // SAFETY: `event` is a live epoll_event; the kernel copies it.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) })?;
        Ok(())
    }

    /// Waits for events, at most `timeout` (forever if `None`). Returns the
    /// tokens of the ready fds. EINTR counts as a wakeup with no events.
    ///
    /// Uses `epoll_pwait2` (Linux >= 5.11) for a nanosecond timeout; where it
    /// is missing (ENOSYS: older kernels, valgrind) falls back for good to
    /// `epoll_wait`, rounding the timeout up to whole milliseconds so a
    /// sleeper is never woken early.
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> io::Result<&[libc::epoll_event]> {
        static NO_PWAIT2: AtomicBool = AtomicBool::new(false);
        let cap = self.events.capacity() as libc::c_int;
        let n = if NO_PWAIT2.load(Relaxed) {
            self.wait_ms(cap, timeout)
        } else {
            let n = self.wait_ns(cap, timeout);
            if n < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
                NO_PWAIT2.store(true, Relaxed);
                self.wait_ms(cap, timeout)
            } else {
                n
            }
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                // SAFETY: zero events are initialised.
                unsafe { self.events.set_len(0) };
                return Ok(&self.events);
            }
            return Err(err);
        }
        // SAFETY: the kernel initialised the first `n` entries.
        unsafe { self.events.set_len(n as usize) };
        Ok(&self.events)
    }

    fn wait_ms(&mut self, cap: libc::c_int, timeout: Option<Duration>) -> libc::c_int {
        let ms = match timeout {
            Some(d) => d.as_nanos().div_ceil(1_000_000).min(libc::c_int::MAX as u128) as libc::c_int,
            None => -1,
        };
        // SAFETY: the buffer has room for `cap` events.
        unsafe { libc::epoll_wait(self.fd.as_raw_fd(), self.events.as_mut_ptr(), cap, ms) }
    }

    fn wait_ns(&mut self, cap: libc::c_int, timeout: Option<Duration>) -> libc::c_int {
        let ts;
        let ts_ptr = match timeout {
            Some(d) => {
                ts = libc::timespec {
                    tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
                    tv_nsec: d.subsec_nanos() as libc::c_long,
                };
                &ts as *const libc::timespec
            }
            None => std::ptr::null(),
        };
        // SAFETY: the buffer has room for `cap` events; the timespec (if
        // any) outlives the call; a null sigmask means "leave it as is".
        unsafe { libc::epoll_pwait2(self.fd.as_raw_fd(), self.events.as_mut_ptr(), cap, ts_ptr, std::ptr::null()) }
    }
}
