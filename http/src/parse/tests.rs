//! Pure tests of the request-head parser: no I/O, no threads.
//!
//! Kept beside `parse.rs` rather than inside it so neither file passes the
//! style guide's ~800-line mark; as a child module they see its private items.

use http::StatusCode;

use super::*;
use crate::invariants::XorShift;

const GET: &[u8] = b"GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";

struct Head {
    head: Parts,
    framing: BodyFraming,
    head_len: usize,
    keep_alive: bool,
    expect_continue: bool,
}

fn complete(buf: &[u8]) -> Head {
    complete_with(buf, &Limits::default())
}

fn complete_with(buf: &[u8], limits: &Limits) -> Head {
    match parse_request(buf, limits) {
        Ok(Parsed::Complete { head, framing, head_len, keep_alive, expect_continue }) => {
            Head { head, framing, head_len, keep_alive, expect_continue }
        }
        other => panic!("expected Complete for {:?}, got {other:?}", String::from_utf8_lossy(buf)),
    }
}

fn status(buf: &[u8]) -> StatusCode {
    status_with(buf, &Limits::default())
}

fn status_with(buf: &[u8], limits: &Limits) -> StatusCode {
    match parse_request(buf, limits) {
        Err(e) => e.status(),
        other => panic!("expected an error for {:?}, got {other:?}", String::from_utf8_lossy(buf)),
    }
}

fn is_partial(buf: &[u8], limits: &Limits) -> bool {
    matches!(parse_request(buf, limits), Ok(Parsed::Partial))
}

/// A request with `Host: a` and the given extra field lines.
fn req(version: &str, fields: &str) -> Vec<u8> {
    format!("POST /p {version}\r\nHost: a\r\n{fields}\r\n").into_bytes()
}

const BAD: StatusCode = StatusCode::BAD_REQUEST;

// --- the happy path ---------------------------------------------------------

#[test]
fn parse_simple_get() {
    let h = complete(GET);
    assert_eq!(h.head.method, Method::GET);
    assert_eq!(h.head.uri.path(), "/index.html");
    assert_eq!(h.head.uri.query(), Some("q=1"));
    assert_eq!(h.head.version, Version::HTTP_11);
    assert_eq!(h.head.headers["host"], "example.com");
    assert_eq!(h.head.headers["accept"], "*/*");
    assert_eq!(h.framing, BodyFraming::None);
    assert_eq!(h.head_len, GET.len());
    assert!(h.keep_alive);
    assert!(!h.expect_continue);
}

#[test]
fn parse_skips_leading_empty_lines() {
    let mut buf = b"\r\n\r\n".to_vec();
    buf.extend_from_slice(GET);
    assert_eq!(complete(&buf).head_len, buf.len());
}

#[test]
fn parse_keeps_repeated_fields_in_order() {
    let h = complete(&req("HTTP/1.1", "Accept: a\r\nAccept: b\r\n"));
    let all: Vec<_> = h.head.headers.get_all("accept").iter().collect();
    assert_eq!(all, ["a", "b"]);
}

#[test]
fn parse_partial_at_every_prefix() {
    let buf = b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n";
    for n in 0..buf.len() {
        assert!(is_partial(&buf[..n], &Limits::default()), "prefix of {n} bytes");
    }
    let h = complete(buf);
    assert_eq!(h.framing, BodyFraming::ContentLength(3));
    assert!(h.expect_continue);
}

#[test]
fn parse_pipelined_head_len_points_at_next_request() {
    let mut buf = req("HTTP/1.1", "Content-Length: 5\r\n");
    let first = buf.len();
    buf.extend_from_slice(b"hello");
    buf.extend_from_slice(GET);
    buf.extend_from_slice(b"GET /third HTTP/1.1\r\nHo");
    let h = complete(&buf);
    assert_eq!(h.head_len, first);
    assert_eq!(&buf[h.head_len..h.head_len + 5], b"hello");
    let rest = &buf[first + 5..];
    let h = complete(rest);
    assert_eq!(h.head.uri.path(), "/index.html");
    assert!(is_partial(&rest[h.head_len..], &Limits::default()));
}

