//! [`Socket`]: what every weft socket type is made of.
//!
//! A std socket on a non-blocking fd, wrapped in a [`Pollable`], plus the
//! three settings std keeps in the kernel but that a non-blocking fd makes
//! the kernel ignore: blocking mode and the read and write timeouts. weft
//! keeps them in [`Options`] and applies them itself:
//!
//! * blocking mode (the default): an operation that would block parks the
//!   green thread (or blocks the OS thread) until it can proceed;
//! * after `set_nonblocking(true)`: it fails with `WouldBlock` at once;
//! * with a read or write timeout: it waits at most that long per call,
//!   then fails with `EAGAIN` (`WouldBlock`), as std does on Linux.
//!
//! The timeouts are also written to the kernel (`SO_RCVTIMEO`,
//! `SO_SNDTIMEO`) so they survive a conversion back to a std socket, and
//! `try_clone`d handles share one `Options`, as dup'd std sockets share the
//! kernel's settings.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::io::Pollable;
use crate::reactor::Direction;
use crate::sys::{fd, socket};

/// Blocking mode and timeouts of a socket. Any thread; shared by clones.
#[derive(Debug, Default)]
pub(crate) struct Options {
    nonblocking: AtomicBool,
    /// Nanoseconds; 0 means no timeout.
    read_timeout: AtomicU64,
    write_timeout: AtomicU64,
}

fn to_nanos(d: Option<Duration>) -> u64 {
    // A timeout beyond 584 years is as good as none... but it was set, so
    // keep it non-zero.
    d.map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1))
}

fn from_nanos(n: u64) -> Option<Duration> {
    (n != 0).then(|| Duration::from_nanos(n))
}

/// A std socket made cooperative. `S` is the std type (`std::net::TcpStream`,
/// `std::os::unix::net::UnixDatagram`, ...) on a non-blocking fd.
#[derive(Debug)]
pub(crate) struct Socket<S: AsFd> {
    io: Pollable<S>,
    opts: Arc<Options>,
}

impl<S: AsFd> Socket<S> {
    /// Wraps a socket weft created (already non-blocking, no timeouts).
    pub(crate) fn new(inner: S) -> Socket<S> {
        Socket { io: Pollable::from_nonblocking(inner), opts: Arc::default() }
    }

    /// Adopts a socket created elsewhere (a std socket): keeps its blocking
    /// mode and timeouts as they were, then makes the fd non-blocking.
    pub(crate) fn adopt(inner: S) -> io::Result<Socket<S>> {
        let fd = inner.as_fd();
        let opts = Options {
            nonblocking: AtomicBool::new(fd::is_nonblocking(fd)?),
            read_timeout: AtomicU64::new(to_nanos(socket::timeout(fd, socket::READ_TIMEOUT).unwrap_or(None))),
            write_timeout: AtomicU64::new(to_nanos(socket::timeout(fd, socket::WRITE_TIMEOUT).unwrap_or(None))),
        };
        fd::set_nonblocking(fd, true)?;
        Ok(Socket { io: Pollable::from_nonblocking(inner), opts: Arc::new(opts) })
    }

    /// Gives the std socket back in the blocking mode the user asked for.
    pub(crate) fn into_std(self) -> io::Result<S> {
        let nonblocking = self.opts.nonblocking.load(Relaxed);
        let inner = self.io.into_inner();
        fd::set_nonblocking(inner.as_fd(), nonblocking)?;
        Ok(inner)
    }

    /// A second handle to the same socket (`dup`), sharing the options.
    pub(crate) fn try_clone(&self, dup: impl FnOnce(&S) -> io::Result<S>) -> io::Result<Socket<S>> {
        let inner = dup(self.io.get_ref())?;
        Ok(Socket { io: Pollable::from_nonblocking(inner), opts: self.opts.clone() })
    }

    pub(crate) fn get(&self) -> &S {
        self.io.get_ref()
    }

    pub(crate) fn pollable(&self) -> &Pollable<S> {
        &self.io
    }

