//! HTTP/1.1 for weft: a server and a client written as blocking code.
//!
//! The server runs one green thread per connection, and a handler is a plain
//! function: it reads the request body with `std::io::Read` and returns a
//! response. When a socket would block, weft parks the green thread, not the
//! OS thread, so a handler that waits seconds for a slow query delays no
//! other connection. Requests and responses are the `http` crate's types.
//!
//! ```no_run
//! use std::io::Read;
//! use weft_http::{Body, Server};
//!
//! let server = Server::bind("127.0.0.1:8080")?;
//! server.serve(|req: http::Request<Body>| {
//!     let mut body = Vec::new();
//!     req.into_body().read_to_end(&mut body).unwrap(); // bounded by the body limit
//!     http::Response::new(body)
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! The [`Client`] is the same shape from the other side: `client.get(url)?`
//! parks the calling green thread (or blocks a plain OS thread), keeps
//! connections alive in a per-host pool, and returns an
//! `http::Response<Body>` whose body streams. The [`client`] module docs
//! describe a request step by step, the pool, retries and timeouts.
//!
//! # Map
//!
//! | module | job |
//! |---|---|
//! | `server` | [`Server`], [`ServerBuilder`] (limits), [`ServerHandle`] (graceful shutdown), accept loops, the connection limit |
//! | `conn` | one connection: wait, parse, run the handler, drain, write; keep-alive and pipelining |
//! | `parse` | [`parse_request`]: the request head, with RFC 9112's framing rules enforced strictly |
//! | `body` | [`Body`]: incoming bodies that stream from the connection and hand it back when dropped |
//! | `chunked` | the chunked coding, decoded without I/O |
//! | `payload` | [`Payload`]: outgoing bodies (bytes, a reader, a file range via sendfile) |
//! | `date` | the `Date` header, formatted once a second per worker |
//! | [`client`] | [`Client`]: requests, the per-host pool, response parsing |
//!
//! # Protocol behaviour
//!
//! * HTTP/1.1 and 1.0; keep-alive by version and `Connection`. Pipelined
//!   requests are answered in order, and the responses to everything one
//!   read brought in go out in one write.
//! * Request bodies by `Content-Length` or chunked (trailers are read and
//!   discarded). A body the handler did not finish is drained, up to
//!   [`MAX_DRAIN`], or the connection closes; either way the next request
//!   is never parsed from body bytes.
//! * `Expect: 100-continue`: `100 Continue` goes out when the handler first
//!   reads the body; a handler that answers without reading it gets its
//!   response sent and the connection closed.
//! * Responses: `Content-Length` whenever the length is known, chunked
//!   otherwise (close-delimited to HTTP/1.0); HEAD, 204 and 304 carry no
//!   body; `Date` on every response.
//! * Every rule violation in a request head is answered with the status the
//!   RFC requires (400, 414, 431, 417, 501, 505; see `parse`'s table), then
//!   the connection closes after a lingering read, so the client sees the
//!   answer rather than a reset. A request whose framing is in doubt is
//!   never followed by another request on that connection: no smuggling.
//! * A handler that panics gets its request a 500 and its connection
//!   closed; the server carries on. A handler that answers with an interim
//!   (1xx) status gets a 500 instead, and a 2xx to CONNECT a 501: this
//!   server makes no upgrades or tunnels.
//! * Pipelined responses are held while the requests behind them run, so
//!   they go out together; they are sent before any handler that waits for
//!   a body still on the wire. A slow handler still delays the answers to
//!   earlier pipelined requests that are held (HTTP/1.1 answers in order
//!   anyway).
//!
//! # Limits
//!
//! | limit | default | on breach |
//! |---|---|---|
//! | request line | [`MAX_REQUEST_LINE`] 8 KiB | 414, close |
//! | header fields | [`MAX_HEADERS`] 100 | 431, close |
//! | head bytes | [`MAX_HEADER_BYTES`] 64 KiB | 431, close |
//! | body | [`MAX_BODY`] 8 MiB | 413 (before the handler if declared), close |
//! | head time | [`HEADER_TIMEOUT`] 10 s | close (slowloris) |
//! | idle keep-alive | [`KEEP_ALIVE_TIMEOUT`] 60 s | close |
//! | each body read | [`BODY_TIMEOUT`] 30 s | the handler's read fails with `TimedOut` |
//! | each response write | [`WRITE_TIMEOUT`] 30 s | close |
//! | connections | [`MAX_CONNECTIONS`] 10,000 | stop accepting until one ends (see `server`) |
//! | graceful shutdown | [`SHUTDOWN_TIMEOUT`] 30 s | connections still busy are closed |
//!
//! # Memory
//!
//! An idle keep-alive connection holds no buffer: it waits for its next
//! request by reading into a small buffer on its stack, and after a second
//! of idleness it gives the unused part of its stack back to the OS
//! ([`weft::shrink_stack`]) and waits with a one-byte peek. About 5 KiB of
//! server memory per idle connection remains, stack included.
//!
//! # Fuzzing
//!
//! The parser is fuzzed: `http/fuzz/` holds cargo-fuzz targets, and their
//! invariant checks also run over the seed corpus in the ordinary tests
//! (`http/fuzz/README.md`).

mod body;
mod chunked;
pub mod client;
mod conn;
mod date;
mod error;
mod parse;
mod payload;
mod server;

// The fuzz targets' checks, for them and for the corpus test; not an API.
#[cfg(any(test, feature = "invariants"))]
#[doc(hidden)]
pub mod invariants;

pub use body::Body;
pub use client::{Client, ClientBuilder};
pub use error::Error;
pub use parse::{parse_request, BodyFraming, Limits, Parsed, MAX_HEADERS, MAX_HEADER_BYTES, MAX_REQUEST_LINE};
pub use payload::Payload;
pub use server::{
    Handler, Server, ServerBuilder, ServerHandle, BODY_TIMEOUT, HEADER_TIMEOUT, KEEP_ALIVE_TIMEOUT, MAX_BODY,
    MAX_CONNECTIONS, MAX_DRAIN, SHUTDOWN_TIMEOUT, WRITE_TIMEOUT,
};
