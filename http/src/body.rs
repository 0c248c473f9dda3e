//! Incoming message bodies: [`Body`], a `std::io::Read` that streams from the
//! connection.
//!
//! # Ownership of the connection's read side
//!
//! A connection's receive state (the socket and the bytes read but not yet
//! consumed) is an [`Inbound`]. While a handler runs, its request's `Body`
//! owns the `Inbound`: reading the body reads the socket, and bytes that
//! arrive past the end of the body (a pipelined request) stay in the buffer.
//! When the `Body` is dropped it hands the `Inbound` back to its [`Home`]
//! (the server connection, or the client's pool) together with how far the
//! body got ([`Returned`]), so the next message is parsed exactly where this
//! body ended, never from body bytes. A body that is never dropped (moved
//! into a long-lived value) never comes home, and its connection is closed.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::Duration;

use weft::net::TcpStream;

use crate::chunked::ChunkedDecoder;
use crate::error::{Error, Kind};

/// Bytes reserved for each read from a socket into a connection buffer.
pub(crate) const READ_SIZE: usize = 8 * 1024;

/// The receiving half of a connection: its socket and the bytes read from it
/// that nobody has consumed yet (`buf[start..]`).
pub(crate) struct Inbound {
    pub(crate) stream: Arc<TcpStream>,
    buf: Vec<u8>,
    start: usize,
}

impl Inbound {
    pub(crate) fn new(stream: Arc<TcpStream>) -> Inbound {
        Inbound { stream, buf: Vec::new(), start: 0 }
    }

    /// The bytes received and not consumed.
    pub(crate) fn unconsumed(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Marks `n` bytes at the front of [`unconsumed`](Self::unconsumed) as used.
    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.buf.len() - self.start);
        self.start += n;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    /// Frees the buffer if everything in it was consumed, so an idle
    /// connection holds no buffer.
    pub(crate) fn release_if_empty(&mut self) {
        if self.start == self.buf.len() {
            self.buf = Vec::new();
            self.start = 0;
        }
    }

    /// Appends bytes already read elsewhere (the idle read's small buffer).
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        if self.buf.capacity() == 0 {
            self.buf.reserve(READ_SIZE.max(bytes.len()));
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Reads into `out`: from the unconsumed bytes if there are any, else
    /// straight from the socket into `out` (so never past what `out` holds:
    /// the caller bounds it by what the body has left). `Ok(0)` is end of
    /// stream.
    pub(crate) fn read_into(&mut self, out: &mut [u8], timeout: Option<Duration>) -> io::Result<usize> {
        let buffered = self.unconsumed();
        if buffered.is_empty() {
            return read_timeout(&self.stream, out, timeout);
        }
        let n = out.len().min(buffered.len());
        out[..n].copy_from_slice(&buffered[..n]);
        self.consume(n);
        Ok(n)
    }

    /// Reads more bytes from the socket after the unconsumed ones, waiting at
    /// most `timeout` (`None`: the socket's own timeout). `Ok(0)` is end of
    /// stream.
    pub(crate) fn fill(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        if self.start > 0 && self.buf.capacity() - self.buf.len() < READ_SIZE / 2 {
            // Move the unconsumed tail to the front rather than grow.
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let filled = self.buf.len();
        // Zero only what this read may fill, not all spare capacity.
        self.buf.resize(filled + READ_SIZE, 0);
        let result = read_timeout(&self.stream, &mut self.buf[filled..], timeout);
        let n = *result.as_ref().unwrap_or(&0);
        self.buf.truncate(filled + n);
        result
    }
}

/// One read of `stream` into `buf`, bounded by `timeout` if given.
pub(crate) fn read_timeout(stream: &TcpStream, buf: &mut [u8], timeout: Option<Duration>) -> io::Result<usize> {
    let mut reader = stream;
    match timeout {
        None => reader.read(buf),
        // A socket call past a weft::timeout deadline fails with TimedOut.
        Some(t) => weft::timeout(t, || reader.read(buf)).unwrap_or_else(|_| Err(timed_out())),
    }
}

/// Waits up to `timeout` until `stream` has data or end of stream to read,
/// without consuming it: `Ok(true)` if there is data, `Ok(false)` at end of
/// stream.
pub(crate) fn peek_timeout(stream: &TcpStream, timeout: Duration) -> io::Result<bool> {
    let mut byte = [0u8; 1];
    let n = weft::timeout(timeout, || stream.peek(&mut byte)).unwrap_or_else(|_| Err(timed_out()))?;
    Ok(n > 0)
}

pub(crate) fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "timed out waiting for the peer")
}

