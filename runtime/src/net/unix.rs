//! Unix-domain sockets: [`UnixStream`], [`UnixListener`] and
//! [`UnixDatagram`], with the API of `std::os::unix::net`.
//!
//! # Addresses
//!
//! Addresses are std's own [`std::os::unix::net::SocketAddr`] (a path, a
//! Linux abstract name, or unnamed), taken and returned unchanged, so
//! `as_pathname`, `is_unnamed` and `SocketAddrExt::as_abstract_name` work
//! as with std. (`weft::net::SocketAddr` stays the IP address, as in
//! `std::net`.)
//!
//! # Two waits the kernel does not announce
//!
//! Most operations that would block are retried when epoll reports the
//! socket ready. Two Unix-domain ones fail with `EAGAIN` although a
//! blocking std call would wait, and no epoll event ever says when to
//! retry:
//!
//! 1. **`connect` to a listener whose backlog is full.** Linux neither
//!    queues the connection nor leaves it in progress; the unconnected
//!    socket polls writable and hung up at once, and nothing is reported
//!    when the listener accepts. (A blocking `connect` sleeps on the
//!    listener's private wait queue, which epoll cannot reach.)
//! 2. **`send_to` a datagram socket whose queue is full**
//!    (`net.unix.max_dgram_qlen`, 10 by default) from a socket not
//!    connected to it. Worse than silent: the refused send allocates and
//!    frees a buffer, which reports the *sender* writable, so a wait for
//!    writability returns at once and the retry loop would spin through
//!    the reactor for as long as the queue stays full. (A connected sender
//!    is different: the kernel wakes it when the peer drains and does not
//!    report it writable before, so [`UnixDatagram::send`] waits on epoll
//!    as usual.)
//!
//! Rejected: waiting for writability (reported at once in both cases:
//! the loop would spin) and flipping the fd to blocking for the call (the
//! file description is shared with clones and other green threads, and
//! weft's fds stay non-blocking: DESIGN.md decision 6). Chosen: retry
//! after a backoff, [`UNIX_RETRY_MIN`] doubling up to [`UNIX_RETRY_MAX`],
//! less a random part of up to half (without it, a thousand senders
//! refused together retry together, and only a queueful gets through per
//! round), capped by the write timeout for `send_to`; a green thread parks
//! in [`crate::sleep`], an OS thread sleeps. `send_to` cannot tell a full
//! queue from its own full send buffer (both are `EAGAIN`), so the rare
//! second case backs off too instead of waiting for its epoll event.

use std::io;
use std::net::Shutdown;
use std::os::fd::AsFd;
use std::os::unix::net::{self as std_unix, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use super::backoff::{self, AcceptBackoff};
use super::socket::{blocking_mode_methods, socket_conversions, std_methods, stream_io, timeout_methods, Socket};
use crate::green::context;
use crate::sys::fd;
use crate::sys::socket::{self, SockAddr};

/// The first wait before retrying a Unix `connect` refused because the
/// listener's backlog is full, or a datagram `send_to` refused because the
/// receiver's queue is full: 1 ms. Linux reports no readiness event for
/// either (a blocking std call sleeps on a kernel queue epoll cannot
/// watch), so weft retries after a wait, less up to half of it at random
/// so that senders refused together do not retry together.
pub const UNIX_RETRY_MIN: Duration = Duration::from_millis(1);
/// The longest wait between such retries: 32 ms. The wait doubles from
/// [`UNIX_RETRY_MIN`] with each consecutive refusal, up to this.
pub const UNIX_RETRY_MAX: Duration = Duration::from_millis(32);

/// The wait before retry number `failures + 1`: the backoff, less a
/// random part of up to half of it, so that many senders refused at the
/// same moment do not all retry at the same moment again.
fn retry_pause(failures: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let pause = backoff::delay(UNIX_RETRY_MIN, UNIX_RETRY_MAX, failures);
    // Each RandomState has fresh keys: hashing nothing gives a random u64.
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    pause - pause.mul_f64((random >> 11) as f64 / (1u64 << 53) as f64 / 2.0)
}

/// The retry loop of the module docs, shared by `connect` and `send_to`:
/// runs `op` until the kernel stops refusing it with `EAGAIN`
/// (`WouldBlock`), sleeping [`retry_pause`] between tries. Gives up with
/// `TimedOut` once `deadline` has passed, and with an error if the calling
/// green thread is being unwound by a runtime shutdown (its sleeps return
/// at once: the loop would spin).
fn retry_refused<R>(deadline: Option<Instant>, mut op: impl FnMut() -> io::Result<R>) -> io::Result<R> {
    let mut failures = 0;
    loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            result => return result,
        }
        let mut pause = retry_pause(failures);
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(fd::timed_out());
            }
            pause = pause.min(left);
        }
        crate::sleep(pause);
        if context::unwinding() {
            return Err(io::Error::other("weft: the runtime is shutting down; this green thread cannot wait"));
        }
        failures = failures.saturating_add(1);
    }
}

