//! Printing a dump when the process receives a signal, as Go does on
//! `SIGQUIT` (and the JVM for `jstack`).
//!
//! Opt-in, per runtime: `RuntimeBuilder::dump_on_signal(signal)`, or the
//! environment variable `WEFT_DUMP_SIGNAL` (`QUIT`, `USR1`, ..., or a
//! number) for the default runtime and every builder that does not set it.
//!
//! # How
//!
//! One listener per signal number for the whole process, shared by every
//! runtime that asked for that signal: a program (or a test binary) with a
//! hundred runtimes gets one thread and one [`Signals`] slot, not a hundred
//! (there are only 64 slots). The first runtime to ask starts it; the last
//! one to be dropped stops it.
//!
//! The listener is a dedicated OS thread, not a green thread: a dump is
//! wanted most when the workers are stuck, and then no green thread runs. It
//! waits in its own epoll instance for the signal's pipe or a stop eventfd.
//! On the signal it prints to stderr the dump of each runtime that asked
//! for it and goes on listening: unlike Go, the process keeps running (Go
//! exits after its `SIGQUIT` dump; an operator who wants to see what a
//! server is doing rarely wants the outage too). While any runtime listens,
//! the signal's default action (for `SIGQUIT`: quit with a core dump) does
//! not apply; it is restored when the last one goes.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;

use super::dump::Dump;
use crate::sched::Shared;
use crate::signal::{Signal, Signals};
use crate::sys::epoll::{self, Epoll};
use crate::sys::eventfd::EventFd;

const SIGNAL_TOKEN: u64 = 0;
const STOP_TOKEN: u64 = 1;

/// The runtimes that asked for one signal. Any thread.
type Subscribers = Arc<Mutex<Vec<Weak<Shared>>>>;

/// The listener thread of one signal number.
struct Listener {
    signal: Signal,
    subscribers: Subscribers,
    stop: EventFd,
    thread: Option<JoinHandle<()>>,
}

/// Every running listener, at most one per signal.
static LISTENERS: Mutex<Vec<Listener>> = Mutex::new(Vec::new());

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while these locks are held.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A runtime's subscription to the dump on one signal; dropping it
/// unsubscribes (and stops the listener if it was the last).
pub(crate) struct SignalDumper {
    signal: Signal,
    runtime: Weak<Shared>,
}

impl SignalDumper {
    /// Subscribes `shared` to dumps on `signal`, starting the signal's
    /// listener thread (`weft-dump-{signal}`) if it is the first.
    pub(crate) fn start(shared: &Arc<Shared>, signal: Signal) -> io::Result<SignalDumper> {
        let mut listeners = lock(&LISTENERS);
        let index = match listeners.iter().position(|l| l.signal == signal) {
            Some(index) => index,
            None => {
                listeners.push(Listener::start(signal)?);
                listeners.len() - 1
            }
        };
        lock(&listeners[index].subscribers).push(Arc::downgrade(shared));
        Ok(SignalDumper { signal, runtime: Arc::downgrade(shared) })
    }
}

impl Drop for SignalDumper {
    fn drop(&mut self) {
        let last = {
            let mut listeners = lock(&LISTENERS);
            let Some(index) = listeners.iter().position(|l| l.signal == self.signal) else { return };
            let empty = {
                let mut subscribers = lock(&listeners[index].subscribers);
                subscribers.retain(|rt| !rt.ptr_eq(&self.runtime) && rt.strong_count() > 0);
                subscribers.is_empty()
            };
            empty.then(|| listeners.swap_remove(index))
        };
        // Stopped (joined) outside the lock: the thread may be printing.
        drop(last);
    }
}

impl Listener {
    fn start(signal: Signal) -> io::Result<Listener> {
        let signals = Signals::new(&[signal])?;
        let epoll = Epoll::new()?;
        let stop = EventFd::new()?;
        epoll.add(signals.pipe_fd(), epoll::READABLE, SIGNAL_TOKEN)?;
        epoll.add(stop.as_raw_fd(), epoll::READABLE, STOP_TOKEN)?;
        let subscribers = Subscribers::default();
        let thread = {
            let subscribers = subscribers.clone();
            std::thread::Builder::new()
                .name(format!("weft-dump-{signal}"))
                .spawn(move || listen(&signals, &epoll, &subscribers))?
        };
        Ok(Listener { signal, subscribers, stop, thread: Some(thread) })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.notify();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The listener thread: one dump per wakeup by the signal (signals that
/// arrive together coalesce), until the stop eventfd is written.
fn listen(signals: &Signals, epoll: &Epoll, subscribers: &Mutex<Vec<Weak<Shared>>>) {
    let mut events = epoll::events(2);
    loop {
        if let Err(e) = epoll.wait(&mut events, None) {
            eprintln!("weft: the dump-on-signal listener stops: epoll_wait failed: {e}");
            return;
        }
        if events.iter().any(|e| e.u64 == STOP_TOKEN) {
            return;
        }
        let mut got = None;
        while let Ok(Some(signal)) = signals.try_wait() {
            got = Some(signal);
        }
        let Some(signal) = got else { continue };
        let runtimes: Vec<Arc<Shared>> = lock(subscribers).iter().filter_map(Weak::upgrade).collect();
        let mut dump = Dump::new();
        for shared in runtimes.iter().filter(|rt| !rt.shutdown.load(std::sync::atomic::Ordering::Acquire)) {
            dump.add_runtime(shared);
        }
        eprint!("weft: signal {signal} received\n{dump}");
    }
}
