//! Request-head parsing: httparse glue plus the RFC 9112 rules httparse leaves
//! to its caller.
//!
//! # Protocol
//!
//! The connection reads into a buffer and calls [`parse_request`] on everything
//! it has not consumed yet, after every read:
//!
//! 1. Leading empty lines are skipped (RFC 9112 §2.2 says a server SHOULD
//!    ignore at least one); they count towards [`MAX_HEADER_BYTES`].
//! 2. The request line is measured before anything is parsed, so a line over
//!    [`MAX_REQUEST_LINE`] is answered 414 even while its CRLF has not arrived.
//! 3. httparse parses at most [`MAX_HEADER_BYTES`] of the buffer. An incomplete
//!    head that already fills the limit is 431; otherwise it is
//!    [`Parsed::Partial`] and the caller reads more.
//! 4. A complete head is converted to `http` types and checked against the
//!    rules below. [`Parsed::Complete::head_len`] is where the body, or the next
//!    pipelined request, starts.
//!
//! Any error means the server answers [`Error::status`] and closes the
//! connection: once framing is in doubt no later byte can be trusted.
//!
//! # Strictness
//!
//! Wherever RFC 9112 lets a recipient choose between leniency and rejection,
//! this parser rejects, because a lenient server behind a strict proxy (or the
//! reverse) is how request smuggling works. Each rule and its section:
//!
//! | Input | Answer | RFC |
//! |---|---|---|
//! | bare LF as a line end | 400 | 9112 §2.2 (the "MAY recognize LF" leniency is not taken) |
//! | bare CR, NUL or other control in a field | 400 | 9112 §2.2, 9110 §5.5 |
//! | whitespace between start line and first field | 400 | 9112 §2.2 |
//! | more than one SP between request-line parts | 400 | 9112 §3 (the whitespace-splitting leniency is not taken) |
//! | whitespace between field name and colon | 400 | 9112 §5.1 |
//! | obs-fold (a field line starting with SP or HTAB) | 400 | 9112 §5.2 |
//! | version `HTTP/d.d` other than 1.0, 1.1 | 505 | 9110 §6.2, §15.6.6 |
//! | version not of the form `HTTP/d.d` | 400 | 9112 §2.3 |
//! | HTTP/1.1 without Host; any request with two Host lines or an invalid one | 400 | 9112 §3.2 |
//! | target form that does not suit the method (`*` only for OPTIONS, authority-form only and always for CONNECT) | 400 | 9112 §3.2.3, §3.2.4 |
//! | `#` in the target (no target form has a fragment; `http::Uri` would drop it silently) | 400 | 9112 §3.2 |
//! | a target byte RFC 3986 excludes (`\`, `{`, `}`, `|`, `^`, `"`, `` ` ``, `<`, `>`, non-ASCII) or a bad `%` escape | 400 | 9112 §3.2, 3986 §2 |
//! | userinfo (`u@`) in an absolute-form target, as in Host and CONNECT's authority | 400 | 9110 §4.2.4 |
//! | Content-Length and Transfer-Encoding together | 400 | 9112 §6.1, §6.3 rule 3 |
//! | Transfer-Encoding on HTTP/1.0 | 400 | 9112 §6.1 |
//! | Transfer-Encoding whose final coding is not `chunked`, or `chunked` twice | 400 | 9112 §6.3 rule 4, §7 |
//! | any transfer coding other than `chunked` (e.g. `gzip, chunked`) | 501 | 9112 §6.1 |
//! | Content-Length not `1*DIGIT`, overflowing u64, or duplicates that differ | 400 | 9112 §6.3 rule 5 |
//! | `Expect` other than `100-continue` on HTTP/1.1 | 417 | 9110 §10.1.1 |
//!
//! Duplicate Content-Length values that are all identical, whether as repeated
//! field lines or as a list (`5, 5`), are accepted and replaced by one field,
//! as RFC 9110 §8.6 permits; empty list elements (`5,`) are rejected, since
//! the field's own grammar is `1*DIGIT` and the list form only exists because
//! of such duplicates. Empty elements in Transfer-Encoding are rejected too.
//!
//! The rule order matters where one input breaks two rules: a Transfer-Encoding
//! whose final coding is not `chunked` is 400 (a MUST) before its unknown
//! codings would be 501 (a SHOULD).

