//! weft-http against real clients: curl and Python's `http.client` talk to
//! a [`weft_http::Server`] running in this process, on a 1-worker and a
//! 2-worker runtime.
//!
//! The clients are installed programs, not crates: a missing one fails the
//! test with what to install (`.ci/test` installs both), never skips it.
//! Every client run is bounded (curl `--max-time`, Python socket timeouts,
//! and [`CLIENT_LIMIT`] on the process), so a server that stops answering
//! fails a test instead of hanging CI.
//!
//! The test server's routes are in [`handle`]; the Python cases live in
//! `tests/interop/http_client.py`, which documents the same routes.

mod support;

use std::fs::File;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use http::{header, Method, Request, Response, StatusCode};
use support::{check_pattern, pattern, pattern_byte, runtime, TempDir, WORKER_COUNTS};
use weft_http::{Body, Payload, Server, ServerHandle};

/// Longest a client process may run before it is killed and the test fails.
const CLIENT_LIMIT: Duration = Duration::from_secs(30);

/// curl's own bound on each invocation (`--max-time`), in seconds.
const CURL_MAX_TIME: &str = "20";

/// The test server's request body limit; uploads stay below it.
const MAX_BODY: u64 = 1024 * 1024;

/// The body limit of the servers that the over-limit tests go past, and
/// the size of their over-limit bodies. The body stays below what the
/// server reads and discards while closing (1 MiB, `LINGER_BYTES` in
/// `http/src/conn.rs`), so the client reads the 413 even if it sends the
/// whole body first; past that, see [`python_body_over_linger_gets_413`].
const SMALL_MAX_BODY: u64 = 64 * 1024;
const OVER_LIMIT: usize = 256 * 1024;

/// An over-limit body larger than the server's linger (and than loopback
/// socket buffers take): `http_client.py` case `over_linger` sends this.
const OVER_LINGER: usize = 16 * 1024 * 1024;

/// Pattern seeds (`support::pattern`) of `/stream` bodies and of the file
/// behind `/file`; `http_client.py` computes the same bytes.
const STREAM_SEED: u64 = 0;
const FILE_SEED: u64 = 1;

/// Length of the file behind `/file`: 256 KiB and a ragged end.
const FILE_LEN: u64 = 262_147;

// ---------------------------------------------------------------------------
// The server under test.

/// The test server's handler:
///
/// * `GET|HEAD /`: `Hello, World!` (as `examples/http_echo.rs`).
/// * `POST /`: echoes the request body.
/// * `GET|HEAD /stream?len=N`: `N` pattern bytes from a reader of unknown
///   length ([`Payload::reader`]), so chunked on HTTP/1.1; the reader hands
///   out pieces of 1 byte to 16 KiB, so chunks of many sizes.
/// * `GET|HEAD /file?offset=O&len=N`: that range of the pattern file, sent
///   with [`Payload::file_range`].
/// * Anything else: 404 `not found\n`, without reading any request body.
fn handle(req: Request<Body>, file: &Path) -> Response<Payload> {
    let get = matches!(*req.method(), Method::GET | Method::HEAD);
    match (req.uri().path(), get) {
        ("/", true) => Response::new(Payload::from("Hello, World!")),
        ("/", false) if req.method() == Method::POST => {
            let mut body = Vec::new();
            match req.into_body().read_to_end(&mut body) {
                Ok(_) => Response::new(Payload::from(body)),
                Err(e) => status(StatusCode::BAD_REQUEST, format!("could not read the body: {e}\n")),
            }
        }
        ("/stream", true) => {
            let len = query(&req, "len").unwrap_or(0);
            Response::new(Payload::reader(PatternReader { seed: STREAM_SEED, pos: 0, len, reads: 0 }))
        }
        ("/file", true) => {
            let (offset, len) = (query(&req, "offset").unwrap_or(0), query(&req, "len").unwrap_or(0));
            match File::open(file) {
                Ok(f) => Response::new(Payload::file_range(f, offset, len)),
                Err(e) => status(StatusCode::INTERNAL_SERVER_ERROR, format!("open {}: {e}\n", file.display())),
            }
        }
        _ => status(StatusCode::NOT_FOUND, "not found\n".to_owned()),
    }
}

