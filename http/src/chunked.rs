//! The chunked transfer coding (RFC 9112 §7.1), decoded without I/O.
//!
//! ```text
//! chunked-body   = *chunk last-chunk trailer-section CRLF
//! chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//! chunk-size     = 1*HEXDIG
//! last-chunk     = 1*("0") [ chunk-ext ] CRLF
//! chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//! trailer-section = *( field-line CRLF )
//! ```
//!
//! [`ChunkedDecoder`] is a byte-at-a-time state machine over the framing and
//! a bulk copy over the data, so it accepts input split anywhere (one byte at
//! a time, or many chunks plus the next pipelined request in one buffer) and
//! stops exactly at the end of the body. Strict, like the head parser: a line
//! end is CRLF (a bare CR or LF is an error, since a peer that reads it the
//! other way would see different chunks: the chunk-extension smuggling class),
//! a chunk size is at most 16 hex digits that fit a u64, and the extension and
//! trailer section are bounded ([`MAX_CHUNK_LINE`], the caller's trailer
//! limit). Extensions are syntax-checked loosely (visible characters, `;`,
//! `=`, quotes, whitespace) and ignored; trailers are checked to be
//! `name: value` lines without control characters and discarded, never merged
//! into the head (RFC 9110 §6.5.1 permits discarding them).

use std::ops::Range;

use crate::error::{Error, Kind};

/// Longest chunk-size line, extensions included, in bytes without its CRLF.
pub(crate) const MAX_CHUNK_LINE: usize = 4096;

/// Most extension bytes (everything after the size digits) in one whole
/// body. Extensions carry no data, so without a total a client could send
/// thousands of framing bytes per body byte and pass the body limit, which
/// counts data only.
pub(crate) const MAX_CHUNK_EXT_TOTAL: usize = 16 * 1024;

/// Where the decoder is in the chunked grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At the start of a chunk-size line: a hex digit must come.
    SizeStart,
    /// In the hex digits of a chunk size.
    Size,
    /// Whitespace after the digits: only more of it or `;` may follow.
    SizeWs,
    /// After a `;`: whitespace, then an extension name must come.
    ExtName,
    /// In an extension, after its name's first byte, up to CR.
    Ext,
    /// Saw the CR ending a size line; LF must come.
    SizeLf,
    /// In chunk data, with this many bytes left (never 0).
    Data(u64),
    /// After chunk data: CR must come.
    DataCr,
    /// After chunk data and CR: LF must come.
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    /// Inside a trailer field line.
    Trailer,
    /// Saw the CR ending a trailer line; LF must come.
    TrailerLf,
    /// Saw the CR of the final empty line; LF must come.
    EndLf,
    /// The body is complete; nothing more belongs to it.
    Done,
}

/// What one [`ChunkedDecoder::decode`] call did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Decoded {
    /// Bytes of the input that belong to the body (framing and data) and are
    /// now consumed. The caller drops them from its buffer.
    pub consumed: usize,
    /// The body data found, as a range of the input (inside `..consumed`).
    /// Empty when the input ended in framing or the body is done.
    pub data: Range<usize>,
}

/// Decodes one chunked body. See the module docs.
#[derive(Debug)]
pub(crate) struct ChunkedDecoder {
    state: State,
    /// The size being read, then the size of the current chunk.
    size: u64,
    /// Hex digits read in the current size.
    digits: u8,
    /// Bytes of the current size line (digits and extension).
    line: usize,
    /// Extension bytes in the whole body so far.
    ext_total: usize,
    /// Bytes of the trailer section so far.
    trailer: usize,
    /// Longest trailer section accepted.
    max_trailer: usize,
    /// Whether the current trailer line has had its colon yet.
    colon: bool,
}

impl ChunkedDecoder {
    /// A decoder at the start of a chunked body; a trailer section longer than
    /// `max_trailer` bytes is an error.
    pub(crate) fn new(max_trailer: usize) -> ChunkedDecoder {
        ChunkedDecoder {
            state: State::SizeStart,
            size: 0,
            digits: 0,
            line: 0,
            ext_total: 0,
            trailer: 0,
            max_trailer,
            colon: false,
        }
    }

