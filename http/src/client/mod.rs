//! The HTTP/1.1 client: [`Client`], its builder, and the limits it applies.
//!
//! Blocking-style and green-aware, like everything in weft: `client.get(url)`
//! parks the calling green thread while it connects, writes and waits, and
//! blocks the OS thread when called from a plain thread. A `Client` is an
//! `Arc` around a connection pool; clone it freely and share it across green
//! threads and OS threads.
//!
//! # A request, step by step
//!
//! 1. **Target.** The URI must be absolute and `http://`; `https://` is
//!    `io::ErrorKind::Unsupported` (no TLS here). The pool key is the
//!    lowercased host and the port (default 80).
//! 2. **Connection.** The most recently used idle connection to that host
//!    that passes a non-blocking peek (see `pool.rs`), else a new one:
//!    resolve the host (on weft's blocking pool unless it is an IP
//!    literal), connect to each address in turn within the connect timeout,
//!    set `TCP_NODELAY` and the write timeout.
//! 3. **Write** the head (`request.rs`: origin-form target, `Host` first,
//!    framing from the payload) and the body with `Payload::send`:
//!    `Content-Length` when the length is known, chunked otherwise.
//! 4. **Read the head** (`response.rs`), skipping interim `1xx` responses
//!    (`100 Continue`, `103 Early Hints`); all heads of one exchange count
//!    towards one [`MAX_HEADER_BYTES`](crate::MAX_HEADER_BYTES) budget. A
//!    `101 Switching Protocols` is an `Unsupported` error: the client does
//!    not upgrade.
//! 5. **Hand over the body.** A response without content (to HEAD; 1xx,
//!    204, 304; `Content-Length: 0`) gives its connection back to the pool
//!    at once. Any other response's [`Body`] owns the connection and streams
//!    from it; dropping the body gives the connection back through
//!    `body::Home::give_back`: to the pool if it was read to
//!    its end and the response allowed reuse, after draining at most
//!    [`MAX_DRAIN`] unread bytes (within one read timeout) if it was not,
//!    otherwise the connection closes.
//!
//! # Retrying a stale connection
//!
//! A server may close an idle keep-alive connection at any moment, and the
//! peek in step 2 cannot see a close that is still in flight. So when a
//! request on a *reused* connection fails before any byte of a response
//! arrived, with end of stream, a reset or a broken pipe, the client sends
//! it once more on a fresh connection, but only if that is safe (RFC 9112
//! §9.3.1): the method is idempotent (GET, HEAD, PUT, DELETE, OPTIONS,
//! TRACE) and the body is bytes it still has (not a reader or a file, which
//! the first attempt consumed). Otherwise the error is returned, saying why
//! it was not retried. A timeout is never retried: the server may be
//! working on the request. A failure on a fresh connection is never retried.
//!
//! # Timeouts
//!
//! Connect, each read, and each write have their own limit
//! ([`CONNECT_TIMEOUT`], [`READ_TIMEOUT`], [`WRITE_TIMEOUT`]); each failure
//! is `io::ErrorKind::TimedOut`. Reads use `weft::timeout`; writes use the
//! socket's write timeout, whose `WouldBlock` the client reports as
//! `TimedOut`. There is no overall deadline per request: wrap the call and
//! the body reads in `weft::timeout` for one.
//!
//! # Not here
//!
//! TLS, proxies, redirects, cookies, content decoding (`gzip`), waiting for
//! `100 Continue` before sending a body (the body is sent at once, which
//! RFC 9110 §10.1.1 permits), pipelining, and upgrades.

mod pool;
mod request;
mod response;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode, Uri};
use weft::net::{TcpStream, ToSocketAddrs};

use crate::body::{Body, BodyConfig, Framing, Home, Inbound};
use crate::error::{Error, Kind};
use crate::parse::Limits;
use crate::payload::{self, Payload};
use pool::{Pool, ReturnTo};
use request::Target;

