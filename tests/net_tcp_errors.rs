//! TCP errors as std reports them: read and write timeouts, connect
//! failures and connect timeouts, resets and broken pipes (without
//! `SIGPIPE`), non-blocking mode, and address parsing and resolution.
//!
//! Where std has the same call, the test makes std fail in the same
//! situation first and compares the error kinds, so "like std" is checked
//! on this kernel rather than assumed.

mod support;

use std::io::{self, ErrorKind, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{bounded, is_child, run_child, run_green, tcp_pair, with_each_runtime, yield_until};
use weft::net::{TcpListener, TcpListenerBuilder, TcpStream};

/// Every test here fails rather than hangs after this long.
const LIMIT: Duration = Duration::from_secs(20);
/// The read, write and connect timeouts the tests set.
const TIMEOUT: Duration = Duration::from_millis(50);

/// A connected std pair (client, server side), for the std comparisons.
fn std_pair() -> (std::net::TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

/// Writes 64 KiB chunks with `write` until a call fails; returns the error
/// and how long the failing call took. Panics if 64 MiB go through (the
/// peer never reads, so the buffers must fill long before).
fn write_until_error(mut write: impl FnMut(&[u8]) -> io::Result<usize>) -> (io::Error, Duration) {
    let chunk = vec![0x5a; 64 * 1024];
    let mut total = 0;
    while total < 64 << 20 {
        let t = Instant::now();
        match write(&chunk) {
            Ok(n) => total += n,
            Err(e) => return (e, t.elapsed()),
        }
    }
    panic!("wrote {total} bytes to a peer that never reads without an error");
}

#[test]
fn tcp_read_timeout_returns_would_block_like_std() {
    let (std_client, _std_server) = std_pair();
    std_client.set_read_timeout(Some(TIMEOUT)).unwrap();
    let t = Instant::now();
    let std_err = (&std_client).read(&mut [0; 16]).unwrap_err();
    assert!(t.elapsed() >= TIMEOUT, "std's read timed out early: {:?}", t.elapsed());
    assert_eq!(std_err.kind(), ErrorKind::WouldBlock, "std on Linux reports EAGAIN: {std_err}");
    let std_errno = std_err.raw_os_error();

    bounded(LIMIT, "read timeout", move || {
        with_each_runtime("read-timeout", |rt| {
            run_green(rt, move || {
                let (client, server) = tcp_pair();
                assert_eq!(client.read_timeout().unwrap(), None);
                client.set_read_timeout(Some(TIMEOUT)).unwrap();
                assert_eq!(client.read_timeout().unwrap(), Some(TIMEOUT));

                let t = Instant::now();
                let err = (&client).read(&mut [0; 16]).unwrap_err();
                let waited = t.elapsed();
                assert_eq!(err.kind(), ErrorKind::WouldBlock, "{err}");
                assert_eq!(err.raw_os_error(), std_errno, "same errno as std: {err}");
                assert!(waited >= TIMEOUT, "the read gave up after {waited:?}, before its {TIMEOUT:?} timeout");

                // A timed-out stream still works, and the timeout applies
                // per call: data that comes in time is read.
                (&server).write_all(b"late").unwrap();
                let mut buf = [0; 4];
                (&client).read_exact(&mut buf).unwrap();
                assert_eq!(&buf, b"late");

                client.set_read_timeout(None).unwrap();
                assert_eq!(client.read_timeout().unwrap(), None);
            })
        })
    });
}

#[test]
fn tcp_write_timeout_on_full_buffer_returns_would_block_like_std() {
    let (std_client, _std_server) = std_pair();
    std_client.set_write_timeout(Some(TIMEOUT)).unwrap();
    let (std_err, std_waited) = write_until_error(|b| (&std_client).write(b));
    assert_eq!(std_err.kind(), ErrorKind::WouldBlock, "std on Linux reports EAGAIN: {std_err}");
    assert!(std_waited >= TIMEOUT, "std's write timed out early: {std_waited:?}");

    bounded(LIMIT, "write timeout", || {
        with_each_runtime("write-timeout", |rt| {
            run_green(rt, || {
                // The server side never reads: the buffers fill up.
                let (client, _server) = tcp_pair();
                assert_eq!(client.write_timeout().unwrap(), None);
                client.set_write_timeout(Some(TIMEOUT)).unwrap();
                assert_eq!(client.write_timeout().unwrap(), Some(TIMEOUT));
                let (err, waited) = write_until_error(|b| (&client).write(b));
                assert_eq!(err.kind(), ErrorKind::WouldBlock, "{err}");
                assert!(waited >= TIMEOUT, "the write gave up after {waited:?}, before its {TIMEOUT:?} timeout");
            })
        })
    });
}

#[test]
fn tcp_zero_timeout_is_invalid_input_like_std() {
    let (std_client, _std_server) = std_pair();
    let std_kinds = [
        std_client.set_read_timeout(Some(Duration::ZERO)).unwrap_err().kind(),
        std_client.set_write_timeout(Some(Duration::ZERO)).unwrap_err().kind(),
    ];
    assert_eq!(std_kinds, [ErrorKind::InvalidInput; 2]);

    bounded(LIMIT, "zero timeout", || {
        with_each_runtime("zero-timeout", |rt| {
            run_green(rt, || {
                let (client, _server) = tcp_pair();
                client.set_read_timeout(Some(TIMEOUT)).unwrap();
                let kinds = [
                    client.set_read_timeout(Some(Duration::ZERO)).unwrap_err().kind(),
                    client.set_write_timeout(Some(Duration::ZERO)).unwrap_err().kind(),
                ];
                assert_eq!(kinds, [ErrorKind::InvalidInput; 2]);
                // A rejected setting leaves the previous one in place.
                assert_eq!(client.read_timeout().unwrap(), Some(TIMEOUT));
                assert_eq!(client.write_timeout().unwrap(), None);
                let addr = client.peer_addr().unwrap();
                let err = TcpStream::connect_timeout(&addr, Duration::ZERO).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
            })
        })
    });
    let err = std::net::TcpStream::connect_timeout(&std_client.peer_addr().unwrap(), Duration::ZERO).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "std: {err}");
}

/// An address on 127.0.0.1 where nothing listens (a port that was just
/// bound and released).
fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[test]
fn tcp_connect_to_closed_port_is_refused_like_std() {
    let addr = closed_port();
    let std_err = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap_err();
    assert_eq!(std_err.kind(), ErrorKind::ConnectionRefused, "std: {std_err}");
    let std_kind = std_err.kind();

    bounded(LIMIT, "connect refused", move || {
        with_each_runtime("connect-refused", |rt| {
            run_green(rt, move || {
                let err = TcpStream::connect(addr).unwrap_err();
                assert_eq!(err.kind(), std_kind, "connect: {err}");
                let err = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap_err();
                assert_eq!(err.kind(), std_kind, "connect_timeout: {err}");
            })
        })
    });
}

/// A loopback listener whose SYNs are dropped, so a connect to it cannot
/// complete: it never accepts, has a listen backlog of 0, and one
/// connection (returned; keep it alive) already fills its accept queue.
///
/// The technique, checked on this kernel (Linux 6.18) with a small probe
/// before writing the test: a listener with backlog `n` holds `n + 1`
/// established connections (the queue counts as full when it holds *more*
/// than `n`); while it is full the kernel drops every new SYN
/// (`ListenOverflows` in `nstat`) instead of refusing it, and the client
/// retransmits its SYN only after one second. A connect with a shorter
/// timeout therefore times out, deterministically and without leaving
/// loopback. (A kernel that admitted more would make the test's connect
/// succeed, and the test fail with a message saying so.)
///
/// Runs on the calling OS thread: it waits in `poll(2)` until the first
/// connection is in the accept queue (the listener reads as readable), so
/// the next SYN is sure to find the queue full.
fn full_backlog() -> (TcpListener, TcpStream) {
    let listener = TcpListenerBuilder::new().backlog(0).bind("127.0.0.1:0").unwrap();
    let admitted = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let mut pfd = libc::pollfd { fd: listener.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one live pollfd.
    let ready = unsafe { libc::poll(&mut pfd, 1, 10_000) };
    assert_eq!(ready, 1, "the admitted connection never reached the accept queue");
    (listener, admitted)
}

/// Connects to `listener`, whose queue is full, with [`TIMEOUT`]; checks
/// that the connect timed out, and not before [`TIMEOUT`].
fn connect_times_out(listener: &TcpListener, connect: impl Fn(&SocketAddr) -> io::Result<()>) {
    let addr = listener.local_addr().unwrap();
    let t = Instant::now();
    match connect(&addr) {
        Ok(()) => panic!("a connect to a listener with a full backlog succeeded: this kernel admits more"),
        Err(e) => assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}"),
    }
    let waited = t.elapsed();
    assert!(waited >= TIMEOUT, "connect_timeout gave up after {waited:?}, before its {TIMEOUT:?}");
}

#[test]
fn tcp_connect_timeout_to_full_backlog_times_out_like_std() {
    bounded(LIMIT, "connect timeout", || {
        // std, in the same situation.
        let (listener, _admitted) = full_backlog();
        connect_times_out(&listener, |addr| std::net::TcpStream::connect_timeout(addr, TIMEOUT).map(drop));

        with_each_runtime("connect-timeout", |rt| {
            let (listener, admitted) = full_backlog();
            run_green(rt, move || {
                for _ in 0..2 {
                    connect_times_out(&listener, |addr| TcpStream::connect_timeout(addr, TIMEOUT).map(drop));
                }
                drop(admitted);
            })
        });
    });
}

#[test]
fn tcp_read_after_peer_reset_gives_connection_reset_like_std() {
    // std: the server side closes with unread data in its receive buffer,
    // which makes Linux send RST instead of FIN.
    let (mut std_client, std_server) = std_pair();
    std_client.write_all(b"unread").unwrap();
    std_server.peek(&mut [0; 6]).unwrap();
    drop(std_server);
    let std_err = std_client.read(&mut [0; 16]).unwrap_err();
    assert_eq!(std_err.kind(), ErrorKind::ConnectionReset, "std: {std_err}");

    bounded(LIMIT, "reset", || {
        with_each_runtime("reset", |rt| {
            run_green(rt, || {
                let (client, server) = tcp_pair();
                (&client).write_all(b"unread").unwrap();
                // Wait until the bytes sit in the server's receive buffer.
                let mut buf = [0; 6];
                assert_eq!(server.peek(&mut buf).unwrap(), 6);

                let client = Arc::new(client);
                let reading = Arc::new(AtomicBool::new(false));
                let reader = {
                    let (client, reading) = (client.clone(), reading.clone());
                    weft::spawn(move || {
                        reading.store(true, SeqCst);
                        (&*client).read(&mut [0; 16])
                    })
                };
                // On one worker the reader is parked now; the reset must
                // wake it.
                yield_until("the reader to start", || reading.load(SeqCst));
                drop(server);
                let err = reader.join().unwrap().unwrap_err();
                assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
            })
        })
    });
}

#[test]
fn tcp_write_to_closed_peer_gives_broken_pipe() {
    bounded(LIMIT, "broken pipe", || {
        with_each_runtime("broken-pipe", |rt| {
            run_green(rt, || {
                let (client, server) = tcp_pair();
                drop(server);
                let err = write_until_closed(|b| (&client).write(b));
                assert!(
                    matches!(err.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset),
                    "writing to a closed peer: {err}"
                );
            })
        })
    });
}

/// Writes small chunks with `write` until it fails (the peer has closed):
/// the first writes succeed, the peer's kernel answers with RST, and the
/// next write fails. Panics if 1,000 writes succeed.
fn write_until_closed(mut write: impl FnMut(&[u8]) -> io::Result<usize>) -> io::Error {
    for _ in 0..1000 {
        if let Err(e) = write(&[0x42; 1024]) {
            return e;
        }
    }
    panic!("1000 writes to a closed peer succeeded");
}

/// The child half of the SIGPIPE tests: restores `SIGPIPE`'s default
/// action (death), which the Rust runtime replaced with "ignore" before
/// `main`, then writes with `write` to a closed peer on each runtime until
/// the write fails. Survives only if weft's writes never raise `SIGPIPE`.
fn write_to_closed_peer_with_sigpipe_fatal(write: fn(&TcpStream) -> io::Result<usize>) {
    // SAFETY: setting a signal's disposition to SIG_DFL has no memory
    // preconditions; no handler runs.
    let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    assert_ne!(previous, libc::SIG_ERR);
    with_each_runtime("sigpipe", |rt| {
        run_green(rt, move || {
            let (client, server) = tcp_pair();
            drop(server);
            let err = write_until_closed(|_| write(&client));
            assert!(matches!(err.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset), "{err}");
        })
    });
    eprintln!("child: survived writing to a closed peer");
}

/// The parent half: runs `test` as a child and checks that it was not
/// killed by `SIGPIPE` and passed.
fn expect_child_survives_sigpipe(test: &str) {
    let out = bounded(LIMIT, "sigpipe child", {
        let test = test.to_owned();
        move || run_child(&test)
    });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.signal(), Some(libc::SIGPIPE), "the child died of SIGPIPE; stderr:\n{stderr}");
    assert!(out.status.success(), "child failed: {:?}; stderr:\n{stderr}", out.status);
    assert!(stderr.contains("child: survived"), "the child did not run the scenario; stderr:\n{stderr}");
}