    /// Whether the whole body, trailers and final CRLF included, has been read.
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes framing from the start of `input` up to the next body data,
    /// and returns at most `max_data` bytes of that data (as a range of
    /// `input`). Returns with empty `data` when the input runs out, or when
    /// the body is done ([`is_done`](Self::is_done)); bytes after the end of
    /// the body are never consumed. An error is final: the framing is broken
    /// and the connection must close.
    pub(crate) fn decode(&mut self, input: &[u8], max_data: usize) -> Result<Decoded, Error> {
        let bad = || Error::new(Kind::Chunked);
        let mut pos = 0;
        while pos < input.len() {
            if let State::Data(left) = self.state {
                let n = (input.len() - pos).min(max_data).min(usize::try_from(left).unwrap_or(usize::MAX));
                if n == 0 {
                    break;
                }
                let left = left - n as u64;
                self.state = if left == 0 { State::DataCr } else { State::Data(left) };
                return Ok(Decoded { consumed: pos + n, data: pos..pos + n });
            }
            if self.state == State::Done {
                break;
            }
            let b = input[pos];
            pos += 1;
            self.state = match self.state {
                State::SizeStart | State::Size => match hex(b) {
                    Some(d) => {
                        self.digits += 1;
                        if self.digits > 16 {
                            return Err(bad());
                        }
                        self.size = self.size << 4 | u64::from(d);
                        self.line += 1;
                        State::Size
                    }
                    None if self.state == State::SizeStart => return Err(bad()),
                    None => self.ext_byte(b)?,
                },
                State::SizeWs | State::ExtName | State::Ext => self.ext_byte(b)?,
                State::SizeLf if b == b'\n' => {
                    let size = self.size;
                    self.size = 0;
                    self.digits = 0;
                    self.line = 0;
                    if size == 0 {
                        State::TrailerStart
                    } else {
                        State::Data(size)
                    }
                }
                State::DataCr if b == b'\r' => State::DataLf,
                State::DataLf if b == b'\n' => State::SizeStart,
                State::TrailerStart => {
                    self.count_trailer()?;
                    match b {
                        b'\r' => State::EndLf,
                        // obs-fold, or a field line with an empty name.
                        b' ' | b'\t' | b':' => return Err(bad()),
                        _ if is_tchar(b) => {
                            self.colon = false;
                            State::Trailer
                        }
                        _ => return Err(bad()),
                    }
                }
                State::Trailer => {
                    self.count_trailer()?;
                    match b {
                        b'\r' if self.colon => State::TrailerLf,
                        b':' if !self.colon => {
                            self.colon = true;
                            State::Trailer
                        }
                        _ if self.colon && (b == b'\t' || b >= 0x20) && b != 0x7f => State::Trailer,
                        _ if !self.colon && is_tchar(b) => State::Trailer,
                        _ => return Err(bad()),
                    }
                }
                State::TrailerLf if b == b'\n' => {
                    self.count_trailer()?;
                    State::TrailerStart
                }
                State::EndLf if b == b'\n' => State::Done,
                State::SizeLf | State::DataCr | State::DataLf | State::TrailerLf | State::EndLf => return Err(bad()),
                State::Data(_) | State::Done => unreachable!("handled before the byte is taken"),
            };
        }
        Ok(Decoded { consumed: pos, data: pos..pos })
    }

    /// One byte of a size line after its digits: whitespace, `;` and
    /// extension text, or the CR that ends the line.
    fn ext_byte(&mut self, b: u8) -> Result<State, Error> {
        self.line += 1;
        // The CR ends every size line; only what precedes it is extension.
        self.ext_total += usize::from(b != b'\r');
        if self.line > MAX_CHUNK_LINE || self.ext_total > MAX_CHUNK_EXT_TOTAL {
            return Err(Error::new(Kind::Chunked));
        }
        let visible = |b: u8| b == b'\t' || (0x20..0x7f).contains(&b) || b >= 0x80;
        // chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
        match (self.state, b) {
            (State::Size | State::Ext, b'\r') => Ok(State::SizeLf),
            (State::Size | State::SizeWs, b' ' | b'\t') => Ok(State::SizeWs),
            (State::Size | State::SizeWs | State::Ext, b';') => Ok(State::ExtName),
            (State::ExtName, b' ' | b'\t') => Ok(State::ExtName),
            (State::ExtName, b) if is_tchar(b) => Ok(State::Ext),
            (State::Ext, b) if visible(b) => Ok(State::Ext),
            // `1x`, `5 \r\n` (whitespace with no extension), `5;\r\n`
            // (no name), control bytes.
            _ => Err(Error::new(Kind::Chunked)),
        }
    }

