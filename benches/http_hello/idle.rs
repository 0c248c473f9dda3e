//! The idle mode: what one idle keep-alive connection costs a server in
//! memory. This process (not wrk) opens N connections, sends one `GET /`
//! on each and reads its response, and holds them all open and silent;
//! the server's resident memory before and after, over N, is the cost of
//! one connection parked between requests: a stack (or the pages of it
//! touched), buffers, the runtime's bookkeeping.
//!
//! 1. One connection first does a request and closes, so that what a
//!    server sets up lazily on its first connection (date caches, pools,
//!    worker state) is in the baseline rather than in the per-connection
//!    figure. After [`SETTLE`], the baseline `VmRSS` is read.
//! 2. The connections are opened [`BATCH`] at a time by green threads of
//!    a one-worker weft runtime in this process; each checks its response
//!    (`response::check`) and hands its socket back to the main thread,
//!    which holds them. The first batch with an error ends the opening
//!    (the rest would likely fail the same way, each after a timeout).
//! 3. After [`IDLE`], `VmRSS` is read again; then the sockets close. The
//!    connections are then idle in the sense the issue means (a keep-alive
//!    connection between requests for a while): weft-http gives an idle
//!    connection's unused stack pages back after 1 s idle, the other
//!    servers keep what they hold, so the wait changes only weft-http's
//!    figure (from about 7.5 KiB per connection at 0.3 s).
//!
//! `VmRSS` counts the pages of the server's address space in RAM: user
//! stacks, heap, runtime structures. It does not count kernel memory:
//! socket buffers, and, for the thread-per-connection server, each
//! thread's kernel stack (16 KiB on x86-64) and task structures.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use crate::process::ServerProcess;
use crate::response::{self, REQUEST};

/// Connections opened at once (each a green thread that connects, asks
/// and reads): under every server's listen backlog.
const BATCH: usize = 128;

/// Timeout of a connect, and of reading the response.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause before reading `VmRSS`, for the server to finish what the last
/// requests started.
const SETTLE: Duration = Duration::from_millis(300);

/// How long the connections are held silent before the second reading.
const IDLE: Duration = Duration::from_secs(2);

/// What the idle mode measured for one server.
pub struct Idle {
    /// Connections asked for, and held open when the memory was read.
    pub conns: usize,
    pub held: usize,
    /// The server's `VmRSS` before the connections, and with them, in bytes.
    pub before: u64,
    pub after: u64,
    /// The first error opening a connection.
    pub error: Option<String>,
}

impl Idle {
    /// The growth of the server's resident memory per held connection, in
    /// KiB.
    pub fn kib_per_conn(&self) -> Option<f64> {
        (self.held > 0).then(|| self.after.saturating_sub(self.before) as f64 / 1024.0 / self.held as f64)
    }
}

/// Opens `conns` idle connections to `server` and reads its memory.
pub fn measure(server: &ServerProcess, conns: usize) -> Result<Idle, String> {
    let addr = server.addr;
    let mut first = std::net::TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    first.set_read_timeout(Some(IO_TIMEOUT)).map_err(|e| format!("set_read_timeout: {e}"))?;
    first.write_all(REQUEST).map_err(|e| format!("write: {e}"))?;
    response::read_responses(&mut first, 1, IO_TIMEOUT)?;
    drop(first);
    std::thread::sleep(SETTLE);
    let rss = || server.rss().ok_or("cannot read the server's VmRSS");
    let before = rss()?;

    let client = weft::Runtime::builder().workers(1).name("idle-client").build().map_err(|e| format!("{e}"))?;
    let mut held = Vec::with_capacity(conns);
    let mut error = None;
    for start in (0..conns).step_by(BATCH) {
        let batch: Vec<_> = (start..conns.min(start + BATCH)).map(|_| client.spawn(move || open(addr))).collect();
        for handle in batch {
            match handle.join() {
                Ok(Ok(stream)) => held.push(stream),
                Ok(Err(e)) => {
                    error.get_or_insert(e);
                }
                Err(_) => {
                    error.get_or_insert("a client green thread panicked".to_owned());
                }
            }
        }
        if error.is_some() {
            break;
        }
    }
    std::thread::sleep(IDLE);
    let after = rss()?;
    // The sockets close before their runtime goes.
    let held_count = held.len();
    drop(held);
    Ok(Idle { conns, held: held_count, before, after, error })
}

/// One connection's green thread: connect, one request, check the
/// response; the socket goes back to the main thread to be held.
fn open(addr: SocketAddr) -> Result<weft::net::TcpStream, String> {
    let mut stream = weft::net::TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(IO_TIMEOUT)).map_err(|e| format!("set_read_timeout: {e}"))?;
    stream.write_all(REQUEST).map_err(|e| format!("write: {e}"))?;
    response::read_responses(&mut stream, 1, IO_TIMEOUT)?;
    Ok(stream)
}
