//! How weft's TCP sockets behave: a parked reader leaves its worker free,
//! one socket is read and written at once, shutdown and half-close wake
//! readers, std and weft sockets convert and talk to each other, plain OS
//! threads block as with std, sendfile, SO_REUSEPORT, and a runtime drop
//! unwinds a green thread parked on a socket.

mod support;

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use support::{
    bounded, check_pattern, pattern, run_green, runtime, tcp_pair, wait_until_os_thread_sleeps,
    wait_until_workers_sleep, with_each_runtime, yield_until, DropFlag, TempDir,
};
use weft::net::{TcpListener, TcpListenerBuilder, TcpStream};

/// Every test here fails rather than hangs after this long.
const LIMIT: Duration = Duration::from_secs(20);

/// Accepts one connection on `listener` and echoes it until end of file.
fn echo_one(listener: TcpListener) -> weft::JoinHandle<u64> {
    weft::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        echo(&stream)
    })
}

/// Echoes `stream` until end of file, then closes its write half; returns
/// the bytes echoed.
fn echo(mut stream: &TcpStream) -> u64 {
    let mut buf = vec![0; 64 * 1024];
    let mut total = 0;
    loop {
        let n = stream.read(&mut buf).expect("echo read");
        if n == 0 {
            stream.shutdown(Shutdown::Write).expect("echo shutdown");
            return total;
        }
        stream.write_all(&buf[..n]).expect("echo write");
        total += n as u64;
    }
}

/// Spawns a green thread that announces itself in `started` and then runs
/// `f` (which blocks). After `yield_until(started)` on a 1-worker runtime
/// the caller knows the green thread is parked inside `f`.
fn spawn_announced<T: Send + 'static>(
    started: &Arc<AtomicBool>,
    f: impl FnOnce() -> T + Send + 'static,
) -> weft::JoinHandle<T> {
    let started = started.clone();
    weft::spawn(move || {
        started.store(true, SeqCst);
        f()
    })
}

#[test]
fn tcp_read_on_silent_peer_does_not_stop_other_green_threads() {
    bounded(LIMIT, "silent peer", || {
        with_each_runtime("silent-peer", |rt| {
            run_green(rt, || {
                let (silent_client, silent_peer) = tcp_pair();
                let started = Arc::new(AtomicBool::new(false));
                // A: reads until end of file from a peer that says nothing yet.
                let a = spawn_announced(&started, move || {
                    let mut got = Vec::new();
                    (&silent_client).read_to_end(&mut got).map(|_| got)
                });
                yield_until("A to start reading", || started.load(SeqCst));

                // B: a full echo exchange with a server green thread, while
                // A waits. On one worker this runs only if A's read parked
                // A rather than blocking the worker.
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let server = echo_one(listener);
                let b = weft::spawn(move || {
                    let stream = TcpStream::connect(addr).unwrap();
                    for round in 0..20u64 {
                        let msg = pattern(round, 0, 1000 + round as usize);
                        (&stream).write_all(&msg).unwrap();
                        let mut back = vec![0; msg.len()];
                        (&stream).read_exact(&mut back).unwrap();
                        assert!(back == msg, "round {round}: the echo differs");
                    }
                    stream.shutdown(Shutdown::Write).unwrap();
                    let mut rest = Vec::new();
                    (&stream).read_to_end(&mut rest).unwrap();
                    assert!(rest.is_empty());
                });
                b.join().unwrap();
                server.join().unwrap();
                assert!(!a.is_finished(), "A's read returned while its peer was silent");

                // Release A: it gets exactly what its peer wrote.
                (&silent_peer).write_all(b"released").unwrap();
                drop(silent_peer);
                assert_eq!(a.join().unwrap().unwrap(), b"released");
            })
        })
    });
}