/// How the rest of a body is delimited.
#[derive(Debug)]
pub(crate) enum Framing {
    /// This many bytes are left.
    Length(u64),
    /// Chunked; the decoder knows where it is.
    Chunked(ChunkedDecoder),
    /// Everything until the peer closes (a response without length, RFC 9112 §6.3 rule 8).
    UntilClose,
    /// Nothing is left.
    Done,
}

/// What a body hands back to its connection when dropped.
pub(crate) struct Returned {
    pub(crate) inbound: Inbound,
    /// How the rest of the body is delimited: `Framing::Done` if the body
    /// was read to its end.
    pub(crate) framing: Framing,
    /// The body broke its framing, hit the size limit or failed to read: the
    /// connection cannot be reused.
    pub(crate) broken: bool,
    /// The body went over its size limit (the server answers 413).
    pub(crate) too_large: bool,
    /// A read found the chunked framing malformed (the server answers 400).
    pub(crate) malformed: bool,
    /// A `100 Continue` was still owed when the body was dropped: the client
    /// has not sent the body.
    pub(crate) continue_owed: bool,
}

/// An interim `100 Continue` response (RFC 9110 §15.2.1).
pub(crate) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Where a body's connection goes back to when the body is dropped.
pub(crate) trait Home: Send + Sync {
    fn give_back(&self, returned: Returned);

    /// Writes the `100 Continue` the body owes, on its first read from the
    /// socket. A home that may have started the final response by then (a
    /// body the handler kept, read while the response is sent) must write
    /// nothing once it has: a 100 after the final response's head would be
    /// read as part of that response.
    fn send_continue(&self, stream: &TcpStream) -> io::Result<()> {
        (&*stream).write_all(CONTINUE)
    }
}

/// Settings of one connection-backed body.
pub(crate) struct BodyConfig {
    /// Most body bytes; more is an error with `Error::status()` 413.
    pub(crate) limit: u64,
    /// Longest wait for each read from the socket.
    pub(crate) read_timeout: Option<Duration>,
    /// Send `100 Continue` before the first read from the socket.
    pub(crate) send_continue: bool,
}

/// An incoming message body: a request body in a server handler, a response
/// body from the [`Client`](crate::Client). It implements [`Read`] and
/// streams from the connection; nothing is buffered beyond one socket read
/// unless you ask for it (`read_to_end`, bounded by the body limit).
///
/// Reading past a limit, a malformed chunked body, a peer that closes early
/// or goes silent past the read timeout: each is an `io::Error` (the first
/// two of kind `InvalidData` carrying a [`crate::Error`] whose
/// [`status`](crate::Error::status) says 413 or 400; `UnexpectedEof`;
/// `TimedOut`). In a server handler, the server answers the first two with
/// that status in place of the handler's response, and closes the
/// connection. A body that was not read to its end when dropped is drained
/// by the server (up to a limit) or the connection is closed, so the next
/// request is never read from body bytes.
///
/// For tests of handlers, a body can be built from bytes: `Body::from("hi")`.
pub struct Body {
    source: Source,
}

enum Source {
    /// No body (or the body of a `HEAD` response).
    Empty,
    /// Bytes in memory.
    Memory { bytes: Vec<u8>, pos: usize },
    /// Streaming from a connection.
    Conn(Box<ConnBody>),
}

