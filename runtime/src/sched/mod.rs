//! The scheduler: workers, run queues, stealing of unstarted green threads,
//! and the routing of wakeups to a green thread's owner.
//!
//! # Queues of one worker
//!
//! | queue    | holds                              | who pushes            | who pops          |
//! |----------|------------------------------------|-----------------------|-------------------|
//! | `ready`  | started green threads (table slot) | owner worker only     | owner worker      |
//! | `fresh`  | unstarted [`Task`]s                | owner worker          | owner, or stealers|
//! | `inbox`  | started green threads woken remotely | any thread          | owner worker      |
//!
//! plus one runtime-wide `injector` of unstarted tasks spawned from outside
//! the runtime's workers.
//!
//! # Routing a wakeup (DESIGN.md decision 2)
//!
//! The waker that wins a green thread's `PARKED -> EMPTY` transition calls
//! [`schedule`]: on the owner worker itself the slot goes to `ready`;
//! anywhere else the control block goes to the owner's `inbox`, and if the
//! owner sleeps in `epoll_wait` its eventfd is written.
//!
//! # Sleeping without losing work
//!
//! A worker with nothing to do sets its `sleeping` flag, issues a SeqCst
//! fence, re-checks every queue it could take work from, and only then calls
//! `epoll_wait`. A producer pushes, issues a SeqCst fence, then checks the
//! flag. Whatever the interleaving, either the worker sees the work or the
//! producer sees the flag and writes the eventfd (Dekker's pattern).

pub(crate) mod worker;

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_deque::{Injector, Steal, Stealer};

use crate::green::stack::{self, Stack};
use crate::green::{Green, Task};
use crate::reactor::Reactor;
use crate::sys::eventfd::EventFd;
use crate::time::TimerKey;

/// Runtime configuration, fixed at build time.
pub(crate) struct Config {
    /// Default usable stack size, already rounded by `stack::round_size`.
    pub(crate) stack_size: usize,
    pub(crate) name: String,
    /// Monitor, dumps, stack reports.
    pub(crate) observe: crate::observe::Settings,
}

/// Runtime-wide state. Any thread.
pub(crate) struct Shared {
    pub(crate) workers: Box<[Remote]>,
    pub(crate) injector: Injector<Task>,
    pub(crate) stealers: Box<[Stealer<Task>]>,
    pub(crate) shutdown: AtomicBool,
    /// Number of workers whose `sleeping` flag is set (a hint: read before
    /// scanning the flags).
    pub(crate) sleepers: AtomicUsize,
    pub(crate) config: Config,
}

/// The part of a worker other threads may touch. Any thread.
pub(crate) struct Remote {
    pub(crate) inbox: Injector<Arc<Green>>,
    /// Set by the owner just before `epoll_wait`; cleared by whoever wakes it.
    pub(crate) sleeping: AtomicBool,
    pub(crate) eventfd: EventFd,
    /// Its epoll instance and fd registrations (the eventfd is one of them).
    pub(crate) reactor: Reactor,
    /// Green threads started on this worker so far (metrics).
    pub(crate) started: AtomicU64,
    /// What the monitor and dumps see of this worker.
    pub(crate) watch: crate::observe::Watch,
}