use std::mem::MaybeUninit;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Uri, Version};

use crate::error::{Error, Kind};

/// Longest request line accepted, in bytes, not counting its CRLF. Longer is
/// answered 414 URI Too Long. RFC 9112 §3 recommends at least 8000 octets.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;

/// Most header fields accepted in one request head. More is answered
/// 431 Request Header Fields Too Large.
pub const MAX_HEADERS: usize = 100;

/// Most bytes accepted in one request head: leading empty lines, request
/// line, fields and the terminating empty line. More is answered 431.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Header slots tried on the stack before allocating `max_headers` of them.
const SMALL_HEADERS: usize = 24;

/// Size limits for a request head. `Limits::default()` uses [`MAX_REQUEST_LINE`],
/// [`MAX_HEADERS`] and [`MAX_HEADER_BYTES`]; the setters override one each.
///
/// ```
/// let limits = weft_http::Limits::default().max_headers(32).max_header_bytes(16 * 1024);
/// assert_eq!(limits.get_max_headers(), 32);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    max_request_line: usize,
    max_headers: usize,
    max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_request_line: MAX_REQUEST_LINE, max_headers: MAX_HEADERS, max_header_bytes: MAX_HEADER_BYTES }
    }
}

impl Limits {
    /// Longest request line, in bytes without CRLF (default [`MAX_REQUEST_LINE`]).
    pub fn max_request_line(mut self, bytes: usize) -> Limits {
        self.max_request_line = bytes;
        self
    }

    /// Most header fields (default [`MAX_HEADERS`]).
    pub fn max_headers(mut self, count: usize) -> Limits {
        self.max_headers = count;
        self
    }

    /// Most bytes in the whole head (default [`MAX_HEADER_BYTES`]).
    pub fn max_header_bytes(mut self, bytes: usize) -> Limits {
        self.max_header_bytes = bytes;
        self
    }

    /// The request-line limit in force.
    pub fn get_max_request_line(&self) -> usize {
        self.max_request_line
    }

    /// The header-count limit in force.
    pub fn get_max_headers(&self) -> usize {
        self.max_headers
    }

    /// The head-size limit in force.
    pub fn get_max_header_bytes(&self) -> usize {
        self.max_header_bytes
    }
}

/// How the request body is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body: neither Content-Length nor Transfer-Encoding (§6.3 rule 6).
    None,
    /// Exactly this many bytes follow the head.
    ContentLength(u64),
    /// The chunked transfer coding (RFC 9112 §7.1) follows the head.
    Chunked,
}

/// The outcome of [`parse_request`] on a buffer that did not break a rule.
// `Complete` is much larger than `Partial`, but a `Parsed` only ever travels
// by value out of one call and is matched at once; boxing `Parts` would cost
// an allocation per request to save a copy of a couple hundred bytes.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Parsed {
    /// The head is not complete yet and no limit is exceeded: read more bytes
    /// and call again with the whole buffer.
    Partial,
    /// A complete, valid request head.
    Complete {
        /// Method, URI, version and headers. `extensions` is empty.
        head: Parts,
        /// How the body that follows is delimited.
        framing: BodyFraming,
        /// Bytes of the buffer the head used; the body or the next pipelined
        /// request starts here.
        head_len: usize,
        /// Whether the connection may be reused after the response (RFC 9112
        /// §9.3): HTTP/1.1 unless `Connection: close`, HTTP/1.0 only with
        /// `Connection: keep-alive`.
        keep_alive: bool,
        /// `Expect: 100-continue` on HTTP/1.1: the client waits for a
        /// `100 Continue` before sending the body (RFC 9110 §10.1.1).
        expect_continue: bool,
    },
}

