//! Cancellation (`JoinHandle::cancel`), deadlines (`weft::timeout`) and
//! `weft::shield`.

mod support;

use std::io::{ErrorKind, Read};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{run_green, with_each_runtime, DropFlag};

/// Fails (instead of hanging the suite) if `h` does not finish within a
/// bound far beyond any scheduling delay: a cancel that never takes effect.
fn finishes<T>(h: &weft::JoinHandle<T>) {
    let limit = Instant::now() + Duration::from_secs(30);
    while !h.is_finished() {
        assert!(Instant::now() < limit, "the cancelled green thread never finished");
        std::thread::yield_now();
    }
}

/// Spawns `body` on `rt` holding a drop flag, waits until it is about to
/// block (it sets `ready`), cancels it, and checks that join reports
/// `Cancelled` and the value it held was dropped.
fn cancel_while_blocked(rt: &weft::Runtime, body: impl FnOnce() + Send + 'static) {
    let (flag, dropped) = DropFlag::new();
    let ready = Arc::new(AtomicBool::new(false));
    let ready2 = ready.clone();
    let h = rt.spawn(move || {
        let _held = flag;
        ready2.store(true, SeqCst);
        body();
        panic!("the blocking call returned instead of unwinding");
    });
    while !ready.load(SeqCst) {
        weft::yield_now();
    }
    h.cancel();
    finishes(&h);
    let payload = h.join().unwrap_err();
    assert!(payload.is::<weft::Cancelled>(), "join must report Cancelled");
    assert!(dropped.load(SeqCst), "the cancelled green thread's values must be dropped");
}

#[test]
fn cancel_unwinds_a_green_thread_parked_in_park() {
    with_each_runtime("cancel-park", |rt| {
        cancel_while_blocked(rt, || loop {
            weft::park()
        })
    });
}

#[test]
fn cancel_unwinds_a_green_thread_sleeping() {
    with_each_runtime("cancel-sleep", |rt| cancel_while_blocked(rt, || weft::sleep(Duration::from_secs(3600))));
}

#[test]
fn cancel_unwinds_a_green_thread_joining() {
    with_each_runtime("cancel-join", |rt| {
        let forever = rt.spawn(|| loop {
            weft::park()
        });
        let forever_thread = forever.thread().clone();
        cancel_while_blocked(rt, move || {
            let _ = forever.join();
        });
        // The joined green thread itself is untouched; stop it too.
        let _ = forever_thread;
    });
}

#[test]
fn cancel_unwinds_a_green_thread_reading_a_silent_socket() {
    with_each_runtime("cancel-read", |rt| {
        let listener = weft::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(addr).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        cancel_while_blocked(rt, move || {
            let mut buf = [0u8; 16];
            let _ = server.read(&mut buf);
        });
        drop(client);
    });
}

#[test]
fn cancel_unwinds_a_busy_green_thread_at_yield_now() {
    with_each_runtime("cancel-yield", |rt| {
        cancel_while_blocked(rt, || loop {
            weft::yield_now()
        })
    });
}

#[test]
fn cancel_before_start_means_the_green_thread_never_runs() {
    // One worker, kept busy, so the target cannot start before the cancel.
    let rt = support::runtime(1, "cancel-unstarted");
    let ran = Arc::new(AtomicBool::new(false));
    let ran2 = ran.clone();
    let gate = Arc::new(AtomicBool::new(false));
    let gate2 = gate.clone();
    let busy = rt.spawn(move || {
        while !gate2.load(SeqCst) {
            std::hint::spin_loop();
        }
    });
    let h = rt.spawn(move || ran2.store(true, SeqCst));
    h.cancel();
    gate.store(true, SeqCst);
    busy.join().unwrap();
    assert!(h.join().unwrap_err().is::<weft::Cancelled>());
    assert!(!ran.load(SeqCst));
}

#[test]
fn cancel_of_a_finished_green_thread_keeps_its_result() {
    with_each_runtime("cancel-finished", |rt| {
        let h = rt.spawn(|| 7);
        while !h.is_finished() {
            weft::yield_now();
        }
        h.cancel();
        assert_eq!(h.join().unwrap(), 7);
    });
}

