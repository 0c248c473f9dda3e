//! Response-head parsing for the client: httparse glue plus the framing rules
//! of RFC 9112 §6.3 as they apply to responses. Pure: no I/O, no state.
//!
//! # Strictness
//!
//! As on the server side (`parse.rs`), where the RFC lets a recipient be
//! lenient this parser rejects: a bare LF as a line end, obs-fold, whitespace
//! before a colon, more than one SP between status-line parts and an invalid
//! field are errors ([`Kind::Response`]), because a client that reads a
//! response differently from the proxy in front of it is the response
//! splitting class of bugs. httparse's lenient options for responses are
//! spelled out as `false` in [`strict_config`].
//!
//! # Framing (RFC 9112 §6.3), in rule order
//!
//! | Response | Body | Reuse |
//! |---|---|---|
//! | to HEAD; 1xx, 204 or 304 | none, whatever the fields say (rule 1) | yes |
//! | Transfer-Encoding on HTTP/1.0 | error: the framing is faulty (§6.1) | no |
//! | Transfer-Encoding and Content-Length | Transfer-Encoding wins (rule 3) | no |
//! | Transfer-Encoding, final coding `chunked` | chunked (rule 4) | yes |
//! | Transfer-Encoding, final coding not `chunked` | until close (rule 4) | no |
//! | valid Content-Length | that many bytes (rule 6) | yes |
//! | invalid Content-Length | error (rule 5) | no |
//! | neither | until close (rule 8) | no |
//!
//! Codings other than `chunked` are not undone: the body is what remains
//! after the chunked framing is removed, and the `Transfer-Encoding` field
//! stays in the head so the caller can see what the body still carries.
//! (The client never sends `TE`, so a server should not apply any.) A
//! Transfer-Encoding list with an empty element, or naming `chunked` twice,
//! is a framing error. "Reuse" is what framing allows; the `Connection`
//! field and the version decide too ([`parse::keep_alive`]).

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::response::Parts;
use http::{Method, Response, StatusCode, Version};

use crate::body::Framing;
use crate::chunked::ChunkedDecoder;
use crate::error::{Error, Kind};
use crate::parse::{self, Limits};

/// A complete, acceptable response head.
#[derive(Debug)]
pub(crate) struct Head {
    /// Status, version and headers. `extensions` is empty.
    pub(crate) parts: Parts,
    /// Bytes of the buffer the head used; the body starts here.
    pub(crate) len: usize,
    /// How the body is delimited; `Framing::Done` for no body.
    pub(crate) framing: Framing,
    /// Whether the connection may carry another request once the body has
    /// been read to its end: the version and `Connection` allow it and the
    /// framing does not depend on the close.
    pub(crate) reusable: bool,
}

/// Parses one response head from the start of `buf`, for a request of
/// `method`. `Ok(None)`: the head is not complete and no limit is exceeded;
/// read more and call again with the whole buffer.
pub(crate) fn parse_response(buf: &[u8], method: &Method, limits: &Limits) -> Result<Option<Head>, Error> {
    let max_bytes = limits.get_max_header_bytes();
    let window = &buf[..buf.len().min(max_bytes)];
    let mut fields = vec![httparse::EMPTY_HEADER; limits.get_max_headers()];
    let mut res = httparse::Response::new(&mut fields);
    let status = strict_config().parse_response(&mut res, window).map_err(|e| match e {
        httparse::Error::TooManyHeaders => Error::new(Kind::ResponseTooLarge),
        _ => Error::new(Kind::Response),
    })?;
    let len = match status {
        httparse::Status::Partial if buf.len() > max_bytes => return Err(Error::new(Kind::ResponseTooLarge)),
        httparse::Status::Partial => return Ok(None),
        httparse::Status::Complete(len) => len,
    };
    parse::reject_bare_lf(&buf[..len]).map_err(|_| Error::new(Kind::Response))?;

    let bad = || Error::new(Kind::Response);
    let version = match res.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(bad()),
    };
    let status = StatusCode::from_u16(res.code.unwrap_or_default()).map_err(|_| bad())?;
    let mut map = HeaderMap::with_capacity(res.headers.len());
    for h in res.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| bad())?;
        let value = HeaderValue::from_bytes(h.value).map_err(|_| bad())?;
        map.append(name, value);
    }

    let (framing, framing_reusable) = framing(&map, version, status, method, limits)?;
    let reusable = framing_reusable && parse::keep_alive(&map, version);
    let (mut parts, ()) = Response::new(()).into_parts();
    parts.status = status;
    parts.version = version;
    parts.headers = map;
    Ok(Some(Head { parts, len, framing, reusable }))
}

