//! Wait nodes, FIFO wait queues, and [`wait`]: the one place where `sync`
//! parks.
//!
//! Every blocking primitive in `sync` follows DESIGN.md decision 2:
//!
//! 1. under the primitive's internal lock, check the condition; if it
//!    holds, take it and return (no node, no allocation);
//! 2. else, still under the lock, push a wait node on the primitive's queue
//!    (so the check and the registration are atomic with respect to every
//!    waker, who needs the same lock), and release the lock;
//! 3. [`wait`] for the node to be granted (or the deadline to pass).
//!
//! A waker, under the same lock, pops nodes from the front and grants the
//! first one it can: the unit (a lock's ownership, a permit, a channel
//! message, a notification) is handed *directly* to that waiter, which
//! returns owning it. FIFO, no thundering herd, and no barging: a newcomer
//! cannot take a unit that is already promised to a waiter. The unpark
//! happens after the lock is released.
//!
//! # The wait node: [`Signal`]
//!
//! A node lives on the heap (in an `Arc`, DESIGN.md decision 2: other
//! threads touch a waiter only through heap memory) and holds the waiting
//! thread's handle and one atomic word:
//!
//! | state        | meaning                                                    |
//! |--------------|------------------------------------------------------------|
//! | `WAITING`    | registered; nobody has decided its fate yet                |
//! | `ABORTED`    | the waiter gave up (deadline, cancellation) first: wakers skip it |
//! | `DONE + t`   | a waker granted it, with token `t` (which select arm, was it a disconnection, ...) |
//!
//! ```text
//!             try_grant(t): a waker, under the queue's lock
//!   WAITING ------------------------------------------------> DONE + t
//!      |
//!      | abort: the waiter itself (deadline passed, cancelled, unwound)
//!      v
//!   ABORTED
//! ```
//!
//! Both moves out of `WAITING` are one CAS on the same word, so exactly one
//! wins: either the waiter gave up and nobody granted it anything (a waker
//! that finds it `ABORTED` passes the unit to the next node, or back to
//! the resource), or the grant won and the waiter's abort fails and it
//! returns [`WaitResult::Granted`] anyway: a timed-out waiter never loses a
//! unit, it either takes it or never had it. Both final states are
//! terminal. A node in a select is shared by all of the select's arms, so
//! the first channel to grant it decides which arm fires; every other
//! channel then finds it decided and skips it.
//!
//! What travels with the grant (a message for a receiver) is written by the
//! waker before its `Release` CAS and read by the waiter after its
//! `Acquire` load of `DONE`.
//!
//! # Cancellation hook
//!
//! [`wait`] is the only function in `sync` that parks. Cancellation
//! (`JoinHandle::cancel`) and `weft::timeout` plug in at the marked line in
//! its loop: give up exactly as a deadline does ([`Signal::abort`] then
//! [`Cleanup::withdraw`], or, if the abort loses to a grant,
//! [`Cleanup::abandon`] to pass the unit on), then unwind.
//!
//! # Rejected: a lock-free queue
//!
//! The queues are plain `VecDeque`s under a short `std` mutex ([`Lock`]).
//! The lock is only taken on contention (each primitive's uncontended path
//! is one CAS on its own state word), it is held for a few instructions,
//! never across a park, and it makes "check the condition and register"
//! one atomic step, which a lock-free list needs a second validation pass
//! for. A timed-out waiter removes itself by a linear scan (O(waiters));
//! timeouts are the rare path.
//!
//! [`Lock`]: super::shim::Lock

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use super::shim::{self, AtomicUsize, Thread};
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

const WAITING: usize = 0;
const ABORTED: usize = 1;
const DONE: usize = 2;

/// A wait node: one waiting thread and the fate of its wait. Created by the
/// waiter; granted by any thread under the lock of a queue that holds it;
/// aborted only by the waiter.
pub(crate) struct Signal {
    state: AtomicUsize,
    thread: Thread,
}

impl Signal {
    /// A node for the calling thread, in `WAITING`.
    pub(crate) fn new() -> Signal {
        Signal { state: AtomicUsize::new(WAITING), thread: Thread::current() }
    }

    /// Waker: `WAITING -> DONE + token`. False if the node was already
    /// decided (aborted, or granted by another queue of the same select).
    /// On true the waker must [`unpark`](Signal::unpark) it (after
    /// releasing its lock).
    pub(crate) fn try_grant(&self, token: usize) -> bool {
        self.state.compare_exchange(WAITING, DONE + token, AcqRel, Acquire).is_ok()
    }

