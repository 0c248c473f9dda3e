//! The server: [`Server`], its builder, [`ServerHandle`] and [`Handler`].
//!
//! # Shape
//!
//! `serve` spawns one accept loop per listener (one listener, or one per
//! worker with [`ServerBuilder::reuse_port`]) and one green thread per
//! connection (`conn.rs`), then waits until all of them have finished. A
//! connection runs the handler itself, so a handler that blocks for seconds
//! parks only its own green thread.
//!
//! # Connection limit: stop accepting, no 503
//!
//! Beyond [`ServerBuilder::max_connections`] the accept loops stop calling
//! `accept` until a connection ends; new connections wait in the kernel's
//! listen backlog (and past it, the kernel drops SYNs and clients retry).
//! Accepting only to answer 503 would spend a descriptor, a green thread and
//! a write on every excess connection, which is exactly what the limit is
//! there to bound, and clients answered 503 tend to retry at once, adding
//! load at the worst time. The backlog is a queue the kernel keeps for free.
//!
//! # Graceful shutdown
//!
//! [`ServerHandle::shutdown`] sets the shutdown flag, cancels the accept
//! loops, and closes every idle keep-alive connection. A connection that is
//! mid-request finishes it, answers with `Connection: close`, and closes.
//! Connections still open after [`ServerBuilder::shutdown_timeout`] are
//! closed under their requests: every timeout is per read or write, so a
//! client trickling a body could otherwise keep `serve` from returning.
//! The race between a connection going idle and shutdown closing idle ones
//! is settled by each side writing its own flag, then reading the other's
//! (`SeqCst`): either the connection sees the shutdown flag before it waits,
//! or shutdown sees the connection idle and closes its socket under it. A
//! freshly accepted connection counts as busy: its first request is served,
//! because the client certainly sent or is sending one.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response};
use weft::net::{Shutdown, TcpListener, TcpListenerBuilder, TcpStream, ToSocketAddrs};
use weft::sync::{Semaphore, WaitGroup};

use crate::body::Body;
use crate::parse::Limits;
use crate::payload::Payload;

/// Longest time from a connection's first request byte (or its accept) to
/// the end of the request head. Slower is closed without an answer: the
/// slowloris defence.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest time an idle keep-alive connection is kept open.
pub const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest wait for each read of a request body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest wait for each write of a response.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest request body, in bytes. A larger `Content-Length` is answered 413
/// without calling the handler; a chunked body that grows past it makes the
/// handler's read fail, and the response is 413.
pub const MAX_BODY: u64 = 8 * 1024 * 1024;

/// Most bytes of an unread request body the server reads and discards to
/// keep the connection; a longer remainder closes the connection instead.
pub const MAX_DRAIN: u64 = 256 * 1024;

/// Longest a graceful shutdown waits for requests in flight before it
/// closes their connections too (a client trickling a body, or reading a
/// response slowly, would otherwise hold `serve` open without end).
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest timeout kept: a century, so deadlines computed from it never
/// overflow `Instant`. Longer settings are clamped to it.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Most connections served at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 10_000;

/// A request handler: any `Fn(Request<Body>) -> Response<B>` where
/// `B: Into<Payload>`, shared by all connections.
///
/// ```
/// use weft_http::{Body, Handler};
/// fn hello(_req: http::Request<Body>) -> http::Response<&'static str> {
///     http::Response::new("Hello, World!")
/// }
/// fn is_handler(_: impl Handler) {}
/// is_handler(hello);
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Answers one request.
    fn call(&self, request: Request<Body>) -> Response<Payload>;
}

impl<F, B> Handler for F
where
    F: Fn(Request<Body>) -> Response<B> + Send + Sync + 'static,
    B: Into<Payload>,
{
    fn call(&self, request: Request<Body>) -> Response<Payload> {
        self(request).map(Into::into)
    }
}

/// Everything a connection needs to know, fixed at bind time.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) limits: Limits,
    pub(crate) max_body: u64,
    pub(crate) max_drain: u64,
    pub(crate) header_timeout: Duration,
    pub(crate) keep_alive_timeout: Duration,
    pub(crate) body_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) max_connections: usize,
}

/// Builds a [`Server`] with limits other than the defaults. Each setting
/// names the constant it overrides.
///
/// ```no_run
/// use std::time::Duration;
/// let server = weft_http::Server::builder()
///     .max_body(1024 * 1024)
///     .header_timeout(Duration::from_secs(5))
///     .max_connections(5_000)
///     .bind("127.0.0.1:8080")?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ServerBuilder {
    config: Config,
    reuse_port: bool,
    listeners: Option<usize>,
    backlog: Option<u32>,
}