#[test]
fn tcp_concurrent_read_and_write_on_one_socket_move_8_mib_each_way() {
    const TOTAL: usize = 8 << 20;
    const SEED: u64 = 4;
    let expected: Arc<[u8]> = pattern(SEED, 0, TOTAL).into();
    bounded(LIMIT, "8 MiB each way", move || {
        with_each_runtime("full-duplex", |rt| {
            let expected = expected.clone();
            run_green(rt, move || {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let server = echo_one(listener.try_clone().unwrap());
                let client = Arc::new(TcpStream::connect(listener.local_addr().unwrap()).unwrap());
                // One green thread streams out while another reads in, on the
                // same socket: the writer fills the buffers long before the
                // reader has drained them, so both park in turn.
                let writer = {
                    let (client, data) = (client.clone(), expected.clone());
                    weft::spawn(move || {
                        let mut off = 0;
                        let mut size = 1;
                        while off < TOTAL {
                            let end = (off + size).min(TOTAL);
                            (&*client).write_all(&data[off..end]).unwrap();
                            off = end;
                            size = size * 3 % 200_003 + 1; // varied chunk sizes
                        }
                        client.shutdown(Shutdown::Write).unwrap();
                    })
                };
                let reader = {
                    let client = client.clone();
                    weft::spawn(move || {
                        let mut got = vec![0; TOTAL];
                        let mut off = 0;
                        while off < TOTAL {
                            let n = (&*client).read(&mut got[off..]).unwrap();
                            assert_ne!(n, 0, "end of file after {off} bytes");
                            off += n;
                        }
                        assert_eq!((&*client).read(&mut [0; 1]).unwrap(), 0, "more than {TOTAL} bytes came back");
                        got
                    })
                };
                writer.join().unwrap();
                let got = reader.join().unwrap();
                check_pattern(SEED, 0, &got, "echoed stream");
                assert_eq!(server.join().unwrap(), TOTAL as u64);
            })
        })
    });
}

#[test]
fn tcp_shutdown_wakes_reader_parked_on_another_handle() {
    bounded(LIMIT, "shutdown wakes reader", || {
        with_each_runtime("shutdown-wakes", |rt| {
            run_green(rt, || {
                for how in [Shutdown::Read, Shutdown::Both] {
                    let (client, _peer) = tcp_pair();
                    let clone = client.try_clone().unwrap();
                    let started = Arc::new(AtomicBool::new(false));
                    let a = spawn_announced(&started, move || (&client).read(&mut [0; 16]));
                    yield_until("A to start reading", || started.load(SeqCst));
                    let b = weft::spawn(move || clone.shutdown(how));
                    b.join().unwrap().unwrap();
                    assert_eq!(
                        a.join().unwrap().unwrap(),
                        0,
                        "after shutdown({how:?}) the parked read sees end of file"
                    );
                }
            })
        })
    });
}

#[test]
fn tcp_peer_half_close_gives_eof_and_reverse_direction_still_works() {
    bounded(LIMIT, "half close", || {
        with_each_runtime("half-close", |rt| {
            run_green(rt, || {
                let (client, server) = tcp_pair();
                let started = Arc::new(AtomicBool::new(false));
                let a = spawn_announced(&started, move || {
                    let mut got = Vec::new();
                    (&client).read_to_end(&mut got).unwrap();
                    // Our write half is still open after the peer's FIN.
                    (&client).write_all(b"reply after eof").unwrap();
                    got
                });
                yield_until("A to start reading", || started.load(SeqCst));
                (&server).write_all(b"last words").unwrap();
                server.shutdown(Shutdown::Write).unwrap();
                assert_eq!(a.join().unwrap(), b"last words");
                let mut back = Vec::new();
                (&server).read_to_end(&mut back).unwrap();
                assert_eq!(back, b"reply after eof");
            })
        })
    });
}

