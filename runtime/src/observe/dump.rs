//! Green-thread dumps: every live green thread, its state, what it waits
//! for and since when, and how much of its stack it has used.
//!
//! # Sources
//!
//! A dump reads, without stopping anything:
//!
//! * each worker's registry of started green threads (`registry.rs`);
//! * each worker's probe, for the green thread it is running right now
//!   (`probe.rs`), and the monitor's first sight of that run, for how long;
//! * each green thread's park state (`green/state.rs`): parked or not;
//! * each parked green thread's wait record (`wait.rs`): on what, since when;
//! * the resident pages of each stack (`mincore(2)`), for its high-water
//!   mark (below);
//! * the work-stealing queues' lengths, for green threads not started yet.
//!
//! Each of these is a snapshot and they are not taken at one instant: a
//! green thread that changes state while the dump runs shows one of its
//! states. A stuck worker (a hog, a blocking system call) does not stop
//! the dump: that is when one is most wanted.
//!
//! # Stack high-water marks
//!
//! Stacks grow down, and a page of a green-thread stack becomes resident
//! when it is first touched. So the deepest resident page of a stack marks
//! how deep the green thread has ever been: the high-water mark, to the page
//! (4 KiB). `mincore(2)` reports residency from the page tables without
//! reading the stack, so it can run on any thread while the green thread
//! runs (scanning the stack's words would race with its owner writing them).
//!
//! A stack is reused without clearing (`green/stack.rs`: the pool keeps
//! returned stacks resident, so a spawn costs no syscall), so a reused stack
//! can still hold pages its previous green thread touched: the mark is then
//! an upper bound. With `RuntimeBuilder::stack_report(true)` or
//! `WEFT_STACK_REPORT=1`, a worker releases each stack's pages when it
//! starts a green thread on it (one `madvise` per spawn: a diagnostic mode)
//! and the marks are exact to the page; each green thread's mark is also
//! printed to stderr when it finishes. The rejected alternative, filling
//! stacks with a pattern and scanning for the first overwritten word, costs
//! a write of the whole stack per spawn and reads another thread's stack.
//! (Pages swapped out under memory pressure would read as untouched.)

use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::fmt_duration;
use super::wait::WaitReason;
use crate::sched::Shared;
use crate::sys::{mmap, page_size};
use crate::thread::ThreadId;

/// What a green thread was doing when a [`Dump`] was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GreenState {
    /// On its worker right now: the caller of [`dump`](crate::dump), or a
    /// green thread that has not reached a blocking point since it was last
    /// resumed.
    Running,
    /// Ready to run, waiting for its worker (queued, or just woken).
    Ready,
    /// Parked until the event it waits for.
    Parked(WaitReason),
}

/// One green thread in a [`Dump`].
#[derive(Debug, Clone)]
pub struct GreenInfo {
    id: ThreadId,
    name: Option<String>,
    runtime: Arc<str>,
    worker: usize,
    state: GreenState,
    in_state_for: Option<Duration>,
    stack_size: usize,
    stack_high_water: usize,
    stack_exact: bool,
}

impl GreenInfo {
    /// Its id.
    pub fn id(&self) -> ThreadId {
        self.id
    }

    /// Its name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The name of its runtime (`RuntimeBuilder::name`, the prefix of the
    /// worker threads' names).
    pub fn runtime(&self) -> &str {
        &self.runtime
    }

    /// Index of its worker (the one it first ran on and stays on).
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// What it was doing.
    pub fn state(&self) -> GreenState {
        self.state
    }

    /// How long it had been in that state: for a parked green thread, since
    /// it started waiting (over-reported by at most one monitor sample
    /// period); for a running one, since the monitor first saw it running.
    /// Both are measured by the monitor's clock: `None` while no monitor
    /// runs (`WEFT_MONITOR_MS=0`), and for a ready green thread.
    pub fn in_state_for(&self) -> Option<Duration> {
        self.in_state_for
    }

    /// Usable bytes of its stack.
    pub fn stack_size(&self) -> usize {
        self.stack_size
    }

    /// Bytes of its stack used so far, at the deepest point: the
    /// high-water mark, to the page. An upper bound unless
    /// [`stack_high_water_is_exact`](GreenInfo::stack_high_water_is_exact).
    pub fn stack_high_water(&self) -> usize {
        self.stack_high_water
    }

    /// True if the stack's pages were released when this green thread
    /// started (`RuntimeBuilder::stack_report`), so the mark counts only
    /// pages it touched; false if the stack may have been reused with pages
    /// a previous green thread touched.
    pub fn stack_high_water_is_exact(&self) -> bool {
        self.stack_exact
    }
}

/// Every live green thread of one runtime ([`Runtime::dump`](crate::Runtime::dump))
/// or of every runtime in the process ([`dump`](crate::dump)). `Display`
/// prints it grouped by runtime and worker, as the signal dump does.
#[derive(Debug, Clone)]
pub struct Dump {
    taken_at: Instant,
    threads: Vec<GreenInfo>,
    unstarted: usize,
}

impl Dump {
    /// The started, unfinished green threads, by runtime, worker and id.
    pub fn threads(&self) -> &[GreenInfo] {
        &self.threads
    }

    /// The green thread with id `id`, if it was in the dump.
    pub fn get(&self, id: ThreadId) -> Option<&GreenInfo> {
        self.threads.iter().find(|t| t.id == id)
    }

