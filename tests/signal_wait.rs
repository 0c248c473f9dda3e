//! `weft::signal`: a delivered signal wakes the green thread waiting for it.
//!
//! The cross-process test runs the waiting side in a child process (this
//! test binary re-executed with `WEFT_TEST_CHILD` set), so the signal is
//! delivered by the kernel from another process, as `kill` would.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use weft::signal::{Signals, SIGHUP, SIGTERM, SIGUSR1, SIGUSR2};

const CHILD_ENV: &str = "WEFT_TEST_CHILD";

/// The child: listens to SIGTERM, says "ready", waits in a green thread on
/// a 1-worker runtime while other green threads on the same worker keep
/// working, and prints what it got.
#[test]
fn signal_from_another_process_wakes_waiting_green_thread() {
    if std::env::var(CHILD_ENV).as_deref() == Ok("signal_from_another_process_wakes_waiting_green_thread") {
        let rt = support::runtime(1, "sig-child");
        let signals = Signals::new(&[SIGTERM, SIGHUP]).unwrap();
        let waiter = rt.spawn(move || signals.wait().unwrap());
        // The worker is not blocked by the waiter: these finish first.
        let done = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..10)
            .map(|_| {
                let done = done.clone();
                rt.spawn(move || {
                    weft::yield_now();
                    done.fetch_add(1, SeqCst);
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(done.load(SeqCst), 10);
        // The harness has printed "test ... " without a newline: start a line.
        println!("\nready");
        let got = waiter.join().unwrap();
        println!("got {got}");
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "signal_from_another_process_wakes_waiting_green_thread", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "signal_from_another_process_wakes_waiting_green_thread")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // A broken delivery would leave the child waiting forever: a watchdog
    // kills it after a generous bound so the test fails instead of hanging.
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let pid = child.id() as libc::pid_t;
    let watchdog = std::thread::spawn(move || {
        if done_rx.recv_timeout(std::time::Duration::from_secs(60)).is_err() {
            // SAFETY: kill(2) on the child we spawned.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines.by_ref().map(|l| l.unwrap()).find(|l| l == "ready");
    assert!(ready.is_some(), "child never became ready");
    // SAFETY: kill(2) with a pid we spawned; no memory involved.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let got: Vec<String> = lines.map(|l| l.unwrap()).filter(|l| l.starts_with("got ")).collect();
    let status = child.wait().unwrap();
    let _ = done_tx.send(());
    watchdog.join().unwrap();
    assert!(status.success(), "child failed: {status}");
    assert_eq!(got, vec![format!("got {SIGTERM}")]);
}

fn raise(signal: i32) {
    // SAFETY: raise(3) has no memory preconditions; the signal has a
    // listener installed, so it does not kill the test process.
    assert_eq!(unsafe { libc::raise(signal) }, 0);
}

#[test]
fn signal_raised_before_wait_is_kept_and_returned() {
    support::with_each_runtime("sig-kept", |rt| {
        let signals = Signals::new(&[SIGUSR1]).unwrap();
        raise(SIGUSR1);
        assert_eq!(support::run_green(rt, move || signals.wait().unwrap()), SIGUSR1);
    });
}

#[test]
fn signal_wait_works_on_an_os_thread_and_try_wait_does_not_block() {
    let signals = Signals::new(&[SIGUSR2]).unwrap();
    assert_eq!(signals.try_wait().unwrap(), None);
    raise(SIGUSR2);
    assert_eq!(signals.wait().unwrap(), SIGUSR2);
    assert_eq!(signals.try_wait().unwrap(), None);
}

#[test]
fn signal_listener_rejects_fault_and_uncatchable_signals() {
    for signal in [libc::SIGSEGV, libc::SIGBUS, libc::SIGKILL, libc::SIGSTOP, 0, 65] {
        let err = Signals::new(&[signal]).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "signal {signal}");
    }
    assert_eq!(Signals::new(&[]).unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
}

/// The current handler of `signal`.
fn disposition(signal: i32) -> usize {
    // SAFETY: a zeroed sigaction is valid; a null new action only queries.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        assert_eq!(libc::sigaction(signal, std::ptr::null(), &mut old), 0);
        old.sa_sigaction
    }
}

#[test]
fn signal_disposition_is_restored_when_the_last_listener_drops() {
    // SIGWINCH: no other test listens to it, so the counts are ours alone.
    let before = disposition(libc::SIGWINCH);
    let a = Signals::new(&[libc::SIGWINCH]).unwrap();
    let b = Signals::new(&[libc::SIGWINCH]).unwrap();
    assert_ne!(disposition(libc::SIGWINCH), before);
    raise(libc::SIGWINCH);
    // Both listeners get it.
    assert_eq!(a.wait().unwrap(), libc::SIGWINCH);
    assert_eq!(b.wait().unwrap(), libc::SIGWINCH);
    drop(a);
    assert_ne!(disposition(libc::SIGWINCH), before, "b still listens");
    drop(b);
    assert_eq!(disposition(libc::SIGWINCH), before);
}
