//! Observing a running program (DESIGN.md decision 4: nothing blocks a
//! worker silently).
//!
//! A green-thread runtime lives or dies by how fast a user finds the one
//! call that blocks a worker. The monitor thread ([`HogReport`],
//! `monitor.rs`) reports a green thread that runs longer than a threshold
//! (default [`DEFAULT_MONITOR_THRESHOLD`], 100 ms) without reaching a
//! blocking point: by name and id, with advice.
//!
//! # Configuration
//!
//! | builder method                         | environment variable (*)  | default  |
//! |----------------------------------------|---------------------------|----------|
//! | `RuntimeBuilder::monitor_threshold`    | `WEFT_MONITOR_MS`         | 100 (ms); 0 turns the monitor off |
//! | `RuntimeBuilder::on_hog`               |                           | print to stderr |
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
//! | the monitor                   | one thread per runtime waking every 10 ms (`monitor.rs`) |
//!
//! # Files
//!
//! | file          | job                                                         |
//! |---------------|-------------------------------------------------------------|
//! | `probe.rs`    | per-worker resume epoch and running id, written per resume  |
//! | `registry.rs` | per-worker registry of started green threads                |
//! | `monitor.rs`  | the monitor thread and [`HogReport`]                        |

mod monitor;
mod probe;
mod registry;

pub use monitor::{HogReport, DEFAULT_MONITOR_THRESHOLD};

pub(crate) use probe::Probe;
pub(crate) use registry::Watch;

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::sched::Shared;
use crate::RuntimeBuilder;
use monitor::{HogCallback, Monitor};

/// The observability options of a [`RuntimeBuilder`], as set; unset ones
/// come from the environment at build time.
#[derive(Clone, Default)]
pub(crate) struct Options {
    monitor_threshold: Option<Duration>,
    on_hog: Option<HogCallback>,
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("monitor_threshold", &self.monitor_threshold)
            .field("on_hog", &self.on_hog.as_ref().map(|_| "<callback>"))
            .finish()
    }
}

/// The options of a built runtime, in its `sched::Config`.
pub(crate) struct Settings {
    /// Zero: no monitor.
    monitor_threshold: Duration,
    on_hog: Option<HogCallback>,
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
        Ok(Settings { monitor_threshold, on_hog: self.on_hog.clone() })
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
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
}

/// What observes one runtime: its monitor thread. Dropping it stops the
/// monitor. Owned by the `Runtime`, dropped after its workers stopped.
#[derive(Default)]
pub(crate) struct Observer {
    _monitor: Option<Monitor>,
}

/// Starts what `shared`'s settings ask for, once its workers run.
pub(crate) fn start(shared: &Arc<Shared>) -> io::Result<Observer> {
    let settings = &shared.config.observe;
    let monitor = match settings.monitor_threshold {
        Duration::ZERO => None,
        threshold => Some(Monitor::start(shared, threshold, settings.on_hog.clone())?),
    };
    Ok(Observer { _monitor: monitor })
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
