"""Drives a weft-http test server (tests/http_interop.rs) with Python's
http.client, one case per run:

    python3 -I tests/interop/http_client.py PORT CASE

The server's routes (see `handle` in tests/http_interop.rs):

    GET|HEAD /                     "Hello, World!"
    POST /                         echoes the request body
    GET|HEAD /stream?len=N         N pattern bytes (seed 0) from a reader of
                                   unknown length: chunked on HTTP/1.1
    GET|HEAD /file?offset=O&len=N  bytes O..O+N of a file holding the
                                   pattern with seed 1, sent with sendfile
    anything else                  404 "not found\n"

Each case checks what it receives and exits non-zero naming the first
mismatch; on success it prints one summary line. Every socket operation is
bounded by TIMEOUT, so a server that stops answering fails the case.
"""

import http.client
import sys

TIMEOUT = 20  # seconds, per socket operation

FILE_SEED = 1
STREAM_SEED = 0


def pattern(seed, start, n):
    """support::pattern in tests/support/mod.rs: byte i is
    (7 i + i / 251 + 131 seed) mod 251."""
    return bytes((i * 7 + i // 251 + seed * 131) % 251 for i in range(start, start + n))


def check(cond, what):
    if not cond:
        sys.exit(f"http_client.py: {what}")


def check_body(got, want, what):
    if got == want:
        return
    at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    sys.exit(f"http_client.py: {what}: got {len(got)} bytes, want {len(want)}; first difference at offset {at}")


class Conn:
    """An HTTPConnection that checks it stays on one TCP connection."""

    def __init__(self, port, vsn=11):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        if vsn == 10:
            # http.client has no public switch for HTTP/1.0 requests.
            self.c._http_vsn = 10
            self.c._http_vsn_str = "HTTP/1.0"
        self.sock = None
        self.requests = 0

    def request(self, method, path, body=None, headers=None, **kw):
        self.c.request(method, path, body=body, headers=headers or {}, **kw)
        response = self.c.getresponse()
        data = response.read()
        self.requests += 1
        return response, data

    def same_connection(self, what):
        """Checks the connection is open and is the one used so far."""
        sock = self.c.sock
        check(sock is not None, f"{what}: http.client closed the connection (the server asked to close?)")
        if self.sock is None:
            self.sock = sock
        check(sock is self.sock, f"{what}: http.client opened a new connection")


def expect(response, data, status, body, what):
    check(response.status == status, f"{what}: status {response.status}, want {status}")
    check_body(data, body, what)


def case_keep_alive(port):
    """Several requests of every kind on one HTTPConnection: the server
    keeps the connection open and in sync after each."""
    c = Conn(port)
    steps = [
        ("GET", "/", None, 200, b"Hello, World!"),
        ("GET", "/missing", None, 404, b"not found\n"),
        ("POST", "/", pattern(7, 0, 100_000), 200, pattern(7, 0, 100_000)),
        ("HEAD", "/", None, 200, b""),
        ("GET", "/stream?len=70000", None, 200, pattern(STREAM_SEED, 0, 70_000)),
        ("GET", "/file?offset=1000&len=50000", None, 200, pattern(FILE_SEED, 1000, 50_000)),
        ("POST", "/", b"", 200, b""),
        ("GET", "/", None, 200, b"Hello, World!"),
    ]
    for method, path, body, status, want in steps:
        what = f"{method} {path}"
        response, data = c.request(method, path, body)
        expect(response, data, status, want, what)
        check(not response.will_close, f"{what}: the server asked to close the connection")
        c.same_connection(what)
    print(f"keep_alive: {c.requests} requests on one connection (local port {c.sock.getsockname()[1]})")


def case_chunked_upload(port):
    """A chunked request body (encode_chunked=True, an iterable body) of
    pieces of many sizes is echoed whole, and the connection stays usable."""
    sizes = [1, 2, 10, 4096, 1, 65536, 100_000, 3, 50_000, 16_384, 7]
    pieces, at = [], 0
    for n in sizes:
        pieces.append(pattern(3, at, n))
        at += n
    c = Conn(port)
    response, data = c.request("POST", "/", iter(pieces), encode_chunked=True)
    expect(response, data, 200, b"".join(pieces), "chunked POST /")
    c.same_connection("chunked POST /")
    # An empty chunked body: only the last chunk.
    response, data = c.request("POST", "/", iter([]), encode_chunked=True)
    expect(response, data, 200, b"", "empty chunked POST /")
    response, data = c.request("GET", "/")
    expect(response, data, 200, b"Hello, World!", "GET / after chunked uploads")
    c.same_connection("GET / after chunked uploads")
    print(f"chunked_upload: {at} bytes in {len(sizes)} chunks echoed")


def case_head(port):
    """HEAD answers carry the GET's headers and no body; what follows on the
    connection is not mistaken for a body."""
    c = Conn(port)
    response, data = c.request("HEAD", "/")
    expect(response, data, 200, b"", "HEAD /")
    check(response.getheader("Content-Length") == "13", f"HEAD /: Content-Length {response.getheader('Content-Length')}")
    response, data = c.request("HEAD", "/file?offset=5&len=12345")
    expect(response, data, 200, b"", "HEAD /file")
    check(
        response.getheader("Content-Length") == "12345",
        f"HEAD /file: Content-Length {response.getheader('Content-Length')}",
    )
    response, data = c.request("HEAD", "/stream?len=5000")
    expect(response, data, 200, b"", "HEAD /stream")
    response, data = c.request("HEAD", "/missing")
    expect(response, data, 404, b"", "HEAD /missing")
    response, data = c.request("GET", "/")
    expect(response, data, 200, b"Hello, World!", "GET / after HEADs")
    c.same_connection("GET / after HEADs")
    print("head: 4 HEAD requests then a GET on one connection")


def case_not_found(port):
    """Unknown paths are 404, with or without a request body the handler
    never reads; the server drains the body and keeps the connection."""
    c = Conn(port)
    response, data = c.request("GET", "/missing")
    expect(response, data, 404, b"not found\n", "GET /missing")
    response, data = c.request("POST", "/missing", pattern(5, 0, 10_000))
    expect(response, data, 404, b"not found\n", "POST /missing")
    c.same_connection("POST /missing")
    response, data = c.request("GET", "/")
    expect(response, data, 200, b"Hello, World!", "GET / after 404s")
    c.same_connection("GET / after 404s")
    print("not_found: 404 for GET and POST, connection kept")


def case_chunked_response(port):
    """A reader of unknown length comes back chunked on HTTP/1.1 and
    http.client decodes it, for empty, tiny and large bodies."""
    c = Conn(port)
    for n in [0, 1, 100, 16_384, 300_000]:
        what = f"GET /stream?len={n}"
        response, data = c.request("GET", f"/stream?len={n}")
        expect(response, data, 200, pattern(STREAM_SEED, 0, n), what)
        check(response.getheader("Transfer-Encoding") == "chunked", f"{what}: not chunked")
        check(response.getheader("Content-Length") is None, f"{what}: Content-Length with chunked")
        c.same_connection(what)
    print("chunked_response: 5 chunked responses decoded on one connection")


def case_file_range(port):
    """File ranges sent with sendfile arrive with the right length and bytes."""
    c = Conn(port)
    for offset, n in [(0, 262_147), (12_345, 1000), (262_146, 1), (77, 0)]:
        what = f"GET /file?offset={offset}&len={n}"
        response, data = c.request("GET", f"/file?offset={offset}&len={n}")
        expect(response, data, 200, pattern(FILE_SEED, offset, n), what)
        check(response.getheader("Content-Length") == str(n), f"{what}: Content-Length")
        c.same_connection(what)
    print("file_range: 4 ranges on one connection")


def case_http10(port):
    """HTTP/1.0 requests: every answer closes the connection (http.client
    sends no keep-alive), a body of unknown length is sent unframed and
    delimited by the close, and a Content-Length request body is echoed."""
    c = Conn(port, vsn=10)
    for method, path, body, want in [
        ("GET", "/", None, b"Hello, World!"),
        ("GET", "/stream?len=40000", None, pattern(STREAM_SEED, 0, 40_000)),
        ("POST", "/", pattern(9, 0, 30_000), pattern(9, 0, 30_000)),
        ("GET", "/file?offset=3&len=4000", None, pattern(FILE_SEED, 3, 4000)),
    ]:
        what = f"HTTP/1.0 {method} {path}"
        response, data = c.request(method, path, body)
        expect(response, data, 200, want, what)
        check(response.will_close, f"{what}: the server kept an HTTP/1.0 connection it was not asked to keep")
        check(response.getheader("Transfer-Encoding") is None, f"{what}: Transfer-Encoding sent to HTTP/1.0")
        check(c.c.sock is None, f"{what}: http.client kept the connection")
    print("http10: 4 requests, each on its own connection")


def case_expect_eager(port):
    """A client that sends `Expect: 100-continue` and its body at once (as
    http.client does): the echo is right whether or not a 100 comes first,
    and nothing stray is left on the connection for the next request."""
    c = Conn(port)
    body = pattern(11, 0, 200_000)
    response, data = c.request("POST", "/", body, {"Expect": "100-continue"})
    expect(response, data, 200, body, "POST / with Expect")
    c.same_connection("POST / with Expect")
    response, data = c.request("GET", "/")
    expect(response, data, 200, b"Hello, World!", "GET / after Expect")
    c.same_connection("GET / after Expect")
    print("expect_eager: echo right, connection in sync")


def post_over_limit(port, size):
    """POSTs `size` bytes to a server whose body limit is below that, with
    a Content-Length and chunked. http.client sends the whole body before
    reading anything, so it reads the 413 only if the server keeps reading
    (and discarding) until the body has all arrived."""
    body = pattern(12, 0, 65536) * (size // 65536)
    for chunked in [False, True]:
        what = f"POST of {size} bytes over the limit ({'chunked' if chunked else 'Content-Length'})"
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        try:
            if chunked:
                pieces = (body[i : i + 65536] for i in range(0, size, 65536))
                c.request("POST", "/", pieces, encode_chunked=True)
            else:
                c.request("POST", "/", body)
            response = c.getresponse()
            data = response.read()
        except OSError as e:
            sys.exit(
                f"http_client.py: {what}: {e!r} before the response could be read: the server "
                "closed the connection while the client was still sending the body"
            )
        check(response.status == 413, f"{what}: status {response.status}, want 413")
        check(data.startswith(b"413 Payload Too Large"), f"{what}: body {data[:60]!r}")
        check(response.will_close, f"{what}: the connection should close after a 413")
        c.close()
    print(f"over_limit: 413 read after sending {size} bytes, both framings")


# OVER_LIMIT and OVER_LINGER in tests/http_interop.rs.
def case_over_limit(port):
    post_over_limit(port, 256 * 1024)


def case_over_linger(port):
    post_over_limit(port, 16 * 1024 * 1024)


CASES = {name[len("case_"):]: f for name, f in globals().items() if name.startswith("case_")}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[2] not in CASES:
        sys.exit(f"usage: http_client.py PORT {{{'|'.join(CASES)}}}")
    CASES[sys.argv[2]](int(sys.argv[1]))
