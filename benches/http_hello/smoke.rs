//! The smoke test: what `cargo test --all-targets` runs (this binary
//! without `--bench`). It needs no wrk. For every kind it starts the
//! server child and, from this process over one connection,
//!
//! 1. sends [`SEQUENTIAL`] requests one after the other (keep-alive),
//! 2. sends one request split over two writes,
//! 3. sends [`PIPELINED`] requests in one write,
//!
//! checking every response byte for byte (`response::check`), then runs
//! the idle mode with a few connections. It also checks the reading of
//! wrk's report on a sample. A few seconds in all.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::process::ServerProcess;
use crate::response::{self, REQUEST};
use crate::{idle, start_server, stop_failed, wrk, Kind};

/// Requests sent one after the other on one connection.
const SEQUENTIAL: usize = 3;
/// Requests in the pipelined write.
const PIPELINED: usize = 16;
/// Timeout of a connect, and of reading a batch of responses.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the smoke test; returns what failed.
pub fn run(kinds: &[Kind], workers: usize, idle_conns: usize) -> Vec<String> {
    let mut failures = Vec::new();
    if let Err(e) = wrk::self_check() {
        failures.push(e);
    }
    for &kind in kinds {
        let begin = Instant::now();
        let result = start_server(kind, workers).and_then(|mut server| match check(&server, kind, idle_conns) {
            Ok(note) => {
                server.stop();
                Ok(note)
            }
            Err(e) => Err(stop_failed(&mut server, e)),
        });
        match result {
            Ok(idle) => println!("{:<20} ok in {:.2} s{idle}", kind.name(), begin.elapsed().as_secs_f64()),
            Err(e) => {
                println!("{:<20} FAILED: {e}", kind.name());
                failures.push(format!("{}: {e}", kind.name()));
            }
        }
    }
    failures
}

/// The checks of one server; returns a note on its idle connections.
fn check(server: &ServerProcess, kind: Kind, idle_conns: usize) -> Result<String, String> {
    let mut stream = TcpStream::connect_timeout(&server.addr, IO_TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(IO_TIMEOUT)).map_err(|e| format!("set_read_timeout: {e}"))?;
    stream.set_nodelay(true).map_err(|e| format!("set_nodelay: {e}"))?;
    for i in 0..SEQUENTIAL {
        stream.write_all(REQUEST).map_err(|e| format!("write: {e}"))?;
        response::read_responses(&mut stream, 1, IO_TIMEOUT).map_err(|e| format!("request {}: {e}", i + 1))?;
    }
    let (head, tail) = REQUEST.split_at(REQUEST.len() / 2);
    stream.write_all(head).map_err(|e| format!("write: {e}"))?;
    std::thread::sleep(Duration::from_millis(20));
    stream.write_all(tail).map_err(|e| format!("write: {e}"))?;
    response::read_responses(&mut stream, 1, IO_TIMEOUT).map_err(|e| format!("split request: {e}"))?;
    stream.write_all(&REQUEST.repeat(PIPELINED)).map_err(|e| format!("write: {e}"))?;
    response::read_responses(&mut stream, PIPELINED, IO_TIMEOUT)
        .map_err(|e| format!("pipelined batch of {PIPELINED}: {e}"))?;
    if idle_conns == 0 || !kind.holds_idle() {
        return Ok(String::new());
    }
    let idle = idle::measure(server, idle_conns)?;
    if let Some(e) = idle.error {
        return Err(format!("idle mode, {} of {} connections: {e}", idle.held, idle.conns));
    }
    Ok(format!(
        "; {} idle connections held (~{:.0} KiB each, noisy at this count)",
        idle.held,
        idle.kib_per_conn().unwrap_or(0.0)
    ))
}
