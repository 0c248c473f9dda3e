//! HTTP/1.1 for weft.
//!
//! weft-http will be an HTTP/1.1 server and client built on weft's green
//! threads. The server runs one green thread per connection, so a handler is a
//! plain function that reads its request body with `std::io::Read` and returns
//! a response: blocking-style code, with the runtime parking the green thread
//! rather than the OS thread. Requests and responses are the `http` crate's
//! types, so routers and middleware from the ecosystem fit.
//!
//! The [`Client`] is the same shape from the other side: `client.get(url)?`
//! parks the calling green thread (or blocks a plain OS thread), keeps
//! connections alive in a per-host pool, and returns an
//! `http::Response<Body>` whose body streams. The [`client`] module docs
//! describe a request step by step, the pool, retries and timeouts.
//!
//! This version contains the first piece, the request-head parser
//! ([`parse_request`]): httparse glue that turns bytes into `http` request
//! parts plus the body framing, enforcing RFC 9112 strictly and answering
//! every rejection with the status code the server must send
//! ([`Error::status`]). The module documentation of `parse` lists each rule
//! and the RFC section it comes from.
//!
//! Next come the body readers (Content-Length and chunked) and the response
//! writer, then the connection state machine (keep-alive, pipelining,
//! timeouts) and the server's accept loop; a cargo-fuzz
//! target for the parser belongs alongside them.

mod body;
mod chunked;
pub mod client;
mod conn;
mod date;
mod error;
mod parse;
mod payload;
mod server;

pub use body::Body;
pub use client::{Client, ClientBuilder};
pub use error::Error;
pub use parse::{parse_request, BodyFraming, Limits, Parsed, MAX_HEADERS, MAX_HEADER_BYTES, MAX_REQUEST_LINE};
pub use payload::Payload;
pub use server::{
    Handler, Server, ServerBuilder, ServerHandle, BODY_TIMEOUT, HEADER_TIMEOUT, KEEP_ALIVE_TIMEOUT, MAX_BODY,
    MAX_CONNECTIONS, MAX_DRAIN, WRITE_TIMEOUT,
};
