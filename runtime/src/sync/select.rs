//! `select!`: wait on several channel operations, complete exactly one.
//!
//! # Protocol
//!
//! [`run`] drives the arms the macro builds (each a [`RecvArm`] or
//! [`SendArm`] on the caller's stack; what other threads see of them is on
//! the heap):
//!
//! 1. **Try**: each arm, starting at a random one (so no arm starves),
//!    tries its operation without waiting, under its channel's lock. The
//!    first that completes fires; nothing was registered anywhere.
//! 2. With a non-blocking `default`, nothing ready means `default` fires.
//! 3. **Register**: one [`Signal`] for the whole select; each arm, under
//!    its channel's lock, either queues a node (pointing to that signal,
//!    with its arm index, holding a send arm's message) or finds its
//!    channel ready after all (something changed since step 1). Then the
//!    select aborts its signal and starts over at step 1: the abort is
//!    final, so no channel can fire it any more. If the abort fails, a
//!    channel fired one of the already registered arms: go to step 5.
//! 4. **Wait** for the signal ([`wait`]), with the `default(timeout)`
//!    deadline if any. The first channel to grant the signal decides the
//!    arm; the grant is one CAS, so only one channel can win, and a channel
//!    that finds the signal decided skips that node and serves its next
//!    waiter: a losing arm consumes nothing.
//! 5. **Unregister** every arm under its channel's lock: remove the node
//!    if it is still queued, and take back what its slot holds (the
//!    message a winning receive got; the message a losing send still
//!    holds, which returns to the arm, so it is dropped exactly once, with
//!    the arm, unless it was sent).
//!
//! Because registering an arm and checking its channel happen under the
//! same lock, any change after registration finds the node: no wakeup is
//! lost between step 3 and the park.
//!
//! [`wait`]: super::waitq::wait

use std::cell::Cell;
use std::fmt;
use std::sync::mpsc::{RecvError, SendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::chan::{Block, Chan, RecvFail, SendFail, Waiter, DISCONNECTED};
use super::waitq::{self, Cleanup, Signal, WaitResult};
use super::{mpmc, mpsc, oneshot};

mod sealed {
    pub trait Sealed {}
}

/// The select's shared signal, as the arms see it. Internal to `select!`.
#[doc(hidden)]
pub struct SelectToken {
    signal: Arc<Signal>,
}

/// One operation of a `select!`. Internal to `select!`: implemented only by
/// [`RecvArm`] and [`SendArm`].
#[doc(hidden)]
pub trait Arm: sealed::Sealed {
    /// Step 1: complete now if possible (then true, with the result kept).
    fn try_now(&mut self) -> bool;
    /// Step 3: queue a node for `token` as arm `index`; false if the
    /// channel turned out ready (nothing queued).
    fn register(&mut self, token: &SelectToken, index: usize) -> bool;
    /// Step 5: remove the node (if any) and take back its slot.
    fn unregister(&mut self);
    /// This arm won: record its result.
    fn complete(&mut self, disconnected: bool);
}

/// How long a select may wait. Internal to `select!`.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub enum Timeout {
    /// No `default` arm: wait for an operation.
    Never,
    /// `default => ...`: do not wait.
    Now,
    /// `default(duration) => ...`: wait at most this long.
    After(Duration),
}

/// A receive arm. Internal to `select!`.
#[doc(hidden)]
pub struct RecvArm<'a, T> {
    chan: &'a Chan<T>,
    waiter: Option<Arc<Waiter<T>>>,
    /// The message taken back from the node (a winning arm's).
    received: Option<T>,
    result: Option<Result<T, RecvError>>,
}

/// A send arm; holds its message until it is sent. Internal to `select!`.
#[doc(hidden)]
pub struct SendArm<'a, T> {
    chan: &'a Chan<T>,
    message: Option<T>,
    waiter: Option<Arc<Waiter<T>>>,
    result: Option<Result<(), SendError<T>>>,
}