    /// Green threads spawned but not started yet (not listed one by one:
    /// they sit in work-stealing queues).
    pub fn unstarted(&self) -> usize {
        self.unstarted
    }

    /// When the dump was taken.
    pub fn taken_at(&self) -> Instant {
        self.taken_at
    }

    pub(crate) fn new() -> Dump {
        Dump { taken_at: Instant::now(), threads: Vec::new(), unstarted: 0 }
    }

    /// Adds the green threads of `shared`.
    pub(crate) fn add_runtime(&mut self, shared: &Shared) {
        let runtime: Arc<str> = shared.config.name.as_str().into();
        let now = self.taken_at;
        let mut pages = Vec::new();
        let mut threads = Vec::new();
        for (worker, remote) in shared.workers.iter().enumerate() {
            let running = remote.watch.probe.sample();
            for started in remote.watch.started() {
                let green = &started.green;
                let (state, since) = match running {
                    Some(running) if running.id == green.id.as_u64() => {
                        (GreenState::Running, remote.watch.running_since(running))
                    }
                    _ if green.park.is_parked() => match green.wait.read() {
                        Some((reason, since)) => (GreenState::Parked(reason), since),
                        None => (GreenState::Parked(WaitReason::Park { until: None }), None),
                    },
                    _ => (GreenState::Ready, None),
                };
                threads.push(GreenInfo {
                    id: green.id,
                    name: green.name.as_deref().map(str::to_owned),
                    runtime: runtime.clone(),
                    worker,
                    state,
                    in_state_for: since.map(|since| now.saturating_duration_since(since)),
                    stack_size: green.stack_size,
                    stack_high_water: stack_high_water(started.stack_bottom, green.stack_size, &mut pages),
                    stack_exact: started.scrubbed,
                });
            }
        }
        threads.sort_by_key(|t| (t.worker, t.id));
        self.threads.extend(threads);
        self.unstarted += shared.injector.len() + shared.stealers.iter().map(|s| s.len()).sum::<usize>();
    }
}

impl fmt::Display for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.threads.len() == 1 { "" } else { "s" };
        write!(f, "weft: dump of {} green thread{plural}", self.threads.len())?;
        if self.unstarted > 0 {
            write!(f, " (and {} not started yet)", self.unstarted)?;
        }
        writeln!(f)?;
        let mut group: Option<(&str, usize)> = None;
        for t in &self.threads {
            if group != Some((&t.runtime, t.worker)) {
                group = Some((&t.runtime, t.worker));
                writeln!(f, "\nruntime '{}', worker {} ({}-{}):", t.runtime, t.worker, t.runtime, t.worker)?;
            }
            write!(f, "  green thread {}", t.id)?;
            if let Some(name) = &t.name {
                write!(f, " '{name}'")?;
            }
            f.write_str(": ")?;
            let state = match t.state {
                GreenState::Running => "running",
                GreenState::Ready => "ready",
                GreenState::Parked(_) => "parked",
            };
            f.write_str(state)?;
            if let Some(d) = t.in_state_for {
                write!(f, " {}", fmt_duration(d))?;
            }
            if let GreenState::Parked(reason) = t.state {
                f.write_str(" on ")?;
                reason.describe(self.taken_at, f)?;
            }
            let bound = if t.stack_exact { "" } else { "at most " };
            writeln!(f, "; stack: {bound}{} of {} KiB used", t.stack_high_water / 1024, t.stack_size / 1024)?;
        }
        Ok(())
    }
}

/// The bytes below the top of the stack `[bottom, bottom + size)` down to
/// its deepest resident page (0 if none is, or `mincore` fails). `pages` is
/// scratch space.
pub(crate) fn stack_high_water(bottom: usize, size: usize, pages: &mut Vec<u8>) -> usize {
    if mmap::resident_pages(bottom, size, pages).is_err() {
        return 0;
    }
    match pages.iter().position(|p| p & 1 != 0) {
        Some(deepest) => size - deepest * page_size(),
        None => 0,
    }
}

/// Every runtime built in this process and not dropped yet, for
/// [`dump`](crate::dump).
static RUNTIMES: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

/// Called when a runtime is built.
pub(crate) fn register_runtime(shared: &Arc<Shared>) {
    let mut runtimes = RUNTIMES.lock().unwrap_or_else(|e| e.into_inner());
    runtimes.retain(|rt| rt.strong_count() > 0);
    runtimes.push(Arc::downgrade(shared));
}

/// Every live green thread of every runtime in the process that has not
/// shut down (the default runtime, once used, included).
///
/// ```
/// let h = weft::Builder::new().name("sleeper").spawn(|| weft::sleep(std::time::Duration::from_millis(50))).unwrap();
/// let dump = weft::dump();
/// print!("{dump}");
/// # h.join().unwrap();
/// ```
pub fn dump() -> Dump {
    let runtimes: Vec<Arc<Shared>> = {
        let runtimes = RUNTIMES.lock().unwrap_or_else(|e| e.into_inner());
        runtimes.iter().filter_map(Weak::upgrade).collect()
    };
    let mut dump = Dump::new();
    for shared in runtimes {
        if !shared.shutdown.load(std::sync::atomic::Ordering::Acquire) {
            dump.add_runtime(&shared);
        }
    }
    dump
}