    /// Waiter: `WAITING -> ABORTED`. `Err(token)` if a grant came first.
    pub(crate) fn abort(&self) -> Result<(), usize> {
        match self.state.compare_exchange(WAITING, ABORTED, AcqRel, Acquire) {
            Ok(_) => Ok(()),
            Err(state) => {
                debug_assert!(state >= DONE, "only the waiter aborts its node");
                Err(state - DONE)
            }
        }
    }

    /// The token, once granted.
    pub(crate) fn granted(&self) -> Option<usize> {
        let state = self.state.load(Acquire);
        (state >= DONE).then(|| state - DONE)
    }

    /// True while nobody has decided this node: a grant may still succeed.
    pub(crate) fn is_waiting(&self) -> bool {
        self.state.load(Acquire) == WAITING
    }

    /// Wakes the waiter. Any thread.
    pub(crate) fn unpark(&self) {
        self.thread.unpark();
    }
}

/// How a [`wait`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitResult {
    /// A waker granted the node with this token: the unit is the caller's.
    Granted(usize),
    /// The deadline passed first; the node is withdrawn, nothing was taken.
    TimedOut,
    /// The runtime is force-unwinding the calling green thread (shutdown);
    /// the node is withdrawn and nothing was taken. Nobody would ever wake
    /// it, so the caller must not wait again.
    Cancelled,
}

/// What the primitive does when a waiter gives up. Called by [`wait`] on
/// the waiter's own thread.
pub(crate) trait Cleanup {
    /// The waiter aborted its node before any grant: remove the node from
    /// the queue(s) it is on (under their locks), and give back anything it
    /// had put there (a select's pending send value).
    fn withdraw(&mut self);

    /// The node was granted `token`, but the waiter will not use the unit
    /// (it is unwinding): pass the unit on (unlock, release the permit,
    /// re-notify) so nobody else waits for it forever.
    fn abandon(&mut self, token: usize);
}

/// Waits until `signal` is granted or `deadline` passes. The only place
/// in `sync` that parks.
///
/// The caller has pushed `signal` on a queue (step 2 of the module docs).
/// On `TimedOut` and `Cancelled` the node has been aborted and
/// [`Cleanup::withdraw`] has run. If the green thread is unwound from its
/// park (runtime shutdown), the node is aborted and withdrawn, or, if a
/// grant won the race, [`Cleanup::abandon`] passes the unit on.
pub(crate) fn wait(signal: &Signal, deadline: Option<Instant>, cleanup: &mut dyn Cleanup) -> WaitResult {
    let mut guard = GiveUpOnUnwind { signal, cleanup, armed: true };
    let result = loop {
        if let Some(token) = signal.granted() {
            break WaitResult::Granted(token);
        }
        // Cancellation hook: `JoinHandle::cancel` and `weft::timeout` give up
        // here, as `Cancelled` (or a timeout) does, then unwind.
        if shim::cancelled() {
            break guard.give_up(WaitResult::Cancelled);
        }
        if deadline.is_some_and(shim::expired) {
            break guard.give_up(WaitResult::TimedOut);
        }
        shim::park(deadline);
    };
    guard.armed = false;
    result
}

/// Gives the node up if the waiter leaves [`wait`] by unwinding.
struct GiveUpOnUnwind<'a> {
    signal: &'a Signal,
    cleanup: &'a mut dyn Cleanup,
    armed: bool,
}

impl GiveUpOnUnwind<'_> {
    /// Aborts the node: `reason` if that won, else the grant that beat it.
    fn give_up(&mut self, reason: WaitResult) -> WaitResult {
        match self.signal.abort() {
            Ok(()) => {
                self.cleanup.withdraw();
                reason
            }
            Err(token) => WaitResult::Granted(token),
        }
    }
}

impl Drop for GiveUpOnUnwind<'_> {
    fn drop(&mut self) {
        if self.armed {
            if let WaitResult::Granted(token) = self.give_up(WaitResult::Cancelled) {
                self.cleanup.abandon(token);
            }
        }
    }
}

/// A queue entry: anything that carries a [`Signal`].
pub(crate) trait Node {
    fn signal(&self) -> &Signal;
}