/// Longest wait for a TCP connection to be established, per address tried.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest wait for each read of a response (head or body).
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest wait for each write of a request.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Most idle connections kept per host and port.
pub const MAX_IDLE_PER_HOST: usize = 32;

/// Longest time an idle connection is kept for reuse. Most servers close
/// idle connections sooner (weft-http's server after
/// [`KEEP_ALIVE_TIMEOUT`](crate::KEEP_ALIVE_TIMEOUT), 60 s); the pool's peek
/// and the retry rule cover that.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Largest response body, in bytes: unlimited by default, since a client
/// downloading a file is ordinary. A declared `Content-Length` over the limit
/// fails the request; a body that grows past it fails the read, as a
/// server's request body does (`InvalidData`, [`crate::Error::is_too_large`]).
/// Set a limit when reading whole bodies from servers you do not trust.
pub const MAX_BODY: u64 = u64::MAX;

/// Most unread body bytes read and discarded, when a body is dropped early,
/// to keep its connection; a longer remainder closes the connection.
pub const MAX_DRAIN: u64 = 64 * 1024;

/// Everything a request needs to know, fixed at build time.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) read_timeout: Option<Duration>,
    pub(crate) write_timeout: Option<Duration>,
    pub(crate) max_body: u64,
    pub(crate) max_drain: u64,
    pub(crate) limits: Limits,
}

/// What every clone of a [`Client`] shares. Any thread.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) pool: Pool,
}

/// An HTTP/1.1 client with a keep-alive connection pool.
///
/// ```no_run
/// use std::io::Read;
/// let client = weft_http::Client::new();
/// let resp = client.get("http://127.0.0.1:8080/hello")?;
/// assert_eq!(resp.status(), 200);
/// let text = resp.into_body().into_bytes()?;
/// let resp = client.post("http://127.0.0.1:8080/echo", "ping")?;
/// let mut body = String::new();
/// resp.into_body().read_to_string(&mut body)?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Every method returns `io::Result`: socket errors as std reports them
/// (`ConnectionRefused`, `TimedOut`, ...), a bad URI as `InvalidInput`, an
/// `https` URI as `Unsupported`, and a response the client cannot accept as
/// `InvalidData` carrying a [`crate::Error`] (`is_response()`). Any status
/// code, 404 and 500 included, is a successful `Response`. See the module
/// docs of `client` for the connection pool, retries and timeouts.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

impl Default for Client {
    fn default() -> Client {
        Client::new()
    }
}

impl Client {
    /// A client with the default limits and timeouts.
    pub fn new() -> Client {
        ClientBuilder::default().build()
    }

    /// A builder for other limits and timeouts.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Sends a GET request.
    pub fn get<U>(&self, uri: U) -> io::Result<Response<Body>>
    where
        Uri: TryFrom<U>,
        <Uri as TryFrom<U>>::Error: Into<http::Error>,
    {
        self.send(Method::GET, uri, Payload::empty())
    }

    /// Sends a HEAD request; the response's body is empty.
    pub fn head<U>(&self, uri: U) -> io::Result<Response<Body>>
    where
        Uri: TryFrom<U>,
        <Uri as TryFrom<U>>::Error: Into<http::Error>,
    {
        self.send(Method::HEAD, uri, Payload::empty())
    }

    /// Sends a POST request with `body`.
    pub fn post<U, B: Into<Payload>>(&self, uri: U, body: B) -> io::Result<Response<Body>>
    where
        Uri: TryFrom<U>,
        <Uri as TryFrom<U>>::Error: Into<http::Error>,
    {
        self.send(Method::POST, uri, body.into())
    }

    /// Sends a PUT request with `body`.
    pub fn put<U, B: Into<Payload>>(&self, uri: U, body: B) -> io::Result<Response<Body>>
    where
        Uri: TryFrom<U>,
        <Uri as TryFrom<U>>::Error: Into<http::Error>,
    {
        self.send(Method::PUT, uri, body.into())
    }

