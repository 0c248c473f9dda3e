//! `Condvar`, `Semaphore`, `Barrier`, `WaitGroup` and `OnceLock`: waits
//! that park green threads, wake in order, time out without losing
//! anything, and work from OS threads. Every test runs on a 1-worker and a
//! 2-worker runtime; timeouts are checked for their result, never for how
//! quickly they return.

mod support;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use support::{panic_message, run_green, with_each_runtime};
use weft::sync::{Barrier, Condvar, Mutex, OnceLock, Semaphore, WaitGroup};

#[test]
fn condvar_hands_items_from_producer_to_consumer() {
    with_each_runtime("cv-handoff", |rt| {
        let shared = Arc::new((Mutex::new(VecDeque::new()), Condvar::new()));
        let consumer = {
            let shared = shared.clone();
            rt.spawn(move || {
                let (queue, cv) = &*shared;
                let mut got = Vec::new();
                while got.len() < 1000 {
                    let mut q = cv.wait_while(queue.lock().unwrap(), |q| q.is_empty()).unwrap();
                    got.extend(q.drain(..));
                }
                got
            })
        };
        let producer = {
            let shared = shared.clone();
            rt.spawn(move || {
                let (queue, cv) = &*shared;
                for i in 0..1000 {
                    queue.lock().unwrap().push_back(i);
                    cv.notify_one();
                    if i % 3 == 0 {
                        weft::yield_now();
                    }
                }
            })
        };
        producer.join().unwrap();
        assert_eq!(consumer.join().unwrap(), (0..1000).collect::<Vec<_>>());
    });
}

#[test]
fn condvar_wait_timeout_times_out_without_notify() {
    with_each_runtime("cv-timeout", |rt| {
        run_green(rt, || {
            let (m, cv) = (Mutex::new(0), Condvar::new());
            let (guard, result) = cv.wait_timeout(m.lock().unwrap(), Duration::from_millis(20)).unwrap();
            assert!(result.timed_out());
            assert_eq!(*guard, 0, "the lock is held again after the wait");
            drop(guard);
            let (_guard, result) =
                cv.wait_timeout_while(m.lock().unwrap(), Duration::from_millis(5), |v| *v == 0).unwrap();
            assert!(result.timed_out());
        });
        // The same on an OS thread.
        let (m, cv) = (Mutex::new(()), Condvar::new());
        assert!(cv.wait_timeout(m.lock().unwrap(), Duration::from_millis(5)).unwrap().1.timed_out());
    });
}

#[test]
fn condvar_wait_timeout_while_notified_in_time_does_not_time_out() {
    with_each_runtime("cv-timeout-notified", |rt| {
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let waiter = {
            let pair = pair.clone();
            rt.spawn(move || {
                let (m, cv) = &*pair;
                let (g, r) =
                    cv.wait_timeout_while(m.lock().unwrap(), Duration::from_secs(3600), |ready| !*ready).unwrap();
                (*g, r.timed_out())
            })
        };
        let (m, cv) = &*pair;
        *m.lock().unwrap() = true;
        cv.notify_all();
        assert_eq!(waiter.join().unwrap(), (true, false));
    });
}

#[test]
fn condvar_notify_all_wakes_every_waiter_green_and_os() {
    with_each_runtime("cv-all", |rt| {
        let pair = Arc::new((Mutex::new((false, 0usize)), Condvar::new()));
        let wait = |pair: Arc<(Mutex<(bool, usize)>, Condvar)>| {
            move || {
                let (m, cv) = &*pair;
                let mut g = m.lock().unwrap();
                g.1 += 1;
                let _g = cv.wait_while(g, |s| !s.0).unwrap();
            }
        };
        let green: Vec<_> = (0..10).map(|_| rt.spawn(wait(pair.clone()))).collect();
        let os = std::thread::spawn(wait(pair.clone()));
        let (m, cv) = &*pair;
        // Everyone is inside wait_while (the lock is released only there).
        while m.lock().unwrap().1 < 11 {
            weft::yield_now();
        }
        m.lock().unwrap().0 = true;
        cv.notify_all();
        green.into_iter().for_each(|h| h.join().unwrap());
        os.join().unwrap();
    });
}