#[test]
fn tcp_weft_client_talks_to_std_server() {
    bounded(LIMIT, "weft client, std server", || {
        with_each_runtime("weft-to-std", |rt| {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = std::thread::spawn(move || {
                let (mut stream, _) = listener.accept().unwrap();
                let mut got = Vec::new();
                stream.read_to_end(&mut got).unwrap();
                stream.write_all(&got).unwrap();
                got.len()
            });
            run_green(rt, move || {
                let stream = TcpStream::connect(addr).unwrap();
                let msg = pattern(8, 0, 100_000);
                (&stream).write_all(&msg).unwrap();
                stream.shutdown(Shutdown::Write).unwrap();
                let mut back = Vec::new();
                (&stream).read_to_end(&mut back).unwrap();
                assert!(back == msg, "std's echo differs");
            });
            assert_eq!(server.join().unwrap(), 100_000);
        })
    });
}

#[test]
fn tcp_std_client_talks_to_weft_server() {
    bounded(LIMIT, "std client, weft server", || {
        with_each_runtime("std-to-weft", |rt| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = rt.spawn(move || {
                let (stream, peer) = listener.accept().unwrap();
                (echo(&stream), peer)
            });
            let mut client = std::net::TcpStream::connect(addr).unwrap();
            let msg = pattern(9, 0, 100_000);
            client.write_all(&msg).unwrap();
            client.shutdown(Shutdown::Write).unwrap();
            let mut back = Vec::new();
            client.read_to_end(&mut back).unwrap();
            assert!(back == msg, "weft's echo differs");
            let (echoed, peer) = server.join().unwrap();
            assert_eq!(echoed, 100_000);
            assert_eq!(peer, client.local_addr().unwrap());
        })
    });
}

/// A connected std pair (client, server side).
fn std_pair() -> (std::net::TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

/// True if the fd has `O_NONBLOCK` set.
fn fd_is_nonblocking(fd: &impl AsRawFd) -> bool {
    // SAFETY: F_GETFL on an open fd has no memory preconditions.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    assert!(flags >= 0, "fcntl: {}", std::io::Error::last_os_error());
    flags & libc::O_NONBLOCK != 0
}

#[test]
fn tcp_from_std_stream_keeps_its_read_timeout_and_blocking_mode() {
    const TIMEOUT: Duration = Duration::from_millis(70);
    bounded(LIMIT, "from std", || {
        with_each_runtime("from-std", |rt| {
            // A read timeout set on the std socket carries over.
            let (with_timeout, _peer1) = std_pair();
            with_timeout.set_read_timeout(Some(TIMEOUT)).unwrap();
            // What std reports: the kernel keeps the timeout in jiffies, so
            // 70 ms may come back rounded up (72 ms at HZ=250).
            let std_timeout = with_timeout.read_timeout().unwrap().expect("std kept the timeout");
            assert!(std_timeout >= TIMEOUT);
            // So does non-blocking mode.
            let (nonblocking, peer2) = std_pair();
            nonblocking.set_nonblocking(true).unwrap();
            // And plain blocking mode.
            let (blocking, peer3) = std_pair();
            run_green(rt, move || {
                let with_timeout = TcpStream::from(with_timeout);
                assert_eq!(with_timeout.read_timeout().unwrap(), Some(std_timeout));
                let t = Instant::now();
                let err = (&with_timeout).read(&mut [0; 8]).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::WouldBlock, "{err}");
                assert!(t.elapsed() >= std_timeout, "the adopted timeout fired after {:?}", t.elapsed());

                let nonblocking = TcpStream::from(nonblocking);
                assert_eq!(nonblocking.read_timeout().unwrap(), None);
                let err = (&nonblocking).read(&mut [0; 8]).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::WouldBlock, "an adopted non-blocking socket: {err}");
                (&peer2).write_all(b"x").unwrap();
                nonblocking.set_nonblocking(false).unwrap();
                let mut byte = [0];
                (&nonblocking).read_exact(&mut byte).unwrap();
                assert_eq!(&byte, b"x");

                // A blocking std socket parks the reader until data comes.
                let blocking = TcpStream::from(blocking);
                assert_eq!(blocking.read_timeout().unwrap(), None);
                assert!(fd_is_nonblocking(&blocking), "weft runs every fd non-blocking underneath");
                let started = Arc::new(AtomicBool::new(false));
                let reader = spawn_announced(&started, move || {
                    let mut buf = [0; 5];
                    (&blocking).read_exact(&mut buf).map(|()| buf)
                });
                yield_until("the reader to start", || started.load(SeqCst));
                assert!(!reader.is_finished(), "an adopted blocking socket returned before data came");
                (&peer3).write_all(b"hello").unwrap();
                assert_eq!(&reader.join().unwrap().unwrap(), b"hello");
            });
        })
    });
}