    /// Sends a DELETE request.
    pub fn delete<U>(&self, uri: U) -> io::Result<Response<Body>>
    where
        Uri: TryFrom<U>,
        <Uri as TryFrom<U>>::Error: Into<http::Error>,
    {
        self.send(Method::DELETE, uri, Payload::empty())
    }

    fn send<U>(&self, method: Method, uri: U, body: Payload) -> io::Result<Response<Body>>
    where
        Uri: TryFrom<U>,
        <Uri as TryFrom<U>>::Error: Into<http::Error>,
    {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(body)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.request(request)
    }

    /// Sends `request` and returns the response once its head has arrived;
    /// the body streams from the connection as it is read. The URI must be
    /// absolute (`http://host[:port]/path`). See the module docs for what
    /// the client adds to the head and when it retries.
    pub fn request<B: Into<Payload>>(&self, request: Request<B>) -> io::Result<Response<Body>> {
        let (parts, body) = request.into_parts();
        let mut payload: Payload = body.into();
        if parts.method == Method::CONNECT {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "weft_http::Client does not support CONNECT"));
        }
        let target = Target::new(&parts.uri)?;
        let mut head = Vec::with_capacity(256);
        let chunked = request::write_head(&mut head, &parts, &target, &mut payload);
        let request_close = !crate::parse::keep_alive(&parts.headers, http::Version::HTTP_11);
        let exchange = Exchange { method: &parts.method, head: &head, chunked, target: &target, request_close };

        let (mut inbound, mut reused) = match self.shared.pool.take(&target.key) {
            Some(inbound) => (inbound, true),
            None => (self.connect(&target)?, false),
        };
        loop {
            let spare = if reused && request::is_idempotent(&parts.method) { payload.try_clone() } else { None };
            let failed = match self.exchange(&exchange, inbound, payload) {
                Ok(response) => return Ok(response),
                Err(failed) => failed,
            };
            if !(reused && failed.stale) {
                return Err(failed.error);
            }
            payload = match spare {
                Some(spare) => spare,
                None => return Err(not_retried(failed.error, &parts.method)),
            };
            inbound = self.connect(&target)?;
            reused = false;
        }
    }

    /// Opens a connection to `target`, trying each address it resolves to.
    fn connect(&self, target: &Target) -> io::Result<Inbound> {
        let config = &self.shared.config;
        let mut last = None;
        for addr in (target.connect_host(), target.key.port).to_socket_addrs()? {
            let stream = match config.connect_timeout {
                Some(limit) => TcpStream::connect_timeout(&addr, limit),
                None => TcpStream::connect(addr),
            };
            match stream {
                Ok(stream) => {
                    // Head and body often go out in separate writes; Nagle
                    // would hold the second for the first one's ACK.
                    stream.set_nodelay(true)?;
                    stream.set_write_timeout(config.write_timeout)?;
                    return Ok(Inbound::new(Arc::new(stream)));
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("{} resolved to no address", target.connect_host()))
        }))
    }

    /// One attempt: write the request on `inbound`, read the response head.
    fn exchange(&self, x: &Exchange<'_>, mut inbound: Inbound, payload: Payload) -> Result<Response<Body>, Failed> {
        let config = &self.shared.config;
        let stream = inbound.stream.clone();
        let mut out = x.head.to_vec();
        let sent = payload.send(&stream, &mut out, x.chunked).and_then(|()| payload::flush(&mut &*stream, &mut out));
        if let Err(e) = sent {
            let stale = is_reset(&e);
            let error = if e.kind() == io::ErrorKind::WouldBlock {
                io::Error::new(io::ErrorKind::TimedOut, "timed out writing the request")
            } else {
                e
            };
            return Err(Failed { error, stale });
        }

        // All heads of the exchange (interim ones too) share one size budget.
        let mut head_bytes = 0;
        let head = loop {
            let max = config.limits.get_max_header_bytes().saturating_sub(head_bytes);
            let limits = config.limits.max_header_bytes(max);
            match response::parse_response(inbound.unconsumed(), x.method, &limits) {
                Ok(None) => {
                    let nothing_yet = head_bytes == 0 && inbound.unconsumed().is_empty();
                    match inbound.fill(config.read_timeout) {
                        Ok(0) => {
                            let error = io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "the server closed the connection before the response head ended",
                            );
                            return Err(Failed { error, stale: nothing_yet });
                        }
                        Ok(_) => {}
                        Err(error) => return Err(Failed { stale: nothing_yet && is_reset(&error), error }),
                    }
                }
                Ok(Some(head)) if head.parts.status == StatusCode::SWITCHING_PROTOCOLS => {
                    let error = io::Error::new(
                        io::ErrorKind::Unsupported,
                        "the server switched protocols (101); weft_http::Client does not upgrade connections",
                    );
                    return Err(Failed { error, stale: false });
                }
                Ok(Some(head)) if head.parts.status.is_informational() => {
                    inbound.consume(head.len);
                    head_bytes += head.len;
                }
                Ok(Some(head)) => {
                    inbound.consume(head.len);
                    break head;
                }
                Err(e) => return Err(Failed { error: e.into(), stale: false }),
            }
        };

        if matches!(head.framing, Framing::Length(n) if n > config.max_body) {
            return Err(Failed { error: Error::new(Kind::BodyTooLarge).into(), stale: false });
        }
        let reusable = head.reusable && !x.request_close;
        let body = match head.framing {
            Framing::Done => {
                if reusable {
                    self.shared.pool.put(&x.target.key, inbound);
                }
                Body::empty()
            }
            framing => {
                let home: Arc<dyn Home> = if reusable {
                    Arc::new(ReturnTo { shared: self.shared.clone(), key: x.target.key.clone() })
                } else {
                    Arc::new(Close)
                };
                let body_config =
                    BodyConfig { limit: config.max_body, read_timeout: config.read_timeout, send_continue: false };
                Body::from_conn(inbound, framing, home, body_config)
            }
        };
        Ok(Response::from_parts(head.parts, body))
    }
}