#[test]
fn semaphore_bounds_concurrency() {
    with_each_runtime("sem-bound", |rt| {
        let sem = Arc::new(Semaphore::new(3));
        let inside = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..50)
            .map(|_| {
                let (sem, inside, peak) = (sem.clone(), inside.clone(), peak.clone());
                rt.spawn(move || {
                    let _permit = sem.acquire();
                    let now = inside.fetch_add(1, SeqCst) + 1;
                    peak.fetch_max(now, SeqCst);
                    weft::yield_now();
                    inside.fetch_sub(1, SeqCst);
                })
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
        assert!(peak.load(SeqCst) <= 3, "peak {}", peak.load(SeqCst));
        assert_eq!(sem.available_permits(), 3);
    });
}

#[test]
fn semaphore_acquire_timeout_without_permits_returns_none() {
    with_each_runtime("sem-timeout", |rt| {
        run_green(rt, || {
            let sem = Semaphore::new(1);
            let held = sem.acquire();
            assert!(sem.try_acquire().is_none());
            assert!(sem.acquire_timeout(Duration::from_millis(10)).is_none());
            drop(held);
            assert!(sem.acquire_timeout(Duration::from_millis(10)).is_some());
            assert_eq!(sem.available_permits(), 1, "the timed-out wait took nothing");
        });
    });
}

#[test]
fn semaphore_add_permits_wakes_waiters_green_and_os() {
    with_each_runtime("sem-add", |rt| {
        let sem = Arc::new(Semaphore::new(0));
        let got = Arc::new(AtomicUsize::new(0));
        let green: Vec<_> = (0..4)
            .map(|_| {
                let (sem, got) = (sem.clone(), got.clone());
                rt.spawn(move || {
                    sem.acquire().forget();
                    got.fetch_add(1, SeqCst);
                })
            })
            .collect();
        let os = {
            let (sem, got) = (sem.clone(), got.clone());
            std::thread::spawn(move || {
                sem.acquire().forget();
                got.fetch_add(1, SeqCst);
            })
        };
        sem.add_permits(5);
        green.into_iter().for_each(|h| h.join().unwrap());
        os.join().unwrap();
        assert_eq!(got.load(SeqCst), 5);
        assert_eq!(sem.available_permits(), 0);
    });
}

#[test]
fn barrier_releases_each_round_together_with_one_leader() {
    with_each_runtime("barrier", |rt| {
        const N: usize = 8;
        const ROUNDS: usize = 5;
        let barrier = Arc::new(Barrier::new(N));
        let arrived = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..N)
            .map(|_| {
                let (barrier, arrived) = (barrier.clone(), arrived.clone());
                rt.spawn(move || {
                    let mut leaders = 0;
                    for round in 0..ROUNDS {
                        arrived.fetch_add(1, SeqCst);
                        if barrier.wait().is_leader() {
                            leaders += 1;
                        }
                        // Nobody leaves round r before all N arrived in it.
                        assert!(arrived.load(SeqCst) >= (round + 1) * N);
                    }
                    leaders
                })
            })
            .collect();
        let leaders: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(leaders, ROUNDS, "one leader per round");
    });
}

#[test]
fn waitgroup_wait_returns_when_all_done() {
    with_each_runtime("waitgroup", |rt| {
        let wg = Arc::new(WaitGroup::new());
        let done = Arc::new(AtomicUsize::new(0));
        wg.add(20);
        for _ in 0..20 {
            let (wg, done) = (wg.clone(), done.clone());
            rt.spawn(move || {
                weft::yield_now();
                done.fetch_add(1, SeqCst);
                wg.done();
            });
        }
        // Waiters on a green thread and on this OS thread.
        let green = {
            let (wg, done) = (wg.clone(), done.clone());
            rt.spawn(move || {
                wg.wait();
                done.load(SeqCst)
            })
        };
        wg.wait();
        assert_eq!(done.load(SeqCst), 20);
        assert_eq!(green.join().unwrap(), 20);
        assert_eq!(wg.count(), 0);
        wg.wait(); // zero: returns at once
    });
}

#[test]
fn waitgroup_done_below_zero_panics() {
    with_each_runtime("waitgroup-negative", |rt| {
        let err = rt
            .spawn(|| {
                let wg = WaitGroup::new();
                wg.add(1);
                wg.done();
                wg.done();
            })
            .join()
            .unwrap_err();
        assert!(panic_message(&*err).unwrap().contains("more times than add"));
    });
}

#[test]
fn once_lock_initializer_that_parks_does_not_block_waiters() {
    with_each_runtime("once", |rt| {
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        CALLS.store(0, SeqCst);
        let cell = Arc::new(OnceLock::new());
        let started = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..10)
            .map(|_| {
                let (cell, started) = (cell.clone(), started.clone());
                rt.spawn(move || {
                    *cell.get_or_init(|| {
                        started.store(true, SeqCst);
                        CALLS.fetch_add(1, SeqCst);
                        // The initialiser parks: with std's OnceLock the
                        // other callers would block this worker and it
                        // could never finish on a 1-worker runtime.
                        weft::sleep(Duration::from_millis(5));
                        42
                    })
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), 42);
        }
        assert!(started.load(SeqCst));
        assert_eq!(CALLS.load(SeqCst), 1, "the initialiser ran once");
        assert_eq!(cell.get(), Some(&42));
        assert_eq!(cell.set(7), Err(7));
    });
}

#[test]
fn once_lock_panicking_initializer_leaves_it_empty_for_the_next() {
    with_each_runtime("once-panic", |rt| {
        let cell = Arc::new(OnceLock::<u32>::new());
        let c = cell.clone();
        assert!(rt.spawn(move || *c.get_or_init(|| panic!("init fails"))).join().is_err());
        assert_eq!(cell.get(), None);
        let c = cell.clone();
        assert_eq!(run_green(rt, move || *c.get_or_init(|| 5)), 5);
        let cell = Arc::try_unwrap(cell).expect("last handle");
        assert_eq!(cell.into_inner(), Some(5));
    });
}
