//! Model checks of the wait-queue handoff with loom: every interleaving of
//! a granting thread against waiters that park, time out or queue behind
//! each other. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p weft --lib --release loom_`.
//!
//! A lost grant shows up as a waiter that stays parked with nobody left to
//! wake it, which loom reports as a deadlock; a doubled or invented one
//! breaks the conservation asserts. Under loom a timed wait gives up at its
//! first check (see `shim.rs`), so "the deadline passed" races every step
//! of the grant.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use loom::thread;

use super::{mpsc, Mutex, Semaphore};

/// Every interleaving of a two-thread model.
fn model(f: impl Fn() + Sync + Send + 'static) {
    loom::model::Builder::new().check(f);
}

/// Three-thread models, with preemptions bounded to keep them to seconds
/// (unbounded, the semaphore one alone takes over 20 s in release): the
/// races modelled here need at most two preemptions to show, and the
/// planted bugs in the report were caught within this bound.
fn model_3(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

const LONG: Duration = Duration::from_secs(3600);

/// (a) A permit granted while its waiter times out is never lost: either the
/// waiter took it, or it is back in the semaphore.
#[test]
fn loom_semaphore_grant_races_timeout() {
    model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let waiter = {
            let sem = sem.clone();
            thread::spawn(move || sem.acquire_timeout(LONG).map(|permit| permit.forget()).is_some())
        };
        sem.add_permits(1);
        let took = waiter.join().unwrap();
        assert_eq!(usize::from(took) + sem.available_permits(), 1, "the permit is conserved");
    });
}

/// (a) A waiter that times out while the permit is handed over passes it on
/// to the next waiter (which would otherwise stay parked: a deadlock).
#[test]
fn loom_semaphore_timeout_passes_grant_to_next_waiter() {
    model_3(|| {
        let sem = Arc::new(Semaphore::new(0));
        let timed = {
            let sem = sem.clone();
            thread::spawn(move || drop(sem.acquire_timeout(LONG)))
        };
        let patient = {
            let sem = sem.clone();
            thread::spawn(move || sem.acquire().forget())
        };
        sem.add_permits(1);
        timed.join().unwrap();
        patient.join().unwrap();
        assert_eq!(sem.available_permits(), 0, "the patient waiter got the one permit");
    });
}

/// (b) Two waiters, one release: the lock goes to one, then the other; no
/// wakeup is lost and the critical sections never overlap.
#[test]
fn loom_mutex_two_waiters_one_release() {
    model_3(|| {
        let m = Arc::new(Mutex::new(0usize));
        let held = m.lock().unwrap();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let m = m.clone();
                thread::spawn(move || {
                    let mut g = m.lock().unwrap();
                    let seen = *g;
                    *g = seen + 1;
                })
            })
            .collect();
        drop(held);
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(*m.lock().unwrap(), 2);
    });
}

/// A message handed to a receiver that times out at the same moment is
/// received exactly once: by that receiver, or later from the channel.
#[test]
fn loom_channel_send_races_recv_timeout() {
    model(|| {
        let (tx, rx) = mpsc::channel();
        let rx = Arc::new(Mutex::new(rx));
        let receiver = {
            let rx = rx.clone();
            thread::spawn(move || rx.lock().unwrap().recv_timeout(LONG).ok())
        };
        tx.send(7).unwrap();
        let early = receiver.join().unwrap();
        let late = rx.lock().unwrap().try_recv().ok();
        assert_eq!(early.into_iter().chain(late).collect::<Vec<_>>(), [7], "exactly once");
    });
}

/// A receiver that parks in `recv` is woken by a send made at any point of
/// its check-register-park sequence.
#[test]
fn loom_channel_recv_parks_until_send() {
    model(|| {
        let (tx, rx) = mpsc::channel();
        let receiver = thread::spawn(move || rx.recv());
        tx.send(7).unwrap();
        assert_eq!(receiver.join().unwrap(), Ok(7));
    });
}

/// A sender parked on a full bounded channel is woken by the receive that
/// makes room, and its message is the next one received.
#[test]
fn loom_bounded_send_parks_until_recv() {
    model(|| {
        let (tx, rx) = mpsc::sync_channel(1);
        tx.send(1).unwrap();
        let sender = thread::spawn(move || tx.send(2).unwrap());
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(rx.recv(), Ok(2));
        sender.join().unwrap();
    });
}

/// Rendezvous: a `try_send` succeeds exactly when the receiver took the
/// message, even when the receiver gives up concurrently.
#[test]
fn loom_rendezvous_try_send_races_recv_timeout() {
    model(|| {
        let (tx, rx) = mpsc::sync_channel(0);
        let receiver = thread::spawn(move || rx.recv_timeout(LONG).ok());
        let sent = tx.try_send(7).is_ok();
        let got = receiver.join().unwrap();
        assert_eq!(got.is_some(), sent);
    });
}

/// select! over two channels that both get a message: exactly one arm
/// fires, and the other message stays in its channel.
#[test]
fn loom_select_takes_exactly_one_of_two() {
    model(|| {
        let (tx1, rx1) = mpsc::channel();
        let (tx2, rx2) = mpsc::channel();
        let fired = Arc::new(AtomicUsize::new(0));
        let t1 = thread::spawn(move || tx1.send(1).unwrap());
        let t2 = thread::spawn(move || tx2.send(2).unwrap());
        let got = crate::select! {
            recv(rx1) -> m => m.unwrap(),
            recv(rx2) -> m => m.unwrap(),
        };
        fired.fetch_add(1, SeqCst);
        t1.join().unwrap();
        t2.join().unwrap();
        let rest: Vec<_> = rx1.try_iter().chain(rx2.try_iter()).collect();
        assert_eq!(rest.len(), 1, "the losing arm consumed nothing");
        assert_eq!(got + rest[0], 3);
    });
}
