//! The request parser's invariants as executable checks, shared by the fuzz
//! targets in `http/fuzz/` and by the stable corpus test beside this file.
//!
//! Not an API: compiled only under `cfg(test)` and with the `invariants`
//! feature, which only the fuzz crate turns on. Every check panics on a
//! violation, which is how libFuzzer and `#[test]` both learn of it.
//!
//! # Why here
//!
//! libFuzzer needs a nightly compiler for its sanitizers and a C++ toolchain,
//! and CI may have neither; the invariants are the valuable part, and they
//! need neither. Keeping them in the crate (rather than in the fuzz crate, or
//! `#[path]`-included twice) means one copy, linted with the workspace, that a
//! plain `cargo test` runs over the seed corpus and mutations of it.
//!
//! # Input layout
//!
//! Both targets read the same layout, so one seed file works for either:
//!
//! | bytes | meaning |
//! |---|---|
//! | 0 | tiny `max_request_line`: the byte, 0..=255 |
//! | 1 | tiny `max_headers`: the byte mod 32 |
//! | 2 | tiny `max_header_bytes`: the byte times 4, 0..=1020 |
//! | 3, 4 | pipeline split point: little-endian u16, mod (payload length + 1) |
//! | 5.. | the payload: bytes as a client sent them |
//!
//! Inputs shorter than [`CONTROL_LEN`] are skipped.
//!
//! # What is checked
//!
//! [`check_request`] parses the payload with `Limits::default()` and with the
//! tiny limits, and for each outcome:
//!
//! 1. Errors answer 400, 414, 417, 431, 501 or 505, and the `is_*` queries
//!    agree with the status.
//! 2. `Partial` respects the limits (the buffer fits `max_header_bytes`, the
//!    request line so far fits `max_request_line`), and prefixes of the buffer
//!    are `Partial` too.
//! 3. `Complete` is re-derived from the raw bytes by an independent, simpler
//!    reading of RFC 9112: `head_len` ends the first CRLFCRLF; the head has no
//!    bare CR or LF and no control bytes; the request line is three parts
//!    separated by single spaces, with a target of a form that suits the
//!    method, kept verbatim if origin-form, and without userinfo; every field
//!    name is a token; the header map holds exactly the field lines' values;
//!    Host, Content-Length, Transfer-Encoding, Connection and Expect mean what
//!    `parse.rs` documents.
//!    Parsing `&buf[..head_len]` alone gives the same result, and prefixes of
//!    the head are `Partial`: a valid request must never be rejected, or
//!    accepted differently, because it arrived in pieces.
//! 4. Tightening the limits only ever turns an outcome into a 414 or 431:
//!    otherwise the default and tiny outcomes are equal, up to the known
//!    weaknesses below.
//!
//! [`check_pipeline`] feeds the payload to a model of the server's read loop
//! in one write and in two (split at the control bytes' point) and checks
//! both saw the same sequence of heads and the same final error (up to the
//! known weaknesses) or the same number of bytes waiting.
//!
//! # Known weaknesses
//!
//! Some rejections depend on how much of the request line has arrived, so
//! the same byte stream can be answered with different statuses depending on
//! how it was segmented. Either way the request is rejected and the
//! connection closed, so no request is accepted differently; only the status
//! varies. `same_rejection` tolerates exactly these pairs, and a test in
//! `invariants/tests.rs` pins an example of each:
//!
//! - 414 against 400 or 505: the 414 rule measures the whole buffer before
//!   httparse looks at it, so a syntax error that had arrived before the line
//!   passed the limit wins, and one that arrives after loses (`GET /aaaa\t`
//!   then `aaaaaa` with a 10-byte limit: 400 in two writes, 414 in one).
//! - 414 against 431: with `max_header_bytes` below `max_request_line`, a
//!   long line passes the head limit first if it arrives in pieces (431),
//!   the line limit first if it arrives at once (414).
//! - 505 against 400: a version error is 505 if what follows `HTTP/` so far
//!   could still be `d.d`, so `HTTP/2` is 505 and `HTTP/2x` is 400.

