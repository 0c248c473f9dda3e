//! The worker loop: one OS thread that runs green threads.
//!
//! Each iteration takes the next ready green thread and resumes it until it
//! yields, parks or returns. When nothing is ready the worker moves remote
//! wakeups from its inbox, fires expired timers, starts an unstarted green
//! thread (its own, the injector's, or one stolen from another worker) and,
//! failing all that, sleeps in `epoll_wait` until its next deadline or an
//! eventfd wakeup.
//!
//! Every [`MAINTENANCE_INTERVAL`] resumptions the worker also checks its
//! inbox, timers and shutdown flag and starts one unstarted green thread
//! ahead of the ready ones, so neither remote wakeups, nor timers, nor new
//! green threads starve behind green threads that keep yielding.
//!
//! Decision 1 lives here: a started green thread's coroutine sits in this
//! worker's `table` and is resumed by no other thread. Stealing moves only
//! [`Task`]s (unstarted).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{fence, Ordering::*};
use std::sync::Arc;
use std::time::Instant;

use corosensei::CoroutineResult;
use crossbeam_deque::{Steal, Worker as Deque};
use crossbeam_utils::CachePadded;

use super::Shared;
use crate::green::context::{self, Coroutine, Running, Suspend, Yielder, RUNNING};
use crate::green::stack::{Stack, StackPool};
use crate::green::state::AfterSwitch;
use crate::green::{Green, Task};
use crate::observe::Probe;
use crate::reactor::EVENTS_PER_POLL;
use crate::sys::epoll;
use crate::time::Timers;

/// Resumptions between two maintenance passes (inbox, timers, shutdown flag,
/// one unstarted green thread first). Also bounds how long a stream of
/// yielding green threads can delay a remote wakeup: 61 switches, well under
/// a microsecond each. (61, like Go's scheduler, is prime so it does not fall
/// into step with periodic workloads.)
pub(crate) const MAINTENANCE_INTERVAL: u32 = 61;

/// How long a worker with placed tasks must make no progress before
/// another worker takes them, and how often an idle worker rescans while
/// such tasks wait (see `sched`, "Placing new green threads").
pub(crate) const STUCK_RESCAN: std::time::Duration = std::time::Duration::from_millis(1);

/// A started green thread, owned by its worker. Owner worker only.
struct Entry {
    co: Coroutine,
    green: Arc<Green>,
    /// Null until the coroutine body has started.
    yielder: *const Yielder,
    guard: (usize, usize),
}

impl Entry {
    /// What `RUNNING` says while this green thread runs (or is unwound).
    fn running(&self, unwinding: bool) -> Running {
        Running { green: Arc::as_ptr(&self.green), yielder: self.yielder, guard: self.guard, unwinding, io_streak: 0 }
    }
}

#[derive(Default)]
struct Table {
    entries: Vec<Option<Entry>>,
    free: Vec<u32>,
}

impl Table {
    fn vacant(&mut self) -> u32 {
        match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.entries.push(None);
                u32::try_from(self.entries.len() - 1).expect("more than 2^32 green threads on one worker")
            }
        }
    }

    fn remove(&mut self, slot: u32) -> Entry {
        let entry = self.entries[slot as usize].take().expect("slot holds a green thread");
        self.free.push(slot);
        entry
    }
}

/// Everything a worker owns. Owner worker only; reached by green threads
/// running on this worker through the `LOCAL` thread-local.
pub(crate) struct Local {
    pub(crate) index: usize,
    pub(crate) shared: Arc<Shared>,
    ready: RefCell<VecDeque<u32>>,
    fresh: Deque<Task>,
    table: RefCell<Table>,
    pub(crate) timers: RefCell<Timers<Arc<Green>>>,
    stacks: RefCell<StackPool>,
    /// The buffer epoll fills with ready events.
    events: RefCell<Vec<libc::epoll_event>>,
    tick: Cell<u32>,
    /// The `progress` of every worker as this worker last saw it, and
    /// since when it has seen that value.
    seen_progress: RefCell<Vec<(u64, Instant)>>,
    /// This worker's probe for the monitor (`observe/probe.rs`).
    probe: Arc<CachePadded<Probe>>,
}

