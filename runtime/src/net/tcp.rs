//! TCP: [`TcpListener`] and [`TcpStream`], with std's API.

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use super::addr::{each_addr, ToSocketAddrs};
use super::backoff::AcceptBackoff;
use super::socket::{blocking_mode_methods, socket_conversions, std_methods, stream_io, timeout_methods, Socket};
use crate::io::ready_now;
use crate::reactor::Direction;
use crate::sys::fd::Interest;
use crate::sys::socket::{self, SockAddr};

/// A TCP stream between a local and a remote socket, as
/// [`std::net::TcpStream`]; reads, writes and connects park the calling
/// green thread instead of blocking its worker.
///
/// ```no_run
/// use std::io::{Read, Write};
/// use weft::net::TcpStream;
///
/// let mut stream = TcpStream::connect("127.0.0.1:8080")?;
/// stream.write_all(b"ping")?;
/// let mut reply = [0; 4];
/// stream.read_exact(&mut reply)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpStream {
    inner: Socket<std::net::TcpStream>,
}

impl TcpStream {
    /// Opens a TCP connection to `addr`, trying each resolved address in
    /// turn as std does. Name resolution runs on the blocking pool.
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(addr, |addr| TcpStream::connect_addr(addr, None))
    }

    /// Opens a TCP connection to `addr`, giving up with
    /// [`io::ErrorKind::TimedOut`] after `timeout`. A zero timeout is
    /// `InvalidInput`, as in std.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot set a 0 duration timeout"));
        }
        TcpStream::connect_addr(addr, Instant::now().checked_add(timeout))
    }

    fn connect_addr(addr: &SocketAddr, deadline: Option<Instant>) -> io::Result<TcpStream> {
        let fd = socket::socket_for(addr, socket::STREAM)?;
        let stream = TcpStream { inner: Socket::new(std::net::TcpStream::from(fd)) };
        match socket::connect(stream.as_fd(), &SockAddr::from_inet(addr)) {
            Ok(()) => return Ok(stream),
            Err(e) if socket::is_in_progress(&e) => {}
            Err(e) => return Err(e),
        }
        // The connection completes (or fails) in the background; the socket
        // becomes writable, with the outcome in SO_ERROR.
        let pollable = stream.inner.pollable();
        match pollable.io(Direction::Write, deadline, |s| ready_now(s.as_fd(), Interest::Write)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "connection timed out"));
            }
            Err(e) => return Err(e),
        }
        match socket::take_error(stream.as_fd())? {
            Some(e) => Err(e),
            None => Ok(stream),
        }
    }

    fn from_std_nonblocking(stream: std::net::TcpStream) -> TcpStream {
        TcpStream { inner: Socket::new(stream) }
    }

    /// A new handle to the same socket (a `dup`); blocking mode and
    /// timeouts are shared between the two, as the kernel shares them
    /// between dup'd std sockets.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(TcpStream { inner: self.inner.try_clone(std::net::TcpStream::try_clone)? })
    }

    /// Receives data without removing it from the queue, waiting as `read` does.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(|s| s.peek(buf))
    }

    std_methods! {
        /// The remote address.
        pub fn peer_addr(&self) -> io::Result<SocketAddr>;

        /// The local address.
        pub fn local_addr(&self) -> io::Result<SocketAddr>;

        /// Shuts down the read half, the write half or both, as std. Another
        /// green thread parked reading this socket wakes and reads end of file.
        pub fn shutdown(&self, how: Shutdown) -> io::Result<()>;

        /// Sets `TCP_NODELAY` (disables Nagle's algorithm).
        pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()>;

        /// Reads `TCP_NODELAY`.
        pub fn nodelay(&self) -> io::Result<bool>;

        /// Sets `IP_TTL`.
        pub fn set_ttl(&self, ttl: u32) -> io::Result<()>;

        /// Reads `IP_TTL`.
        pub fn ttl(&self) -> io::Result<u32>;

        /// Takes the pending socket error (`SO_ERROR`).
        pub fn take_error(&self) -> io::Result<Option<io::Error>>;
    }

    blocking_mode_methods!();
    timeout_methods!();

    /// Sends `len` bytes of `file` starting at `offset` with `sendfile(2)`:
    /// the kernel copies from the page cache to the socket, the bytes never
    /// pass through user space. Parks while the socket buffer is full
    /// (honouring the write timeout). Returns the bytes sent: `len`, or
    /// fewer if the file ends first.
    ///
    /// A page-cache miss makes the call wait for the disk on the worker;
    /// for files that are not hot, read through [`crate::fs`] instead.
    pub fn sendfile<F: AsFd>(&self, file: &F, offset: u64, len: u64) -> io::Result<u64> {
        let end = offset
            .checked_add(len)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "sendfile range overflows u64"))?;
        let mut pos = offset;
        while pos < end {
            let want = usize::try_from(end - pos).unwrap_or(usize::MAX);
            match self.inner.write(|s| socket::sendfile(s.as_fd(), file.as_fd(), &mut pos, want)) {
                Ok(0) => break, // end of file
                Ok(_) => {}
                // Some bytes went out: report them, as `write` reports a
                // partial write; the error (a timeout, WouldBlock in
                // non-blocking mode, a reset) comes again on the next call.
                Err(_) if pos > offset => break,
                Err(e) => return Err(e),
            }
        }
        Ok(pos - offset)
    }
}

socket_conversions!(TcpStream, std::net::TcpStream);
stream_io!(TcpStream);