#[test]
fn tcp_into_std_stream_gives_a_blocking_socket_std_can_read() {
    const TIMEOUT: Duration = Duration::from_millis(60);
    bounded(LIMIT, "into std", || {
        with_each_runtime("into-std", |rt| {
            let (std_client, weft_peer, std_nonblocking, std_timed) = run_green(rt, || {
                let (client, peer) = tcp_pair();
                // Used by a green thread first, so registered with a reactor.
                (&peer).write_all(b"ping").unwrap();
                let mut buf = [0; 4];
                (&client).read_exact(&mut buf).unwrap();
                assert_eq!(&buf, b"ping");

                let (nonblocking, _) = tcp_pair();
                nonblocking.set_nonblocking(true).unwrap();
                let (timed, _) = tcp_pair();
                timed.set_read_timeout(Some(TIMEOUT)).unwrap();
                (
                    std::net::TcpStream::from(client),
                    peer,
                    std::net::TcpStream::from(nonblocking),
                    std::net::TcpStream::from(timed),
                )
            });
            assert!(fd_is_nonblocking(&std_nonblocking), "set_nonblocking(true) must survive into std");
            assert_eq!(std_timed.read_timeout().unwrap(), Some(TIMEOUT));

            // Back in std's hands, on this OS thread: blocking again. A
            // non-blocking fd would fail this read at once; a blocking one
            // waits out the timeout.
            assert!(!fd_is_nonblocking(&std_client), "the std socket must be blocking");
            std_client.set_read_timeout(Some(TIMEOUT)).unwrap();
            let t = Instant::now();
            let err = (&std_client).read(&mut [0; 8]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::WouldBlock, "{err}");
            assert!(t.elapsed() >= TIMEOUT, "std's read returned after {:?}", t.elapsed());
            std_client.set_read_timeout(None).unwrap();
            (&weft_peer).write_all(b"pong").unwrap();
            let mut buf = [0; 4];
            (&std_client).read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"pong");
        })
    });
}

/// What the main thread tells its peer thread it is about to do.
#[derive(Debug, PartialEq)]
enum Step {
    Accept,
    Read,
    Write,
}

#[test]
fn tcp_on_plain_os_threads_blocks_like_std() {
    const BIG: usize = 16 << 20; // well beyond loopback's socket buffers (~4 MB)
    const SEED: u64 = 13;
    bounded(LIMIT, "os threads", || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // SAFETY: gettid has no preconditions.
        let main_tid = unsafe { libc::gettid() };
        let (tx, rx) = mpsc::channel::<Step>();
        // The peer waits until the main thread is asleep in the kernel
        // inside each call before it lets the call complete: proof that
        // the call blocked, with no sleep in the test.
        let peer = std::thread::spawn(move || {
            assert_eq!(rx.recv().unwrap(), Step::Accept);
            wait_until_os_thread_sleeps(main_tid);
            let client = TcpStream::connect(addr).unwrap();

            assert_eq!(rx.recv().unwrap(), Step::Read);
            wait_until_os_thread_sleeps(main_tid);
            (&client).write_all(b"hello").unwrap();

            // Blocks this thread until the main thread answers.
            let mut buf = [0; 5];
            (&client).read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"world");

            assert_eq!(rx.recv().unwrap(), Step::Write);
            wait_until_os_thread_sleeps(main_tid);
            let mut got = Vec::new();
            (&client).read_to_end(&mut got).unwrap();
            assert_eq!(got.len(), BIG);
            check_pattern(SEED, 0, &got, "big write from the main thread");
        });

        tx.send(Step::Accept).unwrap();
        let (server, peer_addr) = listener.accept().unwrap();
        assert_eq!(peer_addr, server.peer_addr().unwrap());

        tx.send(Step::Read).unwrap();
        let mut buf = [0; 5];
        (&server).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        (&server).write_all(b"world").unwrap();

        // A read timeout on an OS thread: WouldBlock after the timeout.
        server.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let t = Instant::now();
        let err = (&server).read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldBlock, "{err}");
        assert!(t.elapsed() >= Duration::from_millis(50));

        // A write larger than the buffers blocks until the peer reads.
        tx.send(Step::Write).unwrap();
        (&server).write_all(&pattern(SEED, 0, BIG)).unwrap();
        drop(server);
        peer.join().unwrap();
    });
}