/// What one request's attempts share.
struct Exchange<'a> {
    method: &'a Method,
    /// The serialised head, written again on a retry.
    head: &'a [u8],
    chunked: bool,
    target: &'a Target,
    /// The request itself said `Connection: close`.
    request_close: bool,
}

/// A failed attempt.
struct Failed {
    error: io::Error,
    /// The connection failed before any byte of a response arrived, the way
    /// a connection the server closed while idle fails.
    stale: bool,
}

/// The errors a socket the peer closed (or reset) fails a read or write
/// with. (End of stream on a read is `Ok(0)`, handled where it is read;
/// `UnexpectedEof` from `Payload::send` is the caller's reader ending early,
/// not the connection.)
fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::NotConnected
    )
}

/// The error of a stale-connection failure that could not be retried.
fn not_retried(e: io::Error, method: &Method) -> io::Error {
    let why = if request::is_idempotent(method) {
        "its body was a reader or file the first attempt consumed".to_owned()
    } else {
        format!("{method} is not idempotent")
    };
    io::Error::new(
        e.kind(),
        format!("the server closed the reused connection before responding ({e}); not retried: {why}"),
    )
}

/// The home of a body whose connection cannot be reused: dropping what
/// comes back closes it.
struct Close;

impl Home for Close {
    fn give_back(&self, _returned: crate::body::Returned) {}
}

/// Builds a [`Client`] with limits other than the defaults. Each setting
/// names the constant it overrides. Timeouts take `Duration` or `None` (no
/// limit).
///
/// ```
/// use std::time::Duration;
/// let client = weft_http::Client::builder()
///     .connect_timeout(Duration::from_secs(2))
///     .read_timeout(Duration::from_secs(10))
///     .max_idle_per_host(4)
///     .max_body(16 * 1024 * 1024)
///     .build();
/// ```
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    config: Config,
    max_idle_per_host: usize,
    idle_timeout: Duration,
}

