//! The monitor: a thread per runtime that reports a green thread keeping
//! its worker busy without reaching a blocking point (DESIGN.md decision 4).
//!
//! gevent's monitor thread and Go's sysmon do this job for their runtimes.
//! A green thread that runs for long without blocking (a CPU-bound loop, a
//! blocking system call, a contended `std::sync::Mutex`) stalls every other
//! green thread of its worker, because green threads never migrate
//! (decision 1). The monitor makes that visible, by name, once per incident.
//!
//! # How
//!
//! Every sample period (a tenth of the threshold, between 1 and 10 ms) the
//! monitor thread wakes and reads each worker's [`Probe`](super::probe):
//!
//! 1. no green thread running: nothing to do;
//! 2. a resume epoch it has not seen: remember when it first saw it;
//! 3. the same epoch for at least the threshold, not yet reported: build a
//!    [`HogReport`] and hand it to the `on_hog` callback (default: print it
//!    to stderr), then remember the epoch so the incident is reported once.
//!
//! The reported duration is measured by the monitor from its first sight of
//! the epoch, so it under-reports by at most one sample period; the green
//! thread is reported while it is still running. The `ready` and `parked`
//! counts come from the worker's registry and the park state of each green
//! thread at report time (see `registry.rs`); they cost nothing until then.
//!
//! The sampling costs the workers nothing but the probe's three stores per
//! resume; the monitor itself wakes 100 times a second at the default
//! threshold and reads two cache lines per worker.
//!
//! # Configuration
//!
//! `RuntimeBuilder::monitor_threshold` (default [`DEFAULT_MONITOR_THRESHOLD`],
//! zero turns the monitor off) and `RuntimeBuilder::on_hog`; the environment
//! variable `WEFT_MONITOR_MS` sets the threshold of the default runtime and
//! of every builder that does not set it.

use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::clock::Ticker;
use super::fmt_duration;
use super::probe::Running;
use crate::sched::Shared;
use crate::thread::ThreadId;

/// How long a green thread may run without reaching a blocking point before
/// the monitor reports it, unless configured (gevent's default).
pub const DEFAULT_MONITOR_THRESHOLD: Duration = Duration::from_millis(100);

/// Samples per threshold: the report comes at most a tenth late.
const SAMPLES_PER_THRESHOLD: u32 = 10;
const MIN_SAMPLE_PERIOD: Duration = Duration::from_millis(1);
const MAX_SAMPLE_PERIOD: Duration = Duration::from_millis(10);

/// The callback that receives hog reports (on the monitor thread).
pub(crate) type HogCallback = Arc<dyn Fn(&HogReport) + Send + Sync + 'static>;

/// A green thread that has been running on its worker for longer than the
/// monitor's threshold without reaching a blocking point. `Display` gives
/// the message the monitor prints by default, with advice.
#[derive(Debug, Clone)]
pub struct HogReport {
    worker: usize,
    worker_thread: String,
    id: ThreadId,
    name: Option<String>,
    running_for: Duration,
    ready: usize,
    parked: usize,
    threshold: Duration,
}

impl HogReport {
    /// Index of the worker it runs on.
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// Name of that worker's OS thread (`{runtime name}-{index}`).
    pub fn worker_thread(&self) -> &str {
        &self.worker_thread
    }

    /// The green thread's id.
    pub fn id(&self) -> ThreadId {
        self.id
    }

    /// The green thread's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// How long it has been running without a blocking point, at least
    /// (the monitor measures from its first sample of the run).
    pub fn running_for(&self) -> Duration {
        self.running_for
    }

    /// Green threads of the same worker that are ready to run (including
    /// those queued there and not started yet): they wait for this one.
    pub fn ready(&self) -> usize {
        self.ready
    }

    /// Green threads of the same worker that are parked: their wakeups
    /// will not be acted on until this one yields.
    pub fn parked(&self) -> usize {
        self.parked
    }

