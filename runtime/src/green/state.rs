//! The park state of a green thread: DESIGN.md decision 2.
//!
//! Every blocking operation in weft lowers to *register a waker, re-check the
//! condition, park*. This file is the part of that protocol that makes
//! parking race-free: an atomic state that a wakeup may hit at any moment,
//! from any thread, and that is never lost or doubled.
//!
//! # States
//!
//! | state      | meaning                                                         |
//! |------------|-----------------------------------------------------------------|
//! | `EMPTY`    | running or queued to run; no wakeup token stored                |
//! | `NOTIFIED` | running or queued to run; one wakeup token stored (std's token) |
//! | `PARKING`  | decided to park, still on its own stack, switching out          |
//! | `PARKED`   | switched out, on no run queue; only a waker can bring it back   |
//!
//! # Transitions, and who makes them
//!
//! ```text
//!            unpark (any thread)                 park: consume token (green thread)
//!   EMPTY ----------------------> NOTIFIED ---------------------------------> EMPTY
//!     |
//!     | park: begin (green thread itself)
//!     v
//!   PARKING --unpark (any thread)--> NOTIFIED --finish_park fails (owner worker):
//!     |                                          state := EMPTY, requeue ----> EMPTY
//!     | finish_park (owner worker, after the stack switched out)
//!     v
//!   PARKED --unpark (any thread, exactly one wins the CAS): state := EMPTY,
//!            the winner schedules the green thread on its owner ----------> EMPTY
//! ```
//!
//! A wakeup that races the switch-out (it lands in `PARKING`) leaves a
//! token; the owner worker's `finish_park` sees it and requeues instead of
//! parking, so the wakeup is not lost. A second wakeup while the first is
//! still pending finds `EMPTY` or `NOTIFIED` and only leaves (or keeps) a
//! token, so the green thread is scheduled once. As with
//! `std::thread::park`, that leftover token makes the next park return at
//! once: callers always re-check their condition in a loop.
//!
//! # Memory ordering
//!
//! Stores that publish a wakeup are `Release` and the loads that observe it
//! are `Acquire`, so whatever the waker wrote before `unpark` (a message, a
//! lock hand-off) is visible to the green thread when it resumes.

use crate::loom::{AtomicU8, Ordering::*};

const EMPTY: u8 = 0;
const NOTIFIED: u8 = 1;
const PARKING: u8 = 2;
const PARKED: u8 = 3;

/// What the caller of [`ParkState::unpark`] must do.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) enum Unpark {
    /// The green thread was parked and this call won it: schedule it on its
    /// owner worker, exactly once.
    Schedule,
    /// A token was stored (or was already there): nothing else to do.
    Stored,
}

/// What the owner worker must do after a green thread switched out to park.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) enum AfterSwitch {
    /// Parked: it is on no queue until someone unparks it.
    Parked,
    /// A wakeup arrived during the switch-out: put it back on the run queue.
    Requeue,
}

/// Any thread may call `unpark`; `try_consume`, `begin_park` are called by
/// the green thread itself, `finish_park` by its owner worker.
pub(crate) struct ParkState {
    state: AtomicU8,
}

impl ParkState {
    pub(crate) fn new() -> ParkState {
        ParkState { state: AtomicU8::new(EMPTY) }
    }

    /// Green thread: takes a stored token, if any. `true` means "do not
    /// park, a wakeup already happened".
    pub(crate) fn try_consume(&self) -> bool {
        self.state.compare_exchange(NOTIFIED, EMPTY, Acquire, Relaxed).is_ok()
    }

    /// Green thread: announces that it is about to switch out. `false` means
    /// a token arrived in the meantime; it has been consumed and the caller
    /// must not park.
    pub(crate) fn begin_park(&self) -> bool {
        match self.state.compare_exchange(EMPTY, PARKING, Acquire, Acquire) {
            Ok(_) => true,
            Err(NOTIFIED) => {
                self.state.store(EMPTY, Relaxed);
                false
            }
            Err(other) => unreachable!("begin_park in state {other}: only the green thread itself parks"),
        }
    }

    /// Owner worker, after the green thread's stack has switched out.
    pub(crate) fn finish_park(&self) -> AfterSwitch {
        match self.state.compare_exchange(PARKING, PARKED, AcqRel, Acquire) {
            Ok(_) => AfterSwitch::Parked,
            Err(NOTIFIED) => {
                // The token is the wakeup we are acting on: consume it.
                self.state.store(EMPTY, Relaxed);
                AfterSwitch::Requeue
            }
            Err(other) => unreachable!("finish_park in state {other}"),
        }
    }

    /// Any thread: wake the green thread, or leave it a token.
    pub(crate) fn unpark(&self) -> Unpark {
        let mut current = self.state.load(Acquire);
        loop {
            let (next, outcome) = match current {
                NOTIFIED => return Unpark::Stored,
                EMPTY | PARKING => (NOTIFIED, Unpark::Stored),
                PARKED => (EMPTY, Unpark::Schedule),
                other => unreachable!("unpark in state {other}"),
            };
            match self.state.compare_exchange_weak(current, next, AcqRel, Acquire) {
                Ok(_) => return outcome,
                Err(actual) => current = actual,
            }
        }
    }

