//! One-message channels: the sender sends once (consuming itself), the
//! receiver receives once. Dropping the sender without sending
//! disconnects; dropping the receiver makes `send` fail with the message.
//!
//! ```
//! use weft::sync::oneshot;
//!
//! let (tx, rx) = oneshot::channel();
//! weft::spawn(move || tx.send(42).unwrap());
//! assert_eq!(rx.recv(), Ok(42));
//! ```

use std::sync::Arc;
use std::time::Duration;

pub use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError};

use super::chan::Chan;
use super::chan_api::handle_impls;

/// Creates a one-message channel.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    // Capacity one: the single send never waits.
    let chan = Arc::new(Chan::new(Some(1)));
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// Sends the one message.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// Receives the one message. It can be selected on by reference in
/// [`select!`](crate::select).
pub struct Receiver<T> {
    pub(crate) chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Sends the message; never waits. `Err` gives it back if the receiver
    /// is gone.
    pub fn send(self, t: T) -> Result<(), SendError<T>> {
        self.chan.send_blocking(t)
    }
}

impl<T> Receiver<T> {
    /// Waits for the message; `Err` if the sender was dropped unsent.
    pub fn recv(self) -> Result<T, RecvError> {
        self.chan.recv_blocking()
    }

    /// The message if it has arrived. After it has been taken once, the
    /// channel reports `Disconnected`.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan.try_recv()
    }

    /// Waits at most `timeout` for the message.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.chan.recv_timeout(timeout)
    }
}

handle_impls!(Sender, "oneshot::Sender", drop = drop_sender);
handle_impls!(Receiver, "oneshot::Receiver", drop = drop_receiver);
