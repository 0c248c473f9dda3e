//! The load generator: one weft green thread per connection, each in a
//! loop of write one message, read the echo, check it; the same for every
//! server kind. Two shapes:
//!
//! * closed loop (the default): the next message goes as soon as the echo
//!   is back, so every connection asks for all the throughput it can get;
//! * paced (`Window::interval`): each connection sends one message per
//!   interval, on a fixed schedule whose phase is spread over the
//!   connections, and latency is measured from the *scheduled* send time,
//!   so a server that falls behind shows its queueing delay (no
//!   coordinated omission). This is the shape of many mostly idle
//!   connections, where serving all of them matters more than the speed of
//!   a few.
//!
//! A run, driven by the parent's main thread:
//!
//! 1. [`Load::start`] builds fresh client runtimes, one per client worker
//!    with one worker each, and deals the connections' green threads to
//!    them in turn, so each worker carries the same share whatever happens
//!    to the OS scheduling during setup (a single runtime balances only at
//!    start time, by stealing, and on a busy machine one worker can end up
//!    with most connections, which would vary the load generator's
//!    strength from run to run). Each green thread connects (at most [`MAX_CONNECTING`]
//!    connects in flight, so no server's listen backlog overflows and no
//!    SYN waits a second for its retransmission), counts itself connected
//!    or failed, and parks;
//! 2. [`Load::release`] publishes the [`Window`] and unparks them all: they
//!    start together, and warm up until `window.measure`;
//! 3. every message that *completes* in `[measure, end)` is counted and its
//!    round-trip time recorded in the green thread's own histogram;
//! 4. at `end` each green thread stops after its current message. One
//!    still waiting then (a connection the server does not serve) wakes
//!    when the parent stops the server, whose exit closes every socket;
//! 5. [`Load::finish`] collects the green threads' results, waiting a
//!    bounded time; dropping the runtimes unwinds any straggler.
//!
//! Errors seen after `end` are the server going away and are not errors.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::MSG_SIZE;

/// Connects in flight at once during setup (well under the 4,096 backlog
/// weft asks for, and std's and may's smaller ones).
pub const MAX_CONNECTING: usize = 128;

/// Timeout of one connect.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Histogram range: 1 us to 60 s, two significant digits (1 %). With three
/// digits a histogram is ~140 KiB, too much for one per green thread at
/// 10,000 connections; at two it is ~20 KiB.
const HIST_MAX_US: u64 = 60_000_000;
const HIST_DIGITS: u8 = 2;

/// A latency histogram in microseconds.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_US, HIST_DIGITS).expect("valid histogram bounds")
}

/// When the green threads start, start measuring and stop, and how they
/// send.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub start: Instant,
    pub measure: Instant,
    pub end: Instant,
    /// Paced: one message per connection per `interval`. `None`: closed loop.
    pub interval: Option<Duration>,
}

/// What the parent's thread and the client's green threads share. Any thread.
struct Shared {
    /// Connections established.
    connected: AtomicUsize,
    /// Connects that failed.
    failed: AtomicUsize,
    /// Set once by the parent to release the green threads.
    window: OnceLock<Window>,
}

/// One connection's result.
pub struct ConnStats {
    pub connected: bool,
    /// Messages completed inside the measurement window.
    pub messages: u64,
    /// Their round-trip times (us); `None` if the connect failed.
    pub hist: Option<Histogram<u64>>,
    /// The first error before the end of the window (connect, I/O, or a
    /// reply that differs from the request).
    pub error: Option<String>,
}

/// The client runtimes with their connections. Owned by the parent's main
/// thread.
pub struct Load {
    runtimes: Vec<weft::Runtime>,
    shared: Arc<Shared>,
    handles: Vec<weft::JoinHandle<ConnStats>>,
}

impl Load {
    /// Builds `workers` single-worker client runtimes and opens `conns`
    /// connections to `addr`; returns when every connect has succeeded or
    /// failed, or at `setup_deadline`.
    pub fn start(addr: SocketAddr, conns: usize, workers: usize, setup_deadline: Instant) -> io::Result<Load> {
        let runtimes = (0..workers)
            .map(|i| weft::Runtime::builder().workers(1).name(format!("client{i}")).build())
            .collect::<io::Result<Vec<_>>>()?;
        let shared =
            Arc::new(Shared { connected: AtomicUsize::new(0), failed: AtomicUsize::new(0), window: OnceLock::new() });
        let mut handles = Vec::with_capacity(conns);
        for id in 0..conns {
            while id - shared.settled() >= MAX_CONNECTING && Instant::now() < setup_deadline {
                std::thread::sleep(Duration::from_micros(200));
            }
            let shared = shared.clone();
            handles.push(runtimes[id % workers].spawn(move || connection(id as u64, addr, &shared)));
        }
        while shared.settled() < conns && Instant::now() < setup_deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(Load { runtimes, shared, handles })
    }

