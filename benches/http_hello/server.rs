//! The server role: this binary re-executed as `http_hello server KIND
//! WORKERS`. The child binds `127.0.0.1:0`, prints `port N` and serves
//! until its stdin closes (`common/process.rs` has the protocol). Every
//! kind answers every request, whatever its method and path, with the
//! response of `response.rs`: a router would cost each the same.
//!
//! | kind                  | a connection is served by                               |
//! |-----------------------|---------------------------------------------------------|
//! | `weft-http`           | `weft_http::Server`: a green thread (`weft_server.rs`)  |
//! | `weft-http-reuseport` | the same, one accept loop per worker (SO_REUSEPORT)     |
//! | `may-minihttp`        | may_minihttp's server: a may coroutine, its TechEmpower plaintext service |
//! | `std-thread`          | [`serve`] on an OS thread (`common/std_server.rs`)      |
//! | `std-pool64`          | [`serve`] on one of 64 pool threads, until it closes    |
//!
//! `WORKERS` is the worker count of the weft and may runtimes; the std
//! kinds have none.
//!
//! # The std server
//!
//! [`serve`] is a minimal keep-alive HTTP/1.1 loop, written the way
//! may_minihttp's is so that the comparison is of runtimes, not of HTTP
//! code: read what the socket has, parse every complete request in the
//! buffer with httparse, append one response per request, and write all
//! of them in one `write_all`. A pipelined batch of 16 requests that
//! arrives in one read is answered in one write. It assumes requests
//! without a body (wrk and this benchmark send `GET`s), answers no
//! `Connection: close`, and closes the connection on a malformed request or
//! a request head larger than its buffer.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{SystemTime, UNIX_EPOCH};

use may_minihttp::{HttpService, HttpServiceFactory, Request, Response};

use crate::response::{BODY, DATE_LEN, RESPONSE_LEN, STD_AFTER_DATE, STD_BEFORE_DATE};
use crate::std_server::{self, ACCEPTED, SERVED};
use crate::{process, weft_server, Kind};

/// Read buffer of a std connection: the largest request head it takes.
const READ_BUF: usize = 8 * 1024;

/// Headers a request may have in the std server.
const MAX_HEADERS: usize = 32;

/// How often the may-minihttp server tries another port when the one it
/// picked was taken in the meantime.
const PORT_ATTEMPTS: usize = 5;

/// The child's `main`: `args` are `KIND WORKERS`.
pub fn main(args: &[String]) -> ExitCode {
    let (Some(kind), Some(workers)) =
        (args.first().and_then(|k| Kind::parse(k)), args.get(1).and_then(|w| w.parse::<usize>().ok()))
    else {
        eprintln!("usage: http_hello server KIND WORKERS");
        return ExitCode::from(2);
    };
    let started = match kind {
        Kind::WeftHttp => weft_server::start(false, workers),
        Kind::WeftHttpReusePort => weft_server::start(true, workers),
        Kind::MayMinihttp => start_may_minihttp(workers),
        Kind::StdThread => std_server::start_thread_per_connection(serve),
        Kind::StdPool => std_server::start_pool(serve),
    };
    match started {
        Ok(port) => process::serve_until_stdin_closes(port, || Waiting::now().to_line()),
        Err(e) => {
            eprintln!("{} server: {e}", kind.name());
            ExitCode::FAILURE
        }
    }
}

/// What the std kinds' counters say: connections accepted and not yet
/// being served, waiting for a thread. The other kinds do not count (they
/// start serving every connection as they accept it) and report `None`.
pub struct Waiting(pub Option<u64>);

impl Waiting {
    fn now() -> Waiting {
        let accepted = ACCEPTED.load(Relaxed);
        Waiting((accepted > 0).then(|| accepted.saturating_sub(SERVED.load(Relaxed))))
    }

    fn to_line(&self) -> String {
        format!("stats waiting={}", self.0.map_or("-".to_owned(), |n| n.to_string()))
    }

    /// Parses a line printed by [`Waiting::to_line`].
    pub fn from_line(line: &str) -> Option<Waiting> {
        let n = line.strip_prefix("stats waiting=")?.trim();
        Some(Waiting(if n == "-" { None } else { Some(n.parse().ok()?) }))
    }
}

/// The std kinds' connection loop (see the module docs).
fn serve(mut stream: TcpStream) {
    SERVED.fetch_add(1, Relaxed);
    let mut buf = vec![0u8; READ_BUF];
    let mut filled = 0;
    let mut out = Vec::with_capacity(16 * RESPONSE_LEN);
    loop {
        match stream.read(&mut buf[filled..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => filled += n,
        }
        let mut parsed = 0;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            match httparse::Request::new(&mut headers).parse(&buf[parsed..filled]) {
                Ok(httparse::Status::Complete(len)) => {
                    parsed += len;
                    out.extend_from_slice(STD_BEFORE_DATE);
                    out.extend_from_slice(&http_date());
                    out.extend_from_slice(STD_AFTER_DATE);
                }
                Ok(httparse::Status::Partial) => break,
                Err(_) => return,
            }
        }
        buf.copy_within(parsed..filled, 0);
        filled -= parsed;
        if filled == buf.len() {
            return;
        }
        if !out.is_empty() {
            if stream.write_all(&out).is_err() {
                return;
            }
            out.clear();
        }
    }
}

/// The `Date` value now, formatted at most once a second per thread.
fn http_date() -> [u8; DATE_LEN] {
    thread_local! {
        /// The second of the cached value, and the value.
        static CACHE: Cell<(u64, [u8; DATE_LEN])> = const { Cell::new((u64::MAX, [0; DATE_LEN])) };
    }
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHE.with(|cache| {
        let (cached, value) = cache.get();
        if cached == second {
            return value;
        }
        let mut value = [0; DATE_LEN];
        value.copy_from_slice(httpdate::fmt_http_date(now).as_bytes());
        cache.set((second, value));
        value
    })
}

/// may_minihttp's hello service, as in its TechEmpower plaintext example.
#[derive(Clone)]
struct HelloWorld;

impl HttpService for HelloWorld {
    fn call(&mut self, _request: Request, response: &mut Response) -> io::Result<()> {
        response.header("Content-Type: text/plain").body(BODY);
        Ok(())
    }
}

impl HttpServiceFactory for HelloWorld {
    type Service = HelloWorld;

    fn new_service(&self, _id: usize) -> HelloWorld {
        HelloWorld
    }
}

/// Starts may_minihttp's server with `workers` may workers, may's other
/// settings at their defaults (32 KiB coroutine stacks, pinned workers),
/// which are also what its TechEmpower entry sets.
///
/// may_minihttp binds inside `start` and does not tell the port, so the
/// port is picked first: bound on port 0 by a std listener and released.
/// Another process may take it in between; then it tries again.
fn start_may_minihttp(workers: usize) -> io::Result<u16> {
    may::config().set_workers(workers);
    let mut attempt = 0;
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        match HelloWorld.start(("127.0.0.1", port)) {
            // Dropping may's JoinHandle detaches the accept coroutine.
            Ok(_accept_loop) => return Ok(port),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && attempt + 1 < PORT_ATTEMPTS => attempt += 1,
            Err(e) => return Err(e),
        }
    }
}