    fn count_trailer(&mut self) -> Result<(), Error> {
        self.trailer += 1;
        if self.trailer > self.max_trailer {
            return Err(Error::new(Kind::Chunked));
        }
        Ok(())
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// RFC 9110 §5.6.2 token characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Writes the chunk-size line for a chunk of `len` bytes (`len` > 0) into `out`.
pub(crate) fn write_chunk_header(out: &mut Vec<u8>, len: usize) {
    debug_assert!(len > 0, "a zero-size chunk is the last chunk");
    let mut digits = [0u8; 16];
    let mut n = len;
    let mut i = digits.len();
    while n > 0 || i == digits.len() {
        i -= 1;
        digits[i] = b"0123456789abcdef"[n & 0xf];
        n >>= 4;
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
}

/// The last chunk with an empty trailer section.
pub(crate) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `step` bytes, copying data out in
    /// reads of at most `max` bytes; returns the body and the bytes left over
    /// after it.
    fn decode_all(input: &[u8], step: usize, max: usize) -> Result<(Vec<u8>, usize), Error> {
        let mut d = ChunkedDecoder::new(1024);
        let mut body = Vec::new();
        let mut pos = 0;
        let mut avail = step.min(input.len());
        while !d.is_done() {
            let r = d.decode(&input[pos..avail], max)?;
            body.extend_from_slice(&input[pos..avail][r.data.clone()]);
            pos += r.consumed;
            if r.data.is_empty() && !d.is_done() {
                if avail == input.len() {
                    break;
                }
                avail = (avail + step).min(input.len());
            }
        }
        assert!(d.is_done(), "body incomplete after {pos} of {} bytes", input.len());
        Ok((body, input.len() - pos))
    }

    const BODY: &[u8] =
        b"5\r\nhello\r\n1;ext=\"q v\" ; x\r\n \r\n10\r\n0123456789abcdef\r\n0\r\nX-T: a b\r\nY:\r\n\r\n";

    #[test]
    fn decodes_any_split_and_stops_at_the_end() {
        let mut input = BODY.to_vec();
        input.extend_from_slice(b"GET / HTTP/1.1\r\n");
        for step in 1..=input.len() {
            for max in [1, 3, 4096] {
                let (body, left) = decode_all(&input, step, max).unwrap();
                assert_eq!(body, b"hello 0123456789abcdef", "step {step} max {max}");
                assert_eq!(left, 16, "the pipelined request is not consumed");
            }
        }
    }

    #[test]
    fn rejects_broken_framing() {
        let cases: &[&[u8]] = &[
            b"\r\n",                        // no size
            b"x\r\n",                       // not hex
            b"5\nhello\r\n0\r\n\r\n",       // bare LF after size
            b"5\rhello\r\n0\r\n\r\n",       // bare CR after size
            b"5\r\nhelloX\r\n0\r\n\r\n",    // data longer than the size
            b"5\r\nhello\n0\r\n\r\n",       // bare LF after data
            b"1x\r\na\r\n0\r\n\r\n",        // junk after the digits
            b"-1\r\n",                      // sign
            b"0x5\r\nhello\r\n0\r\n\r\n",   // 0x prefix
            b"11111111111111111\r\n",       // 17 digits
            b"1;a\0b\r\nx\r\n0\r\n\r\n",    // NUL in an extension
            b"0\r\n folded\r\n\r\n",        // obs-fold in trailers
            b"0\r\nno-colon\r\n\r\n",       // trailer without colon
            b"0\r\n: v\r\n\r\n",            // empty trailer name
            b"0\r\nA b: v\r\n\r\n",         // space in trailer name
            b"0\r\nA: v\rx\r\n\r\n",        // bare CR in trailer
            b"0\r\nA: \x01\r\n\r\n",        // control in trailer value
            b"0\r\n\n",                     // bare LF at the end
            b"5 \r\nhello\r\n0\r\n\r\n",    // whitespace but no extension
            b"5;\r\nhello\r\n0\r\n\r\n",    // `;` without a name
            b"5; =x\r\nhello\r\n0\r\n\r\n", // empty extension name
        ];
        for case in cases {
            let r = decode_all(case, case.len(), 4096);
            assert!(r.is_err(), "accepted {:?}", String::from_utf8_lossy(case));
            assert_eq!(r.unwrap_err().status(), http::StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn limits_size_digits_extension_and_trailers() {
        // 16 hex digits is the most; leading zeros count.
        let mut d = ChunkedDecoder::new(1024);
        assert!(d.decode(b"0000000000000001\r\n", 0).is_ok());
        let mut d = ChunkedDecoder::new(1024);
        assert!(d.decode(b"00000000000000001", 0).is_err());
        // An overflowing size is refused at the 17th digit, before any shift overflows.
        let mut d = ChunkedDecoder::new(1024);
        assert!(d.decode(b"ffffffffffffffff\r\n", 0).is_ok());

        let long_ext = format!("1;{}\r\n", "a".repeat(MAX_CHUNK_LINE));
        assert!(ChunkedDecoder::new(1024).decode(long_ext.as_bytes(), 0).is_err());
        let ok_ext = format!("1;{}\r\n", "a".repeat(MAX_CHUNK_LINE - 3));
        assert!(ChunkedDecoder::new(1024).decode(ok_ext.as_bytes(), 0).is_ok());

        let trailers = format!("0\r\nA: {}\r\n\r\n", "v".repeat(100));
        assert!(ChunkedDecoder::new(50).decode(trailers.as_bytes(), 0).is_err());
        let mut d = ChunkedDecoder::new(200);
        let r = d.decode(trailers.as_bytes(), 0).unwrap();
        assert!(d.is_done());
        assert_eq!(r.consumed, trailers.len());
    }

    #[test]
    fn extensions_are_bounded_per_body_not_only_per_line() {
        // Each line is within MAX_CHUNK_LINE; together they pass the total.
        let line = format!("1;{}\r\nx\r\n", "a".repeat(1000));
        let mut d = ChunkedDecoder::new(1024);
        let mut err = None;
        for i in 0..MAX_CHUNK_EXT_TOTAL / 1000 + 2 {
            let mut input = line.as_bytes();
            loop {
                match d.decode(input, usize::MAX) {
                    Ok(r) if r.consumed == 0 => break,
                    Ok(r) => input = &input[r.consumed..],
                    Err(e) => {
                        err = Some((i, e));
                        break;
                    }
                }
            }
            if err.is_some() {
                break;
            }
        }
        let (i, e) = err.expect("the extension total is enforced");
        // Plain chunks carry no extension bytes, however many there are.
        let mut d = ChunkedDecoder::new(1024);
        let many = "1\r\nx\r\n".repeat(2 * MAX_CHUNK_EXT_TOTAL);
        let mut input = many.as_bytes();
        while let Ok(r) = d.decode(input, usize::MAX) {
            if r.consumed == 0 {
                break;
            }
            input = &input[r.consumed..];
        }
        assert!(input.is_empty(), "2 * MAX_CHUNK_EXT_TOTAL plain chunks decode");
        assert_eq!(i, MAX_CHUNK_EXT_TOTAL / 1001, "refused at the line that passes the total");
        assert_eq!(e.status(), http::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_huge_chunk_streams_without_buffering() {
        let mut d = ChunkedDecoder::new(0);
        let r = d.decode(b"ffffffff\r\n", 8).unwrap();
        assert_eq!((r.consumed, r.data.len()), (10, 0));
        let data = vec![7u8; 1 << 16];
        let r = d.decode(&data, usize::MAX).unwrap();
        assert_eq!((r.consumed, r.data), (1 << 16, 0..1 << 16));
        assert!(!d.is_done());
    }

    #[test]
    fn chunk_headers_are_lowercase_hex() {
        for (len, want) in [(1, "1\r\n"), (15, "f\r\n"), (16, "10\r\n"), (0xabcdef, "abcdef\r\n")] {
            let mut out = Vec::new();
            write_chunk_header(&mut out, len);
            assert_eq!(out, want.as_bytes());
        }
    }
}
