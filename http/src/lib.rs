//! HTTP/1.1 for weft.
//!
//! weft-http will be an HTTP/1.1 server and client built on weft's green
//! threads. The server runs one green thread per connection, so a handler is a
//! plain function that reads its request body with `std::io::Read` and returns
//! a response: blocking-style code, with the runtime parking the green thread
//! rather than the OS thread. Requests and responses are the `http` crate's
//! types, so routers and middleware from the ecosystem fit.
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
//! timeouts) and the server's accept loop, then the client.
//!
//! The parser is fuzzed: `http/fuzz/` holds cargo-fuzz targets, and their
//! invariant checks also run over the seed corpus in the ordinary tests
//! (`http/fuzz/README.md`).

mod error;
mod parse;

// The fuzz targets' checks, for them and for the corpus test; not an API.
#[cfg(any(test, feature = "invariants"))]
#[doc(hidden)]
pub mod invariants;

pub use error::Error;
pub use parse::{parse_request, BodyFraming, Limits, Parsed, MAX_HEADERS, MAX_HEADER_BYTES, MAX_REQUEST_LINE};
