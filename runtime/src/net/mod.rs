//! Networking with std's API: TCP, UDP and Unix-domain sockets whose
//! blocking calls park the calling green thread instead of its worker.
//!
//! Port a thread-per-connection server by changing `std::net` to
//! `weft::net` (and `std::os::unix::net` to `weft::net`). The types have
//! std's methods and std's errors; they also work from plain OS threads,
//! where they block the thread as std's would.
//!
//! # How a call waits
//!
//! Every socket is non-blocking underneath (from birth, for sockets weft
//! creates). A call tries the system call; if it would block, a green
//! thread registers the socket with its worker's epoll (once, on its first
//! wait) and parks until the socket is ready, then tries again; an OS
//! thread waits in `poll(2)`. `WouldBlock` reaches the caller only after
//! `set_nonblocking(true)`, or when a read or write timeout expires (as std
//! reports it on Linux).
//!
//! # Differences from std
//!
//! * [`ToSocketAddrs`] is weft's own trait (same implementors as std's), so
//!   host names are resolved on the blocking pool.
//! * [`TcpListener::accept`] backs off before returning a resource-
//!   exhaustion error (`EMFILE`), so an accept loop does not spin.
//! * [`TcpListenerBuilder`] sets `SO_REUSEPORT` and the backlog;
//!   [`TcpStream::sendfile`] sends a file range without copying.
//! * A socket's readiness is delivered by the worker of the first green
//!   thread that waited on it; if that runtime shuts down, green threads of
//!   another runtime can no longer wait on the socket (they get an error
//!   saying so). OS threads can always use it.
//! * Unix-domain addresses are std's [`std::os::unix::net::SocketAddr`],
//!   used as is; [`UnixListener::incoming`] returns [`UnixIncoming`].
//! * A Unix `connect` to a full backlog and a datagram `send_to` a full
//!   queue retry after a wait ([`UNIX_RETRY_MIN`] to [`UNIX_RETRY_MAX`]):
//!   the kernel has no readiness event for them.
//! * std writes to sockets with `MSG_NOSIGNAL`, so a write to a closed peer
//!   fails with `BrokenPipe` instead of killing the process with `SIGPIPE`;
//!   weft calls std's writes and keeps that.

mod addr;
mod backoff;
pub(crate) mod socket;
mod tcp;
mod udp;
mod unix;

pub use addr::ToSocketAddrs;
pub use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, SocketAddrV4, SocketAddrV6};
pub use tcp::{
    Incoming, TcpListener, TcpListenerBuilder, TcpStream, ACCEPT_BACKOFF_MAX, ACCEPT_BACKOFF_MIN, DEFAULT_BACKLOG,
};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixIncoming, UnixListener, UnixStream, UNIX_RETRY_MAX, UNIX_RETRY_MIN};
