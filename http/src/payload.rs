//! Outgoing message bodies: [`Payload`], and writing one to a connection.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;

use weft::net::TcpStream;

use crate::chunked;

/// A body small enough to be copied into the connection's write buffer
/// (batched with other pipelined responses) rather than written on its own.
const COPY_MAX: usize = 16 * 1024;

/// Bytes read from a [`Payload::reader`] per write (one chunk when chunked).
const READER_CHUNK: usize = 16 * 1024;

/// An outgoing message body: a response body in a server handler (the
/// handler returns `Response<B>` for any `B: Into<Payload>`), a request body
/// for the [`Client`](crate::Client).
///
/// * Bytes: `&'static str`, `String`, `Vec<u8>`, `&'static [u8]`, `()` for
///   none. Sent with `Content-Length`.
/// * A reader: [`Payload::reader`] (sent chunked, or until close to an
///   HTTP/1.0 peer) or [`Payload::sized_reader`] (sent with
///   `Content-Length`; a reader that ends early breaks the connection).
/// * A file range: [`Payload::file`], [`Payload::file_range`], sent with
///   `sendfile(2)`, zero-copy. `sendfile` on a file whose pages are not
///   cached waits for the disk on the worker; serve hot files this way.
pub struct Payload {
    kind: Kind,
}

enum Kind {
    Empty,
    Static(&'static [u8]),
    Owned(Vec<u8>),
    Reader { reader: Box<dyn Read + Send>, len: Option<u64> },
    File { fd: OwnedFd, offset: u64, len: u64 },
}

impl Payload {
    /// No body (`Content-Length: 0`).
    pub fn empty() -> Payload {
        Payload { kind: Kind::Empty }
    }

    /// A body streamed from `reader` until it returns 0, of unknown length:
    /// sent with chunked transfer coding (to an HTTP/1.0 peer: without
    /// framing, and the connection closes after it).
    pub fn reader(reader: impl Read + Send + 'static) -> Payload {
        Payload { kind: Kind::Reader { reader: Box::new(reader), len: None } }
    }

    /// A body of exactly `len` bytes streamed from `reader`, sent with
    /// `Content-Length`. Bytes past `len` are not read; a reader that ends
    /// before `len` breaks the message and the connection is closed.
    pub fn sized_reader(reader: impl Read + Send + 'static, len: u64) -> Payload {
        Payload { kind: Kind::Reader { reader: Box::new(reader), len: Some(len) } }
    }

    /// A whole file, sent with `sendfile(2)`. Its length is taken now.
    pub fn file(file: File) -> io::Result<Payload> {
        let len = file.metadata()?.len();
        Ok(Payload::file_range(file, 0, len))
    }

    /// `len` bytes of a file from `offset`, sent with `sendfile(2)`. A file
    /// shorter than that breaks the message and the connection is closed.
    pub fn file_range(file: impl Into<OwnedFd>, offset: u64, len: u64) -> Payload {
        Payload { kind: Kind::File { fd: file.into(), offset, len } }
    }

    /// The body's length, if known before sending.
    pub fn len(&self) -> Option<u64> {
        match &self.kind {
            Kind::Empty => Some(0),
            Kind::Static(b) => Some(b.len() as u64),
            Kind::Owned(b) => Some(b.len() as u64),
            Kind::Reader { len, .. } => *len,
            Kind::File { len, .. } => Some(*len),
        }
    }

    /// Declares the length of a reader of unknown length (the handler's
    /// `Content-Length`); other payloads keep their own.
    pub(crate) fn set_len(&mut self, n: u64) {
        if let Kind::Reader { len: len @ None, .. } = &mut self.kind {
            *len = Some(n);
        }
    }

    /// A second copy of a body held in memory (empty, static or owned
    /// bytes), for the client to send again on a fresh connection; `None`
    /// for a reader or a file, which sending consumes. Owned bytes are copied.
    pub(crate) fn try_clone(&self) -> Option<Payload> {
        let kind = match &self.kind {
            Kind::Empty => Kind::Empty,
            Kind::Static(b) => Kind::Static(b),
            Kind::Owned(b) => Kind::Owned(b.clone()),
            Kind::Reader { .. } | Kind::File { .. } => return None,
        };
        Some(Payload { kind })
    }

