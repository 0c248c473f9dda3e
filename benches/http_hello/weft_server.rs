//! The weft-http kinds: `weft_http::Server` answering every request with
//! the hello response, `serve` running in a green thread of a runtime
//! with `--workers` pinned workers (pinned as may pins its workers by
//! default, and as tcp_echo's weft server is).
//!
//! * `weft-http`: one listener, one accept loop, connections spread over
//!   the workers by weft's start-time balancing;
//! * `weft-http-reuseport`: `reuse_port(true)`, one listener and accept
//!   loop per worker on the same port (SO_REUSEPORT), the kernel spreading
//!   connections over them.
//!
//! The server adds `Date` and `Content-Length`; the handler sets `Server`
//! (one letter, as may_minihttp's `M`) and `Content-Type`.

use std::io;
use std::sync::OnceLock;

use http::header::{HeaderValue, CONTENT_TYPE, SERVER};
use http::{Request, Response};
use weft_http::{Body, Payload, Server};

use crate::response::{BODY, CONTENT_TYPE as TEXT_PLAIN};

/// Above the idle mode's 10,000 connections plus its warm-up one (the
/// default limit is 10,000), under the 20,000 descriptors a process may have.
const MAX_CONNECTIONS: usize = 19_000;

/// The server's runtime: it serves until the process exits.
static RUNTIME: OnceLock<weft::Runtime> = OnceLock::new();

/// Starts the server on `127.0.0.1:0`; returns its port.
pub fn start(reuse_port: bool, workers: usize) -> io::Result<u16> {
    let rt = RUNTIME.get_or_init(|| {
        weft::Runtime::builder()
            .workers(workers)
            .name("http")
            .pin_workers(true)
            .build()
            .expect("the weft server runtime")
    });
    let server = Server::builder().reuse_port(reuse_port).max_connections(MAX_CONNECTIONS).bind("127.0.0.1:0")?;
    let port = server.local_addr().port();
    let serving = rt.spawn(move || server.serve(hello));
    // Nothing shuts the server down (the process exits instead), so
    // `serve` returning means it failed: say so and end the child.
    std::thread::spawn(move || {
        let why = match serving.join() {
            Ok(Ok(())) => "serve returned".to_owned(),
            Ok(Err(e)) => format!("serve failed: {e}"),
            Err(_) => "serve panicked".to_owned(),
        };
        eprintln!("weft-http server: {why}");
        std::process::exit(1);
    });
    Ok(port)
}

fn hello(_request: Request<Body>) -> Response<Payload> {
    Response::builder()
        // `from_static`: constant values need no copy per response.
        .header(SERVER, HeaderValue::from_static("W"))
        .header(CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN))
        .body(Payload::from(BODY))
        .expect("constant headers are valid")
}