// --- limits -----------------------------------------------------------------

#[test]
fn limits_default_to_the_named_constants() {
    let l = Limits::default();
    assert_eq!(l.get_max_request_line(), MAX_REQUEST_LINE);
    assert_eq!(l.get_max_headers(), MAX_HEADERS);
    assert_eq!(l.get_max_header_bytes(), MAX_HEADER_BYTES);
    assert_eq!((MAX_REQUEST_LINE, MAX_HEADERS, MAX_HEADER_BYTES), (8192, 100, 65536));
}

/// A request line of exactly `len` bytes.
fn line_of(len: usize) -> Vec<u8> {
    let fixed = "GET / HTTP/1.1".len();
    format!("GET /{} HTTP/1.1", "a".repeat(len - fixed)).into_bytes()
}

#[test]
fn limit_request_line_at_the_limit_is_accepted() {
    let mut buf = line_of(MAX_REQUEST_LINE);
    buf.extend_from_slice(b"\r\nHost: a\r\n\r\n");
    complete(&buf);
    // Partial with the CR in but the LF still to come is not yet too long.
    let cr = MAX_REQUEST_LINE + 1;
    assert!(is_partial(&buf[..cr], &Limits::default()));
}

#[test]
fn limit_request_line_over_the_limit_is_414() {
    let mut buf = line_of(MAX_REQUEST_LINE + 1);
    buf.extend_from_slice(b"\r\nHost: a\r\n\r\n");
    assert_eq!(status(&buf), StatusCode::URI_TOO_LONG);
}

#[test]
fn limit_request_line_without_crlf_is_414_early() {
    let buf = line_of(MAX_REQUEST_LINE + 1);
    assert_eq!(status(&buf), StatusCode::URI_TOO_LONG);
    let limits = Limits::default().max_request_line(20);
    assert!(is_partial(b"GET /12345 HTTP/1.1", &limits));
    assert_eq!(status_with(b"GET /1234567890123456", &limits), StatusCode::URI_TOO_LONG);
}

