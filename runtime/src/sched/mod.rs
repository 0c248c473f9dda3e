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
//! | `placed` | unstarted [`Task`]s placed here by another worker | any thread | owner, or stealers |
//!
//! plus one runtime-wide `injector` of unstarted tasks spawned from outside
//! the runtime's workers.
//!
//! # Placing new green threads
//!
//! A started green thread never moves (decision 1), so where it starts is
//! the only balancing there is. Stealing alone balances badly for the
//! common server shape, an accept loop spawning one green thread per
//! connection: the spawning worker starts each new green thread itself
//! long before a sleeping worker has woken up to steal it, and a whole
//! server ends up on one worker. So [`submit`] on a worker compares loads
//! (green threads alive on a worker plus unstarted ones queued for it): if
//! another worker's load is lower than its own by more than
//! [`PLACEMENT_SLACK`], the task goes to that worker's `placed` queue and
//! that worker is woken; otherwise it stays local, which keeps
//! spawn-then-join of short tasks local and cheap. Another worker takes a
//! placed task only if the target has made no progress for
//! [`worker::STUCK_RESCAN`] (it is stuck in a long computation or a
//! blocking call); an idle worker that sees placed tasks elsewhere rescans
//! that often instead of sleeping indefinitely. Without that
//! rule, the spawning worker, idle again at once, would take back every
//! task before the woken target got to it.
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
    /// Green threads started on this worker so far (metrics). Written by
    /// the owner only.
    pub(crate) started: AtomicU64,
    /// Green threads that ended on this worker. Written by the owner only.
    pub(crate) finished: AtomicU64,
    /// Unstarted tasks another worker placed here (see "Placing new green
    /// threads").
    pub(crate) placed: Injector<Task>,
    /// Tasks pushed to `placed` and not yet taken (a load estimate).
    pub(crate) placed_len: AtomicUsize,
    /// Iterations of the worker's loop, stored by the owner: another worker
    /// that sees it unchanged between two of its own idle scans knows this
    /// one is stuck (a long computation, a blocking call) and may take its
    /// placed tasks.
    pub(crate) progress: AtomicU64,
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
                    finished: AtomicU64::new(0),
                    placed: Injector::new(),
                    placed_len: AtomicUsize::new(0),
                    progress: AtomicU64::new(0),
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

    /// The least loaded worker other than `me`, if its load is lower than
    /// `mine` by more than [`PLACEMENT_SLACK`].
    pub(crate) fn placement_target(&self, me: usize, mine: u64) -> Option<usize> {
        let (index, load) = (0..self.workers.len())
            .filter(|&i| i != me)
            .map(|i| (i, self.workers[i].load()))
            .min_by_key(|&(_, load)| load)?;
        (load + PLACEMENT_SLACK < mine).then_some(index)
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
            while !matches!(remote.placed.steal(), Steal::Empty) {}
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

/// How much more loaded (alive plus queued green threads) the spawning
/// worker must be than the least loaded one before a new green thread is
/// placed there instead of locally. Small enough that a burst of spawns
/// spreads after a couple of tasks, large enough that spawn-then-join of
/// one short task (load 1 or 2 here, 0 elsewhere) stays local.
pub(crate) const PLACEMENT_SLACK: u64 = 2;

impl Remote {
    /// Green threads alive on this worker plus unstarted ones queued for it
    /// by placement. An estimate: other threads update it concurrently.
    fn load(&self) -> u64 {
        let alive = self.started.load(Relaxed).saturating_sub(self.finished.load(Relaxed));
        alive + self.placed_len.load(Relaxed) as u64
    }
}

/// Queues a new green thread. On a worker of `rt` it goes to that worker's
/// stealable queue, or to a clearly less loaded worker's `placed` queue;
/// elsewhere to the runtime's injector.
pub(crate) fn submit(rt: &Arc<Shared>, task: Task) {
    if rt.shutdown.load(Acquire) {
        drop(task); // reported as cancelled
        return;
    }
    let mut task = Some(task);
    let here = worker::with_local(|local| local.try_push_fresh(rt, &mut task)).flatten();
    if let Some(task) = task {
        match here {
            Some(target) => {
                let remote = &rt.workers[target];
                remote.placed_len.fetch_add(1, Relaxed);
                remote.placed.push(task);
                fence(SeqCst);
                let _ = rt.wake(target);
            }
            None => {
                rt.injector.push(task);
                fence(SeqCst);
                rt.wake_one();
            }
        }
    } else {
        fence(SeqCst);
        rt.wake_one();
    }
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

/// True if the caller runs on a worker whose runtime is shutting down.
pub(crate) fn shutting_down() -> bool {
    worker::with_local(|local| local.shared.shutdown.load(Acquire)).unwrap_or(false)
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn shared(workers: usize) -> Shared {
        let deques: Vec<crossbeam_deque::Worker<Task>> =
            (0..workers).map(|_| crossbeam_deque::Worker::new_fifo()).collect();
        let observe = crate::observe::Options::default().resolve().unwrap();
        let config = Config { stack_size: 64 * 1024, name: "placement".into(), observe };
        Shared::new(config, deques.iter().map(|d| d.stealer()).collect()).unwrap()
    }

    fn set_load(shared: &Shared, worker: usize, alive: u64, placed: usize) {
        shared.workers[worker].started.store(alive + 7, Relaxed);
        shared.workers[worker].finished.store(7, Relaxed);
        shared.workers[worker].placed_len.store(placed, Relaxed);
    }

    #[test]
    fn placement_keeps_a_spawn_local_within_the_slack() {
        let shared = shared(2);
        set_load(&shared, 1, 0, 0);
        // Spawn-then-join: the spawner plus its child.
        assert_eq!(shared.placement_target(0, 2), None);
        assert_eq!(shared.placement_target(0, PLACEMENT_SLACK), None);
    }

    #[test]
    fn placement_sends_a_spawn_to_the_least_loaded_worker() {
        let shared = shared(4);
        set_load(&shared, 1, 5, 0);
        set_load(&shared, 2, 1, 1); // alive and queued both count
        set_load(&shared, 3, 4, 0);
        assert_eq!(shared.placement_target(0, 10), Some(2));
        assert_eq!(shared.placement_target(0, 2 + PLACEMENT_SLACK), None, "within the slack of the least loaded");
        assert_eq!(shared.placement_target(0, 3 + PLACEMENT_SLACK), Some(2));
    }

    #[test]
    fn placement_never_targets_the_spawning_worker() {
        let shared = shared(2);
        set_load(&shared, 0, 0, 0);
        set_load(&shared, 1, 50, 0);
        assert_eq!(shared.placement_target(0, 100), Some(1));
        assert_eq!(shared.placement_target(1, 100), Some(0));
        assert_eq!(shared.placement_target(1, 1), None);
    }
}
