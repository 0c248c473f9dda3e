//! Waiting for Unix signals from a green thread: [`Signals`].
//!
//! A server's graceful shutdown waits for `SIGTERM` or `SIGINT` in a green
//! thread and then stops accepting. `Signals::wait` parks the green thread
//! (an OS thread blocks); the worker runs the others meanwhile.
//!
//! ```no_run
//! use weft::signal::{Signals, SIGINT, SIGTERM};
//!
//! let signals = Signals::new(&[SIGINT, SIGTERM])?;
//! let stopper = weft::spawn(move || signals.wait());
//! // ... serve ...
//! let signal = stopper.join().unwrap()?;
//! println!("got signal {signal}, shutting down");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! While a `Signals` listens to a signal, that signal no longer has its
//! previous disposition (for `SIGINT`: killing the process); when the last
//! listener of a signal is dropped, the previous disposition is restored.
//! Signals arriving while nobody waits are kept (one pending byte each, up
//! to the pipe's capacity) and returned by the next `wait`. Delivery is by
//! a handler writing to a pipe (the self-pipe trick); `sys/sigpipe.rs`
//! explains why not `signalfd`.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};

use crate::io::Pollable;
use crate::observe::{self, WaitReason};
use crate::sys::sigpipe;

/// A signal number, as in `libc` (`SIGINT` is 2).
pub type Signal = i32;

/// Interrupt from the keyboard (Ctrl-C).
pub const SIGINT: Signal = libc::SIGINT;
/// Termination request (what `kill` and service managers send).
pub const SIGTERM: Signal = libc::SIGTERM;
/// Hang-up; by convention, "reload the configuration".
pub const SIGHUP: Signal = libc::SIGHUP;
/// Quit from the keyboard (Ctrl-\).
pub const SIGQUIT: Signal = libc::SIGQUIT;
/// User-defined signal 1.
pub const SIGUSR1: Signal = libc::SIGUSR1;
/// User-defined signal 2.
pub const SIGUSR2: Signal = libc::SIGUSR2;

/// A listener for a set of signals. At most 64 exist at once.
pub struct Signals {
    slot: usize,
    pipe: Pollable<File>,
    signals: Vec<Signal>,
}

impl Signals {
    /// Starts listening to `signals` (any catchable signal except the
    /// faults `SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE`, which are
    /// `InvalidInput`). From this call on, a delivered signal is kept until
    /// [`wait`](Signals::wait) returns it.
    pub fn new(signals: &[Signal]) -> io::Result<Signals> {
        if signals.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "weft: Signals::new needs at least one signal"));
        }
        for &signal in signals {
            sigpipe::check(signal)?;
        }
        let (slot, reader) = sigpipe::listen(signals)?;
        Ok(Signals { slot, pipe: Pollable::from_nonblocking(File::from(reader)), signals: signals.to_vec() })
    }

    /// Waits for one of the signals and returns its number. Parks a green
    /// thread; blocks an OS thread.
    pub fn wait(&self) -> io::Result<Signal> {
        let mask = self.signals.iter().fold(0u64, |m, &s| m | 1 << (s - 1));
        let _waiting = observe::waiting_on(WaitReason::Signal { mask });
        let mut byte = [0u8; 1];
        loop {
            let n = self.pipe.read_with(|mut file| file.read(&mut byte))?;
            if n == 1 {
                return Ok(Signal::from(byte[0]));
            }
        }
    }

    /// A signal that has arrived and not been returned yet, without waiting.
    pub fn try_wait(&self) -> io::Result<Option<Signal>> {
        let mut byte = [0u8; 1];
        match self.pipe.get_ref().read(&mut byte) {
            Ok(1) => Ok(Some(Signal::from(byte[0]))),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Signals {
    /// The read end of its pipe, readable while a signal is pending (the
    /// dump-on-signal listener waits for it in its own epoll instance).
    pub(crate) fn pipe_fd(&self) -> RawFd {
        self.pipe.as_raw_fd()
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        sigpipe::unlisten(self.slot);
    }
}

impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signals").field("signals", &self.signals).finish()
    }
}