fn status(code: StatusCode, text: String) -> Response<Payload> {
    let mut res = Response::new(Payload::from(text));
    *res.status_mut() = code;
    res.headers_mut().insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
    res
}

/// The number in `key=N` of the request's query string.
fn query(req: &Request<Body>, key: &str) -> Option<u64> {
    req.uri().query()?.split('&').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

/// `len` bytes of the pattern with `seed`, in reads of varying sizes (1 B,
/// 100 B, 5000 B, 16 KiB, in turn), so chunked responses have many chunk
/// sizes, one-byte chunks included.
struct PatternReader {
    seed: u64,
    pos: u64,
    len: u64,
    reads: usize,
}

impl Read for PatternReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        const PIECES: [u64; 4] = [1, 100, 5000, 16 * 1024];
        let piece = PIECES[self.reads % PIECES.len()];
        self.reads += 1;
        let n = (self.len - self.pos).min(piece).min(out.len() as u64) as usize;
        for (i, b) in out[..n].iter_mut().enumerate() {
            *b = pattern_byte(self.seed, self.pos + i as u64);
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// A [`Server`] serving [`handle`] on 127.0.0.1 from its own runtime, with
/// a scratch directory holding the `/file` file and the clients' files.
/// Dropping it shuts the server down and waits for `serve` to return.
struct TestServer {
    addr: SocketAddr,
    workers: usize,
    handle: ServerHandle,
    serving: Option<weft::JoinHandle<io::Result<()>>>,
    dir: TempDir,
    _rt: weft::Runtime,
}

impl TestServer {
    fn start(workers: usize, max_body: u64) -> TestServer {
        let dir = TempDir::new(&format!("interop-w{workers}"));
        let file = dir.join("pattern.bin");
        std::fs::write(&file, pattern(FILE_SEED, 0, FILE_LEN as usize)).expect("write the /file file");
        let rt = runtime(workers, &format!("interop{workers}"));
        let (tx, rx) = mpsc::channel();
        let serving = rt.spawn(move || {
            let server = Server::builder().max_body(max_body).bind("127.0.0.1:0")?;
            tx.send((server.local_addr(), server.handle())).expect("send the server's address");
            server.serve(move |req: Request<Body>| handle(req, &file))
        });
        let (addr, handle) = match rx.recv_timeout(CLIENT_LIMIT) {
            Ok(started) => started,
            Err(_) => panic!("the test server did not start: {:?}", serving.join()),
        };
        TestServer { addr, workers, handle, serving: Some(serving), dir, _rt: rt }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes `bytes` to a file in the scratch directory and returns its path.
    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).expect("write a client file");
        path
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.handle.shutdown();
        let serving = self.serving.take().expect("serving");
        if std::thread::panicking() {
            // The test failed already; the runtime's drop ends what is
            // left, and a second panic here would abort the test binary.
            return;
        }
        let joined = support::bounded(CLIENT_LIMIT, "server shutdown", move || serving.join());
        joined.expect("serve panicked").expect("serve failed");
    }
}

/// Runs `f` against a fresh server on each runtime shape (1 and 2 workers).
fn with_each_server(f: impl Fn(&TestServer)) {
    with_each_server_limited(MAX_BODY, f);
}

/// [`with_each_server`] with a body limit of `max_body`.
fn with_each_server_limited(max_body: u64, f: impl Fn(&TestServer)) {
    for workers in WORKER_COUNTS {
        f(&TestServer::start(workers, max_body));
    }
}

// ---------------------------------------------------------------------------
// Running the clients.

/// What a client process did.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Checks once per process that `tool` runs, and returns its version line.
/// A missing tool fails the test: CI installs it, so missing means broken.
fn require(tool: &'static str, package: &str) -> &'static str {
    static CURL: OnceLock<String> = OnceLock::new();
    static PYTHON: OnceLock<String> = OnceLock::new();
    let cell = match tool {
        "curl" => &CURL,
        "python3" => &PYTHON,
        _ => unreachable!("no version cell for {tool}"),
    };
    cell.get_or_init(|| match Command::new(tool).arg("--version").stdin(Stdio::null()).output() {
        Ok(out) if out.status.success() => {
            let text = if out.stdout.is_empty() { out.stderr } else { out.stdout };
            String::from_utf8_lossy(&text).lines().next().unwrap_or("").to_owned()
        }
        result => panic!(
            "`{tool} --version` failed ({result:?}): the HTTP interop tests need {tool}. Install the Debian \
             package `{package}` (apt-get install -y {package}); .ci/test installs it before running the tests."
        ),
    })
}

/// Runs `cmd` to completion, killing it after [`CLIENT_LIMIT`].
fn run(mut cmd: Command, what: &str) -> Run {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: could not start: {e}"));
    // Drain both pipes while waiting, so a chatty client cannot block on a full pipe.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + CLIENT_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for a client") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {CLIENT_LIMIT:?}, killed; stderr:\n{}", stderr.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run { status, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() }
}

/// Runs curl with `args` (after `-q`, quiet-but-errors, `--max-time`, no
/// proxy) and checks that it succeeded.
fn curl(server: &TestServer, args: &[&str]) -> Run {
    require("curl", "curl");
    let mut cmd = Command::new("curl");
    // -q first: ignore any ~/.curlrc. No proxy: http_proxy in CI must not
    // send loopback requests elsewhere.
    cmd.args(["-q", "--silent", "--show-error", "--max-time", CURL_MAX_TIME, "--noproxy", "*"]).args(args);
    let what = format!("curl {} (server on {} workers)", args.join(" "), server.workers);
    let out = run(cmd, &what);
    assert!(out.status.success(), "{what} failed ({}):\n{}", out.status, out.stderr);
    out
}

/// curl `--write-out` format for one line per transfer, parsed by [`transfers`].
const WRITE_OUT: &str = "%{http_code} %{num_connects} %{local_port}\\n";

/// One curl transfer as `WRITE_OUT` reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Transfer {
    status: u16,
    /// New connections this transfer opened: 0 when it reused one.
    new_connections: u32,
    local_port: u16,
}

fn transfers(stdout: &str) -> Vec<Transfer> {
    stdout
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            assert_eq!(f.len(), 3, "unexpected --write-out line {line:?}");
            Transfer {
                status: f[0].parse().unwrap(),
                new_connections: f[1].parse().unwrap(),
                local_port: f[2].parse().unwrap(),
            }
        })
        .collect()
}

