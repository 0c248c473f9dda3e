//! The weft-http server's rejections, limits and timeouts over real
//! loopback sockets: every rule of the request-head parser's table with raw
//! bytes and a request smuggled behind it, malformed chunked bodies, the
//! builder's size limits, the header, keep-alive and body timeouts, the
//! connection limit, and random malformed input.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use http::{Request, Response};
use support::http::{each_runtime, echo, get, post, post_chunked, recorded, Client, TestServer, SHORT};
use support::{wait_until_workers_sleep, XorShift};
use weft_http::{Body, Limits, Payload, Server, ServerHandle};

/// A request that must never be answered: it follows a rejected one.
const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n";

/// Every rule of the table in `http/src/parse.rs`: the request (the
/// smuggled one is appended) and the status RFC 9112 / 9110 require.
const REJECTED: &[(&str, &str, u16)] = &[
    ("bare LF line ends", "GET / HTTP/1.1\nHost: t\n\n", 400),
    ("bare LF ending one field", "GET / HTTP/1.1\r\nHost: t\nX: y\r\n\r\n", 400),
    ("bare LF ending the head", "GET / HTTP/1.1\r\nHost: t\r\n\n", 400),
    ("bare CR in a field", "GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n", 400),
    ("NUL in a field", "GET / HTTP/1.1\r\nHost: t\r\nX: a\0b\r\n\r\n", 400),
    ("control in a field", "GET / HTTP/1.1\r\nHost: t\r\nX: a\x01b\r\n\r\n", 400),
    ("whitespace before the first field", "GET / HTTP/1.1\r\n Host: t\r\n\r\n", 400),
    ("two spaces in the request line", "GET  / HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("whitespace before a colon", "GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400),
    ("tab before a colon", "GET / HTTP/1.1\r\nHost: t\r\nX\t: y\r\n\r\n", 400),
    ("obs-fold", "GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n", 400),
    ("invalid field name", "GET / HTTP/1.1\r\nHost: t\r\nBad(Name: x\r\n\r\n", 400),
    ("empty field name", "GET / HTTP/1.1\r\nHost: t\r\n: x\r\n\r\n", 400),
    ("version HTTP/2.0", "GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
    ("version HTTP/1.2", "GET / HTTP/1.2\r\nHost: t\r\n\r\n", 505),
    ("version not HTTP/d.d", "GET / HTTP/x\r\nHost: t\r\n\r\n", 400),
    ("lower-case version", "GET / http/1.1\r\nHost: t\r\n\r\n", 400),
    ("HTTP/1.1 without Host", "GET / HTTP/1.1\r\nX: y\r\n\r\n", 400),
    ("two Host lines", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400),
    ("invalid Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    ("Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400),
    ("asterisk-form for GET", "GET * HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("origin-form for CONNECT", "CONNECT / HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("authority-form for GET", "GET t:80 HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("fragment in the target", "GET /a#f HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("userinfo in an absolute-form target", "GET http://u@t/ HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("backslash in the target", "GET /a\\..\\b HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("bad percent-escape in the target", "GET /%zz HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    (
        "Content-Length and Transfer-Encoding",
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    (
        "Transfer-Encoding and Content-Length",
        "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n",
        400,
    ),
    ("Transfer-Encoding on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("final coding not chunked", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
    ("only gzip", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\nabc", 400),
    ("chunked twice", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400),
    (
        "chunked on two lines",
        "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    ("empty coding", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: , chunked\r\n\r\n0\r\n\r\n", 400),
    (
        "unknown coding before chunked",
        "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        501,
    ),
    (
        "differing Content-Lengths",
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        400,
    ),
    ("differing Content-Length list", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 6\r\n\r\nhello!", 400),
    ("Content-Length not digits", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5a\r\n\r\nhello", 400),
    ("Content-Length with sign", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: +5\r\n\r\nhello", 400),
    ("negative Content-Length", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", 400),
    ("empty Content-Length", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: \r\n\r\n", 400),
    ("Content-Length list with empty element", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5,\r\n\r\nhello", 400),
    (
        "Content-Length overflowing u64",
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 18446744073709551616\r\n\r\n",
        400,
    ),
    ("Expect other than 100-continue", "GET / HTTP/1.1\r\nHost: t\r\nExpect: 200-ok\r\n\r\n", 417),
];

#[test]
fn every_parser_rule_is_answered_with_its_status_then_closed() {
    each_runtime("rejected", |rt| {
        let (handler, calls) = recorded(echo);
        let server = TestServer::with_defaults(rt, handler);
        for (what, request, status) in REJECTED {
            let mut client = server.client();
            client.send(format!("{request}{SMUGGLED}"));
            let response = client.response();
            assert_eq!(response.status, *status, "{what}: {response:?}");
            assert!(response.closes(), "{what}: no Connection: close in {response:?}");
            // Exactly one response: the smuggled request gets none.
            client.expect_closed();
        }
        server.stop();
        assert_eq!(calls.targets(), Vec::<String>::new(), "the handler saw a rejected or smuggled request");
    });
}

#[test]
fn a_rejected_request_behind_pipelined_ones_is_answered_after_them() {
    each_runtime("rejectpipe", |rt| {
        let (handler, calls) = recorded(echo);
        let server = TestServer::with_defaults(rt, handler);
        let mut client = server.client();
        let bad = format!("GET / HTTP/1.1\r\nHost : t\r\n\r\n{SMUGGLED}");
        client.send([get("/1").into_bytes(), post("/2", b"two"), bad.into_bytes()].concat());
        assert_eq!(client.response().text(), "/1");
        assert_eq!(client.response().text(), "two");
        client.last_response().assert_status(400);
        drop(client);
        server.stop();
        assert_eq!(calls.targets(), ["/1", "/2"]);
    });
}

#[test]
fn identical_duplicate_content_lengths_are_accepted() {
    each_runtime("dupcl", |rt| {
        let server = TestServer::with_defaults(rt, echo);
        let mut client = server.client();
        for lengths in ["Content-Length: 5\r\nContent-Length: 5", "Content-Length: 5, 5", "Content-Length: 005"] {
            let response = client.request(format!("POST /d HTTP/1.1\r\nHost: t\r\n{lengths}\r\n\r\nhello"));
            response.assert_status(200);
            assert_eq!(response.body, b"hello", "{lengths}");
        }
        drop(client);
        server.stop();
    });
}

/// Malformed chunked bodies (after a valid head) with a smuggled request
/// behind each.
const BAD_CHUNKED: &[(&str, &str)] = &[
    ("size not hex", "zz\r\nhello\r\n0\r\n\r\n"),
    ("bare LF after the size", "5\nhello\r\n0\r\n\r\n"),
    ("bare LF after the data", "5\r\nhello\n0\r\n\r\n"),
    ("data longer than its size", "3\r\nhello\r\n0\r\n\r\n"),
    ("17-digit size", "00000000000000005\r\nhello\r\n0\r\n\r\n"),
    ("size with 0x prefix", "0x5\r\nhello\r\n0\r\n\r\n"),
    ("junk after the size", "5x\r\nhello\r\n0\r\n\r\n"),
    ("bare CR in the framing", "5\rhello\r\n0\r\n\r\n"),
    ("obs-fold trailer", "0\r\nA: b\r\n c\r\n\r\n"),
    ("trailer without colon", "0\r\nnocolon\r\n\r\n"),
    ("bare LF ending the trailers", "0\r\n\n"),
];

#[test]
fn a_malformed_chunked_body_is_400_and_closes() {
    each_runtime("badchunk", |rt| {
        // A handler that ignores the read error and claims success: the
        // server must still answer 400, as for a malformed head (it answers
        // 413 the same way for a body over the limit).
        let errors = Arc::new(Mutex::new(Vec::new()));
        let seen = errors.clone();
        let (handler, calls) = recorded(move |req: Request<Body>| {
            let result = req.into_body().into_bytes();
            let status =
                result.as_ref().err().and_then(|e| e.get_ref()?.downcast_ref::<weft_http::Error>()?.status().into());
            seen.lock().unwrap().push(status);
            Response::new(Payload::from("fine"))
        });
        let server = TestServer::with_defaults(rt, handler);
        for (what, body) in BAD_CHUNKED {
            let mut client = server.client();
            client.send(format!("POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{body}{SMUGGLED}"));
            let response = client.response();
            assert_eq!(response.status, 400, "{what}: {response:?}");
            assert!(response.closes(), "{what}: {response:?}");
            client.expect_closed();
        }
        server.stop();
        assert_eq!(calls.count(), BAD_CHUNKED.len(), "the smuggled requests were never handled");
        let errors = errors.lock().unwrap();
        assert!(errors.iter().all(|s| *s == Some(http::StatusCode::BAD_REQUEST)), "read errors: {errors:?}");
    });
}

#[test]
fn a_request_line_over_the_limit_is_414_even_before_its_end() {
    each_runtime("uri414", |rt| {
        let (handler, calls) = recorded(echo);
        let limits = Limits::default().max_request_line(64);
        let server = TestServer::start(rt, Server::builder().limits(limits), handler);
        let long = format!("/{}", "a".repeat(100));
        // Whole, and without its line end (the server must not wait for it).
        for request in [get(&long), format!("GET {long}")] {
            let mut client = server.client();
            let response = client.last_request(request);
            response.assert_status(414);
        }
        // Just inside the limit: `GET ` + target + ` HTTP/1.1` is 64 bytes.
        let mut client = server.client();
        let fits = format!("/{}", "a".repeat(64 - 14));
        assert_eq!(client.request(get(&fits)).text(), fits);
        drop(client);
        server.stop();
        assert_eq!(calls.count(), 1);
    });
}

#[test]
fn too_many_headers_is_431() {
    each_runtime("hdrs431", |rt| {
        let (handler, calls) = recorded(echo);
        let server = TestServer::start(rt, Server::builder().limits(Limits::default().max_headers(4)), handler);
        let mut client = server.client();
        let ok = client.request("GET /four HTTP/1.1\r\nHost: t\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
        assert_eq!(ok.text(), "/four");
        let response = client
            .last_request(format!("GET /five HTTP/1.1\r\nHost: t\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n{SMUGGLED}"));
        response.assert_status(431);
        drop(client);
        server.stop();
        assert_eq!(calls.targets(), ["/four"]);
    });
}

#[test]
fn a_head_over_the_limit_is_431_complete_or_not() {
    each_runtime("head431", |rt| {
        let (handler, calls) = recorded(echo);
        let limits = Limits::default().max_header_bytes(512);
        let server = TestServer::start(rt, Server::builder().limits(limits), handler);
        let big = "v".repeat(600);
        for request in [
            format!("GET / HTTP/1.1\r\nHost: t\r\nX: {big}\r\n\r\n{SMUGGLED}"),
            // Never ends: the limit, not a timeout, must answer it.
            format!("GET / HTTP/1.1\r\nHost: t\r\nX: {big}"),
        ] {
            let mut client = server.client();
            let response = client.last_request(request);
            response.assert_status(431);
        }
        server.stop();
        assert_eq!(calls.count(), 0);
    });
}

#[test]
fn a_content_length_over_max_body_is_413_without_calling_the_handler() {
    each_runtime("cl413", |rt| {
        let (handler, calls) = recorded(echo);
        let server = TestServer::start(rt, Server::builder().max_body(1000), handler);
        let mut client = server.client();
        assert_eq!(client.request(post("/fits", &[b'x'; 1000])).body.len(), 1000);
        // Only the head is sent: the answer must not wait for the body.
        let response = client.last_request("POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n");
        response.assert_status(413);
        drop(client);
        server.stop();
        assert_eq!(calls.targets(), ["/fits"]);
    });
}

#[test]
fn a_chunked_body_over_max_body_is_413_after_the_handlers_read_fails() {
    each_runtime("chunk413", |rt| {
        let errors = Arc::new(Mutex::new(Vec::new()));
        let seen = errors.clone();
        let (handler, calls) = recorded(move |req: Request<Body>| {
            let result = req.into_body().into_bytes();
            let status = match &result {
                Ok(_) => None,
                Err(e) => e.get_ref().and_then(|i| i.downcast_ref::<weft_http::Error>()).map(|e| e.status()),
            };
            seen.lock().unwrap().push(status);
            Response::new(Payload::from(result.unwrap_or_default()))
        });
        let server = TestServer::start(rt, Server::builder().max_body(1000), handler);
        let mut client = server.client();
        let fits = client.request(post_chunked("/fits", &[b'x'; 1000], &[300]));
        assert_eq!(fits.body.len(), 1000);
        let mut request = post_chunked("/big", &[b'x'; 1001], &[300]);
        request.extend_from_slice(SMUGGLED.as_bytes());
        let response = client.last_request(request);
        response.assert_status(413);
        drop(client);
        server.stop();
        assert_eq!(calls.targets(), ["/fits", "/big"]);
        assert_eq!(*errors.lock().unwrap(), [None, Some(http::StatusCode::PAYLOAD_TOO_LARGE)]);
    });
}

/// Reads what the server sends until it closes; a reset counts as a
/// close here (the server may close with our bytes unread).
fn read_until_closed(client: &Client) -> Vec<u8> {
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match std::io::Read::read(&mut client.stream(), &mut chunk) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("waiting for the server to close: {e}"),
        }
    }
}

#[test]
fn a_slow_head_is_closed_after_the_header_timeout_while_others_are_served() {
    each_runtime("slowloris", |rt| {
        let (handler, calls) = recorded(echo);
        let server = TestServer::start(rt, Server::builder().header_timeout(SHORT), handler);
        let mut silent = server.client();
        let mut partial = server.client();
        // Taken before the send: the server's clock starts after it.
        let sent = Instant::now();
        partial.send("GET /never HTTP/1.1\r\nHost: t\r\n");
        // The server answers others meanwhile, on any worker count.
        let mut other = server.client();
        for i in 0..3 {
            assert_eq!(other.request(get(&format!("/{i}"))).text(), format!("/{i}"));
        }
        partial.expect_closed();
        assert!(sent.elapsed() >= SHORT, "closed after {:?}, before the header timeout", sent.elapsed());
        // A connection that never sends a byte is closed the same way.
        silent.expect_closed();
        drop((silent, partial, other));
        server.stop();
        assert_eq!(calls.targets(), ["/0", "/1", "/2"]);
    });
}

#[test]
fn the_header_timeout_bounds_the_whole_head_not_each_read() {
    each_runtime("trickle", |rt| {
        let (handler, calls) = recorded(echo);
        let server = TestServer::start(rt, Server::builder().header_timeout(SHORT), handler);
        let client = server.client();
        // One byte every 20 ms: each read comes well within the timeout,
        // the whole head would take over three times it. (The sleep makes the client
        // slow; it waits for no condition.)
        let head = b"GET /trickle HTTP/1.1\r\nHost: t\r\n\r\n";
        let start = Instant::now();
        for b in head {
            if std::io::Write::write_all(&mut client.stream(), &[*b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let got = read_until_closed(&client);
        assert!(got.is_empty(), "a trickled head was answered: {:?}", String::from_utf8_lossy(&got));
        assert!(start.elapsed() >= SHORT, "closed after {:?}, before the header timeout", start.elapsed());
        drop(client);
        server.stop();
        assert_eq!(calls.count(), 0);
    });
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout() {
    each_runtime("idle", |rt| {
        let server = TestServer::start(rt, Server::builder().keep_alive_timeout(SHORT), echo);
        let mut client = server.client();
        // Taken before the request: the server's idle clock starts after it.
        let sent = Instant::now();
        assert_eq!(client.request(get("/a")).text(), "/a");
        client.expect_closed();
        assert!(sent.elapsed() >= SHORT, "closed after {:?}", sent.elapsed());
        drop(client);
        server.stop();
    });
}

#[test]
fn a_stalled_body_fails_the_handlers_read_with_timed_out() {
    each_runtime("bodytime", |rt| {
        // `echo` answers a failed read with 408 exactly when its error is
        // `TimedOut` (and not a weft-http error).
        let server = TestServer::start(rt, Server::builder().body_timeout(SHORT), echo);
        for request in [
            "POST /cl HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc",
            "POST /ch HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        ] {
            let mut client = server.client();
            let sent = Instant::now();
            client.send(request);
            // The body's framing is lost: the connection closes.
            let response = client.last_response();
            response.assert_status(408);
            assert!(sent.elapsed() >= SHORT, "timed out after {:?}", sent.elapsed());
        }
        server.stop();
    });
}

#[test]
fn beyond_max_connections_a_connection_waits_until_one_closes() {
    each_runtime("maxconn", |rt| {
        let handle_cell: Arc<OnceLock<ServerHandle>> = Arc::new(OnceLock::new());
        let most = Arc::new(AtomicUsize::new(0));
        let (cell, seen_most) = (handle_cell.clone(), most.clone());
        let (handler, calls) = recorded(move |req: Request<Body>| {
            seen_most.fetch_max(cell.get().expect("handle set").connections(), SeqCst);
            echo(req)
        });
        let server = TestServer::start(rt, Server::builder().max_connections(2), handler);
        handle_cell.set(server.handle.clone()).unwrap();

        let mut first = server.client();
        let mut second = server.client();
        assert_eq!(first.request(get("/1")).text(), "/1");
        assert_eq!(second.request(get("/2")).text(), "/2");
        // Connects in the kernel's backlog; its request is not read yet.
        let mut third = server.client();
        third.send(get("/3"));
        // Once every worker sleeps, everything the server could do with the
        // request has been done: it must not have been handled.
        wait_until_workers_sleep(&format!("maxconn-w{}", rt.workers()), rt.workers());
        assert_eq!(calls.count(), 2, "a third connection was served beyond max_connections(2)");
        assert_eq!(server.handle.connections(), 2);
        // An idle connection closes: the third is accepted and answered.
        drop(first);
        assert_eq!(third.response().text(), "/3");
        assert_eq!(second.request(get("/2b")).text(), "/2b");
        drop((second, third));
        server.stop();
        assert_eq!(calls.targets(), ["/1", "/2", "/3", "/2b"]);
        assert!(most.load(SeqCst) <= 2, "{} connections served at once", most.load(SeqCst));
    });
}

/// Valid requests the fuzzer mutates. No HEAD: a response to HEAD cannot
/// be parsed without knowing it answers one.
const SEEDS: &[&str] = &[
    "GET /a?b=c HTTP/1.1\r\nHost: t\r\n\r\n",
    "POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
    "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n1\r\n!\r\n0\r\nT: v\r\n\r\n",
    "GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "PUT /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    "OPTIONS * HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    "GET http://t/abs HTTP/1.1\r\nHost: t\r\nX-A: 1\r\nX-B: two words\r\n\r\n",
    "CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\n\r\n",
];

/// Bytes that matter to the grammar, more likely than others.
const INTERESTING: &[u8] = b"\r\n \t:;,=\"0159aAfFxX-+/\0\x7f\x80\xff";

fn random_byte(rng: &mut XorShift) -> u8 {
    if rng.one_in(2) {
        INTERESTING[rng.below(INTERESTING.len())]
    } else {
        rng.next_u64() as u8
    }
}

/// A seed (or two, pipelined) with one to four random edits, or now and
/// then plain random bytes.
fn mutated(rng: &mut XorShift) -> Vec<u8> {
    if rng.one_in(20) {
        return (0..1 + rng.below(200)).map(|_| random_byte(rng)).collect();
    }
    let mut input = SEEDS[rng.below(SEEDS.len())].as_bytes().to_vec();
    if rng.one_in(4) {
        input.extend_from_slice(SEEDS[rng.below(SEEDS.len())].as_bytes());
    }
    for _ in 0..1 + rng.below(4) {
        if input.is_empty() {
            input.push(random_byte(rng));
        }
        let at = rng.below(input.len() + 1);
        match rng.below(7) {
            0 if at < input.len() => input[at] = random_byte(rng),
            1 => input.insert(at, random_byte(rng)),
            2 if at < input.len() => drop(input.remove(at)),
            3 => {
                let (a, b) = (rng.below(input.len()), rng.below(input.len()));
                let copy = input[a.min(b)..a.max(b)].to_vec();
                input.splice(at..at, copy);
            }
            4 => input.truncate(at),
            5 => {
                // A CRLF loses one half.
                if let Some(i) = input.windows(2).skip(at).position(|w| w == b"\r\n") {
                    input.remove(at + i + rng.below(2));
                }
            }
            _ => {
                let end = (at + rng.below(8)).min(input.len());
                input.drain(at..end);
            }
        }
    }
    input
}

/// Panics raised inside weft-http's own code since the hook went in.
static HTTP_PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts panics located in `http/src`, then reports them as before. Call
/// after a runtime exists: weft's hook then sits below this one.
fn count_http_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.location().is_some_and(|l| l.file().contains("http/src")) {
                HTTP_PANICS.fetch_add(1, SeqCst);
            }
            previous(info);
        }));
    });
}

#[test]
fn random_malformed_requests_are_answered_or_closed_cleanly() {
    const CASES: usize = 2_000;
    each_runtime("fuzz", |rt| {
        count_http_panics();
        let server = TestServer::start(rt, Server::builder().max_body(64 * 1024), echo);
        let mut rng = XorShift::new(0x5eed_f022 + rt.workers() as u64);
        let mut tally = std::collections::BTreeMap::new();
        for case in 0..CASES {
            let input = mutated(&mut rng);
            if support::http::find(&input, b"HEAD").is_some() {
                continue;
            }
            let shown = String::from_utf8_lossy(&input).into_owned();
            let mut client = server.client();
            // The server may answer and close before all is written.
            let _ = std::io::Write::write_all(&mut client.stream(), &input);
            let _ = client.stream().shutdown(std::net::Shutdown::Write);
            let mut closed = false;
            loop {
                match client.try_response(false) {
                    Ok(Some(response)) => {
                        assert!(!closed, "case {case}: a response after Connection: close, for {shown:?}");
                        let allowed = [100, 200, 400, 408, 413, 414, 417, 431, 501, 505];
                        assert!(allowed.contains(&response.status), "case {case}: {response:?} for {shown:?}");
                        closed = response.closes();
                        *tally.entry(response.status).or_insert(0) += 1;
                    }
                    Ok(None) => break,
                    Err(e) => panic!("case {case}: {e}, for {shown:?}"),
                }
            }
        }
        // Still serving, and serving correctly.
        let mut client = server.client();
        assert_eq!(client.request(post("/last", b"still here")).body, b"still here");
        drop(client);
        server.stop();
        assert_eq!(HTTP_PANICS.load(SeqCst), 0, "weft-http panicked on malformed input");
        assert!(tally.get(&200).is_some_and(|&n| n > 50) && tally.get(&400).is_some_and(|&n| n > 50), "{tally:?}");
    });
}

#[test]
fn a_client_that_stops_reading_is_dropped_after_the_write_timeout() {
    let dir = support::TempDir::new("http-sendfile");
    let path = dir.join("sparse");
    // 256 MB of holes: far more than the socket buffers hold, no disk used.
    std::fs::File::create(&path).unwrap().set_len(256 << 20).unwrap();
    each_runtime("stalled", move |rt| {
        let path = path.clone();
        let server = TestServer::start(rt, Server::builder().write_timeout(SHORT), move |req: Request<Body>| {
            let huge = 256 << 20;
            match req.uri().path() {
                "/file" => Response::new(Payload::file(std::fs::File::open(&path).unwrap()).unwrap()),
                "/reader" => Response::new(Payload::sized_reader(std::io::repeat(b'x'), huge)),
                _ => Response::new(Payload::reader(std::io::Read::take(std::io::repeat(b'x'), huge))),
            }
        });
        // Taken before the requests: every write the server waits on starts after it.
        let start = Instant::now();
        let clients: Vec<Client> = ["/file", "/reader", "/chunked"]
            .into_iter()
            .map(|path| {
                let mut client = server.client();
                client.send(get(path));
                // Being answered: the connection is accepted and writing.
                client.wait_for(b"\r\n\r\n");
                client
            })
            .collect();
        // The three connections are busy writing, so the shutdown waits
        // for them: `serve` returns only because each write timed out.
        server.stop();
        assert!(start.elapsed() >= SHORT, "serve returned after {:?}", start.elapsed());
        drop(clients);
    });
}
