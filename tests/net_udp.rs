//! UDP sockets: echo under load with loss-tolerant clients, a parked
//! receive that leaves its worker free, timeouts and non-blocking mode,
//! use from plain OS threads, std conversions.

mod support;

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{run_green, with_each_runtime};
use weft::net::UdpSocket;

/// A datagram unique to client `id`: its id, then `len - 8` varied bytes.
fn message(id: usize, len: usize) -> Vec<u8> {
    let mut msg = (id as u64).to_be_bytes().to_vec();
    msg.extend((0..len - 8).map(|i| (id.wrapping_mul(31).wrapping_add(i * 7) % 251) as u8));
    msg
}

/// How long a client waits for its echo before sending again.
const RESEND_AFTER: Duration = Duration::from_millis(200);
/// How many times a client sends before giving up.
const ATTEMPTS: usize = 100;

/// Sends `msg` on the connected `socket` and returns the first reply,
/// resending each time `RESEND_AFTER` passes without one (loopback UDP
/// drops datagrams when a receive buffer is full). Gives up early, with
/// `None`, once `gone()` says the peer will not answer any more.
fn exchange(socket: &UdpSocket, msg: &[u8], gone: impl Fn() -> bool) -> Option<Vec<u8>> {
    socket.set_read_timeout(Some(RESEND_AFTER)).unwrap();
    let mut buf = vec![0u8; msg.len() + 1];
    for _ in 0..ATTEMPTS {
        socket.send(msg).expect("send");
        match socket.recv(&mut buf) {
            Ok(n) => return Some(buf[..n].to_vec()),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if gone() {
                    return None;
                }
            }
            Err(e) => panic!("recv: {e}"),
        }
    }
    panic!("no echo after {ATTEMPTS} attempts");
}

/// Echoes every datagram back to its sender until one says `stop`.
fn echo_server(socket: UdpSocket) {
    let mut buf = [0u8; 2048];
    loop {
        let (n, from) = socket.recv_from(&mut buf).expect("server recv_from");
        socket.send_to(&buf[..n], from).expect("server send_to");
        if &buf[..n] == b"stop" {
            return;
        }
    }
}

fn client_socket(server: SocketAddr) -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(server).unwrap();
    socket
}

#[test]
fn udp_echo_1000_concurrent_clients_each_get_their_own_bytes() {
    const CLIENTS: usize = 1000;
    with_each_runtime("udp-echo", |rt| {
        run_green(rt, || {
            let server = UdpSocket::bind("127.0.0.1:0").unwrap();
            let addr = server.local_addr().unwrap();
            let server = weft::spawn(move || echo_server(server));
            let clients: Vec<_> = (0..CLIENTS)
                .map(|id| {
                    weft::spawn(move || {
                        let socket = client_socket(addr);
                        let msg = message(id, 64 + id % 900);
                        let back = exchange(&socket, &msg, || false).unwrap();
                        assert!(back == msg, "client {id}: echo differs");
                    })
                })
                .collect();
            for c in clients {
                c.join().unwrap();
            }
            // The ack of `stop` may be lost; then the server has gone.
            let stopper = client_socket(addr);
            let _ = exchange(&stopper, b"stop", || server.is_finished());
            server.join().unwrap();
        });
    });
}

#[test]
fn udp_recv_parked_on_a_silent_peer_leaves_the_worker_to_others() {
    with_each_runtime("udp-parked", |rt| {
        run_green(rt, || {
            let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
            let silent_addr = silent.local_addr().unwrap();
            // Guards against a receive that blocks its worker: that would
            // hang this test rather than fail it, so it gets a timeout.
            silent.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            let started = Arc::new(AtomicBool::new(false));
            let reader = weft::spawn({
                let started = started.clone();
                move || {
                    let mut buf = [0u8; 16];
                    started.store(true, SeqCst);
                    let (n, _) = silent.recv_from(&mut buf).expect("parked recv_from");
                    buf[..n].to_vec()
                }
            });
            while !started.load(SeqCst) {
                weft::yield_now();
            }
            // On one worker this runs only once the reader has parked.
            let server = UdpSocket::bind("127.0.0.1:0").unwrap();
            let server_addr = server.local_addr().unwrap();
            let echo = weft::spawn(move || echo_server(server));
            let client = client_socket(server_addr);
            assert_eq!(exchange(&client, b"progress", || false).unwrap(), b"progress");
            let _ = exchange(&client, b"stop", || echo.is_finished());
            echo.join().unwrap();
            assert!(!reader.is_finished(), "the reader returned without a datagram");

            let releaser = UdpSocket::bind("127.0.0.1:0").unwrap();
            releaser.send_to(b"release", silent_addr).unwrap();
            assert_eq!(reader.join().unwrap(), b"release");
        });
    });
}

#[test]
fn udp_recv_read_timeout_returns_would_block() {
    with_each_runtime("udp-timeout", |rt| {
        run_green(rt, || {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            let timeout = Duration::from_millis(50);
            socket.set_read_timeout(Some(timeout)).unwrap();
            assert_eq!(socket.read_timeout().unwrap(), Some(timeout));
            let start = Instant::now();
            let err = socket.recv_from(&mut [0u8; 8]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::WouldBlock);
            assert!(start.elapsed() >= timeout, "timed out early: {:?}", start.elapsed());
            let err = socket.recv(&mut [0u8; 8]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::WouldBlock);
        });
    });
}

