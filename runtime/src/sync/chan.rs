//! The channel core shared by `mpsc`, `mpmc`, `oneshot` and `select!`.
//!
//! One internal lock guards the buffer, the two wait queues and the
//! disconnection flags (Go's `hchan` design). Every operation is a few
//! instructions under that lock; a thread that has to wait parks only after
//! releasing it.
//!
//! # Direct handoff
//!
//! Messages move straight between threads whenever someone waits:
//!
//! * `send` with a receiver waiting writes the message into the receiver's
//!   wait node and grants it; the message never touches the buffer.
//! * `recv` from a full bounded channel takes the buffer's head and moves
//!   the oldest waiting sender's message into the freed place (granting
//!   that sender), so senders complete in FIFO order and a newcomer cannot
//!   overtake them.
//! * A rendezvous channel (`sync_channel(0)`) has no buffer: a send
//!   completes only by meeting a receiver (waiting, or arriving later and
//!   taking the sender's message from its node).
//!
//! # Wait nodes ([`Waiter`])
//!
//! A waiter is an `Arc` on the heap with its [`Signal`], the select arm it
//! stands for, and a slot for the message: a waiting sender's message, or
//! the message handed to a waiting receiver. The slot is touched only
//! under the channel lock, or by its owner after the grant (the message
//! was written before the grant's `Release`) or after withdrawing the node
//! under the lock. A waker writes a receiver's slot *before* trying the
//! grant and takes the message back if the grant fails (the node was
//! decided elsewhere), so the owner of a decided node never finds a
//! message it did not win. A waker takes a sender's message only after
//! its grant succeeded.
//!
//! The grant token is `arm * 2 + disconnected`: which select arm fired
//! (0 outside select), and whether it fired because the other side is gone.
//!
//! # Disconnection
//!
//! When the last sender goes, waiting receivers are granted "disconnected";
//! receivers drain the buffer first, as std's. When the last receiver
//! goes, waiting senders are granted "disconnected" and take their message
//! back, and buffered messages are dropped at once (nobody can receive
//! them). Messages are always dropped outside the lock: a message's `Drop`
//! may use this very channel.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{AcqRel, Relaxed};
use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::shim::Lock;
use super::waitq::{self, Cleanup, Node, Signal, WaitQueue, WaitResult};

/// Set in a grant token when the other side disconnected.
pub(crate) const DISCONNECTED: usize = 1;

/// The shared state of one channel. Any thread.
pub(crate) struct Chan<T> {
    state: Lock<State<T>>,
    /// `None`: unbounded. `Some(0)`: rendezvous.
    cap: Option<usize>,
    /// Live sender and receiver handles.
    senders: AtomicUsize,
    receivers: AtomicUsize,
}

struct State<T> {
    buf: VecDeque<T>,
    /// Receivers waiting for a message (the buffer is empty).
    recvq: WaitQueue<Arc<Waiter<T>>>,
    /// Senders waiting with a message (the buffer is full).
    sendq: WaitQueue<Arc<Waiter<T>>>,
    no_senders: bool,
    no_receivers: bool,
}

/// A thread waiting on this channel (see the module docs).
pub(crate) struct Waiter<T> {
    signal: SignalRef,
    arm: usize,
    slot: UnsafeCell<Option<T>>,
}

enum SignalRef {
    /// A plain send or receive: the node is its own signal.
    Own(Signal),
    /// One arm of a select: all arms share the select's signal.
    Shared(Arc<Signal>),
}

// SAFETY: the slot is accessed under the channel lock, or by the owner after
// a grant or withdrawal ordered by the lock or the signal (module docs), so
// a `T` only ever moves between threads: `T: Send` suffices.
unsafe impl<T: Send> Sync for Waiter<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for Waiter<T> {}

impl<T> Node for Arc<Waiter<T>> {
    fn signal(&self) -> &Signal {
        match &self.signal {
            SignalRef::Own(s) => s,
            SignalRef::Shared(s) => s,
        }
    }
}

