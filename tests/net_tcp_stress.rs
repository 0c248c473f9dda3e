//! Stress for the reactor's wait protocol (`reactor/mod.rs`) across
//! workers: many connections doing many small round trips, and sockets
//! whose reader and writer live on different workers. A lost wakeup leaves
//! a green thread parked for good (the test then fails on its time limit);
//! a wrong or reordered byte fails the content checks.
//!
//! Green threads are placed on purpose: two green threads that meet at a
//! `std::sync::Barrier` block their OS threads there, so on a 2-worker
//! runtime they run on different workers, and stay there for life. Each
//! side of such a pair first waits (with a short timeout) on the *other*
//! side's socket, which registers that socket with its own worker's
//! reactor; afterwards every wakeup of either side comes from the other
//! worker's reactor, through the owner's inbox and eventfd.
//!
//! Sizes and placements come from `support::XorShift` with fixed seeds,
//! printed in every failure message.

mod support;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier};
use std::time::Duration;

use support::{bounded, check_pattern, os_thread_name, pattern, runtime, tcp_pair, yield_until, XorShift};
use weft::net::TcpStream;

/// Each stress test fails rather than hangs after this long.
const LIMIT: Duration = Duration::from_secs(60);
const WORKERS: usize = 2;

/// Random bytes that messages are cut from (a message is a slice at a
/// random offset, so building one costs nothing).
fn noise(seed: u64) -> Arc<[u8]> {
    let mut rng = XorShift::new(seed);
    (0..MAX_MESSAGE * 2).map(|_| rng.next_u64() as u8).collect()
}

/// The largest ping.
const MAX_MESSAGE: usize = 16 * 1024;

/// A message length: mostly small, sometimes up to `MAX_MESSAGE`.
fn message_len(rng: &mut XorShift) -> usize {
    if rng.one_in(64) {
        1 + rng.below(MAX_MESSAGE)
    } else {
        1 + rng.below(512)
    }
}

/// Spawns `a` and `b` on `rt`. If `apart`, they first meet at a barrier,
/// which puts them on different workers. Returns once both have started
/// (so at most two unstarted green threads are ever queued) and the names
/// of the workers they run on.
fn spawn_pair<A, B>(
    rt: &weft::Runtime,
    apart: bool,
    a: impl FnOnce() -> A + Send + 'static,
    b: impl FnOnce() -> B + Send + 'static,
) -> (weft::JoinHandle<A>, weft::JoinHandle<B>, [String; 2])
where
    A: Send + 'static,
    B: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(2));
    let (tx, rx) = mpsc::channel();
    let start = move |side: usize| {
        let (barrier, tx) = (barrier.clone(), tx.clone());
        move || {
            if apart {
                barrier.wait();
            }
            tx.send((side, os_thread_name())).unwrap();
        }
    };
    let (start_a, start_b) = (start(0), start(1));
    let ha = rt.spawn(move || {
        start_a();
        a()
    });
    let hb = rt.spawn(move || {
        start_b();
        b()
    });
    let mut names = [String::new(), String::new()];
    for _ in 0..2 {
        let (side, name) = rx.recv().unwrap();
        names[side] = name;
    }
    if apart {
        assert_ne!(names[0], names[1], "a barrier pair shared a worker");
    }
    (ha, hb, names)
}

/// Waits once on `stream` from the calling green thread with a short
/// timeout and no data coming: registers `stream` with this worker's
/// reactor (the first wait on a socket registers it).
fn register_here(stream: &TcpStream) {
    stream.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
    let err = (&*stream).read(&mut [0; 1]).expect_err("no data was sent yet");
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock, "{err}");
    stream.set_read_timeout(None).unwrap();
}

/// One side of a primed pair: registers the peer's socket here, waits for
/// the other side to do the same, then runs `work` on its own socket.
fn primed<T>(
    mine: Arc<TcpStream>,
    theirs: Arc<TcpStream>,
    me: Arc<AtomicBool>,
    other: Arc<AtomicBool>,
    work: impl FnOnce(&TcpStream) -> T,
) -> T {
    register_here(&theirs);
    drop(theirs);
    me.store(true, SeqCst);
    yield_until("the other side to register", || other.load(SeqCst));
    work(&mine)
}

