//! One epoll instance per worker.
//!
//! The instance holds the worker's wakeup eventfd (level-triggered) and
//! every fd the reactor registered on this worker (edge-triggered, read and
//! write interest at once, registered once and never modified).
//!
//! `add` and `delete` may be called from any thread (`epoll_ctl` is
//! thread-safe); `wait` only by the owner worker, which owns the events
//! buffer it fills.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use super::cvt;

/// An epoll instance. Any thread may `add`/`delete`; `wait` is for the
/// owner worker (the kernel allows concurrent waits, weft does not need them).
pub(crate) struct Epoll {
    fd: OwnedFd,
}

/// Interest in readability, level-triggered (the wakeup eventfd).
pub(crate) const READABLE: u32 = libc::EPOLLIN as u32;

/// Interest of a reactor registration: readable, writable, peer hang-ups,
/// edge-triggered. Errors and full hang-ups are always reported.
pub(crate) const EDGE_READ_WRITE: u32 = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;

/// Event bits that make a reader retry (data, end of stream, error).
pub(crate) const READ_EVENTS: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;
/// Event bits that make a writer retry (space, hang-up, error).
pub(crate) const WRITE_EVENTS: u32 = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;

/// An empty events buffer with room for `capacity` events per wait.
pub(crate) fn events(capacity: usize) -> Vec<libc::epoll_event> {
    Vec::with_capacity(capacity)
}

impl Epoll {
    pub(crate) fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 has no memory preconditions.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `fd` was just returned by epoll_create1 and is ours alone.
        Ok(Epoll { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    /// Registers `fd` with the given interest; `token` comes back in events.
    /// Any thread.
    pub(crate) fn add(&self, fd: RawFd, interest: u32, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event { events: interest, u64: token };
        // SAFETY: `event` is a live epoll_event; the kernel copies it.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) })?;
        Ok(())
    }

    /// Removes `fd`. Must be called before the fd is closed: an epoll entry
    /// lives as long as its open file description, and a `dup` of the fd
    /// (`try_clone`) would keep a stale entry alive. Any thread.
    pub(crate) fn delete(&self, fd: RawFd) -> io::Result<()> {
        let mut event = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: a non-null event pointer for pre-2.6.9 kernel compatibility;
        // the kernel ignores it for EPOLL_CTL_DEL.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, &mut event) })?;
        Ok(())
    }

    /// Waits for events, at most `timeout` (forever if `None`), and fills
    /// `events` (up to its capacity). EINTR counts as a wakeup with no events.
    /// Owner worker only.
    ///
    /// Uses `epoll_pwait2` (Linux >= 5.11) for a nanosecond timeout; where it
    /// is missing (ENOSYS: older kernels, valgrind) falls back for good to
    /// `epoll_wait`, rounding the timeout up to whole milliseconds so a
    /// sleeper is never woken early.
    pub(crate) fn wait(&self, events: &mut Vec<libc::epoll_event>, timeout: Option<Duration>) -> io::Result<()> {
        static NO_PWAIT2: AtomicBool = AtomicBool::new(false);
        events.clear();
        let cap = events.capacity().min(libc::c_int::MAX as usize) as libc::c_int;
        let n = if NO_PWAIT2.load(Relaxed) {
            self.wait_ms(events, cap, timeout)
        } else {
            let n = self.wait_ns(events, cap, timeout);
            if n < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
                NO_PWAIT2.store(true, Relaxed);
                self.wait_ms(events, cap, timeout)
            } else {
                n
            }
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            return if err.kind() == io::ErrorKind::Interrupted { Ok(()) } else { Err(err) };
        }
        // SAFETY: the kernel initialised the first `n` entries (n <= cap).
        unsafe { events.set_len(n as usize) };
        Ok(())
    }

    fn wait_ms(&self, events: &mut Vec<libc::epoll_event>, cap: libc::c_int, timeout: Option<Duration>) -> libc::c_int {
        let ms = match timeout {
            Some(d) => d.as_nanos().div_ceil(1_000_000).min(libc::c_int::MAX as u128) as libc::c_int,
            None => -1,
        };
        // SAFETY: `Vec::as_mut_ptr` points to room for `cap` events (the
        // capacity), with provenance over the whole buffer.
        unsafe { libc::epoll_wait(self.fd.as_raw_fd(), events.as_mut_ptr(), cap, ms) }
    }

    fn wait_ns(&self, events: &mut Vec<libc::epoll_event>, cap: libc::c_int, timeout: Option<Duration>) -> libc::c_int {
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
        // SAFETY: `Vec::as_mut_ptr` points to room for `cap` events; the timespec (if
        // any) outlives the call; a null sigmask means "leave it as is".
        unsafe { libc::epoll_pwait2(self.fd.as_raw_fd(), events.as_mut_ptr(), cap, ts_ptr, std::ptr::null()) }
    }
}
