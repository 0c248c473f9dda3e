//! Observing a running program: the hog monitor, green-thread dumps, wait
//! states and stack high-water marks (DESIGN.md decision 4: nothing blocks
//! a worker silently).
//!
//! A green-thread runtime lives or dies by how fast a user finds the one
//! call that blocks a worker. This module answers three questions:
//!
//! * **Which green thread is holding up its worker?** The monitor thread
//!   ([`HogReport`], `monitor.rs`) reports a green thread that runs longer
//!   than a threshold (default [`DEFAULT_MONITOR_THRESHOLD`], 100 ms) without
//!   reaching a blocking point: by name and id, with advice.
//! * **What is every green thread doing?** [`dump`](crate::dump) and
//!   [`Runtime::dump`](crate::Runtime::dump) list each live green thread:
//!   running, ready, or parked on what (a socket read on fd N, a sleep until
//!   when, a join, a signal, the blocking pool, a lock or channel) and for
//!   how long. Opt-in, a signal prints it to stderr (`on_signal.rs`).
//! * **How much stack does it need?** Each dump entry carries the stack's
//!   high-water mark; with `stack_report` each green thread's mark is
//!   printed when it finishes, so stack sizes can come from data.
//!
//! # Configuration
//!
//! | builder method                         | environment variable (*)  | default  |
//! |----------------------------------------|---------------------------|----------|
//! | `RuntimeBuilder::monitor_threshold`    | `WEFT_MONITOR_MS`         | 100 (ms); 0 turns the monitor off |
//! | `RuntimeBuilder::on_hog`               |                           | print to stderr |
//! | `RuntimeBuilder::dump_on_signal`       | `WEFT_DUMP_SIGNAL`        | off; e.g. `QUIT` |
//! | `RuntimeBuilder::stack_report`         | `WEFT_STACK_REPORT`       | off; `1` turns it on |
//!
//! (*) read when a runtime is built, for the default runtime and for every
//! builder that did not set the value; a malformed value fails the build.
//!
//! # What it costs
//!
//! | where                         | cost                                                     |
//! |-------------------------------|----------------------------------------------------------|
//! | every resume of a green thread| three plain stores to a worker-owned cache line (`probe.rs`) |
//! | every start and finish        | one uncontended lock and unlock of a worker-owned registry (`registry.rs`) |
//! | every blocking point          | a wait record: a thread-local read, two stores, a coarse clock read, and one store to clear it (`wait.rs`); `yield_now` pays nothing |
//! | the monitor                   | one thread per runtime waking every 10 ms (`monitor.rs`) |
//! | dump on signal                | one thread per signal number, asleep until the signal     |
//! | a dump                        | a lock per worker, a `mincore` per green thread          |
//! | `stack_report`                | an `madvise` per spawn and a `mincore` per finish        |
//!
//! Measured (1 worker, fixed workloads; instructions on the worker thread
//! under callgrind, and wall time as the minimum of 15 interleaved runs on
//! a 2-vCPU VM, before observe -> with it, monitor on):
//!
//! | workload                         | instructions | wall time        |
//! |----------------------------------|--------------|------------------|
//! | `yield_now`                      | 177 -> 184   | 31.3 -> 31.0 ns  |
//! | park/unpark hand-off             | 306 -> 352   | 124 -> 122 ns    |
//! | spawn + join from a green thread | 2038 -> 2276 | 279 -> 290 ns    |
//!
//! The monitor being on or off changes neither (its thread runs elsewhere);
//! the spawn cost is mostly the registry's two lock/unlock pairs (60
//! instructions) and the join's wait record.
//!
//! # Files
//!
//! | file          | job                                                         |
//! |---------------|-------------------------------------------------------------|
//! | `probe.rs`    | per-worker resume epoch and running id, written per resume  |
//! | `registry.rs` | per-worker registry of started green threads                |
//! | `wait.rs`     | [`WaitReason`], the wait record, `waiting_on` for primitives |
//! | `clock.rs`    | the coarse clock of wait stamps                             |
//! | `monitor.rs`  | the monitor thread and [`HogReport`]                        |
//! | `dump.rs`     | [`Dump`], [`GreenInfo`], stack high-water marks             |
//! | `on_signal.rs`| the dump-on-signal listener, one thread per signal number   |

mod clock;
mod dump;
mod monitor;
mod on_signal;
mod probe;
mod registry;
#[cfg(all(test, not(loom)))]
mod tests;
mod wait;

