//! The request side of the client: where a request goes ([`Target`]) and its
//! head on the wire ([`write_head`]). Pure: no I/O.

use std::borrow::Cow;
use std::io;

use http::header::{self, HeaderValue};
use http::request::Parts;
use http::uri::Scheme;
use http::{Method, Uri};

use crate::conn::{field_line, itoa_u64, write_field};
use crate::payload::Payload;

/// Where idle connections are pooled: one list per host and port. The host
/// is lowercased; an IPv6 host keeps its brackets.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) host: Box<str>,
    pub(crate) port: u16,
}

/// What the client needs of a request's URI.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) key: Key,
    /// The authority as written (`host` or `host:port`), for the Host field.
    pub(crate) authority: HeaderValue,
}

impl Target {
    /// Checks `uri` is an absolute `http://` URI the client can serve.
    /// `https` and other schemes are `Unsupported`; a relative URI, user
    /// information or an invalid port is `InvalidInput`.
    pub(crate) fn new(uri: &Uri) -> io::Result<Target> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {uri}"));
        match uri.scheme() {
            Some(scheme) if *scheme == Scheme::HTTP => {}
            Some(scheme) => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("weft_http::Client speaks plain http:// only; the scheme `{scheme}` is not supported"),
                ))
            }
            None => return Err(invalid("the client needs an absolute http:// URI")),
        }
        let authority = uri.authority().ok_or_else(|| invalid("the URI has no host"))?;
        if authority.as_str().contains('@') {
            return Err(invalid("user information in the URI is not supported (set an Authorization header)"));
        }
        let host = authority.host();
        // `http` keeps whatever follows the host as the port; only digits that
        // fit a u16 are one.
        let port = match authority.port_u16() {
            Some(port) => port,
            None if authority.as_str().len() == host.len() => 80,
            None => return Err(invalid("invalid port in the URI")),
        };
        if host.is_empty() {
            return Err(invalid("the URI has no host"));
        }
        let value = HeaderValue::from_str(authority.as_str()).map_err(|_| invalid("invalid host in the URI"))?;
        Ok(Target { key: Key { host: host.to_ascii_lowercase().into(), port }, authority: value })
    }

    /// The host to connect to: brackets of an IPv6 literal removed.
    pub(crate) fn connect_host(&self) -> &str {
        self.key.host.trim_start_matches('[').trim_end_matches(']')
    }
}

/// Whether a request of `method` can be sent again after a connection failed
/// under it (RFC 9110 §9.2.2).
pub(crate) fn is_idempotent(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE)
}

/// Serialises the head of a request to `target` into `out` and returns
/// whether the body must be sent chunked.
///
/// The client owns the framing, as the server does for responses: the
/// caller's `Transfer-Encoding` and `Content-Length` are dropped and
/// `Content-Length` comes from the payload's length, except that a declared
/// `Content-Length` gives a reader of unknown length its length. A body of
/// unknown length is sent chunked. An empty body gets `Content-Length: 0`
/// only for methods that define a meaning for content (RFC 9110 §8.6: not
/// for GET, HEAD, DELETE, OPTIONS, TRACE). `Host` comes first, from the URI,
/// unless the caller set one. The version is always HTTP/1.1.
pub(crate) fn write_head(out: &mut Vec<u8>, parts: &Parts, target: &Target, payload: &mut Payload) -> bool {
    let headers = &parts.headers;
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let (None, Some(n)) = (payload.len(), declared) {
        payload.set_len(n);
    }

    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(origin_form(&parts.uri).as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !headers.contains_key(header::HOST) {
        field_line(out, b"host", target.authority.as_bytes());
    }
    // The framing fields are the client's own, from the payload.
    for (name, value) in headers {
        if name != header::TRANSFER_ENCODING && name != header::CONTENT_LENGTH {
            write_field(out, name, value);
        }
    }
    let chunked = match payload.len() {
        Some(0) if !defines_content(&parts.method) => false,
        Some(n) => {
            field_line(out, b"content-length", itoa_u64(n, &mut [0u8; 20]));
            false
        }
        None => {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n");
            true
        }
    };
    out.extend_from_slice(b"\r\n");
    chunked
}

/// The request target in origin-form (RFC 9112 §3.2.1): path and query, `/`
/// for an empty path.
fn origin_form(uri: &Uri) -> Cow<'_, str> {
    match uri.path_and_query().map(|pq| pq.as_str()) {
        None | Some("") => Cow::Borrowed("/"),
        Some(pq) if pq.starts_with('?') => Cow::Owned(format!("/{pq}")),
        Some(pq) => Cow::Borrowed(pq),
    }
}