impl<T> Waiter<T> {
    fn own(message: Option<T>) -> Arc<Waiter<T>> {
        Arc::new(Waiter { signal: SignalRef::Own(Signal::new()), arm: 0, slot: UnsafeCell::new(message) })
    }

    /// A select arm's node.
    pub(crate) fn shared(signal: Arc<Signal>, arm: usize, message: Option<T>) -> Arc<Waiter<T>> {
        Arc::new(Waiter { signal: SignalRef::Shared(signal), arm, slot: UnsafeCell::new(message) })
    }

    /// Owner only, once nobody else can reach the slot: after a grant, or
    /// after withdrawing the node (or never having queued it).
    fn take_owned(self: &Arc<Self>) -> Option<T> {
        // SAFETY: the caller guarantees exclusive access (see above).
        unsafe { (*self.slot.get()).take() }
    }
}

/// How long an operation may wait.
#[derive(Clone, Copy)]
pub(crate) enum Block {
    /// Not at all (`try_*`).
    No,
    /// Until the deadline (`None`: forever).
    Until(Option<Instant>),
}

impl Block {
    pub(crate) fn timeout(dur: Duration) -> Block {
        Block::Until(Instant::now().checked_add(dur))
    }
}

/// Why a send did not happen; the message comes back.
pub(crate) enum SendFail<T> {
    /// Full (or no receiver for a rendezvous) and not allowed to wait
    /// longer.
    Full(T),
    Disconnected(T),
}

/// Why a receive did not happen.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RecvFail {
    Empty,
    Disconnected,
}

impl<T> Chan<T> {
    /// A channel with one sender and one receiver handle counted.
    pub(crate) fn new(cap: Option<usize>) -> Chan<T> {
        Chan {
            state: Lock::new(State {
                buf: VecDeque::new(),
                recvq: WaitQueue::new(),
                sendq: WaitQueue::new(),
                no_senders: false,
                no_receivers: false,
            }),
            cap,
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
        }
    }

    pub(crate) fn add_sender(&self) {
        self.senders.fetch_add(1, Relaxed);
    }

    pub(crate) fn add_receiver(&self) {
        self.receivers.fetch_add(1, Relaxed);
    }

    /// A sender handle is gone; the last one disconnects.
    pub(crate) fn drop_sender(&self) {
        if self.senders.fetch_sub(1, AcqRel) == 1 {
            let waiters = {
                let mut st = self.state.lock();
                st.no_senders = true;
                st.recvq.take_all()
            };
            grant_each(waiters, DISCONNECTED);
        }
    }

    /// A receiver handle is gone; the last one disconnects and drops the
    /// buffered messages.
    pub(crate) fn drop_receiver(&self) {
        if self.receivers.fetch_sub(1, AcqRel) == 1 {
            let (waiters, buffered) = {
                let mut st = self.state.lock();
                st.no_receivers = true;
                (st.sendq.take_all(), std::mem::take(&mut st.buf))
            };
            grant_each(waiters, DISCONNECTED);
            drop(buffered);
        }
    }

    /// Sends `message`, waiting as `block` allows.
    pub(crate) fn send(&self, message: T, block: Block) -> Result<(), SendFail<T>> {
        let mut st = self.state.lock();
        if st.no_receivers {
            return Err(SendFail::Disconnected(message));
        }
        let message = match self.send_now(&mut st, message) {
            Ok(woken) => {
                drop(st);
                if let Some(w) = woken {
                    w.signal().unpark();
                }
                return Ok(());
            }
            Err(message) => message,
        };
        let deadline = match block {
            Block::No => return Err(SendFail::Full(message)),
            Block::Until(deadline) => deadline,
        };
        let waiter = Waiter::own(Some(message));
        st.sendq.push(waiter.clone());
        drop(st);
        let _waiting = crate::observe::waiting_on(crate::observe::WaitReason::ChannelSend {
            object: (self as *const Self).cast::<()>() as usize,
        });
        let result = waitq::wait(waiter.signal(), deadline, &mut Withdraw { chan: self, waiter: &waiter, send: true });
        let back = || waiter.take_owned().expect("a sender that was not served has its message");
        match result {
            WaitResult::Granted(token) if token & DISCONNECTED == 0 => Ok(()),
            WaitResult::Granted(_) | WaitResult::Cancelled => Err(SendFail::Disconnected(back())),
            WaitResult::TimedOut => Err(SendFail::Full(back())),
        }
    }

