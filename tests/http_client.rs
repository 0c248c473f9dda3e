//! weft_http::Client against an in-process weft_http::Server and against
//! scripted peers on plain `std::net` listeners (for responses a correct
//! server never sends, and to count connections).
//!
//! Scripted peers run on OS threads and answer exactly what each test
//! scripts; a test proves "one connection" by serving every request on the
//! first accepted connection and then finding no other connection pending
//! in the listener's backlog. Everything is loopback; nothing sleeps.

mod support;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpListener as StdListener;
use std::net::TcpStream as StdStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{run_green, with_each_runtime};
use weft_http::{Body, Client, Payload, Server, ServerHandle};

// ---------------------------------------------------------------------------
// Helpers

/// The client the tests use: a read timeout turns a hang into a failure,
/// one long enough for a loaded machine.
fn client() -> Client {
    Client::builder().read_timeout(Duration::from_secs(60)).build()
}

/// Runs `test` in a green thread of a 1-worker and of a 2-worker runtime.
fn on_green_threads(name: &str, test: fn()) {
    with_each_runtime(name, |rt| run_green(rt, test));
}

/// A scripted peer: a loopback std listener handed to `script` on its own OS
/// thread. Returns the peer's base URL and the thread, which gives the
/// listener back so the test can check no connection is left pending.
fn peer(script: impl FnOnce(&StdListener) + Send + 'static) -> (String, std::thread::JoinHandle<StdListener>) {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let thread = std::thread::spawn(move || {
        script(&listener);
        listener
    });
    (url, thread)
}

