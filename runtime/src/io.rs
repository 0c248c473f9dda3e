//! Making any file descriptor cooperative: [`Pollable`].
//!
//! Every weft socket is a `Pollable` around a non-blocking std socket. Its
//! operations are tried directly; when one would block, the calling green
//! thread parks until the worker's epoll reports the fd ready (see the wait
//! protocol in `reactor/mod.rs`) and then tries again. Called from a plain
//! OS thread, the same operation blocks that thread in `poll(2)` instead,
//! as the std call would (DESIGN.md decision 3).
//!
//! Driver authors use `Pollable` directly to make a foreign fd cooperative:
//! a pipe, a tty, an eventfd, or a socket created by another library.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::os::unix::net::UnixStream;
//! use weft::io::Pollable;
//!
//! let (a, b) = UnixStream::pair().unwrap();
//! let reader = weft::spawn(move || {
//!     let a = Pollable::new(a).unwrap();
//!     let mut buf = [0u8; 5];
//!     (&a).read_exact(&mut buf).unwrap(); // parks this green thread, not its worker
//!     buf
//! });
//! let b = Pollable::new(b).unwrap();
//! (&b).write_all(b"hello").unwrap();
//! assert_eq!(&reader.join().unwrap(), b"hello");
//! ```

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::OnceLock;
use std::time::Instant;

use crate::green::{context, interrupt};
use crate::reactor::{Direction, Registration, Waited};
use crate::sys::fd::{self, Interest};

/// A file descriptor whose reads and writes park the calling green thread
/// instead of blocking its worker.
///
/// `Pollable::new` puts the fd in non-blocking mode. The operations passed
/// to [`read_with`](Pollable::read_with) and
/// [`write_with`](Pollable::write_with) must be non-blocking calls that
/// report "not ready" as [`io::ErrorKind::WouldBlock`]; they are retried
/// until they return anything else.
///
/// Only a shared reference to the inner value is ever handed out, so the
/// fd cannot be closed or replaced while it is registered with a reactor;
/// [`into_inner`](Pollable::into_inner) deregisters it first.
pub struct Pollable<T: AsFd> {
    /// Declared before `inner`, so it is dropped (removed from epoll)
    /// before `inner` closes the fd.
    reg: OnceLock<Registration>,
    inner: T,
}

impl<T: AsFd> Pollable<T> {
    /// Wraps `inner`, switching its fd to non-blocking mode.
    pub fn new(inner: T) -> io::Result<Pollable<T>> {
        fd::set_nonblocking(inner.as_fd(), true)?;
        Ok(Pollable::from_nonblocking(inner))
    }

    /// Wraps an fd that is already non-blocking (weft's own sockets).
    pub(crate) fn from_nonblocking(inner: T) -> Pollable<T> {
        Pollable { reg: OnceLock::new(), inner }
    }

    /// The wrapped value.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// Unwraps the value, removing its fd from the reactor. The fd stays in
    /// non-blocking mode.
    pub fn into_inner(self) -> T {
        let Pollable { reg, inner } = self;
        drop(reg);
        inner
    }