/// Sets `SO_SNDBUF` or `SO_RCVBUF` (std has no setter).
fn set_buffer_size(socket: &impl AsRawFd, option: libc::c_int, bytes: libc::c_int) {
    // SAFETY: passes a live c_int and its exact size.
    let ret = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&bytes as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(ret, 0, "setsockopt: {}", std::io::Error::last_os_error());
}

#[test]
fn tcp_sendfile_sends_a_file_range_and_a_short_count_at_eof() {
    const MIB: u64 = 1 << 20;
    const SIZE: u64 = 3 * MIB;
    const SEED: u64 = 11;
    let dir = TempDir::new("sendfile");
    let path = dir.join("pattern.bin");
    std::fs::write(&path, pattern(SEED, 0, SIZE as usize)).unwrap();
    bounded(LIMIT, "sendfile", move || {
        with_each_runtime("sendfile", |rt| {
            let path = path.clone();
            run_green(rt, move || {
                let file = std::fs::File::open(&path).unwrap();
                let (client, server) = tcp_pair();
                // Small buffers, so a 1 MiB range cannot go out in one call.
                set_buffer_size(&client, libc::SO_SNDBUF, 32 * 1024);
                set_buffer_size(&server, libc::SO_RCVBUF, 32 * 1024);
                let reader = weft::spawn(move || {
                    let mut got = Vec::new();
                    (&server).read_to_end(&mut got).unwrap();
                    got
                });
                // A middle range, far larger than the socket buffers: the
                // call parks until the reader drains them, many times.
                let (start, len) = (MIB + 12_345, MIB + 777);
                assert_eq!(client.sendfile(&file, start, len).unwrap(), len);
                // A range running past the end: the bytes up to the end.
                assert_eq!(client.sendfile(&file, SIZE - 1000, 5000).unwrap(), 1000);
                // A range starting past the end: nothing.
                assert_eq!(client.sendfile(&file, SIZE + 10, 100).unwrap(), 0);
                client.shutdown(Shutdown::Write).unwrap();

                let got = reader.join().unwrap();
                assert_eq!(got.len() as u64, len + 1000);
                check_pattern(SEED, start, &got[..len as usize], "middle range");
                check_pattern(SEED, SIZE - 1000, &got[len as usize..], "tail range");
            })
        })
    });
}

/// `sendfile` with a write timeout (or in non-blocking mode) to a peer
/// that stops reading: the first chunks go out, then the socket stays
/// full. The call must report how much it sent, as `write` does, or the
/// caller cannot tell where to resume.
///
/// BUG: its loop returns the `WouldBlock` of the call that found the
/// socket full and drops the count of bytes already sent.
#[test]
fn tcp_sendfile_reports_bytes_sent_before_timeout_or_would_block() {
    const SIZE: u64 = 64 << 20; // far beyond the socket buffers
    let dir = TempDir::new("sendfile-partial");
    let path = dir.join("sparse.bin");
    std::fs::File::create(&path).unwrap().set_len(SIZE).unwrap();
    bounded(LIMIT, "sendfile partial", move || {
        with_each_runtime("sendfile-partial", |rt| {
            let path = path.clone();
            run_green(rt, move || {
                let file = std::fs::File::open(&path).unwrap();
                let (timed, _silent1) = tcp_pair();
                timed.set_write_timeout(Some(Duration::from_millis(50))).unwrap();
                let sent = timed.sendfile(&file, 0, SIZE).expect("sendfile with a write timeout");
                assert!(sent > 0 && sent < SIZE, "sent {sent} of {SIZE}");

                let (nonblocking, _silent2) = tcp_pair();
                nonblocking.set_nonblocking(true).unwrap();
                let sent = nonblocking.sendfile(&file, 0, SIZE).expect("non-blocking sendfile");
                assert!(sent > 0 && sent < SIZE, "sent {sent} of {SIZE}");
            })
        })
    });
}

