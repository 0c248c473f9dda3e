//! The weft-http server's life around its handlers, over real loopback
//! sockets: a panicking handler, a handler that blocks, graceful shutdown,
//! and a thousand concurrent keep-alive clients.

mod support;

use std::io::ErrorKind;
use std::sync::Arc;

use http::{Request, Response};
use support::http::{each_runtime, echo, get, post, raise_fd_limit, recorded, Client, TestServer};
use support::{message, run_green};
use weft::sync::Barrier;
use weft_http::{Body, Payload};

/// `echo`, except that `/panic` panics and `/wait` first meets the test at
/// `entered`, then waits for it at `release` (parking its green thread).
fn echo_or_wait(
    entered: Arc<Barrier>,
    release: Arc<Barrier>,
) -> impl Fn(Request<Body>) -> Response<Payload> + Send + Sync + 'static {
    move |req| {
        match req.uri().path() {
            "/panic" => panic!("a handler panic the test asked for"),
            "/wait" => {
                entered.wait();
                release.wait();
            }
            _ => {}
        }
        echo(req)
    }
}

fn barriers() -> (Arc<Barrier>, Arc<Barrier>) {
    (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)))
}

#[test]
fn a_handler_panic_is_500_and_closes_while_others_carry_on() {
    each_runtime("panic", |rt| {
        let (entered, release) = barriers();
        let (handler, calls) = recorded(echo_or_wait(entered, release));
        let server = TestServer::with_defaults(rt, handler);
        let mut other = server.client();
        assert_eq!(other.request(get("/before")).text(), "/before");
        for request in [get("/panic").into_bytes(), post("/panic", b"a body the handler never read")] {
            let mut victim = server.client();
            // A request pipelined behind the panic is not served.
            victim.send([request, get("/after-panic").into_bytes()].concat());
            let response = victim.last_response();
            response.assert_status(500);
        }
        // The keep-alive connection opened before still works, as do new ones.
        assert_eq!(other.request(get("/after")).text(), "/after");
        assert_eq!(server.client().request(post("/new", b"fresh")).body, b"fresh");
        drop(other);
        server.stop();
        assert_eq!(calls.targets(), ["/before", "/panic", "/panic", "/after", "/new"]);
    });
}

#[test]
fn a_blocked_handler_does_not_delay_other_connections() {
    each_runtime("blocked", |rt| {
        let (entered, release) = barriers();
        let server = TestServer::with_defaults(rt, echo_or_wait(entered.clone(), release.clone()));
        let mut blocked = server.client();
        blocked.send(get("/wait"));
        entered.wait();
        // The handler is parked until released; on one worker too, every
        // other connection is served meanwhile.
        let mut others: Vec<Client> = (0..3).map(|_| server.client()).collect();
        for round in 0..3 {
            for (i, client) in others.iter_mut().enumerate() {
                let body = format!("round {round} client {i}");
                assert_eq!(client.request(post("/o", body.as_bytes())).text(), body);
            }
        }
        assert!(blocked.nothing_received(), "the blocked request was answered before its handler returned");
        release.wait();
        assert_eq!(blocked.response().text(), "/wait");
        assert_eq!(blocked.request(get("/next")).text(), "/next");
        drop((blocked, others));
        server.stop();
    });
}

#[test]
fn graceful_shutdown_finishes_the_request_in_flight_and_closes_idle_connections() {
    each_runtime("shutdown", |rt| {
        let (entered, release) = barriers();
        let server = TestServer::with_defaults(rt, echo_or_wait(entered.clone(), release.clone()));
        let addr = server.addr;
        let mut idle = server.client();
        assert_eq!(idle.request(get("/idle")).text(), "/idle");
        let mut busy = server.client();
        busy.send(get("/wait"));
        entered.wait();

        server.handle.shutdown();
        // The idle keep-alive connection is closed at once.
        idle.expect_closed();
        // The request in flight completes, told that the connection ends.
        release.wait();
        let response = busy.last_response();
        response.assert_status(200);
        assert_eq!(response.text(), "/wait");
        drop((idle, busy));
        server.join().expect("serve returns Ok after a shutdown");

        // Nobody listens any more.
        match std::net::TcpStream::connect(addr) {
            Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionRefused),
            Ok(mut stream) => {
                use std::io::{Read, Write};
                let _ = stream.write_all(get("/late").as_bytes());
                let mut got = Vec::new();
                let _ = stream.read_to_end(&mut got);
                assert!(got.is_empty(), "answered after serve returned: {:?}", String::from_utf8_lossy(&got));
            }
        }
    });
}