pub use dump::{dump, Dump, GreenInfo, GreenState};
pub use monitor::{HogReport, DEFAULT_MONITOR_THRESHOLD};
pub use wait::WaitReason;

pub(crate) use probe::Probe;
pub(crate) use registry::Watch;
pub(crate) use wait::{waiting_on, WaitRecord};

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::green::stack::Stack;
use crate::green::Green;
use crate::sched::Shared;
use crate::signal::Signal;
use crate::sys::mmap;
use crate::{Runtime, RuntimeBuilder};
use monitor::{HogCallback, Monitor};
use on_signal::SignalDumper;

/// The observability options of a [`RuntimeBuilder`], as set; unset ones
/// come from the environment at build time.
#[derive(Clone, Default)]
pub(crate) struct Options {
    monitor_threshold: Option<Duration>,
    on_hog: Option<HogCallback>,
    stack_report: Option<bool>,
    dump_signal: Option<Signal>,
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("monitor_threshold", &self.monitor_threshold)
            .field("on_hog", &self.on_hog.as_ref().map(|_| "<callback>"))
            .field("stack_report", &self.stack_report)
            .field("dump_signal", &self.dump_signal)
            .finish()
    }
}

/// The options of a built runtime, in its `sched::Config`.
pub(crate) struct Settings {
    /// Zero: no monitor.
    monitor_threshold: Duration,
    on_hog: Option<HogCallback>,
    /// Release each stack's pages at start and report its mark at finish.
    pub(crate) stack_report: bool,
    dump_signal: Option<Signal>,
}

