//! [`ToSocketAddrs`]: std's trait of the same name, with name resolution
//! moved off the worker.
//!
//! `std::net::ToSocketAddrs` resolves host names with `getaddrinfo`, a
//! blocking call that can take seconds; run on a worker, it would stall
//! every green thread there. weft's trait is implemented for the same types
//! as std's, so `TcpStream::connect("example.com:80")` and
//! `TcpListener::bind(("0.0.0.0", 8080))` compile unchanged; an address that
//! is already an IP is parsed in place, and only a host name goes to the
//! blocking pool.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Types that can be turned into socket addresses, resolving host names on
/// the blocking pool. Implemented for the same types as
/// [`std::net::ToSocketAddrs`].
///
/// Generic code written against `std::net::ToSocketAddrs` changes its bound
/// to this trait; everything else ports unchanged.
pub trait ToSocketAddrs {
    /// The addresses' iterator.
    type Iter: Iterator<Item = SocketAddr>;

    /// The addresses this value names; for a host name, what the system
    /// resolver returns (run on the blocking pool).
    fn to_socket_addrs(&self) -> io::Result<Self::Iter>;
}

type Addrs = std::vec::IntoIter<SocketAddr>;

macro_rules! direct {
    ($($ty:ty),*) => {$(
        impl ToSocketAddrs for $ty {
            type Iter = std::option::IntoIter<SocketAddr>;

            fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
                Ok(Some(SocketAddr::from(*self)).into_iter())
            }
        }
    )*};
}

direct!(SocketAddr, SocketAddrV4, SocketAddrV6, (IpAddr, u16), (Ipv4Addr, u16), (Ipv6Addr, u16));

impl ToSocketAddrs for (&str, u16) {
    type Iter = Addrs;

    fn to_socket_addrs(&self) -> io::Result<Addrs> {
        let (host, port) = *self;
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)].into_iter());
        }
        resolve(host.to_owned(), port)
    }
}

impl ToSocketAddrs for (String, u16) {
    type Iter = Addrs;

    fn to_socket_addrs(&self) -> io::Result<Addrs> {
        (self.0.as_str(), self.1).to_socket_addrs()
    }
}

impl ToSocketAddrs for str {
    type Iter = Addrs;

    fn to_socket_addrs(&self) -> io::Result<Addrs> {
        if let Ok(addr) = self.parse::<SocketAddr>() {
            return Ok(vec![addr].into_iter());
        }
        let invalid = || io::Error::new(io::ErrorKind::InvalidInput, "invalid socket address");
        let (host, port) = self.rsplit_once(':').ok_or_else(invalid)?;
        let port: u16 = port.parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "invalid port value"))?;
        (host, port).to_socket_addrs()
    }
}

impl ToSocketAddrs for String {
    type Iter = Addrs;

    fn to_socket_addrs(&self) -> io::Result<Addrs> {
        self.as_str().to_socket_addrs()
    }
}

impl<'a> ToSocketAddrs for &'a [SocketAddr] {
    type Iter = std::iter::Cloned<std::slice::Iter<'a, SocketAddr>>;

    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        Ok(self.iter().cloned())
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    type Iter = T::Iter;

    fn to_socket_addrs(&self) -> io::Result<T::Iter> {
        (**self).to_socket_addrs()
    }
}

/// Resolves a host name with the system resolver, on the blocking pool.
fn resolve(host: String, port: u16) -> io::Result<Addrs> {
    crate::blocking::unblock(move || {
        let addrs: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))?.collect();
        Ok(addrs.into_iter())
    })
}

/// Runs `f` on each address in turn until one succeeds, as std's socket
/// constructors do; returns the last error.
pub(crate) fn each_addr<A: ToSocketAddrs, T>(
    addr: A,
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for addr in addr.to_socket_addrs()? {
        match f(&addr) {
            Ok(value) => return Ok(value),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any addresses")))
}
