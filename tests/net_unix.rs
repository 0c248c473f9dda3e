//! Unix-domain sockets: stream and datagram echo under load, a datagram
//! send to a full queue, a parked read that leaves its worker free, a wait
//! on a socket registered with another worker, timeouts and non-blocking
//! mode, shutdown wakeups, interop with std, plain OS threads, the
//! abstract namespace.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{assert_echo, echo_stream, message, run_green, with_each_runtime, TempDir};
use weft::net::{UnixDatagram, UnixListener, UnixStream};

/// A name in the abstract namespace unique to this process and call.
fn abstract_name(name: &str) -> SocketAddr {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, SeqCst);
    SocketAddr::from_abstract_name(format!("weft-test-{name}-{}-{n}", std::process::id())).unwrap()
}

/// Accepts `conns` connections, echoing each on its own green thread.
fn echo_server(listener: UnixListener, conns: usize) -> weft::JoinHandle<()> {
    weft::spawn(move || {
        let handles: Vec<_> = (0..conns)
            .map(|_| {
                let (stream, peer) = listener.accept().expect("accept");
                assert!(peer.is_unnamed(), "an unbound client's address is unnamed");
                weft::spawn(move || echo_stream(stream))
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    })
}

#[test]
fn unix_stream_echo_1000_concurrent_clients() {
    const CLIENTS: usize = 1000;
    const LEN: usize = 10_000;
    with_each_runtime("unix-echo", |rt| {
        let dir = TempDir::new("unix-echo");
        let path = dir.join("server.sock");
        let listener = UnixListener::bind(&path).unwrap();
        run_green(rt, move || {
            let server = echo_server(listener, CLIENTS);
            let clients: Vec<_> = (0..CLIENTS)
                .map(|id| {
                    let path = path.clone();
                    weft::spawn(move || {
                        let stream = UnixStream::connect(&path).unwrap();
                        assert_eq!(stream.peer_addr().unwrap().as_pathname(), Some(path.as_path()));
                        assert_echo(stream, id, LEN);
                    })
                })
                .collect();
            for c in clients {
                c.join().unwrap();
            }
            server.join().unwrap();
        });
    });
}

/// Receives `count` datagrams and sends each back to its sender.
fn echo_datagrams(socket: UnixDatagram, count: usize) {
    let mut buf = [0u8; 2048];
    for _ in 0..count {
        let (n, from) = socket.recv_from(&mut buf).expect("server recv_from");
        assert!(from.as_pathname().is_some(), "clients are bound");
        socket.send_to_addr(&buf[..n], &from).expect("server send_to_addr");
    }
}

#[test]
fn unix_datagram_echo_1000_bound_clients() {
    // Far more senders than the server's queue holds (10 by default):
    // most `send_to`s are refused at first and retry (see net/unix.rs).
    const CLIENTS: usize = 1000;
    with_each_runtime("unix-dgram-echo", |rt| {
        let dir = Arc::new(TempDir::new("unix-dgram-echo"));
        run_green(rt, move || {
            let server_path = dir.join("server");
            let server = UnixDatagram::bind(&server_path).unwrap();
            let server = weft::spawn(move || echo_datagrams(server, CLIENTS));
            let clients: Vec<_> = (0..CLIENTS)
                .map(|id| {
                    let (dir, server_path) = (dir.clone(), server_path.clone());
                    weft::spawn(move || {
                        let path = dir.join(&format!("client-{id}"));
                        let socket = UnixDatagram::bind(&path).unwrap();
                        assert_eq!(socket.local_addr().unwrap().as_pathname(), Some(path.as_path()));
                        let msg = message(id, 16 + id % 1000);
                        assert_eq!(socket.send_to(&msg, &server_path).unwrap(), msg.len());
                        let mut buf = vec![0u8; msg.len() + 1];
                        let (n, from) = socket.recv_from(&mut buf).unwrap();
                        assert_eq!(from.as_pathname(), Some(server_path.as_path()));
                        assert!(buf[..n] == msg[..], "client {id}: echo differs");
                    })
                })
                .collect();
            for c in clients {
                c.join().unwrap();
            }
            server.join().unwrap();
        });
    });
}

/// Fills `to`'s queue with datagrams from a fresh socket; returns how
/// many it took.
fn fill_queue(to: &Path) -> usize {
    let filler = UnixDatagram::unbound().unwrap();
    filler.set_nonblocking(true).unwrap();
    let mut sent = 0;
    loop {
        match filler.send_to(b"filler", to) {
            Ok(_) => sent += 1,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return sent,
            Err(e) => panic!("filling the queue: {e}"),
        }
    }
}

#[test]
fn unix_datagram_send_to_a_full_queue_waits_for_room() {
    with_each_runtime("unix-dgram-full", |rt| {
        let dir = TempDir::new("unix-dgram-full");
        let path = dir.join("receiver");
        run_green(rt, move || {
            let receiver = UnixDatagram::bind(&path).unwrap();
            let queued = fill_queue(&path);
            let started = Arc::new(AtomicBool::new(false));
            let sender = weft::spawn({
                let (started, path) = (started.clone(), path.clone());
                move || {
                    let socket = UnixDatagram::unbound().unwrap();
                    started.store(true, SeqCst);
                    socket.send_to(b"waited", &path).expect("send_to waits for room")
                }
            });
            while !started.load(SeqCst) {
                weft::yield_now();
            }
            // The queue stays full until we receive: the send cannot be done.
            assert!(!sender.is_finished(), "a send to a full queue completed");
            let mut buf = [0u8; 16];
            for _ in 0..queued {
                let n = receiver.recv(&mut buf).unwrap();
                assert_eq!(&buf[..n], b"filler");
            }
            assert_eq!(sender.join().unwrap(), 6);
            let (n, from) = receiver.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"waited");
            assert!(from.is_unnamed());
        });
    });
}

#[test]
fn unix_datagram_send_to_a_full_queue_times_out_with_would_block() {
    with_each_runtime("unix-dgram-full-timeout", |rt| {
        let dir = TempDir::new("unix-dgram-full-timeout");
        let path = dir.join("receiver");
        run_green(rt, move || {
            let _receiver = UnixDatagram::bind(&path).unwrap();
            fill_queue(&path);
            let sender = UnixDatagram::unbound().unwrap();
            let timeout = Duration::from_millis(50);
            sender.set_write_timeout(Some(timeout)).unwrap();
            let start = Instant::now();
            let err = sender.send_to(b"late", &path).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::WouldBlock);
            assert!(start.elapsed() >= timeout, "timed out early: {:?}", start.elapsed());
        });
    });
}

