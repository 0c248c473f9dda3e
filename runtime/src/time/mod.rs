//! Per-worker timers: deadlines of sleeping and `park_timeout`-ing green
//! threads.
//!
//! Owner worker only: a green thread registers its own deadline while running
//! on its owner worker, and removes it when it wakes; the worker fires
//! expired entries before it sleeps and computes its `epoll_wait` timeout
//! from [`Timers::next_deadline`].
//!
//! A `BTreeMap` keyed by `(deadline, sequence)` gives O(log n) insert, cancel
//! and pop-earliest, and fires equal deadlines in registration order. A
//! hashed timing wheel would make insert O(1) but needs a tick and cascading;
//! with the switch cost of a green thread in the tens of nanoseconds, the
//! tree's few comparisons are not what limits `sleep` throughput.

use std::collections::BTreeMap;
use std::time::Instant;

/// Identifies one registered deadline, for cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimerKey {
    deadline: Instant,
    seq: u64,
}

/// Deadlines with a payload each (a green thread to wake).
pub(crate) struct Timers<T> {
    entries: BTreeMap<TimerKey, T>,
    seq: u64,
}

impl<T> Timers<T> {
    pub(crate) fn new() -> Timers<T> {
        Timers { entries: BTreeMap::new(), seq: 0 }
    }

    pub(crate) fn insert(&mut self, deadline: Instant, value: T) -> TimerKey {
        self.seq += 1;
        let key = TimerKey { deadline, seq: self.seq };
        self.entries.insert(key, value);
        key
    }

    /// Removes a deadline that has not fired; `None` if it already fired.
    pub(crate) fn cancel(&mut self, key: TimerKey) -> Option<T> {
        self.entries.remove(&key)
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.entries.first_key_value().map(|(k, _)| k.deadline)
    }

    /// Removes and returns the earliest entry if its deadline is `<= now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<T> {
        match self.entries.first_entry() {
            Some(e) if e.key().deadline <= now => Some(e.remove()),
            _ => None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Removes every entry (runtime shutdown).
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> {
        std::mem::take(&mut self.entries).into_values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timers_fire_in_deadline_order_then_registration_order() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        timers.insert(t0 + Duration::from_millis(30), "c");
        timers.insert(t0 + Duration::from_millis(10), "a");
        timers.insert(t0 + Duration::from_millis(20), "b1");
        timers.insert(t0 + Duration::from_millis(20), "b2");
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_millis(10)));
        assert_eq!(timers.pop_expired(t0), None, "nothing is due yet");
        let now = t0 + Duration::from_millis(25);
        let fired: Vec<_> = std::iter::from_fn(|| timers.pop_expired(now)).collect();
        assert_eq!(fired, ["a", "b1", "b2"]);
        assert_eq!(timers.len(), 1);
    }

    #[test]
    fn timers_cancel_removes_only_that_entry() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        let a = timers.insert(t0, 1);
        let b = timers.insert(t0, 2);
        assert_eq!(timers.cancel(a), Some(1));
        assert_eq!(timers.cancel(a), None, "cancelling twice is harmless");
        assert_eq!(timers.pop_expired(t0), Some(2));
        assert_eq!(timers.cancel(b), None, "a fired entry cannot be cancelled");
        assert_eq!(timers.next_deadline(), None);
    }
}
