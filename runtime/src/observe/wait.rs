//! What a parked green thread waits for: the wait record in its control
//! block, set at every blocking point and read by [`crate::dump`].
//!
//! # Using it from a blocking primitive
//!
//! A primitive that parks the calling green thread (a lock, a channel, a
//! condition variable) says what it waits for around its park loop:
//!
//! ```text
//! let _waiting = observe::waiting_on(WaitReason::Mutex { object: self as *const _ as usize });
//! while !self.try_lock_or_enqueue() {
//!     crate::park();
//! }
//! // `_waiting` clears the record when it goes out of scope.
//! ```
//!
//! Rules:
//!
//! 1. **The outermost reason wins.** [`waiting_on`] records its reason only
//!    if the green thread has none yet; an inner one does nothing. So a
//!    `Signals::wait` shows as "signal", not as the pipe read it is built
//!    on, `weft::unblock` as "blocking pool", not as the `park` inside it,
//!    and a channel with a timeout as "channel", not as `park_timeout`.
//!    Every `park_green` sets `Park` (with its deadline) as the default, so
//!    a parked green thread always has a reason.
//! 2. Set it once around the whole wait loop, not per park: the record's
//!    stamp is when the wait began, which is what "time in this state" in a
//!    dump means. (Two callers set it per iteration of a loop they do not
//!    own, `join` inside `Packet::join`'s wait and the reactor wait inside
//!    `Pollable::io`'s retry loop: there a spurious wakeup or a readiness
//!    event that did not suffice restarts the stamp, which is fair.)
//! 3. The guard is `!Send` and must be dropped by the green thread that made
//!    it (it is: it lives on that green thread's stack). On an OS thread,
//!    [`waiting_on`] does nothing.
//! 4. Keep `yield_now` free of it: a yield is not a wait.
//!
//! # Cost
//!
//! Setting: one thread-local read, one load, two release stores and a clock
//! stamp (two relaxed loads, see `clock.rs`); `waiting_on` is inlined, so a
//! constant reason is encoded at compile time. Clearing: a thread-local read
//! and one store. Under 30 instructions per wait in all; only blocking
//! points pay it, and they are about to switch stacks anyway.
//!
//! # Encoding
//!
//! Two words, so a record fits in atomics and other threads can read it
//! without a lock:
//!
//! ```text
//!  word: | kind (8 bits) | since, microseconds since the epoch (56 bits; 0 = unknown) |   0 = no record
//!  arg:  the reason's payload: fd, deadline in microseconds, thread id, signal mask, address
//! ```
//!
//! The owner green thread writes `arg` then `word` (both Release) and clears
//! with `word = 0` (Release). A reader loads `word` (Acquire), `arg`
//! (Acquire), and `word` again, and retries if the two `word`s differ: a
//! seqlock with one writer. If the reader's `arg` came from a later wait,
//! that wait's `arg` store follows the clear in the writer's program order,
//! so the second `word` load sees the clear or a later stamp; only a later
//! wait of the *same kind stamped in the same microsecond* (possible with the
//! coarse clock) can pass the check, and then the payload describes a wait
//! the green thread really is in.

use std::fmt;
use std::marker::PhantomData;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::time::Instant;

use super::{clock, fmt_duration};
use crate::green::context;
use crate::thread::ThreadId;

/// What a parked green thread is waiting for, as shown by [`crate::dump`].
///
/// The synchronisation variants carry `object`, the address of the
/// primitive: green threads waiting on the same mutex show the same number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitReason {
    /// [`crate::park`] or [`crate::park_timeout`] (with its deadline).
    Park { until: Option<Instant> },
    /// [`crate::sleep`], until the deadline.
    Sleep { until: Instant },
    /// [`crate::JoinHandle::join`] of another green thread.
    Join { target: ThreadId },
    /// Readiness to read `fd`: a socket, pipe or any
    /// [`Pollable`](crate::io::Pollable) (`read`, `accept`, ...).
    Read { fd: RawFd },
    /// Readiness to write `fd` (`write`, `connect`, ...).
    Write { fd: RawFd },
    /// [`Signals::wait`](crate::signal::Signals::wait); bit `n - 1` of
    /// `mask` is set for each awaited signal `n`.
    Signal { mask: u64 },
    /// [`crate::unblock`] (and so [`crate::fs`]): a job on the blocking pool.
    Blocking,
    /// A mutex.
    Mutex { object: usize },
    /// A read lock of a reader-writer lock.
    RwLockRead { object: usize },
    /// A write lock of a reader-writer lock.
    RwLockWrite { object: usize },
    /// A condition variable.
    Condvar { object: usize },
    /// Room in a channel (a send on a full bounded channel).
    ChannelSend { object: usize },
    /// A message from a channel.
    ChannelRecv { object: usize },
    /// Any of several channel operations (`select`).
    Select { object: usize },
    /// A semaphore permit.
    Semaphore { object: usize },
    /// The other parties of a barrier.
    Barrier { object: usize },
    /// A wait group reaching zero.
    WaitGroup { object: usize },
}

