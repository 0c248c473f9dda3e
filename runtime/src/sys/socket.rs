//! Sockets: creation, connect, bind, listen, accept, options, sendfile.
//!
//! Every socket is created with `SOCK_NONBLOCK | SOCK_CLOEXEC` and every
//! accepted one with `accept4(SOCK_NONBLOCK | SOCK_CLOEXEC)`: non-blocking
//! from birth (DESIGN.md decision 6), so the reactor never has to flip the
//! flag and no call here ever blocks the calling OS thread.
//!
//! Reads, writes and the many socket options std already wraps are done
//! through std's own socket types (`std::net::TcpStream` on a non-blocking
//! fd); this file holds only what std cannot do on a non-blocking fd.

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use super::cvt;

/// A socket address in the kernel's representation. Any thread.
pub(crate) struct SockAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl SockAddr {
    fn zeroed() -> SockAddr {
        // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
        SockAddr { storage: unsafe { MaybeUninit::zeroed().assume_init() }, len: 0 }
    }

    /// The address family (`AF_INET`, `AF_INET6`, `AF_UNIX`).
    pub(crate) fn family(&self) -> libc::c_int {
        self.storage.ss_family as libc::c_int
    }

    pub(crate) fn from_inet(addr: &SocketAddr) -> SockAddr {
        let mut out = SockAddr::zeroed();
        match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_storage is larger than and aligned for
                // sockaddr_in; we write one whole value into it.
                unsafe { std::ptr::write((&mut out.storage as *mut libc::sockaddr_storage).cast(), sin) };
                out.len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            }
            SocketAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                    sin6_scope_id: a.scope_id(),
                };
                // SAFETY: as above, for sockaddr_in6.
                unsafe { std::ptr::write((&mut out.storage as *mut libc::sockaddr_storage).cast(), sin6) };
                out.len = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            }
        }
        out
    }

    /// A Unix-domain address for a filesystem path. Paths with an interior
    /// NUL byte or longer than `sun_path` are `InvalidInput`, as in std.
    pub(crate) fn from_unix_path(path: &Path) -> io::Result<SockAddr> {
        Self::from_unix_bytes(path.as_os_str().as_bytes(), false)
    }

    /// A Unix-domain address in Linux's abstract namespace.
    pub(crate) fn from_unix_abstract(name: &[u8]) -> io::Result<SockAddr> {
        Self::from_unix_bytes(name, true)
    }

    fn from_unix_bytes(bytes: &[u8], abstract_name: bool) -> io::Result<SockAddr> {
        let mut out = SockAddr::zeroed();
        // SAFETY: sockaddr_storage is larger than and aligned for
        // sockaddr_un; the reference lives only in this function.
        let sun = unsafe { &mut *(&mut out.storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_un>() };
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let offset = abstract_name as usize;
        if !abstract_name && bytes.contains(&0) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "paths must not contain interior null bytes"));
        }
        // A path needs room for its NUL terminator; an abstract name for its
        // leading NUL.
        if bytes.len() + 1 > sun.sun_path.len() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "path must be shorter than SUN_LEN"));
        }
        for (dst, src) in sun.sun_path[offset..].iter_mut().zip(bytes) {
            *dst = *src as libc::c_char;
        }
        let base = std::mem::offset_of!(libc::sockaddr_un, sun_path);
        let len = if abstract_name { base + 1 + bytes.len() } else { base + bytes.len() + 1 };
        out.len = len as libc::socklen_t;
        Ok(out)
    }

    /// The IP address this holds, or `InvalidInput` for another family.
    pub(crate) fn to_inet(&self) -> io::Result<SocketAddr> {
        let base = (&self.storage as *const libc::sockaddr_storage).cast::<u8>();
        match self.family() {
            libc::AF_INET => {
                // SAFETY: the kernel (or from_inet) wrote a sockaddr_in here;
                // storage is aligned for it.
                let sin = unsafe { &*base.cast::<libc::sockaddr_in>() };
                let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Ok(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
            }
            libc::AF_INET6 => {
                // SAFETY: as above, for sockaddr_in6.
                let sin6 = unsafe { &*base.cast::<libc::sockaddr_in6>() };
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Ok(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => Err(io::Error::new(io::ErrorKind::InvalidInput, "not an IP socket address")),
        }
    }

    /// The kernel form of a std Unix-domain address: a path, a Linux
    /// abstract name, or unnamed (just the family, which `bind` turns into
    /// an autobind to a fresh abstract name, as it does for std).
    pub(crate) fn from_unix(addr: &std::os::unix::net::SocketAddr) -> io::Result<SockAddr> {
        use std::os::linux::net::SocketAddrExt;
        if let Some(path) = addr.as_pathname() {
            return SockAddr::from_unix_path(path);
        }
        if let Some(name) = addr.as_abstract_name() {
            return SockAddr::from_unix_abstract(name);
        }
        Ok(SockAddr::unnamed_unix())
    }

    /// The unnamed Unix-domain address: the family alone.
    pub(crate) fn unnamed_unix() -> SockAddr {
        let mut out = SockAddr::zeroed();
        out.storage.ss_family = libc::AF_UNIX as libc::sa_family_t;
        out.len = std::mem::offset_of!(libc::sockaddr_un, sun_path) as libc::socklen_t;
        out
    }

    /// The Unix-domain address this holds, as std's type. A length of zero
    /// (what the kernel reports for a datagram from an unbound socket) or
    /// of just the family is an unnamed address.
    pub(crate) fn to_unix(&self) -> io::Result<std::os::unix::net::SocketAddr> {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::net::SocketAddr as UnixAddr;
        let base = std::mem::offset_of!(libc::sockaddr_un, sun_path);
        let len = self.len as usize;
        if len <= base {
            return unnamed_unix_addr();
        }
        if self.family() != libc::AF_UNIX {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a Unix-domain socket address"));
        }
        // SAFETY: the family is AF_UNIX, so the kernel wrote a sockaddr_un
        // here; storage is larger than and aligned for it.
        let sun = unsafe { &*(&self.storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_un>() };
        let path = &sun.sun_path[..(len - base).min(sun.sun_path.len())];
        let bytes: Vec<u8> = path.iter().map(|&c| c as u8).collect();
        match bytes.split_first() {
            Some((0, name)) => UnixAddr::from_abstract_name(name),
            _ => {
                // A path is NUL-terminated within `len` (or fills sun_path).
                let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                UnixAddr::from_pathname(Path::new(std::ffi::OsStr::from_bytes(&bytes[..end])))
            }
        }
    }

    fn as_ptr(&self) -> *const libc::sockaddr {
        (&self.storage as *const libc::sockaddr_storage).cast()
    }
}

fn family_of(addr: &SocketAddr) -> libc::c_int {
    match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    }
}

/// A new non-blocking, close-on-exec socket. `ty` is `SOCK_STREAM` or
/// `SOCK_DGRAM`.
pub(crate) fn socket(family: libc::c_int, ty: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket has no memory preconditions.
    let fd = cvt(unsafe { libc::socket(family, ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just returned by socket and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A new non-blocking socket of `addr`'s IP family.
pub(crate) fn socket_for(addr: &SocketAddr, ty: libc::c_int) -> io::Result<OwnedFd> {
    socket(family_of(addr), ty)
}

/// Starts a connection. On a non-blocking socket a TCP connect usually
/// fails with `EINPROGRESS`; the caller waits for writability and reads
/// `SO_ERROR`. `EINTR` also means "in progress" (the connect continues).
pub(crate) fn connect(fd: BorrowedFd<'_>, addr: &SockAddr) -> io::Result<()> {
    // SAFETY: `addr` points to `addr.len` initialised bytes of a sockaddr.
    let ret = unsafe { libc::connect(fd.as_raw_fd(), addr.as_ptr(), addr.len) };
    match cvt(ret) {
        Err(e) if e.raw_os_error() == Some(libc::EINTR) => Err(io::Error::from_raw_os_error(libc::EINPROGRESS)),
        other => other.map(drop),
    }
}

/// True if `err` says a non-blocking connect is under way.
pub(crate) fn is_in_progress(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::EINPROGRESS)
}

pub(crate) fn bind(fd: BorrowedFd<'_>, addr: &SockAddr) -> io::Result<()> {
    // SAFETY: `addr` points to `addr.len` initialised bytes of a sockaddr.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), addr.as_ptr(), addr.len) }).map(drop)
}

/// The listen backlog: the system maximum (the kernel clamps it to
/// `net.core.somaxconn`, 4096 by default), so a burst of connections waits
/// in the kernel rather than being refused while the accept loop is parked.
pub(crate) const LISTEN_BACKLOG: libc::c_int = libc::SOMAXCONN;

pub(crate) fn listen(fd: BorrowedFd<'_>, backlog: libc::c_int) -> io::Result<()> {
    // SAFETY: listen has no memory preconditions.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) }).map(drop)
}

/// Accepts one connection: a non-blocking, close-on-exec socket and the
/// peer's address (in the kernel's form).
pub(crate) fn accept(fd: BorrowedFd<'_>) -> io::Result<(OwnedFd, SockAddr)> {
    let mut addr = SockAddr::zeroed();
    addr.len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: `addr.storage` has room for `addr.len` bytes, which the
    // kernel updates to the length it wrote.
    let new = cvt(unsafe {
        libc::accept4(fd.as_raw_fd(), (&mut addr.storage as *mut libc::sockaddr_storage).cast(), &mut addr.len, flags)
    })?;
    // SAFETY: `new` was just returned by accept4 and is owned by nobody else.
    Ok((unsafe { OwnedFd::from_raw_fd(new) }, addr))
}

/// A connected pair of Unix-domain sockets of type `ty` (`SOCK_STREAM`
/// or `SOCK_DGRAM`), both non-blocking and close-on-exec.
pub(crate) fn socketpair(ty: libc::c_int) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    let ty = ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: `fds` has room for the two descriptors socketpair writes.
    cvt(unsafe { libc::socketpair(libc::AF_UNIX, ty, 0, fds.as_mut_ptr()) })?;
    // SAFETY: both fds were just created by socketpair and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Receives into `buf` without removing the data from the socket
/// (`MSG_PEEK`); `WouldBlock` if nothing is queued. For the socket types
/// whose std `peek` is unstable (Unix domain).
pub(crate) fn peek(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_PEEK) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// As [`peek`], also returning the sender's address (in the kernel's
/// form; for a datagram from an unbound Unix socket its length is zero).
pub(crate) fn peek_from(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, SockAddr)> {
    let mut addr = SockAddr::zeroed();
    addr.len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes; `addr.storage`
    // has room for `addr.len` bytes, which the kernel updates.
    let n = unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_PEEK,
            (&mut addr.storage as *mut libc::sockaddr_storage).cast(),
            &mut addr.len,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((n as usize, addr))
}

/// True if the socket is shut down for receiving (`POLLRDHUP`). A
/// non-blocking receive on a Unix datagram socket shut down with
/// `SHUT_RD` fails with `EAGAIN`, where a blocking one returns 0 bytes;
/// this tells the two apart.
pub(crate) fn is_read_shutdown(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLRDHUP, revents: 0 };
    // SAFETY: one live pollfd; a zero timeout never blocks.
    cvt(unsafe { libc::poll(&mut pfd, 1, 0) })?;
    Ok(pfd.revents & libc::POLLRDHUP != 0)
}

/// The unnamed Unix-domain address, as std's type. std has no constructor
/// for it; an unbound socket's local address is one (std's documentation
/// of `is_unnamed` shows exactly that), so it is read once from a
/// throw-away socket and cloned after that.
pub(crate) fn unnamed_unix_addr() -> io::Result<std::os::unix::net::SocketAddr> {
    use std::sync::OnceLock;
    static UNNAMED: OnceLock<std::os::unix::net::SocketAddr> = OnceLock::new();
    if let Some(addr) = UNNAMED.get() {
        return Ok(addr.clone());
    }
    let probe = std::os::unix::net::UnixDatagram::from(socket(libc::AF_UNIX, libc::SOCK_DGRAM)?);
    let addr = probe.local_addr()?;
    debug_assert!(addr.is_unnamed());
    Ok(UNNAMED.get_or_init(|| addr).clone())
}

/// Sets an integer socket option.
pub(crate) fn set_int_option(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: passes a live c_int and its exact size.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Reads an integer socket option.
pub(crate) fn int_option(fd: BorrowedFd<'_>, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` has room for `len` bytes; the kernel updates `len`.
    cvt(unsafe { libc::getsockopt(fd.as_raw_fd(), level, name, (&mut value as *mut libc::c_int).cast(), &mut len) })?;
    Ok(value)
}

/// The pending error of a socket (`SO_ERROR`), cleared by reading it: how
/// a non-blocking connect reports its outcome.
pub(crate) fn take_error(fd: BorrowedFd<'_>) -> io::Result<Option<io::Error>> {
    let errno = int_option(fd, libc::SOL_SOCKET, libc::SO_ERROR)?;
    Ok((errno != 0).then(|| io::Error::from_raw_os_error(errno)))
}

/// Sends `bufs` in order with `sendmsg(MSG_NOSIGNAL)`: a vectored write
/// that, unlike `writev`, fails with `EPIPE` instead of raising `SIGPIPE`
/// when the peer has gone.
pub(crate) fn send_vectored(fd: BorrowedFd<'_>, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: msghdr is plain data; all-zero is a valid (empty) value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // IoSlice is guaranteed ABI-compatible with iovec on Unix; sendmsg only
    // reads through the pointer.
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = bufs.len().min(libc::c_int::MAX as usize) as _;
    // SAFETY: `msg` points to `bufs.len()` live iovecs and no name or
    // control data.
    let sent = unsafe { libc::sendmsg(fd.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sent as usize)
}

/// Copies up to `count` bytes of `file`, starting at `*offset`, to the
/// socket `out` inside the kernel, advancing `*offset`. Returns the bytes
/// sent; `WouldBlock` when the socket buffer is full.
pub(crate) fn sendfile(out: BorrowedFd<'_>, file: BorrowedFd<'_>, offset: &mut u64, count: usize) -> io::Result<usize> {
    let mut off = libc::off_t::try_from(*offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "sendfile offset does not fit in off_t"))?;
    // Linux sends at most 0x7ffff000 bytes per call anyway.
    let count = count.min(0x7fff_f000);
    // sendfile has no MSG_NOSIGNAL: a closed peer raises SIGPIPE, which
    // kills the process unless it ignores the signal. Block it in this
    // thread for the call, and take back a SIGPIPE the call raised.
    let sent = without_sigpipe(|| {
        // SAFETY: `off` is a live off_t the kernel updates; both fds are open.
        let sent = unsafe { libc::sendfile(out.as_raw_fd(), file.as_raw_fd(), &mut off, count) };
        if sent < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(sent)
        }
    })?;
    *offset = off as u64;
    Ok(sent as usize)
}

/// Runs `f` with `SIGPIPE` blocked in the calling thread. If `f` fails with
/// `EPIPE` and raised a `SIGPIPE` (one was not already pending), consumes
/// it, so it is not delivered when the mask is restored.
fn without_sigpipe<T>(f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    // SAFETY: sigset_t is plain data; all-zero is a valid value (and
    // sigemptyset, pthread_sigmask and sigpending fill these in below).
    let [mut pipe, mut old, mut pending]: [libc::sigset_t; 3] = unsafe { std::mem::zeroed() };
    // SAFETY: all three sets are live; these calls have no other preconditions.
    unsafe {
        libc::sigemptyset(&mut pipe);
        libc::sigaddset(&mut pipe, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &pipe, &mut old);
        libc::sigpending(&mut pending);
    }
    // SAFETY: `pending` was filled by sigpending.
    let was_pending = unsafe { libc::sigismember(&pending, libc::SIGPIPE) } == 1;
    let result = f();
    if !was_pending && matches!(&result, Err(e) if e.raw_os_error() == Some(libc::EPIPE)) {
        let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `pipe` and `zero` are live; a null siginfo is allowed.
        unsafe { libc::sigtimedwait(&pipe, std::ptr::null_mut(), &zero) };
    }
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    result
}

/// Sets `SO_RCVTIMEO` or `SO_SNDTIMEO` as std's `set_read_timeout` does, so
/// the value survives a conversion back to a std socket. A zero duration
/// is rejected as in std.
pub(crate) fn set_timeout(fd: BorrowedFd<'_>, name: libc::c_int, timeout: Option<Duration>) -> io::Result<()> {
    let tv = match timeout {
        Some(d) if d.is_zero() => {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot set a 0 duration timeout"));
        }
        Some(d) => {
            let mut tv = libc::timeval {
                tv_sec: d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
                tv_usec: d.subsec_micros() as libc::suseconds_t,
            };
            if tv.tv_sec == 0 && tv.tv_usec == 0 {
                tv.tv_usec = 1; // below a microsecond: round up, not "no timeout"
            }
            tv
        }
        None => libc::timeval { tv_sec: 0, tv_usec: 0 },
    };
    // SAFETY: passes a live timeval and its exact size.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            name,
            (&tv as *const libc::timeval).cast(),
            size_of::<libc::timeval>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Reads `SO_RCVTIMEO` or `SO_SNDTIMEO` (`None`: no timeout).
pub(crate) fn timeout(fd: BorrowedFd<'_>, name: libc::c_int) -> io::Result<Option<Duration>> {
    let mut tv = libc::timeval { tv_sec: 0, tv_usec: 0 };
    let mut len = size_of::<libc::timeval>() as libc::socklen_t;
    // SAFETY: `tv` has room for `len` bytes; the kernel updates `len`.
    cvt(unsafe {
        libc::getsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, name, (&mut tv as *mut libc::timeval).cast(), &mut len)
    })?;
    if tv.tv_sec == 0 && tv.tv_usec == 0 {
        return Ok(None);
    }
    Ok(Some(Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000)))
}

/// `SO_RCVTIMEO`: the option behind `set_read_timeout`.
pub(crate) const READ_TIMEOUT: libc::c_int = libc::SO_RCVTIMEO;
/// `SO_SNDTIMEO`: the option behind `set_write_timeout`.
pub(crate) const WRITE_TIMEOUT: libc::c_int = libc::SO_SNDTIMEO;
/// `SOCK_STREAM`.
pub(crate) const STREAM: libc::c_int = libc::SOCK_STREAM;
/// `SOCK_DGRAM`.
pub(crate) const DGRAM: libc::c_int = libc::SOCK_DGRAM;
/// `AF_UNIX`.
pub(crate) const UNIX: libc::c_int = libc::AF_UNIX;

/// Enables `SO_REUSEADDR` (std sets it on every Unix listener).
pub(crate) fn set_reuse_addr(fd: BorrowedFd<'_>) -> io::Result<()> {
    set_int_option(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)
}

/// Enables `SO_REUSEPORT`: several sockets bound to one port, the kernel
/// spreading new connections (or datagrams) over them.
pub(crate) fn set_reuse_port(fd: BorrowedFd<'_>) -> io::Result<()> {
    set_int_option(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)
}

/// True for the `accept` errors that mean "out of a resource": descriptors
/// (`EMFILE`, `ENFILE`) or kernel memory (`ENOBUFS`, `ENOMEM`). Retrying at
/// once would fail again, so the accept loop backs off.
pub(crate) fn is_resource_exhausted(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}