thread_local! {
    /// The worker running on this OS thread; null on other threads.
    static LOCAL: Cell<*const Local> = const { Cell::new(std::ptr::null()) };
}

/// Runs `f` with the current worker, if the caller runs on one.
pub(crate) fn with_local<R>(f: impl FnOnce(&Local) -> R) -> Option<R> {
    let local = LOCAL.with(|l| l.get());
    // SAFETY: LOCAL points to the `Local` that `run` keeps alive on this
    // thread's stack for as long as the pointer is set.
    unsafe { local.as_ref() }.map(f)
}

impl Local {
    /// Called on the worker's own thread.
    pub(crate) fn new(index: usize, shared: Arc<Shared>, fresh: Deque<Task>) -> Local {
        let stack_size = shared.config.stack_size;
        let workers = shared.workers.len();
        let probe = shared.workers[index].watch.probe.clone();
        Local {
            index,
            shared,
            ready: RefCell::new(VecDeque::new()),
            fresh,
            table: RefCell::new(Table::default()),
            timers: RefCell::new(Timers::new()),
            stacks: RefCell::new(StackPool::new(stack_size)),
            events: RefCell::new(epoll::events(EVENTS_PER_POLL)),
            tick: Cell::new(0),
            seen_progress: RefCell::new(vec![(u64::MAX, Instant::now()); workers]),
            probe,
        }
    }

    fn is_mine(&self, rt: &Arc<Shared>) -> bool {
        Arc::ptr_eq(&self.shared, rt)
    }

    /// Queues a woken green thread if it belongs to this worker.
    pub(crate) fn try_schedule_local(&self, green: &Green, owner: usize) -> bool {
        if owner != self.index || !self.is_mine(&green.rt) {
            return false;
        }
        self.ready.borrow_mut().push_back(green.slot());
        true
    }

    /// For a task of this worker's runtime: queues it here (taking it out
    /// of `task`), or returns the less loaded worker it should be placed on
    /// instead (see `sched` "Placing new green threads"). `None` if `rt` is
    /// not this worker's runtime.
    pub(crate) fn try_push_fresh(&self, rt: &Arc<Shared>, task: &mut Option<Task>) -> Option<usize> {
        if !self.is_mine(rt) {
            return None;
        }
        let mine = self.shared.workers[self.index].load() + self.fresh.len() as u64;
        if let Some(target) = self.shared.placement_target(self.index, mine) {
            return Some(target);
        }
        if let Some(task) = task.take() {
            self.fresh.push(task);
        }
        None
    }

    pub(crate) fn take_stack(&self, rt: &Arc<Shared>, size: usize) -> Option<io::Result<Stack>> {
        self.is_mine(rt).then(|| self.stacks.borrow_mut().take(size))
    }

    fn main_loop(&self) {
        loop {
            if self.shared.shutdown.load(Acquire) {
                return;
            }
            let tick = self.tick.get().wrapping_add(1);
            self.tick.set(tick);
            if tick % MAINTENANCE_INTERVAL == 0 {
                self.poll_io_now();
                self.drain_inbox();
                self.fire_timers();
                if let Some(task) = self.find_task() {
                    self.start(task);
                    continue;
                }
            }
            let next = self.ready.borrow_mut().pop_front();
            if let Some(slot) = next {
                self.resume(slot);
                continue;
            }
            if self.drain_inbox() || self.fire_timers() {
                continue;
            }
            if let Some(task) = self.find_task() {
                self.start(task);
                continue;
            }
            self.sleep();
        }
    }

