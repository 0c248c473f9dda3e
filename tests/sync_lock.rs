//! `weft::sync::Mutex` and `RwLock`: mutual exclusion under contention from
//! green threads and OS threads, std's poisoning, `try_*`, FIFO handoff, and
//! that a green thread blocked on a lock parks instead of blocking its
//! worker. Every test runs on a 1-worker and a 2-worker runtime.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, TryLockError};

use support::{run_green, with_each_runtime, XorShift};
use weft::sync::{Barrier, Mutex, RwLock};

/// Waits (yielding) until `flag` is set. Green thread or OS thread.
fn until(flag: &AtomicBool) {
    while !flag.load(SeqCst) {
        weft::yield_now();
    }
}

#[test]
fn mutex_ten_thousand_green_threads_lose_no_update() {
    with_each_runtime("mutex-count", |rt| {
        let counter = Arc::new(Mutex::new(0u64));
        let handles: Vec<_> = (0..10_000u64)
            .map(|i| {
                let counter = counter.clone();
                rt.spawn(move || {
                    let mut guard = counter.lock().unwrap();
                    // A non-atomic read-modify-write with a switch in the
                    // middle: any overlap of two holders loses an update.
                    let seen = *guard;
                    if i % 7 == 0 {
                        weft::yield_now();
                    }
                    *guard = seen + 1;
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(*counter.lock().unwrap(), 10_000);
    });
}

#[test]
fn mutex_poisoned_by_a_panicking_holder() {
    with_each_runtime("mutex-poison", |rt| {
        let m = Arc::new(Mutex::new(1));
        let m2 = m.clone();
        let result = rt
            .spawn(move || {
                let _guard = m2.lock().unwrap();
                panic!("holder panics");
            })
            .join();
        assert!(result.is_err());
        assert!(m.is_poisoned());
        let err = m.lock().expect_err("poisoned");
        assert_eq!(**err.get_ref(), 1, "the guard is inside the error");
        drop(err);
        assert!(matches!(m.try_lock(), Err(TryLockError::Poisoned(_))));
        m.clear_poison();
        assert_eq!(*m.lock().unwrap(), 1);
        let m = Arc::try_unwrap(m).expect("last handle");
        assert_eq!(m.into_inner().unwrap(), 1);
    });
}

#[test]
fn mutex_try_lock_when_held_would_block() {
    with_each_runtime("mutex-try", |rt| {
        run_green(rt, || {
            let m = Mutex::new(());
            let guard = m.lock().unwrap();
            assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
            drop(guard);
            assert!(m.try_lock().is_ok());
        });
    });
}

#[test]
fn mutex_blocked_lock_does_not_block_its_worker() {
    with_each_runtime("mutex-progress", |rt| {
        let m = Arc::new(Mutex::new(0));
        let trying = Arc::new(AtomicBool::new(false));
        let (m2, trying2) = (m.clone(), trying.clone());
        let holder = rt.spawn(move || {
            let mut guard = m2.lock().unwrap();
            let waiter = {
                let (m, trying) = (m2.clone(), trying2.clone());
                weft::spawn(move || {
                    trying.store(true, SeqCst);
                    *m.lock().unwrap() += 10; // parks while the holder runs on
                })
            };
            // On one worker the waiter runs only when we yield, and runs
            // until it parks in lock(): that we run again shows the worker
            // was not blocked.
            until(&trying2);
            *guard += 1;
            drop(guard);
            waiter.join().unwrap();
        });
        holder.join().unwrap();
        assert!(trying.load(SeqCst));
        assert_eq!(*m.lock().unwrap(), 11);
    });
}

#[test]
fn mutex_shared_by_os_threads_and_green_threads() {
    with_each_runtime("mutex-mixed", |rt| {
        const ROUNDS: u64 = 2_000;
        let m = Arc::new(Mutex::new(0u64));
        let os: Vec<_> = (0..2)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..ROUNDS {
                        let mut g = m.lock().unwrap();
                        let seen = *g;
                        std::thread::yield_now();
                        *g = seen + 1;
                    }
                })
            })
            .collect();
        let green: Vec<_> = (0..8)
            .map(|seed| {
                let m = m.clone();
                rt.spawn(move || {
                    let mut rng = XorShift::new(seed);
                    for _ in 0..ROUNDS {
                        let mut g = m.lock().unwrap();
                        let seen = *g;
                        if rng.one_in(4) {
                            weft::yield_now();
                        }
                        *g = seen + 1;
                    }
                })
            })
            .collect();
        os.into_iter().for_each(|h| h.join().unwrap());
        green.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(*m.lock().unwrap(), 10 * ROUNDS);
    });
}

