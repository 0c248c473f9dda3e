//! An HTTP/1.1 server on weft-http: `GET /` answers `Hello, World!`,
//! `POST /` echoes the request body (Content-Length or chunked), any other
//! path is 404 and any other method on `/` is 405. Ctrl-C (SIGINT) or
//! SIGTERM shuts it down gracefully: requests in flight finish first.
//!
//! ```sh
//! cargo run --release --example http_echo -- --addr 127.0.0.1:8080
//! curl http://127.0.0.1:8080/
//! curl --data-binary @Cargo.toml http://127.0.0.1:8080/
//! ```

use std::io::Read;

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use weft::signal::{Signals, SIGINT, SIGTERM};
use weft_http::{Body, Payload, Server};

fn handle(req: Request<Body>) -> Response<Payload> {
    if req.uri().path() != "/" {
        return status(StatusCode::NOT_FOUND, "not found\n");
    }
    match *req.method() {
        Method::GET | Method::HEAD => {
            let mut res = Response::new(Payload::from("Hello, World!"));
            res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            res
        }
        Method::POST => {
            let mut body = Vec::new();
            // The server's body limit bounds this; past it the server answers 413.
            match req.into_body().read_to_end(&mut body) {
                Ok(_) => Response::new(Payload::from(body)),
                Err(e) => status(StatusCode::BAD_REQUEST, &format!("could not read the body: {e}\n")),
            }
        }
        _ => {
            let mut res = status(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            res.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
            res
        }
    }
}

fn status(code: StatusCode, text: &str) -> Response<Payload> {
    let mut res = Response::new(Payload::from(text.to_owned()));
    *res.status_mut() = code;
    res
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut addr = String::from("127.0.0.1:8080");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().expect("--addr needs HOST:PORT"),
            other => panic!("unknown argument {other:?} (expected --addr HOST:PORT)"),
        }
    }
    let server = Server::bind(addr.as_str())?;
    println!("http_echo listening on http://{}", server.local_addr());

    let shutdown = server.handle();
    let signals = Signals::new(&[SIGINT, SIGTERM])?;
    weft::spawn(move || {
        if let Ok(signal) = signals.wait() {
            eprintln!("signal {signal}: shutting down");
            shutdown.shutdown();
        }
    });
    server.serve(handle)
}