/// The response heads curl's `-v` output shows (`< ` lines), one per
/// response, interim `100 Continue` included; each head is its lines,
/// status line first, lowercased.
fn response_heads(verbose: &str) -> Vec<Vec<String>> {
    let mut heads: Vec<Vec<String>> = Vec::new();
    for line in verbose.lines() {
        let Some(line) = line.strip_prefix("< ") else { continue };
        let line = line.trim_end().to_ascii_lowercase();
        if line.starts_with("http/") {
            heads.push(vec![line]);
        } else if !line.is_empty() {
            heads.last_mut().expect("a header before any status line").push(line);
        }
    }
    heads
}

/// The value of header `name` in a head from [`response_heads`].
fn field<'a>(head: &'a [String], name: &str) -> Option<&'a str> {
    head[1..].iter().find_map(|l| l.strip_prefix(name)?.strip_prefix(':').map(str::trim))
}

/// The request header lines (`> `) in curl's `-v` output, lowercased.
fn request_lines(verbose: &str) -> Vec<String> {
    verbose.lines().filter_map(|l| l.strip_prefix("> ")).map(|l| l.trim_end().to_ascii_lowercase()).collect()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Checks a downloaded body byte for byte, naming the first difference.
fn assert_bytes(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
        panic!("{what}: got {} bytes, want {}; first difference at offset {at}", got.len(), want.len());
    }
}