    /// Any thread, for diagnostics: true if the green thread is parked or
    /// switching out to park. A snapshot, stale as soon as it is read.
    pub(crate) fn is_parked(&self) -> bool {
        matches!(self.state.load(Relaxed), PARKING | PARKED)
    }

    /// Owner worker, firing a timer: wakes the green thread only if it is
    /// still parked (`PARKED -> EMPTY`, true: schedule it). If a waker got
    /// there first, it is already queued, and a timer must not leave a token
    /// that would make its next, unrelated park return early.
    pub(crate) fn unpark_if_parked(&self) -> bool {
        self.state.compare_exchange(PARKED, EMPTY, AcqRel, Relaxed).is_ok()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn state_unpark_before_park_leaves_token() {
        let s = ParkState::new();
        assert_eq!(s.unpark(), Unpark::Stored);
        assert!(s.try_consume());
        assert!(!s.try_consume(), "a token is consumed once");
    }

    #[test]
    fn state_unpark_during_switch_out_requeues() {
        let s = ParkState::new();
        assert!(s.begin_park());
        assert_eq!(s.unpark(), Unpark::Stored);
        assert_eq!(s.finish_park(), AfterSwitch::Requeue);
        assert!(!s.try_consume(), "the token was the wakeup");
    }

    #[test]
    fn state_unpark_after_park_schedules_once() {
        let s = ParkState::new();
        assert!(s.begin_park());
        assert_eq!(s.finish_park(), AfterSwitch::Parked);
        assert_eq!(s.unpark(), Unpark::Schedule);
        assert_eq!(s.unpark(), Unpark::Stored, "second wakeup only stores a token");
        assert_eq!(s.unpark(), Unpark::Stored);
        assert!(s.try_consume());
    }

    #[test]
    fn state_timer_wakes_parked_but_leaves_no_token_on_woken() {
        let s = ParkState::new();
        assert!(s.begin_park());
        assert_eq!(s.finish_park(), AfterSwitch::Parked);
        assert!(s.unpark_if_parked(), "a parked green thread is woken by its timer");
        assert!(!s.unpark_if_parked(), "already woken: the timer does nothing");
        assert!(!s.try_consume(), "and leaves no token");
        assert!(s.begin_park());
        assert_eq!(s.unpark(), Unpark::Stored);
        assert!(!s.unpark_if_parked(), "switching out with a wakeup pending: not the timer's to take");
        assert_eq!(s.finish_park(), AfterSwitch::Requeue);
    }

    #[test]
    fn state_token_between_consume_and_begin_is_not_lost() {
        let s = ParkState::new();
        assert!(!s.try_consume());
        s.unpark();
        assert!(!s.begin_park(), "begin_park sees the token and refuses");
        assert!(!s.try_consume(), "and consumed it");
    }
}

/// Model checks of the park protocol with loom: every interleaving of a
/// parking green thread (and its owner worker's `finish_park`) against one or
/// two wakers on other threads. Run with
/// `RUSTFLAGS="--cfg loom" cargo test -p weft --lib --release loom_`.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::AtomicUsize;
    use loom::sync::Arc;

    /// The green thread's side: returns 1 if it ends up running again by
    /// itself (token consumed, or requeued by its worker), 0 if it is parked
    /// and only a waker can bring it back.
    fn park_side(s: &ParkState) -> usize {
        if s.try_consume() || !s.begin_park() {
            return 1;
        }
        match s.finish_park() {
            AfterSwitch::Requeue => 1,
            AfterSwitch::Parked => 0,
        }
    }

    fn run(wakers: usize) {
        run_with_timer(wakers, false);
    }

    /// With `timer`, the owner worker also fires the green thread's timer
    /// after the switch-out, racing the wakers.
    fn run_with_timer(wakers: usize, timer: bool) {
        loom::model(move || {
            let s = Arc::new(ParkState::new());
            let scheduled = Arc::new(AtomicUsize::new(0));
            let handles: Vec<_> = (0..wakers)
                .map(|_| {
                    let (s, scheduled) = (s.clone(), scheduled.clone());
                    loom::thread::spawn(move || {
                        if s.unpark() == Unpark::Schedule {
                            scheduled.fetch_add(1, SeqCst);
                        }
                    })
                })
                .collect();
            let mut resumed_by_itself = park_side(&s);
            if timer && resumed_by_itself == 0 && s.unpark_if_parked() {
                resumed_by_itself = 1;
            }
            for h in handles {
                h.join().unwrap();
            }
            // Exactly one resumption: never lost (0), never doubled (2).
            assert_eq!(resumed_by_itself + scheduled.load(SeqCst), 1);
        });
    }

    #[test]
    fn loom_park_races_one_waker() {
        run(1);
    }

    #[test]
    fn loom_park_races_two_wakers() {
        run(2);
    }

    #[test]
    fn loom_park_races_waker_and_timer() {
        run_with_timer(1, true);
    }
}
