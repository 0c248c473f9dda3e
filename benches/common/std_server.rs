//! The std contenders of the load benchmarks, run in a server child, and
//! the accept counters every contender of a benchmark updates. The two
//! differ only in what runs a connection's `serve` function (the
//! benchmark's own: an echo loop, an HTTP loop):
//!
//! | kind         | one connection is served by                           |
//! |--------------|-------------------------------------------------------|
//! | `std-thread` | an OS thread with a [`STD_THREAD_STACK`] stack        |
//! | `std-pool64` | one of [`POOL_THREADS`] OS threads, until it closes   |
//!
//! The pool is the classic fixed pool (the Rust book's): an accept thread
//! sends connections down a channel, each worker takes one and serves it
//! until it closes. With long-lived connections, connection 65 waits until
//! one of the first 64 closes: that is the pool's starvation, which the
//! reports count rather than hide.
//!
//! Both bind `127.0.0.1:0` with std's listener (backlog 128), set
//! `TCP_NODELAY` on every connection, and run until the process exits.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// Stack of a `std-thread` connection thread. Small so that 10,000 threads
/// fit in memory and under `vm.max_map_count` (two mappings per thread:
/// the stack and its guard page); the serve loops need a few KiB.
pub const STD_THREAD_STACK: usize = 64 * 1024;

/// Worker threads of the `std-pool64` server.
pub const POOL_THREADS: usize = 64;

/// Pause after a failed `accept` (out of descriptors, say) in the std and
/// may servers, so that the accept loop does not spin (weft's `accept`
/// backs off by itself).
pub const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(1);

/// Connections accepted. Any thread.
pub static ACCEPTED: AtomicU64 = AtomicU64::new(0);
/// Connections whose serve loop started (a pool worker took it, a thread
/// ran); counted by the benchmark's `serve`.
pub static SERVED: AtomicU64 = AtomicU64::new(0);
/// Connections dropped because no thread could be started for them.
pub static SPAWN_FAILED: AtomicU64 = AtomicU64::new(0);
/// Failed `accept` calls.
pub static ACCEPT_ERRORS: AtomicU64 = AtomicU64::new(0);

/// Counts an `accept` result; returns the stream if there is one.
pub fn accepted<S>(result: io::Result<S>) -> Option<S> {
    match result {
        Ok(stream) => {
            ACCEPTED.fetch_add(1, Relaxed);
            Some(stream)
        }
        Err(_) => {
            ACCEPT_ERRORS.fetch_add(1, Relaxed);
            None
        }
    }
}

/// Accepts connections on `listener` in a thread of its own, for ever,
/// handing each (with `TCP_NODELAY` set) to `hand_over`.
fn accept_loop(listener: TcpListener, mut hand_over: impl FnMut(TcpStream) + Send + 'static) -> io::Result<()> {
    std::thread::Builder::new().name("accept".into()).spawn(move || loop {
        let Some((stream, _)) = accepted(listener.accept()) else {
            std::thread::sleep(ACCEPT_ERROR_PAUSE);
            continue;
        };
        let _ = stream.set_nodelay(true);
        hand_over(stream);
    })?;
    Ok(())
}

/// Starts the `std-thread` server: a thread per connection running
/// `serve`. Returns its port.
pub fn start_thread_per_connection(serve: fn(TcpStream)) -> io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    accept_loop(listener, move |stream| {
        // A failed spawn drops the stream: the client reads end of file.
        if std::thread::Builder::new().stack_size(STD_THREAD_STACK).spawn(move || serve(stream)).is_err() {
            SPAWN_FAILED.fetch_add(1, Relaxed);
        }
    })?;
    Ok(port)
}

/// Starts the `std-pool64` server: [`POOL_THREADS`] threads running
/// `serve` on the connections they take from a channel. Returns its port.
pub fn start_pool(serve: fn(TcpStream)) -> io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let (tx, rx) = mpsc::channel::<TcpStream>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..POOL_THREADS {
        let rx = rx.clone();
        std::thread::Builder::new().name(format!("pool-{i}")).spawn(move || loop {
            // The guard is a temporary: released as soon as `recv` returns.
            let next = rx.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).recv();
            match next {
                Ok(stream) => serve(stream),
                Err(_) => return,
            }
        })?;
    }
    // The pool threads never drop the receiver, so `send` cannot fail.
    accept_loop(listener, move |stream| drop(tx.send(stream)))?;
    Ok(port)
}