/// Runs case `case` of `tests/interop/http_client.py` against `server`.
fn python(server: &TestServer, case: &str) -> Run {
    require("python3", "python3");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/http_client.py");
    let mut cmd = Command::new("python3");
    // -I: isolated, no user site-packages or PYTHON* variables.
    cmd.arg("-I").arg(&script).arg(server.addr.port().to_string()).arg(case);
    let what = format!("http_client.py {case} (server on {} workers)", server.workers);
    let out = run(cmd, &what);
    assert!(out.status.success(), "{what} failed ({}):\n{}{}", out.status, out.stdout, out.stderr);
    out
}

// ---------------------------------------------------------------------------
// The clients themselves.

/// Both clients are installed; prints their versions (`--nocapture`).
#[test]
fn interop_clients_are_installed() {
    println!("curl: {}", require("curl", "curl"));
    println!("python: {}", require("python3", "python3"));
}

// ---------------------------------------------------------------------------
// curl

#[test]
fn curl_get_answers_hello() {
    with_each_server(|s| {
        let body = s.path("body");
        let out = curl(s, &["-v", "-o", body.to_str().unwrap(), "-w", WRITE_OUT, &s.url("/")]);
        assert_eq!(transfers(&out.stdout)[0].status, 200);
        assert_eq!(read(&body), b"Hello, World!");
        let heads = response_heads(&out.stderr);
        assert_eq!(heads.len(), 1, "{}", out.stderr);
        assert_eq!(heads[0][0], "http/1.1 200 ok");
        assert_eq!(field(&heads[0], "content-length"), Some("13"));
        assert!(field(&heads[0], "date").is_some(), "no Date header: {heads:?}");
    });
}

/// `--http1.0`: every response is read to its end and the connection
/// closes after it (the server says `connection: close`; curl opens a new
/// connection per transfer); a body of unknown length is sent unframed.
#[test]
fn curl_http10_reads_each_response_and_closes() {
    with_each_server(|s| {
        let (a, b, c) = (s.path("a"), s.path("b"), s.path("c"));
        let out = curl(
            s,
            &[
                "-v",
                "--http1.0",
                "-w",
                WRITE_OUT,
                "-o",
                a.to_str().unwrap(),
                &s.url("/"),
                "-o",
                b.to_str().unwrap(),
                &s.url("/stream?len=50000"),
                "-o",
                c.to_str().unwrap(),
                &s.url("/file?offset=10&len=20000"),
            ],
        );
        let t = transfers(&out.stdout);
        assert!(t.iter().all(|t| t.status == 200 && t.new_connections == 1), "{t:?}\n{}", out.stderr);
        let heads = response_heads(&out.stderr);
        assert_eq!(heads.len(), 3, "{}", out.stderr);
        for head in &heads {
            assert_eq!(field(head, "connection"), Some("close"), "{head:?}");
            assert_eq!(field(head, "transfer-encoding"), None, "chunked to HTTP/1.0: {head:?}");
        }
        assert_eq!(field(&heads[1], "content-length"), None, "{:?}", heads[1]);
        assert!(request_lines(&out.stderr).iter().any(|l| l.ends_with(" http/1.0")), "{}", out.stderr);
        assert_eq!(read(&a), b"Hello, World!");
        check_pattern(STREAM_SEED, 0, &read(&b), "HTTP/1.0 /stream");
        assert_eq!(read(&b).len(), 50_000);
        assert_bytes(&read(&c), &pattern(FILE_SEED, 10, 20_000), "HTTP/1.0 /file");
    });
}