use http::header::{self, HeaderMap};
use http::{Method, Uri, Version};

use crate::error::Kind;
use crate::{parse_request, BodyFraming, Error, Limits, Parsed};

/// Bytes at the front of each fuzz input that configure the run rather than
/// being sent (see the module docs' layout table).
pub const CONTROL_LEN: usize = 5;

/// One fuzz input, decoded.
#[derive(Debug)]
pub struct Input<'a> {
    /// Small limits derived from the control bytes.
    pub tiny: Limits,
    /// Where [`check_pipeline`] splits the payload into two writes.
    pub split: usize,
    /// The bytes a client sent.
    pub payload: &'a [u8],
}

impl Input<'_> {
    /// Splits `data` into control bytes and payload; `None` if it is shorter
    /// than [`CONTROL_LEN`].
    pub fn decode(data: &[u8]) -> Option<Input<'_>> {
        let (control, payload) = data.split_at_checked(CONTROL_LEN)?;
        let tiny = Limits::default()
            .max_request_line(usize::from(control[0]))
            .max_headers(usize::from(control[1] % 32))
            .max_header_bytes(usize::from(control[2]) * 4);
        let split = usize::from(u16::from_le_bytes([control[3], control[4]])) % (payload.len() + 1);
        Some(Input { tiny, split, payload })
    }
}

/// What the default-limits parse of a payload gave, so tests can tell that
/// their inputs reach all three outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// `Ok(Parsed::Partial)`.
    Partial,
    /// `Ok(Parsed::Complete { .. })`.
    Complete,
    /// `Err(_)`.
    Error,
}

/// Checks invariants 1 to 4 of the module docs on one fuzz input. Returns
/// what the default limits made of the payload, `None` for a short input.
pub fn check_request(data: &[u8]) -> Option<Seen> {
    let input = Input::decode(data)?;
    let default = check_one(input.payload, &Limits::default());
    let tiny = check_one(input.payload, &input.tiny);
    check_tighter_limits(input.payload, &default, &tiny);
    Some(match default {
        Outcome::Partial => Seen::Partial,
        Outcome::Complete(_) => Seen::Complete,
        Outcome::Error(_) => Seen::Error,
    })
}

/// Checks that the server's read loop sees the same requests whether the
/// payload arrives in one write or in two, with both sets of limits.
pub fn check_pipeline(data: &[u8]) {
    let Some(input) = Input::decode(data) else { return };
    let (first, second) = input.payload.split_at(input.split);
    for limits in [Limits::default(), input.tiny] {
        let whole = serve(&[input.payload], &limits);
        let split = serve(&[first, second], &limits);
        let same_end = match (&split.end, &whole.end) {
            (End::Closed(a), End::Closed(b)) => same_rejection(*a, *b),
            (a, b) => a == b,
        };
        assert!(
            split.heads == whole.heads && same_end,
            "split at {} of {:?} with {limits:?}:\n  two writes saw {split:?}\n  one write saw {whole:?}",
            input.split,
            Lossy(input.payload)
        );
    }
}

/// A fixed-seed xorshift64, for deterministic sampling and mutation without
/// a `rand` dependency.
#[derive(Clone, Debug)]
pub struct XorShift(pub u64);