#[test]
fn tcp_write_to_closed_peer_does_not_raise_sigpipe() {
    const TEST: &str = "tcp_write_to_closed_peer_does_not_raise_sigpipe";
    if is_child(TEST) {
        return write_to_closed_peer_with_sigpipe_fatal(|s| {
            let mut s = s;
            s.write(&[0x42; 1024])
        });
    }
    expect_child_survives_sigpipe(TEST);
}

/// BUG: `write_vectored` goes through std's, which is `writev(2)`: no
/// `MSG_NOSIGNAL`, so a closed peer raises `SIGPIPE`. (std's own
/// `TcpStream::write_vectored` does the same; the `weft::net` docs promise
/// otherwise.) Fix: `sendmsg(MSG_NOSIGNAL)` in `sys/socket.rs`.
#[test]
fn tcp_write_vectored_to_closed_peer_does_not_raise_sigpipe() {
    const TEST: &str = "tcp_write_vectored_to_closed_peer_does_not_raise_sigpipe";
    if is_child(TEST) {
        return write_to_closed_peer_with_sigpipe_fatal(|s| {
            let mut s = s;
            s.write_vectored(&[IoSlice::new(&[0x42; 512]), IoSlice::new(&[0x43; 512])])
        });
    }
    expect_child_survives_sigpipe(TEST);
}

