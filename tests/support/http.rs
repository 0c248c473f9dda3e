//! Helpers for the weft-http server tests: a server started on a given
//! runtime, a raw-bytes client with a strict response reader, request
//! builders, and the test handlers.
//!
//! The client speaks bytes, not an HTTP library: every test decides exactly
//! what goes on the wire, and the reader checks what comes back against
//! RFC 9112 strictly (CRLF line ends only, one framing, a body exactly as
//! long as its framing says), so a malformed response fails the test even
//! when the test only looks at the status.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::http::{Method, Request, StatusCode};
use weft::net::TcpStream;
use weft_http::{Body, Handler, Payload, Server, ServerBuilder, ServerHandle};

/// Longest any test of these binaries may run (each test covers two
/// runtimes): a hang becomes a failure with a message.
pub const TEST_LIMIT: Duration = Duration::from_secs(60);

/// Longest a client read waits: a hang guard far above anything a passing
/// test waits for, never a measure of speed.
pub const READ_GUARD: Duration = Duration::from_secs(20);

/// A timeout small enough to keep the tests quick; tests only ever assert
/// that at least this much time passed.
pub const SHORT: Duration = Duration::from_millis(200);

/// Runs `f` on a 1-worker and on a 2-worker runtime, each named
/// `{name}-w{workers}` (worker threads `{name}-w{workers}-{i}`), bounded
/// by [`TEST_LIMIT`].
pub fn each_runtime(name: &'static str, f: impl Fn(&weft::Runtime) + Send + 'static) {
    super::bounded(TEST_LIMIT, name, move || super::with_each_runtime(name, f));
}

/// A server serving on a runtime, bound to a loopback port.
pub struct TestServer {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    serve: Option<weft::JoinHandle<io::Result<()>>>,
}

impl TestServer {
    /// Binds `builder` on 127.0.0.1 and runs `serve(handler)` as a green
    /// thread of `rt`, so its connections are green threads of `rt` too.
    pub fn start(rt: &weft::Runtime, builder: ServerBuilder, handler: impl Handler) -> TestServer {
        let server = builder.bind("127.0.0.1:0").expect("bind the server");
        let addr = server.local_addr();
        let handle = server.handle();
        let serve = rt.spawn(move || server.serve(handler));
        TestServer { addr, handle, serve: Some(serve) }
    }

    /// A server with the default limits.
    pub fn with_defaults(rt: &weft::Runtime, handler: impl Handler) -> TestServer {
        TestServer::start(rt, Server::builder(), handler)
    }

    /// A new client connection.
    pub fn client(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Shuts the server down and checks that `serve` returns `Ok`. Close
    /// the test's clients first: `serve` waits for every connection.
    pub fn stop(mut self) {
        self.handle.shutdown();
        let serve = self.serve.take().expect("stopped once");
        match serve.join() {
            Ok(result) => result.expect("serve failed"),
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }

    /// Waits for `serve` to return after a shutdown started elsewhere.
    pub fn join(mut self) -> io::Result<()> {
        match self.serve.take().expect("joined once").join() {
            Ok(result) => result,
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }
}

impl Drop for TestServer {
    /// A test that failed before `stop` leaves the server to the runtime's
    /// drop, which unwinds it; shutting down first closes idle connections.
    fn drop(&mut self) {
        if self.serve.is_some() {
            self.handle.shutdown();
        }
    }
}

/// One response as received.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// Field lines in order, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body came with `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// The body had no framing and ended with the connection.
    pub close_delimited: bool,
}

impl Response {
    /// The value of field `name` (any case); panics if it appears twice.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut values = self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
        let first = values.next().map(|(_, v)| v.as_str());
        assert!(values.next().is_none(), "field {name} appears twice in {self:?}");
        first
    }

    /// Whether the response announces `Connection: close`.
    pub fn closes(&self) -> bool {
        self.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }

    /// The `Content-Length`, if any.
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length").map(|v| v.parse().expect("a numeric content-length"))
    }

    /// The body as text (the test handlers answer text).
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("a UTF-8 body")
    }

    /// Panics unless the status is `status`, showing the whole response.
    pub fn assert_status(&self, status: u16) -> &Response {
        assert_eq!(
            self.status,
            status,
            "unexpected status in {self:?} (body {:?})",
            String::from_utf8_lossy(&self.body)
        );
        self
    }
}