impl WaitReason {
    /// `(kind, arg)`: kind 0 is reserved for "no record".
    #[inline]
    fn encode(self) -> (u8, u64) {
        use WaitReason::*;
        match self {
            Park { until } => (1, until.map_or(0, |t| clock::to_us(t) + 1)),
            Sleep { until } => (2, clock::to_us(until)),
            Join { target } => (3, target.as_u64()),
            Read { fd } => (4, u64::from(fd as u32)),
            Write { fd } => (5, u64::from(fd as u32)),
            Signal { mask } => (6, mask),
            Blocking => (7, 0),
            Mutex { object } => (8, object as u64),
            RwLockRead { object } => (9, object as u64),
            RwLockWrite { object } => (10, object as u64),
            Condvar { object } => (11, object as u64),
            ChannelSend { object } => (12, object as u64),
            ChannelRecv { object } => (13, object as u64),
            Select { object } => (14, object as u64),
            Semaphore { object } => (15, object as u64),
            Barrier { object } => (16, object as u64),
            WaitGroup { object } => (17, object as u64),
        }
    }

    fn decode(kind: u8, arg: u64) -> Option<WaitReason> {
        use WaitReason::*;
        let object = arg as usize;
        Some(match kind {
            1 => Park { until: arg.checked_sub(1).map(clock::from_us) },
            2 => Sleep { until: clock::from_us(arg) },
            3 => Join { target: ThreadId::from_u64(arg)? },
            4 => Read { fd: arg as u32 as RawFd },
            5 => Write { fd: arg as u32 as RawFd },
            6 => Signal { mask: arg },
            7 => Blocking,
            8 => Mutex { object },
            9 => RwLockRead { object },
            10 => RwLockWrite { object },
            11 => Condvar { object },
            12 => ChannelSend { object },
            13 => ChannelRecv { object },
            14 => Select { object },
            15 => Semaphore { object },
            16 => Barrier { object },
            17 => WaitGroup { object },
            _ => return None,
        })
    }

    /// Writes the description, with deadlines relative to `now`.
    pub(crate) fn describe(&self, now: Instant, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use WaitReason::*;
        let deadline = |f: &mut fmt::Formatter<'_>, until: Instant| match until.checked_duration_since(now) {
            Some(left) => write!(f, "wakes in {}", fmt_duration(left)),
            None => write!(f, "due {} ago", fmt_duration(now - until)),
        };
        match *self {
            Park { until: None } => f.write_str("park"),
            Park { until: Some(until) } => {
                f.write_str("park_timeout, ")?;
                deadline(f, until)
            }
            Sleep { until } => {
                f.write_str("sleep, ")?;
                deadline(f, until)
            }
            Join { target } => write!(f, "join of green thread {target}"),
            Read { fd } => write!(f, "read fd {fd}"),
            Write { fd } => write!(f, "write fd {fd}"),
            Signal { mask } => {
                f.write_str("signal")?;
                let mut sep = " ";
                for signal in (1..=64).filter(|n| mask & (1 << (n - 1)) != 0) {
                    write!(f, "{sep}{signal}")?;
                    sep = ", ";
                }
                Ok(())
            }
            Blocking => f.write_str("blocking pool (weft::unblock)"),
            Mutex { object } => write!(f, "mutex {object:#x}"),
            RwLockRead { object } => write!(f, "rwlock read {object:#x}"),
            RwLockWrite { object } => write!(f, "rwlock write {object:#x}"),
            Condvar { object } => write!(f, "condvar {object:#x}"),
            ChannelSend { object } => write!(f, "channel send {object:#x}"),
            ChannelRecv { object } => write!(f, "channel receive {object:#x}"),
            Select { object } => write!(f, "select {object:#x}"),
            Semaphore { object } => write!(f, "semaphore {object:#x}"),
            Barrier { object } => write!(f, "barrier {object:#x}"),
            WaitGroup { object } => write!(f, "wait group {object:#x}"),
        }
    }
}

impl fmt::Display for WaitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(Instant::now(), f)
    }
}

const KIND_SHIFT: u32 = 56;

/// The wait record of one green thread, in its control block. Written only
/// by the green thread itself (through [`waiting_on`]); read by any thread
/// (dumps, the monitor). See the module docs for the encoding.
pub(crate) struct WaitRecord {
    word: AtomicU64,
    arg: AtomicU64,
}

impl WaitRecord {
    pub(crate) const fn new() -> WaitRecord {
        WaitRecord { word: AtomicU64::new(0), arg: AtomicU64::new(0) }
    }

    /// Owner green thread.
    fn is_set(&self) -> bool {
        self.word.load(Relaxed) != 0
    }

