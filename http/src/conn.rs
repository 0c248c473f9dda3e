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
//!    timeout counted from the first partial parse (for a connection's first
//!    request, from its accept). A rule violation is
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

use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use weft::net::{Shutdown, TcpStream};

use crate::body::{self, Body, BodyConfig, Framing, Home, Inbound, Returned};
use crate::chunked::ChunkedDecoder;
use crate::date;
use crate::parse::{has_token, parse_request, BodyFraming, Parsed};
use crate::payload::{self, Payload};
use crate::server::{Config, ConnEntry, Handler, Shared};

/// Initial capacity of the write buffer (it is freed while idle).
const OUT_BUF: usize = 4096;

/// Flush held responses once they reach this many bytes, even if more
/// pipelined requests are waiting.
const FLUSH_AT: usize = 64 * 1024;

/// How long a connection waits for its next request before it gives the
/// idle part of its stack back to the OS (see [`wait_for_request`]).
const SHRINK_AFTER: Duration = Duration::from_secs(1);

/// Size of the stack buffer an idle connection reads its next request into.
const IDLE_READ: usize = 2048;

/// Longest a closing connection keeps reading (and discarding) what the
/// client still sends, so the client reads the final response rather than a
/// reset (RFC 9112 §9.6); and the most bytes it discards meanwhile. A client
/// like Python's http.client writes a whole over-limit body before it reads
/// the 413, so the byte bound must be generous; the time bound is what
/// limits the cost of a client that never stops.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 64 * 1024 * 1024;

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
    let mut conn =
        Conn { stream, shared, config, handler, slot: Arc::new(Slot::default()), out: Vec::new(), date: None };
    let mut inbound = Inbound::new(stream.clone());
    let mut fresh = true;
    let accepted = Instant::now();
    loop {
        // 1. Wait for a request.
        if inbound.unconsumed().is_empty() {
            if conn.flush().is_err() {
                return;
            }
            conn.out = Vec::new();
            inbound.release_if_empty();
            let timeout = if fresh { config.header_timeout } else { config.keep_alive_timeout };
            if !fresh && !entry.go_idle(shared) {
                return;
            }
            if !wait_for_request(&mut inbound, timeout) {
                // Closed, reset, or idle too long: nothing to answer.
                return;
            }
            if !fresh && !entry.go_busy() {
                return;
            }
        }
        // A fresh connection's head is due `header_timeout` after the
        // accept, not after its first byte: the first wait counts.
        let due = if fresh { Some(accepted + config.header_timeout) } else { None };
        fresh = false;
        match conn.serve_request(inbound, due) {
            Some(back) => inbound = back,
            None => return,
        }
    }
}

/// A connection between requests. The loop above keeps only this and the
/// read side in its frame: the per-request work runs in
/// [`Conn::serve_request`], whose large frame is gone by the time the
/// connection waits, so a waiting connection's stack stays shallow.
struct Conn<'a, H: ?Sized> {
    stream: &'a Arc<TcpStream>,
    shared: &'a Shared,
    config: &'a Config,
    handler: &'a H,
    /// Where request bodies hand the read side back.
    slot: Arc<Slot>,
    /// Responses not written yet.
    out: Vec<u8>,
    /// The `Date` value for the responses of one batch of input: taken at
    /// the first response after a read, so pipelined requests share one
    /// clock read.
    date: Option<[u8; date::DATE_LEN]>,
}

