//! One server connection: read a request head, run the handler, write the
//! response, repeat while the connection may persist.
//!
//! # The loop
//!
//! 1. **Wait for a request.** With nothing buffered, the connection flushes
//!    the responses it holds, frees its buffers, and waits for the next
//!    request's first bytes (reading them into a small buffer on the stack),
//!    up to the keep-alive timeout; a fresh connection waits up to the
//!    header timeout instead. Idle connections are the ones shutdown closes.
//! 2. **Parse the head** from the buffer ([`parse_request`]). While it is
//!    partial, flush held responses and read more, all within the header
//!    timeout counted from the first partial parse. A rule violation is
//!    answered with its status and `Connection: close`.
//! 3. **Run the handler** with a [`Body`] that owns the read side of the
//!    connection (see `body.rs`). A panic becomes a 500.
//! 4. **Take the read side back.** If the body was not read to its end, the
//!    rest is drained (up to `max_drain`) or the connection will close.
//! 5. **Write the response** into the write buffer. Responses to pipelined
//!    requests accumulate there and go out in one write when the buffer
//!    holds no further complete request (or holds a lot, or a request
//!    expecting `100 Continue` is next), so `n` pipelined
//!    requests cost one read and one write, not `n`.

use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use weft::net::TcpStream;

use crate::body::{self, Body, BodyConfig, Framing, Home, Inbound, Returned};
use crate::chunked::ChunkedDecoder;
use crate::date;
use crate::parse::{parse_request, BodyFraming, Parsed};
use crate::payload::{self, Payload};
use crate::server::{Config, ConnEntry, Handler, Shared};

/// Flush held responses once they reach this many bytes, even if more
/// pipelined requests are waiting.
const FLUSH_AT: usize = 64 * 1024;

/// Size of the stack buffer an idle connection reads its next request into.
const IDLE_READ: usize = 2048;

/// Longest a closing connection keeps reading (and discarding) what the
/// client still sends, so the client reads the final response rather than a
/// reset; and the most bytes it discards meanwhile.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;

/// Where a request body goes back to: the connection's loop, after the handler.
#[derive(Default)]
struct Slot {
    returned: Mutex<Option<Returned>>,
    /// Whether the final response to a request expecting `100 Continue` has
    /// started. A handler may keep the body (in a `Payload::reader`, say)
    /// and read it while the response is being written; from then on the
    /// body must not send its 100. The body writes the 100 while holding
    /// this lock (a weft mutex, since the write may park), so the 100 is on
    /// the wire wholly before the response's head or not at all.
    final_started: weft::sync::Mutex<bool>,
}

impl Home for Slot {
    fn give_back(&self, returned: Returned) {
        *self.returned.lock().unwrap_or_else(|e| e.into_inner()) = Some(returned);
    }

    fn send_continue(&self, stream: &TcpStream) -> io::Result<()> {
        let started = self.final_started.lock().unwrap_or_else(|e| e.into_inner());
        if *started {
            return Ok(());
        }
        (&*stream).write_all(body::CONTINUE)
    }
}