impl Default for ServerBuilder {
    fn default() -> ServerBuilder {
        ServerBuilder {
            config: Config {
                limits: Limits::default(),
                max_body: MAX_BODY,
                max_drain: MAX_DRAIN,
                header_timeout: HEADER_TIMEOUT,
                keep_alive_timeout: KEEP_ALIVE_TIMEOUT,
                body_timeout: BODY_TIMEOUT,
                write_timeout: WRITE_TIMEOUT,
                shutdown_timeout: SHUTDOWN_TIMEOUT,
                max_connections: MAX_CONNECTIONS,
            },
            reuse_port: false,
            listeners: None,
            backlog: None,
        }
    }
}

impl ServerBuilder {
    /// Request-head limits: request line (414), header count and head bytes
    /// (431). See [`Limits`].
    pub fn limits(mut self, limits: Limits) -> ServerBuilder {
        self.config.limits = limits;
        self
    }

    /// Largest request body (default [`MAX_BODY`]); larger is 413.
    pub fn max_body(mut self, bytes: u64) -> ServerBuilder {
        self.config.max_body = bytes;
        self
    }

    /// Most unread body bytes discarded to keep a connection (default [`MAX_DRAIN`]).
    pub fn max_drain(mut self, bytes: u64) -> ServerBuilder {
        self.config.max_drain = bytes;
        self
    }

    /// Time allowed for a request head (default [`HEADER_TIMEOUT`]).
    pub fn header_timeout(mut self, timeout: Duration) -> ServerBuilder {
        self.config.header_timeout = timeout.min(FOREVER);
        self
    }

    /// Time an idle keep-alive connection is kept (default [`KEEP_ALIVE_TIMEOUT`]).
    pub fn keep_alive_timeout(mut self, timeout: Duration) -> ServerBuilder {
        self.config.keep_alive_timeout = timeout.min(FOREVER);
        self
    }

    /// Longest wait for each body read (default [`BODY_TIMEOUT`]).
    pub fn body_timeout(mut self, timeout: Duration) -> ServerBuilder {
        self.config.body_timeout = timeout.min(FOREVER);
        self
    }

    /// Longest wait for each response write (default [`WRITE_TIMEOUT`]).
    pub fn write_timeout(mut self, timeout: Duration) -> ServerBuilder {
        self.config.write_timeout = timeout.min(FOREVER);
        self
    }

    /// Longest a graceful shutdown waits for requests in flight before
    /// closing their connections (default [`SHUTDOWN_TIMEOUT`]).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> ServerBuilder {
        self.config.shutdown_timeout = timeout.min(FOREVER);
        self
    }

    /// Most connections served at once (default [`MAX_CONNECTIONS`]); see
    /// the module docs for what happens beyond it.
    ///
    /// # Panics
    ///
    /// If `n` is 0.
    pub fn max_connections(mut self, n: usize) -> ServerBuilder {
        assert!(n > 0, "weft_http: max_connections must be at least 1");
        self.config.max_connections = n;
        self
    }

    /// One listener per worker sharing the port (`SO_REUSEPORT`), each with
    /// its own accept loop, instead of one listener and one accept loop.
    /// The kernel spreads new connections across the listeners.
    pub fn reuse_port(mut self, reuse: bool) -> ServerBuilder {
        self.reuse_port = reuse;
        self
    }

    /// With [`reuse_port`](Self::reuse_port): how many listeners (default:
    /// the number of available cores).
    pub fn listeners(mut self, n: usize) -> ServerBuilder {
        self.listeners = Some(n.max(1));
        self
    }

    /// The listen backlog (default `SOMAXCONN`).
    pub fn backlog(mut self, backlog: u32) -> ServerBuilder {
        self.backlog = Some(backlog);
        self
    }

    /// Binds the listener(s). Port 0 picks a free port; with `reuse_port`
    /// every listener gets the same one.
    pub fn bind<A: ToSocketAddrs>(self, addr: A) -> io::Result<Server> {
        let mut builder = TcpListenerBuilder::new().reuse_port(self.reuse_port);
        if let Some(backlog) = self.backlog {
            builder = builder.backlog(backlog);
        }
        let first = builder.bind(addr)?;
        let local_addr = first.local_addr()?;
        let mut listeners = vec![first];
        if self.reuse_port {
            let n = self.listeners.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            for _ in 1..n {
                listeners.push(builder.bind(local_addr)?);
            }
        }
        let shared = Arc::new(Shared {
            local_addr,
            shutting_down: AtomicBool::new(false),
            acceptors: Mutex::new(Vec::new()),
            conns: Mutex::new(Registry::default()),
            live: WaitGroup::new(),
            permits: Semaphore::new(self.config.max_connections),
            shutdown_started: Semaphore::new(0),
        });
        Ok(Server { listeners, config: Arc::new(self.config), shared })
    }
}