/// BUG: `sendfile(2)` to a closed peer raises `SIGPIPE` and has no flag to
/// prevent it. Fix: block `SIGPIPE` in the calling thread around the call
/// and consume the one it raised.
#[test]
fn tcp_sendfile_to_closed_peer_does_not_raise_sigpipe() {
    const TEST: &str = "tcp_sendfile_to_closed_peer_does_not_raise_sigpipe";
    if is_child(TEST) {
        return write_to_closed_peer_with_sigpipe_fatal(|s| {
            // Any open regular file will do: this test binary.
            let file = std::fs::File::open(std::env::current_exe().unwrap()).unwrap();
            s.sendfile(&file, 0, 1024).map(|n| n as usize)
        });
    }
    expect_child_survives_sigpipe(TEST);
}

#[test]
fn tcp_nonblocking_read_write_and_accept_return_would_block_then_park_again() {
    bounded(LIMIT, "nonblocking", || {
        with_each_runtime("nonblocking", |rt| {
            run_green(rt, || {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let client = TcpStream::connect(addr).unwrap();
                let (server, _) = listener.accept().unwrap();

                // Non-blocking: each call returns WouldBlock instead of
                // parking (nothing would ever wake it: the test would hang).
                listener.set_nonblocking(true).unwrap();
                let err = listener.accept().unwrap_err();
                assert_eq!(err.kind(), ErrorKind::WouldBlock, "accept: {err}");
                client.set_nonblocking(true).unwrap();
                let err = (&client).read(&mut [0; 16]).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::WouldBlock, "read: {err}");
                // A clone shares the mode, as dup'd std sockets share O_NONBLOCK.
                let clone = client.try_clone().unwrap();
                let err = (&clone).read(&mut [0; 16]).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::WouldBlock, "read on a clone: {err}");
                // The server never reads: writes fill the buffers, then fail.
                let (err, _) = write_until_error(|b| (&client).write(b));
                assert_eq!(err.kind(), ErrorKind::WouldBlock, "write: {err}");
                drop(server);
                drop((client, clone));

                // Blocking again: read and accept park until they can proceed.
                let (client, server) = tcp_pair();
                client.set_nonblocking(true).unwrap();
                client.set_nonblocking(false).unwrap();
                listener.set_nonblocking(false).unwrap();
                let client = Arc::new(client);
                let listener = Arc::new(listener);
                let started = Arc::new(AtomicBool::new(false));
                let reader = {
                    let (client, started) = (client.clone(), started.clone());
                    weft::spawn(move || {
                        started.store(true, SeqCst);
                        let mut buf = [0; 5];
                        (&*client).read_exact(&mut buf).map(|()| buf)
                    })
                };
                yield_until("the reader to start", || started.load(SeqCst));
                assert!(!reader.is_finished(), "read returned before any data was sent");
                (&server).write_all(b"hello").unwrap();
                assert_eq!(&reader.join().unwrap().unwrap(), b"hello");

                started.store(false, SeqCst);
                let acceptor = {
                    let (listener, started) = (listener.clone(), started.clone());
                    weft::spawn(move || {
                        started.store(true, SeqCst);
                        listener.accept().map(|(_, peer)| peer)
                    })
                };
                yield_until("the acceptor to start", || started.load(SeqCst));
                assert!(!acceptor.is_finished(), "accept returned before anyone connected");
                let late = TcpStream::connect(addr).unwrap();
                assert_eq!(acceptor.join().unwrap().unwrap(), late.local_addr().unwrap());
            })
        })
    });
}

