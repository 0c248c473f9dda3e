//! UDP: [`UdpSocket`], with std's API.
//!
//! Receives park until a datagram is queued; sends park only while the
//! socket's own send buffer is full (UDP drops rather than waits when the
//! receiver is slow), and the buffer's draining is reported by epoll.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsFd;

use super::addr::{each_addr, ToSocketAddrs};
use super::socket::{blocking_mode_methods, socket_conversions, std_methods, timeout_methods, Socket};
use crate::sys::socket::{self, SockAddr};

/// A UDP socket, as [`std::net::UdpSocket`]; receives (and sends, while the
/// send buffer is full) park the calling green thread instead of blocking
/// its worker.
///
/// ```
/// use weft::net::UdpSocket;
///
/// let server = UdpSocket::bind("127.0.0.1:0")?;
/// let server_addr = server.local_addr()?;
/// let echo = weft::spawn(move || -> std::io::Result<()> {
///     let mut buf = [0; 64];
///     let (n, from) = server.recv_from(&mut buf)?; // parks this green thread
///     server.send_to(&buf[..n], from)?;
///     Ok(())
/// });
///
/// let client = UdpSocket::bind("127.0.0.1:0")?;
/// client.connect(server_addr)?;
/// client.send(b"ping")?;
/// let mut buf = [0; 64];
/// let n = client.recv(&mut buf)?;
/// assert_eq!(&buf[..n], b"ping");
/// echo.join().unwrap()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UdpSocket {
    inner: Socket<std::net::UdpSocket>,
}

impl UdpSocket {
    /// Creates a socket bound to `addr`, trying each resolved address in
    /// turn as std does. Name resolution runs on the blocking pool.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        each_addr(addr, |addr| {
            let fd = socket::socket_for(addr, socket::DGRAM)?;
            socket::bind(fd.as_fd(), &SockAddr::from_inet(addr))?;
            Ok(UdpSocket { inner: Socket::new(std::net::UdpSocket::from(fd)) })
        })
    }

    /// Connects the socket to a remote address (trying each resolved address
    /// until one succeeds): `send` and `recv` then use it, and datagrams from
    /// other addresses are dropped. Never waits.
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        each_addr(addr, |addr| self.inner.get().connect(addr))
    }

    /// Sends `buf` to the connected address; returns the bytes sent.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(|s| s.send(buf))
    }

    /// Receives one datagram from the connected address, parking until one
    /// arrives. A datagram longer than `buf` is truncated.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(|s| s.recv(buf))
    }

    /// Sends `buf` to `addr`: to its first resolved address, as std does.
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let Some(addr) = addr.to_socket_addrs()?.next() else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "no addresses to send data to"));
        };
        self.inner.write(|s| s.send_to(buf, addr))
    }

    /// Receives one datagram and the address it came from, parking until one
    /// arrives.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.read(|s| s.recv_from(buf))
    }

    /// As [`recv`](Self::recv), but leaves the datagram queued.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(|s| s.peek(buf))
    }

    /// As [`recv_from`](Self::recv_from), but leaves the datagram queued.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.read(|s| s.peek_from(buf))
    }

    /// A new handle to the same socket (a `dup`); blocking mode and
    /// timeouts are shared between the two, as the kernel shares them
    /// between dup'd std sockets.
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        Ok(UdpSocket { inner: self.inner.try_clone(std::net::UdpSocket::try_clone)? })
    }

    std_methods! {
        /// The local address (to learn the port after binding port 0).
        pub fn local_addr(&self) -> io::Result<SocketAddr>;

        /// The connected address (`NotConnected` if there is none).
        pub fn peer_addr(&self) -> io::Result<SocketAddr>;

        /// Sets `SO_BROADCAST`: may send to a broadcast address.
        pub fn set_broadcast(&self, broadcast: bool) -> io::Result<()>;

        /// Reads `SO_BROADCAST`.
        pub fn broadcast(&self) -> io::Result<bool>;

        /// Sets `IP_TTL`.
        pub fn set_ttl(&self, ttl: u32) -> io::Result<()>;

        /// Reads `IP_TTL`.
        pub fn ttl(&self) -> io::Result<u32>;

        /// Sets `IP_MULTICAST_LOOP`: IPv4 multicast sent here is looped back.
        pub fn set_multicast_loop_v4(&self, multicast_loop_v4: bool) -> io::Result<()>;

        /// Reads `IP_MULTICAST_LOOP`.
        pub fn multicast_loop_v4(&self) -> io::Result<bool>;

        /// Sets `IP_MULTICAST_TTL`, the TTL of IPv4 multicast sent here.
        pub fn set_multicast_ttl_v4(&self, multicast_ttl_v4: u32) -> io::Result<()>;

        /// Reads `IP_MULTICAST_TTL`.
        pub fn multicast_ttl_v4(&self) -> io::Result<u32>;

        /// Sets `IPV6_MULTICAST_LOOP`: IPv6 multicast sent here is looped back.
        pub fn set_multicast_loop_v6(&self, multicast_loop_v6: bool) -> io::Result<()>;

        /// Reads `IPV6_MULTICAST_LOOP`.
        pub fn multicast_loop_v6(&self) -> io::Result<bool>;

        /// Joins the IPv4 multicast group `multiaddr` on the interface with
        /// address `interface` (`UNSPECIFIED`: the system's choice).
        pub fn join_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()>;

        /// Joins the IPv6 multicast group `multiaddr` on interface index
        /// `interface` (0: the system's choice).
        pub fn join_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()>;

        /// Leaves an IPv4 multicast group joined with
        /// [`join_multicast_v4`](Self::join_multicast_v4).
        pub fn leave_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()>;

        /// Leaves an IPv6 multicast group joined with
        /// [`join_multicast_v6`](Self::join_multicast_v6).
        pub fn leave_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()>;

        /// Takes the pending socket error (`SO_ERROR`), such as the
        /// `ConnectionRefused` an ICMP error leaves on a connected socket.
        pub fn take_error(&self) -> io::Result<Option<io::Error>>;
    }

    blocking_mode_methods!();
    timeout_methods!();
}

socket_conversions!(UdpSocket, std::net::UdpSocket);