#[test]
fn unix_stream_read_parked_on_a_silent_peer_leaves_the_worker_to_others() {
    with_each_runtime("unix-parked", |rt| {
        run_green(rt, || {
            let (mut silent_peer, silent) = UnixStream::pair().unwrap();
            // Guards against a read that blocks its worker: that would hang
            // this test rather than fail it, so it gets a timeout.
            silent.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            let started = Arc::new(AtomicBool::new(false));
            let reader = weft::spawn({
                let started = started.clone();
                move || {
                    let mut buf = [0u8; 7];
                    started.store(true, SeqCst);
                    (&silent).read_exact(&mut buf).expect("parked read");
                    buf
                }
            });
            while !started.load(SeqCst) {
                weft::yield_now();
            }
            // On one worker this runs only once the reader has parked.
            let (client, server) = UnixStream::pair().unwrap();
            let echo = weft::spawn(move || echo_stream(server));
            assert_echo(client, 7, 100_000);
            echo.join().unwrap();
            assert!(!reader.is_finished(), "the reader returned without data");

            silent_peer.write_all(b"release").unwrap();
            assert_eq!(&reader.join().unwrap(), b"release");
        });
    });
}

#[test]
fn unix_read_timeout_returns_would_block() {
    with_each_runtime("unix-timeout", |rt| {
        run_green(rt, || {
            let timeout = Duration::from_millis(50);
            let (_peer, stream) = UnixStream::pair().unwrap();
            stream.set_read_timeout(Some(timeout)).unwrap();
            assert_eq!(stream.read_timeout().unwrap(), Some(timeout));
            let start = Instant::now();
            assert_eq!((&stream).read(&mut [0u8; 8]).unwrap_err().kind(), ErrorKind::WouldBlock);
            assert!(start.elapsed() >= timeout, "timed out early: {:?}", start.elapsed());

            let (_peer, dgram) = UnixDatagram::pair().unwrap();
            dgram.set_read_timeout(Some(timeout)).unwrap();
            let start = Instant::now();
            assert_eq!(dgram.recv(&mut [0u8; 8]).unwrap_err().kind(), ErrorKind::WouldBlock);
            assert!(start.elapsed() >= timeout, "timed out early: {:?}", start.elapsed());
        });
    });
}

