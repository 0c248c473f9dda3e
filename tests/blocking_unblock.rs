//! `weft::unblock`: runs a closure on the blocking pool while the calling
//! green thread parks, so its worker keeps running the others.

mod support;

use std::panic::{self, panic_any};
use std::sync::mpsc;
use std::time::Duration;

use support::{os_thread_name, panic_message, run_green, runtime, with_each_runtime, WORKER_COUNTS};

/// How long a pool job in these tests waits for a signal that correct code
/// sends at once. Only a broken runtime reaches it; it turns a would-be hang
/// into a failed assertion.
const DEADLOCK_BREAKER: Duration = Duration::from_secs(10);

#[test]
fn unblock_returns_value_computed_on_pool_thread() {
    with_each_runtime("unblock-value", |rt| {
        let (value, job_thread, caller_thread) = run_green(rt, || {
            let (value, job_thread) = weft::unblock(|| (6 * 7, os_thread_name()));
            (value, job_thread, os_thread_name())
        });
        assert_eq!(value, 42);
        assert!(job_thread.starts_with("weft-blocking-"), "ran on {job_thread}");
        assert!(caller_thread.starts_with("unblock-value-"), "caller resumed on its worker, not {caller_thread}");
    });
}

#[test]
fn unblock_closure_borrows_from_callers_stack() {
    with_each_runtime("unblock-borrow", |rt| {
        let (buf, total) = run_green(rt, || {
            let words = ["green", "threads", "lend", "their", "stacks"];
            let mut buf = [0u8; 64];
            let total = weft::unblock(|| {
                buf.fill(9);
                words.iter().map(|w| w.len()).sum::<usize>()
            });
            (buf, total)
        });
        assert_eq!(buf, [9; 64]);
        assert_eq!(total, 27);
    });
}

#[test]
fn unblock_outside_green_threads_runs_inline() {
    let me = std::thread::current().id();
    assert_eq!(weft::unblock(|| std::thread::current().id()), me);
    let mut n = 0;
    weft::unblock(|| n += 1);
    assert_eq!(n, 1);
    // A pool thread is an OS thread too: a nested call runs where it is.
    let rt = runtime(1, "unblock-nested");
    let (outer, inner) = run_green(&rt, || weft::unblock(|| (os_thread_name(), weft::unblock(os_thread_name))));
    assert_eq!(outer, inner);
    assert!(outer.starts_with("weft-blocking-"), "ran on {outer}");
}

#[test]
fn unblock_panic_reaches_caller_with_original_payload() {
    #[derive(Debug, PartialEq)]
    struct Code(u32);
    with_each_runtime("unblock-panic", |rt| {
        let (message, code, after) = run_green(rt, || {
            let n = std::hint::black_box(7);
            let payload = panic::catch_unwind(|| weft::unblock(move || -> u32 { panic!("disk on fire {n}") }))
                .expect_err("the panic reaches the caller");
            let message = panic_message(&*payload).map(str::to_owned);
            let payload = panic::catch_unwind(|| weft::unblock(|| panic_any(Code(17)))).unwrap_err();
            let code = payload.downcast::<Code>().ok().map(|code| *code);
            // The same green thread carries on, and so does the pool.
            (message, code, weft::unblock(|| 5))
        });
        assert_eq!(message.as_deref(), Some("disk on fire 7"));
        assert_eq!(code, Some(Code(17)));
        assert_eq!(after, 5);
        // An uncaught one ends its green thread as a panic, not a
        // cancellation, with the payload intact.
        let payload = rt.spawn(|| weft::unblock(|| panic_any(Code(3)))).join().unwrap_err();
        assert_eq!(payload.downcast_ref::<Code>(), Some(&Code(3)));
        assert_eq!(run_green(rt, || weft::unblock(|| 8)), 8, "the runtime still runs green threads");
    });
}

/// The pool job blocks until a second green thread on the same single
/// worker sends to it. That green thread can only run if the worker is
/// free while the first one waits in `unblock`.
#[test]
fn unblock_parks_caller_so_its_worker_runs_others() {
    let rt = runtime(1, "unblock-progress");
    let received = run_green(&rt, || {
        let (tx, rx) = mpsc::channel::<u32>();
        // Queued on this worker; it runs only when this green thread parks.
        // (Its send fails only if the receiver gave up: then the assertion
        // below says what went wrong.)
        let sender = weft::spawn(move || tx.send(42).is_ok());
        let received = weft::unblock(move || rx.recv_timeout(DEADLOCK_BREAKER));
        let _ = sender.join();
        received
    });
    assert_eq!(received, Ok(42), "the second green thread ran while the first waited in unblock");
}

