//! `weft::io::Pollable`, the wrapper that makes any fd cooperative, over a
//! pipe (`std::io::pipe`) and a `std::os::unix::net::UnixStream` pair:
//! reads and writes park the green thread (not its worker), `readable` and
//! `writable` wait for readiness, `into_inner` gives back a usable fd, and
//! a plain OS thread blocks as it would on a blocking fd.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use support::{
    bounded, check_pattern, pattern, run_green, wait_until_os_thread_sleeps, with_each_runtime, yield_until,
};
use weft::io::Pollable;

/// Every test here fails rather than hangs after this long.
const LIMIT: Duration = Duration::from_secs(20);

/// True if the fd has `O_NONBLOCK` set.
fn fd_is_nonblocking(fd: &impl AsRawFd) -> bool {
    // SAFETY: F_GETFL on an open fd has no memory preconditions.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    assert!(flags >= 0, "fcntl: {}", std::io::Error::last_os_error());
    flags & libc::O_NONBLOCK != 0
}

/// A pipe whose two ends are wrapped in `Pollable`s.
fn pollable_pipe() -> (Pollable<std::io::PipeReader>, Pollable<std::io::PipeWriter>) {
    let (reader, writer) = std::io::pipe().unwrap();
    assert!(!fd_is_nonblocking(&reader), "std's pipe starts blocking");
    let (reader, writer) = (Pollable::new(reader).unwrap(), Pollable::new(writer).unwrap());
    assert!(fd_is_nonblocking(&reader) && fd_is_nonblocking(&writer), "Pollable::new makes the fd non-blocking");
    (reader, writer)
}

#[test]
fn pollable_pipe_read_parks_green_thread_until_written() {
    bounded(LIMIT, "pipe read parks", || {
        with_each_runtime("pipe-read", |rt| {
            run_green(rt, || {
                let (reader, writer) = pollable_pipe();
                let started = Arc::new(AtomicBool::new(false));
                let r = {
                    let started = started.clone();
                    weft::spawn(move || {
                        started.store(true, SeqCst);
                        let mut buf = [0; 5];
                        (&reader).read_exact(&mut buf).map(|()| buf)
                    })
                };
                yield_until("the reader to start", || started.load(SeqCst));
                // On one worker the reader is parked on the empty pipe; a
                // green thread that runs after it writes.
                assert!(!r.is_finished(), "read returned from an empty pipe");
                let w = weft::spawn(move || (&writer).write_all(b"hello"));
                w.join().unwrap().unwrap();
                assert_eq!(&r.join().unwrap().unwrap(), b"hello");
            })
        })
    });
}

#[test]
fn pollable_readable_and_writable_wait_for_readiness() {
    bounded(LIMIT, "readable and writable", || {
        with_each_runtime("pipe-ready", |rt| {
            run_green(rt, || {
                let (reader, writer) = pollable_pipe();
                let (reader, writer) = (Arc::new(reader), Arc::new(writer));
                // An empty pipe is writable at once.
                writer.writable().unwrap();

                // readable() parks until a byte arrives, and consumes nothing.
                let started = Arc::new(AtomicBool::new(false));
                let waiter = {
                    let (reader, started) = (reader.clone(), started.clone());
                    weft::spawn(move || {
                        started.store(true, SeqCst);
                        reader.readable()
                    })
                };
                yield_until("readable() to start", || started.load(SeqCst));
                assert!(!waiter.is_finished(), "readable() returned on an empty pipe");
                (&*writer).write_all(b"!").unwrap();
                waiter.join().unwrap().unwrap();
                let mut byte = [0];
                (&*reader).read_exact(&mut byte).unwrap();
                assert_eq!(&byte, b"!");

                // Fill the pipe with direct non-blocking writes.
                let mut filled = 0;
                loop {
                    match writer.get_ref().write(&[7; 4096]) {
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => panic!("filling the pipe: {e}"),
                    }
                }
                // writable() parks until the reader drains it.
                started.store(false, SeqCst);
                let waiter = {
                    let (writer, started) = (writer.clone(), started.clone());
                    weft::spawn(move || {
                        started.store(true, SeqCst);
                        writer.writable()
                    })
                };
                yield_until("writable() to start", || started.load(SeqCst));
                assert!(!waiter.is_finished(), "writable() returned on a full pipe");
                let mut drained = vec![0; filled];
                (&*reader).read_exact(&mut drained).unwrap();
                assert!(drained.iter().all(|&b| b == 7));
                waiter.join().unwrap().unwrap();

                // A hang-up makes the reader readable: read sees end of file.
                drop(writer);
                reader.readable().unwrap();
                assert_eq!((&*reader).read(&mut byte).unwrap(), 0);
            })
        })
    });
}

#[test]
fn pollable_unix_stream_pair_reads_and_writes_at_once_from_two_green_threads() {
    const TOTAL: usize = 4 << 20;
    const SEED: u64 = 21;
    bounded(LIMIT, "unix stream pair", || {
        with_each_runtime("unix-pair", |rt| {
            run_green(rt, || {
                let (a, b) = UnixStream::pair().unwrap();
                let a = Arc::new(Pollable::new(a).unwrap());
                let b = Pollable::new(b).unwrap();
                // b echoes; a's writer and reader run at once on one Pollable.
                let echo = weft::spawn(move || {
                    let mut buf = vec![0; 50_000];
                    loop {
                        let n = (&b).read(&mut buf).unwrap();
                        if n == 0 {
                            return;
                        }
                        (&b).write_all(&buf[..n]).unwrap();
                    }
                });
                let writer = {
                    let a = a.clone();
                    weft::spawn(move || {
                        let data = pattern(SEED, 0, TOTAL);
                        for chunk in data.chunks(70_001) {
                            (&*a).write_all(chunk).unwrap();
                        }
                        a.get_ref().shutdown(std::net::Shutdown::Write).unwrap();
                    })
                };
                let mut got = Vec::with_capacity(TOTAL);
                (&*a).read_to_end(&mut got).unwrap();
                writer.join().unwrap();
                echo.join().unwrap();
                assert_eq!(got.len(), TOTAL);
                check_pattern(SEED, 0, &got, "echo over a unix stream pair");
            })
        })
    });
}

