//! park / unpark with `std::thread::park`'s token semantics, for green
//! threads and OS threads, on one worker and across workers.
//!
//! `park` may return spuriously (as std's), so every wait here is a loop on
//! a condition; what is asserted is what std guarantees: a park after an
//! unpark returns, and no wakeup is lost.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier};
use std::time::{Duration, Instant};

use support::{os_thread_name, run_green, runtime, with_each_runtime};

#[test]
fn park_unpark_before_park_keeps_token() {
    with_each_runtime("token", |rt| {
        run_green(rt, || {
            let me = weft::current();
            for _ in 0..100 {
                me.unpark();
                weft::park(); // returns: the token was stored
            }
        });
    });
    // The same on a plain OS thread.
    weft::current().unpark();
    weft::park();
}

#[test]
fn park_after_double_unpark_returns_and_state_stays_usable() {
    with_each_runtime("double-unpark", |rt| {
        let rounds = run_green(rt, || {
            let me = weft::current();
            me.unpark();
            me.unpark();
            weft::park();
            // The token machinery still works after a doubled wakeup.
            let mut rounds = 0;
            for _ in 0..10 {
                me.unpark();
                weft::park();
                rounds += 1;
            }
            rounds
        });
        assert_eq!(rounds, 10);
    });
}

#[test]
fn park_timeout_without_unpark_returns_after_timeout() {
    with_each_runtime("park-timeout", |rt| {
        let elapsed = run_green(rt, || {
            let start = Instant::now();
            weft::park_timeout(Duration::from_millis(20));
            start.elapsed()
        });
        // weft never wakes a green thread nobody unparked (no spurious
        // wakeups of its own), so the timer is what ended the park.
        assert!(elapsed >= Duration::from_millis(20), "park_timeout returned after {elapsed:?}");
    });
    // On an OS thread it returns too (std may wake spuriously; only
    // returning is asserted).
    weft::park_timeout(Duration::from_millis(1));
}

#[test]
fn park_timeout_unparked_early_returns() {
    with_each_runtime("park-timeout-early", |rt| {
        let flag = Arc::new(AtomicBool::new(false));
        let (started_tx, started_rx) = mpsc::channel();
        let h = {
            let flag = flag.clone();
            rt.spawn(move || {
                started_tx.send(()).unwrap();
                while !flag.load(SeqCst) {
                    weft::park_timeout(Duration::from_secs(3600));
                }
            })
        };
        started_rx.recv().unwrap();
        flag.store(true, SeqCst);
        h.thread().unpark();
        h.join().unwrap();
    });
}

#[test]
fn park_forever_does_not_block_other_green_threads_on_one_worker() {
    let rt = runtime(1, "park-forever");
    let (started_tx, started_rx) = mpsc::channel();
    let parked = rt.spawn(move || {
        started_tx.send(()).unwrap();
        loop {
            weft::park();
        }
    });
    started_rx.recv().unwrap();
    let handles: Vec<_> = (0..100u32)
        .map(|i| {
            rt.spawn(move || {
                weft::yield_now();
                weft::sleep(Duration::from_micros(100));
                i
            })
        })
        .collect();
    for (i, h) in (0..100).zip(handles) {
        assert_eq!(h.join().unwrap(), i);
    }
    assert!(!parked.is_finished());
    drop(rt);
    assert!(parked.join().unwrap_err().is::<weft::Cancelled>());
}

/// Counters two sides hand a ball back and forth with: each waits (parks in
/// a loop) until the other has posted the round it needs.
struct PingPong {
    ping: AtomicU64,
    pong: AtomicU64,
}

const ROUNDS: u64 = 1000;

impl PingPong {
    fn new() -> Arc<PingPong> {
        Arc::new(PingPong { ping: AtomicU64::new(0), pong: AtomicU64::new(0) })
    }

    fn wait_for(counter: &AtomicU64, round: u64) {
        while counter.load(SeqCst) < round {
            weft::park();
        }
    }