/// An HTTP/1.1 server: one green thread per connection, running a plain
/// function per request.
///
/// ```no_run
/// use weft_http::{Body, Server};
/// let server = Server::bind("127.0.0.1:8080")?;
/// println!("listening on {}", server.local_addr());
/// server.serve(|req: http::Request<Body>| match req.uri().path() {
///     "/" => http::Response::new("Hello, World!"),
///     _ => http::Response::builder().status(404).body("not found").unwrap(),
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// See the crate docs for the protocol behaviour and the module docs of
/// `server.rs` for the connection limit and graceful shutdown.
pub struct Server {
    listeners: Vec<TcpListener>,
    config: Arc<Config>,
    shared: Arc<Shared>,
}

/// State shared by the server, its accept loops, its connections and its
/// handles.
pub(crate) struct Shared {
    local_addr: SocketAddr,
    pub(crate) shutting_down: AtomicBool,
    acceptors: Mutex<Vec<weft::JoinHandle<()>>>,
    conns: Mutex<Registry>,
    /// Counts accept loops and connections; `serve` returns at zero.
    live: WaitGroup,
    /// One per connection being served.
    permits: Semaphore,
    /// Gets one permit when shutdown starts: wakes the grace-period watch.
    shutdown_started: Semaphore,
}

/// The connections being served, for shutdown to close the idle ones.
#[derive(Default)]
struct Registry {
    slots: Vec<Option<Arc<ConnEntry>>>,
    free: Vec<usize>,
}

/// What shutdown needs of a connection: its socket and whether it is idle.
pub(crate) struct ConnEntry {
    pub(crate) stream: Arc<TcpStream>,
    state: AtomicU8,
}

const BUSY: u8 = 0;
const IDLE: u8 = 1;
const CLOSED: u8 = 2;

impl ConnEntry {
    /// Marks the connection idle (waiting for a next request). `false` if
    /// the server is shutting down: close instead of waiting.
    pub(crate) fn go_idle(&self, shared: &Shared) -> bool {
        self.state.store(IDLE, SeqCst);
        !shared.shutting_down.load(SeqCst)
    }

    /// Marks the connection busy again after its wait. `false` if shutdown
    /// closed it meanwhile.
    pub(crate) fn go_busy(&self) -> bool {
        self.state.compare_exchange(IDLE, BUSY, SeqCst, SeqCst).is_ok()
    }
}

impl Server {
    /// Binds a server with the default limits.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<Server> {
        ServerBuilder::default().bind(addr)
    }

    /// A builder for other limits, timeouts and listener options.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// A handle to shut the server down from another thread.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle { shared: self.shared.clone() }
    }

    /// Serves connections with `handler` until [`ServerHandle::shutdown`],
    /// then returns once every connection has closed. Blocks the calling
    /// green thread or OS thread; connections run as green threads of the
    /// calling green thread's runtime (the default runtime from an OS thread).
    pub fn serve<H: Handler>(self, handler: H) -> io::Result<()> {
        let handler = Arc::new(handler);
        let Server { listeners, config, shared } = self;
        {
            let mut acceptors = shared.acceptors.lock().unwrap_or_else(|e| e.into_inner());
            for listener in listeners {
                let (live, config, handler) = (LiveGuard::new(&shared), config.clone(), handler.clone());
                let spawned = weft::Builder::new()
                    .name("weft-http accept")
                    .spawn(move || accept_loop(listener, live, &config, &handler));
                match spawned {
                    Ok(h) => acceptors.push(h),
                    Err(e) => {
                        // The closure, and with it its live count, is dropped.
                        drop(acceptors);
                        ServerHandle { shared: shared.clone() }.shutdown();
                        shared.live.wait();
                        return Err(e);
                    }
                }
            }
        }
        // A shutdown that came before the accept loops existed cancelled none.
        if shared.shutting_down.load(SeqCst) {
            ServerHandle { shared: shared.clone() }.shutdown();
        }
        // Bounds the graceful part of a shutdown; not counted as live, so
        // it never delays `serve` once the connections are gone.
        let (watched, grace) = (shared.clone(), config.shutdown_timeout);
        let watch = weft::Builder::new().name("weft-http shutdown").spawn(move || {
            watched.shutdown_started.acquire().forget();
            weft::sleep(grace);
            watched.close_all();
        });
        shared.live.wait();
        if let Ok(watch) = watch {
            watch.cancel();
            let _ = watch.join();
        }
        Ok(())
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("local_addr", &self.shared.local_addr).field("config", &self.config).finish()
    }
}