impl Options {
    /// Fills in unset options from the environment.
    pub(crate) fn resolve(&self) -> io::Result<Settings> {
        let monitor_threshold = match self.monitor_threshold {
            Some(threshold) => threshold,
            None => match env("WEFT_MONITOR_MS") {
                Some(value) => Duration::from_millis(value.trim().parse().map_err(|_| {
                    invalid(format!(
                        "weft: WEFT_MONITOR_MS must be a whole number of milliseconds (0 turns the monitor off), \
                         got {value:?}"
                    ))
                })?),
                None => DEFAULT_MONITOR_THRESHOLD,
            },
        };
        let stack_report = match self.stack_report {
            Some(on) => on,
            None => match env("WEFT_STACK_REPORT").as_deref().map(str::trim) {
                None | Some("" | "0" | "false" | "no" | "off") => false,
                Some("1" | "true" | "yes" | "on") => true,
                Some(other) => return Err(invalid(format!("weft: WEFT_STACK_REPORT must be 1 or 0, got {other:?}"))),
            },
        };
        let dump_signal = match self.dump_signal {
            Some(signal) => Some(signal),
            None => match env("WEFT_DUMP_SIGNAL") {
                Some(value) => parse_signal(&value).map_err(|()| {
                    invalid(format!(
                        "weft: WEFT_DUMP_SIGNAL must name a signal (QUIT, USR1, USR2, HUP or a number) \
                         or be empty, got {value:?}"
                    ))
                })?,
                None => None,
            },
        };
        Ok(Settings { monitor_threshold, on_hog: self.on_hog.clone(), stack_report, dump_signal })
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// `QUIT`, `SIGQUIT`, `quit`, `3`: the signal; empty or `0`: none.
fn parse_signal(value: &str) -> Result<Option<Signal>, ()> {
    let value = value.trim();
    if value.is_empty() || value == "0" {
        return Ok(None);
    }
    if let Ok(n) = value.parse::<Signal>() {
        return Ok(Some(n));
    }
    let upper = value.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let signal = match name {
        "QUIT" => libc::SIGQUIT,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "TERM" => libc::SIGTERM,
        "WINCH" => libc::SIGWINCH,
        _ => return Err(()),
    };
    Ok(Some(signal))
}

/// Observability options of the runtime builder.
impl RuntimeBuilder {
    /// How long a green thread may run without reaching a blocking point
    /// before the monitor reports it (default 100 ms, or `WEFT_MONITOR_MS`).
    /// [`Duration::ZERO`] turns the monitor off: no thread is started.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = weft::Runtime::builder()
    ///     .monitor_threshold(Duration::from_millis(250))
    ///     .on_hog(|report| eprintln!("{report}"))
    ///     .build()
    ///     .unwrap();
    /// # drop(rt);
    /// ```
    pub fn monitor_threshold(mut self, threshold: Duration) -> RuntimeBuilder {
        self.observe.monitor_threshold = Some(threshold);
        self
    }

    /// Hands each [`HogReport`] to `on_hog` instead of printing it to stderr.
    /// It runs on the monitor thread; it should return soon (it delays the
    /// next samples) and must not wait for the runtime's green threads.
    pub fn on_hog(mut self, on_hog: impl Fn(&HogReport) + Send + Sync + 'static) -> RuntimeBuilder {
        self.observe.on_hog = Some(Arc::new(on_hog));
        self
    }

    /// Prints a [`Dump`] of this runtime to stderr whenever the process
    /// receives `signal` (as Go does on `SIGQUIT`; the process keeps
    /// running). Default: off, or `WEFT_DUMP_SIGNAL` (`QUIT`, `USR1`, ...).
    /// While the runtime lives, `signal` no longer has its default action.
    pub fn dump_on_signal(mut self, signal: Signal) -> RuntimeBuilder {
        self.observe.dump_signal = Some(signal);
        self
    }

    /// Measures stack use exactly: each green thread starts on a stack whose
    /// pages have been released (one `madvise` per spawn), so its
    /// [`GreenInfo::stack_high_water`] counts only pages it touched, and its
    /// high-water mark is printed to stderr when it finishes. For sizing
    /// stacks from data; off by default (`WEFT_STACK_REPORT=1` turns it on).
    pub fn stack_report(mut self, on: bool) -> RuntimeBuilder {
        self.observe.stack_report = Some(on);
        self
    }
}

impl Runtime {
    /// Every live green thread of this runtime; see [`Dump`].
    pub fn dump(&self) -> Dump {
        let mut dump = Dump::new();
        dump.add_runtime(self.shared());
        dump
    }
}

/// What observes one runtime: its monitor thread and its subscription to
/// a dump-on-signal listener. Dropping it stops the monitor and
/// unsubscribes. Owned by the `Runtime`, dropped after its workers stopped.
#[derive(Default)]
pub(crate) struct Observer {
    _monitor: Option<Monitor>,
    _dumper: Option<SignalDumper>,
}

/// Starts what `shared`'s settings ask for, once its workers run.
pub(crate) fn start(shared: &Arc<Shared>) -> io::Result<Observer> {
    clock::epoch();
    dump::register_runtime(shared);
    let settings = &shared.config.observe;
    let monitor = match settings.monitor_threshold {
        Duration::ZERO => None,
        threshold => Some(Monitor::start(shared, threshold, settings.on_hog.clone())?),
    };
    let dumper = settings.dump_signal.map(|signal| SignalDumper::start(shared, signal)).transpose()?;
    Ok(Observer { _monitor: monitor, _dumper: dumper })
}

/// Owner worker, before it starts a green thread on `stack`: in
/// `stack_report` mode releases the stack's pages so its high-water mark
/// counts only this green thread's. Returns true if it did.
pub(crate) fn prepare_stack(shared: &Shared, stack: &Stack) -> bool {
    if !shared.config.observe.stack_report {
        return false;
    }
    // The stack is not in use: its coroutine does not exist yet.
    mmap::release(stack.guard().1, stack.size());
    true
}

/// Owner worker, when the green thread in table `slot` has finished, before
/// its control block is dropped: unregisters it and, in `stack_report`
/// mode, prints its stack's high-water mark.
pub(crate) fn finished(shared: &Shared, worker: usize, slot: u32, green: &Green, stack_bottom: usize) {
    shared.workers[worker].watch.unregister(slot);
    if shared.config.observe.stack_report {
        let used = dump::stack_high_water(stack_bottom, green.stack_size, &mut Vec::new());
        eprintln!(
            "weft: green thread '{}' ({}) finished; stack high-water mark {used} of {} bytes",
            green.name.as_deref().unwrap_or("<unnamed>"),
            green.id,
            green.stack_size,
        );
    }
}

/// A duration for people: `850 µs`, `12 ms`, `1.5 s`, `3 min 20 s`.
pub(crate) fn fmt_duration(d: Duration) -> String {
    let us = d.as_micros();
    if us < 1_000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{} ms", us / 1_000)
    } else if us < 60_000_000 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} min {} s", d.as_secs() / 60, d.as_secs() % 60)
    }
}