impl Node for Arc<Signal> {
    fn signal(&self) -> &Signal {
        self
    }
}

/// A FIFO of wait nodes. Lives inside a primitive's [`Lock`]; every method
/// is called with that lock held.
///
/// Nodes stay on the queue until a waker pops them or their waiter
/// withdraws them, so the queue may hold decided nodes (aborted, or granted
/// through another queue of the same select) until a waker pops and skips
/// them.
///
/// [`Lock`]: super::shim::Lock
pub(crate) struct WaitQueue<N> {
    nodes: VecDeque<N>,
}

impl<N: Node> WaitQueue<N> {
    shim::loom_const_fn! {
        pub(crate) fn new() -> WaitQueue<N> {
            WaitQueue { nodes: VecDeque::new() }
        }
    }

    pub(crate) fn push(&mut self, node: N) {
        self.nodes.push_back(node);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The first node, decided or not (for callers that must inspect what
    /// the head waits for, such as a reader or a writer).
    pub(crate) fn front(&self) -> Option<&N> {
        self.nodes.front()
    }

    pub(crate) fn pop_front(&mut self) -> Option<N> {
        self.nodes.pop_front()
    }

    /// Pops nodes until one accepts the grant; skipped nodes were decided
    /// already and are dropped. The caller unparks the returned node after
    /// releasing its lock.
    pub(crate) fn grant_one(&mut self, token: usize) -> Option<N> {
        while let Some(node) = self.nodes.pop_front() {
            if node.signal().try_grant(token) {
                return Some(node);
            }
        }
        None
    }

    /// Removes the first node matching `is_it` (a waiter withdrawing).
    pub(crate) fn remove(&mut self, is_it: impl Fn(&N) -> bool) -> Option<N> {
        let index = self.nodes.iter().position(is_it)?;
        self.nodes.remove(index)
    }

    /// True if some node other than `except`'s is still undecided: a hint
    /// that a counterpart is waiting (it may be decided a moment later).
    pub(crate) fn has_waiting_except(&self, except: Option<&Signal>) -> bool {
        self.nodes.iter().any(|n| n.signal().is_waiting() && !except.is_some_and(|e| std::ptr::eq(e, n.signal())))
    }

    /// Empties the queue (to grant everything outside the lock).
    pub(crate) fn take_all(&mut self) -> VecDeque<N> {
        std::mem::take(&mut self.nodes)
    }
}

impl WaitQueue<Arc<Signal>> {
    /// Step 2 of the module docs for a queue of plain signals: pushes a
    /// new node for the calling thread and returns it, to [`wait`] on once
    /// the lock is released.
    pub(crate) fn push_current(&mut self) -> Arc<Signal> {
        let signal = Arc::new(Signal::new());
        self.nodes.push_back(signal.clone());
        signal
    }
}

/// Grants every still-undecided node of `nodes` with `token` and wakes it.
/// Call without holding any lock.
pub(crate) fn grant_all<N: Node>(nodes: VecDeque<N>, token: usize) {
    for node in nodes {
        if node.signal().try_grant(token) {
            node.signal().unpark();
        }
    }
}

/// The [`Cleanup`] of a node on a queue of plain signals: withdrawing
/// removes it; abandoning owes nothing, unless the primitive says what to
/// pass on with [`on_abandon`](Withdraw::on_abandon).
pub(crate) struct Withdraw<'a, A: FnMut(usize)> {
    queue: &'a shim::Lock<WaitQueue<Arc<Signal>>>,
    signal: &'a Arc<Signal>,
    /// A state word and its "someone waits" bit: cleared, under the queue
    /// lock, when the withdrawal leaves the queue empty.
    queued_flag: Option<(&'a AtomicUsize, usize)>,
    abandon: A,
}

impl<'a> Withdraw<'a, fn(usize)> {
    pub(crate) fn new(queue: &'a shim::Lock<WaitQueue<Arc<Signal>>>, signal: &'a Arc<Signal>) -> Self {
        Withdraw { queue, signal, queued_flag: None, abandon: |_| {} }
    }
}

impl<'a, A: FnMut(usize)> Withdraw<'a, A> {
    /// Also clears `flag` in `state` when the withdrawal leaves the queue
    /// empty, for a primitive whose state word says that someone waits.
    pub(crate) fn clearing(self, state: &'a AtomicUsize, flag: usize) -> Self {
        Withdraw { queued_flag: Some((state, flag)), ..self }
    }

    /// What to do with a unit granted to a waiter that unwinds: pass it on
    /// (unlock, release the permit, re-notify).
    pub(crate) fn on_abandon<B: FnMut(usize)>(self, abandon: B) -> Withdraw<'a, B> {
        let Withdraw { queue, signal, queued_flag, abandon: _ } = self;
        Withdraw { queue, signal, queued_flag, abandon }
    }
}

impl<A: FnMut(usize)> Cleanup for Withdraw<'_, A> {
    fn withdraw(&mut self) {
        let mut queue = self.queue.lock();
        queue.remove(|n| Arc::ptr_eq(n, self.signal));
        if let Some((state, flag)) = self.queued_flag {
            if queue.is_empty() {
                state.fetch_and(!flag, Relaxed);
            }
        }
    }