/// `--http1.0 -H 'Connection: keep-alive'`: the server keeps the
/// connection and says so, and curl reuses it; except after a body of
/// unknown length, which only the close can delimit on HTTP/1.0, so the
/// transfer after it opens a new connection.
#[test]
fn curl_http10_keep_alive_when_asked() {
    with_each_server(|s| {
        let stream = s.path("stream");
        let out = curl(
            s,
            &[
                "-v",
                "--http1.0",
                "-H",
                "Connection: keep-alive",
                "-w",
                WRITE_OUT,
                "-o",
                "/dev/null",
                &s.url("/"),
                "-o",
                "/dev/null",
                &s.url("/file?offset=0&len=1000"),
                "-o",
                stream.to_str().unwrap(),
                &s.url("/stream?len=30000"),
                "-o",
                "/dev/null",
                &s.url("/"),
            ],
        );
        let t = transfers(&out.stdout);
        let new: Vec<u32> = t.iter().map(|t| t.new_connections).collect();
        assert_eq!(new, [1, 0, 0, 1], "{t:?}\n{}", out.stderr);
        assert_eq!((t[0].local_port, t[1].local_port), (t[2].local_port, t[2].local_port));
        let heads = response_heads(&out.stderr);
        let connection: Vec<Option<&str>> = heads.iter().map(|h| field(h, "connection")).collect();
        assert_eq!(connection, [Some("keep-alive"), Some("keep-alive"), Some("close"), Some("keep-alive")]);
        assert_bytes(&read(&stream), &pattern(STREAM_SEED, 0, 30_000), "HTTP/1.0 keep-alive /stream");
    });
}

/// `--data-binary @file` of 300 KiB comes back byte for byte.
#[test]
fn curl_post_echoes_large_body() {
    with_each_server(|s| {
        let sent = pattern(4, 0, 300 * 1024 + 17);
        let file = s.file("upload", &sent);
        let back = s.path("back");
        let data = format!("@{}", file.display());
        let out = curl(s, &["-v", "--data-binary", &data, "-o", back.to_str().unwrap(), "-w", WRITE_OUT, &s.url("/")]);
        assert_eq!(transfers(&out.stdout)[0].status, 200);
        assert!(request_lines(&out.stderr).contains(&format!("content-length: {}", sent.len())), "{}", out.stderr);
        assert_bytes(&read(&back), &sent, "echo of a 300 KiB POST");
    });
}

/// `-H 'Transfer-Encoding: chunked' --data-binary @file`: curl sends the
/// body chunked, the handler reads it decoded, the echo is exact.
#[test]
fn curl_chunked_upload_echoes() {
    with_each_server(|s| {
        let sent = pattern(5, 0, 400_000);
        let file = s.file("upload", &sent);
        let back = s.path("back");
        let data = format!("@{}", file.display());
        let out = curl(
            s,
            &[
                "-v",
                "-H",
                "Transfer-Encoding: chunked",
                "--data-binary",
                &data,
                "-o",
                back.to_str().unwrap(),
                "-w",
                WRITE_OUT,
                &s.url("/"),
            ],
        );
        assert_eq!(transfers(&out.stdout)[0].status, 200);
        let request = request_lines(&out.stderr);
        assert!(request.iter().any(|l| l.replace(' ', "") == "transfer-encoding:chunked"), "{}", out.stderr);
        assert!(!request.iter().any(|l| l.starts_with("content-length")), "{}", out.stderr);
        assert_bytes(&read(&back), &sent, "echo of a chunked POST");
    });
}

/// `Expect: 100-continue`: curl waits, the server answers `100 Continue`
/// when the handler starts reading, then the echo; with a Content-Length
/// body and with a chunked one.
#[test]
fn curl_expect_continue_gets_100_then_echo() {
    with_each_server(|s| {
        let sent = pattern(6, 0, 500_000);
        let file = s.file("upload", &sent);
        let data = format!("@{}", file.display());
        for chunked in [false, true] {
            let back = s.path(&format!("back-{chunked}"));
            let mut args = vec!["-v", "-H", "Expect: 100-continue", "--data-binary", &data];
            if chunked {
                args.extend(["-H", "Transfer-Encoding: chunked"]);
            }
            let back_arg = back.to_str().unwrap().to_owned();
            let url = s.url("/");
            args.extend(["-o", &back_arg, "-w", WRITE_OUT, &url]);
            let out = curl(s, &args);
            let heads = response_heads(&out.stderr);
            let statuses: Vec<&str> = heads.iter().map(|h| h[0].as_str()).collect();
            assert_eq!(statuses, ["http/1.1 100 continue", "http/1.1 200 ok"], "chunked {chunked}:\n{}", out.stderr);
            assert_bytes(&read(&back), &sent, &format!("echo after 100 Continue (chunked {chunked})"));
        }
    });
}