#[test]
fn unblock_many_concurrent_callers_each_get_their_own_result() {
    const CALLERS: u64 = 200;
    let rt = runtime(2, "unblock-many");
    let handles: Vec<_> = (0..CALLERS)
        .map(|i| {
            rt.spawn(move || {
                let input: Vec<u64> = (0..=i).collect();
                let mut out = 0;
                let sum = weft::unblock(|| {
                    std::thread::yield_now();
                    out = i * 3;
                    input.iter().sum::<u64>()
                });
                (i, sum, out)
            })
        })
        .collect();
    for h in handles {
        let (i, sum, out) = h.join().unwrap();
        assert_eq!(sum, i * (i + 1) / 2, "caller {i} got another caller's result");
        assert_eq!(out, i * 3);
    }
}

/// Drops its report of `buf` down the channel: what the green thread's
/// frame held when its unwind freed it.
struct Report {
    buf: [u8; 4],
    tx: mpsc::Sender<[u8; 4]>,
}

impl Drop for Report {
    fn drop(&mut self) {
        let _ = self.tx.send(self.buf);
    }
}

/// The runtime is dropped while a green thread waits in `unblock` and its
/// job still runs and then writes into the green thread's frame. The drop
/// must unwind that green thread only after the job is done with the frame.
///
/// The job holds on for [`HOLD`] before it writes: nothing can end that
/// wait early, since the only sender outlives `drop(rt)`, which in turn
/// cannot return before the job has. So the job is still running when the
/// shutdown (started right after the job started) unwinds the caller,
/// unless the worker stalls for longer than `HOLD`; correct code passes
/// either way, and a runtime that frees the frame early fails unless
/// stalled that long. The exact interleaving, the worker blocked in the
/// unwind while the job runs, is pinned without any timeout by the unit
/// test `blocking::tests::unblock_force_unwind_blocks_worker_until_job_done`.
#[test]
fn unblock_runtime_drop_waits_for_job_borrowing_the_stack() {
    const HOLD: Duration = Duration::from_millis(250);
    for workers in WORKER_COUNTS {
        let rt = runtime(workers, &format!("unblock-unwind-w{workers}"));
        let (entered_tx, entered_rx) = mpsc::channel::<()>();
        let (report_tx, report_rx) = mpsc::channel::<[u8; 4]>();
        let (hold_tx, hold_rx) = mpsc::channel::<()>();
        let h = rt.spawn(move || {
            let mut report = Report { buf: [0; 4], tx: report_tx };
            let buf = &mut report.buf;
            weft::unblock(move || {
                entered_tx.send(()).unwrap();
                let _ = hold_rx.recv_timeout(HOLD);
                *buf = *b"done";
            });
        });
        entered_rx.recv().unwrap();
        drop(rt);
        drop(hold_tx);
        assert_eq!(&report_rx.recv().unwrap(), b"done", "the frame was freed before the job finished with it");
        let payload = h.join().unwrap_err();
        assert!(payload.is::<weft::Cancelled>(), "{:?}", panic_message(&*payload));
    }
}

/// A caller whose unwind is already running (a destructor at shutdown)
/// cannot park; `unblock` then runs the closure inline.
#[test]
fn unblock_in_destructor_during_shutdown_runs_inline() {
    struct UnblockOnDrop(mpsc::Sender<String>);
    impl Drop for UnblockOnDrop {
        fn drop(&mut self) {
            let _ = self.0.send(weft::unblock(os_thread_name));
        }
    }
    let rt = runtime(1, "unblock-dtor");
    let (tx, rx) = mpsc::channel();
    let (parked_tx, parked_rx) = mpsc::channel::<()>();
    let h = rt.spawn(move || {
        let _guard = UnblockOnDrop(tx);
        parked_tx.send(()).unwrap();
        loop {
            weft::park();
        }
    });
    parked_rx.recv().unwrap();
    drop(rt);
    assert_eq!(rx.recv().unwrap(), "unblock-dtor-0", "ran on the unwinding worker");
    assert!(h.join().unwrap_err().is::<weft::Cancelled>());
}