/// httparse's response options, all set to strict (see the module docs).
fn strict_config() -> httparse::ParserConfig {
    let mut config = httparse::ParserConfig::default();
    config
        .allow_spaces_after_header_name_in_responses(false)
        .allow_obsolete_multiline_headers_in_responses(false)
        .allow_multiple_spaces_in_response_status_delimiters(false)
        .ignore_invalid_headers_in_responses(false);
    config
}

/// RFC 9112 §6.3 for a response: the body's framing and whether it lets the
/// connection be reused. See the table in the module docs.
fn framing(
    map: &HeaderMap,
    version: Version,
    status: StatusCode,
    method: &Method,
    limits: &Limits,
) -> Result<(Framing, bool), Error> {
    let no_body = *method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if no_body {
        return Ok((Framing::Done, true));
    }
    let has_te = map.contains_key(header::TRANSFER_ENCODING);
    let has_cl = map.contains_key(header::CONTENT_LENGTH);
    if has_te {
        if version == Version::HTTP_10 {
            return Err(Error::new(Kind::ResponseFraming));
        }
        // Rule 4; an empty element, or `chunked` named twice, is faulty.
        let codings = parse::transfer_codings(map).ok_or_else(|| Error::new(Kind::ResponseFraming))?;
        if codings.chunked > 1 {
            return Err(Error::new(Kind::ResponseFraming));
        }
        return Ok(if codings.last_is_chunked {
            (Framing::Chunked(ChunkedDecoder::new(limits.get_max_header_bytes())), !has_cl)
        } else {
            (Framing::UntilClose, false)
        });
    }
    if has_cl {
        return match parse::content_length(map) {
            Ok(0) => Ok((Framing::Done, true)),
            Ok(n) => Ok((Framing::Length(n), true)),
            Err(_) => Err(Error::new(Kind::ResponseFraming)),
        };
    }
    Ok((Framing::UntilClose, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(buf: &[u8], method: Method) -> Result<Option<Head>, Error> {
        parse_response(buf, &method, &Limits::default())
    }

    fn head(buf: &str) -> Head {
        head_for(buf, Method::GET)
    }

    fn head_for(buf: &str, method: Method) -> Head {
        match parse(buf.as_bytes(), method) {
            Ok(Some(head)) => head,
            other => panic!("expected a head for {buf:?}, got {other:?}"),
        }
    }

    fn error(buf: &str) -> Error {
        match parse(buf.as_bytes(), Method::GET) {
            Err(e) => e,
            other => panic!("expected an error for {buf:?}, got {other:?}"),
        }
    }

    #[test]
    fn response_head_parts_and_length() {
        let buf = "HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX-A: 1\r\nX-A: 2\r\n\r\nhello";
        let h = head(buf);
        assert_eq!(h.parts.status, StatusCode::CREATED);
        assert_eq!(h.parts.version, Version::HTTP_11);
        assert_eq!(h.parts.headers.get_all("x-a").iter().count(), 2);
        assert_eq!(&buf[h.len..], "hello");
        assert!(matches!(h.framing, Framing::Length(5)));
        assert!(h.reusable);
    }

    #[test]
    fn response_head_partial_until_complete() {
        let buf = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        for end in 0..buf.len() {
            assert!(parse(&buf[..end], Method::GET).unwrap().is_none(), "prefix of {end} bytes");
        }
        assert!(matches!(head("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").framing, Framing::Done));
    }

    #[test]
    fn response_framing_follows_rfc9112_6_3() {
        // Rule 1: no body for HEAD, 1xx, 204, 304, whatever the fields say.
        let h = head_for("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", Method::HEAD);
        assert!(matches!(h.framing, Framing::Done) && h.reusable);
        for status in ["100 Continue", "204 No Content", "304 Not Modified"] {
            let h = head(&format!("HTTP/1.1 {status}\r\nTransfer-Encoding: chunked\r\n\r\n"));
            assert!(matches!(h.framing, Framing::Done) && h.reusable, "{status}");
        }
        // Rule 3: TE wins over CL, and the connection is not reused.
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert!(matches!(h.framing, Framing::Chunked(_)) && !h.reusable);
        // Rule 4: chunked last is chunked; anything else is read until close.
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: Chunked\r\n\r\n");
        assert!(matches!(h.framing, Framing::Chunked(_)) && h.reusable);
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n");
        assert!(matches!(h.framing, Framing::UntilClose) && !h.reusable);
        // Rule 6: duplicates that agree are one length.
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\nContent-Length: 7\r\n\r\n");
        assert!(matches!(h.framing, Framing::Length(7)) && h.reusable);
        // Rule 8: neither field: until close.
        let h = head("HTTP/1.1 200 OK\r\n\r\n");
        assert!(matches!(h.framing, Framing::UntilClose) && !h.reusable);
    }

    #[test]
    fn response_keep_alive_follows_version_and_connection() {
        assert!(!head("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").reusable);
        assert!(!head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").reusable);
        assert!(head("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n").reusable);
        assert!(!head("HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n").reusable);
    }

    #[test]
    fn response_framing_errors() {
        let cases = [
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1,\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: ,chunked\r\n\r\n",
            "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        ];
        for case in cases {
            let e = error(case);
            assert!(e.is_response() && e.is_framing(), "{case:?}: {e:?}");
            assert_eq!(e.status(), StatusCode::BAD_GATEWAY);
        }
    }

    #[test]
    fn response_syntax_errors() {
        let cases = [
            "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", // bare LF
            "HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n", // bare LF
            "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",      // obs-fold
            "HTTP/1.1 200 OK\r\nX : a\r\n\r\n",           // space before colon
            "HTTP/1.1  200 OK\r\n\r\n",                   // two spaces
            "HTTP/1.1 20 OK\r\n\r\n",                     // two-digit status
            "HTTP/1.1 abc OK\r\n\r\n",                    // not a status
            "HTTP/2.0 200 OK\r\n\r\n",                    // not HTTP/1.x
            "HTTP/1.1 200 OK\r\nX-\x01: a\r\n\r\n",       // control in a name
            "HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n",       // NUL in a value
            "<html>\r\n\r\n",                             // not HTTP at all
        ];
        for case in cases {
            let e = error(case);
            assert!(e.is_response() && !e.is_framing(), "{case:?}: {e:?}");
        }
    }

    #[test]
    fn response_head_limits() {
        let limits = Limits::default().max_header_bytes(64).max_headers(2);
        let long = format!("HTTP/1.1 200 OK\r\nX: {}\r\n", "a".repeat(60));
        let e = parse_response(long.as_bytes(), &Method::GET, &limits).unwrap_err();
        assert!(e.is_response() && e.is_too_large());
        let many = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        let e = parse_response(many.as_bytes(), &Method::GET, &limits).unwrap_err();
        assert!(e.is_too_large());
        let ok = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n";
        assert!(parse_response(ok.as_bytes(), &Method::GET, &limits).unwrap().is_some());
    }
}