/// `Expect: 100-continue` on requests the server answers without the body:
/// a handler that never reads it (404) and a declared length over the
/// server's limit (413). No `100 Continue` is sent, curl gets the final
/// answer and does not have to send the body; the connection closes (the
/// client may still send the body), and the next transfer in the same curl
/// run (which repeats the body and so the answer) opens a new one.
#[test]
fn curl_expect_continue_answered_without_body() {
    with_each_server_limited(SMALL_MAX_BODY, |s| {
        let small = s.file("small", &pattern(7, 0, SMALL_MAX_BODY as usize - 1));
        let large = s.file("large", &pattern(7, 0, OVER_LIMIT));
        let (small, large) = (format!("@{}", small.display()), format!("@{}", large.display()));
        for (path, data, code) in [("/missing", &small, 404), ("/", &large, 413)] {
            let out = curl(
                s,
                &[
                    "-v",
                    "-H",
                    "Expect: 100-continue",
                    "--data-binary",
                    data,
                    "-o",
                    "/dev/null",
                    "-w",
                    WRITE_OUT,
                    &s.url(path),
                    "-o",
                    "/dev/null",
                    &s.url("/missing"),
                ],
            );
            let t = transfers(&out.stdout);
            // Over the limit is 413 before routing: /missing too.
            assert_eq!((t[0].status, t[1].status), (code, code), "{}", out.stderr);
            assert_eq!(t[1].new_connections, 1, "{t:?}");
            let heads = response_heads(&out.stderr);
            assert!(!heads.iter().any(|h| h[0].contains(" 100 ")), "100 Continue sent for {code}:\n{}", out.stderr);
            assert_eq!(field(&heads[0], "connection"), Some("close"), "{:?}", heads[0]);
        }
    });
}

/// A body over the server's limit, sent without waiting for a 100: with
/// a Content-Length the server answers 413 before reading it, chunked it
/// answers once the handler's read passes the limit (also after a
/// `100 Continue`). Either way it closes after lingering, and curl reads
/// the 413 rather than a reset.
#[test]
fn curl_body_over_limit_gets_413() {
    with_each_server_limited(SMALL_MAX_BODY, |s| {
        let large = s.file("large", &pattern(8, 0, OVER_LIMIT));
        let data = format!("@{}", large.display());
        for headers in [
            &["Expect:"][..],
            &["Transfer-Encoding: chunked", "Expect:"],
            &["Transfer-Encoding: chunked", "Expect: 100-continue"],
        ] {
            let body = s.path("body");
            let mut args = vec!["-v", "--data-binary", &data, "-o", body.to_str().unwrap(), "-w", WRITE_OUT];
            for h in headers {
                args.extend(["-H", h]);
            }
            let url = s.url("/");
            args.push(&url);
            let out = curl(s, &args);
            assert_eq!(transfers(&out.stdout)[0].status, 413, "{headers:?}:\n{}", out.stderr);
            let heads = response_heads(&out.stderr);
            assert_eq!(field(heads.last().unwrap(), "connection"), Some("close"), "{heads:?}");
            assert!(String::from_utf8_lossy(&read(&body)).starts_with("413 Payload Too Large"), "{headers:?}");
        }
    });
}

/// `-I`: HEAD answers have the GET's status and length headers and no
/// body, for bytes, a file range, a reader of unknown length and a 404;
/// and the connection is reused across them.
#[test]
fn curl_head_has_headers_and_no_body() {
    with_each_server(|s| {
        let urls = ["/", "/file?offset=100&len=54321", "/stream?len=5000", "/missing"].map(|p| s.url(p));
        // With -I the heads are the output: to /dev/null, as -v shows them.
        let mut args = vec!["-v", "-I", "-w", WRITE_OUT];
        for url in &urls {
            args.extend(["-o", "/dev/null", url.as_str()]);
        }
        let out = curl(s, &args);
        let t = transfers(&out.stdout);
        let statuses: Vec<u16> = t.iter().map(|t| t.status).collect();
        assert_eq!(statuses, [200, 200, 200, 404], "{}", out.stderr);
        assert!(t[1..].iter().all(|t| t.new_connections == 0), "HEAD broke keep-alive: {t:?}\n{}", out.stderr);
        let heads = response_heads(&out.stderr);
        assert_eq!(field(&heads[0], "content-length"), Some("13"));
        assert_eq!(field(&heads[1], "content-length"), Some("54321"));
        assert_eq!(field(&heads[3], "content-length"), Some("10"));
    });
}