impl XorShift {
    /// The next value; the seed must not be 0.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `0..n`; `n` must not be 0.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

// --- outcomes -----------------------------------------------------------------

/// A parse result that can be compared: `Parts` and `Error` are not
/// `PartialEq`, so the head is taken apart and the error kept as its kind.
/// The head is boxed, being some 240 bytes against the others' one.
#[derive(Debug, PartialEq)]
enum Outcome {
    Partial,
    Complete(Box<Head>),
    Error(Kind),
}

/// `Parsed::Complete`'s fields, with `Parts` taken apart.
#[derive(Debug, PartialEq)]
struct Head {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    framing: BodyFraming,
    head_len: usize,
    keep_alive: bool,
    expect_continue: bool,
}

/// Parses and checks invariant 1 on any error.
fn outcome(buf: &[u8], limits: &Limits) -> Outcome {
    match parse_request(buf, limits) {
        Ok(Parsed::Partial) => Outcome::Partial,
        Ok(Parsed::Complete { head, framing, head_len, keep_alive, expect_continue }) => {
            Outcome::Complete(Box::new(Head {
                method: head.method,
                uri: head.uri,
                version: head.version,
                headers: head.headers,
                framing,
                head_len,
                keep_alive,
                expect_continue,
            }))
        }
        Err(e) => {
            check_error(&e);
            Outcome::Error(e.kind())
        }
    }
}

/// Invariant 1: the status is one the parser documents, and the queries
/// agree with it.
fn check_error(e: &Error) {
    let status = e.status().as_u16();
    assert!(matches!(status, 400 | 414 | 417 | 431 | 501 | 505), "{e:?} answers {status}");
    assert_eq!(e.is_parse(), status == 400, "{e:?}");
    assert_eq!(e.is_too_large(), matches!(status, 414 | 431), "{e:?}");
    assert_eq!(e.is_version(), status == 505, "{e:?}");
    assert_eq!(e.is_unsupported_coding(), status == 501, "{e:?}");
    assert_eq!(e.is_expectation(), status == 417, "{e:?}");
    if e.is_framing() {
        assert!(matches!(status, 400 | 501), "{e:?}");
    }
}

/// Parses `buf` and checks invariants 1 to 3 on the outcome.
fn check_one(buf: &[u8], limits: &Limits) -> Outcome {
    let out = outcome(buf, limits);
    match &out {
        Outcome::Partial => check_partial(buf, limits),
        Outcome::Complete(head) => check_complete(buf, limits, head),
        Outcome::Error(_) => {}
    }
    out
}

/// Invariant 2.
fn check_partial(buf: &[u8], limits: &Limits) {
    assert!(buf.len() <= limits.get_max_header_bytes(), "Partial past the head limit: {:?}", Lossy(buf));
    let line = request_line_so_far(buf);
    assert!(line <= limits.get_max_request_line(), "Partial with a {line}-byte request line: {:?}", Lossy(buf));
    for k in sample_prefixes(buf) {
        let prefix = outcome(&buf[..k], limits);
        assert!(prefix == Outcome::Partial, "prefix {k} of Partial {:?} gave {prefix:?}", Lossy(buf));
    }
}

/// Invariant 3.
fn check_complete(buf: &[u8], limits: &Limits, got: &Head) {
    let head_len = got.head_len;
    assert!(head_len > 0 && head_len <= buf.len(), "head_len {head_len} of {}", buf.len());
    assert!(head_len <= limits.get_max_header_bytes(), "head_len {head_len} past the head limit");
    let head = &buf[..head_len];
    let lead = head.chunks(2).take_while(|pair| *pair == b"\r\n").count() * 2;
    let end = head[lead..].windows(4).position(|w| w == b"\r\n\r\n").map(|i| lead + i + 4);
    assert_eq!(end, Some(head_len), "head_len is not the first CRLFCRLF in {:?}", Lossy(head));
    for (i, &b) in head.iter().enumerate() {
        let crlf = (b == b'\r' && head.get(i + 1) == Some(&b'\n')) || (b == b'\n' && i > 0 && head[i - 1] == b'\r');
        let allowed = crlf || b == b'\t' || (b >= 0x20 && b != 0x7f);
        assert!(allowed, "byte {b:#04x} at {i} in accepted head {:?}", Lossy(head));
    }

    let raw = RawHead::split(head);
    check_request_line(&raw, limits, got);
    assert!(raw.fields.len() <= limits.get_max_headers(), "{} fields accepted", raw.fields.len());
    for (name, value) in &raw.fields {
        assert!(!name.is_empty() && name.iter().all(|&b| is_tchar(b)), "field name {:?}", Lossy(name));
        assert!(value.iter().all(|&b| b == b'\t' || b >= 0x20), "field value {:?}", Lossy(value));
    }
    check_header_map(&raw, got);
    check_framing(&raw, got);

    let v11 = got.version == Version::HTTP_11;
    let hosts = raw.values("host").count();
    assert!(hosts <= 1 && (hosts == 1 || !v11), "{hosts} Host fields accepted on {:?}", got.version);
    assert!(raw.values("host").all(|h| !h.contains(&b'@')), "userinfo accepted in Host");
    let connection: Vec<&[u8]> = raw.elements("connection").collect();
    let close = connection.iter().any(|t| t.eq_ignore_ascii_case(b"close"));
    let keep_alive = connection.iter().any(|t| t.eq_ignore_ascii_case(b"keep-alive"));
    assert_eq!(got.keep_alive, !close && (v11 || keep_alive), "keep_alive with Connection {connection:?}");
    let expect: Vec<&[u8]> = raw.elements("expect").collect();
    if v11 {
        assert!(expect.iter().all(|e| e.eq_ignore_ascii_case(b"100-continue")), "Expect {expect:?} accepted");
    }
    assert_eq!(got.expect_continue, v11 && !expect.is_empty(), "expect_continue with Expect {expect:?}");

    // The head alone parses the same; what followed it did not matter.
    let alone = outcome(head, limits);
    assert!(matches!(&alone, Outcome::Complete(h) if **h == *got), "head alone gave {alone:?}, whole gave {got:?}");
    for k in sample_prefixes(head) {
        let prefix = outcome(&head[..k], limits);
        assert!(prefix == Outcome::Partial, "prefix {k} of valid {:?} gave {prefix:?}", Lossy(head));
    }
}

/// The request line: three non-empty parts and single spaces (RFC 9112 §3),
/// a version of 1.0 or 1.1, and a target form that suits the method.
fn check_request_line(raw: &RawHead<'_>, limits: &Limits, got: &Head) {
    let line = raw.request_line;
    assert!(line.len() <= limits.get_max_request_line(), "{}-byte request line accepted", line.len());
    let parts: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let [method, target, version] = parts[..] else { panic!("request line {:?} accepted", Lossy(line)) };
    assert_eq!(method, got.method.as_str().as_bytes());
    let want = if got.version == Version::HTTP_11 { &b"HTTP/1.1"[..] } else { b"HTTP/1.0" };
    assert!(matches!(got.version, Version::HTTP_10 | Version::HTTP_11) && version == want, "{:?}", Lossy(line));

    let connect = got.method == Method::CONNECT;
    let uri = &got.uri;
    if target == b"*" {
        assert_eq!(got.method, Method::OPTIONS, "asterisk-form for {}", got.method);
    } else if target.starts_with(b"/") {
        assert!(!connect, "origin-form for CONNECT");
        let kept = uri.path_and_query().map(|p| p.as_str().as_bytes());
        assert_eq!(kept, Some(target), "origin-form target {:?} kept as {uri}", Lossy(target));
    } else if connect {
        let authority = uri.authority().map(|a| a.as_str().as_bytes());
        assert!(uri.scheme().is_none() && authority == Some(target), "CONNECT to {:?}", Lossy(target));
    } else {
        assert!(uri.scheme().is_some() && uri.authority().is_some(), "target {:?} for {}", Lossy(target), got.method);
    }
    // RFC 9110 §4.2.4: userinfo in a target URI is an error, as in Host.
    assert!(uri.authority().is_none_or(|a| !a.as_str().contains('@')), "userinfo accepted in {uri}");
}

/// The header map holds exactly the field lines, in order, except that
/// Content-Length is collapsed to one field.
fn check_header_map(raw: &RawHead<'_>, got: &Head) {
    let cl_lines = raw.values("content-length").count();
    let want_len = raw.fields.len() - cl_lines + usize::from(cl_lines > 0);
    assert_eq!(got.headers.len(), want_len, "header map of {:?}", got.headers);
    for (name, _) in &raw.fields {
        let name = std::str::from_utf8(name).expect("a token is ASCII");
        if name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        let want: Vec<&[u8]> = raw.values(name).collect();
        let kept: Vec<&[u8]> = got.headers.get_all(name).iter().map(|v| v.as_bytes()).collect();
        assert_eq!(kept, want, "values of {name}");
    }
}

/// Framing follows RFC 9112 §6.3 with every ambiguity rejected: Content-Length
/// only if every element of every line is the same `1*DIGIT` and there is no
/// Transfer-Encoding; chunked only on HTTP/1.1, without Content-Length, and
/// with `chunked` as the one and only coding; otherwise neither field.
fn check_framing(raw: &RawHead<'_>, got: &Head) {
    let cl: Vec<&[u8]> = raw.elements("content-length").collect();
    let te: Vec<&[u8]> = raw.elements("transfer-encoding").collect();
    let cl_lines = raw.values("content-length").count();
    let te_lines = raw.values("transfer-encoding").count();
    match got.framing {
        BodyFraming::ContentLength(n) => {
            assert!(te_lines == 0 && cl_lines > 0, "ContentLength({n}) with TE {te:?}");
            for element in &cl {
                let digits = !element.is_empty() && element.iter().all(u8::is_ascii_digit);
                let value = std::str::from_utf8(element).ok().and_then(|s| s.parse::<u64>().ok());
                assert!(digits && value == Some(n), "ContentLength({n}) from Content-Length {cl:?}");
            }
            let kept: Vec<&[u8]> = got.headers.get_all(header::CONTENT_LENGTH).iter().map(|v| v.as_bytes()).collect();
            assert_eq!(kept, [n.to_string().as_bytes()], "Content-Length kept for {n}");
        }
        BodyFraming::Chunked => {
            assert!(cl_lines == 0 && got.version == Version::HTTP_11, "Chunked with CL {cl:?} on {:?}", got.version);
            assert!(te.len() == 1 && te[0].eq_ignore_ascii_case(b"chunked"), "Chunked from TE {te:?}");
        }
        BodyFraming::None => assert!(cl_lines == 0 && te_lines == 0, "no framing with CL {cl:?}, TE {te:?}"),
    }
}

/// Invariant 4: tighter limits may turn any outcome into 414 or 431, and
/// change nothing else.
fn check_tighter_limits(buf: &[u8], default: &Outcome, tiny: &Outcome) {
    let same = match (default, tiny) {
        (_, Outcome::Error(t)) if Error::new(*t).is_too_large() => true,
        (Outcome::Error(d), Outcome::Error(t)) => same_rejection(*d, *t),
        _ => tiny == default,
    };
    assert!(same, "tiny limits gave {tiny:?}, default {default:?} for {:?}", Lossy(buf));
}

/// Whether two rejections of the same bytes, seen in different pieces or
/// with different limits, agree: the same kind, or one of the two pairs the
/// module docs list as known weaknesses.
fn same_rejection(a: Kind, b: Kind) -> bool {
    let either = |x: Kind, y: &[Kind]| (a == x && y.contains(&b)) || (b == x && y.contains(&a));
    a == b
        || either(Kind::RequestLineTooLong, &[Kind::Syntax, Kind::Version, Kind::HeadTooLarge])
        || either(Kind::Version, &[Kind::Syntax])
}

// --- the server's read loop ---------------------------------------------------

/// What one connection's read loop saw: the heads in order, then how it
/// ended.
#[derive(Debug, PartialEq)]
struct Served {
    heads: Vec<Head>,
    end: End,
}

#[derive(Debug, PartialEq)]
enum End {
    /// An error closed the connection; unread bytes do not matter.
    Closed(Kind),
    /// The writes ran out with this many bytes buffered, waiting for more.
    Waiting(usize),
}

/// Models the server: append each write to the buffer, then parse until
/// Partial; a head is consumed (`head_len` bytes) and parsing goes on with
/// what follows it; an error closes the connection. Bodies are not skipped,
/// so body bytes are parsed as the next request: harsher on the parser than
/// a real connection, and just as deterministic.
fn serve(writes: &[&[u8]], limits: &Limits) -> Served {
    let mut buf = Vec::new();
    let mut heads = Vec::new();
    for write in writes {
        buf.extend_from_slice(write);
        loop {
            match outcome(&buf, limits) {
                Outcome::Partial => break,
                Outcome::Complete(head) => {
                    assert!(head.head_len > 0, "Complete with an empty head");
                    buf.drain(..head.head_len);
                    heads.push(*head);
                }
                Outcome::Error(kind) => return Served { heads, end: End::Closed(kind) },
            }
        }
    }
    Served { heads, end: End::Waiting(buf.len()) }
}

// --- an independent reading of the head --------------------------------------

/// A complete head split by the plainest reading of RFC 9112 §2.1: optional
/// leading CRLFs, the request line, field lines `name ":" OWS value OWS`,
/// each ended by CRLF, then an empty line. Only used on heads already checked
/// to have no bare CR or LF.
struct RawHead<'a> {
    request_line: &'a [u8],
    fields: Vec<(&'a [u8], &'a [u8])>,
}