    /// Side that serves: posts ping, wakes `other`, waits for pong.
    fn server(&self, other: &weft::GreenThread) {
        for round in 1..=ROUNDS {
            self.ping.store(round, SeqCst);
            other.unpark();
            Self::wait_for(&self.pong, round);
        }
    }

    /// Side that answers: waits for ping, posts pong, wakes `other`.
    fn answerer(&self, other: &weft::GreenThread) {
        for round in 1..=ROUNDS {
            Self::wait_for(&self.ping, round);
            self.pong.store(round, SeqCst);
            other.unpark();
        }
    }
}

/// Runs a ping-pong between two green threads of `rt`; with a barrier,
/// both first block their OS thread on it, so they can only both pass it
/// on two different workers. Returns the OS thread names they ran on.
fn ping_pong_green_threads(rt: &weft::Runtime, barrier: Option<Arc<Barrier>>) -> (String, String) {
    let pp = PingPong::new();
    let (thread_tx, thread_rx) = mpsc::channel::<weft::GreenThread>();
    let answerer = {
        let (pp, barrier) = (pp.clone(), barrier.clone());
        rt.spawn(move || {
            if let Some(barrier) = barrier {
                barrier.wait();
            }
            let server = thread_rx.recv().unwrap();
            pp.answerer(&server);
            os_thread_name()
        })
    };
    let server = {
        let (pp, answerer) = (pp.clone(), answerer.thread().clone());
        rt.spawn(move || {
            if let Some(barrier) = barrier {
                barrier.wait();
            }
            pp.server(&answerer);
            os_thread_name()
        })
    };
    thread_tx.send(server.thread().clone()).unwrap();
    let names = (answerer.join().unwrap(), server.join().unwrap());
    assert_eq!(pp.pong.load(SeqCst), ROUNDS);
    names
}

#[test]
fn park_unpark_from_green_thread_on_same_worker() {
    let rt = runtime(1, "same-worker");
    let (a, s) = ping_pong_green_threads(&rt, None);
    assert_eq!(a, s, "one worker runs both");
}

#[test]
fn park_unpark_from_green_thread_on_other_worker() {
    for workers in [2, 4] {
        let rt = runtime(workers, &format!("other-worker-w{workers}"));
        let (a, s) = ping_pong_green_threads(&rt, Some(Arc::new(Barrier::new(2))));
        assert_ne!(a, s, "the barrier forces two workers");
    }
}

#[test]
fn park_unpark_between_green_thread_and_os_thread() {
    with_each_runtime("os-thread", |rt| {
        let pp = PingPong::new();
        let me = weft::current();
        assert!(!me.is_green());
        // The green thread answers; this OS thread serves, parking itself
        // through weft::park (std park underneath).
        let answerer = {
            let pp = pp.clone();
            rt.spawn(move || pp.answerer(&me))
        };
        pp.server(answerer.thread());
        answerer.join().unwrap();

        // And the other way round: the green thread serves the OS thread.
        let pp = PingPong::new();
        let me = weft::current();
        let server = {
            let pp = pp.clone();
            rt.spawn(move || pp.server(&me))
        };
        pp.answerer(server.thread());
        server.join().unwrap();
        assert_eq!(pp.pong.load(SeqCst), ROUNDS);
    });
}

#[test]
fn park_unpark_from_os_thread_wakes_parked_green_thread() {
    with_each_runtime("os-unpark", |rt| {
        let flag = Arc::new(AtomicBool::new(false));
        let (started_tx, started_rx) = mpsc::channel();
        let h = {
            let flag = flag.clone();
            rt.spawn(move || {
                started_tx.send(()).unwrap();
                while !flag.load(SeqCst) {
                    weft::park();
                }
                os_thread_name()
            })
        };
        started_rx.recv().unwrap();
        let unparker = {
            let thread = h.thread().clone();
            std::thread::spawn(move || {
                flag.store(true, SeqCst);
                thread.unpark();
            })
        };
        unparker.join().unwrap();
        // Returning at all shows the wakeup from a non-weft thread arrived.
        let worker = h.join().unwrap();
        assert!(support::worker_index(&worker, &format!("os-unpark-w{}", rt.workers())).is_some());
    });
}