#[test]
fn limit_header_count_over_the_limit_is_431() {
    let fields = |n: usize| (0..n).map(|i| format!("X-{i}: v\r\n")).collect::<String>();
    // Host is one of the fields.
    complete(&req("HTTP/1.1", &fields(MAX_HEADERS - 1)));
    let buf = req("HTTP/1.1", &fields(MAX_HEADERS));
    let e = parse_request(&buf, &Limits::default()).unwrap_err();
    assert!(e.is_too_large());
    assert_eq!(e.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let limits = Limits::default().max_headers(3);
    complete_with(&req("HTTP/1.1", &fields(2)), &limits);
    assert_eq!(status_with(&req("HTTP/1.1", &fields(3)), &limits), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
}

#[test]
fn limit_head_bytes_over_the_limit_is_431() {
    let limits = Limits::default().max_header_bytes(64);
    let fits = req("HTTP/1.1", "X: 012345678901234567890123456789\r\n");
    assert_eq!(fits.len(), 64);
    complete_with(&fits, &limits);
    let over = req("HTTP/1.1", "X: 0123456789012345678901234567890\r\n");
    assert_eq!(status_with(&over, &limits), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    // Without the blank line yet: partial up to the limit, then 431.
    let unfinished = [&fits[..fits.len() - 2], b"Y: 1\r\n"].concat();
    assert!(is_partial(&unfinished[..64], &limits));
    assert_eq!(status_with(&unfinished[..65], &limits), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
}

#[test]
fn limit_head_bytes_counts_leading_empty_lines() {
    let limits = Limits::default().max_header_bytes(64);
    assert_eq!(status_with(&b"\r\n".repeat(40), &limits), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
}

#[test]
fn limit_head_bytes_does_not_count_the_body() {
    let limits = Limits::default().max_header_bytes(64);
    let mut buf = req("HTTP/1.1", "Content-Length: 1000\r\n");
    buf.extend_from_slice(&[b'x'; 1000]);
    assert_eq!(complete_with(&buf, &limits).framing, BodyFraming::ContentLength(1000));
}

// --- syntax -----------------------------------------------------------------

#[test]
fn syntax_obs_fold_is_400() {
    assert_eq!(status(&req("HTTP/1.1", "X: a\r\n b\r\n")), BAD);
    assert_eq!(status(&req("HTTP/1.1", "X: a\r\n\tb\r\n")), BAD);
}

#[test]
fn syntax_whitespace_before_colon_is_400() {
    assert_eq!(status(&req("HTTP/1.1", "X : a\r\n")), BAD);
    assert_eq!(status(&req("HTTP/1.1", "X\t: a\r\n")), BAD);
}

#[test]
fn syntax_whitespace_before_first_field_is_400() {
    assert_eq!(status(b"GET / HTTP/1.1\r\n Host: a\r\n\r\n"), BAD);
}

#[test]
fn syntax_bare_cr_nul_and_controls_in_fields_are_400() {
    for bad in ["X: a\rb\r\n", "X: a\0b\r\n", "X: a\x7fb\r\n", "X: a\x01b\r\n", "X\0: a\r\n"] {
        assert_eq!(status(&req("HTTP/1.1", bad)), BAD, "{bad:?}");
    }
}

#[test]
fn syntax_bare_lf_is_400() {
    assert_eq!(status(b"GET / HTTP/1.1\nHost: a\r\n\r\n"), BAD);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\n\r\n"), BAD);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\n\n"), BAD);
    assert_eq!(status(b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), BAD);
}

#[test]
fn syntax_request_line_shapes_are_400() {
    for bad in [
        "GET  / HTTP/1.1",
        "GET /  HTTP/1.1",
        "GET / HTTP/1.1 ",
        "GET\t/ HTTP/1.1",
        "G(T / HTTP/1.1",
        "GET / FOO/1.1",
        "GET / HTTP/x.1",
        "GET /a b HTTP/1.1",
        "/ HTTP/1.1",
    ] {
        let buf = format!("{bad}\r\nHost: a\r\n\r\n");
        assert_eq!(status(buf.as_bytes()), BAD, "{bad:?}");
    }
}

#[test]
fn syntax_empty_header_name_is_400() {
    assert_eq!(status(&req("HTTP/1.1", ": a\r\n")), BAD);
}

#[test]
fn syntax_obs_text_in_values_is_kept() {
    let h = complete(&req("HTTP/1.1", "X: caf\u{e9}\r\n"));
    assert_eq!(h.head.headers["x"].as_bytes(), "caf\u{e9}".as_bytes());
}

// --- version ----------------------------------------------------------------

#[test]
fn version_other_than_1_0_and_1_1_is_505() {
    for v in ["HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "HTTP/3.0"] {
        let e = parse_request(&req(v, ""), &Limits::default()).unwrap_err();
        assert!(e.is_version(), "{v}");
        assert_eq!(e.status(), StatusCode::HTTP_VERSION_NOT_SUPPORTED);
    }
    // Detected as soon as the major digit arrives.
    assert_eq!(status(b"GET / HTTP/2"), StatusCode::HTTP_VERSION_NOT_SUPPORTED);
}

#[test]
fn version_1_0_may_omit_host_and_defaults_to_close() {
    let h = complete(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(h.head.version, Version::HTTP_10);
    assert!(!h.keep_alive);
}

// --- Host -------------------------------------------------------------------

#[test]
fn host_missing_on_1_1_is_400() {
    let e = parse_request(b"GET / HTTP/1.1\r\n\r\n", &Limits::default()).unwrap_err();
    assert_eq!(e.kind(), Kind::Host);
    assert_eq!(e.status(), BAD);
}

#[test]
fn host_twice_is_400_on_either_version() {
    assert_eq!(status(&req("HTTP/1.1", "Host: a\r\n")), BAD);
    assert_eq!(status(&req("HTTP/1.0", "Host: b\r\n")), BAD);
}

#[test]
fn host_invalid_is_400_and_valid_forms_pass() {
    for bad in ["a b", "u@a", "a:x", "a:99999", "a/b"] {
        let buf = format!("GET / HTTP/1.1\r\nHost: {bad}\r\n\r\n");
        assert_eq!(status(buf.as_bytes()), BAD, "{bad:?}");
    }
    for good in ["a", "a:80", "[::1]:8080", "127.0.0.1", ""] {
        let buf = format!("GET / HTTP/1.1\r\nHost: {good}\r\n\r\n");
        complete(buf.as_bytes());
    }
}

// --- request target ----------------------------------------------------------

#[test]
fn target_forms_must_suit_the_method() {
    let ok = |line: &str| complete(format!("{line}\r\nHost: a\r\n\r\n").as_bytes());
    let bad = |line: &str| status(format!("{line}\r\nHost: a\r\n\r\n").as_bytes());
    assert_eq!(ok("OPTIONS * HTTP/1.1").head.uri.path(), "*");
    assert_eq!(ok("CONNECT a:443 HTTP/1.1").head.uri.port_u16(), Some(443));
    assert_eq!(ok("GET http://a/p HTTP/1.1").head.uri.host(), Some("a"));
    assert_eq!(ok("PURGE /x HTTP/1.1").head.method.as_str(), "PURGE");
    for line in [
        "GET * HTTP/1.1",
        "GET a:443 HTTP/1.1",
        "CONNECT / HTTP/1.1",
        "CONNECT http://a/ HTTP/1.1",
        "CONNECT a HTTP/1.1",
        "CONNECT u@a:443 HTTP/1.1",
        "GET http:/p HTTP/1.1",
        "GET http://u@a/ HTTP/1.1",
        "GET http://u:p@a:80/p HTTP/1.1",
        "GET p HTTP/1.1",
    ] {
        assert_eq!(bad(line), BAD, "{line:?}");
    }
}

#[test]
fn target_with_fragment_is_400() {
    // Found by the parse_request fuzz target: `http::Uri` drops the fragment,
    // so these were accepted as `/`, `/p?q` and `http://a/`.
    for line in ["GET /# HTTP/1.1", "GET /p?q#f HTTP/1.1", "GET http://a/#f HTTP/1.1", "OPTIONS *# HTTP/1.1"] {
        let buf = format!("{line}\r\nHost: a\r\n\r\n");
        let e = parse_request(buf.as_bytes(), &Limits::default()).unwrap_err();
        assert_eq!(e.kind(), Kind::Uri, "{line:?}");
    }
}

// --- Content-Length ----------------------------------------------------------

#[test]
fn content_length_valid_values() {
    for (v, n) in [("0", 0), ("42", 42), ("007", 7), ("18446744073709551615", u64::MAX)] {
        let h = complete(&req("HTTP/1.1", &format!("Content-Length: {v}\r\n")));
        assert_eq!(h.framing, BodyFraming::ContentLength(n), "{v}");
    }
}

#[test]
fn content_length_malformed_is_400() {
    for v in ["", "-1", "+1", "1.0", "0x10", "1 2", "abc", "18446744073709551616", "5,", ",5", "5,,5"] {
        let buf = req("HTTP/1.1", &format!("Content-Length: {v}\r\n"));
        let e = parse_request(&buf, &Limits::default()).unwrap_err();
        assert!(e.is_framing() && e.status() == BAD, "{v:?}");
    }
}

#[test]
fn content_length_differing_duplicates_are_400() {
    assert_eq!(status(&req("HTTP/1.1", "Content-Length: 5\r\nContent-Length: 6\r\n")), BAD);
    assert_eq!(status(&req("HTTP/1.1", "Content-Length: 5, 6\r\n")), BAD);
}

#[test]
fn content_length_identical_duplicates_collapse_to_one() {
    for fields in ["Content-Length: 5, 5\r\n", "Content-Length: 5\r\nContent-Length: 5\r\n", "Content-Length: 5 ,5\r\n"]
    {
        let h = complete(&req("HTTP/1.1", fields));
        assert_eq!(h.framing, BodyFraming::ContentLength(5), "{fields:?}");
        let all: Vec<_> = h.head.headers.get_all("content-length").iter().collect();
        assert_eq!(all, ["5"], "{fields:?}");
    }
}

// --- Transfer-Encoding -------------------------------------------------------

#[test]
fn transfer_encoding_chunked_is_chunked() {
    for v in ["chunked", "Chunked", "CHUNKED", " chunked "] {
        let h = complete(&req("HTTP/1.1", &format!("Transfer-Encoding: {v}\r\n")));
        assert_eq!(h.framing, BodyFraming::Chunked, "{v:?}");
    }
}

#[test]
fn transfer_encoding_with_content_length_is_400() {
    let buf = req("HTTP/1.1", "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n");
    let e = parse_request(&buf, &Limits::default()).unwrap_err();
    assert_eq!(e.kind(), Kind::ConflictingFraming);
    assert_eq!(e.status(), BAD);
}

#[test]
fn transfer_encoding_on_1_0_is_400() {
    assert_eq!(status(&req("HTTP/1.0", "Transfer-Encoding: chunked\r\n")), BAD);
}

#[test]
fn transfer_encoding_chunked_not_last_is_400() {
    for v in [
        "Transfer-Encoding: chunked, gzip\r\n",
        "Transfer-Encoding: gzip\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n",
        "Transfer-Encoding: chunked, chunked\r\n",
        "Transfer-Encoding: \r\n",
        "Transfer-Encoding: ,chunked\r\n",
        "Transfer-Encoding: chunked;q=1\r\n",
    ] {
        let e = parse_request(&req("HTTP/1.1", v), &Limits::default()).unwrap_err();
        assert_eq!(e.kind(), Kind::TransferEncoding, "{v:?}");
        assert_eq!(e.status(), BAD);
    }
}

#[test]
fn transfer_encoding_unknown_coding_before_chunked_is_501() {
    for v in [
        "Transfer-Encoding: gzip, chunked\r\n",
        "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: foo, chunked\r\n",
    ] {
        let e = parse_request(&req("HTTP/1.1", v), &Limits::default()).unwrap_err();
        assert!(e.is_unsupported_coding(), "{v:?}");
        assert_eq!(e.status(), StatusCode::NOT_IMPLEMENTED);
    }
}

// --- Connection and Expect ---------------------------------------------------

#[test]
fn keep_alive_follows_version_and_connection_tokens() {
    for (version, connection, expected) in [
        ("HTTP/1.1", "", true),
        ("HTTP/1.1", "Connection: close\r\n", false),
        ("HTTP/1.1", "Connection: Upgrade, CLOSE\r\n", false),
        ("HTTP/1.1", "Connection: keep-alive\r\n", true),
        ("HTTP/1.0", "", false),
        ("HTTP/1.0", "Connection: Keep-Alive\r\n", true),
        ("HTTP/1.0", "Connection: foo,keep-alive\r\n", true),
        ("HTTP/1.0", "Connection: keep-alive, close\r\n", false),
        ("HTTP/1.1", "Connection: closed\r\n", true),
    ] {
        let h = complete(&req(version, connection));
        assert_eq!(h.keep_alive, expected, "{version} {connection:?}");
    }
}

#[test]
fn expect_continue_only_on_1_1() {
    assert!(complete(&req("HTTP/1.1", "Expect: 100-Continue\r\n")).expect_continue);
    assert!(!complete(&req("HTTP/1.0", "Expect: 100-continue\r\n")).expect_continue);
    assert!(!complete(&req("HTTP/1.0", "Expect: other\r\n")).expect_continue);
}

#[test]
fn expect_other_than_continue_is_417() {
    let e = parse_request(&req("HTTP/1.1", "Expect: 200-ok\r\n"), &Limits::default()).unwrap_err();
    assert!(e.is_expectation());
    assert_eq!(e.status(), StatusCode::EXPECTATION_FAILED);
}

// --- generated and mutated inputs ---------------------------------------------

#[test]
fn generated_header_sets_round_trip() {
    let names = ["X-A", "Accept", "User-Agent", "X-Long-Name-Here", "Cookie", "ETag"];
    let values = ["v", "", "a b c", "1, 2, 3", "\"quoted\"", "x=1; y=2"];
    let mut rng = XorShift(0x5eed_0001);
    for round in 0..200 {
        let count = rng.below(12);
        let fields: Vec<(&str, &str)> =
            (0..count).map(|_| (names[rng.below(names.len())], values[rng.below(values.len())])).collect();
        let text: String = fields.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
        let buf = req("HTTP/1.1", &text);
        let h = complete(&buf);
        assert_eq!(h.head_len, buf.len(), "round {round}");
        assert_eq!(h.head.headers.len(), count + 1, "round {round}");
        for name in names {
            let want: Vec<&str> = fields.iter().filter(|(n, _)| *n == name).map(|(_, v)| *v).collect();
            let got: Vec<&str> = h.head.headers.get_all(name).iter().map(|v| v.to_str().unwrap()).collect();
            assert_eq!(got, want, "round {round} {name}");
        }
        // Every strict prefix is Partial.
        let n = rng.below(buf.len());
        assert!(is_partial(&buf[..n], &Limits::default()), "round {round} prefix {n}");
    }
}

#[test]
fn mutated_requests_never_panic_and_map_to_error_statuses() {
    let seeds: [&[u8]; 4] = [
        GET,
        b"POST /u HTTP/1.1\r\nHost: a:1\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbody",
        b"PUT http://a/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    ];
    let limits = Limits::default().max_request_line(64).max_headers(8).max_header_bytes(256);
    let mut rng = XorShift(0x00c0_ffee_d00d_f00d);
    let (mut partial, mut complete, mut errors) = (0, 0, 0);
    for _ in 0..20_000 {
        let mut buf = seeds[rng.below(seeds.len())].to_vec();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(buf.len() + 1);
            match rng.below(3) {
                0 if at < buf.len() => buf[at] ^= 1 << rng.below(8),
                1 => buf.insert(at, rng.next_u64() as u8),
                _ if at < buf.len() => {
                    buf.remove(at);
                }
                _ => {}
            }
        }
        for limits in [&limits, &Limits::default()] {
            match parse_request(&buf, limits) {
                Ok(Parsed::Partial) => partial += 1,
                Ok(Parsed::Complete { head_len, .. }) => {
                    assert!(head_len <= buf.len());
                    complete += 1;
                }
                Err(e) => {
                    let s = e.status();
                    assert!(s.is_client_error() || s.is_server_error(), "{s} for {buf:?}");
                    errors += 1;
                }
            }
        }
    }
    // The mutations reach all three outcomes, so the loop tests something.
    assert!(partial > 0 && complete > 0 && errors > 0, "{partial} {complete} {errors}");
}

#[test]
fn host_validation_accepts_rfc3986_hosts_and_nothing_else() {
    use super::valid_host;
    for ok in
        ["a", "example.com", "example.com:8080", "127.0.0.1:1", "[::1]", "[::1]:65535", "a%20b", "x_y~z!$&'()*+,;="]
    {
        assert!(valid_host(ok.as_bytes()), "{ok}");
    }
    for bad in [
        ":80", "a:", "a:65536", "a:123456", "a:8x", "user@a", "a b", "a/b", "a?b", "a#b", "[::1", "[]", "[::1]x", "%4",
        "%zz", "a\"b", "a:80:90",
    ] {
        assert!(!valid_host(bad.as_bytes()), "{bad}");
    }
}

#[test]
fn targets_with_characters_rfc3986_excludes_are_refused() {
    use super::valid_target_chars;
    for ok in ["/", "/a/b?c=d&e=f", "/%20x", "*", "http://a:80/p?q", "a:443", "/~user/[x]@:;!$&'()*+,="] {
        assert!(valid_target_chars(ok.as_bytes()), "{ok}");
    }
    for bad in ["/a\\b", "/{x}", "/a|b", "/a^b", "/\"q\"", "/`", "/<x>", "/é", "/%zz", "/%4", "/a#f", "/a b"] {
        assert!(!valid_target_chars(bad.as_bytes()), "{bad}");
    }
}