#[test]
fn tcp_connect_and_bind_resolve_localhost() {
    bounded(LIMIT, "localhost", || {
        with_each_runtime("localhost", |rt| {
            run_green(rt, || {
                let listener = TcpListener::bind(("localhost", 0)).unwrap();
                let local = listener.local_addr().unwrap();
                assert!(local.ip().is_loopback(), "localhost resolved to {local}");
                let port = local.port();
                let clients = [
                    TcpStream::connect(format!("localhost:{port}")).unwrap(),
                    TcpStream::connect(("localhost", port)).unwrap(),
                    TcpStream::connect((String::from("localhost"), port)).unwrap(),
                ];
                for (i, client) in clients.iter().enumerate() {
                    assert_eq!(client.peer_addr().unwrap(), local, "client {i}");
                    let (server, _) = listener.accept().unwrap();
                    (&server).write_all(&[i as u8]).unwrap();
                    let mut byte = [0xff];
                    (&*client).read_exact(&mut byte).unwrap();
                    assert_eq!(byte[0], i as u8, "client {i} reached another connection");
                }
            })
        })
    });
}

#[test]
fn tcp_invalid_addresses_are_invalid_input_like_std() {
    const INVALID: [&str; 6] = ["127.0.0.1", "localhost", "localhost:http", "localhost:99999", "127.0.0.1:-1", ""];
    for addr in INVALID {
        let err = std::net::TcpStream::connect(addr).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "std connect({addr:?}): {err}");
    }
    let err = std::net::TcpStream::connect(&[][..]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "std connect(&[]): {err}");

    bounded(LIMIT, "invalid addresses", || {
        with_each_runtime("invalid-addr", |rt| {
            run_green(rt, || {
                for addr in INVALID {
                    let err = TcpStream::connect(addr).unwrap_err();
                    assert_eq!(err.kind(), ErrorKind::InvalidInput, "connect({addr:?}): {err}");
                    let err = TcpListener::bind(addr).unwrap_err();
                    assert_eq!(err.kind(), ErrorKind::InvalidInput, "bind({addr:?}): {err}");
                }
                let none: &[SocketAddr] = &[];
                let err = TcpStream::connect(none).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::InvalidInput, "connect(&[]): {err}");
                let err = TcpListener::bind(none).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::InvalidInput, "bind(&[]): {err}");
            })
        })
    });
}