#[test]
fn pollable_into_inner_returns_the_value_and_the_fd_stays_usable() {
    bounded(LIMIT, "into_inner", || {
        with_each_runtime("into-inner", |rt| {
            run_green(rt, || {
                let (a, b) = UnixStream::pair().unwrap();
                let raw = a.as_raw_fd();
                let a = Arc::new(Pollable::new(a).unwrap());
                assert_eq!(a.as_raw_fd(), raw);
                // Park on it once, so it is registered with a reactor.
                let started = Arc::new(AtomicBool::new(false));
                let reader = {
                    let (a, started) = (a.clone(), started.clone());
                    weft::spawn(move || {
                        started.store(true, SeqCst);
                        let mut buf = [0; 3];
                        (&*a).read_exact(&mut buf).map(|()| buf)
                    })
                };
                yield_until("the reader to start", || started.load(SeqCst));
                (&b).write_all(b"one").unwrap();
                assert_eq!(&reader.join().unwrap().unwrap(), b"one");

                let a = Arc::into_inner(a).expect("the reader is done").into_inner();
                assert_eq!(a.as_raw_fd(), raw, "into_inner gives back the same fd");
                assert!(fd_is_nonblocking(&a), "the fd stays non-blocking, as documented");
                // The fd is still open and works, outside weft.
                (&b).write_all(b"two").unwrap();
                let mut buf = [0; 3];
                (&a).read_exact(&mut buf).unwrap();
                assert_eq!(&buf, b"two");
                assert_eq!((&a).read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);

                // And it can be wrapped and waited on again: into_inner took
                // it out of the reactor (a second epoll registration of the
                // same fd in the same epoll would fail with EEXIST).
                let a = Pollable::new(a).unwrap();
                let started = Arc::new(AtomicBool::new(false));
                let a = Arc::new(a);
                let reader = {
                    let (a, started) = (a.clone(), started.clone());
                    weft::spawn(move || {
                        started.store(true, SeqCst);
                        let mut buf = [0; 5];
                        (&*a).read_exact(&mut buf).map(|()| buf)
                    })
                };
                yield_until("the second reader to start", || started.load(SeqCst));
                (&b).write_all(b"three").unwrap();
                assert_eq!(&reader.join().unwrap().unwrap(), b"three");
            })
        })
    });
}

#[test]
fn pollable_on_plain_os_thread_blocks_until_ready() {
    bounded(LIMIT, "os thread", || {
        let (reader, writer) = pollable_pipe();
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        let (tx, rx) = mpsc::channel();
        let peer = std::thread::spawn(move || {
            rx.recv().unwrap();
            // The main thread is asleep in the kernel inside its read.
            wait_until_os_thread_sleeps(tid);
            (&writer).write_all(b"wake").unwrap();
        });
        tx.send(()).unwrap();
        let mut buf = [0; 4];
        (&reader).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"wake");
        peer.join().unwrap();
    });
}

/// Step 3 of the wait protocol (`reactor/mod.rs`): readiness that arrives
/// after the operation was tried but before the green thread lists itself
/// as a waiter must not be lost. The operation here makes that happen on
/// purpose: on its first `WouldBlock` it writes to the peer itself and
/// yields enough times that its worker polls epoll (every 61 resumptions)
/// and dispatches the event, while nobody waits yet; then it reports the
/// stale `WouldBlock`. Only the tick re-check saves the green thread from
/// parking for an event that has come and gone (edge-triggered: nothing
/// else would ever wake it).
#[test]
fn pollable_readiness_that_arrives_while_the_operation_runs_is_not_lost() {
    bounded(LIMIT, "readiness during the operation", || {
        with_each_runtime("stale-wouldblock", |rt| {
            run_green(rt, || {
                let (a, b) = UnixStream::pair().unwrap();
                let a = Arc::new(Pollable::new(a).unwrap());
                // Register `a` with this green thread's worker: park once.
                let peer = {
                    let b = b.try_clone().unwrap();
                    weft::spawn(move || (&b).write_all(b"1"))
                };
                let mut buf = [0; 1];
                (&*a).read_exact(&mut buf).unwrap();
                peer.join().unwrap().unwrap();

                for round in 0..20u8 {
                    let mut wrote = false;
                    let got = a
                        .read_with(|mut s| match s.read(&mut buf) {
                            Err(e) if e.kind() == ErrorKind::WouldBlock && !wrote => {
                                wrote = true;
                                (&b).write_all(&[round]).unwrap();
                                for _ in 0..300 {
                                    weft::yield_now();
                                }
                                Err(e)
                            }
                            other => other,
                        })
                        .unwrap();
                    assert_eq!((got, buf[0]), (1, round), "round {round}");
                    assert!(wrote, "round {round}: the first try found data");
                }
            })
        })
    });
}