#[test]
fn tcp_reuse_port_listeners_share_a_port_and_accept_each_connection_once() {
    const CONNS: u32 = 64;
    const STOP: u32 = u32::MAX;
    bounded(LIMIT, "reuse port", || {
        with_each_runtime("reuse-port", |rt| {
            run_green(rt, || {
                // Without SO_REUSEPORT a second listener cannot bind the port.
                let plain = TcpListener::bind("127.0.0.1:0").unwrap();
                let err = TcpListener::bind(plain.local_addr().unwrap()).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
                let err = TcpListenerBuilder::new().reuse_port(true).bind(plain.local_addr().unwrap()).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::AddrInUse, "reuse_port onto a plain listener: {err}");
                drop(plain);

                let builder = TcpListenerBuilder::new().reuse_port(true);
                let first = builder.bind("127.0.0.1:0").unwrap();
                let addr = first.local_addr().unwrap();
                let second = builder.bind(addr).unwrap();
                assert_eq!(second.local_addr().unwrap(), addr);

                // Each listener's accept loop records the id every client
                // sends, acknowledges it, and stops at a STOP connection.
                let seen = Arc::new(Mutex::new(BTreeMap::<u32, usize>::new()));
                let acceptors: Vec<_> = [first, second]
                    .into_iter()
                    .enumerate()
                    .map(|(index, listener)| {
                        let seen = seen.clone();
                        weft::spawn(move || {
                            let mut accepted = 0;
                            loop {
                                let (stream, _) = listener.accept().unwrap();
                                let mut id = [0; 4];
                                (&stream).read_exact(&mut id).unwrap();
                                let id = u32::from_le_bytes(id);
                                if id == STOP {
                                    // Returning drops the listener: later
                                    // connections all go to the other one.
                                    (&stream).write_all(&[1]).unwrap();
                                    return accepted;
                                }
                                let previous = seen.lock().unwrap().insert(id, index);
                                assert_eq!(previous, None, "connection {id} accepted twice");
                                accepted += 1;
                                (&stream).write_all(&[1]).unwrap();
                            }
                        })
                    })
                    .collect();

                for id in 0..CONNS {
                    let client = TcpStream::connect(addr).unwrap();
                    (&client).write_all(&id.to_le_bytes()).unwrap();
                    let mut ack = [0];
                    (&client).read_exact(&mut ack).unwrap();
                }
                // Stop both loops. The kernel picks the listener, so send
                // STOPs until both loops have ended. Each one is settled
                // before the next: acknowledged by a loop that then ends
                // (closing its listener), or reset because it landed in the
                // queue of a listener that was just closed.
                let mut stops = 0;
                while acceptors.iter().any(|a| !a.is_finished()) {
                    assert!(stops < 1000, "1000 STOPs did not end both accept loops");
                    let client = TcpStream::connect(addr).unwrap();
                    (&client).write_all(&STOP.to_le_bytes()).unwrap();
                    let _ = (&client).read(&mut [0]);
                    stops += 1;
                }
                let counts: Vec<u32> = acceptors.into_iter().map(|a| a.join().unwrap()).collect();
                let seen = seen.lock().unwrap();
                assert_eq!(seen.len(), CONNS as usize, "every connection accepted exactly once");
                assert_eq!(counts.iter().sum::<u32>(), CONNS);
                // 64 connections hashed over two listeners: both get some
                // (all on one has probability 2^-63), which shows the kernel
                // really spreads the port over both.
                assert!(counts.iter().all(|&c| c > 0), "one listener got every connection: {counts:?}");
            })
        })
    });
}