    /// Receives a message, waiting as `block` allows.
    pub(crate) fn recv(&self, block: Block) -> Result<T, RecvFail> {
        let mut st = self.state.lock();
        if let Some((message, woken)) = self.recv_now(&mut st) {
            drop(st);
            if let Some(w) = woken {
                w.signal().unpark();
            }
            return Ok(message);
        }
        if st.no_senders {
            return Err(RecvFail::Disconnected);
        }
        let deadline = match block {
            Block::No => return Err(RecvFail::Empty),
            Block::Until(deadline) => deadline,
        };
        let waiter = Waiter::own(None);
        st.recvq.push(waiter.clone());
        drop(st);
        let _waiting = crate::observe::waiting_on(crate::observe::WaitReason::ChannelRecv {
            object: (self as *const Self).cast::<()>() as usize,
        });
        let result = waitq::wait(waiter.signal(), deadline, &mut Withdraw { chan: self, waiter: &waiter, send: false });
        match result {
            WaitResult::Granted(token) if token & DISCONNECTED == 0 => {
                Ok(waiter.take_owned().expect("a granted receiver has its message"))
            }
            WaitResult::Granted(_) | WaitResult::Cancelled => Err(RecvFail::Disconnected),
            WaitResult::TimedOut => Err(RecvFail::Empty),
        }
    }

    /// Under the lock: completes a send now if it can (to a waiting
    /// receiver, or into the buffer). `Ok` carries the receiver to unpark
    /// after unlocking; `Err` gives the message back: it would block.
    fn send_now(&self, st: &mut State<T>, mut message: T) -> Result<Option<Arc<Waiter<T>>>, T> {
        while let Some(w) = st.recvq.pop_front() {
            if !w.signal().is_waiting() {
                continue;
            }
            // SAFETY: under the lock; the owner reads the slot only after a
            // grant, and we take the message back if the grant fails.
            unsafe { *w.slot.get() = Some(message) };
            if w.signal().try_grant(w.arm * 2) {
                return Ok(Some(w));
            }
            // SAFETY: as above; the grant failed, so the slot is still ours.
            message = unsafe { (*w.slot.get()).take() }.expect("just written");
        }
        if self.cap.is_none_or(|cap| st.buf.len() < cap) {
            st.buf.push_back(message);
            return Ok(None);
        }
        Err(message)
    }

    /// Under the lock: takes a message now if there is one (buffered, or
    /// from a waiting sender), with the sender to unpark, if any.
    fn recv_now(&self, st: &mut State<T>) -> Option<(T, Option<Arc<Waiter<T>>>)> {
        let buffered = st.buf.pop_front();
        while let Some(w) = st.sendq.pop_front() {
            if !w.signal().try_grant(w.arm * 2) {
                continue;
            }
            // SAFETY: under the lock, after our grant won: the sender's
            // message is ours to take and its owner will not touch it.
            let message = unsafe { (*w.slot.get()).take() }.expect("a waiting sender has a message");
            return Some(match buffered {
                // A place freed in a full buffer: the oldest sender's
                // message takes it.
                Some(head) => {
                    st.buf.push_back(message);
                    (head, Some(w))
                }
                None => (message, Some(w)),
            });
        }
        buffered.map(|message| (message, None))
    }