/// Parses one request head from the start of `buf`.
///
/// `buf` is everything received and not yet consumed; it may hold less than a
/// head ([`Parsed::Partial`]) or more (a body, pipelined requests). Pure: no
/// I/O, no state between calls.
///
/// ```
/// use weft_http::{parse_request, BodyFraming, Limits, Parsed};
///
/// let buf = b"POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi";
/// match parse_request(buf, &Limits::default()).unwrap() {
///     Parsed::Complete { head, framing, head_len, keep_alive, .. } => {
///         assert_eq!(head.method, http::Method::POST);
///         assert_eq!(framing, BodyFraming::ContentLength(2));
///         assert_eq!(&buf[head_len..], b"hi");
///         assert!(keep_alive);
///     }
///     Parsed::Partial => unreachable!(),
/// }
/// ```
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<Parsed, Error> {
    check_request_line(buf, limits.max_request_line)?;

    // httparse never looks past the head limit, so a slow drip of header bytes
    // costs at most `max_header_bytes` of scanning per call.
    let window = &buf[..buf.len().min(limits.max_header_bytes)];
    // Most requests have a few headers: try with a small array on the stack
    // and only allocate the full `max_headers` when that is too few.
    let config = strict_config();
    let mut small = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; SMALL_HEADERS];
    let mut large: Vec<MaybeUninit<httparse::Header<'_>>>;
    let mut req = httparse::Request::new(&mut []);
    let n = limits.max_headers.min(SMALL_HEADERS);
    let mut status = config.parse_request_with_uninit_headers(&mut req, window, &mut small[..n]);
    if matches!(status, Err(httparse::Error::TooManyHeaders)) && limits.max_headers > SMALL_HEADERS {
        large = (0..limits.max_headers).map(|_| MaybeUninit::uninit()).collect();
        req = httparse::Request::new(&mut []);
        status = config.parse_request_with_uninit_headers(&mut req, window, &mut large);
    }
    let status = status.map_err(|e| from_httparse(e, window))?;
    let head_len = match status {
        httparse::Status::Partial if buf.len() > limits.max_header_bytes => {
            return Err(Error::new(Kind::HeadTooLarge));
        }
        httparse::Status::Partial => return Ok(Parsed::Partial),
        httparse::Status::Complete(len) => len,
    };
    reject_bare_lf(&buf[..head_len])?;

    let version = match req.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(Error::new(Kind::Version)),
    };
    let method = req.method.unwrap_or_default();
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| Error::new(Kind::Method))?;
    let target = req.path.unwrap_or_default();
    let uri = parse_target(&method, target)?;

    // Build the map, noting on the way which framing-relevant fields are
    // present: comparing a standard name is an integer compare, so the
    // checks below look fields up only when they exist.
    let mut map = HeaderMap::with_capacity(req.headers.len());
    let (mut hosts, mut host) = (0usize, None);
    let (mut framing_fields, mut connection, mut expect) = (false, false, false);
    for h in req.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| Error::new(Kind::Header))?;
        let value = HeaderValue::from_bytes(h.value).map_err(|_| Error::new(Kind::Header))?;
        if name == header::HOST {
            hosts += 1;
            host = Some(h.value);
        } else if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            framing_fields = true;
        } else if name == header::CONNECTION {
            connection = true;
        } else if name == header::EXPECT {
            expect = true;
        }
        map.append(name, value);
    }

    check_host(hosts, host, version)?;
    let framing = if framing_fields { body_framing(&mut map, version)? } else { BodyFraming::None };
    let keep_alive = if connection { keep_alive(&map, version) } else { version == Version::HTTP_11 };
    let expect_continue = expect && expect_continue(&map, version)?;

    let (mut head, ()) = Request::new(()).into_parts();
    head.method = method;
    head.uri = uri;
    head.version = version;
    head.headers = map;
    Ok(Parsed::Complete { head, framing, head_len, keep_alive, expect_continue })
}

/// httparse's configuration, spelled out so the strict choices are visible
/// rather than inherited defaults. For requests, httparse 1.x hard-codes
/// "no whitespace before the colon" and "no obs-fold" (its `allow_*` options
/// for those apply to responses only), so they need no setting here.
fn strict_config() -> httparse::ParserConfig {
    let mut config = httparse::ParserConfig::default();
    config
        .allow_multiple_spaces_in_request_line_delimiters(false)
        .allow_space_before_first_header_name(false)
        .ignore_invalid_headers_in_requests(false);
    config
}