    fn abandon(&mut self, token: usize) {
        (self.abandon)(token);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn queue_of(n: usize) -> (WaitQueue<Arc<Signal>>, Vec<Arc<Signal>>) {
        let mut q = WaitQueue::new();
        let nodes: Vec<_> = (0..n).map(|_| Arc::new(Signal::new())).collect();
        for node in &nodes {
            q.push(node.clone());
        }
        (q, nodes)
    }

    #[test]
    fn waitq_grant_one_is_fifo() {
        let (mut q, nodes) = queue_of(3);
        let first = q.grant_one(7).expect("a waiter");
        assert!(Arc::ptr_eq(&first, &nodes[0]));
        assert_eq!(nodes[0].granted(), Some(7));
        assert_eq!(nodes[1].granted(), None);
        assert!(nodes[1].is_waiting());
    }

    #[test]
    fn waitq_grant_skips_aborted_and_loses_nothing() {
        let (mut q, nodes) = queue_of(3);
        assert_eq!(nodes[0].abort(), Ok(()));
        let got = q.grant_one(1).expect("the second waiter");
        assert!(Arc::ptr_eq(&got, &nodes[1]), "the aborted head is skipped");
        assert_eq!(nodes[0].granted(), None, "an aborted node is never granted");
    }

    #[test]
    fn waitq_abort_after_grant_reports_the_grant() {
        let s = Signal::new();
        assert!(s.try_grant(3));
        assert_eq!(s.abort(), Err(3), "the grant won: the waiter takes it");
        assert!(!s.try_grant(4), "a decided node is never granted twice");
    }

    #[test]
    fn waitq_grant_after_abort_fails() {
        let s = Signal::new();
        assert_eq!(s.abort(), Ok(()));
        assert!(!s.try_grant(0));
        assert_eq!(s.granted(), None);
    }

    #[test]
    fn waitq_empty_grant_returns_none() {
        let (mut q, nodes) = queue_of(2);
        for node in &nodes {
            node.abort().unwrap();
        }
        assert!(q.grant_one(0).is_none());
        assert!(q.is_empty(), "decided nodes were popped");
    }

    #[test]
    fn waitq_remove_takes_the_named_node() {
        let (mut q, nodes) = queue_of(3);
        assert!(q.remove(|n| Arc::ptr_eq(n, &nodes[1])).is_some());
        assert!(q.remove(|n| Arc::ptr_eq(n, &nodes[1])).is_none());
        assert!(Arc::ptr_eq(&q.pop_front().unwrap(), &nodes[0]));
        assert!(Arc::ptr_eq(&q.pop_front().unwrap(), &nodes[2]));
    }

    #[test]
    fn waitq_wait_times_out_and_withdraws() {
        struct Count(usize, usize);
        impl Cleanup for Count {
            fn withdraw(&mut self) {
                self.0 += 1;
            }
            fn abandon(&mut self, _: usize) {
                self.1 += 1;
            }
        }
        let s = Signal::new();
        let mut c = Count(0, 0);
        let r = wait(&s, Some(Instant::now()), &mut c);
        assert_eq!(r, WaitResult::TimedOut);
        assert_eq!((c.0, c.1), (1, 0));
        let s = Signal::new();
        assert!(s.try_grant(5));
        assert_eq!(wait(&s, Some(Instant::now()), &mut c), WaitResult::Granted(5));
        assert_eq!((c.0, c.1), (1, 0), "a granted wait neither withdraws nor abandons");
    }
}
