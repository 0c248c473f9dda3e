//! The crate's one error type.
//!
//! Following hyper, [`Error`] is opaque: the reason lives in a private
//! [`Kind`], so new reasons can be added without breaking callers, and callers
//! ask questions (`is_*`) rather than match on variants. Every reason a request
//! head can be rejected for maps to exactly one status code the server must
//! answer with ([`Error::status`]); after any of them the server closes the
//! connection, because the framing of whatever follows can no longer be trusted.
//!
//! The client uses the same type for a response it cannot accept (a malformed
//! or oversized head, broken framing). Those map to 502 Bad Gateway, what a
//! gateway would answer its own client with, and [`Error::is_response`] tells
//! them apart from request errors. A response *body* fails with the same
//! reasons as a request body (`Chunked`, `BodyTooLarge`), since both are read
//! by the same code.

use std::fmt;

use http::StatusCode;

/// An error from weft-http.
///
/// Opaque: use the `is_*` queries and [`Error::status`] rather than the
/// `Display` text, which is for people and may change.
pub struct Error {
    kind: Kind,
}

/// Why a request head (or, for the client, a response) was rejected. Private
/// so reasons can be added freely.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The head is not valid HTTP/1.1 syntax (request line, field syntax, bare
    /// CR or LF, obs-fold, whitespace before a colon). 400.
    Syntax,
    /// The method is not a token the `http` crate accepts. 400.
    Method,
    /// The request target cannot be converted to an `http::Uri`, or its form
    /// does not suit the method (RFC 9112 §3.2). 400.
    Uri,
    /// A header name or value the `http` crate refuses. 400.
    Header,
    /// Host missing on HTTP/1.1, repeated, or not a valid authority
    /// (RFC 9112 §3.2). 400.
    Host,
    /// Content-Length malformed or repeated with different values
    /// (RFC 9112 §6.3 rule 5). 400.
    ContentLength,
    /// Transfer-Encoding whose final coding is not `chunked`, `chunked` given
    /// twice, or present on HTTP/1.0 (RFC 9112 §6.1, §6.3 rule 4). 400.
    TransferEncoding,
    /// Both Transfer-Encoding and Content-Length (RFC 9112 §6.1, §6.3 rule 3). 400.
    ConflictingFraming,
    /// A transfer coding other than `chunked` (RFC 9112 §6.1). 501.
    UnsupportedCoding,
    /// An `Expect` other than `100-continue` (RFC 9110 §10.1.1). 417.
    Expectation,
    /// The request line is longer than the limit. 414.
    RequestLineTooLong,
    /// More header fields than the limit. 431.
    TooManyHeaders,
    /// The whole head is longer than the limit. 431.
    HeadTooLarge,
    /// A well-formed HTTP version other than 1.0 and 1.1 (RFC 9110 §6.2). 505.
    Version,
    /// The chunked body is malformed: bad chunk size, extension, line end or
    /// trailer (RFC 9112 §7.1). 400.
    Chunked,
    /// The body is longer than the body limit (the server's for a request,
    /// the client's for a response). 413.
    BodyTooLarge,
    /// A response head the client cannot parse: status line, version, field
    /// syntax, bare CR or LF, obs-fold. 502.
    Response,
    /// A response whose framing is invalid: a malformed Content-Length, a
    /// malformed Transfer-Encoding list, or Transfer-Encoding on HTTP/1.0
    /// (RFC 9112 §6.1, §6.3 rule 5). 502.
    ResponseFraming,
    /// A response head (interim 1xx heads included) over the head-size or
    /// field-count limit. 502.
    ResponseTooLarge,
}

impl Error {
    pub(crate) fn new(kind: Kind) -> Error {
        Error { kind }
    }