#[test]
fn unix_nonblocking_calls_return_would_block_at_once() {
    with_each_runtime("unix-nonblocking", |rt| {
        let dir = TempDir::new("unix-nonblocking");
        let path = dir.join("listener");
        run_green(rt, move || {
            let (peer, stream) = UnixStream::pair().unwrap();
            stream.set_nonblocking(true).unwrap();
            assert_eq!((&stream).read(&mut [0u8; 8]).unwrap_err().kind(), ErrorKind::WouldBlock);
            assert_eq!(stream.peek(&mut [0u8; 8]).unwrap_err().kind(), ErrorKind::WouldBlock);
            (&peer).write_all(b"now").unwrap();
            stream.set_nonblocking(false).unwrap();
            let mut buf = [0u8; 3];
            assert_eq!(stream.peek(&mut buf).unwrap(), 3);
            (&stream).read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"now");

            let (_peer, dgram) = UnixDatagram::pair().unwrap();
            dgram.set_nonblocking(true).unwrap();
            assert_eq!(dgram.recv(&mut [0u8; 8]).unwrap_err().kind(), ErrorKind::WouldBlock);
            assert_eq!(dgram.peek_from(&mut [0u8; 8]).unwrap_err().kind(), ErrorKind::WouldBlock);

            let listener = UnixListener::bind(&path).unwrap();
            listener.set_nonblocking(true).unwrap();
            assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
        });
    });
}

#[test]
fn unix_shutdown_wakes_a_parked_reader_with_end_of_file() {
    with_each_runtime("unix-shutdown", |rt| {
        run_green(rt, || {
            let (_peer, stream) = UnixStream::pair().unwrap();
            let stream = Arc::new(stream);
            let reader = weft::spawn({
                let stream = stream.clone();
                move || (&*stream).read(&mut [0u8; 8]).unwrap()
            });
            let (_peer, dgram) = UnixDatagram::pair().unwrap();
            let dgram = Arc::new(dgram);
            let receiver = weft::spawn({
                let dgram = dgram.clone();
                move || dgram.recv_from(&mut [0u8; 8]).unwrap()
            });
            // Whether they have parked yet or not, each sees end of file.
            stream.shutdown(Shutdown::Read).unwrap();
            dgram.shutdown(Shutdown::Read).unwrap();
            assert_eq!(reader.join().unwrap(), 0);
            let (n, from) = receiver.join().unwrap();
            assert_eq!(n, 0);
            assert!(from.is_unnamed());
        });
    });
}

#[test]
fn unix_std_stream_talks_to_weft_listener_and_weft_stream_to_std_listener() {
    with_each_runtime("unix-interop", |rt| {
        let dir = TempDir::new("unix-interop");
        let (weft_path, std_path) = (dir.join("weft"), dir.join("std"));
        let weft_listener = UnixListener::bind(&weft_path).unwrap();
        let std_listener = std::os::unix::net::UnixListener::bind(&std_path).unwrap();
        // The std ends run on OS threads: they block their thread, which
        // must not be a worker.
        let std_client = std::thread::spawn(move || {
            let mut s = std::os::unix::net::UnixStream::connect(&weft_path).unwrap();
            s.write_all(b"from std").unwrap();
            let mut buf = [0u8; 9];
            s.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"from weft");
        });
        let std_server = std::thread::spawn(move || {
            let (mut s, _) = std_listener.accept().unwrap();
            let mut buf = [0u8; 9];
            s.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"from weft");
            s.write_all(b"from std").unwrap();
        });
        run_green(rt, move || {
            let (mut s, _) = weft_listener.accept().unwrap();
            let mut buf = [0u8; 8];
            s.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"from std");
            s.write_all(b"from weft").unwrap();

            let mut c = UnixStream::connect(&std_path).unwrap();
            c.write_all(b"from weft").unwrap();
            c.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"from std");
        });
        std_client.join().unwrap();
        std_server.join().unwrap();
    });
}