impl<'a, T> RecvArm<'a, T> {
    fn new(chan: &'a Chan<T>) -> RecvArm<'a, T> {
        RecvArm { chan, waiter: None, received: None, result: None }
    }

    /// Whether this arm fired.
    pub fn fired(&self) -> bool {
        self.result.is_some()
    }

    /// The fired arm's result.
    pub fn into_result(mut self) -> Result<T, RecvError> {
        self.result.take().expect("select!: only the fired arm's result is taken")
    }
}

impl<'a, T> SendArm<'a, T> {
    fn new(chan: &'a Chan<T>, message: T) -> SendArm<'a, T> {
        SendArm { chan, message: Some(message), waiter: None, result: None }
    }

    /// Whether this arm fired.
    pub fn fired(&self) -> bool {
        self.result.is_some()
    }

    /// The fired arm's result.
    pub fn into_result(mut self) -> Result<(), SendError<T>> {
        self.result.take().expect("select!: only the fired arm's result is taken")
    }
}

impl<T> sealed::Sealed for RecvArm<'_, T> {}
impl<T> sealed::Sealed for SendArm<'_, T> {}

impl<T> Arm for RecvArm<'_, T> {
    fn try_now(&mut self) -> bool {
        match self.chan.recv(Block::No) {
            Ok(message) => self.result = Some(Ok(message)),
            Err(RecvFail::Disconnected) => self.result = Some(Err(RecvError)),
            Err(RecvFail::Empty) => return false,
        }
        true
    }

    fn register(&mut self, token: &SelectToken, index: usize) -> bool {
        let waiter = Waiter::shared(token.signal.clone(), index, None);
        let queued = self.chan.register_recv(&waiter);
        if queued {
            self.waiter = Some(waiter);
        }
        queued
    }

    fn unregister(&mut self) {
        if let Some(waiter) = self.waiter.take() {
            if let Some(message) = self.chan.unregister(&waiter, false) {
                self.received = Some(message);
            }
        }
    }

    fn complete(&mut self, disconnected: bool) {
        self.result = Some(match self.received.take() {
            Some(message) if !disconnected => Ok(message),
            _ => Err(RecvError),
        });
    }
}

impl<T> Arm for SendArm<'_, T> {
    fn try_now(&mut self) -> bool {
        let message = self.message.take().expect("a send arm holds its message until sent");
        match self.chan.send(message, Block::No) {
            Ok(()) => self.result = Some(Ok(())),
            Err(SendFail::Disconnected(message)) => self.result = Some(Err(SendError(message))),
            Err(SendFail::Full(message)) => {
                self.message = Some(message);
                return false;
            }
        }
        true
    }

    fn register(&mut self, token: &SelectToken, index: usize) -> bool {
        let waiter = Waiter::shared(token.signal.clone(), index, self.message.take());
        if self.chan.register_send(&waiter) {
            self.waiter = Some(waiter);
            true
        } else {
            self.message = Chan::unqueued_message(&waiter);
            false
        }
    }

    fn unregister(&mut self) {
        if let Some(waiter) = self.waiter.take() {
            if let Some(message) = self.chan.unregister(&waiter, true) {
                self.message = Some(message);
            }
        }
    }

    fn complete(&mut self, disconnected: bool) {
        self.result = Some(if disconnected {
            Err(SendError(self.message.take().expect("a disconnected send arm got its message back")))
        } else {
            Ok(())
        });
    }
}