    /// The status code the server must answer this error with, before closing
    /// the connection.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            Kind::Syntax
            | Kind::Method
            | Kind::Uri
            | Kind::Header
            | Kind::Host
            | Kind::ContentLength
            | Kind::TransferEncoding
            | Kind::ConflictingFraming
            | Kind::Chunked => StatusCode::BAD_REQUEST,
            Kind::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::UnsupportedCoding => StatusCode::NOT_IMPLEMENTED,
            Kind::Expectation => StatusCode::EXPECTATION_FAILED,
            Kind::RequestLineTooLong => StatusCode::URI_TOO_LONG,
            Kind::TooManyHeaders | Kind::HeadTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Kind::Version => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            Kind::Response | Kind::ResponseFraming | Kind::ResponseTooLarge => StatusCode::BAD_GATEWAY,
        }
    }

    /// The request is malformed: any reason answered with 400.
    pub fn is_parse(&self) -> bool {
        self.status() == StatusCode::BAD_REQUEST
    }

    /// The body framing (Content-Length, Transfer-Encoding) is invalid or
    /// ambiguous: the request-smuggling class of errors. Includes unsupported
    /// transfer codings.
    pub fn is_framing(&self) -> bool {
        matches!(
            self.kind,
            Kind::ContentLength
                | Kind::TransferEncoding
                | Kind::ConflictingFraming
                | Kind::UnsupportedCoding
                | Kind::Chunked
                | Kind::ResponseFraming
        )
    }

    /// The message exceeded a size limit (request line, header count, head
    /// bytes, body): 414, 431 or 413; for a response head, 502.
    pub fn is_too_large(&self) -> bool {
        matches!(
            self.kind,
            Kind::RequestLineTooLong
                | Kind::TooManyHeaders
                | Kind::HeadTooLarge
                | Kind::BodyTooLarge
                | Kind::ResponseTooLarge
        )
    }

    /// The client received a response head it cannot accept (malformed,
    /// badly framed or too large): 502.
    pub fn is_response(&self) -> bool {
        matches!(self.kind, Kind::Response | Kind::ResponseFraming | Kind::ResponseTooLarge)
    }

    /// The request asked for an HTTP version other than 1.0 or 1.1: 505.
    pub fn is_version(&self) -> bool {
        self.kind == Kind::Version
    }

    /// The request used a transfer coding this server does not implement: 501.
    pub fn is_unsupported_coding(&self) -> bool {
        self.kind == Kind::UnsupportedCoding
    }

    /// The request carried an expectation other than `100-continue`: 417.
    pub fn is_expectation(&self) -> bool {
        self.kind == Kind::Expectation
    }

    #[cfg(any(test, feature = "invariants"))]
    pub(crate) fn kind(&self) -> Kind {
        self.kind
    }

    fn description(&self) -> &'static str {
        match self.kind {
            Kind::Syntax => "invalid HTTP/1 request syntax",
            Kind::Method => "invalid request method",
            Kind::Uri => "invalid request target",
            Kind::Header => "invalid header field",
            Kind::Host => "missing, repeated or invalid Host header",
            Kind::ContentLength => "invalid Content-Length",
            Kind::TransferEncoding => "invalid Transfer-Encoding",
            Kind::ConflictingFraming => "both Transfer-Encoding and Content-Length",
            Kind::UnsupportedCoding => "unsupported transfer coding",
            Kind::Expectation => "unsupported expectation",
            Kind::RequestLineTooLong => "request line too long",
            Kind::TooManyHeaders => "too many header fields",
            Kind::HeadTooLarge => "request head too large",
            Kind::Version => "unsupported HTTP version",
            Kind::Chunked => "malformed chunked body",
            Kind::BodyTooLarge => "body exceeds the size limit",
            Kind::Response => "malformed response head",
            Kind::ResponseFraming => "invalid response framing (Content-Length or Transfer-Encoding)",
            Kind::ResponseTooLarge => "response head too large",
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("weft_http::Error").field(&self.kind).finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_send_sync_and_static() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Error>();
    }

    #[test]
    fn error_queries_agree_with_status() {
        let e = Error::new(Kind::ConflictingFraming);
        assert!(e.is_parse() && e.is_framing() && !e.is_too_large());
        let e = Error::new(Kind::UnsupportedCoding);
        assert!(!e.is_parse() && e.is_framing() && e.is_unsupported_coding());
        assert_eq!(e.status(), StatusCode::NOT_IMPLEMENTED);
        let e = Error::new(Kind::RequestLineTooLong);
        assert!(e.is_too_large() && e.status() == StatusCode::URI_TOO_LONG);
        assert_eq!(e.to_string(), "request line too long");
        let e = Error::new(Kind::ResponseFraming);
        assert!(e.is_response() && e.is_framing() && !e.is_parse());
        assert_eq!(e.status(), StatusCode::BAD_GATEWAY);
        let e = Error::new(Kind::ResponseTooLarge);
        assert!(e.is_response() && e.is_too_large());
        assert!(!Error::new(Kind::Syntax).is_response());
    }
}
