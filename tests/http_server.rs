//! The weft-http server's protocol behaviour over real loopback sockets,
//! raw bytes in and out: keep-alive, pipelining, chunked bodies both ways,
//! the payload kinds, `Expect: 100-continue`, HEAD, `Date`, and what happens
//! to a body the handler does not read.

mod support;

use std::io::{Cursor, Read};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use http::{Request, Response};
use support::http::{each_runtime, echo, get, post, post_chunked, recorded, TestServer};
use support::{pattern, TempDir};
use weft::sync::Barrier;
use weft_http::{Body, Payload, Server};

#[test]
fn http11_keeps_the_connection_alive_by_default() {
    each_runtime("ka11", |rt| {
        let server = TestServer::with_defaults(rt, echo);
        let mut client = server.client();
        for i in 0..5 {
            let response = client.request(get(&format!("/{i}")));
            response.assert_status(200);
            assert_eq!(response.text(), format!("/{i}"));
            assert!(!response.closes(), "HTTP/1.1 persists by default: {response:?}");
        }
        let response = client.request(post("/p", b"hello"));
        assert_eq!(response.body, b"hello");
        drop(client);
        server.stop();
    });
}

#[test]
fn http10_with_keep_alive_persists_and_says_so() {
    each_runtime("ka10", |rt| {
        let server = TestServer::with_defaults(rt, echo);
        let mut client = server.client();
        for i in 0..3 {
            let response = client.request(format!("GET /{i} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
            response.assert_status(200);
            assert_eq!(response.text(), format!("/{i}"));
            assert_eq!(response.header("connection"), Some("keep-alive"), "{response:?}");
        }
        let response = client.request(b"POST /p HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc");
        assert_eq!(response.body, b"abc");
        assert_eq!(response.header("connection"), Some("keep-alive"));
        drop(client);
        server.stop();
    });
}

#[test]
fn a_request_that_does_not_keep_the_connection_closes_it_after_the_response() {
    each_runtime("close", |rt| {
        let (handler, calls) = recorded(echo);
        let server = TestServer::with_defaults(rt, handler);
        let heads = [
            "GET /one HTTP/1.0\r\n",
            "GET /one HTTP/1.1\r\nHost: t\r\nConnection: close\r\n",
            "GET /one HTTP/1.1\r\nHost: t\r\nConnection: Close\r\n",
            "GET /one HTTP/1.0\r\nConnection: keep-alive, close\r\n",
        ];
        for head in heads {
            let mut client = server.client();
            // A second request in the same write must not be answered.
            client.send(format!("{head}\r\n{}", get("/two")));
            let response = client.last_response();
            response.assert_status(200);
            assert_eq!(response.text(), "/one", "{head:?}");
        }
        server.stop();
        assert_eq!(calls.targets(), ["/one"; 4]);
    });
}

#[test]
fn pipelined_requests_in_one_write_are_answered_in_order() {
    each_runtime("pipe3", |rt| {
        let server = TestServer::with_defaults(rt, echo);
        let mut client = server.client();
        client.send(format!("{}{}{}", get("/1"), get("/2"), get("/3")));
        for i in 1..=3 {
            let response = client.response();
            response.assert_status(200);
            assert_eq!(response.text(), format!("/{i}"));
        }
        // And the connection is still good.
        assert_eq!(client.request(get("/4")).text(), "/4");
        drop(client);
        server.stop();
    });
}

#[test]
fn sixteen_pipelined_requests_with_bodies_are_echoed_in_order() {
    each_runtime("pipe16", |rt| {
        let server = TestServer::with_defaults(rt, echo);
        let mut client = server.client();
        // Bodies of 0 to ~6 KB (48 KB in all, well inside the socket
        // buffers, so writing all before reading cannot deadlock), framed
        // alternately by Content-Length and chunked.
        let bodies: Vec<Vec<u8>> = (0..16).map(|i| pattern(i as u64, 0, i * 397 % 6000)).collect();
        let mut burst = Vec::new();
        for (i, body) in bodies.iter().enumerate() {
            let request = if i % 2 == 0 {
                post(&format!("/{i}"), body)
            } else {
                post_chunked(&format!("/{i}"), body, &[1, 100, 4096, 7])
            };
            burst.extend_from_slice(&request);
        }
        client.send(&burst);
        for (i, body) in bodies.iter().enumerate() {
            let response = client.response();
            response.assert_status(200);
            assert!(response.body == *body, "response {i}: echoed body differs");
            assert_eq!(response.content_length(), Some(body.len() as u64));
        }
        drop(client);
        server.stop();
    });
}

#[test]
fn chunked_request_bodies_of_any_chunking_are_read_exactly() {
    each_runtime("chunkin", |rt| {
        let server = TestServer::with_defaults(rt, echo);
        let mut client = server.client();
        let body = pattern(7, 0, 20_000);
        for sizes in [&[1usize][..], &[3, 5], &[4096], &[20_000], &[0x1000, 1, 0xfff, 2]] {
            let response = client.request(post_chunked("/c", &body, sizes));
            response.assert_status(200);
            assert!(response.body == body, "chunk sizes {sizes:?}: echoed body differs");
        }
        // Upper-case hex, leading zeros and an empty body.
        let response = client.request(
            b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n00A\r\n0123456789\r\n000\r\n\r\n",
        );
        assert_eq!(response.body, b"0123456789");
        let response = client.request(b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
        assert_eq!(response.body, b"");
        drop(client);
        server.stop();
    });
}

/// Answers with the body, and whether the request's headers held a field
/// that the body's trailer section also sends (before and after reading).
fn trailer_spy(mut request: Request<Body>) -> Response<Payload> {
    let before = request.headers().contains_key("x-trailer");
    let mut body = Vec::new();
    request.body_mut().read_to_end(&mut body).expect("read the body");
    let after = request.headers().contains_key("x-trailer");
    Response::builder().header("x-saw-trailer", format!("{before},{after}")).body(Payload::from(body)).unwrap()
}

#[test]
fn chunk_extensions_and_trailers_are_consumed_and_the_next_request_parses() {
    each_runtime("trailers", |rt| {
        let (handler, calls) = recorded(|req: Request<Body>| match req.uri().path() {
            "/t" => trailer_spy(req),
            _ => echo(req),
        });
        let server = TestServer::with_defaults(rt, handler);
        let request: &[u8] = b"POST /t HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
            5;name=value;q=\"a b;c\"\r\nhello\r\n\
            1 ; lone\r\n \r\n\
            5\r\nworld\r\n\
            0;last=1\r\nX-Trailer: secret\r\nX-Other: 1\r\n\r\n\
            GET /after HTTP/1.1\r\nHost: t\r\n\r\n";
        // All in one write, then the same bytes one at a time, so the
        // decoder sees every possible split of its framing.
        for one_byte_writes in [false, true] {
            let mut client = server.client();
            if one_byte_writes {
                for b in request {
                    client.send([*b]);
                }
            } else {
                client.send(request);
            }
            let response = client.response();
            response.assert_status(200);
            assert_eq!(response.text(), "hello world");
            assert_eq!(response.header("x-saw-trailer"), Some("false,false"), "trailers must not become headers");
            assert_eq!(client.response().text(), "/after");
        }
        server.stop();
        assert_eq!(calls.targets(), ["/t", "/after", "/t", "/after"]);
    });
}

/// Serves the payload kinds: `/reader` (unknown length), `/sized`
/// (`sized_reader`), `/file` (a range of the file at `path`).
fn payloads(path: std::path::PathBuf) -> impl Fn(Request<Body>) -> Response<Payload> + Send + Sync + 'static {
    move |req| match req.uri().path() {
        "/reader" => Response::new(Payload::reader(Cursor::new(pattern(1, 0, 100_000)))),
        "/sized" => Response::new(Payload::sized_reader(Cursor::new(pattern(1, 0, 100_000)), 100_000)),
        "/file" => Response::new(Payload::file_range(std::fs::File::open(&path).unwrap(), 1000, 150_000)),
        "/whole" => Response::new(Payload::file(std::fs::File::open(&path).unwrap()).unwrap()),
        _ => echo(req),
    }
}

#[test]
fn a_reader_of_unknown_length_is_sent_chunked_to_http11() {
    each_runtime("reader11", |rt| {
        let server = TestServer::with_defaults(rt, payloads("/nonexistent".into()));
        let mut client = server.client();
        for _ in 0..2 {
            let response = client.request(get("/reader"));
            response.assert_status(200);
            assert!(response.chunked, "{response:?}");
            assert_eq!(response.content_length(), None);
            assert!(response.body == pattern(1, 0, 100_000), "chunked body differs");
            assert!(!response.closes());
        }
        drop(client);
        server.stop();
    });
}

#[test]
fn a_reader_of_unknown_length_is_close_delimited_to_http10() {
    each_runtime("reader10", |rt| {
        let server = TestServer::with_defaults(rt, payloads("/nonexistent".into()));
        // Even when the client asks to keep the connection, the body's end
        // can only be the close.
        for request in ["GET /reader HTTP/1.0\r\n\r\n", "GET /reader HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"] {
            let mut client = server.client();
            let response = client.last_request(request);
            response.assert_status(200);
            assert!(response.close_delimited, "{response:?}");
            assert!(response.header("transfer-encoding").is_none() && response.content_length().is_none());
            assert!(response.body == pattern(1, 0, 100_000), "close-delimited body differs");
        }
        server.stop();
    });
}

#[test]
fn a_sized_reader_is_sent_with_content_length() {
    each_runtime("sized", |rt| {
        let server = TestServer::with_defaults(rt, payloads("/nonexistent".into()));
        let mut client = server.client();
        let response = client.request(get("/sized"));
        assert_eq!(response.content_length(), Some(100_000));
        assert!(!response.chunked);
        assert!(response.body == pattern(1, 0, 100_000), "sized body differs");
        // HTTP/1.0 too, and the connection persists there as well.
        let response = client.request("GET /sized HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert_eq!(response.content_length(), Some(100_000));
        assert_eq!(response.header("connection"), Some("keep-alive"));
        assert_eq!(client.request(get("/next")).text(), "/next");
        drop(client);
        server.stop();
    });
}

#[test]
fn a_file_range_is_sent_whole_and_head_gets_its_length_only() {
    let dir = TempDir::new("http-file");
    let path = dir.join("data");
    std::fs::write(&path, pattern(2, 0, 200_000)).unwrap();
    each_runtime("file", move |rt| {
        let server = TestServer::with_defaults(rt, payloads(path.clone()));
        let mut client = server.client();
        let response = client.request(get("/file"));
        assert_eq!(response.content_length(), Some(150_000));
        assert!(response.body == pattern(2, 1000, 150_000), "file range differs");
        let response = client.request(get("/whole"));
        assert!(response.body == pattern(2, 0, 200_000), "whole file differs");
        // HEAD, then GET in the same write: the HEAD response has no body,
        // so the GET response must parse right after its head.
        client.send(format!("HEAD /file HTTP/1.1\r\nHost: t\r\n\r\n{}", get("/file")));
        let head = client.head_response();
        head.assert_status(200);
        assert_eq!(head.content_length(), Some(150_000));
        let response = client.response();
        assert!(response.body == pattern(2, 1000, 150_000), "file range after HEAD differs");
        drop(client);
        server.stop();
    });
    drop(dir);
}

#[test]
fn head_gets_the_get_length_and_no_body() {
    each_runtime("head", |rt| {
        let server = TestServer::with_defaults(rt, payloads("/nonexistent".into()));
        let mut client = server.client();
        client.send(format!("HEAD /some/path HTTP/1.1\r\nHost: t\r\n\r\n{}", get("/some/path")));
        let head = client.head_response();
        let response = client.response();
        head.assert_status(200);
        assert_eq!(response.text(), "/some/path");
        assert_eq!(head.content_length(), Some(response.body.len() as u64));
        // A reader of unknown length: HEAD says chunked, sends nothing.
        client.send(format!("HEAD /reader HTTP/1.1\r\nHost: t\r\n\r\n{}", get("/after")));
        let head = client.head_response();
        assert_eq!(head.header("transfer-encoding"), Some("chunked"));
        assert_eq!(client.response().text(), "/after");
        drop(client);
        server.stop();
    });
}

#[test]
fn expect_100_continue_is_answered_when_the_handler_reads() {
    each_runtime("expect", |rt| {
        let (entered, release) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
        let (e, r) = (entered.clone(), release.clone());
        let server = TestServer::with_defaults(rt, move |req: Request<Body>| {
            if req.uri().path() == "/wait" {
                e.wait();
                r.wait();
            }
            echo(req)
        });
        let mut client = server.client();
        client.send("POST /wait HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
        entered.wait();
        // The handler runs and has not read: no 100 yet. (Anything the
        // server sent before calling the handler would be here by now.)
        assert!(client.nothing_received(), "100 Continue sent before the handler read the body");
        release.wait();
        let interim = client.response();
        interim.assert_status(100);
        assert!(interim.body.is_empty());
        client.send("hello");
        let response = client.response();
        response.assert_status(200);
        assert_eq!(response.body, b"hello");
        assert!(!response.closes());
        // Again without the pause, then a plain request: the connection is fine.
        client.send("POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
        client.response().assert_status(100);
        client.send("abc");
        assert_eq!(client.response().body, b"abc");
        assert_eq!(client.request(get("/next")).text(), "/next");
        drop(client);
        server.stop();
    });
}

#[test]
fn expect_100_continue_with_the_body_already_sent_gets_no_100() {
    each_runtime("expectsent", |rt| {
        let server = TestServer::with_defaults(rt, echo);
        let mut client = server.client();
        // RFC 9110 §10.1.1: a server MAY omit the 100 when the content has
        // already arrived; weft-http does (it sends 100 only to an empty buffer).
        let response =
            client.request("POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello");
        response.assert_status(200);
        assert_eq!(response.body, b"hello");
        assert_eq!(client.request(get("/next")).text(), "/next");
        drop(client);
        server.stop();
    });
}

#[test]
fn expect_100_continue_unread_gets_the_final_response_and_a_close() {
    each_runtime("expectno", |rt| {
        let (handler, calls) = recorded(|_req| Response::new(Payload::from("not reading that")));
        let server = TestServer::with_defaults(rt, handler);
        let mut client = server.client();
        client.send("POST /big HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
        // No 100: the final response comes first. The body was never sent
        // and never will be (the client waits for a 100), so the server
        // cannot read the next request from this connection: it closes.
        let response = client.last_response();
        response.assert_status(200);
        assert_eq!(response.text(), "not reading that");
        drop(client);
        server.stop();
        assert_eq!(calls.count(), 1);
    });
}

#[test]
fn expect_other_than_100_continue_is_417_and_closes() {
    each_runtime("expect417", |rt| {
        let (handler, calls) = recorded(echo);
        let server = TestServer::with_defaults(rt, handler);
        let mut client = server.client();
        let response =
            client.last_request("POST /e HTTP/1.1\r\nHost: t\r\nExpect: something-else\r\nContent-Length: 5\r\n\r\n");
        response.assert_status(417);
        drop(client);
        server.stop();
        assert_eq!(calls.count(), 0);
    });
}

#[test]
fn expect_100_continue_after_a_pipelined_request_keeps_the_response_order() {
    each_runtime("expectpipe", |rt| {
        let server = TestServer::with_defaults(rt, echo);
        let mut client = server.client();
        // The client pipelines a GET and a POST that waits for 100: the
        // GET's response must come before the POST's 100 Continue.
        client.send(format!(
            "{}POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
            get("/first")
        ));
        let first = client.response();
        first.assert_status(200);
        assert_eq!(first.text(), "/first");
        client.response().assert_status(100);
        client.send("hello");
        assert_eq!(client.response().body, b"hello");
        drop(client);
        server.stop();
    });
}

#[test]
fn expect_100_continue_with_the_body_streamed_into_the_response() {
    each_runtime("expectstream", |rt| {
        // The handler answers at once with a payload that reads the request
        // body: the final response starts before the body is read, so a 100
        // Continue can no longer be sent (it would land inside the chunked
        // response body). The client, per RFC 9110 §10.1.1, sends the body
        // anyway once it sees a final response that is not an error.
        let server =
            TestServer::with_defaults(rt, |req: Request<Body>| Response::new(Payload::reader(req.into_body())));
        let mut client = server.client();
        client.send("POST /s HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
        client.wait_for(b"\r\n\r\n");
        client.send("hello");
        let response = client.last_response();
        response.assert_status(200);
        assert!(response.chunked);
        assert_eq!(response.body, b"hello");
        // The body never came home: the connection closes.
        drop(client);
        server.stop();
    });
}

/// Seconds since the Unix epoch of an IMF-fixdate (`Sun, 06 Nov 1994
/// 08:49:37 GMT`), checking every part of its shape.
fn parse_imf_fixdate(date: &str) -> u64 {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let b = date.as_bytes();
    assert!(b.len() == 29 && &b[3..5] == b", " && date.ends_with(" GMT"), "not an IMF-fixdate: {date:?}");
    assert!(b[7] == b' ' && b[11] == b' ' && b[16] == b' ' && b[19] == b':' && b[22] == b':', "{date:?}");
    let num = |r: std::ops::Range<usize>| -> u64 {
        assert!(b[r.clone()].iter().all(u8::is_ascii_digit), "not digits in {date:?}");
        date[r].parse().unwrap()
    };
    let (day, year, hour, min, sec) = (num(5..7), num(12..16), num(17..19), num(20..22), num(23..25));
    let month =
        MONTHS.iter().position(|m| *m == &date[8..11]).unwrap_or_else(|| panic!("month in {date:?}")) as u64 + 1;
    assert!((1..=31).contains(&day) && hour < 24 && min < 60 && sec < 61, "{date:?}");
    // Days from civil (Howard Hinnant), written independently of the server's.
    let (y, m) = if month <= 2 { (year - 1, month + 9) } else { (year, month - 3) };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    assert_eq!(DAYS[(days % 7) as usize], &date[..3], "weekday of {date:?}");
    days * 86_400 + hour * 3600 + min * 60 + sec
}

#[test]
fn every_response_carries_the_current_date_as_imf_fixdate() {
    let now = || SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(parse_imf_fixdate("Sun, 06 Nov 1994 08:49:37 GMT"), 784_111_777);
    each_runtime("date", move |rt| {
        let server = TestServer::with_defaults(rt, echo);
        let mut client = server.client();
        for request in [get("/"), "GET / HTTP/1.1\r\nHost: t\r\nExpect: bad\r\n\r\n".to_owned()] {
            let before = now();
            let response = client.request(request);
            let after = now();
            let date = parse_imf_fixdate(response.header("date").expect("a Date header"));
            assert!(before <= date && date <= after, "Date {date} outside [{before}, {after}]");
        }
        drop(client);
        server.stop();
    });
}

#[test]
fn an_unread_small_body_is_drained_and_the_connection_reused() {
    each_runtime("drain", |rt| {
        let (handler, calls) = recorded(|req: Request<Body>| match req.uri().path() {
            "/ignore" => Response::new(Payload::from("ignored")),
            _ => echo(req),
        });
        let server = TestServer::with_defaults(rt, handler);
        let mut client = server.client();
        // The ignored bodies look like requests: reading them as such
        // would show up in the handler's calls.
        let smuggled = get("/smuggled").repeat(50).into_bytes();
        for framing in ["length", "chunked"] {
            let request = if framing == "length" {
                post("/ignore", &smuggled)
            } else {
                post_chunked("/ignore", &smuggled, &[100])
            };
            let response = client.request(request);
            assert_eq!(response.text(), "ignored");
            assert!(!response.closes(), "a small unread {framing} body is drained: {response:?}");
            assert_eq!(client.request(get("/next")).text(), "/next");
        }
        // Pipelined behind the ignored body, too.
        let mut burst = post("/ignore", &smuggled);
        burst.extend_from_slice(get("/piped").as_bytes());
        client.send(&burst);
        assert_eq!(client.response().text(), "ignored");
        assert_eq!(client.response().text(), "/piped");
        drop(client);
        server.stop();
        assert_eq!(calls.targets(), ["/ignore", "/next", "/ignore", "/next", "/ignore", "/piped"]);
    });
}

#[test]
fn an_unread_body_over_max_drain_closes_after_an_intact_response() {
    each_runtime("nodrain", |rt| {
        let (handler, calls) = recorded(|_req| Response::new(Payload::from(pattern(3, 0, 30_000))));
        let server = TestServer::start(rt, Server::builder().max_drain(1024), handler);
        let body = get("/smuggled").repeat(3000).into_bytes();
        for request in [post("/ignore", &body), post_chunked("/ignore", &body, &[500])] {
            let mut client = server.client();
            client.send(&request);
            let response = client.last_response();
            response.assert_status(200);
            assert!(response.body == pattern(3, 0, 30_000), "response damaged by the close");
        }
        server.stop();
        assert_eq!(calls.targets(), ["/ignore", "/ignore"]);
    });
}

#[test]
fn hundreds_of_pipelined_requests_flush_in_batches_and_stay_in_order() {
    each_runtime("pipe500", |rt| {
        // 500 responses of 1 KB: the server flushes its batch as it grows
        // past its flush threshold, while the client still reads.
        let server = TestServer::with_defaults(rt, |req: Request<Body>| {
            let n: u64 = req.uri().path()[1..].parse().unwrap();
            Response::new(Payload::from(pattern(n, 0, 1000)))
        });
        let mut client = server.client();
        let burst: String = (0..500).map(|i| get(&format!("/{i}"))).collect();
        client.send(burst);
        for i in 0..500 {
            let response = client.response();
            assert!(response.body == pattern(i, 0, 1000), "response {i} out of order or damaged");
        }
        drop(client);
        server.stop();
    });
}

#[test]
fn the_server_owns_the_response_framing() {
    each_runtime("framing", |rt| {
        let server = TestServer::with_defaults(rt, |req: Request<Body>| {
            let builder = Response::builder();
            match req.uri().path() {
                // A wrong length and a transfer coding from the handler are replaced.
                "/lies" => builder
                    .header("content-length", "999")
                    .header("transfer-encoding", "chunked")
                    .body(Payload::from("hi")),
                // A declared length makes a reader of unknown length sized.
                "/declared" => builder.header("content-length", "5").body(Payload::reader(Cursor::new(b"hello"))),
                "/no-content" => builder.status(204).body(Payload::from("dropped")),
                "/not-modified" => builder.status(304).header("content-length", "42").body(Payload::empty()),
                "/close" => builder.header("connection", "close").body(Payload::from("bye")),
                _ => builder.body(Payload::empty()),
            }
            .unwrap()
        });
        let mut client = server.client();
        // Pipelined: any stray body byte would break the next response.
        client.send(format!("{}{}{}{}", get("/lies"), get("/declared"), get("/no-content"), get("/not-modified")));
        let lies = client.response();
        assert_eq!((lies.content_length(), lies.chunked, lies.text()), (Some(2), false, "hi"));
        let declared = client.response();
        assert_eq!((declared.content_length(), declared.text()), (Some(5), "hello"));
        let no_content = client.response();
        no_content.assert_status(204);
        assert!(no_content.body.is_empty() && no_content.content_length().is_none());
        let not_modified = client.response();
        not_modified.assert_status(304);
        assert_eq!(not_modified.content_length(), Some(42), "304 keeps the length it describes");
        // The handler's Connection: close is honoured.
        let close = client.last_request(get("/close"));
        assert_eq!(close.text(), "bye");
        // (Kept open, the client would hold the server's lingering close.)
        drop(client);
        server.stop();
    });
}

/// A reader that yields `good` bytes, then fails.
struct FailingReader {
    good: usize,
}

impl Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.good == 0 {
            return Err(std::io::Error::other("the response body's source failed"));
        }
        let n = buf.len().min(self.good);
        buf[..n].fill(b'x');
        self.good -= n;
        Ok(n)
    }
}

#[test]
fn a_response_body_that_fails_midway_is_never_framed_as_complete() {
    each_runtime("truncated", |rt| {
        let server = TestServer::with_defaults(rt, |req: Request<Body>| match req.uri().path() {
            "/failing" => Response::new(Payload::reader(FailingReader { good: 50_000 })),
            "/short" => Response::new(Payload::sized_reader(Cursor::new(vec![b'x'; 1000]), 5000)),
            _ => Response::new(Payload::empty()),
        });
        // The client must see a broken message (no last chunk, fewer bytes
        // than declared) followed by the close, never a complete response.
        for path in ["/failing", "/short"] {
            let mut client = server.client();
            client.send(get(path));
            match client.try_response(false) {
                Err(e) => assert!(e.contains("connection closed inside"), "{path}: {e}"),
                Ok(response) => panic!("{path}: a broken body was framed as complete: {response:?}"),
            }
        }
        server.stop();
    });
}

/// Answers by path: `/103` with an interim status (a handler bug), `/keep`
/// by handing the body to another green thread and answering 202 at once
/// (the body's bytes go to `kept`), anything else as `echo`.
fn review_handler(kept: std::sync::mpsc::Sender<std::io::Result<Vec<u8>>>) -> impl weft_http::Handler {
    let kept = std::sync::Mutex::new(kept);
    move |request: Request<Body>| -> Response<Payload> {
        match request.uri().path() {
            "/103" => Response::builder().status(103).body(Payload::empty()).unwrap(),
            "/connect" | "a:443" => Response::new(Payload::empty()),
            "/keep" => {
                let tx = kept.lock().unwrap().clone();
                let mut body = request.into_body();
                weft::spawn(move || {
                    let mut bytes = Vec::new();
                    let _ = tx.send(body.read_to_end(&mut bytes).map(|_| bytes));
                });
                Response::builder().status(202).body(Payload::empty()).unwrap()
            }
            _ => echo(request),
        }
    }
}

#[test]
fn an_interim_status_from_a_handler_becomes_a_500_and_closes() {
    each_runtime("interim", |rt| {
        let (tx, _rx) = std::sync::mpsc::channel();
        let server = TestServer::with_defaults(rt, review_handler(tx));
        let mut client = server.client();
        // Were the 103 sent as is, the 200 behind it would read as its answer.
        client.send(format!("{}{}", get("/103"), get("/after")));
        client.last_response().assert_status(500);
        drop(client);
        server.stop();
    });
}

#[test]
fn a_2xx_answer_to_connect_becomes_a_501_and_closes() {
    each_runtime("connect", |rt| {
        let (tx, _rx) = std::sync::mpsc::channel();
        let server = TestServer::with_defaults(rt, review_handler(tx));
        let mut client = server.client();
        let response = client.last_request("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n");
        response.assert_status(501);
        assert_eq!(response.header("content-length"), Some(response.body.len().to_string().as_str()));
        drop(client);
        server.stop();
    });
}

#[test]
fn a_body_kept_past_its_request_still_gets_its_bytes() {
    each_runtime("kept", |rt| {
        let (tx, rx) = std::sync::mpsc::channel();
        let server = TestServer::with_defaults(rt, review_handler(tx));
        let mut client = server.client();
        let body = pattern(3, 0, 100_000);
        // The head first; the body only after the 202 is in.
        client.send(format!("POST /keep HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n", body.len()));
        let response = client.response();
        response.assert_status(202);
        assert!(response.closes(), "a kept body ends the connection: {response:?}");
        for piece in body.chunks(10_000) {
            client.send(piece);
        }
        let got = rx.recv_timeout(support::http::READ_GUARD).expect("the kept body finished").expect("read the body");
        assert!(got == body, "the kept body lost bytes: {} of {}", got.len(), body.len());
        drop(client);
        server.stop();
    });
}

#[test]
fn held_pipelined_responses_go_out_before_a_handler_waits_for_its_body() {
    each_runtime("held", |rt| {
        let server = TestServer::with_defaults(rt, echo);
        let mut client = server.client();
        // A GET and the head of a POST whose body the client sends only once
        // it has the GET's answer (as a client waiting on it may).
        client.send(format!("{}POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n", get("/first")));
        assert_eq!(client.response().text(), "/first");
        client.send("hello");
        assert_eq!(client.response().text(), "hello");
        drop(client);
        server.stop();
    });
}