    /// Moves remotely woken green threads to the ready queue.
    fn drain_inbox(&self) -> bool {
        let inbox = &self.shared.workers[self.index].inbox;
        let mut any = false;
        loop {
            match inbox.steal() {
                Steal::Success(green) => {
                    self.ready.borrow_mut().push_back(green.slot());
                    any = true;
                }
                Steal::Retry => continue,
                Steal::Empty => return any,
            }
        }
    }

    /// Wakes every green thread whose deadline has passed, in deadline order.
    fn fire_timers(&self) -> bool {
        if self.timers.borrow().len() == 0 {
            return false;
        }
        let now = Instant::now();
        let mut any = false;
        loop {
            let expired = self.timers.borrow_mut().pop_expired(now);
            match expired {
                Some(green) => {
                    // Every green thread with a timer here is parked or
                    // already queued (finish_park ran before we got back
                    // to the loop), never mid-switch.
                    green.wake_by_timer();
                    any = true;
                }
                None => return any,
            }
        }
    }

    /// An unstarted task: our own, then the injector's, then another
    /// worker's (stealing half of its queue).
    fn find_task(&self) -> Option<Task> {
        // Progress as other workers judge it (see `take_placed_if_stuck`):
        // published here, at every maintenance pass and every idle pass,
        // not on the per-switch path.
        self.shared.workers[self.index].progress.store(u64::from(self.tick.get()), Relaxed);
        if let Some(task) = self.take_placed(self.index) {
            return Some(task);
        }
        if let Some(task) = self.fresh.pop() {
            return Some(task);
        }
        let n = self.shared.stealers.len();
        let sources = std::iter::once(None).chain((1..n).map(|i| Some((self.index + i) % n)));
        for source in sources.clone() {
            loop {
                let stolen = match source {
                    None => self.shared.injector.steal_batch_and_pop(&self.fresh),
                    Some(i) => self.shared.stealers[i].steal_batch_and_pop(&self.fresh),
                };
                match stolen {
                    Steal::Success(task) => return Some(task),
                    Steal::Retry => continue,
                    Steal::Empty => break,
                }
            }
        }
        // Last resort: a task placed on a worker that is stuck.
        sources.flatten().find_map(|i| self.take_placed_if_stuck(i))
    }

    /// A task placed on worker `index`, if that worker has made no
    /// progress for at least [`STUCK_RESCAN`] as this worker saw it.
    fn take_placed_if_stuck(&self, index: usize) -> Option<Task> {
        let remote = &self.shared.workers[index];
        if remote.placed.is_empty() {
            return None;
        }
        let progress = remote.progress.load(Relaxed);
        let now = Instant::now();
        {
            let mut seen = self.seen_progress.borrow_mut();
            if seen[index].0 != progress {
                seen[index] = (progress, now);
                return None;
            }
            if now.saturating_duration_since(seen[index].1) < STUCK_RESCAN {
                return None;
            }
        }
        self.take_placed(index)
    }

    /// True if another worker has placed tasks waiting.
    fn placed_elsewhere(&self) -> bool {
        let workers = &self.shared.workers;
        (0..workers.len()).any(|i| i != self.index && !workers[i].placed.is_empty())
    }

    /// A task from worker `index`'s `placed` queue.
    fn take_placed(&self, index: usize) -> Option<Task> {
        let remote = &self.shared.workers[index];
        loop {
            match remote.placed.steal() {
                Steal::Success(task) => {
                    remote.placed_len.fetch_sub(1, Relaxed);
                    return Some(task);
                }
                Steal::Retry => continue,
                Steal::Empty => return None,
            }
        }
    }