/// Answers 414 for a request line over `max`, whether or not its line end has
/// arrived. Leading empty lines are not part of the request line.
fn check_request_line(buf: &[u8], max: usize) -> Result<(), Error> {
    let mut rest = buf;
    while let [b'\r', b'\n', tail @ ..] | [b'\n', tail @ ..] = rest {
        rest = tail;
    }
    // Look no further than one byte past the limit plus CRLF.
    let scan = &rest[..rest.len().min(max + 2)];
    let line_len = match scan.iter().position(|&b| b == b'\n') {
        Some(lf) => lf,
        None => scan.len(),
    };
    // A CR just before the LF (or at the end, its LF still to come) belongs
    // to the line end, not the line.
    let line_len = if line_len > 0 && scan[line_len - 1] == b'\r' { line_len - 1 } else { line_len };
    if line_len > max {
        return Err(Error::new(Kind::RequestLineTooLong));
    }
    Ok(())
}

/// Maps an httparse error to ours. httparse reports every version it does
/// not know as `Version`; a well-formed `HTTP/d.d` naming another version is
/// 505, anything else there is a syntax error.
fn from_httparse(e: httparse::Error, buf: &[u8]) -> Error {
    match e {
        httparse::Error::TooManyHeaders => Error::new(Kind::TooManyHeaders),
        httparse::Error::Version if is_other_version(buf) => Error::new(Kind::Version),
        _ => Error::new(Kind::Syntax),
    }
}

/// Whether the request line's third part is `HTTP/d.d`, or a prefix of that
/// shape at least as far as the major digit (httparse stops at the first
/// byte that cannot be 1.0 or 1.1, so the rest may not have been read).
fn is_other_version(buf: &[u8]) -> bool {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len());
    let line = &buf[start..];
    let line = match line.iter().position(|&b| b == b'\r' || b == b'\n') {
        Some(end) => &line[..end],
        None => line,
    };
    let mut parts = line.splitn(3, |&b| b == b' ');
    let version = match (parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(_), Some(v)) => v,
        _ => return false,
    };
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, tail @ ..] if major.is_ascii_digit() => {
            matches!(tail, [] | [b'.'] | [b'.', b'0'..=b'9'])
        }
        _ => false,
    }
}

/// RFC 9112 §2.2: a line end is CRLF. httparse also accepts a lone LF, a
/// leniency the RFC allows and we decline. (A lone CR is already an
/// httparse error.)
pub(crate) fn reject_bare_lf(head: &[u8]) -> Result<(), Error> {
    // httparse refuses a CR not followed by LF, so in a head it accepted
    // every CR starts a CRLF: a bare LF exists exactly when there are more
    // LFs than CRs. Two counts vectorise; a look-behind per byte does not.
    let count = |c: u8| head.iter().filter(|&&b| b == c).count();
    if count(b'\n') != count(b'\r') {
        return Err(Error::new(Kind::Syntax));
    }
    Ok(())
}

/// Converts the request target and checks its form suits the method
/// (RFC 9112 §3.2), with no fragment: origin-form `/p?q`, absolute-form `http://a/p`,
/// authority-form `a:443` (CONNECT only, and CONNECT needs it), asterisk-form
/// `*` (OPTIONS only).
fn parse_target(method: &Method, target: &str) -> Result<Uri, Error> {
    let bad = || Error::new(Kind::Uri);
    if !valid_target_chars(target.as_bytes()) {
        return Err(bad());
    }
    let uri: Uri = target.parse().map_err(|_| bad())?;
    let connect = method == Method::CONNECT;
    let ok = if target == "*" {
        method == Method::OPTIONS
    } else if target.starts_with('/') {
        !connect
    } else if uri.scheme().is_some() {
        !connect && uri.authority().is_some_and(|a| !a.as_str().contains('@'))
    } else {
        // Authority-form: host and port, nothing else.
        connect
            && uri
                .authority()
                .is_some_and(|a| a.port_u16().is_some() && !a.as_str().contains('@') && a.as_str() == target)
    };
    if ok {
        Ok(uri)
    } else {
        Err(bad())
    }
}