/// A raw client connection: writes bytes, reads responses strictly.
/// Works on a plain thread (blocking) and in a green thread (parking).
pub struct Client {
    stream: TcpStream,
    /// Received bytes not yet parsed into a response.
    buf: Vec<u8>,
    /// The server closed its side.
    eof: bool,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect to the server");
        stream.set_read_timeout(Some(READ_GUARD)).expect("set the hang guard");
        stream.set_nodelay(true).expect("nodelay");
        Client { stream, buf: Vec::new(), eof: false }
    }

    /// The socket, for tests that shut it or time it.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Writes all of `bytes` in one `write_all`.
    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        (&self.stream).write_all(bytes.as_ref()).expect("send to the server");
    }

    /// Sends `bytes` and reads one response (to a request other than HEAD).
    pub fn request(&mut self, bytes: impl AsRef<[u8]>) -> Response {
        self.send(bytes);
        self.response()
    }

    /// The next response, to a request other than HEAD.
    pub fn response(&mut self) -> Response {
        self.expect_response(false)
    }

    /// Sends `bytes` and reads the [`last_response`](Self::last_response).
    pub fn last_request(&mut self, bytes: impl AsRef<[u8]>) -> Response {
        self.send(bytes);
        self.last_response()
    }

    /// The last response of the connection: the next response (to a request
    /// other than HEAD), which must say `Connection: close`, followed by a
    /// clean end of stream (so nothing else, such as an answer to a
    /// request behind it, was sent).
    pub fn last_response(&mut self) -> Response {
        let response = self.response();
        assert!(response.closes(), "no Connection: close in {response:?}");
        self.expect_closed();
        response
    }

    /// The next response, to a HEAD request (no body follows it).
    pub fn head_response(&mut self) -> Response {
        self.expect_response(true)
    }

    fn expect_response(&mut self, head: bool) -> Response {
        match self.try_response(head) {
            Ok(Some(response)) => response,
            Ok(None) => panic!("the server closed the connection instead of answering"),
            Err(e) => panic!("{e}"),
        }
    }

    /// The next response; `Ok(None)` if the server closed the connection
    /// cleanly with nothing more sent; `Err` for anything malformed, a
    /// reset, or the hang guard.
    pub fn try_response(&mut self, head: bool) -> Result<Option<Response>, String> {
        loop {
            if self.eof && self.buf.is_empty() {
                return Ok(None);
            }
            if let Some((response, used)) = parse_response(&self.buf, head, self.eof)? {
                self.buf.drain(..used);
                return Ok(Some(response));
            }
            self.fill().map_err(|e| format!("reading a response: {e} (received so far: {:?})", self.lossy()))?;
        }
    }

    /// Panics unless the server has closed the connection with nothing more
    /// sent: a clean end of stream, not a reset.
    pub fn expect_closed(&mut self) {
        assert!(self.buf.is_empty(), "unexpected bytes instead of end of stream: {:?}", self.lossy());
        while !self.eof {
            let n = self.fill().unwrap_or_else(|e| panic!("expected end of stream, got {e}"));
            assert!(n == 0, "unexpected bytes instead of end of stream: {:?}", self.lossy());
        }
    }

    /// Reads until the received, unparsed bytes contain `needle` (left in
    /// place for the response reader).
    pub fn wait_for(&mut self, needle: &[u8]) {
        while find(&self.buf, needle).is_none() {
            let n = self.fill().unwrap_or_else(|e| panic!("waiting for {needle:?}: {e}"));
            assert!(n > 0, "closed while waiting for {needle:?}; received {:?}", self.lossy());
        }
    }

    /// Whether no byte has arrived that was not read yet: a non-blocking
    /// peek. (Proves only that nothing was delivered before this call.)
    pub fn nothing_received(&self) -> bool {
        if !self.buf.is_empty() || self.eof {
            return false;
        }
        self.stream.set_nonblocking(true).expect("set non-blocking");
        let peeked = self.stream.peek(&mut [0u8; 1]);
        self.stream.set_nonblocking(false).expect("set blocking");
        matches!(peeked, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Closes the sending direction (the server reads end of stream).
    pub fn shutdown_write(&self) {
        self.stream.shutdown(Shutdown::Write).expect("shutdown write");
    }

    /// One read into the buffer; `Ok(0)` at end of stream.
    fn fill(&mut self) -> io::Result<usize> {
        // Read into the heap buffer: a green thread's stack is small.
        let filled = self.buf.len();
        self.buf.resize(filled + 16 * 1024, 0);
        let result = (&self.stream).read(&mut self.buf[filled..]);
        let n = *result.as_ref().unwrap_or(&0);
        self.buf.truncate(filled + n);
        let n = result?;
        if n == 0 {
            self.eof = true;
        }
        Ok(n)
    }

    fn lossy(&self) -> String {
        String::from_utf8_lossy(&self.buf).into_owned()
    }
}

/// Parses one response from the start of `buf`: `Ok(None)` if more bytes
/// are needed, else the response and the bytes it used. `head`: the
/// response answers a HEAD request. `eof`: no more bytes will come (a body
/// without framing ends here). Strict: any deviation is an `Err`.
pub fn parse_response(buf: &[u8], head: bool, eof: bool) -> Result<Option<(Response, usize)>, String> {
    let shown = || String::from_utf8_lossy(&buf[..buf.len().min(2048)]).into_owned();
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        check_line_ends(buf).map_err(|e| format!("{e} in {:?}", shown()))?;
        return if eof { Err(format!("connection closed inside a response head: {:?}", shown())) } else { Ok(None) };
    };
    let head_bytes = &buf[..head_end + 2];
    check_line_ends(head_bytes).map_err(|e| format!("{e} in {:?}", shown()))?;
    let text = std::str::from_utf8(head_bytes).map_err(|_| format!("a non-UTF-8 response head: {:?}", shown()))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let rest = status_line.strip_prefix("HTTP/1.1 ").ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let (code, reason) = rest.split_at_checked(3).ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let reason = reason.strip_prefix(' ').ok_or_else(|| format!("bad status line {status_line:?}"))?;
    if !code.bytes().all(|b| b.is_ascii_digit()) || !reason.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)) {
        return Err(format!("bad status line {status_line:?}"));
    }
    let status: u16 = code.parse().map_err(|_| format!("bad status code in {status_line:?}"))?;
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or_else(|| format!("a field line without colon: {line:?}"))?;
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(format!("a bad field name in {line:?}"));
        }
        let value = value.trim_matches([' ', '\t']);
        if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(format!("a control character in {line:?}"));
        }
        headers.push((name.to_owned(), value.to_owned()));
    }
    let mut response = Response {
        status,
        reason: reason.to_owned(),
        headers,
        body: Vec::new(),
        chunked: false,
        close_delimited: false,
    };

    let values = |name: &str| -> Vec<String> {
        response.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()).collect()
    };
    let (lengths, codings) = (values("content-length"), values("transfer-encoding"));
    if !lengths.is_empty() && !codings.is_empty() {
        return Err(format!("both Content-Length and Transfer-Encoding in {:?}", shown()));
    }
    if (status < 200 || status == 204) && !(lengths.is_empty() && codings.is_empty()) {
        return Err(format!("framing fields on a {status} response: {:?}", shown()));
    }
    if lengths.len() > 1 {
        return Err(format!("repeated Content-Length in {:?}", shown()));
    }
    let body_start = head_end + 4;
    let body = &buf[body_start..];
    if head || status < 200 || status == 204 || status == 304 {
        return Ok(Some((response, body_start)));
    }
    if let Some(coding) = codings.first() {
        if codings.len() > 1 || coding != "chunked" {
            return Err(format!("transfer coding other than one `chunked` in {:?}", shown()));
        }
        response.chunked = true;
        return match decode_chunked(body)? {
            Some((data, used)) => {
                response.body = data;
                Ok(Some((response, body_start + used)))
            }
            None if eof => Err(format!("connection closed inside a chunked body: {:?}", shown())),
            None => Ok(None),
        };
    }
    if let Some(length) = lengths.first() {
        if length.is_empty() || !length.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("bad Content-Length {length:?}"));
        }
        let length: usize = length.parse().map_err(|_| format!("Content-Length {length} too large"))?;
        if body.len() < length {
            return if eof { Err(format!("connection closed inside a body: {:?}", shown())) } else { Ok(None) };
        }
        response.body = body[..length].to_vec();
        return Ok(Some((response, body_start + length)));
    }
    if !eof {
        return Ok(None);
    }
    response.close_delimited = true;
    response.body = body.to_vec();
    Ok(Some((response, buf.len())))
}