/// A Unix-domain stream socket, as [`std::os::unix::net::UnixStream`];
/// reads, writes and connects park the calling green thread instead of
/// blocking its worker.
///
/// ```
/// use std::io::{Read, Write};
/// use weft::net::UnixStream;
///
/// let (mut a, mut b) = UnixStream::pair()?;
/// let echo = weft::spawn(move || -> std::io::Result<()> {
///     let mut buf = [0; 4];
///     b.read_exact(&mut buf)?; // parks this green thread, not its worker
///     b.write_all(&buf)
/// });
/// a.write_all(b"ping")?;
/// let mut reply = [0; 4];
/// a.read_exact(&mut reply)?;
/// assert_eq!(&reply, b"ping");
/// echo.join().unwrap()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixStream {
    inner: Socket<std_unix::UnixStream>,
}

impl UnixStream {
    /// Connects to the socket bound at `path`. If the listener's backlog is
    /// full, waits until it has room, as std's blocking connect does,
    /// retrying after [`UNIX_RETRY_MIN`] doubling up to [`UNIX_RETRY_MAX`].
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        UnixStream::connect_to(&SockAddr::from_unix_path(path.as_ref())?)
    }

    /// Connects to `addr`: a path or a Linux abstract name (see
    /// [`SocketAddrExt`](std::os::linux::net::SocketAddrExt)).
    pub fn connect_addr(addr: &SocketAddr) -> io::Result<UnixStream> {
        UnixStream::connect_to(&SockAddr::from_unix(addr)?)
    }

    fn connect_to(addr: &SockAddr) -> io::Result<UnixStream> {
        let fd = socket::socket(socket::UNIX, socket::STREAM)?;
        let stream = UnixStream::from_nonblocking(std_unix::UnixStream::from(fd));
        // Linux completes or refuses a Unix connect at once; `WouldBlock`
        // (EAGAIN) means a full backlog, with no event to wait for.
        retry_refused(None, || socket::connect(stream.as_fd(), addr))?;
        Ok(stream)
    }

    /// A connected pair of streams (`socketpair`).
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = socket::socketpair(socket::STREAM)?;
        Ok((
            UnixStream::from_nonblocking(std_unix::UnixStream::from(a)),
            UnixStream::from_nonblocking(std_unix::UnixStream::from(b)),
        ))
    }

    fn from_nonblocking(stream: std_unix::UnixStream) -> UnixStream {
        UnixStream { inner: Socket::new(stream) }
    }

    /// A new handle to the same socket (a `dup`); blocking mode and
    /// timeouts are shared between the two, as the kernel shares them
    /// between dup'd std sockets.
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        Ok(UnixStream { inner: self.inner.try_clone(std_unix::UnixStream::try_clone)? })
    }

    /// Receives data without removing it from the queue, waiting as `read`
    /// does. (std's `UnixStream::peek` is not stable yet; this is stable.)
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(|s| socket::peek(s.as_fd(), buf))
    }

    std_methods! {
        /// The local address (usually unnamed for a connecting socket).
        pub fn local_addr(&self) -> io::Result<SocketAddr>;

        /// The remote address.
        pub fn peer_addr(&self) -> io::Result<SocketAddr>;

        /// Shuts down the read half, the write half or both, as std. Another
        /// green thread parked reading this socket wakes and reads end of file.
        pub fn shutdown(&self, how: Shutdown) -> io::Result<()>;

        /// Takes the pending socket error (`SO_ERROR`).
        pub fn take_error(&self) -> io::Result<Option<io::Error>>;
    }

    blocking_mode_methods!();
    timeout_methods!();
}

socket_conversions!(UnixStream, std_unix::UnixStream);
stream_io!(UnixStream);