    /// Runs `op` until it does not fail with `WouldBlock`, waiting for
    /// readability in between.
    pub fn read_with<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.io(Direction::Read, None, op)
    }

    /// Runs `op` until it does not fail with `WouldBlock`, waiting for
    /// writability in between.
    pub fn write_with<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.io(Direction::Write, None, op)
    }

    /// Waits until the fd is readable (or has an error or hang-up to report).
    pub fn readable(&self) -> io::Result<()> {
        self.read_with(|inner| ready_now(inner.as_fd(), Interest::Read))
    }

    /// Waits until the fd is writable (or has an error or hang-up to report).
    pub fn writable(&self) -> io::Result<()> {
        self.write_with(|inner| ready_now(inner.as_fd(), Interest::Write))
    }

    /// The retry loop behind every operation. Runs `op` until it does not
    /// fail with `WouldBlock`; in between, parks the green thread (or blocks
    /// the OS thread) until the fd may be ready for `dir`. Gives up with
    /// `WouldBlock` once `deadline` has passed (callers translate that into
    /// the error std reports for their timeout).
    pub(crate) fn io<R>(
        &self,
        dir: Direction,
        deadline: Option<Instant>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        loop {
            let t0 = self.reg.get().map_or(0, |reg| reg.io().tick(dir));
            match op(&self.inner) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                result => {
                    if context::spend_io_budget() {
                        // Completed, but this green thread has not switched
                        // out for a long run of operations: let the others on
                        // its worker run. Not `yield_now`: a cancellation
                        // must not unwind here and lose a completed result.
                        context::yield_green();
                    }
                    return result;
                }
            }
            if !context::with_green(|green| green.is_some()) {
                let limit = interrupt::deadline();
                let wait_until = match (deadline, limit) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                // Checked before polling too: an fd that polls ready while
                // the operation still would block must not spin past it.
                let expired = wait_until.is_some_and(|d| Instant::now() >= d)
                    || !fd::poll_one(self.inner.as_fd(), interest(dir), wait_until)?;
                if expired {
                    if limit.is_some_and(|l| Instant::now() >= l) {
                        return Err(timeout_elapsed());
                    }
                    return Err(fd::timed_out());
                }
                continue;
            }
            let reg = match self.registration() {
                Ok(reg) => reg,
                Err(e) if crate::sched::shutting_down() => {
                    // Our own runtime is shutting down: park, so the worker
                    // unwinds us here, rather than hand back an error that a
                    // retry loop (an accept loop) would spin on forever.
                    // Returns at once in a destructor run by that unwinding.
                    crate::thread::park_green(None);
                    return Err(e);
                }
                Err(e) => return Err(e),
            };
            let fd = self.inner.as_fd().as_raw_fd();
            let _waiting = crate::observe::waiting_on(match dir {
                Direction::Read => crate::observe::WaitReason::Read { fd },
                Direction::Write => crate::observe::WaitReason::Write { fd },
            });
            match reg.io().wait(dir, t0, deadline) {
                Waited::Retry => continue,
                Waited::TimedOut => return Err(fd::timed_out()),
                Waited::TimeoutElapsed => return Err(timeout_elapsed()),
                Waited::ShuttingDown => {
                    return Err(io::Error::other("weft: the runtime is shutting down; this green thread cannot wait"))
                }
            }
        }
    }

    /// The fd's registration, made on the calling green thread's worker the
    /// first time it has to wait.
    fn registration(&self) -> io::Result<&Registration> {
        if self.reg.get().is_none() {
            let reg = Registration::new(self.inner.as_fd().as_raw_fd())?;
            // Lost a race with another worker: ours deregisters on drop.
            let _ = self.reg.set(reg);
        }
        let reg = self.reg.get().expect("set above");
        if !reg.is_live() {
            return Err(io::Error::other(
                "weft: this fd was first waited on in a runtime that has shut down; \
                 its readiness is no longer polled",
            ));
        }
        Ok(reg)
    }
}

/// What a socket call inside an elapsed [`crate::timeout`] fails with.
fn timeout_elapsed() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "weft::timeout deadline elapsed")
}

/// `Ok` if `fd` is ready for `interest` right now, else `WouldBlock`.
pub(crate) fn ready_now(fd: BorrowedFd<'_>, interest: Interest) -> io::Result<()> {
    if fd::poll_one(fd, interest, Some(Instant::now()))? {
        Ok(())
    } else {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

fn interest(dir: Direction) -> Interest {
    match dir {
        Direction::Read => Interest::Read,
        Direction::Write => Interest::Write,
    }
}

impl<T: AsFd> AsFd for Pollable<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl<T: AsFd> AsRawFd for Pollable<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_fd().as_raw_fd()
    }
}

impl<T: AsFd + fmt::Debug> fmt::Debug for Pollable<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pollable").field("inner", &self.inner).field("registration", &self.reg.get()).finish()
    }
}

impl<T: AsFd> Read for &Pollable<T>
where
    for<'a> &'a T: Read,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_with(|mut inner| inner.read(buf))
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.read_with(|mut inner| inner.read_vectored(bufs))
    }
}

impl<T: AsFd> Read for Pollable<T>
where
    for<'a> &'a T: Read,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}

impl<T: AsFd> Write for &Pollable<T>
where
    for<'a> &'a T: Write,
{
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_with(|mut inner| inner.write(buf))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.write_with(|mut inner| inner.write_vectored(bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_with(|mut inner| inner.flush())
    }
}

impl<T: AsFd> Write for Pollable<T>
where
    for<'a> &'a T: Write,
{
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self).flush()
    }
}