impl Slot {
    fn take(&self) -> Option<Returned> {
        self.returned.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn set_final_started(&self, started: bool) {
        *self.final_started.lock().unwrap_or_else(|e| e.into_inner()) = started;
    }
}

pub(crate) fn serve_connection<H: Handler + ?Sized>(entry: &ConnEntry, shared: &Shared, config: &Config, handler: &H) {
    let stream = &entry.stream;
    // Responses are batched here, so Nagle's algorithm would only add a
    // delayed-ACK stall to each flush.
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(config.write_timeout));
    let slot: Arc<Slot> = Arc::new(Slot::default());
    let mut inbound = Inbound::new(stream.clone());
    let mut out: Vec<u8> = Vec::new();
    let mut fresh = true;
    loop {
        // 1. Wait for a request.
        if inbound.unconsumed().is_empty() {
            if payload::flush(&mut &**stream, &mut out).is_err() {
                return;
            }
            out = Vec::new();
            inbound.release_if_empty();
            let timeout = if fresh { config.header_timeout } else { config.keep_alive_timeout };
            if !fresh && !entry.go_idle(shared) {
                return;
            }
            match idle_read(&mut inbound, timeout) {
                Ok(n) if n > 0 => {}
                // Closed, reset, or idle too long: nothing to answer.
                _ => return,
            }
            if !fresh && !entry.go_busy() {
                return;
            }
        }
        fresh = false;

        // 2. Parse the head.
        let mut deadline: Option<Instant> = None;
        let parsed = loop {
            match parse_request(inbound.unconsumed(), &config.limits) {
                Ok(Parsed::Partial) => {
                    if payload::flush(&mut &**stream, &mut out).is_err() {
                        return;
                    }
                    let deadline = *deadline.get_or_insert_with(|| Instant::now() + config.header_timeout);
                    let left = deadline.saturating_duration_since(Instant::now());
                    match inbound.fill(Some(left)) {
                        Ok(n) if n > 0 && !left.is_zero() => {}
                        // A peer that closes mid-head, or sends it too
                        // slowly (slowloris), is closed without an answer.
                        _ => return,
                    }
                }
                Ok(Parsed::Complete { head, framing, head_len, keep_alive, expect_continue }) => {
                    inbound.consume(head_len);
                    break (head, framing, keep_alive, expect_continue);
                }
                Err(e) => {
                    let response = plain(e.status(), &e.to_string());
                    let _ = write_response(&mut out, stream, response, Version::HTTP_11, false, &mut false);
                    finish(stream, &mut out);
                    return;
                }
            }
        };
        let (head, framing, keep_alive, expect_continue) = parsed;
        let version = head.version;
        let is_head = head.method == Method::HEAD;

        // A declared length over the limit is refused before the handler.
        if let BodyFraming::ContentLength(n) = framing {
            if n > config.max_body {
                let response = plain(StatusCode::PAYLOAD_TOO_LARGE, "request body exceeds the server's limit");
                let _ = write_response(&mut out, stream, response, version, is_head, &mut false);
                finish(stream, &mut out);
                return;
            }
        }

        // 3. Run the handler.
        let framing = match framing {
            BodyFraming::None | BodyFraming::ContentLength(0) => Framing::Done,
            BodyFraming::ContentLength(n) => Framing::Length(n),
            BodyFraming::Chunked => Framing::Chunked(ChunkedDecoder::new(config.limits.get_max_header_bytes())),
        };
        let send_continue = expect_continue && !matches!(framing, Framing::Done);
        // The body writes its `100 Continue` straight to the socket on the
        // handler's first read, so the responses still held for earlier
        // pipelined requests must be on the wire first: a 100 ahead of them
        // would read as the interim response to the wrong request.
        if send_continue {
            if payload::flush(&mut &**stream, &mut out).is_err() {
                return;
            }
            slot.set_final_started(false);
        }
        let body_config = BodyConfig { limit: config.max_body, read_timeout: Some(config.body_timeout), send_continue };
        let home: Arc<dyn Home> = slot.clone();
        let body = Body::from_conn(inbound, framing, home, body_config);
        let request = Request::from_parts(head, body);
        let result = panic::catch_unwind(AssertUnwindSafe(|| handler.call(request)));
        let response = match result {
            Ok(response) => Some(response),
            // Cancellation is weft's, not the handler's failure: let it unwind.
            Err(payload) if payload.is::<weft::Cancelled>() => panic::resume_unwind(payload),
            // The panic hook has reported it, naming the green thread.
            Err(_) => None,
        };

        // 4. Take the read side back.
        let mut keep_alive = keep_alive && response.is_some() && !shared.shutting_down.load(SeqCst);
        let (mut too_large, mut malformed) = (false, false);
        inbound = match slot.take() {
            Some(mut returned) => {
                (too_large, malformed) = (returned.too_large, returned.malformed);
                if keep_alive && !too_large {
                    keep_alive = body::drain(&mut returned, config.max_drain, Some(config.body_timeout));
                } else {
                    keep_alive = false;
                }
                returned.inbound
            }
            // The handler kept the body (moved it somewhere that outlives
            // the request): the read side is gone, so the connection closes.
            None => {
                keep_alive = false;
                Inbound::new(stream.clone())
            }
        };

        // 5. Write the response.
        if send_continue {
            slot.set_final_started(true);
        }
        let response = match response {
            _ if too_large => plain(StatusCode::PAYLOAD_TOO_LARGE, "request body exceeds the server's limit"),
            // The request was malformed, whatever the handler made of the
            // failed read: answer as for a malformed head (RFC 9112 §2.2).
            _ if malformed => plain(StatusCode::BAD_REQUEST, "malformed chunked request body"),
            Some(response) => response,
            None => plain(StatusCode::INTERNAL_SERVER_ERROR, "the handler failed"),
        };
        if write_response(&mut out, stream, response, version, is_head, &mut keep_alive).is_err() {
            return;
        }
        if !keep_alive {
            finish(stream, &mut out);
            return;
        }
        if out.len() >= FLUSH_AT && payload::flush(&mut &**stream, &mut out).is_err() {
            return;
        }
    }
}