/// A Unix-domain socket server, listening for connections, as
/// [`std::os::unix::net::UnixListener`]. `accept` parks the calling green
/// thread.
///
/// ```
/// use std::io::{Read, Write};
/// use weft::net::{UnixListener, UnixStream};
///
/// let dir = std::env::temp_dir().join(format!("weft-doc-unix-listener-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("echo.sock");
/// let listener = UnixListener::bind(&path)?;
/// let server = weft::spawn(move || -> std::io::Result<()> {
///     let (mut stream, _peer) = listener.accept()?; // parks this green thread
///     let mut buf = [0; 4];
///     stream.read_exact(&mut buf)?;
///     stream.write_all(&buf)
/// });
/// let mut client = UnixStream::connect(&path)?;
/// client.write_all(b"ping")?;
/// let mut reply = [0; 4];
/// client.read_exact(&mut reply)?;
/// assert_eq!(&reply, b"ping");
/// server.join().unwrap()?;
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Like [`TcpListener`](super::TcpListener), `accept` backs off before
/// returning a resource-exhaustion error (`EMFILE`, ...), waiting
/// [`ACCEPT_BACKOFF_MIN`](super::ACCEPT_BACKOFF_MIN) doubling up to
/// [`ACCEPT_BACKOFF_MAX`](super::ACCEPT_BACKOFF_MAX), so an accept loop
/// does not spin.
pub struct UnixListener {
    inner: Socket<std_unix::UnixListener>,
    backoff: AcceptBackoff,
}

impl UnixListener {
    /// Binds a listener to `path` (which must not exist yet, as with std)
    /// with the system's largest backlog.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        UnixListener::bind_to(&SockAddr::from_unix_path(path.as_ref())?)
    }

    /// Binds a listener to `addr`: a path, a Linux abstract name, or, for
    /// an unnamed address, a fresh abstract name the kernel picks.
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixListener> {
        UnixListener::bind_to(&SockAddr::from_unix(addr)?)
    }

    fn bind_to(addr: &SockAddr) -> io::Result<UnixListener> {
        let fd = socket::socket(socket::UNIX, socket::STREAM)?;
        socket::bind(fd.as_fd(), addr)?;
        socket::listen(fd.as_fd(), socket::LISTEN_BACKLOG)?;
        Ok(UnixListener { inner: Socket::new(std_unix::UnixListener::from(fd)), backoff: AcceptBackoff::default() })
    }

    /// Accepts a new connection, parking until one arrives. Returns the
    /// stream and the peer's address as `accept(2)` reports it (usually
    /// unnamed: connecting sockets are rarely bound).
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let accepted = self.inner.read(|l| socket::accept(l.as_fd()));
        // The address is converted before the backoff check, so the one
        // error it can have (no descriptor to learn the unnamed address
        // with, once per process) backs off as well.
        let accepted = accepted.and_then(|(fd, addr)| Ok((fd, addr.to_unix()?)));
        let (fd, addr) = self.backoff.check(accepted, self.inner.is_nonblocking())?;
        Ok((UnixStream::from_nonblocking(std_unix::UnixStream::from(fd)), addr))
    }

    /// An iterator over incoming connections: `accept` in a loop. It never
    /// returns `None`.
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming { listener: self }
    }

    /// A new handle to the same listening socket.
    pub fn try_clone(&self) -> io::Result<UnixListener> {
        let inner = self.inner.try_clone(std_unix::UnixListener::try_clone)?;
        Ok(UnixListener { inner, backoff: AcceptBackoff::default() })
    }

    std_methods! {
        /// The address the listener is bound to.
        pub fn local_addr(&self) -> io::Result<SocketAddr>;

        /// Takes the pending socket error (`SO_ERROR`).
        pub fn take_error(&self) -> io::Result<Option<io::Error>>;
    }

    blocking_mode_methods!();
}

socket_conversions!(UnixListener, std_unix::UnixListener, backoff: AcceptBackoff::default());

/// The iterator of [`UnixListener::incoming`] (std's
/// `std::os::unix::net::Incoming`; renamed, as `weft::net::Incoming` is
/// TCP's).
#[derive(Debug)]
pub struct UnixIncoming<'a> {
    listener: &'a UnixListener,
}

impl Iterator for UnixIncoming<'_> {
    type Item = io::Result<UnixStream>;

    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

/// A Unix-domain datagram socket, as
/// [`std::os::unix::net::UnixDatagram`]. Unlike UDP, a datagram is never
/// dropped: a send to a full queue waits (for
/// [`send_to`](Self::send_to), by retrying).
///
/// ```
/// use weft::net::UnixDatagram;
///
/// let (a, b) = UnixDatagram::pair()?;
/// let reader = weft::spawn(move || {
///     let mut buf = [0; 16];
///     let n = b.recv(&mut buf).unwrap(); // parks this green thread
///     buf[..n].to_vec()
/// });
/// a.send(b"hello")?;
/// assert_eq!(reader.join().unwrap(), b"hello");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixDatagram {
    inner: Socket<std_unix::UnixDatagram>,
}

