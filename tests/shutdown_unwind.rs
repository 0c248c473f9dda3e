//! Shutdown unwinding against user code that fights it: a scoped child's
//! result that borrows from its owner, a result whose drop panics, and a
//! green thread that catches the unwind and carries on. (Found in review;
//! each hung or read freed memory before its fix.)

use std::os::unix::process::ExitStatusExt;
use std::panic::{self, AssertUnwindSafe};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "WEFT_TEST_CHILD";

/// Sets its flag when dropped.
struct Owned(Arc<AtomicBool>);

impl Drop for Owned {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

/// A scoped child's result borrowing from its owner's frame. On drop it
/// gives a wrongly early owner unwind every chance to happen (up to 300 ms),
/// then records whether the owner's local was already gone.
struct Touch<'a> {
    owned: &'a Owned,
    violated: Arc<AtomicBool>,
}

impl Drop for Touch<'_> {
    fn drop(&mut self) {
        let start = Instant::now();
        while !self.owned.0.load(SeqCst) && start.elapsed() < Duration::from_millis(300) {
            std::thread::yield_now();
        }
        self.violated.store(self.owned.0.load(SeqCst), SeqCst);
    }
}

#[test]
fn shutdown_owner_outlives_scoped_child_result_on_other_worker() {
    let rt = weft::Runtime::builder().workers(2).name("uaf").build().unwrap();
    let freed = Arc::new(AtomicBool::new(false));
    let violated = Arc::new(AtomicBool::new(false));
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let (unwound_tx, unwound_rx) = mpsc::channel::<()>();
    {
        let (freed, violated) = (freed.clone(), violated.clone());
        rt.spawn(move || {
            let owned = Owned(freed);
            let barrier = Barrier::new(2);
            let violated_in_child = violated;
            weft::scope(|s| {
                let (owned, barrier) = (&owned, &barrier);
                s.spawn(move || {
                    // Both sides block their OS thread here, so the child
                    // runs on the other worker than the owner.
                    barrier.wait();
                    go_rx.recv().unwrap();
                    Touch { owned, violated: violated_in_child }
                });
                barrier.wait();
                // A parked green thread on the owner's worker: its unwinding
                // tells the test that shutdown has reached this worker.
                // The signal is captured, not built inside, so it also fires
                // if shutdown drops this green thread before it starts.
                let signal = DropSignal(unwound_tx);
                weft::spawn(move || {
                    let _signal = signal;
                    loop {
                        weft::park();
                    }
                });
                ready_tx.send(()).unwrap();
            });
            drop(owned);
        });
    }
    ready_rx.recv().unwrap();
    let releaser = std::thread::spawn(move || {
        unwound_rx.recv().unwrap();
        go_tx.send(()).unwrap();
    });
    drop(rt);
    releaser.join().unwrap();
    assert!(freed.load(SeqCst), "the owner was unwound in the end");
    assert!(!violated.load(SeqCst), "the owner was unwound while its child's result still borrowed from it");
}

/// Runs test `test` of this binary as a child process (selected by
/// `CHILD_ENV`), asserts it died of SIGABRT, and returns its stderr.
fn run_child_expecting_abort(test: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, test)
        .output()
        .expect("run child test process");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.signal(), Some(6), "child should abort: {:?}\n{stderr}", out.status);
    stderr
}

/// Sends on its channel when dropped.
struct DropSignal(mpsc::Sender<()>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

#[test]
fn shutdown_swallowed_unwind_aborts_with_named_report_instead_of_hanging() {
    const TEST: &str = "shutdown_swallowed_unwind_aborts_with_named_report_instead_of_hanging";
    if std::env::var(CHILD_ENV).as_deref() == Ok(TEST) {
        let rt = weft::Runtime::builder().workers(1).build().unwrap();
        let (looping_tx, looping_rx) = mpsc::channel::<()>();
        let _h = weft::Builder::new()
            .name("swallower")
            .spawn_on(&rt, move || {
                let _ = looping_tx.send(());
                // A per-request isolation loop that swallows every panic,
                // including the runtime's shutdown unwind.
                loop {
                    let _ = panic::catch_unwind(AssertUnwindSafe(|| weft::sleep(Duration::from_secs(3600))));
                }
            })
            .unwrap();
        looping_rx.recv().unwrap();
        drop(rt);
        std::process::exit(3);
    }
    let stderr = run_child_expecting_abort(TEST);
    assert!(stderr.contains("green thread 'swallower'"), "{stderr}");
    assert!(stderr.contains("caught the runtime's shutdown unwind"), "{stderr}");
}

/// A result type whose destructor panics.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("result drop panics");
    }
}

#[test]
fn result_panicking_on_drop_aborts_instead_of_killing_the_worker() {
    const TEST: &str = "result_panicking_on_drop_aborts_instead_of_killing_the_worker";
    if std::env::var(CHILD_ENV).as_deref() == Ok(TEST) {
        let rt = weft::Runtime::builder().workers(1).build().unwrap();
        let (tx, rx) = mpsc::channel::<()>();
        let h = rt.spawn(move || {
            rx.recv().unwrap();
            PanicOnDrop
        });
        drop(h); // detached: the green thread drops its own result
        tx.send(()).unwrap();
        // The abort ends the process; if the worker died instead, this
        // green thread never runs and the process exits 3.
        let _ = rt.spawn(|| ()).join();
        std::process::exit(3);
    }
    let stderr = run_child_expecting_abort(TEST);
    assert!(stderr.contains("result panicked on drop"), "{stderr}");
}