/// A TCP socket server, listening for connections, as
/// [`std::net::TcpListener`]. `accept` parks the calling green thread.
///
/// ```no_run
/// use std::io::{Read, Write};
/// use weft::net::TcpListener;
///
/// let listener = TcpListener::bind("127.0.0.1:8080")?;
/// for stream in listener.incoming() {
///     let mut stream = stream?;
///     weft::spawn(move || {
///         let mut buf = [0; 1024];
///         while let Ok(n @ 1..) = stream.read(&mut buf) {
///             let _ = stream.write_all(&buf[..n]);
///         }
///     });
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Running out of file descriptors
///
/// When `accept` fails for lack of a resource (`EMFILE`, `ENFILE`,
/// `ENOBUFS`, `ENOMEM`) it returns the error as std does, but first waits:
/// [`ACCEPT_BACKOFF_MIN`], doubling with each consecutive failure up to
/// [`ACCEPT_BACKOFF_MAX`]. A loop that logs the error and calls `accept`
/// again therefore does not spin; the pending connection stays in the
/// kernel's queue and is accepted once a descriptor is free.
pub struct TcpListener {
    inner: Socket<std::net::TcpListener>,
    backoff: AcceptBackoff,
}

/// The first wait of `accept` after a resource-exhaustion error.
pub const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(1);
/// The longest wait of `accept` after repeated resource-exhaustion errors.
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_millis(100);

impl TcpListener {
    /// Binds a listener to `addr` (trying each resolved address in turn),
    /// with `SO_REUSEADDR` as std sets it. See [`TcpListenerBuilder`] for
    /// `SO_REUSEPORT` and the backlog.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        TcpListenerBuilder::new().bind(addr)
    }

    /// Accepts a new connection, parking until one arrives.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let accepted = self.inner.read(|l| socket::accept(l.as_fd()));
        let (fd, addr) = self.backoff.check(accepted, self.inner.is_nonblocking())?;
        let stream = TcpStream::from_std_nonblocking(std::net::TcpStream::from(fd));
        Ok((stream, addr.to_inet()?))
    }

    /// An iterator over incoming connections: `accept` in a loop. It never
    /// returns `None`.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// A new handle to the same listening socket.
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        Ok(TcpListener {
            inner: self.inner.try_clone(std::net::TcpListener::try_clone)?,
            backoff: AcceptBackoff::default(),
        })
    }

    std_methods! {
        /// The local address (to learn the port after binding port 0).
        pub fn local_addr(&self) -> io::Result<SocketAddr>;

        /// Sets `IP_TTL` of accepted connections.
        pub fn set_ttl(&self, ttl: u32) -> io::Result<()>;

        /// Reads `IP_TTL`.
        pub fn ttl(&self) -> io::Result<u32>;

        /// Takes the pending socket error (`SO_ERROR`).
        pub fn take_error(&self) -> io::Result<Option<io::Error>>;
    }

    blocking_mode_methods!();
}

socket_conversions!(TcpListener, std::net::TcpListener, backoff: AcceptBackoff::default());

/// The iterator of [`TcpListener::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

/// Options for a [`TcpListener`] that std has no builder for.
///
/// ```no_run
/// // Two listeners on one port; the kernel spreads connections over them.
/// let a = weft::net::TcpListenerBuilder::new().reuse_port(true).bind("127.0.0.1:8080")?;
/// let b = weft::net::TcpListenerBuilder::new().reuse_port(true).bind("127.0.0.1:8080")?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct TcpListenerBuilder {
    reuse_port: bool,
    backlog: u32,
}

/// The default listen backlog: the system maximum (`SOMAXCONN`; the kernel
/// caps it at `net.core.somaxconn`, 4096 by default), so a burst of
/// connections waits in the kernel instead of being refused.
pub const DEFAULT_BACKLOG: u32 = socket::LISTEN_BACKLOG as u32;

impl Default for TcpListenerBuilder {
    fn default() -> Self {
        TcpListenerBuilder::new()
    }
}

impl TcpListenerBuilder {
    pub fn new() -> TcpListenerBuilder {
        TcpListenerBuilder { reuse_port: false, backlog: DEFAULT_BACKLOG }
    }

    /// Sets `SO_REUSEPORT`: several listeners (in this process or others)
    /// may bind the same address, and the kernel spreads incoming
    /// connections over them, so no accept loop is woken for a connection
    /// another one takes. Every listener sharing the port must set it.
    pub fn reuse_port(mut self, reuse: bool) -> TcpListenerBuilder {
        self.reuse_port = reuse;
        self
    }

    /// The listen backlog (default [`DEFAULT_BACKLOG`]).
    pub fn backlog(mut self, backlog: u32) -> TcpListenerBuilder {
        self.backlog = backlog;
        self
    }

    /// Binds and listens on `addr`, trying each resolved address in turn.
    pub fn bind<A: ToSocketAddrs>(&self, addr: A) -> io::Result<TcpListener> {
        each_addr(addr, |addr| {
            let fd = socket::socket_for(addr, socket::STREAM)?;
            socket::set_reuse_addr(fd.as_fd())?;
            if self.reuse_port {
                socket::set_reuse_port(fd.as_fd())?;
            }
            socket::bind(fd.as_fd(), &SockAddr::from_inet(addr))?;
            socket::listen(fd.as_fd(), self.backlog.min(i32::MAX as u32) as i32)?;
            Ok(TcpListener { inner: Socket::new(std::net::TcpListener::from(fd)), backoff: AcceptBackoff::default() })
        })
    }
}