impl UnixDatagram {
    /// Creates a socket bound to `path` (which must not exist yet).
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        UnixDatagram::bind_to(&SockAddr::from_unix_path(path.as_ref())?)
    }

    /// Creates a socket bound to `addr`: a path, a Linux abstract name, or,
    /// for an unnamed address, a fresh abstract name the kernel picks.
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixDatagram> {
        UnixDatagram::bind_to(&SockAddr::from_unix(addr)?)
    }

    fn bind_to(addr: &SockAddr) -> io::Result<UnixDatagram> {
        let socket = UnixDatagram::unbound()?;
        socket::bind(socket.as_fd(), addr)?;
        Ok(socket)
    }

    /// Creates a socket bound to no address (it can send; replies need an
    /// address, so it can only receive from a peer connected to it).
    pub fn unbound() -> io::Result<UnixDatagram> {
        let fd = socket::socket(socket::UNIX, socket::DGRAM)?;
        Ok(UnixDatagram { inner: Socket::new(std_unix::UnixDatagram::from(fd)) })
    }

    /// A connected pair of unnamed sockets (`socketpair`).
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = socket::socketpair(socket::DGRAM)?;
        Ok((
            UnixDatagram { inner: Socket::new(std_unix::UnixDatagram::from(a)) },
            UnixDatagram { inner: Socket::new(std_unix::UnixDatagram::from(b)) },
        ))
    }

    /// Connects the socket to `path`: `send` and `recv` then use it, and
    /// datagrams from other sockets are dropped. Never waits.
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.inner.get().connect(path)
    }

    /// Connects the socket to `addr` (a path or an abstract name).
    pub fn connect_addr(&self, addr: &SocketAddr) -> io::Result<()> {
        self.inner.get().connect_addr(addr)
    }

    /// Sends `buf` to the connected socket, parking while its queue (or our
    /// send buffer) is full.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(|s| s.send(buf))
    }

    /// Receives one datagram, parking until one arrives. A datagram longer
    /// than `buf` is truncated.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.receive(|s| s.recv(buf), || Ok(0))
    }

    /// Sends `buf` to the socket bound at `path`. If that socket's queue is
    /// full, waits until it has room or the write timeout expires,
    /// retrying after [`UNIX_RETRY_MIN`] doubling up to [`UNIX_RETRY_MAX`].
    pub fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let path = path.as_ref();
        self.send_retrying(|s| s.send_to(buf, path))
    }

    /// Sends `buf` to `addr`, waiting as [`send_to`](Self::send_to) does.
    pub fn send_to_addr(&self, buf: &[u8], addr: &SocketAddr) -> io::Result<usize> {
        self.send_retrying(|s| s.send_to_addr(buf, addr))
    }

    /// `send_to`'s send `op`: in blocking mode, retried by [`retry_refused`]
    /// until the write timeout, since the kernel may refuse it with `EAGAIN`
    /// without ever reporting when to try again (module docs).
    fn send_retrying(&self, mut op: impl FnMut(&std_unix::UnixDatagram) -> io::Result<usize>) -> io::Result<usize> {
        if self.inner.is_nonblocking() {
            return op(self.inner.get());
        }
        let deadline = self.inner.write_timeout()?.and_then(|t| Instant::now().checked_add(t));
        retry_refused(deadline, || op(self.inner.get()))
    }

    /// Receives one datagram and the sender's address (unnamed if the
    /// sender is not bound), parking until one arrives.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.receive(|s| s.recv_from(buf), || Ok((0, socket::unnamed_unix_addr()?)))
    }

    /// As [`recv`](Self::recv), but leaves the datagram queued. (std's
    /// `peek` is not stable yet; this is.)
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.receive(|s| socket::peek(s.as_fd(), buf), || Ok(0))
    }

    /// As [`recv_from`](Self::recv_from), but leaves the datagram queued.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, addr) = self.receive(|s| socket::peek_from(s.as_fd(), buf), || Ok((0, SockAddr::unnamed_unix())))?;
        Ok((n, addr.to_unix()?))
    }

    /// Runs a receive `op` with std's blocking semantics. One difference
    /// from the other sockets: once this socket is shut down for reading,
    /// a blocking std receive returns 0 bytes, but Linux fails the
    /// non-blocking one underneath with `EAGAIN` forever; in blocking mode
    /// that `EAGAIN` is turned into `eof()` (in non-blocking mode std too
    /// reports `WouldBlock`).
    fn receive<R>(
        &self,
        mut op: impl FnMut(&std_unix::UnixDatagram) -> io::Result<R>,
        mut eof: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        if self.inner.is_nonblocking() {
            return op(self.inner.get());
        }
        self.inner.read(|s| match op(s) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && socket::is_read_shutdown(s.as_fd())? => eof(),
            result => result,
        })
    }

    /// A new handle to the same socket (a `dup`); blocking mode and
    /// timeouts are shared between the two.
    pub fn try_clone(&self) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram { inner: self.inner.try_clone(std_unix::UnixDatagram::try_clone)? })
    }

    std_methods! {
        /// The address the socket is bound to (unnamed if it is not).
        pub fn local_addr(&self) -> io::Result<SocketAddr>;

        /// The address of the connected socket (`NotConnected` if there is none).
        pub fn peer_addr(&self) -> io::Result<SocketAddr>;

        /// Shuts down receiving, sending or both, as std. Another green thread
        /// parked in `recv` on this socket wakes and receives 0 bytes.
        pub fn shutdown(&self, how: Shutdown) -> io::Result<()>;

        /// Takes the pending socket error (`SO_ERROR`).
        pub fn take_error(&self) -> io::Result<Option<io::Error>>;
    }

    blocking_mode_methods!();
    timeout_methods!();
}