    /// Select, registration: queue `waiter` as a receiver unless the
    /// channel can complete a receive now (then `false`: the select must
    /// give up its signal and retry).
    pub(crate) fn register_recv(&self, waiter: &Arc<Waiter<T>>) -> bool {
        let mut st = self.state.lock();
        if !st.buf.is_empty() || st.no_senders || st.sendq.has_waiting_except(Some(waiter.signal())) {
            return false;
        }
        st.recvq.push(waiter.clone());
        true
    }

    /// Select, registration: queue `waiter` (holding the message) as a
    /// sender unless a send can complete now.
    pub(crate) fn register_send(&self, waiter: &Arc<Waiter<T>>) -> bool {
        let mut st = self.state.lock();
        let room = self.cap.is_none_or(|cap| st.buf.len() < cap);
        if st.no_receivers || room || st.recvq.has_waiting_except(Some(waiter.signal())) {
            return false;
        }
        st.sendq.push(waiter.clone());
        true
    }

    /// Select, cleanup: removes `waiter` if still queued and returns what
    /// its slot holds (a losing sender's message; a winning receiver's).
    pub(crate) fn unregister(&self, waiter: &Arc<Waiter<T>>, send: bool) -> Option<T> {
        let mut st = self.state.lock();
        let queue = if send { &mut st.sendq } else { &mut st.recvq };
        queue.remove(|n| Arc::ptr_eq(n, waiter));
        // Under the lock and no longer queued: nobody else reaches the slot.
        waiter.take_owned()
    }

    /// A waiter that was never queued gives its message back.
    pub(crate) fn unqueued_message(waiter: &Arc<Waiter<T>>) -> Option<T> {
        waiter.take_owned()
    }
}

/// Grants each node "disconnected" for its own arm and wakes it. Call
/// without the lock.
fn grant_each<T>(waiters: VecDeque<Arc<Waiter<T>>>, flag: usize) {
    for w in waiters {
        if w.signal().try_grant(w.arm * 2 + flag) {
            w.signal().unpark();
        }
    }
}

/// A plain send or receive giving up.
struct Withdraw<'a, T> {
    chan: &'a Chan<T>,
    waiter: &'a Arc<Waiter<T>>,
    send: bool,
}

impl<T> Cleanup for Withdraw<'_, T> {
    fn withdraw(&mut self) {
        let mut st = self.chan.state.lock();
        let queue = if self.send { &mut st.sendq } else { &mut st.recvq };
        queue.remove(|n| Arc::ptr_eq(n, self.waiter));
    }

    fn abandon(&mut self, _: usize) {
        // A message handed to a receiver that is unwinding is dropped with
        // its node; a sender's message was delivered. Nothing is owed.
    }
}

/// std's error types for the public channel APIs.
impl<T> Chan<T> {
    pub(crate) fn send_blocking(&self, message: T) -> Result<(), SendError<T>> {
        match self.send(message, Block::Until(None)) {
            Ok(()) => Ok(()),
            Err(SendFail::Disconnected(m) | SendFail::Full(m)) => Err(SendError(m)),
        }
    }

    pub(crate) fn try_send(&self, message: T) -> Result<(), TrySendError<T>> {
        match self.send(message, Block::No) {
            Ok(()) => Ok(()),
            Err(SendFail::Full(m)) => Err(TrySendError::Full(m)),
            Err(SendFail::Disconnected(m)) => Err(TrySendError::Disconnected(m)),
        }
    }

    pub(crate) fn recv_blocking(&self) -> Result<T, RecvError> {
        self.recv(Block::Until(None)).map_err(|_| RecvError)
    }

    pub(crate) fn try_recv(&self) -> Result<T, TryRecvError> {
        self.recv(Block::No).map_err(|fail| match fail {
            RecvFail::Empty => TryRecvError::Empty,
            RecvFail::Disconnected => TryRecvError::Disconnected,
        })
    }

    pub(crate) fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv(Block::timeout(timeout)).map_err(|fail| match fail {
            RecvFail::Empty => RecvTimeoutError::Timeout,
            RecvFail::Disconnected => RecvTimeoutError::Disconnected,
        })
    }
}