/// RFC 9112 §3.2: HTTP/1.1 needs exactly one Host; no request may have two or
/// an invalid one. An empty Host is valid (a target without authority).
fn check_host(hosts: usize, host: Option<&[u8]>, version: Version) -> Result<(), Error> {
    match (hosts, host) {
        (0, _) if version == Version::HTTP_10 => Ok(()),
        (1, Some(h)) if h.is_empty() || valid_host(h) => Ok(()),
        _ => Err(Error::new(Kind::Host)),
    }
}

/// Whether every byte of a request target is one RFC 3986 allows in a URI
/// without a fragment: unreserved, sub-delims, `:/?@[]`, and `%` starting a
/// valid pct-encoding. `http::Uri` is more lenient (`{}|^"\`, non-ASCII,
/// `%zz`, a `#` it then drops); a backslash in particular is a smuggling
/// vector, since some back-ends read it as `/`.
fn valid_target_chars(t: &[u8]) -> bool {
    pct_encoded_or(t, |b| HOST_CHARS[usize::from(b)] || b":/?@[]".contains(&b))
}

/// Whether every byte of `s` is one `allowed` accepts or part of a `%`
/// followed by two hex digits (RFC 3986 §2.1 pct-encoded).
fn pct_encoded_or(s: &[u8], allowed: impl Fn(u8) -> bool) -> bool {
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            if !(i + 2 < s.len() && s[i + 1].is_ascii_hexdigit() && s[i + 2].is_ascii_hexdigit()) {
                return false;
            }
            i += 3;
        } else if allowed(s[i]) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// RFC 3986 unreserved and sub-delims characters: what a reg-name may hold
/// besides pct-encodings. A table, since every request's Host is scanned.
static HOST_CHARS: [bool; 256] = {
    let mut table = [false; 256];
    let extra = b"-._~!$&'()*+,;=";
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        table[extra[i] as usize] = true;
        i += 1;
    }
    table
};

/// RFC 3986 `host [ ":" port ]` with no userinfo: an IP-literal in brackets
/// or a reg-name / IPv4 address (unreserved, pct-encoded, sub-delims), then
/// optionally a port of 1 to 5 digits that fits a u16. A byte scan, since
/// it runs on every request.
fn valid_host(h: &[u8]) -> bool {
    let reg_name = |b: u8| HOST_CHARS[usize::from(b)];
    let (host, port) = if h.first() == Some(&b'[') {
        let Some(close) = h.iter().position(|&b| b == b']') else { return false };
        let inside = &h[1..close];
        let ok = !inside.is_empty() && inside.iter().all(|&b| reg_name(b) || b == b':');
        if !ok {
            return false;
        }
        (&h[..=close], &h[close + 1..])
    } else {
        let end = h.iter().position(|&b| b == b':').unwrap_or(h.len());
        (&h[..end], &h[end..])
    };
    if host.is_empty() {
        return false;
    }
    if host.first() != Some(&b'[') && !pct_encoded_or(host, reg_name) {
        return false;
    }
    match port {
        [] => true,
        [b':', digits @ ..] => {
            (1..=5).contains(&digits.len())
                && digits.iter().all(u8::is_ascii_digit)
                && digits.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0')) <= u32::from(u16::MAX)
        }
        _ => false,
    }
}

/// RFC 9112 §6.3: decides the body framing, rejecting every ambiguity.
/// Identical duplicate Content-Lengths are collapsed into one field in `map`.
fn body_framing(map: &mut HeaderMap, version: Version) -> Result<BodyFraming, Error> {
    let has_te = map.contains_key(header::TRANSFER_ENCODING);
    let has_cl = map.contains_key(header::CONTENT_LENGTH);
    if has_te && has_cl {
        return Err(Error::new(Kind::ConflictingFraming));
    }
    if has_te {
        if version == Version::HTTP_10 {
            return Err(Error::new(Kind::TransferEncoding));
        }
        return transfer_encoding(map).map(|()| BodyFraming::Chunked);
    }
    if has_cl {
        let len = content_length(map)?;
        map.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        return Ok(BodyFraming::ContentLength(len));
    }
    Ok(BodyFraming::None)
}