    /// Whether the body is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// Sends the body on `stream`, after whatever `out` holds (the message
    /// head, earlier pipelined responses). Small byte bodies are appended to
    /// `out` and left for the caller to flush; anything else flushes `out`
    /// first. `chunked` selects the chunked coding for a reader of unknown
    /// length (otherwise it is sent raw and the caller must close).
    /// An error means the connection is unusable.
    pub(crate) fn send(self, stream: &TcpStream, out: &mut Vec<u8>, chunked: bool) -> io::Result<()> {
        let mut writer = stream;
        match self.kind {
            Kind::Empty => Ok(()),
            Kind::Static(b) => send_bytes(&mut writer, out, b),
            Kind::Owned(b) => send_bytes(&mut writer, out, &b),
            Kind::Reader { mut reader, len } => {
                flush(&mut writer, out)?;
                let mut buf = vec![0u8; READER_CHUNK];
                let mut left = len;
                loop {
                    let want = left.map_or(buf.len(), |l| buf.len().min(usize::try_from(l).unwrap_or(usize::MAX)));
                    if want == 0 {
                        return Ok(());
                    }
                    let n = match reader.read(&mut buf[..want]) {
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    };
                    if n == 0 {
                        if left.is_some() {
                            return Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "the body reader ended before its declared length",
                            ));
                        }
                        if chunked {
                            writer.write_all(chunked::LAST_CHUNK)?;
                        }
                        return Ok(());
                    }
                    if let Some(l) = &mut left {
                        *l -= n as u64;
                    }
                    if chunked && left.is_none() {
                        let mut head = Vec::with_capacity(20);
                        chunked::write_chunk_header(&mut head, n);
                        let mut slices =
                            [io::IoSlice::new(&head), io::IoSlice::new(&buf[..n]), io::IoSlice::new(b"\r\n")];
                        write_all_vectored(&mut writer, &mut slices)?;
                    } else {
                        writer.write_all(&buf[..n])?;
                    }
                }
            }
            Kind::File { fd, mut offset, len } => {
                flush(&mut writer, out)?;
                let mut left = len;
                while left > 0 {
                    match stream.sendfile(&fd, offset, left)? {
                        0 => {
                            return Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "the file ended before the declared range",
                            ))
                        }
                        n => {
                            offset += n;
                            left -= n;
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

fn send_bytes(writer: &mut &TcpStream, out: &mut Vec<u8>, body: &[u8]) -> io::Result<()> {
    if body.len() <= COPY_MAX {
        out.extend_from_slice(body);
        return Ok(());
    }
    let head = std::mem::take(out);
    let result = write_all_vectored(writer, &mut [io::IoSlice::new(&head), io::IoSlice::new(body)]);
    *out = head;
    out.clear();
    result
}

/// Writes all of `out` and empties it.
pub(crate) fn flush(writer: &mut &TcpStream, out: &mut Vec<u8>) -> io::Result<()> {
    if !out.is_empty() {
        writer.write_all(out)?;
        out.clear();
    }
    Ok(())
}

/// `write_all` over several slices with one `writev` per attempt.
fn write_all_vectored(writer: &mut &TcpStream, mut slices: &mut [io::IoSlice<'_>]) -> io::Result<()> {
    io::IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match writer.write_vectored(slices) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "failed to write the whole body")),
            Ok(n) => io::IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Default for Payload {
    fn default() -> Payload {
        Payload::empty()
    }
}

impl From<()> for Payload {
    fn from((): ()) -> Payload {
        Payload::empty()
    }
}

impl From<&'static str> for Payload {
    fn from(s: &'static str) -> Payload {
        Payload { kind: Kind::Static(s.as_bytes()) }
    }
}

impl From<&'static [u8]> for Payload {
    fn from(s: &'static [u8]) -> Payload {
        Payload { kind: Kind::Static(s) }
    }
}

impl From<String> for Payload {
    fn from(s: String) -> Payload {
        Payload { kind: Kind::Owned(s.into_bytes()) }
    }
}

impl From<Vec<u8>> for Payload {
    fn from(b: Vec<u8>) -> Payload {
        Payload { kind: Kind::Owned(b) }
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Empty => "empty",
            Kind::Static(_) | Kind::Owned(_) => "bytes",
            Kind::Reader { .. } => "reader",
            Kind::File { .. } => "file",
        };
        f.debug_struct("Payload").field("kind", &kind).field("len", &self.len()).finish()
    }
}