socket_conversions!(UnixDatagram, std_unix::UnixDatagram);

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;

    /// A fresh directory for socket files, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, SeqCst);
            let dir = std::env::temp_dir().join(format!("weft-unit-{name}-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A listener whose backlog holds one pending connection, and that
    /// connection: the next `connect` is refused with `EAGAIN`.
    fn full_listener(dir: &TempDir) -> (UnixListener, UnixStream, PathBuf) {
        let path = dir.0.join("listener");
        let listener = UnixListener::bind(&path).unwrap();
        // Linux lets `listen` change the backlog of a listening socket; the
        // queue is full once it holds more than `backlog` connections.
        socket::listen(listener.as_fd(), 0).unwrap();
        let first = UnixStream::connect(&path).unwrap();
        (listener, first, path)
    }

    /// Accepts the queued connection and then the waiting one, checking
    /// that each carries its own bytes.
    fn accept_both(listener: &UnixListener, mut first: UnixStream) {
        first.write_all(b"first").unwrap();
        let mut buf = [0u8; 6];
        let (mut a, _) = listener.accept().unwrap();
        a.read_exact(&mut buf[..5]).unwrap();
        assert_eq!(&buf[..5], b"first");
        let (mut b, _) = listener.accept().unwrap();
        b.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"second");
    }

    fn connect_second(path: &Path, started: &AtomicBool) -> UnixStream {
        started.store(true, SeqCst);
        let mut stream = UnixStream::connect(path).expect("connect waits for room in the backlog");
        stream.write_all(b"second").unwrap();
        stream
    }

    #[test]
    fn unix_connect_to_full_backlog_parks_until_accepted() {
        for workers in [1, 2] {
            let rt = crate::Runtime::builder().workers(workers).name("unix-backlog").build().unwrap();
            let dir = TempDir::new("backlog-green");
            let (listener, first, path) = full_listener(&dir);
            let main = rt.spawn(move || {
                let started = Arc::new(AtomicBool::new(false));
                let second = crate::spawn({
                    let started = started.clone();
                    move || connect_second(&path, &started)
                });
                while !started.load(SeqCst) {
                    crate::yield_now();
                }
                // With one worker, this runs only once `second` has parked:
                // its connect was refused and it sleeps before retrying.
                assert!(!second.is_finished(), "a connect to a full backlog completed");
                accept_both(&listener, first);
                second.join().unwrap();
            });
            main.join().unwrap();
        }
    }

    #[test]
    fn unix_connect_to_full_backlog_blocks_an_os_thread_until_accepted() {
        let dir = TempDir::new("backlog-os");
        let (listener, first, path) = full_listener(&dir);
        let started = Arc::new(AtomicBool::new(false));
        let second = std::thread::spawn({
            let started = started.clone();
            move || connect_second(&path, &started)
        });
        while !started.load(SeqCst) {
            std::thread::yield_now();
        }
        assert!(!second.is_finished(), "a connect to a full backlog completed");
        accept_both(&listener, first);
        second.join().unwrap();
    }
}