impl<'a> RawHead<'a> {
    fn split(head: &'a [u8]) -> RawHead<'a> {
        let mut rest = head;
        while let Some(tail) = rest.strip_prefix(b"\r\n") {
            rest = tail;
        }
        let rest = rest.strip_suffix(b"\r\n\r\n").expect("a head ends with CRLFCRLF");
        let mut lines = rest.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let request_line = lines.next().unwrap_or_default();
        let fields = lines
            .map(|line| {
                let colon = line.iter().position(|&b| b == b':');
                let colon = colon.unwrap_or_else(|| panic!("field line {:?} without a colon", Lossy(line)));
                (&line[..colon], trim_ows(&line[colon + 1..]))
            })
            .collect();
        RawHead { request_line, fields }
    }

    /// The values of every field line named `name`, in order.
    fn values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a [u8]> + 's {
        self.fields.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes())).map(|&(_, v)| v)
    }

    /// The comma-separated elements of every field line named `name`, trimmed
    /// of optional whitespace, empty ones included.
    fn elements<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a [u8]> + 's {
        self.values(name).flat_map(|v| v.split(|&b| b == b',').map(trim_ows))
    }
}

/// Strips OWS (SP and HTAB, RFC 9110 §5.6.3) from both ends.
fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// RFC 9110 §5.6.2.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Length of the request line received so far, as the 414 rule measures it:
/// leading empty lines skipped, a CR that may start the line end not counted.
fn request_line_so_far(buf: &[u8]) -> usize {
    let mut rest = buf;
    while let Some(tail) = rest.strip_prefix(b"\r\n").or_else(|| rest.strip_prefix(b"\n")) {
        rest = tail;
    }
    let line = rest.split(|&b| b == b'\n').next().unwrap_or_default();
    line.strip_suffix(b"\r").unwrap_or(line).len()
}

/// Prefix lengths `k < buf.len()` to re-parse: all of them for short buffers,
/// else the first and last few and a handful between, chosen by a hash of the
/// buffer so a fuzz input always samples the same ones.
fn sample_prefixes(buf: &[u8]) -> Vec<usize> {
    const ALL_BELOW: usize = 48;
    const EDGE: usize = 6;
    const MIDDLE: usize = 10;
    let len = buf.len();
    if len <= ALL_BELOW {
        return (0..len).collect();
    }
    let hash = buf.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let mut rng = XorShift(hash | 1);
    let mut ks: Vec<usize> = (0..EDGE).chain(len - EDGE..len).collect();
    ks.extend((0..MIDDLE).map(|_| EDGE + rng.below(len - 2 * EDGE)));
    ks
}

/// Debug-prints bytes as a string, for assertion messages.
struct Lossy<'a>(&'a [u8]);

impl std::fmt::Debug for Lossy<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

#[cfg(test)]
mod tests;