#[test]
fn shield_defers_cancellation_to_the_next_blocking_point() {
    with_each_runtime("cancel-shield", |rt| {
        let inside = Arc::new(AtomicBool::new(false));
        let finished_shielded = Arc::new(AtomicBool::new(false));
        let (i2, f2) = (inside.clone(), finished_shielded.clone());
        let h = rt.spawn(move || {
            weft::shield(|| {
                i2.store(true, SeqCst);
                // Parks until cancelled; the cancel must not unwind here.
                weft::park();
                weft::sleep(Duration::from_millis(5));
                f2.store(true, SeqCst);
            });
            weft::park();
            unreachable!("cancelled at the first blocking point after the shield");
        });
        while !inside.load(SeqCst) {
            weft::yield_now();
        }
        h.cancel();
        assert!(h.join().unwrap_err().is::<weft::Cancelled>());
        assert!(finished_shielded.load(SeqCst), "the shielded section ran to its end");
    });
}

#[test]
fn timeout_unwinds_a_sleep_and_returns_elapsed() {
    with_each_runtime("timeout-sleep", |rt| {
        let (flag, dropped) = DropFlag::new();
        let (r, waited) = run_green(rt, move || {
            let start = Instant::now();
            let r = weft::timeout(Duration::from_millis(20), move || {
                let _held = flag;
                weft::sleep(Duration::from_secs(3600));
            });
            (r, start.elapsed())
        });
        assert_eq!(r.unwrap_err().to_string(), "deadline has elapsed");
        assert!(waited >= Duration::from_millis(20));
        assert!(dropped.load(SeqCst));
    });
}

#[test]
fn timeout_makes_a_silent_socket_read_fail_with_timed_out() {
    with_each_runtime("timeout-read", |rt| {
        let listener = weft::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = std::net::TcpStream::connect(addr).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let r = run_green(rt, move || {
            weft::timeout(Duration::from_millis(20), move || {
                let mut buf = [0u8; 16];
                server.read(&mut buf)
            })
        });
        let err = r.expect("a socket call reports the deadline itself").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
    });
}

#[test]
fn timeout_nearest_deadline_wins_and_unwinds_to_its_own_call() {
    with_each_runtime("timeout-nested", |rt| {
        run_green(rt, || {
            // The outer deadline is nearer: the inner call must pass the
            // unwind on to the outer one.
            let outer = weft::timeout(Duration::from_millis(20), || {
                let inner = weft::timeout(Duration::from_secs(3600), || weft::sleep(Duration::from_secs(3600)));
                unreachable!("the inner timeout must not catch the outer deadline: {inner:?}");
            });
            assert!(outer.is_err());
            // The inner deadline is nearer: the outer call sees a normal return.
            let outer = weft::timeout(Duration::from_secs(3600), || {
                weft::timeout(Duration::from_millis(20), || weft::sleep(Duration::from_secs(3600)))
            });
            assert!(outer.unwrap().is_err());
            // After both, no deadline is left behind.
            weft::sleep(Duration::from_millis(30));
        });
    });
}

#[test]
fn timeout_returns_ok_when_the_closure_finishes_in_time() {
    with_each_runtime("timeout-ok", |rt| {
        assert_eq!(run_green(rt, || weft::timeout(Duration::from_secs(3600), || 5)), Ok(5));
    });
    assert_eq!(weft::timeout(Duration::from_secs(3600), || 6), Ok(6));
}

#[test]
fn timeout_works_on_an_os_thread() {
    let r = weft::timeout(Duration::from_millis(20), || weft::sleep(Duration::from_secs(3600)));
    assert!(r.is_err());
    let r = weft::timeout(Duration::from_millis(20), || loop {
        weft::park();
    });
    assert!(r.is_err());
    let listener = weft::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let r = weft::timeout(Duration::from_millis(20), || listener.accept().map(drop));
    assert_eq!(r.unwrap().unwrap_err().kind(), ErrorKind::TimedOut);
}

