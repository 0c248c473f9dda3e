//! Multi-producer, single-consumer channels with the API and semantics of
//! [`std::sync::mpsc`] (and its error types), for green threads: a
//! blocking `send` or `recv` parks the green thread, never the worker, and
//! the same channel works between green threads and OS threads.
//!
//! [`channel`] is unbounded; [`sync_channel`]`(n)` holds at most `n`
//! messages and `send` waits for room; `sync_channel(0)` is a rendezvous
//! channel where each `send` waits for a `recv`. Messages from one sender
//! arrive in the order sent; waiting senders are served in FIFO order.
//! Dropping every sender (or the receiver) disconnects the channel; the
//! receiver still gets the messages already buffered. Messages still in
//! the channel when it is dropped are dropped with it.
//!
//! ```
//! use weft::sync::mpsc;
//!
//! let (tx, rx) = mpsc::channel();
//! for i in 0..3 {
//!     let tx = tx.clone();
//!     weft::spawn(move || tx.send(i).unwrap());
//! }
//! drop(tx);
//! let mut got: Vec<i32> = rx.iter().collect(); // ends when all senders are gone
//! got.sort();
//! assert_eq!(got, [0, 1, 2]);
//! ```

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::Arc;

pub use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};

use super::chan::Chan;
use super::chan_api::{handle_impls, receiver_api};

/// Creates an unbounded channel: `send` never waits.
///
/// ```
/// let (tx, rx) = weft::sync::mpsc::channel();
/// weft::spawn(move || tx.send("hello").unwrap());
/// assert_eq!(rx.recv(), Ok("hello"));
/// assert!(rx.recv().is_err(), "the sender is gone");
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan::new(None));
    (Sender { chan: chan.clone() }, Receiver::new(chan))
}

/// Creates a channel holding at most `bound` messages; `send` waits while
/// it is full. `bound == 0` makes a rendezvous channel.
pub fn sync_channel<T>(bound: usize) -> (SyncSender<T>, Receiver<T>) {
    let chan = Arc::new(Chan::new(Some(bound)));
    (SyncSender { chan: chan.clone() }, Receiver::new(chan))
}

/// The sending half of [`channel`]. Clone it for more producers.
pub struct Sender<T> {
    pub(crate) chan: Arc<Chan<T>>,
}

/// The sending half of [`sync_channel`]. Clone it for more producers.
pub struct SyncSender<T> {
    pub(crate) chan: Arc<Chan<T>>,
}

/// The receiving half of a channel. `Send` but not `Sync`, as std's: use
/// [`mpmc`](super::mpmc) to share receiving.
///
/// ```compile_fail
/// fn shared<T: Sync>(_: &T) {}
/// let (_tx, rx) = weft::sync::mpsc::channel::<u8>();
/// shared(&rx);
/// ```
pub struct Receiver<T> {
    pub(crate) chan: Arc<Chan<T>>,
    _not_sync: PhantomData<Cell<()>>,
}

impl<T> Sender<T> {
    /// Sends a message; never waits. `Err` gives it back if the receiver
    /// is gone.
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        self.chan.send_blocking(t)
    }
}

impl<T> SyncSender<T> {
    /// Sends a message, waiting while the channel is full (for a rendezvous
    /// channel: until a receiver takes it). `Err` gives it back if the
    /// receiver is gone.
    ///
    /// A sender waiting when the runtime force-unwinds its green thread
    /// gets its message back as `Err`.
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        self.chan.send_blocking(t)
    }

    /// Sends without waiting: `Full` if there is no room (no waiting
    /// receiver, for a rendezvous channel).
    pub fn try_send(&self, t: T) -> Result<(), TrySendError<T>> {
        self.chan.try_send(t)
    }
}

impl<T> Receiver<T> {
    fn new(chan: Arc<Chan<T>>) -> Receiver<T> {
        Receiver { chan, _not_sync: PhantomData }
    }
}

receiver_api! {
    /// Waits for a message. `Err` once the channel is empty and every
    /// sender is gone (or the runtime force-unwinds the waiting green
    /// thread).
    fn recv;
    /// A message if one is ready now.
    fn try_recv;
    /// Waits at most `timeout` for a message.
    fn recv_timeout;
    /// Iterates over messages, waiting for each, until disconnection.
    fn iter;
    /// Iterates over the messages ready now, without waiting.
    fn try_iter;
}

handle_impls!(Sender, "Sender", drop = drop_sender, clone = add_sender);
handle_impls!(SyncSender, "SyncSender", drop = drop_sender, clone = add_sender);
handle_impls!(Receiver, "Receiver", drop = drop_receiver);