    fn deadline(&self, dir: Direction) -> Option<Instant> {
        let nanos = match dir {
            Direction::Read => self.opts.read_timeout.load(Relaxed),
            Direction::Write => self.opts.write_timeout.load(Relaxed),
        };
        // A deadline too far to represent means no deadline.
        from_nanos(nanos).and_then(|d| Instant::now().checked_add(d))
    }

    /// Runs a non-blocking operation with std's blocking semantics.
    pub(crate) fn op<R>(&self, dir: Direction, mut op: impl FnMut(&S) -> io::Result<R>) -> io::Result<R> {
        if self.opts.nonblocking.load(Relaxed) {
            return op(self.io.get_ref());
        }
        self.io.io(dir, self.deadline(dir), op)
    }

    pub(crate) fn read<R>(&self, op: impl FnMut(&S) -> io::Result<R>) -> io::Result<R> {
        self.op(Direction::Read, op)
    }

    pub(crate) fn write<R>(&self, op: impl FnMut(&S) -> io::Result<R>) -> io::Result<R> {
        self.op(Direction::Write, op)
    }

    pub(crate) fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.opts.nonblocking.store(nonblocking, Relaxed);
        Ok(())
    }

    pub(crate) fn is_nonblocking(&self) -> bool {
        self.opts.nonblocking.load(Relaxed)
    }

    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        socket::set_timeout(self.as_fd(), socket::READ_TIMEOUT, timeout)?;
        self.opts.read_timeout.store(to_nanos(timeout), Relaxed);
        Ok(())
    }

    pub(crate) fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        socket::set_timeout(self.as_fd(), socket::WRITE_TIMEOUT, timeout)?;
        self.opts.write_timeout.store(to_nanos(timeout), Relaxed);
        Ok(())
    }

    pub(crate) fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(from_nanos(self.opts.read_timeout.load(Relaxed)))
    }

    pub(crate) fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(from_nanos(self.opts.write_timeout.load(Relaxed)))
    }
}

impl<S: AsFd> AsFd for Socket<S> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

/// Implements the fd traits and the std conversions for a weft socket type
/// `$ty` whose field `inner` is a `Socket<$std>`; any other fields are
/// named with the value an adopted socket starts with.
macro_rules! socket_conversions {
    ($ty:ident, $std:ty $(, $field:ident: $init:expr)*) => {
        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.inner.as_fd()
            }
        }

        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(&self.inner.as_fd())
            }
        }

        impl std::os::fd::FromRawFd for $ty {
            /// Adopts the socket `fd`, as [`From`] a std socket does.
            ///
            /// # Panics
            ///
            /// If `fd` cannot be switched to non-blocking mode (it is not an
            /// open descriptor).
            unsafe fn from_raw_fd(fd: std::os::fd::RawFd) -> $ty {
                // SAFETY: the caller guarantees `fd` is an open socket it owns.
                <$ty>::from(unsafe { <$std as std::os::fd::FromRawFd>::from_raw_fd(fd) })
            }
        }

        impl std::os::fd::IntoRawFd for $ty {
            /// Gives up the fd, in the blocking mode the user set.
            fn into_raw_fd(self) -> std::os::fd::RawFd {
                std::os::fd::IntoRawFd::into_raw_fd(<$std>::from(self))
            }
        }

        impl From<$std> for $ty {
            /// Adopts a std socket: its blocking mode and timeouts carry
            /// over; its fd becomes non-blocking underneath.
            ///
            /// # Panics
            ///
            /// If the fd's flags cannot be read or set, which happens only
            /// for a descriptor that is not open.
            fn from(std: $std) -> $ty {
                let inner = crate::net::socket::Socket::adopt(std)
                    .unwrap_or_else(|e| panic!("weft: cannot adopt a {}: {e}", stringify!($std)));
                $ty { inner $(, $field: $init)* }
            }
        }

        impl From<$ty> for $std {
            /// Hands the socket back to std, in the blocking mode the user set.
            ///
            /// # Panics
            ///
            /// If the fd's flags cannot be set, which happens only for a
            /// descriptor that is not open.
            fn from(socket: $ty) -> $std {
                socket
                    .inner
                    .into_std()
                    .unwrap_or_else(|e| panic!("weft: cannot restore the blocking mode of a socket: {e}"))
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(self.inner.get(), f)
            }
        }
    };
}