impl Default for ClientBuilder {
    fn default() -> ClientBuilder {
        ClientBuilder {
            config: Config {
                connect_timeout: Some(CONNECT_TIMEOUT),
                read_timeout: Some(READ_TIMEOUT),
                write_timeout: Some(WRITE_TIMEOUT),
                max_body: MAX_BODY,
                max_drain: MAX_DRAIN,
                limits: Limits::default(),
            },
            max_idle_per_host: MAX_IDLE_PER_HOST,
            idle_timeout: IDLE_TIMEOUT,
        }
    }
}

/// A timeout setting: `None` is no limit; zero is refused, as std refuses it.
fn timeout_setting(timeout: impl Into<Option<Duration>>, what: &str) -> Option<Duration> {
    let timeout = timeout.into();
    assert!(timeout != Some(Duration::ZERO), "weft_http: a zero {what} timeout; use None for no limit");
    timeout
}

impl ClientBuilder {
    /// Longest wait to connect, per address (default [`CONNECT_TIMEOUT`]).
    ///
    /// # Panics
    ///
    /// If the duration is zero.
    pub fn connect_timeout(mut self, timeout: impl Into<Option<Duration>>) -> ClientBuilder {
        self.config.connect_timeout = timeout_setting(timeout, "connect");
        self
    }

    /// Longest wait for each read of a response (default [`READ_TIMEOUT`]).
    ///
    /// # Panics
    ///
    /// If the duration is zero.
    pub fn read_timeout(mut self, timeout: impl Into<Option<Duration>>) -> ClientBuilder {
        self.config.read_timeout = timeout_setting(timeout, "read");
        self
    }

    /// Longest wait for each write of a request (default [`WRITE_TIMEOUT`]).
    ///
    /// # Panics
    ///
    /// If the duration is zero.
    pub fn write_timeout(mut self, timeout: impl Into<Option<Duration>>) -> ClientBuilder {
        self.config.write_timeout = timeout_setting(timeout, "write");
        self
    }

    /// Most idle connections kept per host (default [`MAX_IDLE_PER_HOST`]);
    /// 0 disables the pool.
    pub fn max_idle_per_host(mut self, n: usize) -> ClientBuilder {
        self.max_idle_per_host = n;
        self
    }

    /// Longest time a connection is kept idle (default [`IDLE_TIMEOUT`]).
    pub fn idle_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.idle_timeout = timeout;
        self
    }

    /// Largest response body (default [`MAX_BODY`], no limit).
    pub fn max_body(mut self, bytes: u64) -> ClientBuilder {
        self.config.max_body = bytes;
        self
    }

    /// Most unread body bytes discarded to keep a connection (default [`MAX_DRAIN`]).
    pub fn max_drain(mut self, bytes: u64) -> ClientBuilder {
        self.config.max_drain = bytes;
        self
    }

    /// Response-head limits: field count and head bytes (defaults
    /// [`MAX_HEADERS`](crate::MAX_HEADERS),
    /// [`MAX_HEADER_BYTES`](crate::MAX_HEADER_BYTES)). The request-line
    /// limit does not apply to responses.
    pub fn limits(mut self, limits: Limits) -> ClientBuilder {
        self.config.limits = limits;
        self
    }

    /// The client.
    pub fn build(self) -> Client {
        let pool = Pool::new(self.max_idle_per_host, self.idle_timeout);
        Client { shared: Arc::new(Shared { config: self.config, pool }) }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("config", &self.shared.config).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_send_sync_clone() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<Client>();
        assert_traits::<ClientBuilder>();
        fn assert_send<T: Send + 'static>() {}
        assert_send::<Response<Body>>();
    }

    #[test]
    #[should_panic(expected = "zero read timeout")]
    fn client_builder_refuses_zero_timeouts() {
        let _ = Client::builder().read_timeout(Duration::ZERO);
    }
}