#[test]
fn unix_from_conversions_keep_blocking_mode_both_ways() {
    with_each_runtime("unix-convert", |rt| {
        run_green(rt, || {
            // std, non-blocking -> weft: reads do not park.
            let (std_a, std_b) = std::os::unix::net::UnixStream::pair().unwrap();
            std_a.set_nonblocking(true).unwrap();
            let weft_a = UnixStream::from(std_a);
            assert_eq!((&weft_a).read(&mut [0u8; 4]).unwrap_err().kind(), ErrorKind::WouldBlock);

            // weft, non-blocking -> std: std's read does not block either.
            let mut back = std::os::unix::net::UnixStream::from(weft_a);
            assert_eq!(back.read(&mut [0u8; 4]).unwrap_err().kind(), ErrorKind::WouldBlock);

            // std, blocking -> weft -> std: std's read blocks again, waiting
            // out its timeout instead of failing at once.
            let weft_b = UnixStream::from(std_b);
            let timeout = Duration::from_millis(30);
            weft_b.set_read_timeout(Some(timeout)).unwrap();
            let mut back = std::os::unix::net::UnixStream::from(weft_b);
            let start = Instant::now();
            assert_eq!(back.read(&mut [0u8; 4]).unwrap_err().kind(), ErrorKind::WouldBlock);
            assert!(start.elapsed() >= timeout, "std read did not wait: the fd stayed non-blocking");

            // The listener and datagram types convert the same way.
            let dgram = UnixDatagram::from(std::os::unix::net::UnixDatagram::unbound().unwrap());
            dgram.set_nonblocking(true).unwrap();
            let std_dgram = std::os::unix::net::UnixDatagram::from(dgram);
            assert_eq!(std_dgram.recv(&mut [0u8; 4]).unwrap_err().kind(), ErrorKind::WouldBlock);
            let listener = UnixListener::bind_addr(&abstract_name("convert")).unwrap();
            let std_listener = std::os::unix::net::UnixListener::from(listener);
            std_listener.set_nonblocking(true).unwrap();
            let listener = UnixListener::from(std_listener);
            assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
            assert!(format!("{listener:?}").contains("UnixListener"));
        });
    });
}