impl Shared {
    pub(crate) fn new(config: Config, stealers: Vec<Stealer<Task>>) -> io::Result<Shared> {
        let workers = stealers
            .iter()
            .map(|_| {
                let eventfd = EventFd::new()?;
                let reactor = Reactor::new()?;
                reactor.add_wakeup(eventfd.as_raw_fd())?;
                Ok(Remote {
                    inbox: Injector::new(),
                    sleeping: AtomicBool::new(false),
                    eventfd,
                    reactor,
                    started: AtomicU64::new(0),
                    watch: Default::default(),
                })
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Shared {
            workers: workers.into(),
            injector: Injector::new(),
            stealers: stealers.into(),
            shutdown: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            config,
        })
    }

    /// Wakes worker `index` if it sleeps; true if this call woke it.
    fn wake(&self, index: usize) -> bool {
        let remote = &self.workers[index];
        if remote.sleeping.load(SeqCst) && remote.sleeping.swap(false, SeqCst) {
            self.sleepers.fetch_sub(1, SeqCst);
            remote.eventfd.notify();
            return true;
        }
        false
    }

    /// Wakes one sleeping worker, if any, so it can steal new work.
    pub(crate) fn wake_one(&self) {
        if self.sleepers.load(SeqCst) == 0 {
            return;
        }
        // A lost race for one sleeper (someone else woke it) moves on to
        // the next, so two producers wake two workers.
        for index in 0..self.workers.len() {
            if self.wake(index) {
                return;
            }
        }
    }

    /// Wakes every worker (shutdown).
    pub(crate) fn wake_all(&self) {
        for remote in self.workers.iter() {
            remote.sleeping.store(false, SeqCst);
            remote.eventfd.notify();
        }
    }

    /// Drops every queued unstarted task and remote wakeup (shutdown, after
    /// the workers have stopped). Dropping a task reports it as cancelled.
    pub(crate) fn drain(&self) {
        while !matches!(self.injector.steal(), Steal::Empty) {}
        for remote in self.workers.iter() {
            while !matches!(remote.inbox.steal(), Steal::Empty) {}
        }
    }
}

/// Routes a green thread that a waker has just won (`Unpark::Schedule`) to
/// its owner worker. Any thread.
pub(crate) fn schedule(green: &Arc<Green>) {
    let owner = green.owner();
    if worker::with_local(|local| local.try_schedule_local(green, owner)) == Some(true) {
        return;
    }
    let rt = &green.rt;
    if rt.shutdown.load(Acquire) {
        // Its worker is gone or going; the green thread is unwound there.
        return;
    }
    rt.workers[owner].inbox.push(green.clone());
    fence(SeqCst);
    let _ = rt.wake(owner);
}

/// Queues a new green thread. On a worker of `rt` it goes to that worker's
/// stealable queue, elsewhere to the runtime's injector.
pub(crate) fn submit(rt: &Arc<Shared>, task: Task) {
    if rt.shutdown.load(Acquire) {
        drop(task); // reported as cancelled
        return;
    }
    let mut task = Some(task);
    worker::with_local(|local| local.try_push_fresh(rt, &mut task));
    if let Some(task) = task {
        rt.injector.push(task);
    }
    fence(SeqCst);
    rt.wake_one();
    if rt.shutdown.load(SeqCst) {
        // Raced with shutdown: make sure nothing is left behind.
        rt.drain();
    }
}

/// A stack for a new green thread: from the calling worker's pool when the
/// caller is a worker of `rt`, else from the process-wide allocator.
pub(crate) fn take_stack(rt: &Arc<Shared>, size: usize) -> io::Result<Stack> {
    match worker::with_local(|local| local.take_stack(rt, size)) {
        Some(Some(stack)) => stack,
        _ => stack::allocate(size),
    }
}

/// Registers a deadline for the running green thread on its worker.
pub(crate) fn add_timer(deadline: Instant, green: Arc<Green>) -> TimerKey {
    worker::with_local(|local| local.timers.borrow_mut().insert(deadline, green))
        .expect("weft: timers are used from a green thread on its worker")
}

pub(crate) fn cancel_timer(key: TimerKey) {
    worker::with_local(|local| local.timers.borrow_mut().cancel(key));
}

/// The runtime and index of the worker the caller runs on, if any.
pub(crate) fn current_worker() -> Option<(Arc<Shared>, usize)> {
    worker::with_local(|local| (local.shared.clone(), local.index))
}

/// The runtime of the calling green thread, or the default runtime.
pub(crate) fn current_or_default() -> Arc<Shared> {
    worker::with_local(|local| local.shared.clone())
        .unwrap_or_else(|| crate::runtime::default_runtime().shared().clone())
}