#[test]
fn udp_nonblocking_recv_returns_would_block_then_data_once_sent() {
    with_each_runtime("udp-nonblocking", |rt| {
        run_green(rt, || {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket.set_nonblocking(true).unwrap();
            let err = socket.recv_from(&mut [0u8; 8]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::WouldBlock);
            let err = socket.peek(&mut [0u8; 8]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::WouldBlock);

            let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
            sender.send_to(b"data", socket.local_addr().unwrap()).unwrap();
            socket.set_nonblocking(false).unwrap();
            let mut buf = [0u8; 8];
            let (n, from) = socket.peek_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from), (&b"data"[..], sender.local_addr().unwrap()));
            let (n, _) = socket.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"data", "peek left the datagram queued");
        });
    });
}

#[test]
fn udp_send_to_sends_to_the_first_address_only() {
    with_each_runtime("udp-first-addr", |rt| {
        run_green(rt, || {
            let first = UdpSocket::bind("127.0.0.1:0").unwrap();
            let second = UdpSocket::bind("127.0.0.1:0").unwrap();
            let addrs = [first.local_addr().unwrap(), second.local_addr().unwrap()];
            let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
            sender.send_to(b"to the first", &addrs[..]).unwrap();
            let mut buf = [0u8; 16];
            let n = first.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"to the first");
            second.set_nonblocking(true).unwrap();
            assert_eq!(second.recv(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);

            let err = sender.send_to(b"x", &addrs[..0]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
        });
    });
}

#[test]
fn udp_works_on_plain_os_threads_and_blocks_as_std() {
    // No runtime involved (so no `with_each_runtime`): both ends are OS
    // threads, which block in poll(2).
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let echo = std::thread::spawn(move || echo_server(server));
    let client = client_socket(addr);
    for id in 0..20 {
        let msg = message(id, 100);
        assert_eq!(exchange(&client, &msg, || false).unwrap(), msg);
    }
    let _ = exchange(&client, b"stop", || echo.is_finished());
    echo.join().unwrap();

    let timeout = Duration::from_millis(50);
    client.set_read_timeout(Some(timeout)).unwrap();
    let start = Instant::now();
    assert_eq!(client.recv(&mut [0u8; 8]).unwrap_err().kind(), ErrorKind::WouldBlock);
    assert!(start.elapsed() >= timeout, "timed out early: {:?}", start.elapsed());
}

#[test]
fn udp_std_conversions_keep_blocking_mode_and_timeouts() {
    with_each_runtime("udp-convert", |rt| {
        run_green(rt, || {
            let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            std_socket.set_nonblocking(true).unwrap();
            let weft_socket = UdpSocket::from(std_socket);
            let err = weft_socket.recv(&mut [0u8; 8]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::WouldBlock, "non-blocking mode carried over");

            weft_socket.set_nonblocking(false).unwrap();
            let timeout = Duration::from_millis(30);
            weft_socket.set_read_timeout(Some(timeout)).unwrap();
            let back = std::net::UdpSocket::from(weft_socket);
            assert_about(back.read_timeout().unwrap(), timeout);
            // Blocking again: std's recv waits out the timeout.
            let start = Instant::now();
            assert_eq!(back.recv(&mut [0u8; 8]).unwrap_err().kind(), ErrorKind::WouldBlock);
            assert!(start.elapsed() >= timeout, "std recv did not wait: the fd stayed non-blocking");

            let again = UdpSocket::from(back);
            assert_about(again.read_timeout().unwrap(), timeout);
            let clone = again.try_clone().unwrap();
            assert_eq!(clone.local_addr().unwrap(), again.local_addr().unwrap());
            assert!(format!("{again:?}").contains("UdpSocket"));
        });
    });
}

#[test]
fn udp_socket_options_round_trip() {
    with_each_runtime("udp-options", |rt| {
        run_green(rt, || {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket.set_broadcast(true).unwrap();
            assert!(socket.broadcast().unwrap());
            socket.set_ttl(42).unwrap();
            assert_eq!(socket.ttl().unwrap(), 42);
            socket.set_multicast_loop_v4(false).unwrap();
            assert!(!socket.multicast_loop_v4().unwrap());
            socket.set_multicast_ttl_v4(7).unwrap();
            assert_eq!(socket.multicast_ttl_v4().unwrap(), 7);
            assert!(socket.take_error().unwrap().is_none());
            assert_eq!(socket.peer_addr().unwrap_err().kind(), ErrorKind::NotConnected);
        });
    });
}

/// The kernel keeps socket timeouts in clock ticks, rounding up: a
/// timeout read back is the one set or at most a tick (10 ms at 100 Hz)
/// longer.
fn assert_about(got: Option<Duration>, set: Duration) {
    let got = got.expect("a timeout");
    assert!(got >= set && got <= set + Duration::from_millis(10), "set {set:?}, read back {got:?}");
}