#[test]
fn tcp_runtime_drop_unwinds_green_thread_parked_in_read() {
    bounded(LIMIT, "runtime drop", || {
        for workers in support::WORKER_COUNTS {
            let name = format!("rtdrop{workers}");
            let rt = runtime(workers, &name);
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let (guard, dropped) = DropFlag::new();
            let started = Arc::new(AtomicBool::new(false));
            let reader = {
                let started = started.clone();
                rt.spawn(move || {
                    let _guard = guard;
                    let stream = TcpStream::connect(addr).unwrap();
                    started.store(true, SeqCst);
                    (&stream).read(&mut [0; 8])
                })
            };
            let (mut peer, _) = listener.accept().unwrap();
            yield_until("the reader to connect", || started.load(SeqCst));
            // Every worker asleep: the reader is parked in its read.
            wait_until_workers_sleep(&name, workers);
            assert!(!reader.is_finished(), "the read returned with a silent peer");
            drop(rt);
            let payload = reader.join().expect_err("a green thread parked in read through a runtime drop");
            assert!(payload.is::<weft::Cancelled>(), "join reports the cancellation");
            assert!(dropped.load(SeqCst), "the parked green thread's destructors ran");
            // Its socket was closed by the unwinding: the peer sees end of file.
            peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            assert_eq!(peer.read(&mut [0; 8]).unwrap(), 0);
        }
    });
}

/// A green thread that is *running* when its runtime starts shutting down
/// (not parked, so the worker cannot unwind it yet) and then reaches a
/// socket wait must park there, so the worker unwinds it: a server's accept
/// loop that logs an error and calls `accept` again would otherwise spin
/// forever, and the runtime's drop (which waits for every worker) with it.
///
/// BUG: `Pollable::io` gets "this fd was first waited on in a runtime that
/// has shut down" from `registration()` (the check meant for a socket
/// registered with *another*, dead runtime) and returns it, so the loop
/// spins without a blocking point and `Runtime::drop` waits for it forever.
///
/// About two workers by nature: the accept loop keeps one worker busy while
/// the other carries the shutdown. A green thread parked forever on the
/// other worker tells the loop, from its destructor, that the shutdown has
/// begun.
#[test]
fn tcp_runtime_drop_unwinds_accept_loop_that_was_running() {
    bounded(Duration::from_secs(5), "runtime drop with a running accept loop", || {
        let rt = runtime(2, "acceptloop");
        // Both green threads block their worker on this barrier, so they
        // run on different workers (and stay there).
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let (pinned_tx, pinned_rx) = mpsc::channel();
        let (guard, shutting_down) = DropFlag::new();
        let parked = {
            let (barrier, pinned_tx) = (barrier.clone(), pinned_tx.clone());
            rt.spawn(move || {
                let _guard = guard; // set when the shutdown unwinds us
                barrier.wait();
                pinned_tx.send(()).unwrap();
                loop {
                    weft::park();
                }
            })
        };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let accept_loop = {
            let errors = errors.clone();
            rt.spawn(move || {
                barrier.wait();
                pinned_tx.send(()).unwrap();
                // Busy, with no blocking point, until the shutdown began.
                while !shutting_down.load(SeqCst) {
                    std::hint::spin_loop();
                }
                for stream in listener.incoming() {
                    if stream.is_err() {
                        errors.fetch_add(1, SeqCst);
                    }
                }
            })
        };
        pinned_rx.recv().unwrap();
        pinned_rx.recv().unwrap();
        drop(rt);
        assert!(parked.join().unwrap_err().is::<weft::Cancelled>());
        assert!(accept_loop.join().unwrap_err().is::<weft::Cancelled>());
        assert_eq!(errors.load(SeqCst), 0, "accept failed during the shutdown instead of parking");
    });
}