/// Runs a select over `arms`; returns the index of the arm that fired, or
/// `arms.len()` if the `default` arm (timeout) fired. Internal to
/// `select!`.
///
/// # Panics
///
/// If it would wait while the runtime force-unwinds the calling green
/// thread at shutdown, and there is no `default` arm to fire instead.
#[doc(hidden)]
pub fn run(arms: &mut [&mut dyn Arm], timeout: Timeout) -> usize {
    let n = arms.len();
    let start = random_below(n);
    let order = move |k: usize| (start + k) % n;
    let deadline = match timeout {
        Timeout::After(d) => Instant::now().checked_add(d),
        Timeout::Never | Timeout::Now => None,
    };
    loop {
        // 1. Try.
        for k in 0..n {
            if arms[order(k)].try_now() {
                return order(k);
            }
        }
        // 2. Non-blocking.
        if let Timeout::Now = timeout {
            return n;
        }
        // 3. Register.
        let token = SelectToken { signal: Arc::new(Signal::new()) };
        let ready = (0..n).any(|k| !arms[order(k)].register(&token, order(k)));
        let result = if ready {
            match token.signal.abort() {
                Ok(()) => {
                    unregister_all(arms);
                    continue;
                }
                Err(granted) => WaitResult::Granted(granted),
            }
        } else {
            // 4. Wait.
            let object = &token.signal as *const _ as usize;
            let _waiting = crate::observe::waiting_on(crate::observe::WaitReason::Select { object });
            waitq::wait(&token.signal, deadline, &mut Unregister { arms })
        };
        // 5. Unregister.
        return match result {
            WaitResult::Granted(grant) => {
                unregister_all(arms);
                let index = grant / 2;
                arms[index].complete(grant & DISCONNECTED != 0);
                index
            }
            WaitResult::TimedOut => n,
            WaitResult::Cancelled if matches!(timeout, Timeout::After(_)) => n,
            WaitResult::Cancelled => panic!("weft: select! would block while the runtime shuts down"),
        };
    }
}

fn unregister_all(arms: &mut [&mut dyn Arm]) {
    for arm in arms.iter_mut() {
        arm.unregister();
    }
}

/// A select giving up (timeout, cancellation, unwinding).
struct Unregister<'a, 'b> {
    arms: &'a mut [&'b mut dyn Arm],
}

impl Cleanup for Unregister<'_, '_> {
    fn withdraw(&mut self) {
        unregister_all(self.arms);
    }

    fn abandon(&mut self, _: usize) {
        // An arm fired but the select is unwinding: a received message is
        // dropped with its arm, a sent one was delivered.
        unregister_all(self.arms);
    }
}

/// A uniform-enough index in `0..n` from a per-OS-thread xorshift: spreads
/// which arm a select tries first.
fn random_below(n: usize) -> usize {
    thread_local! {
        static STATE: Cell<u64> = const { Cell::new(0x9E37_79B9_7F4A_7C15) };
    }
    // Loom replays each execution and needs every choice to repeat.
    if n <= 1 || cfg!(loom) {
        return 0;
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x % n as u64) as usize
    })
}

/// A receiver `select!` can receive from: the receivers of [`mpsc`],
/// [`mpmc`] and [`oneshot`] (`select!` takes them by reference).
pub trait SelectRecv: sealed::Sealed {
    /// The message type.
    type Item;
    #[doc(hidden)]
    fn recv_arm(&self) -> RecvArm<'_, Self::Item>;
}

/// A sender `select!` can send on: [`mpsc::Sender`], [`mpsc::SyncSender`]
/// and [`mpmc::Sender`] (`select!` takes them by reference).
pub trait SelectSend: sealed::Sealed {
    /// The message type.
    type Item;
    #[doc(hidden)]
    fn send_arm(&self, message: Self::Item) -> SendArm<'_, Self::Item>;
}

macro_rules! selectable {
    ($trait:ident, $method:ident, $arm:ident, $($ty:ty),*) => {$(
        impl<T> sealed::Sealed for $ty {}
        impl<T> $trait for $ty {
            type Item = T;
            selectable!(@method $method $arm);
        }
    )*};
    (@method recv_arm $arm:ident) => {
        fn recv_arm(&self) -> RecvArm<'_, T> {
            $arm::new(&self.chan)
        }
    };
    (@method send_arm $arm:ident) => {
        fn send_arm(&self, message: T) -> SendArm<'_, T> {
            $arm::new(&self.chan, message)
        }
    };
}

selectable!(SelectRecv, recv_arm, RecvArm, mpsc::Receiver<T>, mpmc::Receiver<T>, oneshot::Receiver<T>);
selectable!(SelectSend, send_arm, SendArm, mpsc::Sender<T>, mpsc::SyncSender<T>, mpmc::Sender<T>);

impl<T> fmt::Debug for RecvArm<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvArm").field("fired", &self.fired()).finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for SendArm<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendArm").field("fired", &self.fired()).finish_non_exhaustive()
    }
}

impl fmt::Debug for SelectToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelectToken").finish_non_exhaustive()
    }
}
