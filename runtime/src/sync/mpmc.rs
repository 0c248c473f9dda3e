//! Multi-producer, multi-consumer channels: [`mpsc`](super::mpsc)'s API
//! and semantics (and std's error types), with a [`Receiver`] that is
//! `Clone` and `Sync`. Each message goes to exactly one receiver; waiting
//! receivers are served in FIFO order. The channel disconnects for senders
//! when every receiver handle is gone.
//!
//! ```
//! use weft::sync::mpmc;
//!
//! let (tx, rx) = mpmc::sync_channel(4);
//! let workers: Vec<_> = (0..3)
//!     .map(|_| {
//!         let rx = rx.clone();
//!         weft::spawn(move || rx.iter().sum::<u64>())
//!     })
//!     .collect();
//! drop(rx);
//! for i in 1..=100 {
//!     tx.send(i).unwrap();
//! }
//! drop(tx);
//! let total: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
//! assert_eq!(total, 5050);
//! ```

use std::sync::Arc;

pub use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};

use super::chan::Chan;
use super::chan_api::{handle_impls, receiver_api};

/// Creates an unbounded channel.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan::new(None));
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// Creates a channel holding at most `bound` messages (`0`: rendezvous).
pub fn sync_channel<T>(bound: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan::new(Some(bound)));
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// The sending half; `Clone` for more producers.
pub struct Sender<T> {
    pub(crate) chan: Arc<Chan<T>>,
}

/// The receiving half; `Clone` for more consumers.
pub struct Receiver<T> {
    pub(crate) chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Sends, waiting while a bounded channel is full. `Err` gives the
    /// message back if every receiver is gone.
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        self.chan.send_blocking(t)
    }

    /// Sends without waiting.
    pub fn try_send(&self, t: T) -> Result<(), TrySendError<T>> {
        self.chan.try_send(t)
    }
}

receiver_api! {
    /// Waits for a message; `Err` once empty and every sender is gone.
    fn recv;
    /// A message if one is ready now.
    fn try_recv;
    /// Waits at most `timeout` for a message.
    fn recv_timeout;
    /// Iterates, waiting for each message, until disconnection.
    fn iter;
    /// Iterates over the messages ready now.
    fn try_iter;
}

handle_impls!(Sender, "Sender", drop = drop_sender, clone = add_sender);
handle_impls!(Receiver, "Receiver", drop = drop_receiver, clone = add_receiver);