struct ConnBody {
    inbound: Option<Inbound>,
    framing: Framing,
    home: Option<Arc<dyn Home>>,
    config: BodyConfig,
    read: u64,
    content_length: Option<u64>,
    broken: bool,
    too_large: bool,
    malformed: bool,
}

impl Body {
    /// An empty body.
    pub fn empty() -> Body {
        Body { source: Source::Empty }
    }

    /// The body's length if the peer declared it (Content-Length) or it is
    /// in memory; `None` for chunked or close-delimited bodies.
    pub fn content_length(&self) -> Option<u64> {
        match &self.source {
            Source::Empty => Some(0),
            Source::Memory { bytes, .. } => Some(bytes.len() as u64),
            Source::Conn(c) => c.content_length,
        }
    }

    /// Reads the rest of the body into a `Vec`. The server's body limit
    /// applies, as for any read.
    pub fn into_bytes(mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.read_to_end(&mut out)?;
        Ok(out)
    }

    /// A body streaming from `inbound`, delimited by `framing`, going back to
    /// `home` when dropped.
    pub(crate) fn from_conn(inbound: Inbound, framing: Framing, home: Arc<dyn Home>, config: BodyConfig) -> Body {
        let content_length = match framing {
            Framing::Length(n) => Some(n),
            Framing::Done => Some(0),
            _ => None,
        };
        let conn = ConnBody {
            inbound: Some(inbound),
            framing,
            home: Some(home),
            config,
            read: 0,
            content_length,
            broken: false,
            too_large: false,
            malformed: false,
        };
        Body { source: Source::Conn(Box::new(conn)) }
    }
}

impl ConnBody {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.broken {
            return Err(io::Error::other("the body already failed; its connection will be closed"));
        }
        let result = self.read_inner(out);
        match &result {
            Ok(n) => self.read += *n as u64,
            Err(_) => self.broken = true,
        }
        result
    }

    fn read_inner(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() || matches!(self.framing, Framing::Done) {
            return Ok(0);
        }
        let inbound = self.inbound.as_mut().expect("a body keeps its connection until dropped");
        if self.config.send_continue {
            self.config.send_continue = false;
            if let (true, Some(home)) = (inbound.unconsumed().is_empty(), &self.home) {
                home.send_continue(&inbound.stream)?;
            }
        }
        let limit_left = self.config.limit.saturating_sub(self.read);
        // One byte past the limit tells "too large" from "exactly at the limit".
        let want = out.len().min(usize::try_from(limit_left.saturating_add(1)).unwrap_or(usize::MAX));
        let timeout = self.config.read_timeout;
        let n = match &mut self.framing {
            Framing::Length(left) => {
                let want = want.min(usize::try_from(*left).unwrap_or(usize::MAX));
                let n = match inbound.read_into(&mut out[..want], timeout)? {
                    0 => return Err(early_eof()),
                    n => n,
                };
                *left -= n as u64;
                if *left == 0 {
                    self.framing = Framing::Done;
                }
                n
            }
            Framing::Chunked(decoder) => loop {
                let decoded = match decoder.decode(inbound.unconsumed(), want) {
                    Ok(decoded) => decoded,
                    Err(e) => {
                        self.malformed = true;
                        return Err(e.into());
                    }
                };
                let data = &inbound.unconsumed()[decoded.data.clone()];
                out[..data.len()].copy_from_slice(data);
                let n = data.len();
                inbound.consume(decoded.consumed);
                if n > 0 {
                    break n;
                }
                if decoder.is_done() {
                    self.framing = Framing::Done;
                    return Ok(0);
                }
                if inbound.fill(timeout)? == 0 {
                    return Err(early_eof());
                }
            },
            Framing::UntilClose => match inbound.read_into(&mut out[..want], timeout)? {
                0 => {
                    self.framing = Framing::Done;
                    return Ok(0);
                }
                n => n,
            },
            Framing::Done => 0,
        };
        if self.read + n as u64 > self.config.limit {
            self.too_large = true;
            return Err(Error::new(Kind::BodyTooLarge).into());
        }
        Ok(n)
    }
}