    /// Starts a task: from now on it belongs to this worker.
    ///
    /// Before running it, if other workers sleep while unstarted tasks are
    /// still queued anywhere (a batch steal left some in our queue, or the
    /// wakeup meant for them was used up by a worker that found other work),
    /// wake one: the green thread about to run may block this OS thread, and
    /// the wakeups chain until every queued task has a worker.
    fn start(&self, mut task: Task) {
        if self.shared.sleepers.load(SeqCst) > 0 && self.unstarted_queued() {
            self.shared.wake_one();
        }
        let stack = std::mem::replace(&mut task.stack, Stack::EMPTY);
        let main = std::mem::replace(&mut task.main, Box::new(|| {}));
        let green = task.green.clone();
        drop(task);
        let guard = stack.guard();
        let scrubbed = crate::observe::prepare_stack(&self.shared, &stack);
        let co = context::coroutine(stack, main);
        let slot = {
            let mut table = self.table.borrow_mut();
            let slot = table.vacant();
            green.set_home(self.index, slot);
            self.shared.workers[self.index].watch.register(slot, &green, guard.1, scrubbed);
            table.entries[slot as usize] = Some(Entry { co, green, yielder: std::ptr::null(), guard });
            slot
        };
        // Only this worker writes its counter: no atomic read-modify-write.
        let started = &self.shared.workers[self.index].started;
        started.store(started.load(Relaxed) + 1, Relaxed);
        self.resume(slot);
    }

    /// Runs one green thread until it yields, parks or returns.
    fn resume(&self, slot: u32) {
        // The table stays borrowed while the green thread runs: nothing a
        // green thread can call touches it, and if something ever did, the
        // RefCell would say so instead of aliasing.
        let mut table = self.table.borrow_mut();
        let entry = table.entries[slot as usize].as_mut().expect("a ready slot holds a green thread");
        RUNNING.with(|r| r.set(entry.running(false)));
        self.probe.enter(entry.green.id.as_u64());
        // The green thread's body catches every panic of user code; one
        // escaping here is a runtime bug. Abort loudly rather than let the
        // worker die and strand every green thread it owns.
        let result = match panic::catch_unwind(AssertUnwindSafe(|| entry.co.resume(()))) {
            Ok(result) => result,
            Err(_) => {
                crate::sys::signal::write_stderr(b"fatal runtime error: weft: a panic escaped a green thread\n");
                std::process::abort();
            }
        };
        self.probe.leave();
        entry.yielder = RUNNING.with(|r| r.replace(Running::NONE)).yielder;
        match result {
            CoroutineResult::Yield(Suspend::Yield) => self.ready.borrow_mut().push_back(slot),
            CoroutineResult::Yield(Suspend::Park) => {
                if entry.green.park.finish_park() == AfterSwitch::Requeue {
                    self.ready.borrow_mut().push_back(slot);
                }
            }
            CoroutineResult::Return(()) => {
                let finished = &self.shared.workers[self.index].finished;
                finished.store(finished.load(Relaxed) + 1, Relaxed);
                crate::observe::finished(&self.shared, self.index, slot, &entry.green, entry.guard.1);
                let entry = table.remove(slot);
                drop(table);
                self.stacks.borrow_mut().give(entry.co.into_stack());
            }
        }
    }

    /// True if an unstarted task waits in any queue of this runtime.
    fn unstarted_queued(&self) -> bool {
        let shared = &self.shared;
        !self.fresh.is_empty()
            || !shared.injector.is_empty()
            || shared.stealers.iter().any(|s| !s.is_empty())
            || !shared.workers[self.index].placed.is_empty()
    }

    /// True if there is anything this worker could run or must handle.
    fn has_work(&self) -> bool {
        let shared = &self.shared;
        !self.ready.borrow().is_empty()
            || !shared.workers[self.index].inbox.is_empty()
            || self.unstarted_queued()
            || shared.shutdown.load(SeqCst)
    }

    /// Polls the reactor without waiting, if any fd is registered here, and
    /// wakes the green threads whose fds are ready. Returns true if it woke
    /// any (they are now in `ready` or, for other workers, their inboxes).
    fn poll_io_now(&self) -> bool {
        let reactor = &self.shared.workers[self.index].reactor;
        if !reactor.has_registrations() {
            return false;
        }
        self.poll_io(Some(std::time::Duration::ZERO));
        !self.ready.borrow().is_empty()
    }