#[test]
fn unix_works_on_plain_os_threads_and_blocks_as_std() {
    // No runtime involved (so no `with_each_runtime`): every end is an OS
    // thread, which blocks in poll(2) or sleeps between connect retries.
    let dir = TempDir::new("unix-os-threads");
    let path = dir.join("listener");
    let listener = UnixListener::bind(&path).unwrap();
    let server = std::thread::spawn(move || {
        for stream in listener.incoming().take(3) {
            let stream = stream.unwrap();
            std::thread::spawn(move || echo_stream(stream));
        }
    });
    let clients: Vec<_> = (0..3)
        .map(|id| {
            let path = path.clone();
            std::thread::spawn(move || {
                // On an OS thread, the writer is one too.
                assert_echo(UnixStream::connect(&path).unwrap(), id, 50_000);
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    server.join().unwrap();

    let (a, b) = UnixDatagram::pair().unwrap();
    let timeout = Duration::from_millis(50);
    b.set_read_timeout(Some(timeout)).unwrap();
    let start = Instant::now();
    assert_eq!(b.recv(&mut [0u8; 8]).unwrap_err().kind(), ErrorKind::WouldBlock);
    assert!(start.elapsed() >= timeout, "timed out early: {:?}", start.elapsed());
    a.send(b"os").unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(b.peek(&mut buf).unwrap(), 2);
    assert_eq!(b.recv(&mut buf).unwrap(), 2);
    assert_eq!(&buf[..2], b"os");
}

#[test]
fn unix_abstract_namespace_round_trip() {
    with_each_runtime("unix-abstract", |rt| {
        run_green(rt, || {
            let addr = abstract_name("stream");
            let listener = UnixListener::bind_addr(&addr).unwrap();
            let name = listener.local_addr().unwrap().as_abstract_name().map(<[u8]>::to_vec);
            assert_eq!(name.as_deref(), addr.as_abstract_name());
            let server = echo_server(listener, 1);
            let stream = UnixStream::connect_addr(&addr).unwrap();
            assert_eq!(stream.peer_addr().unwrap().as_abstract_name(), addr.as_abstract_name());
            assert_echo(stream, 1, 1000);
            server.join().unwrap();

            let server_addr = abstract_name("dgram-server");
            let client_addr = abstract_name("dgram-client");
            let server = UnixDatagram::bind_addr(&server_addr).unwrap();
            let client = UnixDatagram::bind_addr(&client_addr).unwrap();
            client.send_to_addr(b"abstract", &server_addr).unwrap();
            let mut buf = [0u8; 16];
            let (n, from) = server.peek_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from.as_abstract_name()), (&b"abstract"[..], client_addr.as_abstract_name()));
            let (n, from) = server.recv_from(&mut buf).unwrap();
            server.send_to_addr(&buf[..n], &from).unwrap();
            client.connect_addr(&server_addr).unwrap();
            assert_eq!(client.peer_addr().unwrap().as_abstract_name(), server_addr.as_abstract_name());
            let n = client.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"abstract");
        });
    });
}

#[test]
fn unix_bind_addr_of_an_unnamed_address_autobinds_an_abstract_name() {
    with_each_runtime("unix-autobind", |rt| {
        run_green(rt, || {
            let unnamed = UnixDatagram::unbound().unwrap().local_addr().unwrap();
            assert!(unnamed.is_unnamed());
            let listener = UnixListener::bind_addr(&unnamed).unwrap();
            assert!(listener.local_addr().unwrap().as_abstract_name().is_some());
            let dgram = UnixDatagram::bind_addr(&unnamed).unwrap();
            assert!(dgram.local_addr().unwrap().as_abstract_name().is_some());
            let err = UnixStream::connect_addr(&unnamed).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
        });
    });
}

#[test]
fn unix_stream_ping_pong_waiting_on_another_workers_registration() {
    // A socket's readiness is dispatched by the worker where it was first
    // waited on; a green thread of another worker waiting on it is woken
    // by that worker's dispatch, through a cross-worker unpark.
    const ROUNDS: usize = 10_000;
    with_each_runtime("unix-cross", |rt| {
        let (a, mut b) = UnixStream::pair().unwrap();
        let a = Arc::new(a);
        let peer = std::thread::spawn(move || {
            let mut byte = [0u8; 1];
            for _ in 0..ROUNDS {
                b.read_exact(&mut byte).unwrap();
                b.write_all(&byte).unwrap();
            }
        });
        // A std barrier of one party per worker blocks its worker's OS
        // thread: the two green threads can only pass it on distinct
        // workers (as in runtime_spread.rs), and stay there.
        let barrier = Arc::new(std::sync::Barrier::new(rt.workers()));
        let registered = Arc::new(AtomicBool::new(false));
        let registrar = rt.spawn({
            let (a, barrier, registered) = (a.clone(), barrier.clone(), registered.clone());
            move || {
                barrier.wait();
                // The first wait registers `a` with this worker.
                a.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
                assert_eq!((&*a).read(&mut [0u8; 1]).unwrap_err().kind(), ErrorKind::WouldBlock);
                a.set_read_timeout(None).unwrap();
                registered.store(true, SeqCst);
                support::os_thread_name()
            }
        });
        let player = rt.spawn(move || {
            barrier.wait();
            while !registered.load(SeqCst) {
                weft::yield_now();
            }
            // A missed wakeup would park the reader forever; make it fail.
            a.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut byte = [0u8; 1];
            for i in 0..ROUNDS {
                (&*a).write_all(&[i as u8]).unwrap();
                (&*a).read_exact(&mut byte).unwrap_or_else(|e| panic!("round {i}: a wakeup was missed: {e}"));
                assert_eq!(byte[0], i as u8);
            }
            support::os_thread_name()
        });
        let (registrar, player) = (registrar.join().unwrap(), player.join().unwrap());
        if rt.workers() > 1 {
            assert_ne!(registrar, player, "the barrier put both on one worker");
        }
        peer.join().unwrap();
    });
}