/// Decodes a chunked body as the server writes it: lowercase-or-uppercase
/// hex sizes without extensions, no trailers. `Ok(None)`: incomplete.
fn decode_chunked(mut input: &[u8]) -> Result<Option<(Vec<u8>, usize)>, String> {
    let total = input.len();
    let mut data = Vec::new();
    loop {
        let Some(line_end) = find(input, b"\r\n") else { return Ok(None) };
        let size_text = &input[..line_end];
        if size_text.is_empty() || size_text.len() > 16 || !size_text.iter().all(u8::is_ascii_hexdigit) {
            return Err(format!("bad chunk size line {:?}", String::from_utf8_lossy(size_text)));
        }
        let size = usize::from_str_radix(std::str::from_utf8(size_text).unwrap(), 16).map_err(|e| e.to_string())?;
        input = &input[line_end + 2..];
        if size == 0 {
            if input.len() < 2 {
                return Ok(None);
            }
            if &input[..2] != b"\r\n" {
                return Err("trailers or junk after the last chunk".to_owned());
            }
            return Ok(Some((data, total - input.len() + 2)));
        }
        if input.len() < size + 2 {
            return Ok(None);
        }
        if &input[size..size + 2] != b"\r\n" {
            return Err("chunk data not followed by CRLF".to_owned());
        }
        data.extend_from_slice(&input[..size]);
        input = &input[size + 2..];
    }
}