    /// Waits in epoll for at most `timeout` and dispatches the events.
    fn poll_io(&self, timeout: Option<std::time::Duration>) {
        let reactor = &self.shared.workers[self.index].reactor;
        let mut events = self.events.borrow_mut();
        if let Err(e) = reactor.epoll().wait(&mut events, timeout) {
            // epoll_wait fails only for a broken epoll fd: a bug, not load.
            panic!("weft: epoll_wait failed on worker {}: {e}", self.index);
        }
        if reactor.dispatch(&events) {
            self.shared.workers[self.index].eventfd.drain();
        }
    }

    /// Sleeps in `epoll_wait` until the next deadline, an I/O event or a
    /// wakeup.
    fn sleep(&self) {
        self.stacks.borrow_mut().trim();
        let remote = &self.shared.workers[self.index];
        remote.sleeping.store(true, SeqCst);
        self.shared.sleepers.fetch_add(1, SeqCst);
        fence(SeqCst);
        if !self.has_work() {
            let mut timeout = self.timers.borrow().next_deadline().map(|d| d.saturating_duration_since(Instant::now()));
            if self.placed_elsewhere() {
                timeout = Some(timeout.map_or(STUCK_RESCAN, |t| t.min(STUCK_RESCAN)));
            }
            self.poll_io(timeout);
        }
        if remote.sleeping.swap(false, SeqCst) {
            self.shared.sleepers.fetch_sub(1, SeqCst);
        }
    }

    /// Shutdown: drops every unstarted green thread, then unwinds every
    /// started one (destructors run, join reports `Cancelled`).
    ///
    /// A green thread that owns a `weft::scope` with unfinished children is
    /// unwound only after those children have finished: unwinding it first
    /// would free the frames they borrow from. So unwinding goes in passes;
    /// children on this worker go in an earlier pass, children on other
    /// workers are being unwound by those workers meanwhile.
    fn shutdown(&self) {
        while self.fresh.pop().is_some() {}
        self.shared.drain();
        self.timers.borrow_mut().drain().for_each(drop);
        self.shared.workers[self.index].watch.clear();
        let mut table = self.table.borrow_mut();
        loop {
            let mut deferred = false;
            for slot in 0..table.entries.len() {
                let owns_running_children = match &table.entries[slot] {
                    Some(entry) => entry.green.scoped_children.load(Acquire) != 0,
                    None => continue,
                };
                if owns_running_children {
                    deferred = true;
                    continue;
                }
                let entry = table.entries[slot].take().expect("checked above");
                self.unwind(entry);
            }
            if !deferred {
                break;
            }
            std::thread::yield_now();
        }
        table.entries.clear();
        drop(table);
        self.ready.borrow_mut().clear();
        self.drain_inbox();
        self.ready.borrow_mut().clear();
    }

    /// Force-unwinds one green thread from where it is suspended.
    fn unwind(&self, mut entry: Entry) {
        RUNNING.with(|r| r.set(entry.running(true)));
        context::SWALLOWED.with(|n| n.set(0));
        // A destructor that panics while being unwound is reported by the
        // panic hook; the worker carries on with the others.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| entry.co.force_unwind()));
        RUNNING.with(|r| r.set(Running::NONE));
        if entry.co.done() {
            self.stacks.borrow_mut().give(entry.co.into_stack());
        } else {
            // Could not be unwound: leak its stack rather than reuse memory
            // something may still point into.
            std::mem::forget(entry.co);
        }
    }
}

/// The body of a worker OS thread.
pub(crate) fn run(index: usize, shared: Arc<Shared>, fresh: Deque<Task>) {
    let local = Local::new(index, shared, fresh);
    // A missing alternate signal stack only loses the overflow message.
    let _alt_stack = crate::sys::signal::ensure_alt_stack().ok().flatten();
    LOCAL.with(|l| l.set(&local));
    local.main_loop();
    local.shutdown();
    LOCAL.with(|l| l.set(std::ptr::null()));
}