pub(crate) use socket_conversions;

/// Methods that only call the std socket's method of the same name with
/// the same arguments (none of them can block), written as their
/// signatures with their docs.
macro_rules! std_methods {
    ($($(#[$doc:meta])* pub fn $name:ident(&self $(, $arg:ident: $argty:ty)*) -> $ret:ty;)+) => {
        $(
            $(#[$doc])*
            pub fn $name(&self $(, $arg: $argty)*) -> $ret {
                self.inner.get().$name($($arg),*)
            }
        )+
    };
}

pub(crate) use std_methods;

/// Implements `Read` and `Write` for `$ty` and `&$ty`, on top of the std
/// type's `Read`/`Write` for `&$std`.
macro_rules! stream_io {
    ($ty:ident) => {
        impl std::io::Read for &$ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.inner.read(|mut s| std::io::Read::read(&mut s, buf))
            }

            fn read_vectored(&mut self, bufs: &mut [std::io::IoSliceMut<'_>]) -> std::io::Result<usize> {
                self.inner.read(|mut s| std::io::Read::read_vectored(&mut s, bufs))
            }
        }

        impl std::io::Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                std::io::Read::read(&mut &*self, buf)
            }

            fn read_vectored(&mut self, bufs: &mut [std::io::IoSliceMut<'_>]) -> std::io::Result<usize> {
                std::io::Read::read_vectored(&mut &*self, bufs)
            }
        }

        impl std::io::Write for &$ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.inner.write(|mut s| std::io::Write::write(&mut s, buf))
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                // Not std's write_vectored: that is writev(2), which raises
                // SIGPIPE on a closed peer.
                self.inner.write(|s| crate::sys::socket::send_vectored(std::os::fd::AsFd::as_fd(s), bufs))
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        impl std::io::Write for $ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                std::io::Write::write(&mut &*self, buf)
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                std::io::Write::write_vectored(&mut &*self, bufs)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
}

pub(crate) use stream_io;

/// Implements the blocking-mode methods every socket type shares.
macro_rules! blocking_mode_methods {
    () => {
        /// Moves the socket into or out of non-blocking mode, as std's
        /// `set_nonblocking`. In non-blocking mode an operation that cannot
        /// complete at once fails with [`std::io::ErrorKind::WouldBlock`]
        /// instead of parking. (The fd itself is always non-blocking.)
        pub fn set_nonblocking(&self, nonblocking: bool) -> std::io::Result<()> {
            self.inner.set_nonblocking(nonblocking)
        }
    };
}

pub(crate) use blocking_mode_methods;

/// Implements the timeout methods of a socket type that reads and writes.
macro_rules! timeout_methods {
    () => {
        /// Sets the read timeout, as std: a read that waits longer than
        /// `timeout` fails with `WouldBlock` (`EAGAIN`, what Linux reports).
        /// `None` waits forever; a zero duration is `InvalidInput`.
        pub fn set_read_timeout(&self, timeout: Option<std::time::Duration>) -> std::io::Result<()> {
            self.inner.set_read_timeout(timeout)
        }

        /// Sets the write timeout, as [`set_read_timeout`](Self::set_read_timeout) does for reads.
        pub fn set_write_timeout(&self, timeout: Option<std::time::Duration>) -> std::io::Result<()> {
            self.inner.set_write_timeout(timeout)
        }

        /// The read timeout (`None`: reads wait forever).
        pub fn read_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
            self.inner.read_timeout()
        }

        /// The write timeout (`None`: writes wait forever).
        pub fn write_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
            self.inner.write_timeout()
        }
    };
}

pub(crate) use timeout_methods;
