//! The server role: this binary re-executed as `tcp_echo server KIND WORKERS`.
//!
//! The child binds `127.0.0.1:0`, prints `port N` on stdout, and echoes
//! every connection (read up to [`MSG_SIZE`] bytes, write them all back).
//! Its stdin is its control channel:
//!
//! * any input: print one `stats ...` line (the parent asks at the end of
//!   the measurement window, before connections start closing);
//! * end of file (the parent closed it, or died): exit with
//!   `std::process::exit`, which closes every connection at once, so a
//!   client parked on a connection nobody serves wakes up.
//!
//! The four kinds serve exactly the same loop ([`serve`]) on their own
//! socket type; they differ only in what runs it:
//!
//! | kind         | one connection is served by                                   |
//! |--------------|---------------------------------------------------------------|
//! | `weft`       | a green thread (`weft::Builder::spawn`, default 64 KiB stack); workers pinned to CPUs, as may's are by default |
//! | `std-thread` | an OS thread with a [`std_server::STD_THREAD_STACK`] stack    |
//! | `std-pool64` | one of [`std_server::POOL_THREADS`] OS threads, until the client closes |
//! | `may`        | a may coroutine (may's default stack, its `go!` spelled out)  |
//!
//! The std kinds and the accept counters are `common/std_server.rs`,
//! shared with `http_hello`.

use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::OnceLock;

use crate::std_server::{self, accepted, ACCEPTED, ACCEPT_ERRORS, ACCEPT_ERROR_PAUSE, SERVED, SPAWN_FAILED};
use crate::{Kind, MSG_SIZE};

/// The weft server's runtime, kept for its per-worker counts.
static WEFT_RUNTIME: OnceLock<weft::Runtime> = OnceLock::new();

/// The counters as printed by the child and parsed by the parent.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub accepted: u64,
    pub served: u64,
    pub spawn_failed: u64,
    pub accept_errors: u64,
    /// weft only: green threads started by each server worker.
    pub spread: Vec<u64>,
}

impl Stats {
    fn now() -> Stats {
        Stats {
            accepted: ACCEPTED.load(Relaxed),
            served: SERVED.load(Relaxed),
            spawn_failed: SPAWN_FAILED.load(Relaxed),
            accept_errors: ACCEPT_ERRORS.load(Relaxed),
            spread: WEFT_RUNTIME.get().map(weft::Runtime::started_per_worker).unwrap_or_default(),
        }
    }

    fn to_line(&self) -> String {
        let spread: Vec<String> = self.spread.iter().map(u64::to_string).collect();
        format!(
            "stats accepted={} served={} spawn_failed={} accept_errors={} spread={}",
            self.accepted,
            self.served,
            self.spawn_failed,
            self.accept_errors,
            spread.join("/")
        )
    }

    /// Parses a line printed by [`Stats::to_line`].
    pub fn from_line(line: &str) -> Option<Stats> {
        let mut stats = Stats::default();
        for field in line.strip_prefix("stats ")?.split(' ') {
            let (key, value) = field.split_once('=')?;
            if key == "spread" {
                stats.spread = value.split('/').filter_map(|n| n.parse().ok()).collect();
                continue;
            }
            let value = value.parse().ok()?;
            match key {
                "accepted" => stats.accepted = value,
                "served" => stats.served = value,
                "spawn_failed" => stats.spawn_failed = value,
                "accept_errors" => stats.accept_errors = value,
                _ => {}
            }
        }
        Some(stats)
    }
}

/// The echo loop every kind runs for one connection, until the client
/// closes it or an error.
fn serve(mut stream: impl Read + Write) {
    SERVED.fetch_add(1, Relaxed);
    let mut buf = [0u8; MSG_SIZE];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// The child's `main`: `args` are `KIND WORKERS`.
pub fn main(args: &[String]) -> ExitCode {
    let (Some(kind), Some(workers)) =
        (args.first().and_then(|k| Kind::parse(k)), args.get(1).and_then(|w| w.parse::<usize>().ok()))
    else {
        eprintln!("usage: tcp_echo server weft|std-thread|std-pool64|may WORKERS");
        return ExitCode::from(2);
    };
    let started = match kind {
        Kind::Weft => start_weft(workers),
        Kind::StdThread => std_server::start_thread_per_connection(serve),
        Kind::StdPool => std_server::start_pool(serve),
        Kind::May => start_may(workers),
    };
    let port = match started {
        Ok(port) => port,
        Err(e) => {
            eprintln!("{} server: {e}", kind.name());
            return ExitCode::FAILURE;
        }
    };
    crate::process::serve_until_stdin_closes(port, || Stats::now().to_line())
}

/// Starts the weft server; returns its port. The runtime lives in a static:
/// it serves until the process exits.
fn start_weft(workers: usize) -> io::Result<u16> {
    let rt = WEFT_RUNTIME.get_or_init(|| {
        // Pinned, as may pins its workers by default: on a shared machine
        // pinning wins CPU share, and the comparison should not hinge on it.
        weft::Runtime::builder()
            .workers(workers)
            .name("echo")
            .pin_workers(true)
            .build()
            .expect("the weft server runtime")
    });
    let listener = weft::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    drop(rt.spawn(move || loop {
        let Some((stream, _)) = accepted(listener.accept()) else { continue };
        let _ = stream.set_nodelay(true);
        if weft::Builder::new().spawn(move || serve(stream)).is_err() {
            SPAWN_FAILED.fetch_add(1, Relaxed);
        }
    }));
    Ok(port)
}

/// Starts the may server: an accept coroutine spawning one coroutine per
/// connection, which is what `may::go!` does; spelled out so the `unsafe`
/// is visible and justified.
fn start_may(workers: usize) -> io::Result<u16> {
    // may's scheduler is process-global and starts on first use; its other
    // settings (stack size, worker pinning) are left at may's defaults.
    may::config().set_workers(workers);
    let listener = may::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let accept_loop = move || loop {
        let Some((stream, _)) = accepted(listener.accept()) else {
            may::coroutine::sleep(ACCEPT_ERROR_PAUSE);
            continue;
        };
        let _ = stream.set_nodelay(true);
        // SAFETY: may requires that a coroutine hold no thread-local
        // reference across a switch and not overflow its stack. `serve`
        // touches only its socket, a 1 KiB buffer and static atomics,
        // a few frames deep on may's default stack (32 KiB on 64-bit).
        if unsafe { may::coroutine::Builder::new().spawn(move || serve(stream)) }.is_err() {
            SPAWN_FAILED.fetch_add(1, Relaxed);
        }
    };
    // SAFETY: as above; the accept loop holds its listener and the stream
    // being handed over, and spawns.
    unsafe { may::coroutine::Builder::new().name("accept".into()).spawn(accept_loop) }?;
    Ok(port)
}