/// Several URLs in one curl run share one connection: curl reports the
/// reuse (`-v` wording varies across curl versions, so it is matched
/// loosely) and `--write-out` confirms it (no new connection after the
/// first transfer, the same local port throughout).
#[test]
fn curl_keep_alive_reuses_one_connection() {
    with_each_server(|s| {
        let urls = ["/", "/stream?len=100000", "/file?offset=7&len=200000", "/missing", "/"].map(|p| s.url(p));
        let mut args = vec!["-v", "-w", WRITE_OUT];
        for url in &urls {
            args.extend(["-o", "/dev/null", url.as_str()]);
        }
        let out = curl(s, &args);
        let t = transfers(&out.stdout);
        let statuses: Vec<u16> = t.iter().map(|t| t.status).collect();
        assert_eq!(statuses, [200, 200, 200, 404, 200]);
        assert_eq!(t[0].new_connections, 1);
        assert!(t[1..].iter().all(|x| x.new_connections == 0 && x.local_port == t[0].local_port), "{t:?}");
        let verbose = out.stderr.to_ascii_lowercase();
        let reused = verbose.lines().filter(|l| l.contains("re-using existing") || l.contains("reusing existing"));
        assert_eq!(reused.count(), urls.len() - 1, "curl did not report reusing the connection:\n{}", out.stderr);
        let intact = verbose.lines().filter(|l| l.contains("left intact")).count();
        assert_eq!(intact, urls.len(), "curl did not leave the connection intact after each response:\n{}", out.stderr);
    });
}

/// A reader of unknown length comes back chunked; curl decodes it to the
/// exact bytes, and `--raw` shows real chunk framing ending in the last
/// chunk.
#[test]
fn curl_chunked_response_is_decoded() {
    with_each_server(|s| {
        for len in [0usize, 1, 65_536, 250_000] {
            let (body, raw) = (s.path("body"), s.path("raw"));
            let url = s.url(&format!("/stream?len={len}"));
            let out = curl(s, &["-v", "-o", body.to_str().unwrap(), &url]);
            let heads = response_heads(&out.stderr);
            assert_eq!(field(&heads[0], "transfer-encoding"), Some("chunked"), "{:?}", heads[0]);
            assert_eq!(field(&heads[0], "content-length"), None, "{:?}", heads[0]);
            assert_bytes(&read(&body), &pattern(STREAM_SEED, 0, len), &format!("/stream?len={len}"));
            curl(s, &["--raw", "-o", raw.to_str().unwrap(), &url]);
            let raw = read(&raw);
            assert!(raw.ends_with(b"0\r\n\r\n") && raw.len() > len, "--raw /stream?len={len}: not chunked");
        }
    });
}

/// File ranges go out with sendfile: right length, right bytes, including
/// the last byte of the file and an empty range.
#[test]
fn curl_file_range_is_sent() {
    with_each_server(|s| {
        for (offset, len) in [(0, FILE_LEN), (4096, 100_000), (FILE_LEN - 1, 1), (5, 0)] {
            let body = s.path("body");
            let url = s.url(&format!("/file?offset={offset}&len={len}"));
            let out = curl(s, &["-v", "-o", body.to_str().unwrap(), &url]);
            let heads = response_heads(&out.stderr);
            assert_eq!(field(&heads[0], "content-length"), Some(len.to_string().as_str()));
            assert_bytes(&read(&body), &pattern(FILE_SEED, offset, len as usize), &url);
        }
    });
}