/// Every CR is followed by LF and every LF preceded by CR.
fn check_line_ends(bytes: &[u8]) -> Result<(), String> {
    for (i, &b) in bytes.iter().enumerate() {
        let bare_lf = b == b'\n' && (i == 0 || bytes[i - 1] != b'\r');
        let bare_cr = b == b'\r' && bytes.get(i + 1).is_some_and(|&n| n != b'\n');
        if bare_lf || bare_cr {
            return Err(format!("a bare {} at byte {i}", if bare_lf { "LF" } else { "CR" }));
        }
    }
    Ok(())
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `GET path` on HTTP/1.1.
pub fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n")
}

/// `POST path` on HTTP/1.1 with a Content-Length body.
pub fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut request =
        format!("POST {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    request.extend_from_slice(body);
    request
}

/// `POST path` on HTTP/1.1 with `body` in chunks of the given sizes
/// (cycled), the last chunk and no trailers.
pub fn post_chunked(path: &str, body: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut request = format!("POST {path} HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n").into_bytes();
    request.extend_from_slice(&chunked(body, sizes));
    request.extend_from_slice(b"0\r\n\r\n");
    request
}

/// `body` as chunks of the given sizes (cycled), without the last chunk.
pub fn chunked(body: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(size.clamp(1, rest.len()));
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
        rest = tail;
    }
    out
}

/// The test handler. GET and HEAD answer with the request target as the
/// body; any other method echoes the request body. A failed body read is
/// answered with the failure's status (the weft-http error's, 408 for a
/// timeout, else 400) and its message.
pub fn echo(request: Request<Body>) -> ::http::Response<Payload> {
    if request.method() == Method::GET || request.method() == Method::HEAD {
        return ::http::Response::new(Payload::from(request.uri().to_string()));
    }
    let mut body = Vec::new();
    match request.into_body().read_to_end(&mut body) {
        Ok(_) => ::http::Response::new(Payload::from(body)),
        Err(e) => {
            let status = match e.get_ref().and_then(|inner| inner.downcast_ref::<weft_http::Error>()) {
                Some(http_error) => http_error.status(),
                None if e.kind() == io::ErrorKind::TimedOut => StatusCode::REQUEST_TIMEOUT,
                None => StatusCode::BAD_REQUEST,
            };
            let mut response = ::http::Response::new(Payload::from(format!("body read failed: {e}")));
            *response.status_mut() = status;
            response
        }
    }
}

/// What a handler was asked: the request target of every call, in order.
#[derive(Debug, Default)]
pub struct Calls(Mutex<Vec<String>>);

impl Calls {
    pub fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    pub fn targets(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// `handler`, recording each request target in the returned [`Calls`]
/// before it runs.
pub fn recorded(
    handler: impl Fn(Request<Body>) -> ::http::Response<Payload> + Send + Sync + 'static,
) -> (impl Handler, Arc<Calls>) {
    let calls = Arc::new(Calls::default());
    let seen = calls.clone();
    let recording = move |request: Request<Body>| {
        seen.0.lock().unwrap().push(request.uri().to_string());
        handler(request)
    };
    (recording, calls)
}

/// Raises this process's soft `RLIMIT_NOFILE` to at least `want` (at most
/// the hard limit), for tests that hold many sockets open. Only this test
/// process is affected; the lowered value is not restored (the limit only
/// ever grows here, and other tests need few descriptors).
pub fn raise_fd_limit(want: u64) {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a live rlimit for getrlimit to fill.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
    if limit.rlim_cur >= want {
        return;
    }
    let raised = libc::rlimit { rlim_cur: want.min(limit.rlim_max), rlim_max: limit.rlim_max };
    // SAFETY: `raised` is a live rlimit whose soft limit does not exceed
    // the hard one, which an unprivileged process may set.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) }, 0);
}