/// All Transfer-Encoding lines form one list (RFC 9110 §5.3). It must end in
/// `chunked` (400), name `chunked` once (400), and name nothing else (501).
/// An empty or non-ASCII element is 400.
fn transfer_encoding(map: &HeaderMap) -> Result<(), Error> {
    let bad = || Error::new(Kind::TransferEncoding);
    let codings = transfer_codings(map).ok_or_else(bad)?;
    if !codings.ascii || !codings.last_is_chunked || codings.chunked > 1 {
        return Err(bad());
    }
    if codings.count > 1 {
        return Err(Error::new(Kind::UnsupportedCoding));
    }
    Ok(())
}

/// What a Transfer-Encoding list holds, as far as framing cares. Requests
/// (here) and responses (`client/response.rs`) apply different rules to it.
pub(crate) struct Codings {
    /// Elements in the list.
    pub(crate) count: usize,
    /// How many of them are `chunked`.
    pub(crate) chunked: usize,
    /// Whether the final coding is `chunked` (RFC 9112 §6.3 rule 4).
    pub(crate) last_is_chunked: bool,
    /// Whether every element is ASCII.
    pub(crate) ascii: bool,
}

/// Scans all Transfer-Encoding lines as one list in one pass; `None` if an
/// element is empty.
pub(crate) fn transfer_codings(map: &HeaderMap) -> Option<Codings> {
    let mut codings = Codings { count: 0, chunked: 0, last_is_chunked: false, ascii: true };
    for value in map.get_all(header::TRANSFER_ENCODING) {
        for element in value.as_bytes().split(|&b| b == b',') {
            let element = element.trim_ascii();
            if element.is_empty() {
                return None;
            }
            codings.last_is_chunked = element.eq_ignore_ascii_case(b"chunked");
            codings.chunked += usize::from(codings.last_is_chunked);
            codings.ascii &= element.is_ascii();
            codings.count += 1;
        }
    }
    Some(codings)
}

/// All Content-Length lines and list elements must be `1*DIGIT`, fit in u64,
/// and agree (RFC 9112 §6.3 rule 5, RFC 9110 §8.6).
pub(crate) fn content_length(map: &HeaderMap) -> Result<u64, Error> {
    let bad = || Error::new(Kind::ContentLength);
    let mut len = None;
    for value in map.get_all(header::CONTENT_LENGTH) {
        for element in value.as_bytes().split(|&b| b == b',') {
            let element = element.trim_ascii();
            if element.is_empty() || !element.iter().all(u8::is_ascii_digit) {
                return Err(bad());
            }
            let mut n: u64 = 0;
            for &d in element {
                n = n.checked_mul(10).and_then(|n| n.checked_add(u64::from(d - b'0'))).ok_or_else(bad)?;
            }
            match len {
                Some(prev) if prev != n => return Err(bad()),
                _ => len = Some(n),
            }
        }
    }
    len.ok_or_else(bad)
}

/// Whether a comma-separated field value lists `token`, compared
/// case-insensitively.
pub(crate) fn has_token(value: &HeaderValue, token: &[u8]) -> bool {
    value.as_bytes().split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// RFC 9112 §9.3: HTTP/1.1 persists unless `close`; HTTP/1.0 only with
/// `keep-alive`, and never with `close`.
pub(crate) fn keep_alive(map: &HeaderMap, version: Version) -> bool {
    let connection = |token: &[u8]| map.get_all(header::CONNECTION).iter().any(|v| has_token(v, token));
    if connection(b"close") {
        return false;
    }
    version == Version::HTTP_11 || connection(b"keep-alive")
}

/// RFC 9110 §10.1.1: on HTTP/1.1, `100-continue` is the only expectation
/// (others are 417); HTTP/1.0 expectations are ignored.
fn expect_continue(map: &HeaderMap, version: Version) -> Result<bool, Error> {
    if version != Version::HTTP_11 {
        return Ok(false);
    }
    let mut any = false;
    for value in map.get_all(header::EXPECT) {
        for element in value.as_bytes().split(|&b| b == b',') {
            if !element.trim_ascii().eq_ignore_ascii_case(b"100-continue") {
                return Err(Error::new(Kind::Expectation));
            }
            any = true;
        }
    }
    Ok(any)
}

#[cfg(test)]
mod tests;