/// A peer that serves `script` in order on one connection: for each pair,
/// it expects the request line, then sends the response bytes.
fn one_connection(script: Vec<(&'static str, String)>) -> (String, std::thread::JoinHandle<StdListener>) {
    peer(move |listener| {
        let mut conn = Conn::accept(listener);
        for (request_line, response) in script {
            conn.expect(request_line);
            conn.send(response);
        }
    })
}

/// Joins the peer and asserts that nobody connected beyond what it accepted.
fn assert_no_more_connections(peer: std::thread::JoinHandle<StdListener>) {
    let listener = peer.join().expect("the scripted peer panicked");
    listener.set_nonblocking(true).unwrap();
    match listener.accept() {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Ok((_, addr)) => panic!("the client opened another connection (from {addr})"),
        Err(e) => panic!("accept: {e}"),
    }
}

/// One accepted connection of a scripted peer.
struct Conn {
    reader: BufReader<StdStream>,
    writer: StdStream,
}

/// A request as the peer received it.
struct Req {
    head: String,
    body: Vec<u8>,
}

impl Req {
    fn request_line(&self) -> &str {
        self.head.lines().next().unwrap()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

impl Conn {
    fn accept(listener: &StdListener) -> Conn {
        let (stream, _) = listener.accept().unwrap();
        Conn { reader: BufReader::new(stream.try_clone().unwrap()), writer: stream }
    }

    /// Reads one request (head and Content-Length or chunked body); `None`
    /// if the client closed the connection instead.
    fn request(&mut self) -> Option<Req> {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) | Err(_) if head.is_empty() => return None,
                Ok(0) | Err(_) => panic!("the client closed mid-head: {head:?}"),
                Ok(_) => {}
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let mut req = Req { head, body: Vec::new() };
        if let Some(n) = req.header("content-length") {
            req.body = vec![0; n.parse().unwrap()];
            self.reader.read_exact(&mut req.body).unwrap();
        } else if req.header("transfer-encoding").is_some() {
            loop {
                let mut size = String::new();
                self.reader.read_line(&mut size).unwrap();
                let size = usize::from_str_radix(size.trim_end(), 16).unwrap();
                let mut chunk = vec![0; size + 2];
                self.reader.read_exact(&mut chunk).unwrap();
                if size == 0 {
                    assert_eq!(chunk, b"\r\n", "no trailers expected");
                    break;
                }
                req.body.extend_from_slice(&chunk[..size]);
            }
        }
        Some(req)
    }

    fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.writer.write_all(bytes.as_ref()).unwrap();
    }

    /// Reads a request and asserts its request line.
    fn expect(&mut self, request_line: &str) -> Req {
        let req = self.request().unwrap_or_else(|| panic!("expected {request_line:?}, the client closed"));
        assert_eq!(req.request_line(), request_line);
        req
    }

    /// Asserts the client closed this connection (end of stream next).
    fn expect_closed(&mut self) {
        if let Some(req) = self.request() {
            panic!("expected the client to close the connection, got {:?}", req.request_line());
        }
    }
}

const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// GETs `url` and returns the status and the whole body.
fn get_text(client: &Client, url: &str) -> (u16, String) {
    let resp = client.get(url).unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().into_bytes().unwrap();
    (status, String::from_utf8(body).unwrap())
}

/// The weft_http::Error inside an `InvalidData` error.
fn http_error(e: &io::Error) -> &weft_http::Error {
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    e.get_ref().and_then(|e| e.downcast_ref::<weft_http::Error>()).unwrap_or_else(|| panic!("not an http error: {e}"))
}

/// A weft_http::Server on a loopback port, serving in a green thread of `rt`.
struct TestServer {
    url: String,
    handle: ServerHandle,
    serving: weft::JoinHandle<io::Result<()>>,
}

impl TestServer {
    fn start(rt: &weft::Runtime, handler: impl weft_http::Handler) -> TestServer {
        let server = Server::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", server.local_addr());
        let handle = server.handle();
        let serving = rt.spawn(move || server.serve(handler));
        TestServer { url, handle, serving }
    }

    fn stop(self) {
        self.handle.shutdown();
        self.serving.join().unwrap_or_else(|_| panic!("the server panicked")).unwrap();
    }
}

/// Answers with the method, the path and the request body, e.g. `POST /p hi`;
/// `/big/N` answers N bytes of a pattern from a reader (so, chunked).
fn echo(req: http::Request<Body>) -> http::Response<Payload> {
    let path = req.uri().path().to_owned();
    if let Some(n) = path.strip_prefix("/big/") {
        let n: u64 = n.parse().unwrap();
        let pattern = io::repeat(b'x').take(n);
        return http::Response::new(Payload::reader(pattern));
    }
    let method = req.method().clone();
    let body = req.into_body().into_bytes().unwrap();
    let text = format!("{method} {path} {}", String::from_utf8_lossy(&body));
    http::Response::new(Payload::from(text))
}

// ---------------------------------------------------------------------------
// Against weft_http::Server

#[test]
fn client_server_get_post_put_and_streamed_bodies() {
    with_each_runtime("client-server", |rt| {
        let server = TestServer::start(rt, echo);
        let url = server.url.clone();
        run_green(rt, move || {
            let client = client();
            assert_eq!(get_text(&client, &format!("{url}/a?q=1")), (200, "GET /a ".to_owned()));
            let resp = client.post(format!("{url}/p"), "hello").unwrap();
            assert_eq!(resp.body().content_length(), Some("POST /p hello".len() as u64));
            assert_eq!(resp.into_body().into_bytes().unwrap(), b"POST /p hello");
            let resp = client.put(format!("{url}/u"), vec![b'z'; 3]).unwrap();
            assert_eq!(resp.into_body().into_bytes().unwrap(), b"PUT /u zzz");
            // A reader of unknown length goes out chunked.
            let reader = Payload::reader(io::Cursor::new(b"streamed".to_vec()));
            let resp = client.request(http::Request::post(format!("{url}/r")).body(reader).unwrap()).unwrap();
            assert_eq!(resp.into_body().into_bytes().unwrap(), b"POST /r streamed");
            let resp = client.delete(format!("{url}/d")).unwrap();
            assert_eq!(resp.into_body().into_bytes().unwrap(), b"DELETE /d ");
            // HEAD: the length of the body a GET would get, and no body.
            let resp = client.head(format!("{url}/h")).unwrap();
            assert_eq!(resp.headers()["content-length"], "8");
            assert!(resp.into_body().into_bytes().unwrap().is_empty());
            // Expect: 100-continue; the client sends the body at once and
            // skips the 100 the server may still send.
            let req = http::Request::post(format!("{url}/e")).header("expect", "100-continue").body("cont").unwrap();
            assert_eq!(client.request(req).unwrap().into_body().into_bytes().unwrap(), b"POST /e cont");

            // A chunked 1 MiB response streams through small reads.
            let resp = client.get(format!("{url}/big/1048576")).unwrap();
            assert_eq!(resp.body().content_length(), None);
            let mut body = resp.into_body();
            let (mut total, mut buf) = (0, [0u8; 1000]);
            loop {
                let n = body.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                assert!(buf[..n].iter().all(|&b| b == b'x'));
                total += n;
            }
            assert_eq!(total, 1 << 20);
        });
        server.stop();
    });
}

#[test]
fn client_many_green_threads_share_one_client() {
    with_each_runtime("client-many", |rt| {
        let server = TestServer::start(rt, echo);
        let url = server.url.clone();
        run_green(rt, move || {
            let client = client();
            let url = Arc::new(url);
            let threads: Vec<_> = (0..200)
                .map(|i| {
                    let (client, url) = (client.clone(), url.clone());
                    weft::spawn(move || {
                        for round in 0..3 {
                            let (status, body) = get_text(&client, &format!("{url}/t{i}/{round}"));
                            assert_eq!((status, body), (200, format!("GET /t{i}/{round} ")));
                        }
                    })
                })
                .collect();
            for t in threads {
                if let Err(payload) = t.join() {
                    std::panic::resume_unwind(payload);
                }
            }
        });
        server.stop();
    });
}

#[test]
fn client_works_from_plain_os_threads() {
    let rt = support::runtime(2, "client-os");
    let server = TestServer::start(&rt, echo);
    let client = client();
    // The test's own thread, then another OS thread sharing the client.
    assert_eq!(get_text(&client, &format!("{}/main", server.url)), (200, "GET /main ".to_owned()));
    let (client2, url) = (client.clone(), server.url.clone());
    let body = std::thread::spawn(move || {
        let resp = client2.post(format!("{url}/thread"), "x").unwrap();
        resp.into_body().into_bytes().unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(body, b"POST /thread x");
    server.stop();
}

#[test]
fn client_response_body_limit() {
    with_each_runtime("client-max-body", |rt| {
        let server = TestServer::start(rt, echo);
        let url = server.url.clone();
        run_green(rt, move || {
            let client = Client::builder().max_body(100).read_timeout(Duration::from_secs(60)).build();
            // Declared over the limit: refused before the body.
            let e = client.post(format!("{url}/p"), vec![b'a'; 200]).unwrap_err();
            assert!(http_error(&e).is_too_large(), "{e}");
            // Chunked, growing past the limit: the read fails.
            let resp = client.get(format!("{url}/big/1000")).unwrap();
            let e = resp.into_body().into_bytes().unwrap_err();
            assert!(http_error(&e).is_too_large(), "{e}");
            // Within the limit: fine.
            assert_eq!(get_text(&client, &format!("{url}/big/100")).1.len(), 100);
        });
        server.stop();
    });
}

// ---------------------------------------------------------------------------
// Connection reuse, proven against scripted peers

#[test]
fn client_keep_alive_sequential_gets_share_one_connection() {
    on_green_threads("client-keep-alive", || {
        let (url, peer) = peer(|listener| {
            let mut conn = Conn::accept(listener);
            let port = listener.local_addr().unwrap().port();
            for i in 0..10 {
                let req = conn.expect(&format!("GET /n{i} HTTP/1.1"));
                assert_eq!(req.header("host"), Some(&*format!("127.0.0.1:{port}")));
                assert_eq!(req.header("content-length"), None, "no Content-Length on an empty GET");
                conn.send(OK);
            }
        });
        let client = client();
        for i in 0..10 {
            assert_eq!(get_text(&client, &format!("{url}/n{i}")), (200, "ok".to_owned()));
        }
        assert_no_more_connections(peer);
    });
}

#[test]
fn client_chunked_response_with_trailers_keeps_the_connection() {
    on_green_threads("client-chunked", || {
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                       5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\nY: u\r\n\r\n";
        let (url, peer) = one_connection(vec![("GET /c HTTP/1.1", chunked.into()), ("GET /after HTTP/1.1", OK.into())]);
        let client = client();
        let resp = client.get(format!("{url}/c")).unwrap();
        assert_eq!(resp.body().content_length(), None);
        assert_eq!(resp.into_body().into_bytes().unwrap(), b"hello world");
        assert_eq!(get_text(&client, &format!("{url}/after")).1, "ok");
        assert_no_more_connections(peer);
    });
}

#[test]
fn client_close_delimited_response_reads_to_close_and_reconnects() {
    on_green_threads("client-until-close", || {
        let (url, peer) = peer(|listener| {
            let mut conn = Conn::accept(listener);
            conn.expect("GET /1 HTTP/1.1");
            conn.send("HTTP/1.1 200 OK\r\n\r\nuntil the end");
            drop(conn);
            let mut conn = Conn::accept(listener);
            conn.expect("GET /2 HTTP/1.1");
            conn.send(OK);
        });
        let client = client();
        let resp = client.get(format!("{url}/1")).unwrap();
        assert_eq!(resp.body().content_length(), None);
        assert_eq!(resp.into_body().into_bytes().unwrap(), b"until the end");
        assert_eq!(get_text(&client, &format!("{url}/2")).1, "ok");
        assert_no_more_connections(peer);
    });
}

#[test]
fn client_responses_without_content_return_the_connection_at_once() {
    on_green_threads("client-no-content", || {
        let (url, peer) = one_connection(vec![
            ("HEAD /h HTTP/1.1", "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n".into()),
            ("GET /204 HTTP/1.1", "HTTP/1.1 204 No Content\r\n\r\n".into()),
            ("GET /304 HTTP/1.1", "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n".into()),
            ("GET /0 HTTP/1.1", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".into()),
            ("GET /last HTTP/1.1", OK.into()),
        ]);
        let client = client();
        // Each response is kept alive while the next request goes out: the
        // connection went back to the pool when its head was read.
        let head = client.head(format!("{url}/h")).unwrap();
        assert_eq!(head.headers()["content-length"], "1234");
        assert_eq!(head.body().content_length(), Some(0));
        let no_content = client.get(format!("{url}/204")).unwrap();
        assert_eq!(no_content.status(), 204);
        let not_modified = client.get(format!("{url}/304")).unwrap();
        assert_eq!(not_modified.status(), 304);
        let empty = client.get(format!("{url}/0")).unwrap();
        assert_eq!(get_text(&client, &format!("{url}/last")).1, "ok");
        for resp in [head, no_content, not_modified, empty] {
            assert!(resp.into_body().into_bytes().unwrap().is_empty());
        }
        assert_no_more_connections(peer);
    });
}

#[test]
fn client_skips_interim_responses() {
    on_green_threads("client-interim", || {
        let (url, peer) = peer(|listener| {
            let mut conn = Conn::accept(listener);
            let req = conn.expect("POST /upload HTTP/1.1");
            assert_eq!(req.body, b"data");
            conn.send("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n");
            conn.send("HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone");
        });
        let client = client();
        let req = http::Request::post(format!("{url}/upload")).header("expect", "100-continue").body("data").unwrap();
        let resp = client.request(req).unwrap();
        assert_eq!(resp.status(), 201);
        assert!(!resp.headers().contains_key("link"), "interim fields are not merged");
        assert_eq!(resp.into_body().into_bytes().unwrap(), b"done");
        assert_no_more_connections(peer);
    });
}

#[test]
fn client_does_not_pool_connections_the_response_forbids() {
    on_green_threads("client-no-reuse", || {
        let responses = [
            // RFC 9112 §6.3 rule 3: both framings; TE wins, no reuse.
            "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nte\r\n0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\ncl",
            "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n10",
        ];
        let (url, peer) = peer(move |listener| {
            for response in responses {
                let mut conn = Conn::accept(listener);
                conn.expect("GET / HTTP/1.1");
                conn.send(response);
                conn.expect_closed();
            }
        });
        let client = client();
        for want in ["te", "cl", "10"] {
            assert_eq!(get_text(&client, &url).1, want);
        }
        assert_no_more_connections(peer);
    });
}

#[test]
fn client_request_connection_close_is_not_pooled() {
    on_green_threads("client-req-close", || {
        let (url, peer) = peer(|listener| {
            let mut conn = Conn::accept(listener);
            let req = conn.expect("GET / HTTP/1.1");
            assert_eq!(req.header("connection"), Some("close"));
            conn.send(OK);
            conn.expect_closed();
        });
        let req = http::Request::get(&url).header("connection", "close").body(()).unwrap();
        let resp = client().request(req).unwrap();
        assert_eq!(resp.into_body().into_bytes().unwrap(), b"ok");
        assert_no_more_connections(peer);
    });
}

#[test]
fn client_drains_a_short_unread_body_and_reuses_the_connection() {
    on_green_threads("client-drain", || {
        let (url, peer) = one_connection(vec![
            ("GET /big HTTP/1.1", format!("HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n{}", "x".repeat(10_000))),
            (
                "GET /chunked HTTP/1.1",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n".into(),
            ),
            ("GET /next HTTP/1.1", OK.into()),
        ]);
        let client = client();
        let mut resp = client.get(format!("{url}/big")).unwrap().into_body();
        let mut first = [0u8; 10];
        resp.read_exact(&mut first).unwrap();
        drop(resp);
        drop(client.get(format!("{url}/chunked")).unwrap());
        assert_eq!(get_text(&client, &format!("{url}/next")).1, "ok");
        assert_no_more_connections(peer);
    });
}

#[test]
fn client_closes_the_connection_of_a_long_unread_body() {
    on_green_threads("client-no-drain", || {
        let (url, peer) = peer(|listener| {
            let mut conn = Conn::accept(listener);
            conn.expect("GET /huge HTTP/1.1");
            // More than MAX_DRAIN: the client closes rather than read it all,
            // so this write fails part way (reset or broken pipe).
            let body = vec![b'x'; 8 << 20];
            let _ =
                conn.writer.write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes());
            let _ = conn.writer.write_all(&body);
            let mut conn = Conn::accept(listener);
            conn.expect("GET /next HTTP/1.1");
            conn.send(OK);
        });
        let client = client();
        let resp = client.get(format!("{url}/huge")).unwrap();
        assert_eq!(resp.body().content_length(), Some(8 << 20));
        drop(resp);
        assert_eq!(get_text(&client, &format!("{url}/next")).1, "ok");
        assert_no_more_connections(peer);
    });
}

// ---------------------------------------------------------------------------
// Stale pooled connections

#[test]
fn client_replaces_a_connection_the_server_closed_while_idle() {
    on_green_threads("client-idle-close", || {
        let (url, peer) = peer(|listener| {
            let mut conn = Conn::accept(listener);
            conn.expect("GET /1 HTTP/1.1");
            conn.send(OK);
            drop(conn);
            let mut conn = Conn::accept(listener);
            conn.expect("GET /2 HTTP/1.1");
            conn.send(OK);
        });
        let client = client();
        assert_eq!(get_text(&client, &format!("{url}/1")).1, "ok");
        // Whether the pool's peek sees the close or the request runs into
        // it, the GET succeeds on a new connection.
        assert_eq!(get_text(&client, &format!("{url}/2")).1, "ok");
        assert_no_more_connections(peer);
    });
}

/// A peer that answers `GET /1`, then reads the next request on the same
/// connection and closes without answering: the race a pooled connection
/// loses when the server's idle timeout fires as the request arrives. If
/// `answer_retry`, it then accepts a second connection and answers there.
fn closes_after_reading_the_second_request(
    second: &'static str,
    answer_retry: bool,
) -> (String, std::thread::JoinHandle<StdListener>) {
    peer(move |listener| {
        let mut conn = Conn::accept(listener);
        conn.expect("GET /1 HTTP/1.1");
        conn.send(OK);
        conn.expect(second);
        drop(conn);
        if answer_retry {
            let mut conn = Conn::accept(listener);
            conn.expect(second);
            conn.send(OK);
        }
    })
}

#[test]
fn client_retries_an_idempotent_request_once_on_a_stale_connection() {
    on_green_threads("client-retry", || {
        for (method, line) in [("GET", "GET /2 HTTP/1.1"), ("PUT", "PUT /2 HTTP/1.1")] {
            let (url, peer) = closes_after_reading_the_second_request(line, true);
            let client = client();
            assert_eq!(get_text(&client, &format!("{url}/1")).1, "ok");
            let req = http::Request::builder().method(method).uri(format!("{url}/2")).body("same bytes").unwrap();
            let resp = client.request(req).unwrap();
            assert_eq!(resp.into_body().into_bytes().unwrap(), b"ok", "{method}");
            assert_no_more_connections(peer);
        }
    });
}

#[test]
fn client_does_not_retry_a_post_or_a_reader_body_on_a_stale_connection() {
    on_green_threads("client-no-retry", || {
        let (url, peer) = closes_after_reading_the_second_request("POST /2 HTTP/1.1", false);
        let client = client();
        assert_eq!(get_text(&client, &format!("{url}/1")).1, "ok");
        let e = client.post(format!("{url}/2"), "once only").unwrap_err();
        assert!(matches!(e.kind(), io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset), "{e}");
        assert!(e.to_string().contains("not idempotent"), "{e}");
        assert_no_more_connections(peer);

        // A PUT is idempotent, but a reader body is gone after one attempt.
        let (url, peer) = closes_after_reading_the_second_request("PUT /2 HTTP/1.1", false);
        assert_eq!(get_text(&client, &format!("{url}/1")).1, "ok");
        let body = Payload::sized_reader(io::Cursor::new(b"read once".to_vec()), 9);
        let e = client.request(http::Request::put(format!("{url}/2")).body(body).unwrap()).unwrap_err();
        assert!(e.to_string().contains("reader or file"), "{e}");
        assert_no_more_connections(peer);
    });
}

// ---------------------------------------------------------------------------
// Errors

#[test]
fn client_reports_a_short_sized_reader_as_its_own_error() {
    on_green_threads("client-short-reader", || {
        let (url, peer) = peer(|listener| {
            let mut conn = Conn::accept(listener);
            conn.expect("GET /1 HTTP/1.1");
            conn.send(OK);
            // The PUT's head and the 3 bytes the reader had, then the close.
            let mut rest = Vec::new();
            let _ = conn.reader.read_to_end(&mut rest);
            let rest = String::from_utf8(rest).unwrap();
            assert!(rest.starts_with("PUT /2 HTTP/1.1\r\n") && rest.ends_with("\r\n\r\nabc"), "{rest:?}");
        });
        let client = client();
        assert_eq!(get_text(&client, &format!("{url}/1")).1, "ok");
        // On a reused connection, with an idempotent method: the reader's
        // early end is not mistaken for a stale connection.
        let body = Payload::sized_reader(io::Cursor::new(b"abc".to_vec()), 10);
        let e = client.request(http::Request::put(format!("{url}/2")).body(body).unwrap()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
        assert!(e.to_string().contains("reader ended"), "{e}");
        assert!(!e.to_string().contains("server closed"), "{e}");
        assert_no_more_connections(peer);
    });
}

#[test]
fn client_rejects_malformed_response_heads() {
    on_green_threads("client-malformed", || {
        let responses = [
            ("HTTP/1.1 200 OK\nContent-Length: 0\n\n", false),
            ("HTTP/1.1 2000 OK\r\n\r\n", false),
            ("HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n", false),
            ("HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n", true),
            ("HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n", true),
        ];
        let (url, peer) = peer(move |listener| {
            for (response, _) in responses {
                let mut conn = Conn::accept(listener);
                conn.expect("GET / HTTP/1.1");
                conn.send(response);
                conn.expect_closed();
            }
        });
        let client = client();
        for (response, framing) in responses {
            let e = client.get(&url).unwrap_err();
            let inner = http_error(&e);
            assert!(inner.is_response(), "{response:?}: {e}");
            assert_eq!(inner.is_framing(), framing, "{response:?}: {e}");
        }
        assert_no_more_connections(peer);
    });
}

#[test]
fn client_rejects_unsupported_and_relative_uris() {
    let client = client();
    let e = client.get("https://127.0.0.1/").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::Unsupported);
    assert!(e.to_string().contains("`https`"), "{e}");
    assert_eq!(client.get("/relative").unwrap_err().kind(), io::ErrorKind::InvalidInput);
    assert_eq!(client.get("not a uri").unwrap_err().kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn client_connect_refused() {
    on_green_threads("client-refused", || {
        let port = StdListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let e = client().get(format!("http://127.0.0.1:{port}/")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
    });
}

/// A peer that reads one request, then answers `partial` and waits (without
/// closing) until the test says it is done.
fn stalls_after(partial: &'static str) -> (String, std::thread::JoinHandle<StdListener>, std::sync::mpsc::Sender<()>) {
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let (url, peer) = peer(move |listener| {
        let mut conn = Conn::accept(listener);
        conn.expect("GET / HTTP/1.1");
        conn.send(partial);
        let _ = wait.recv();
    });
    (url, peer, done)
}

fn read_timeouts() {
    let limit = Duration::from_millis(200);
    let client = Client::builder().read_timeout(limit).build();
    // No head at all: the peer never answers, so this times out however
    // loaded the machine is.
    let (url, peer, done) = stalls_after("");
    let start = Instant::now();
    let e = client.get(&url).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
    assert!(start.elapsed() >= limit);
    done.send(()).unwrap();
    assert_no_more_connections(peer);
    // A head, then a body that stops short. The head must arrive within the
    // limit, so this part allows a loaded machine more time.
    let limit = Duration::from_secs(1);
    let client = Client::builder().read_timeout(limit).build();
    let (url, peer, done) = stalls_after("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab");
    let mut body = client.get(&url).unwrap().into_body();
    let start = Instant::now();
    let mut buf = Vec::new();
    let e = body.read_to_end(&mut buf).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
    assert!(start.elapsed() >= limit);
    assert_eq!(buf, b"ab");
    done.send(()).unwrap();
    assert_no_more_connections(peer);
}

#[test]
fn client_read_timeout_is_timed_out_on_green_threads() {
    on_green_threads("client-read-timeout", read_timeouts);
}

#[test]
fn client_read_timeout_is_timed_out_on_an_os_thread() {
    read_timeouts();
}

#[test]
fn client_write_timeout_is_timed_out() {
    on_green_threads("client-write-timeout", || {
        let (done, wait) = std::sync::mpsc::channel::<()>();
        // Accepts and never reads: the socket buffers fill and writes stall.
        let (url, peer) = peer(move |listener| {
            let _conn = Conn::accept(listener);
            let _ = wait.recv();
        });
        let limit = Duration::from_millis(200);
        let client = Client::builder().write_timeout(limit).build();
        let start = Instant::now();
        let e = client.post(&url, vec![0u8; 64 << 20]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        assert!(start.elapsed() >= limit);
        done.send(()).unwrap();
        assert_no_more_connections(peer);
    });
}