#[test]
fn tcp_stress_100_connections_1000_round_trips_across_workers() {
    const CONNS: usize = 100;
    const ROUNDS: usize = 1000;
    const SEED: u64 = 0x5eed_0200;
    bounded(LIMIT, &format!("ping-pong stress, seed {SEED:#x}"), || {
        let rt = runtime(WORKERS, "pingpong");
        let noise = noise(SEED);
        let mut rng = XorShift::new(SEED);
        let mut pairs = Vec::new();
        let mut apart_count = 0;
        for conn in 0..CONNS {
            // Made here, on the test's OS thread: no socket is registered
            // with a reactor until a green thread first waits on it.
            let (client, server) = tcp_pair();
            let (client, server) = (Arc::new(client), Arc::new(server));
            let apart = rng.one_in(2);
            apart_count += apart as usize;
            let seed = SEED ^ (conn as u64).wrapping_mul(0x9e37);
            let (client_ready, server_ready) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
            let ping = {
                let (client, server) = (client.clone(), server.clone());
                let (me, other) = (client_ready.clone(), server_ready.clone());
                let noise = noise.clone();
                move || {
                    primed(client, server, me, other, |stream| {
                        let mut rng = XorShift::new(seed);
                        let mut back = vec![0; MAX_MESSAGE];
                        for round in 0..ROUNDS {
                            let len = message_len(&mut rng);
                            let at = rng.below(MAX_MESSAGE);
                            let msg = &noise[at..at + len];
                            (&*stream).write_all(msg).unwrap();
                            (&*stream).read_exact(&mut back[..len]).unwrap();
                            assert!(
                                back[..len] == *msg,
                                "seed {SEED:#x}: connection {conn}, round {round}: echo of {len} bytes differs"
                            );
                        }
                        stream.shutdown(Shutdown::Write).unwrap();
                        let mut rest = Vec::new();
                        (&*stream).read_to_end(&mut rest).unwrap();
                        assert!(rest.is_empty(), "seed {SEED:#x}: connection {conn}: extra bytes");
                    })
                }
            };
            let pong = move || {
                primed(server, client, server_ready, client_ready, |stream| {
                    let mut buf = vec![0; MAX_MESSAGE];
                    loop {
                        let n = (&*stream).read(&mut buf).unwrap();
                        if n == 0 {
                            stream.shutdown(Shutdown::Write).unwrap();
                            return;
                        }
                        (&*stream).write_all(&buf[..n]).unwrap();
                    }
                })
            };
            // Alternate which side is spawned first.
            let (hc, hs, names) = if conn % 2 == 0 {
                spawn_pair(&rt, apart, ping, pong)
            } else {
                let (hs, hc, [s, c]) = spawn_pair(&rt, apart, pong, ping);
                (hc, hs, [c, s])
            };
            pairs.push((hc, hs, names));
        }
        let mut crossed = 0;
        for (hc, hs, names) in pairs {
            if let Err(payload) = hc.join() {
                std::panic::resume_unwind(payload);
            }
            if let Err(payload) = hs.join() {
                std::panic::resume_unwind(payload);
            }
            crossed += (names[0] != names[1]) as usize;
        }
        assert!(
            crossed >= apart_count,
            "seed {SEED:#x}: {crossed} pairs crossed workers, {apart_count} were placed apart"
        );
        eprintln!("seed {SEED:#x}: {CONNS} connections, {crossed} with their ends on different workers");
    });
}

#[test]
fn tcp_stress_reader_and_writer_of_one_socket_on_different_workers() {
    const SOCKETS: usize = 12;
    const BYTES: usize = 1 << 20;
    const SEED: u64 = 0x5eed_0016;
    bounded(LIMIT, &format!("split-socket stress, seed {SEED:#x}"), || {
        let rt = runtime(WORKERS, "splitrw");
        let mut rng = XorShift::new(SEED);
        let mut running = Vec::new();
        for socket in 0..SOCKETS {
            let (client, server) = tcp_pair();
            let client = Arc::new(client);
            let seed = SEED ^ socket as u64;
            let chunk_seed = rng.next_u64();
            // The peer echoes; where it runs does not matter.
            let echo = rt.spawn(move || {
                let mut buf = vec![0; 64 * 1024];
                loop {
                    let n = (&server).read(&mut buf).unwrap();
                    if n == 0 {
                        server.shutdown(Shutdown::Write).unwrap();
                        return;
                    }
                    (&server).write_all(&buf[..n]).unwrap();
                }
            });
            let writer = {
                let client = client.clone();
                move || {
                    let data = pattern(seed, 0, BYTES);
                    let mut rng = XorShift::new(chunk_seed);
                    let mut off = 0;
                    while off < BYTES {
                        let end = (off + 1 + rng.below(100_000)).min(BYTES);
                        (&*client).write_all(&data[off..end]).unwrap();
                        off = end;
                    }
                    client.shutdown(Shutdown::Write).unwrap();
                }
            };
            let reader = move || {
                let mut rng = XorShift::new(chunk_seed.rotate_left(17));
                let mut got = vec![0; BYTES];
                let mut off = 0;
                while off < BYTES {
                    let end = (off + 1 + rng.below(100_000)).min(BYTES);
                    let n = (&*client).read(&mut got[off..end]).unwrap();
                    assert_ne!(n, 0, "seed {SEED:#x}: socket {socket}: end of file after {off} bytes");
                    off += n;
                }
                assert_eq!((&*client).read(&mut [0; 1]).unwrap(), 0, "seed {SEED:#x}: socket {socket}: extra bytes");
                check_pattern(seed, 0, &got, &format!("seed {SEED:#x}: socket {socket}"));
            };
            let (hw, hr, _) = spawn_pair(&rt, true, writer, reader);
            running.push((hw, hr, echo));
        }
        for (hw, hr, echo) in running {
            for result in [hw.join(), hr.join(), echo.join()] {
                if let Err(payload) = result {
                    std::panic::resume_unwind(payload);
                }
            }
        }
    });
}