impl<H: Handler + ?Sized> Conn<'_, H> {
    fn flush(&mut self) -> io::Result<()> {
        self.date = None;
        payload::flush(&mut &**self.stream, &mut self.out)
    }

    fn date(&mut self) -> [u8; date::DATE_LEN] {
        *self.date.get_or_insert_with(date::now)
    }

    /// Flushes what is held and closes the connection gracefully.
    fn finish(&mut self) {
        if self.flush().is_ok() {
            body::lingering_close(self.stream, LINGER_BYTES, LINGER);
        }
    }

    /// Answers with `response` and closes: the server's own refusals.
    fn reject(&mut self, response: Response<Payload>, version: Version, is_head: bool) {
        let date = self.date();
        let _ = write_response(&mut self.out, self.stream, response, version, is_head, &mut false, &date);
        self.finish();
    }

    /// Steps 2 to 5 for one request whose first bytes are in `inbound`;
    /// `due` is when its head must be complete, if that is already fixed (a
    /// fresh connection's: counted from the accept). Returns the read side
    /// if the connection goes on.
    #[inline(never)]
    fn serve_request(&mut self, mut inbound: Inbound, due: Option<Instant>) -> Option<Inbound> {
        let (stream, config) = (self.stream, self.config);

        // 2. Parse the head.
        let mut deadline: Option<Instant> = due;
        let parsed = loop {
            match parse_request(inbound.unconsumed(), &config.limits) {
                Ok(Parsed::Partial) => {
                    self.flush().ok()?;
                    let deadline = *deadline.get_or_insert_with(|| Instant::now() + config.header_timeout);
                    let left = deadline.saturating_duration_since(Instant::now());
                    match inbound.fill(Some(left)) {
                        Ok(n) if n > 0 && !left.is_zero() => {}
                        // A peer that closes mid-head, or sends it too
                        // slowly (slowloris), is closed without an answer.
                        _ => return None,
                    }
                }
                Ok(Parsed::Complete { head, framing, head_len, keep_alive, expect_continue }) => {
                    inbound.consume(head_len);
                    break (head, framing, keep_alive, expect_continue);
                }
                Err(e) => {
                    let response = plain(e.status(), &e.to_string());
                    self.reject(response, Version::HTTP_11, false);
                    return None;
                }
            }
        };
        let (head, framing, keep_alive, expect_continue) = parsed;
        let version = head.version;
        let is_head = head.method == Method::HEAD;
        let is_connect = head.method == Method::CONNECT;

        // A declared length over the limit is refused before the handler.
        if let BodyFraming::ContentLength(n) = framing {
            if n > config.max_body {
                let response = plain(StatusCode::PAYLOAD_TOO_LARGE, "request body exceeds the server's limit");
                self.reject(response, version, is_head);
                return None;
            }
        }

        // 3. Run the handler.
        let framing = match framing {
            BodyFraming::None | BodyFraming::ContentLength(0) => Framing::Done,
            BodyFraming::ContentLength(n) => Framing::Length(n),
            BodyFraming::Chunked => Framing::Chunked(ChunkedDecoder::new(config.limits.get_max_header_bytes())),
        };
        let send_continue = expect_continue && !matches!(framing, Framing::Done);
        // Responses held for earlier pipelined requests go out before a
        // handler whose body is still on the wire: it will wait for the
        // client, and the client may wait for those responses before it
        // sends the body. It also keeps a `100 Continue`, which the body
        // writes straight to the socket (only when none of the body is
        // buffered), behind them rather than read as their interim answer.
        let body_buffered = match &framing {
            Framing::Done => true,
            Framing::Length(n) => *n <= inbound.unconsumed().len() as u64,
            _ => false,
        };
        if !body_buffered {
            self.flush().ok()?;
        }
        if send_continue {
            self.slot.set_final_started(false);
        }
        let body_config = BodyConfig { limit: config.max_body, read_timeout: Some(config.body_timeout), send_continue };
        // Without a body the read side stays here: no hand-over needed.
        let (body, kept) = if matches!(framing, Framing::Done) {
            (Body::empty(), Some(inbound))
        } else {
            let home: Arc<dyn Home> = self.slot.clone();
            (Body::from_conn(inbound, framing, home, body_config), None)
        };
        let request = Request::from_parts(head, body);
        let handler = self.handler;
        let result = panic::catch_unwind(AssertUnwindSafe(|| handler.call(request)));
        let response = match result {
            Ok(response) => Some(response),
            // Cancellation is weft's, not the handler's failure: let it unwind.
            Err(payload) if payload.is::<weft::Cancelled>() => panic::resume_unwind(payload),
            // The panic hook has reported it, naming the green thread.
            Err(_) => None,
        };

        // 4. Take the read side back.
        let mut keep_alive = keep_alive && response.is_some() && !self.shared.shutting_down.load(SeqCst);
        let (mut too_large, mut malformed, mut body_kept) = (false, false, false);
        let inbound = match kept.ok_or_else(|| self.slot.take()) {
            Ok(inbound) => inbound,
            Err(Some(mut returned)) => {
                (too_large, malformed) = (returned.too_large, returned.malformed);
                keep_alive =
                    keep_alive && !too_large && body::drain(&mut returned, config.max_drain, Some(config.body_timeout));
                returned.inbound
            }
            // The handler kept the body (moved it somewhere that outlives
            // the request): the read side is gone, so the connection closes.
            Err(None) => {
                keep_alive = false;
                body_kept = true;
                Inbound::new(stream.clone())
            }
        };

        // 5. Write the response.
        if send_continue {
            self.slot.set_final_started(true);
        }
        let response = match response {
            _ if too_large => plain(StatusCode::PAYLOAD_TOO_LARGE, "request body exceeds the server's limit"),
            // The request was malformed, whatever the handler made of the
            // failed read: answer as for a malformed head (RFC 9112 §2.2).
            _ if malformed => plain(StatusCode::BAD_REQUEST, "malformed chunked request body"),
            // An interim status as the final answer would leave the client
            // waiting and pin the next response to this request; a 2xx to
            // CONNECT would promise a tunnel this server does not make.
            Some(response) if response.status().is_informational() => {
                keep_alive = false;
                plain(StatusCode::INTERNAL_SERVER_ERROR, "the handler returned an interim (1xx) status")
            }
            Some(response) if is_connect && response.status().is_success() => {
                keep_alive = false;
                plain(StatusCode::NOT_IMPLEMENTED, "CONNECT tunnels are not supported")
            }
            Some(response) => response,
            None => plain(StatusCode::INTERNAL_SERVER_ERROR, "the handler failed"),
        };
        let date = self.date();
        write_response(&mut self.out, stream, response, version, is_head, &mut keep_alive, &date).ok()?;
        if !keep_alive {
            if body_kept {
                // The kept body reads this socket: no lingering read may
                // take its bytes. Stop sending and leave the rest to it.
                self.flush().ok()?;
                let _ = stream.shutdown(Shutdown::Write);
            } else {
                self.finish();
            }
            return None;
        }
        if self.out.len() >= FLUSH_AT {
            self.flush().ok()?;
        }
        Some(inbound)
    }
}