    /// Owner green thread.
    #[inline]
    fn set(&self, reason: WaitReason) {
        self.set_at(reason, clock::stamp_us());
    }

    /// Owner green thread: `reason`, waited for since `stamp` (0: unknown).
    #[inline]
    fn set_at(&self, reason: WaitReason, stamp: u64) {
        let (kind, arg) = reason.encode();
        self.arg.store(arg, Release);
        self.word.store((u64::from(kind) << KIND_SHIFT) | (stamp & clock::MAX_US), Release);
    }

    /// Owner green thread.
    fn clear(&self) {
        self.word.store(0, Release);
    }

    /// Any thread: the current reason and, if known, when the wait began.
    pub(crate) fn read(&self) -> Option<(WaitReason, Option<Instant>)> {
        // A writer changes the record once per blocking point, so a few
        // retries always suffice; give up rather than spin on a torn read.
        for _ in 0..8 {
            let word = self.word.load(Acquire);
            if word == 0 {
                return None;
            }
            let arg = self.arg.load(Acquire);
            if self.word.load(Relaxed) == word {
                let reason = WaitReason::decode((word >> KIND_SHIFT) as u8, arg)?;
                let since = Some(word & clock::MAX_US).filter(|&us| us != 0).map(clock::from_us);
                return Some((reason, since));
            }
        }
        None
    }
}

/// Records that the running green thread is about to wait for `reason`,
/// unless it already records an (outer) reason; the returned guard clears
/// what it set. Does nothing on an OS thread. See the module docs.
///
/// Inlined, so a constant `reason` is encoded at compile time.
#[inline]
pub(crate) fn waiting_on(reason: WaitReason) -> Waiting {
    let set = context::with_green(|green| match green {
        Some(green) if !green.wait.is_set() => {
            green.wait.set(reason);
            true
        }
        _ => false,
    });
    Waiting { set, _not_send: PhantomData }
}

/// Clears the running green thread's wait record when dropped, if
/// [`waiting_on`] set it. Owner green thread only (`!Send`).
#[must_use = "the record is cleared when the guard is dropped"]
pub(crate) struct Waiting {
    set: bool,
    _not_send: PhantomData<*const ()>,
}

impl Drop for Waiting {
    #[inline]
    fn drop(&mut self) {
        if self.set {
            context::with_green(|green| {
                if let Some(green) = green {
                    green.wait.clear();
                }
            });
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::time::Duration;

    fn all_reasons() -> Vec<WaitReason> {
        use WaitReason::*;
        let until = clock::epoch() + Duration::from_micros(5_000_123);
        let object = 0xdead_beef;
        vec![
            Park { until: None },
            Park { until: Some(until) },
            Sleep { until },
            Join { target: ThreadId::from_u64(42).unwrap() },
            Read { fd: 7 },
            Write { fd: i32::MAX },
            Signal { mask: 1 << 14 | 1 << 1 },
            Blocking,
            Mutex { object },
            RwLockRead { object },
            RwLockWrite { object },
            Condvar { object },
            ChannelSend { object },
            ChannelRecv { object },
            Select { object },
            Semaphore { object },
            Barrier { object },
            WaitGroup { object },
        ]
    }

    #[test]
    fn wait_reason_encoding_round_trips_every_variant() {
        for reason in all_reasons() {
            let (kind, arg) = reason.encode();
            assert_ne!(kind, 0, "{reason:?}: kind 0 means no record");
            assert_eq!(WaitReason::decode(kind, arg), Some(reason));
        }
    }

    #[test]
    fn wait_record_reads_back_what_was_set_and_nothing_once_cleared() {
        let record = WaitRecord::new();
        assert_eq!(record.read(), None);
        record.set_at(WaitReason::Read { fd: 3 }, 1_234);
        assert_eq!(record.read(), Some((WaitReason::Read { fd: 3 }, Some(clock::from_us(1_234)))));
        record.clear();
        assert_eq!(record.read(), None);
        record.set_at(WaitReason::Blocking, 0);
        assert_eq!(record.read(), Some((WaitReason::Blocking, None)), "stamp 0: since unknown");
    }

    #[test]
    fn wait_reason_describes_signals_and_deadlines() {
        let now = clock::epoch() + Duration::from_secs(10);
        struct At(WaitReason, Instant);
        impl fmt::Display for At {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.describe(self.1, f)
            }
        }
        let signal = WaitReason::Signal { mask: 1 << 14 | 1 << 1 };
        assert_eq!(At(signal, now).to_string(), "signal 2, 15");
        let sleep = WaitReason::Sleep { until: now + Duration::from_millis(1500) };
        assert_eq!(At(sleep, now).to_string(), "sleep, wakes in 1.5 s");
        assert_eq!(At(WaitReason::Read { fd: 9 }, now).to_string(), "read fd 9");
    }
}