#[test]
fn mutex_hands_over_in_fifo_order() {
    with_each_runtime("mutex-fifo", |rt| {
        let order = run_green(rt, || {
            let m = Arc::new(Mutex::new(Vec::new()));
            let guard = m.lock().unwrap();
            let queued = Arc::new(AtomicUsize::new(0));
            let handles: Vec<_> = (0..5)
                .map(|i| {
                    let (m2, queued2) = (m.clone(), queued.clone());
                    let h = weft::spawn(move || {
                        queued2.fetch_add(1, SeqCst);
                        m2.lock().unwrap().push(i);
                    });
                    // The next waiter starts only after this one queued:
                    // wait until it announced itself and it can no longer
                    // get the lock (try_lock fails with waiters queued).
                    while queued.load(SeqCst) <= i {
                        weft::yield_now();
                    }
                    h
                })
                .collect();
            // Waiters queue behind the holder; a newcomer's try_lock cannot
            // barge past them.
            assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
            drop(guard);
            handles.into_iter().for_each(|h| h.join().unwrap());
            let order = m.lock().unwrap().clone();
            order
        });
        if rt.workers() == 1 {
            // On one worker each waiter parks in lock() before the next
            // starts, so arrival order is spawn order.
            assert_eq!(order, [0, 1, 2, 3, 4]);
        } else {
            let mut sorted = order.clone();
            sorted.sort();
            assert_eq!(sorted, [0, 1, 2, 3, 4]);
        }
    });
}

#[test]
fn rwlock_readers_hold_it_at_once() {
    with_each_runtime("rwlock-readers", |rt| {
        let lock = Arc::new(RwLock::new(5));
        // Both readers must hold the lock to pass the barrier: exclusive
        // readers would deadlock here.
        let both = Arc::new(Barrier::new(2));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (lock, both) = (lock.clone(), both.clone());
                rt.spawn(move || {
                    let guard = lock.read().unwrap();
                    both.wait();
                    *guard
                })
            })
            .collect();
        for r in readers {
            assert_eq!(r.join().unwrap(), 5);
        }
    });
}

#[test]
fn rwlock_writers_exclude_readers_and_each_other() {
    with_each_runtime("rwlock-excl", |rt| {
        let lock = Arc::new(RwLock::new(0u64));
        let writers: Vec<_> = (0..8)
            .map(|_| {
                let lock = lock.clone();
                rt.spawn(move || {
                    for _ in 0..200 {
                        let mut g = lock.write().unwrap();
                        // Odd only while a writer is inside.
                        *g += 1;
                        weft::yield_now();
                        *g += 1;
                    }
                })
            })
            .collect();
        let readers: Vec<_> = (0..8)
            .map(|_| {
                let lock = lock.clone();
                rt.spawn(move || {
                    for _ in 0..200 {
                        let g = lock.read().unwrap();
                        assert_eq!(*g % 2, 0, "a reader saw a writer's half-done update");
                        weft::yield_now();
                    }
                })
            })
            .collect();
        writers.into_iter().chain(readers).for_each(|h| h.join().unwrap());
        assert_eq!(*lock.read().unwrap(), 8 * 200 * 2);
    });
}

#[test]
fn rwlock_waiting_writer_blocks_new_readers() {
    with_each_runtime("rwlock-fifo", |rt| {
        run_green(rt, || {
            let lock = Arc::new(RwLock::new(0));
            let reader = lock.read().unwrap();
            let writer = {
                let lock = lock.clone();
                weft::spawn(move || *lock.write().unwrap() = 1)
            };
            // Once the writer queues, newcomers cannot read (no writer
            // starvation); until then try_read still succeeds.
            while lock.try_read().is_ok() {
                weft::yield_now();
            }
            assert!(matches!(lock.try_write(), Err(TryLockError::WouldBlock)));
            assert_eq!(*reader, 0, "the writer has not run while we read");
            drop(reader);
            writer.join().unwrap();
            assert_eq!(*lock.read().unwrap(), 1);
        });
    });
}

#[test]
fn rwlock_poisoned_by_a_panicking_writer_not_reader() {
    with_each_runtime("rwlock-poison", |rt| {
        let lock = Arc::new(RwLock::new(0));
        let l = lock.clone();
        assert!(rt
            .spawn(move || {
                let _r = l.read().unwrap();
                panic!("reader panics");
            })
            .join()
            .is_err());
        assert!(!lock.is_poisoned(), "a read guard does not poison, as std");
        let l = lock.clone();
        assert!(rt
            .spawn(move || {
                let _w = l.write().unwrap();
                panic!("writer panics");
            })
            .join()
            .is_err());
        assert!(lock.is_poisoned());
        assert!(lock.read().is_err());
        lock.clear_poison();
        assert!(lock.write().is_ok());
    });
}

#[test]
fn rwlock_shared_by_os_threads_and_green_threads() {
    with_each_runtime("rwlock-mixed", |rt| {
        let lock = Arc::new(RwLock::new(0u64));
        let os = {
            let lock = lock.clone();
            std::thread::spawn(move || {
                for _ in 0..1000 {
                    *lock.write().unwrap() += 1;
                    assert!(*lock.read().unwrap() > 0);
                }
            })
        };
        let green: Vec<_> = (0..4)
            .map(|_| {
                let lock = lock.clone();
                rt.spawn(move || {
                    for _ in 0..1000 {
                        *lock.write().unwrap() += 1;
                        let _ = *lock.read().unwrap();
                    }
                })
            })
            .collect();
        os.join().unwrap();
        green.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(*lock.read().unwrap(), 5000);
    });
}