/// Waits up to `timeout` for the next request's first bytes and reads them
/// into `inbound`; `false` if the connection closed, failed or timed out.
///
/// A connection still idle after [`SHRINK_AFTER`] gives its stack pages
/// below this frame back to the OS ([`weft::shrink_stack`]) and waits on
/// with a one-byte peek, the shallowest wait there is, so a long-idle
/// keep-alive connection keeps only the top of its stack resident. The
/// first phase skips that: a busy connection's next request usually comes
/// within microseconds, and the `madvise` would cost more than the request.
#[inline(never)]
fn wait_for_request(inbound: &mut Inbound, timeout: Duration) -> bool {
    let first = timeout.min(SHRINK_AFTER);
    match idle_read(inbound, first) {
        Ok(n) => return n > 0,
        Err(e) if e.kind() == io::ErrorKind::TimedOut && timeout > first => {}
        Err(_) => return false,
    }
    weft::shrink_stack();
    match body::peek_timeout(&inbound.stream, timeout - first) {
        Ok(true) => matches!(idle_read(inbound, timeout - first), Ok(n) if n > 0),
        _ => false,
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
    date: &[u8],
) -> io::Result<()> {
    let (parts, mut payload) = response.into_parts();
    let status = parts.status;
    let headers = parts.headers;
    if out.capacity() == 0 {
        // Room for a batch of small responses at once, rather than growing
        // from nothing through several reallocations per batch.
        out.reserve(OUT_BUF);
    }

    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    // One pass over the handler's headers: the framing fields are the
    // server's, the rest are copied. Comparing standard names is an integer
    // compare, cheaper than a map lookup per field.
    let mut declared = None;
    let mut has_date = false;
    for (name, value) in &headers {
        if name == header::CONNECTION {
            if has_token(value, b"close") {
                *keep_alive = false;
            }
            continue;
        }
        if name == header::TRANSFER_ENCODING {
            continue;
        }
        if name == header::CONTENT_LENGTH {
            declared = value.to_str().ok().and_then(|v| v.parse::<u64>().ok());
            continue;
        }
        has_date |= name == header::DATE;
        write_field(out, name, value);
    }

    // serve_request has replaced any interim (1xx) status by now.
    debug_assert!(!status.is_informational(), "a final response");
    let no_body = status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    if payload.len().is_none() {
        if let Some(n) = declared {
            payload.set_len(n);
        }
    }
    let length: Option<u64> = if status == StatusCode::NO_CONTENT {
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

    if !has_date {
        field_line(out, b"date", date);
    }
    if let Some(n) = length {
        field_line(out, b"content-length", itoa_u64(n, &mut [0u8; 20]));
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

/// Writes one `name: value` field line.
pub(crate) fn write_field(out: &mut Vec<u8>, name: &HeaderName, value: &HeaderValue) {
    field_line(out, name.as_str().as_bytes(), value.as_bytes());
}

/// Writes `name: value\r\n`.
pub(crate) fn field_line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Formats `n` in decimal into the end of `buf`.
pub(crate) fn itoa_u64(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
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