    /// The threshold that was exceeded.
    pub fn threshold(&self) -> Duration {
        self.threshold
    }
}

impl fmt::Display for HogReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "weft: green thread '{}' ({}) has been running on {} (worker {}) for {} without reaching a \
             blocking point; {} ready and {} parked green threads of that worker are stalled meanwhile.\n\
             help: blocking or CPU-heavy code holds up every green thread of its worker. Run it with \
             weft::unblock(|| ...), use weft's primitives (weft::sleep, weft::net, weft::fs, weft::sync) \
             instead of std's blocking ones, and do not hold a std::sync::Mutex across a weft call; in a \
             long computation, call weft::yield_now() now and then.\n\
             note: reported once per incident after {} (RuntimeBuilder::monitor_threshold or WEFT_MONITOR_MS; \
             0 turns the monitor off)",
            self.name.as_deref().unwrap_or("<unnamed>"),
            self.id,
            self.worker_thread,
            self.worker,
            fmt_duration(self.running_for),
            self.ready,
            self.parked,
            fmt_duration(self.threshold),
        )
    }
}

/// A running monitor thread; dropping it stops the thread.
pub(crate) struct Monitor {
    stop: Arc<Stop>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Monitor {
    /// Starts the monitor of `shared`, named `{runtime name}-monitor`.
    pub(crate) fn start(shared: &Arc<Shared>, threshold: Duration, on_hog: Option<HogCallback>) -> io::Result<Monitor> {
        let period = (threshold / SAMPLES_PER_THRESHOLD).clamp(MIN_SAMPLE_PERIOD, MAX_SAMPLE_PERIOD);
        let stop = Arc::new(Stop::default());
        // Started here, not on the monitor thread: blocking points use the
        // coarse clock from the moment the runtime is built.
        let ticker = Ticker::start();
        let run = Run { shared: shared.clone(), threshold, period, on_hog, stop: stop.clone(), ticker };
        let thread =
            std::thread::Builder::new().name(format!("{}-monitor", shared.config.name)).spawn(move || run.run())?;
        Ok(Monitor { stop, thread: Some(thread) })
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        *self.stop.stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.stop.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            // The runtime may be dropped by the on_hog callback itself.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

/// The monitor thread's state. Monitor thread only.
struct Run {
    shared: Arc<Shared>,
    threshold: Duration,
    period: Duration,
    on_hog: Option<HogCallback>,
    stop: Arc<Stop>,
    /// Keeps the coarse clock of wait stamps (`clock.rs`).
    ticker: Ticker,
}

/// One worker's incidents, followed from its probe's samples. Monitor
/// thread only; plain data (no clock, no threads), tested on its own.
#[derive(Debug, Default)]
struct Incident {
    /// The run (resume epoch) last seen, and when it was first seen.
    seen: Option<(u64, Instant)>,
    /// The last run reported: each is reported once.
    reported: Option<u64>,
}

impl Incident {
    /// Takes a sample made at `now`: the green thread the worker runs, if
    /// any. Returns when the current run was first seen (`None` if the
    /// worker runs none) and, once per run, how long it has been running
    /// when that reaches `threshold`.
    fn sample(
        &mut self,
        running: Option<Running>,
        now: Instant,
        threshold: Duration,
    ) -> (Option<Instant>, Option<Duration>) {
        let Some(running) = running else { return (None, None) };
        let since = match self.seen {
            Some((epoch, since)) if epoch == running.epoch => since,
            _ => {
                self.seen = Some((running.epoch, now));
                now
            }
        };
        let running_for = now.saturating_duration_since(since);
        if running_for >= threshold && self.reported != Some(running.epoch) {
            self.reported = Some(running.epoch);
            return (Some(since), Some(running_for));
        }
        (Some(since), None)
    }
}

impl Run {
    fn run(self) {
        let mut incidents: Vec<Incident> = self.shared.workers.iter().map(|_| Incident::default()).collect();
        while self.wait() {
            let now = Instant::now();
            self.ticker.tick(now);
            for (index, remote) in self.shared.workers.iter().enumerate() {
                let sample = remote.watch.probe.sample();
                let (since, hog) = incidents[index].sample(sample, now, self.threshold);
                let Some(running) = sample else { continue };
                if since == Some(now) {
                    remote.watch.set_running_since(running.epoch, now);
                }
                if let Some(running_for) = hog {
                    self.deliver(&self.report(index, running, running_for));
                }
            }
        }
    }

    /// Sleeps one sample period; false once the monitor is stopped.
    fn wait(&self) -> bool {
        let stopped = self.stop.stopped.lock().unwrap_or_else(|e| e.into_inner());
        if *stopped {
            return false;
        }
        let (stopped, _) = self.stop.wake.wait_timeout(stopped, self.period).unwrap_or_else(|e| e.into_inner());
        !*stopped
    }

    fn report(&self, worker: usize, running: Running, running_for: Duration) -> HogReport {
        let (mut name, mut ready, mut parked) = (None, 0, 0);
        for started in self.shared.workers[worker].watch.started() {
            let green = &started.green;
            if green.id.as_u64() == running.id {
                name = green.name.as_deref().map(str::to_owned);
            } else if green.park.is_parked() {
                parked += 1;
            } else {
                ready += 1;
            }
        }
        ready += self.shared.stealers[worker].len();
        HogReport {
            worker,
            worker_thread: format!("{}-{worker}", self.shared.config.name),
            id: ThreadId::from_u64(running.id).expect("the probe holds the id of a started green thread"),
            name,
            running_for,
            ready,
            parked,
            threshold: self.threshold,
        }
    }

    fn deliver(&self, report: &HogReport) {
        match &self.on_hog {
            Some(on_hog) => {
                // The panic hook has printed the panic; the monitor goes on.
                let _ = panic::catch_unwind(AssertUnwindSafe(|| on_hog(report)));
            }
            None => eprintln!("{report}"),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const THRESHOLD: Duration = Duration::from_millis(100);
    const PERIOD: Duration = Duration::from_millis(10);

    fn run(epoch: u64) -> Option<Running> {
        Some(Running { epoch, id: 7 })
    }

    #[test]
    fn monitor_incident_reports_one_long_run_once() {
        let (mut incident, t0) = (Incident::default(), Instant::now());
        let mut reports = Vec::new();
        for i in 0..30 {
            let (since, hog) = incident.sample(run(1), t0 + PERIOD * i, THRESHOLD);
            assert_eq!(since, Some(t0));
            reports.extend(hog);
        }
        assert_eq!(reports, [THRESHOLD], "reported once, on the first sample at the threshold");
    }

    #[test]
    fn monitor_incident_never_reports_runs_that_keep_changing() {
        let (mut incident, t0) = (Incident::default(), Instant::now());
        for i in 0..1000 {
            // A green thread that yields between samples: a new epoch each time.
            let (since, hog) = incident.sample(run(2 * i + 1), t0 + PERIOD * i as u32, THRESHOLD);
            assert_eq!(since, Some(t0 + PERIOD * i as u32));
            assert_eq!(hog, None);
        }
    }

    #[test]
    fn monitor_incident_reports_each_new_long_run_and_ignores_idle_workers() {
        let (mut incident, t0) = (Incident::default(), Instant::now());
        assert_eq!(incident.sample(run(1), t0, THRESHOLD), (Some(t0), None));
        assert_eq!(incident.sample(run(1), t0 + THRESHOLD, THRESHOLD).1, Some(THRESHOLD));
        let idle = t0 + THRESHOLD * 2;
        assert_eq!(incident.sample(None, idle, THRESHOLD), (None, None));
        let t1 = idle + PERIOD;
        assert_eq!(incident.sample(run(3), t1, THRESHOLD), (Some(t1), None));
        assert_eq!(incident.sample(run(3), t1 + THRESHOLD * 2, THRESHOLD).1, Some(THRESHOLD * 2));
    }
}
