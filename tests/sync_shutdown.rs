//! Dropping a runtime whose green threads are parked in `sync` waits: each
//! is unwound from its wait (its node withdrawn, or, if the unit was
//! already handed to it, the unit passed on), its `join` reports
//! `Cancelled`, and the primitives stay usable from outside. Runs on a
//! 1-worker and a 2-worker runtime.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use support::{runtime, WORKER_COUNTS};
use weft::sync::{mpsc, Condvar, Mutex, RwLock, Semaphore};

fn is_cancelled<T: std::fmt::Debug>(result: std::thread::Result<T>) -> bool {
    result.expect_err("cancelled, not finished").is::<weft::Cancelled>()
}

#[test]
fn sync_shutdown_unwinds_green_threads_parked_in_waits() {
    for workers in WORKER_COUNTS {
        let rt_owned = runtime(workers, &format!("sync-shutdown-w{workers}"));
        let mutex = Arc::new(Mutex::new(0));
        let rwlock = Arc::new(RwLock::new(0));
        let sem = Arc::new(Semaphore::new(0));
        let pair = Arc::new((Mutex::new(()), Condvar::new()));
        let (tx, rx) = mpsc::channel::<u8>();
        let parked = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();

        // The mutex holder parks in recv() holding the lock; three lockers
        // queue behind it. Unwinding the holder hands the lock to a
        // locker that is itself being unwound, which must pass it on.
        {
            let (mutex, parked) = (mutex.clone(), parked.clone());
            let h = rt_owned.spawn(move || {
                let _guard = mutex.lock().unwrap();
                let _w = rwlock.write().unwrap();
                parked.fetch_add(1, SeqCst);
                let _ = rx.recv();
            });
            handles.push(h);
        }
        while parked.load(SeqCst) < 1 {
            weft::yield_now();
        }
        for _ in 0..3 {
            let (mutex, parked) = (mutex.clone(), parked.clone());
            handles.push(rt_owned.spawn(move || {
                parked.fetch_add(1, SeqCst);
                *mutex.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            }));
        }
        {
            let (sem, parked) = (sem.clone(), parked.clone());
            handles.push(rt_owned.spawn(move || {
                parked.fetch_add(1, SeqCst);
                sem.acquire().forget();
            }));
        }
        {
            let (pair, parked) = (pair.clone(), parked.clone());
            handles.push(rt_owned.spawn(move || {
                let (m, cv) = &*pair;
                let guard = m.lock().unwrap();
                parked.fetch_add(1, SeqCst);
                let _guard = cv.wait(guard);
            }));
        }
        {
            let parked = parked.clone();
            let (_keep, rx2) = mpsc::channel::<u8>();
            handles.push(rt_owned.spawn(move || {
                parked.fetch_add(1, SeqCst);
                let _keep = _keep;
                weft::select! { recv(rx2) -> _m => {} }
            }));
        }
        while parked.load(SeqCst) < 7 {
            weft::yield_now();
        }
        drop(rt_owned);
        for h in handles {
            assert!(is_cancelled(h.join()));
        }
        // Nothing is left locked, held or queued.
        assert!(mutex.try_lock().is_ok() || mutex.is_poisoned());
        mutex.clear_poison();
        assert!(mutex.try_lock().is_ok(), "the lock was passed on, not stranded");
        sem.add_permits(1);
        assert!(sem.try_acquire().is_some(), "the permit goes to nobody left waiting");
        pair.1.notify_all();
        assert!(pair.0.try_lock().is_ok());
        drop(tx);
    }
}