// ---------------------------------------------------------------------------
// Python http.client (cases in tests/interop/http_client.py)

#[test]
fn python_keep_alive_reuses_one_connection() {
    with_each_server(|s| {
        python(s, "keep_alive");
    });
}

#[test]
fn python_chunked_upload_echoes() {
    with_each_server(|s| {
        python(s, "chunked_upload");
    });
}

#[test]
fn python_head_has_no_body() {
    with_each_server(|s| {
        python(s, "head");
    });
}

#[test]
fn python_not_found_keeps_connection() {
    with_each_server(|s| {
        python(s, "not_found");
    });
}

#[test]
fn python_chunked_response_is_decoded() {
    with_each_server(|s| {
        python(s, "chunked_response");
    });
}

#[test]
fn python_file_range_is_sent() {
    with_each_server(|s| {
        python(s, "file_range");
    });
}

#[test]
fn python_http10_closes_after_each_response() {
    with_each_server(|s| {
        python(s, "http10");
    });
}

#[test]
fn python_expect_with_eager_body_stays_in_sync() {
    with_each_server(|s| {
        python(s, "expect_eager");
    });
}

// ---------------------------------------------------------------------------
// Pipelining: neither curl nor http.client pipelines, so a plain socket
// plays the client.

/// A pipelined request with `Expect: 100-continue` behind a GET: the GET's
/// response goes out before the POST's `100 Continue` (RFC 9112 §9.3.2:
/// responses in request order; a 100 before it would read as an interim
/// answer to the GET), then the POST's body is echoed.
#[test]
fn raw_pipelined_expect_continue_follows_earlier_response() {
    with_each_server(|s| {
        use std::io::Write;
        let mut conn = std::net::TcpStream::connect(s.addr).expect("connect");
        conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        conn.write_all(
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\
              POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
        )
        .unwrap();
        const CONTINUE: &str = "HTTP/1.1 100 Continue\r\n\r\n";
        let mut got = String::new();
        let mut buf = [0u8; 4096];
        while !got.contains(CONTINUE) {
            let n = conn.read(&mut buf).unwrap_or_else(|e| panic!("waiting for 100 Continue: {e}; got {got:?}"));
            assert!(n > 0, "closed before 100 Continue; got {got:?}");
            got.push_str(std::str::from_utf8(&buf[..n]).unwrap());
        }
        let (hello, cont) = (got.find("Hello, World!"), got.find(CONTINUE));
        assert!(
            got.starts_with("HTTP/1.1 200 OK") && matches!((hello, cont), (Some(h), Some(c)) if h < c),
            "the POST's 100 Continue came before the GET's response: {got:?}"
        );
        conn.write_all(b"hello").unwrap();
        while !got.ends_with("\r\n\r\nhello") {
            let n = conn.read(&mut buf).unwrap_or_else(|e| panic!("waiting for the echo: {e}; got {got:?}"));
            assert!(n > 0, "closed before the echo; got {got:?}");
            got.push_str(std::str::from_utf8(&buf[..n]).unwrap());
        }
    });
}

/// A body over the limit, sent whole before reading (as http.client
/// does), with a Content-Length and chunked: the server reads and
/// discards it while closing, and the client reads the 413.
#[test]
fn python_body_over_limit_gets_413() {
    assert!(OVER_LIMIT as u64 > SMALL_MAX_BODY);
    with_each_server_limited(SMALL_MAX_BODY, |s| {
        python(s, "over_limit");
    });
}

/// As [`python_body_over_limit_gets_413`] with an [`OVER_LINGER`] body, one
/// larger than the server discarded while closing in its first version
/// (1 MiB, after which the kernel reset the connection and http.client,
/// still in `sendall`, never read the 413). RFC 9112 §9.6: keep reading
/// until the client has the response; the server now lingers up to 64 MiB
/// or 2 s.
#[test]
fn python_body_over_linger_gets_413() {
    const { assert!(OVER_LINGER > 1024 * 1024) };
    with_each_server_limited(SMALL_MAX_BODY, |s| {
        python(s, "over_linger");
    });
}