#[test]
fn a_thousand_concurrent_keep_alive_clients_are_echoed() {
    const CLIENTS: usize = 1000;
    // Each connection costs two descriptors in this process.
    raise_fd_limit(3 * CLIENTS as u64);
    each_runtime("thousand", |rt| {
        let server = TestServer::with_defaults(rt, echo);
        let (addr, handle) = (server.addr, server.handle.clone());
        run_green(rt, move || {
            let (all_open, counted) = (Arc::new(Barrier::new(CLIENTS)), Arc::new(Barrier::new(CLIENTS)));
            let clients: Vec<_> = (0..CLIENTS)
                .map(|id| {
                    let (all_open, counted, handle) = (all_open.clone(), counted.clone(), handle.clone());
                    weft::spawn(move || {
                        let mut client = Client::connect(addr);
                        let requests = 2 + id % 2;
                        for i in 0..requests {
                            let body = message(id * 3 + i, 1 + (id * 131 + i * 977) % 3000);
                            let response = client.request(post(&format!("/{id}/{i}"), &body));
                            response.assert_status(200);
                            assert!(response.body == body, "client {id} request {i}: echo differs");
                            assert!(!response.closes(), "client {id} request {i}: {response:?}");
                            if i == 0 {
                                // Every client has been answered once and
                                // holds its connection: all are being served.
                                // None goes on (and may close) before the count.
                                if all_open.wait().is_leader() {
                                    assert_eq!(handle.connections(), CLIENTS);
                                }
                                counted.wait();
                            }
                        }
                    })
                })
                .collect();
            for client in clients {
                if let Err(payload) = client.join() {
                    std::panic::resume_unwind(payload);
                }
            }
        });
        server.stop();
    });
}

#[test]
fn shutdown_before_serve_makes_serve_return_at_once() {
    each_runtime("early", |rt| {
        let server = weft_http::Server::bind("127.0.0.1:0").unwrap();
        server.handle().shutdown();
        let result = run_green(rt, move || server.serve(echo));
        result.expect("serve returns Ok");
    });
}

#[test]
fn shutdown_racing_the_start_of_serve_makes_serve_return() {
    each_runtime("race", |rt| {
        for _ in 0..50 {
            let server = TestServer::with_defaults(rt, echo);
            server.stop();
        }
    });
}

#[test]
fn reuse_port_listeners_all_serve_and_shut_down() {
    each_runtime("reuseport", |rt| {
        let builder = weft_http::Server::builder().reuse_port(true).listeners(3);
        let server = TestServer::start(rt, builder, echo);
        // The kernel spreads connections over the three listeners; each
        // must be served, whichever accept loop takes it.
        let mut clients: Vec<Client> = (0..30).map(|_| server.client()).collect();
        for (i, client) in clients.iter_mut().enumerate() {
            assert_eq!(client.request(post("/r", format!("client {i}").as_bytes())).text(), format!("client {i}"));
        }
        drop(clients);
        server.stop();
    });
}

#[test]
fn shutdown_closes_connections_still_busy_after_the_grace_period() {
    use std::time::{Duration, Instant};
    each_runtime("grace", |rt| {
        const GRACE: Duration = Duration::from_millis(200);
        // Per-read timeouts far past the test's limit: only the grace
        // period can end the trickling request.
        let builder = weft_http::Server::builder().shutdown_timeout(GRACE).body_timeout(Duration::from_secs(3600));
        let (entered, started) = std::sync::mpsc::channel();
        let entered = std::sync::Mutex::new(entered);
        let server = TestServer::start(rt, builder, move |request: Request<Body>| {
            let _ = entered.lock().unwrap().send(());
            echo(request)
        });
        let mut client = server.client();
        client.send("POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc");
        started.recv().expect("the handler runs");
        let begin = Instant::now();
        server.handle.shutdown();
        server.join().expect("serve returns once the grace period has closed the busy connection");
        assert!(begin.elapsed() >= GRACE, "closed before the grace period: {:?}", begin.elapsed());
        // The client sees its connection end (whatever was answered first).
        while client.try_response(false).is_ok_and(|r| r.is_some()) {}
    });
}
