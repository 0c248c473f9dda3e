//! `TcpListener::accept` when the process is out of file descriptors
//! (`EMFILE`): it returns the error as std does, but only after a backoff
//! ([`ACCEPT_BACKOFF_MIN`], doubling), so an accept loop that logs and
//! retries does not spin; the connection stays queued in the kernel and is
//! accepted once descriptors are free.
//!
//! The scenario lowers `RLIMIT_NOFILE`, which is process-wide, so it runs
//! in a child process: this test binary re-executed, running only this test.

mod support;

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use support::{bounded, is_child, run_child, run_green, with_each_runtime};
use weft::net::{TcpListener, TcpStream, ACCEPT_BACKOFF_MAX, ACCEPT_BACKOFF_MIN};

/// Connections waiting in the listener's queue while descriptors run out.
const PENDING: u8 = 6;

/// `RLIMIT_NOFILE`, lowered so that no descriptor can be created, with
/// every descriptor number still free below the limit taken by a filler
/// (`/dev/null`). Dropping it closes the fillers (making room for at least
/// `spare` new descriptors), then restores the limit.
struct Exhausted {
    original: libc::rlimit,
    fillers: Vec<File>,
}

impl Exhausted {
    fn new(spare: usize) -> Exhausted {
        let mut original = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: `original` is a live rlimit for getrlimit to fill.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut original) }, 0);
        // Descriptors are allocated lowest-first, below the soft limit:
        // with the limit just above the highest open one plus `spare`, and
        // every free number below it filled, the next one fails.
        let highest = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
            .max()
            .unwrap();
        let lowered = libc::rlimit { rlim_cur: highest + 1 + spare as u64, rlim_max: original.rlim_max };
        // SAFETY: `lowered` is a live rlimit; lowering the soft limit below
        // the open descriptors is allowed (they stay open).
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) }, 0);
        let mut fillers = Vec::new();
        loop {
            match File::open("/dev/null") {
                Ok(f) => fillers.push(f),
                Err(e) if e.raw_os_error() == Some(libc::EMFILE) => break,
                Err(e) => panic!("opening a filler: {e}"),
            }
        }
        assert!(fillers.len() >= spare);
        Exhausted { original, fillers }
    }
}

impl Drop for Exhausted {
    fn drop(&mut self) {
        self.fillers.clear();
        // SAFETY: `original` is a live rlimit.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &self.original) };
    }
}

/// The child: on each runtime, queue connections, run out of descriptors,
/// time three failing accepts, free descriptors, accept every connection.
fn accept_through_emfile() {
    with_each_runtime("emfile", |rt| {
        run_green(rt, || {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            // The clients connect (taking their descriptors) before they
            // run out; each connection waits in the queue with its id.
            let clients: Vec<TcpStream> = (0..PENDING)
                .map(|id| {
                    let client = TcpStream::connect(addr).unwrap();
                    (&client).write_all(&[id]).unwrap();
                    client
                })
                .collect();

            let exhausted = Exhausted::new(PENDING as usize);
            for failure in 0..3u32 {
                let backoff = ACCEPT_BACKOFF_MIN.saturating_mul(1 << failure).min(ACCEPT_BACKOFF_MAX);
                let t = Instant::now();
                let err = listener.accept().expect_err("accept with no descriptor left");
                let waited = t.elapsed();
                assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "failure {failure}: {err}");
                assert!(
                    waited >= backoff,
                    "failure {failure}: accept returned after {waited:?}, before its {backoff:?} backoff (it spins)"
                );
            }

            // Free descriptors: every queued connection is still there.
            drop(exhausted);
            let mut ids = BTreeSet::new();
            for _ in 0..PENDING {
                let (stream, _) = listener.accept().expect("accept after descriptors were freed");
                let mut id = [0];
                (&stream).read_exact(&mut id).unwrap();
                assert!(ids.insert(id[0]), "connection {} accepted twice", id[0]);
            }
            assert_eq!(ids, (0..PENDING).collect(), "a queued connection was lost");
            // Nothing else was queued, and a success resets the backoff:
            // the listener works normally again.
            let late = TcpStream::connect(addr).unwrap();
            let (stream, peer) = listener.accept().unwrap();
            assert_eq!(peer, late.local_addr().unwrap());
            drop((stream, clients));
        })
    });
    eprintln!("child: accepted through EMFILE");
}

#[test]
fn tcp_accept_backs_off_on_emfile_and_loses_no_connection() {
    const TEST: &str = "tcp_accept_backs_off_on_emfile_and_loses_no_connection";
    if is_child(TEST) {
        return accept_through_emfile();
    }
    let out = bounded(Duration::from_secs(20), "emfile child", || run_child(TEST));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {:?}; stderr:\n{stderr}", out.status);
    assert!(stderr.contains("child: accepted through EMFILE"), "the child did not run the scenario; stderr:\n{stderr}");
}
