//! The one response every kind sends, byte for byte but for the date and
//! a one-letter server name, and the check the smoke test and the idle
//! mode apply to every response they read:
//!
//! ```text
//! HTTP/1.1 200 OK\r\n
//! Server: S\r\n                      one byte: may_minihttp hard-wires `M`
//! Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n
//! Content-Length: 13\r\n
//! Content-Type: text/plain\r\n
//! \r\n
//! Hello, World!
//! ```
//!
//! may_minihttp writes its status line as `HTTP/1.1 200 Ok`, so the check
//! takes the reason phrase case-insensitively (it has no meaning in
//! HTTP/1.1); header names are case-insensitive by the protocol, and a
//! server built on the `http` crate sends them in lower case. What must
//! match exactly is everything a client acts on, and the length, so every
//! kind puts the same bytes on the wire: the status code, the four headers
//! and no other, their values (the date only in shape), and the body.

use std::io::{self, Read};
use std::time::{Duration, Instant};

/// The body.
pub const BODY: &str = "Hello, World!";
/// The `Content-Type` value.
pub const CONTENT_TYPE: &str = "text/plain";
/// Length of an IMF-fixdate, the `Date` format (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub const DATE_LEN: usize = 29;

/// The std servers' response up to the date, and from it to the end.
pub const STD_BEFORE_DATE: &[u8] = b"HTTP/1.1 200 OK\r\nServer: S\r\nDate: ";
pub const STD_AFTER_DATE: &[u8] = b"\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!";
/// The length of every kind's response.
pub const RESPONSE_LEN: usize = STD_BEFORE_DATE.len() + DATE_LEN + STD_AFTER_DATE.len();

/// The request the smoke test and the idle mode send (wrk's is the same
/// but for the port in `Host`).
pub const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/// Headers a response may have; more is an error.
const MAX_HEADERS: usize = 8;

/// Checks the response at the front of `buf`: its length if it is
/// complete and right, `None` if more bytes are needed.
pub fn check(buf: &[u8]) -> Result<Option<usize>, String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(buf) {
        Ok(httparse::Status::Complete(head)) => head,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("unparsable response ({e}): {:?}", lossy(buf))),
    };
    if response.version != Some(1) || response.code != Some(200) || !response.reason.is_some_and(is_ok) {
        return Err(format!("status line is not `HTTP/1.1 200 OK`: {:?}", lossy(&buf[..head])));
    }
    let mut seen = [false; 4];
    for h in response.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("");
        let (i, right) = match h.name.to_ascii_lowercase().as_str() {
            "server" => (0, h.value.len() == 1),
            "date" => (1, value.len() == DATE_LEN && value.ends_with(" GMT")),
            "content-length" => (2, value == BODY.len().to_string()),
            "content-type" => (3, value == CONTENT_TYPE),
            _ => return Err(format!("unexpected header {:?}: {value:?}", h.name)),
        };
        if !right || seen[i] {
            return Err(format!("bad or repeated header {:?}: {value:?}", h.name));
        }
        seen[i] = true;
    }
    if seen.contains(&false) {
        return Err(format!("missing header (want Server, Date, Content-Length, Content-Type): {:?}", lossy(buf)));
    }
    let end = head + BODY.len();
    if buf.len() < end {
        return Ok(None);
    }
    if &buf[head..end] != BODY.as_bytes() {
        return Err(format!("body is not {BODY:?}: {:?}", lossy(&buf[head..end])));
    }
    if end != RESPONSE_LEN {
        return Err(format!("response is {end} bytes, not {RESPONSE_LEN}: {:?}", lossy(&buf[..end])));
    }
    Ok(Some(end))
}

fn is_ok(reason: &str) -> bool {
    reason.eq_ignore_ascii_case("OK")
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned()
}

/// Reads exactly `n` responses from `stream`, checking each, within
/// `timeout`. Bytes beyond the `n`th response are an error too: nothing
/// was asked for them.
pub fn read_responses(stream: &mut impl Read, n: usize, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::with_capacity(n * RESPONSE_LEN);
    let mut chunk = [0u8; 4096];
    let mut done = 0;
    let mut start = 0;
    while done < n {
        if let Some(len) = check(&buf[start..]).map_err(|e| format!("response {}: {e}", done + 1))? {
            start += len;
            done += 1;
            continue;
        }
        if Instant::now() >= deadline {
            return Err(format!("{done} of {n} responses in {timeout:?}"));
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Err(format!("the server closed the connection after {done} of {n} responses")),
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read after {done} of {n} responses: {e}")),
        }
    }
    if start < buf.len() {
        return Err(format!("{} bytes after the last response: {:?}", buf.len() - start, lossy(&buf[start..])));
    }
    Ok(())
}