/// Methods whose semantics define a meaning for request content.
fn defines_content(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS | Method::TRACE | Method::CONNECT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(uri: &str) -> io::Result<Target> {
        Target::new(&uri.parse().unwrap())
    }

    fn head(request: http::Request<Payload>) -> (String, bool) {
        let (parts, mut payload) = request.into_parts();
        let target = Target::new(&parts.uri).unwrap();
        let mut out = Vec::new();
        let chunked = write_head(&mut out, &parts, &target, &mut payload);
        (String::from_utf8(out).unwrap(), chunked)
    }

    #[test]
    fn request_target_accepts_http_uris() {
        let t = target("http://Example.COM/a?b").unwrap();
        assert_eq!(t.key, Key { host: "example.com".into(), port: 80 });
        assert_eq!(t.authority, "Example.COM");
        let t = target("http://127.0.0.1:8080").unwrap();
        assert_eq!((t.connect_host(), t.key.port), ("127.0.0.1", 8080));
        assert_eq!(t.authority, "127.0.0.1:8080");
        let t = target("http://[::1]:9/").unwrap();
        assert_eq!((&*t.key.host, t.connect_host(), t.key.port), ("[::1]", "::1", 9));
    }

    #[test]
    fn request_target_rejects_other_uris() {
        let e = target("https://example.com/").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
        assert!(e.to_string().contains("https"), "{e}");
        assert_eq!(target("ftp://example.com/").unwrap_err().kind(), io::ErrorKind::Unsupported);
        for uri in ["/relative", "http://user:pw@example.com/", "http://example.com:99999/", "http://example.com:x/"] {
            let e = Target::new(&uri.parse().unwrap_or_else(|_| "/".parse().unwrap())).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{uri}");
        }
    }

    #[test]
    fn request_head_framing_is_the_clients() {
        let (h, chunked) = head(http::Request::get("http://a:1/p?q=1").body(Payload::empty()).unwrap());
        assert_eq!(h, "GET /p?q=1 HTTP/1.1\r\nhost: a:1\r\n\r\n");
        assert!(!chunked);

        let req = http::Request::post("http://a")
            .header("content-length", "99")
            .header("transfer-encoding", "gzip")
            .header("x-y", "z")
            .body(Payload::from("hi"))
            .unwrap();
        let (h, chunked) = head(req);
        assert_eq!(h, "POST / HTTP/1.1\r\nhost: a\r\nx-y: z\r\ncontent-length: 2\r\n\r\n");
        assert!(!chunked);

        let (h, _) = head(http::Request::put("http://a/").body(Payload::empty()).unwrap());
        assert!(h.ends_with("content-length: 0\r\n\r\n"), "{h}");

        let reader = Payload::reader(std::io::empty());
        let (h, chunked) = head(http::Request::post("http://a/").body(reader).unwrap());
        assert!(h.ends_with("transfer-encoding: chunked\r\n\r\n") && chunked, "{h}");

        let reader = Payload::reader(std::io::empty());
        let req = http::Request::post("http://a/").header("content-length", "0").body(reader).unwrap();
        let (h, chunked) = head(req);
        assert!(h.ends_with("content-length: 0\r\n\r\n") && !chunked, "{h}");

        let req = http::Request::get("http://a/").header("host", "b").body(Payload::empty()).unwrap();
        assert_eq!(head(req).0, "GET / HTTP/1.1\r\nhost: b\r\n\r\n");

        let req = http::Request::get("http://a?x=1").body(Payload::empty()).unwrap();
        assert!(head(req).0.starts_with("GET /?x=1 HTTP/1.1\r\n"));
    }

    #[test]
    fn request_idempotent_methods() {
        for m in [Method::GET, Method::HEAD, Method::PUT, Method::DELETE, Method::OPTIONS, Method::TRACE] {
            assert!(is_idempotent(&m), "{m}");
        }
        for m in [Method::POST, Method::PATCH, Method::CONNECT] {
            assert!(!is_idempotent(&m), "{m}");
        }
    }
}