/// One count of `Shared::live`: an accept loop or a connection. Made before
/// its green thread is spawned and moved into the closure, so the count
/// drops however the green thread ends, and also if it never runs: a green
/// thread cancelled before it starts (by a shutdown right after `serve`
/// began) is dropped unrun, closure and all.
struct LiveGuard(Arc<Shared>);

impl LiveGuard {
    fn new(shared: &Arc<Shared>) -> LiveGuard {
        shared.live.add(1);
        LiveGuard(shared.clone())
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.live.done();
    }
}

fn accept_loop<H: Handler>(listener: TcpListener, live: LiveGuard, config: &Arc<Config>, handler: &Arc<H>) {
    let shared = &live.0;
    while !shared.shutting_down.load(SeqCst) {
        shared.permits.acquire().forget();
        let permit = PermitGuard(shared.clone());
        let stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break Some(stream),
                // weft already paced EMFILE and friends; a connection that
                // died in the backlog is no reason to stop.
                Err(_) if !shared.shutting_down.load(SeqCst) => continue,
                Err(_) => break None,
            }
        };
        let Some(stream) = stream else { break };
        let live = LiveGuard::new(shared);
        let (config, handler) = (config.clone(), handler.clone());
        // On an error (no memory for a stack) the closure is dropped unrun:
        // the connection closes and its guards release what it held.
        let _ = weft::Builder::new().spawn(move || {
            let live = live;
            let _permit = permit;
            let shared = &live.0;
            let entry = shared.register(stream);
            crate::conn::serve_connection(&entry, shared, &config, &*handler);
        });
    }
}

/// The connection permit taken before `accept`, given back when the
/// connection ends or its green thread is dropped unrun.
struct PermitGuard(Arc<Shared>);

impl Drop for PermitGuard {
    fn drop(&mut self) {
        self.0.permits.add_permits(1);
    }
}

/// A registered connection; unregisters itself if the connection unwinds.
pub(crate) struct Registered<'a> {
    shared: &'a Shared,
    entry: Arc<ConnEntry>,
    slot: usize,
}

impl std::ops::Deref for Registered<'_> {
    type Target = ConnEntry;
    fn deref(&self) -> &ConnEntry {
        &self.entry
    }
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        let mut reg = self.shared.conns.lock().unwrap_or_else(|e| e.into_inner());
        reg.slots[self.slot] = None;
        reg.free.push(self.slot);
    }
}

impl Shared {
    /// The connections registered now (copied out, so the lock is not held
    /// while they are closed).
    fn connections(&self) -> Vec<Arc<ConnEntry>> {
        let reg = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        reg.slots.iter().flatten().cloned().collect()
    }

    /// Closes every connection, busy or idle: the end of a shutdown's grace
    /// period. Their pending reads and writes fail, and they end.
    fn close_all(&self) {
        for entry in self.connections() {
            entry.state.store(CLOSED, SeqCst);
            let _ = entry.stream.shutdown(Shutdown::Both);
        }
    }

    fn register(&self, stream: TcpStream) -> Registered<'_> {
        let entry = Arc::new(ConnEntry { stream: Arc::new(stream), state: AtomicU8::new(BUSY) });
        let mut reg = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        let slot = match reg.free.pop() {
            Some(slot) => {
                reg.slots[slot] = Some(entry.clone());
                slot
            }
            None => {
                reg.slots.push(Some(entry.clone()));
                reg.slots.len() - 1
            }
        };
        Registered { shared: self, entry, slot }
    }
}

/// A handle to a running [`Server`]: clone it, send it anywhere.
#[derive(Clone)]
pub struct ServerHandle {
    shared: Arc<Shared>,
}

impl ServerHandle {
    /// Starts a graceful shutdown and returns at once: stop accepting,
    /// finish the requests in flight (each answered with
    /// `Connection: close`), close idle keep-alive connections. `serve`
    /// returns when the last connection has closed. Calling it again does
    /// nothing more.
    pub fn shutdown(&self) {
        let shared = &self.shared;
        if !shared.shutting_down.swap(true, SeqCst) {
            shared.shutdown_started.add_permits(1);
        }
        for acceptor in shared.acceptors.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            acceptor.cancel();
        }
        for entry in shared.connections() {
            if entry.state.compare_exchange(IDLE, CLOSED, SeqCst, SeqCst).is_ok() {
                // Wakes its pending read with end of stream.
                let _ = entry.stream.shutdown(Shutdown::Both);
            }
        }
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// Connections being served right now.
    pub fn connections(&self) -> usize {
        let reg = self.shared.conns.lock().unwrap_or_else(|e| e.into_inner());
        reg.slots.len() - reg.free.len()
    }
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle").field("local_addr", &self.shared.local_addr).finish()
    }
}