#[test]
fn cancelled_green_thread_prints_no_panic_message() {
    const CHILD: &str = "WEFT_TEST_CHILD";
    if std::env::var(CHILD).is_ok() {
        let rt = support::runtime(1, "cancel-quiet");
        let h = rt.spawn(|| loop {
            weft::park()
        });
        h.cancel();
        assert!(h.join().unwrap_err().is::<weft::Cancelled>());
        eprintln!("child done");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "cancelled_green_thread_prints_no_panic_message", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stderr}");
    assert!(stderr.contains("child done"), "{stderr}");
    assert!(!stderr.contains("panicked"), "a cancellation printed a panic message: {stderr}");
}

weft::green_local! {
    static SLOT: std::cell::Cell<usize> = std::cell::Cell::new(0);
    static DROPS: DropCounter = DropCounter;
}

static DROPPED: AtomicUsize = AtomicUsize::new(0);

struct DropCounter;

impl Drop for DropCounter {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, SeqCst);
    }
}

#[test]
fn green_local_values_are_isolated_across_1000_green_threads_on_one_worker() {
    let rt = support::runtime(1, "green-local");
    let handles: Vec<_> = (1..=1000usize)
        .map(|i| {
            rt.spawn(move || {
                assert_eq!(SLOT.with(|s| s.get()), 0, "a fresh green thread starts with the initial value");
                SLOT.with(|s| s.set(i));
                for _ in 0..3 {
                    weft::yield_now(); // the other 999 run and set theirs
                    assert_eq!(SLOT.with(|s| s.get()), i);
                }
                i
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), i + 1);
    }
}

#[test]
fn green_local_value_is_dropped_when_its_green_thread_ends() {
    let before = DROPPED.load(SeqCst);
    let rt = support::runtime(1, "green-local-drop");
    rt.spawn(|| DROPS.with(|_| ())).join().unwrap();
    assert_eq!(DROPPED.load(SeqCst), before + 1);
    // Cancelled green threads drop theirs too.
    let touched = Arc::new(AtomicBool::new(false));
    let touched2 = touched.clone();
    let h = rt.spawn(move || {
        DROPS.with(|_| ());
        touched2.store(true, SeqCst);
        loop {
            weft::park()
        }
    });
    while !touched.load(SeqCst) {
        std::thread::yield_now();
    }
    h.cancel();
    assert!(h.join().unwrap_err().is::<weft::Cancelled>());
    assert_eq!(DROPPED.load(SeqCst), before + 2);
}

#[test]
fn green_local_falls_back_to_a_value_per_os_thread() {
    SLOT.with(|s| s.set(99));
    let other = std::thread::spawn(|| SLOT.with(|s| s.get())).join().unwrap();
    assert_eq!(other, 0);
    assert_eq!(SLOT.with(|s| s.get()), 99);
}

#[test]
fn cancel_unwinds_a_green_thread_waiting_for_a_mutex() {
    with_each_runtime("cancel-mutex", |rt| {
        let lock = Arc::new(weft::sync::Mutex::new(0u32));
        let held = lock.lock().unwrap();
        let lock2 = lock.clone();
        cancel_while_blocked(rt, move || {
            let _ = lock2.lock();
        });
        drop(held);
        // The cancelled waiter gave its place up: the lock still works.
        *lock.lock().unwrap() += 1;
        assert_eq!(*lock.lock().unwrap(), 1);
    });
}

#[test]
fn cancel_unwinds_a_green_thread_waiting_on_a_channel() {
    with_each_runtime("cancel-channel", |rt| {
        let (tx, rx) = weft::sync::mpsc::channel::<u32>();
        cancel_while_blocked(rt, move || {
            let _ = rx.recv();
        });
        // The receiver was dropped with the cancelled green thread.
        assert!(tx.send(1).is_err());
    });
}

#[test]
fn timeout_unwinds_a_wait_for_a_lock() {
    with_each_runtime("timeout-lock", |rt| {
        let lock = Arc::new(weft::sync::Mutex::new(()));
        let held = lock.lock().unwrap();
        let lock2 = lock.clone();
        let r = run_green(rt, move || weft::timeout(Duration::from_millis(20), || drop(lock2.lock())));
        assert!(r.is_err(), "the lock wait must end by the deadline");
        drop(held);
        // The timed-out waiter left the queue: the next locker gets it.
        let lock3 = lock.clone();
        run_green(rt, move || drop(lock3.lock().unwrap()));
    });
}