/// Waits up to `timeout` for the next request's first bytes, reading them
/// into a buffer on the stack so that the wait holds no heap buffer; the
/// bytes then move to the connection's buffer. Not inlined, so the stack
/// buffer exists only during the wait, in stack pages that handler calls
/// use anyway.
#[inline(never)]
fn idle_read(inbound: &mut Inbound, timeout: Duration) -> io::Result<usize> {
    let mut first = [0u8; IDLE_READ];
    let n = body::read_timeout(&inbound.stream, &mut first, Some(timeout))?;
    inbound.push(&first[..n]);
    Ok(n)
}

/// Flushes what is held and closes the connection gracefully.
fn finish(stream: &TcpStream, out: &mut Vec<u8>) {
    if payload::flush(&mut &*stream, out).is_ok() {
        body::lingering_close(stream, LINGER_BYTES, LINGER);
    }
}

/// A short `text/plain` response, for the server's own answers.
fn plain(status: StatusCode, message: &str) -> Response<Payload> {
    let mut response = Response::new(Payload::from(format!("{status}: {message}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// Serialises `response` into `out` (and sends its body, which may flush
/// `out`), for a request of `version` and method HEAD if `is_head`. Clears
/// `keep_alive` when the response forces the connection to close.
///
/// The server owns the framing: `Content-Length` comes from the payload's
/// length, `Transfer-Encoding` is never taken from the handler. A handler's
/// own `Content-Length` is kept only where it describes a body not sent: a
/// response to HEAD with an empty payload, and 304. For a reader of unknown
/// length it becomes the declared length.
pub(crate) fn write_response(
    out: &mut Vec<u8>,
    stream: &TcpStream,
    response: Response<Payload>,
    version: Version,
    is_head: bool,
    keep_alive: &mut bool,
) -> io::Result<()> {
    let (parts, mut payload) = response.into_parts();
    let status = parts.status;
    let mut headers = parts.headers;
    if has_close(&headers) {
        *keep_alive = false;
    }
    headers.remove(header::CONNECTION);
    headers.remove(header::TRANSFER_ENCODING);
    let declared = headers.remove(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let no_body = status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    if payload.len().is_none() {
        if let Some(n) = declared {
            payload.set_len(n);
        }
    }
    let length: Option<u64> = if status.is_informational() || status == StatusCode::NO_CONTENT {
        None
    } else if status == StatusCode::NOT_MODIFIED || (is_head && payload.is_empty()) {
        declared
    } else {
        payload.len()
    };
    let chunked = length.is_none() && !no_body && version == Version::HTTP_11;
    if length.is_none() && !no_body && !chunked && !is_head {
        // HTTP/1.0 and a body of unknown length: the close delimits it.
        *keep_alive = false;
    }

    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in &headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !headers.contains_key(header::DATE) {
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(&date::now());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(n) = length {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(itoa_u64(n, &mut [0u8; 20]));
        out.extend_from_slice(b"\r\n");
    } else if chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    if !*keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    } else if version == Version::HTTP_10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if no_body || is_head {
        return Ok(());
    }
    payload.send(stream, out, chunked)
}

fn has_close(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .any(|v| v.as_bytes().split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close")))
}

/// Formats `n` in decimal into the end of `buf`.
fn itoa_u64(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}
