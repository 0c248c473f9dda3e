//! `Runtime` and its builder, and the default runtime.
//!
//! Several runtimes can live in one process; each has its own workers. The
//! free functions (`weft::spawn`, `weft::sleep`, ...) use the runtime of the
//! calling green thread, or a default runtime started on first use from a
//! plain thread and never shut down. Its worker count comes from the
//! `WEFT_WORKERS` environment variable, else the number of available cores.
//!
//! # Shutdown
//!
//! Dropping a `Runtime` stops it:
//!
//! 1. no new green thread starts; spawning on it returns handles whose
//!    `join` reports [`Cancelled`](crate::Cancelled);
//! 2. each worker, at its next scheduling point, unwinds every green thread
//!    it owns from the point where it is parked or yielded, running their
//!    destructors, and drops every green thread that never started; their
//!    `join` returns `Err` with a `Cancelled` payload;
//! 3. `drop` returns once every worker has exited.
//!
//! While green threads are unwound this way, blocking calls made by their
//! destructors return at once (`park` and `sleep` return, `join` of an
//! unfinished green thread returns `Err(Cancelled)`), so shutdown cannot
//! hang on them. A green thread that is *running* (busy in a loop without a
//! blocking point) delays step 3 until it reaches one. Dropping a runtime from
//! one of its own green threads only starts the shutdown; it cannot wait for
//! the worker it is running on.

use std::fmt;
use std::io;
use std::sync::atomic::Ordering::*;
use std::sync::{Arc, OnceLock};

use crossbeam_deque::Worker as Deque;

use crate::green::{overflow, stack};
use crate::sched::worker;
use crate::sched::{Config, Shared};
use crate::thread::{Builder, JoinHandle};

/// A set of worker threads running green threads.
pub struct Runtime {
    shared: Arc<Shared>,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// The monitor thread and dump-on-signal subscription; dropped (stopped)
    /// after the workers have been joined.
    observer: crate::observe::Observer,
}

/// Configures and builds a [`Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeBuilder {
    workers: Option<usize>,
    stack_size: usize,
    name: String,
    pin_workers: bool,
    /// Monitor, dump and stack-report options (`observe/mod.rs` adds their
    /// builder methods).
    pub(crate) observe: crate::observe::Options,
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        RuntimeBuilder {
            workers: None,
            stack_size: stack::DEFAULT_STACK_SIZE,
            name: "weft-worker".to_owned(),
            pin_workers: false,
            observe: Default::default(),
        }
    }
}

impl RuntimeBuilder {
    /// Number of worker OS threads (default: available cores).
    pub fn workers(mut self, n: usize) -> RuntimeBuilder {
        self.workers = Some(n);
        self
    }

    /// Default usable stack size of its green threads (default 64 KiB).
    pub fn stack_size(mut self, bytes: usize) -> RuntimeBuilder {
        self.stack_size = bytes;
        self
    }

    /// Prefix of the worker threads' names (`{name}-{index}`; default
    /// `weft-worker`).
    pub fn name(mut self, name: impl Into<String>) -> RuntimeBuilder {
        self.name = name.into();
        self
    }

    /// Pins worker `i` to the `i`-th CPU the process may use (wrapping
    /// around when there are more workers than CPUs). Default: off.
    ///
    /// A pinned worker keeps its caches and never competes with another
    /// weft worker for a core, which helps a server that owns the machine;
    /// on a shared machine it also keeps the workers from drifting onto one
    /// core. Off by default because pinning two runtimes (or a runtime and
    /// other busy threads) to the same cores makes them fight. may pins its
    /// workers by default; benchmarks against it should pin weft's too.
    pub fn pin_workers(mut self, pin: bool) -> RuntimeBuilder {
        self.pin_workers = pin;
        self
    }

    /// Starts the workers.
    pub fn build(self) -> io::Result<Runtime> {
        let workers = match self.workers {
            Some(0) => {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, "weft: a runtime needs at least one worker"))
            }
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        overflow::install();
        crate::panic::install_hook();
        let deques: Vec<Deque<_>> = (0..workers).map(|_| Deque::new_fifo()).collect();
        let stealers = deques.iter().map(Deque::stealer).collect();
        let observe = self.observe.resolve()?;
        let config = Config { stack_size: stack::round_size(self.stack_size), name: self.name, observe };
        let shared = Arc::new(Shared::new(config, stealers)?);
        let mut rt =
            Runtime { shared: shared.clone(), threads: Vec::with_capacity(workers), observer: Default::default() };
        let cpus = if self.pin_workers { crate::sys::affinity::allowed_cpus()? } else { Vec::new() };
        for (index, deque) in deques.into_iter().enumerate() {
            let worker_shared = shared.clone();
            let thread = std::thread::Builder::new()
                .name(format!("{}-{index}", shared.config.name))
                .spawn(move || worker::run(index, worker_shared, deque))?;
            rt.threads.push(thread);
            if !cpus.is_empty() {
                // After the push: on failure, dropping `rt` stops this worker too.
                use std::os::unix::thread::JoinHandleExt;
                let thread = rt.threads.last().expect("just pushed");
                crate::sys::affinity::pin(thread.as_pthread_t(), cpus[index % cpus.len()])?;
            }
        }
        rt.observer = crate::observe::start(&shared)?;
        Ok(rt)
    }
}

impl Runtime {
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// A runtime with the default configuration.
    pub fn new() -> io::Result<Runtime> {
        RuntimeBuilder::default().build()
    }

    /// Spawns a green thread on this runtime, as [`crate::spawn`].
    ///
    /// # Panics
    ///
    /// Panics if no stack can be allocated; see [`Builder::spawn_on`].
    pub fn spawn<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        Builder::new().spawn_on(self, f).expect("weft: failed to spawn green thread")
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.shared.workers.len()
    }

    /// How many green threads each worker has started so far, by worker
    /// index. Shows how work spread over the workers.
    pub fn started_per_worker(&self) -> Vec<u64> {
        self.shared.workers.iter().map(|w| w.started.load(Relaxed)).collect()
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, SeqCst);
        self.shared.wake_all();
        let on_own_worker = worker::with_local(|l| Arc::ptr_eq(&l.shared, &self.shared)).unwrap_or(false);
        if on_own_worker {
            return;
        }
        for thread in self.threads.drain(..) {
            // A worker thread only panics on a runtime bug, already reported.
            let _ = thread.join();
        }
        self.shared.drain();
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime").field("workers", &self.workers()).finish_non_exhaustive()
    }
}

/// The default runtime, started on first use.
pub(crate) fn default_runtime() -> &'static Runtime {
    static DEFAULT: OnceLock<Runtime> = OnceLock::new();
    DEFAULT.get_or_init(|| {
        let mut builder = Runtime::builder();
        if let Ok(value) = std::env::var("WEFT_WORKERS") {
            match value.trim().parse::<usize>() {
                Ok(n) if n > 0 => builder = builder.workers(n),
                _ => panic!("weft: WEFT_WORKERS must be a positive integer, got {value:?}"),
            }
        }
        builder.build().unwrap_or_else(|e| panic!("weft: cannot start the default runtime: {e}"))
    })
}