    pub fn connected(&self) -> usize {
        self.shared.connected.load(Acquire)
    }

    /// Starts the load: every green thread runs until `window.end`.
    pub fn release(&self, window: Window) {
        let _ = self.shared.window.set(window);
        for handle in &self.handles {
            handle.thread().unpark();
        }
    }

    /// Collects every connection's result, waiting until `deadline` for the
    /// green threads to return. Returns the results and how many green
    /// threads had to be abandoned (cancelled by dropping the runtimes).
    pub fn finish(self, deadline: Instant) -> (Vec<ConnStats>, usize) {
        while !self.handles.iter().all(|h| h.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        let mut results = Vec::with_capacity(self.handles.len());
        let mut abandoned = 0;
        let mut pending = Vec::new();
        for handle in self.handles {
            if handle.is_finished() {
                match handle.join() {
                    Ok(stats) => results.push(stats),
                    Err(_) => abandoned += 1,
                }
            } else {
                pending.push(handle);
            }
        }
        abandoned += pending.len();
        // Unwinds the stragglers from where they are parked.
        drop(self.runtimes);
        (results, abandoned)
    }
}

impl Shared {
    fn settled(&self) -> usize {
        self.connected.load(Acquire) + self.failed.load(Acquire)
    }
}

/// One connection's green thread.
fn connection(id: u64, addr: SocketAddr, shared: &Shared) -> ConnStats {
    let stream = match weft::net::TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
        Ok(stream) => {
            shared.connected.fetch_add(1, Release);
            stream
        }
        Err(e) => {
            shared.failed.fetch_add(1, Release);
            return ConnStats { connected: false, messages: 0, hist: None, error: Some(format!("connect: {e}")) };
        }
    };
    let mut stats = ConnStats { connected: true, messages: 0, hist: Some(histogram()), error: None };
    if let Err(e) = stream.set_nodelay(true) {
        stats.error = Some(format!("set_nodelay: {e}"));
        return stats;
    }
    let window = loop {
        if let Some(window) = shared.window.get() {
            break *window;
        }
        weft::park();
    };
    if let Err(e) = echo_loop(id, stream, window, &mut stats) {
        if Instant::now() < window.end {
            stats.error = Some(e);
        }
    }
    stats
}

/// The loop of one connection. Messages carry the connection id and a
/// sequence number, so a reply from the wrong request is caught.
fn echo_loop(id: u64, mut stream: weft::net::TcpStream, window: Window, stats: &mut ConnStats) -> Result<(), String> {
    let mut request = [0u8; MSG_SIZE];
    for (i, byte) in request.iter_mut().enumerate() {
        *byte = (i % 251) as u8;
    }
    request[..8].copy_from_slice(&id.to_le_bytes());
    let mut reply = [0u8; MSG_SIZE];
    let hist = stats.hist.as_mut().expect("a connected ConnStats has a histogram");
    // Paced: the first send of connection `id` is at a fraction of the
    // interval spread by the golden ratio, so sends do not come in bursts.
    let mut next = window.start + window.interval.map_or(Duration::ZERO, |i| i.mul_f64((id as f64 * 0.618_034) % 1.0));
    for seq in 0u64.. {
        let sent = match window.interval {
            None => Instant::now(),
            Some(interval) => {
                let now = Instant::now();
                if next > now {
                    weft::sleep(next - now);
                }
                // Behind schedule, the message goes at once; its latency
                // still counts from when it should have gone.
                let scheduled = next;
                next += interval;
                scheduled
            }
        };
        if sent >= window.end {
            return Ok(());
        }
        request[8..16].copy_from_slice(&seq.to_le_bytes());
        stream.write_all(&request).map_err(|e| format!("write: {e}"))?;
        read_full(&mut stream, &mut reply)?;
        let done = Instant::now();
        if reply != request {
            return Err(format!("message {seq}: the echo differs from the request"));
        }
        if done >= window.measure && done < window.end {
            stats.messages += 1;
            hist.saturating_record(done.saturating_duration_since(sent).as_micros().max(1) as u64);
        }
    }
    Ok(())
}

/// `read_exact`, with end of file reported as the server closing.
fn read_full(stream: &mut weft::net::TcpStream, buf: &mut [u8]) -> Result<(), String> {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]) {
            Ok(0) => return Err("the server closed the connection".into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    Ok(())
}