fn early_eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "the peer closed the connection before the body ended")
}

impl Read for Body {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match &mut self.source {
            Source::Empty => Ok(0),
            Source::Memory { bytes, pos } => {
                let n = out.len().min(bytes.len() - *pos);
                out[..n].copy_from_slice(&bytes[*pos..*pos + n]);
                *pos += n;
                Ok(n)
            }
            Source::Conn(conn) => conn.read(out),
        }
    }
}

impl Drop for ConnBody {
    fn drop(&mut self) {
        let (Some(inbound), Some(home)) = (self.inbound.take(), self.home.take()) else { return };
        let framing = std::mem::replace(&mut self.framing, Framing::Done);
        home.give_back(Returned {
            inbound,
            framing,
            broken: self.broken,
            too_large: self.too_large,
            malformed: self.malformed,
            continue_owed: self.config.send_continue,
        });
    }
}

impl Default for Body {
    fn default() -> Body {
        Body::empty()
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Body {
        Body { source: Source::Memory { bytes, pos: 0 } }
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Body::from(s.into_bytes())
    }
}

impl From<&str> for Body {
    fn from(s: &str) -> Body {
        Body::from(s.as_bytes().to_vec())
    }
}

impl From<&[u8]> for Body {
    fn from(s: &[u8]) -> Body {
        Body::from(s.to_vec())
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.source {
            Source::Empty => "empty",
            Source::Memory { .. } => "memory",
            Source::Conn(c) => match c.framing {
                Framing::Length(_) => "content-length",
                Framing::Chunked(_) => "chunked",
                Framing::UntilClose => "until-close",
                Framing::Done => "done",
            },
        };
        f.debug_struct("Body").field("kind", &kind).field("content_length", &self.content_length()).finish()
    }
}

/// Reads and discards what is left of a returned body, at most `max` bytes;
/// `true` if the body ended within that (the connection can be reused).
pub(crate) fn drain(returned: &mut Returned, max: u64, timeout: Option<Duration>) -> bool {
    if returned.broken || returned.continue_owed {
        return matches!(returned.framing, Framing::Done) && !returned.broken;
    }
    let mut scratch = [0u8; 2048];
    let mut drained = 0u64;
    loop {
        let inbound = &mut returned.inbound;
        let step = match &mut returned.framing {
            Framing::Done => return true,
            Framing::UntilClose => return false,
            Framing::Length(left) => {
                if *left > max - drained {
                    return false;
                }
                let cap = scratch.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                let n = match inbound.read_into(&mut scratch[..cap], timeout) {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => n,
                };
                *left -= n as u64;
                if *left == 0 {
                    returned.framing = Framing::Done;
                }
                n as u64
            }
            Framing::Chunked(decoder) => {
                let Ok(decoded) = decoder.decode(inbound.unconsumed(), usize::MAX) else { return false };
                inbound.consume(decoded.consumed);
                if decoder.is_done() {
                    returned.framing = Framing::Done;
                    return true;
                }
                if decoded.consumed == 0 && !matches!(inbound.fill(timeout), Ok(n) if n > 0) {
                    return false;
                }
                decoded.data.len() as u64
            }
        };
        drained += step;
        if drained > max {
            return false;
        }
    }
}

/// Closes a connection without losing the response just written: stop
/// sending, then read and discard what the peer still sends (at most
/// `max_bytes`, for at most `linger`), so the kernel does not answer unread
/// data with a reset that could destroy the response in flight (RFC 9112 §9.6).
pub(crate) fn lingering_close(stream: &TcpStream, max_bytes: usize, linger: Duration) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let mut scratch = [0u8; 2048];
    let mut left = max_bytes;
    let _ = weft::timeout(linger, || {
        let mut reader = stream;
        while left > 0 {
            match reader.read(&mut scratch) {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    });
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}
