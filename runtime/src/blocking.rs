//! The blocking pool and [`unblock`]: OS threads for work that cannot be
//! made cooperative (DESIGN.md decision 4).
//!
//! # Why a pool
//!
//! A green thread that makes a blocking system call blocks its worker, and
//! with it every other green thread that worker owns (decision 1 pins them
//! there). Sockets avoid this with nonblocking fds and the reactor, but some
//! work has no readiness to wait for: a regular file is always "ready" for
//! epoll and its `read` still waits for the disk; `getaddrinfo` has no
//! nonblocking form; CPU-heavy user code and foreign blocking calls never
//! reach a weft blocking point. Such work is handed to an OS thread of this
//! pool while the calling green thread parks, so its worker runs the others.
//!
//! The rejected alternatives: one dedicated thread per call (a `clone` per
//! file read, and no bound on the thread count under load); a fixed-size
//! pool (either idle threads for nothing or a queue that stalls as soon as
//! a few jobs block for long, say on a slow NFS mount); io_uring (not on
//! every kernel, and it does not cover `getaddrinfo` or user code).
//!
//! # Policy
//!
//! * One pool per process, shared by every runtime, created on first use.
//!   Threads are named `weft-blocking-N` (N counts up, never reused) and have
//!   std's default stack size.
//! * A job goes to an idle thread if there is one; otherwise a new thread is
//!   started, up to [`MAX_BLOCKING_THREADS`] (512; the environment variable
//!   `WEFT_BLOCKING_THREADS`, read once when the pool is created, overrides
//!   it). Beyond the cap jobs queue, first in first out, and a thread that
//!   finishes a job takes the next one. The cap is generous because pool
//!   jobs mostly *wait* (on a disk, a DNS server, a lock in a foreign
//!   library), so they need threads, not cores; it is a bound nonetheless
//!   so a burst cannot exhaust the process's threads or address space
//!   (512 threads reserve about 1 GiB of virtual stack, of which only touched
//!   pages are resident). tokio picked the same number for the same reasons.
//!   Jobs that wait for *each other* can deadlock once the cap is reached
//!   and the job they wait for sits in the queue: do not do that.
//! * A thread that has been idle for [`BLOCKING_KEEP_ALIVE`] (10 s) exits.
//!   Long enough that a steady trickle of file I/O reuses warm threads
//!   instead of paying a `clone` per call, short enough that the threads of
//!   a burst are given back soon after it.
//! * If a thread cannot be started (`EAGAIN`: the process or user is at its
//!   thread limit) and the pool has other threads, the job waits in the queue
//!   for one of them. If the pool has no thread at all, nothing would ever
//!   run the job, so the caller runs it inline: its green thread then blocks
//!   its worker for the duration of that call, as std would have, which is
//!   slow but correct, where queueing would deadlock and panicking would
//!   fail a request that can be served. A warning is printed once.
//!
//! # Protocol of `unblock`
//!
//! The caller is a green thread (on an OS thread, `unblock` just calls the
//! closure: blocking that thread is what std would do, DESIGN.md decision 3).
//!
//! 1. The caller boxes the closure together with a pointer to a result slot
//!    on its own stack, erases the box's lifetime (see the `SAFETY` comment
//!    in [`unblock`]), puts the guard of step 5 on its stack, and queues the
//!    box with a heap [`Completion`] that names the caller.
//! 2. A pool thread runs the box: the closure's result, or its panic payload
//!    (caught there), goes into the slot; the box and everything it borrowed
//!    are dropped when the call returns.
//! 3. The pool thread then sets the completion's state to `DONE` (Release)
//!    and only then wakes the waiter: `GreenThread::unpark` for a parked
//!    green thread, `std::thread::Thread::unpark` for a waiter that blocks
//!    its OS thread (step 5). After that store it never touches the caller's
//!    stack again. (A job dropped unrun, by a panic on its way to the queue,
//!    publishes `DONE` too, after dropping the box: `DONE` means the box is
//!    gone.)
//! 4. The caller parks in a loop and re-checks the state (Acquire) after
//!    every return from `park`, which may be spurious (a leftover token from
//!    an unrelated `unpark`). Seeing `DONE` it takes the result from the
//!    slot and returns it, or resumes the panic with the original payload.
//! 5. If the caller's green thread is force-unwound while parked (runtime
//!    shutdown), a guard on its stack runs during the unwind, before the
//!    frames the job borrows from are freed. Parking no longer works there,
//!    so the guard blocks the worker OS thread with `std::thread::park`
//!    until `DONE`: it registers its thread, moves the state
//!    `PENDING -> BLOCKING` (a failed move means `DONE` already), and loops
//!    on the state. Shutdown of that runtime waits for the job to finish.

use std::collections::VecDeque;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::*};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::green::context;
use crate::thread::GreenThread;

/// Default upper bound on the number of blocking-pool threads; the
/// environment variable `WEFT_BLOCKING_THREADS` (a positive integer, read
/// once when the pool starts) overrides it. Beyond it, jobs queue.
pub const MAX_BLOCKING_THREADS: usize = 512;

/// How long a blocking-pool thread waits idle for a job before it exits.
pub const BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Runs `f` on the blocking pool and parks the calling green thread (not
/// its worker) until `f` has finished; returns `f`'s value. Use it for
/// anything that would block the worker: file and other blocking system
/// calls, foreign libraries, long CPU-bound work.
///
/// `f` may borrow from the caller: `unblock` does not return, and its green
/// thread's stack is not unwound past it, before `f` has finished.
///
/// A panic in `f` is caught on the pool thread and resumed in the caller
/// with the original payload. Called outside a green thread (from `main`, a
/// plain OS thread or a pool thread), `unblock` simply calls `f`.
///
/// ```
/// use std::io::Read;
///
/// let h = weft::spawn(|| {
///     let mut buf = vec![0u8; 4096];
///     let mut file = std::fs::File::open("/dev/zero").unwrap();
///     // The read blocks a pool thread; this green thread parks meanwhile.
///     let n = weft::unblock(|| file.read(&mut buf)).unwrap();
///     (n, buf[0])
/// });
/// assert_eq!(h.join().unwrap(), (4096, 0));
/// ```
///
/// # Cost
///
/// One hand-off to a pool thread and one wakeup back: a few microseconds.
/// Batch small blocking calls into one `unblock` rather than wrapping each.
///
/// # Shutdown
///
/// If the caller's runtime is dropped while `f` runs, the caller is unwound
/// (its `join` reports [`Cancelled`](crate::Cancelled)), but only once `f`
/// has returned: the runtime's drop waits for `f`.
pub fn unblock<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    let Some(green) = context::current_green() else { return f() };
    if context::unwinding() {
        // A destructor of a green thread being unwound at shutdown: nothing
        // can park any more, and the worker is stopping anyway.
        return f();
    }
    // First, so that a panic here (a bad WEFT_BLOCKING_THREADS) comes
    // before there is anything to wait for.
    let pool = pool();
    let completion = Arc::new(Completion::new(GreenThread::from_green(green)));
    let mut slot: Option<std::thread::Result<T>> = None;
    let task = Box::new(|| slot = Some(panic::catch_unwind(AssertUnwindSafe(f))));
    let task: Box<dyn FnOnce() + Send + '_> = task;
    // SAFETY: only the lifetime changes. `task` borrows `slot` (this frame)
    // and whatever `f` borrows (this frame's callers), so it must be gone
    // before this frame is. `Handoff` guarantees that `DONE` is published
    // only after `task` is gone, whether it ran (on a pool thread, or here
    // when no pool thread can start) or was dropped unrun (a panic on the
    // way to the queue). This frame is left in only two ways, and both wait
    // for `DONE` first:
    // * returning: `Wait::wait` loops until it observes `DONE` (Acquire);
    // * unwinding (a panic on the way to the queue or out of `park`, or the
    //   runtime force-unwinding this green thread at shutdown): `Wait::drop`
    //   runs before the frame is popped and blocks the OS thread until
    //   `DONE`. The guard exists before the job can reach the pool, so no
    //   path skips it.
    // The stack itself cannot vanish without an unwind: weft frees a green
    // thread's stack only after its coroutine has returned or been unwound
    // (one that cannot be unwound is leaked, never freed: see
    // `sched::worker`). This is the argument of `std::thread::scope`, with
    // the guard in place of the scope's join.
    let task: Box<dyn FnOnce() + Send + 'static> = unsafe { std::mem::transmute(task) };
    let handoff = Handoff { task: Some(task), completion: completion.clone() };
    let wait = Wait { completion: &completion };
    if let Err(job) = pool.submit(Box::new(move || handoff.run())) {
        job();
    }
    let _waiting = crate::observe::waiting_on(crate::observe::WaitReason::Blocking);
    wait.wait();
    drop(wait);
    match slot.take().expect("weft: a finished unblock job left its result") {
        Ok(value) => value,
        Err(payload) => panic::resume_unwind(payload),
    }
}

/// The hand-off between a caller of [`unblock`] and the pool thread running
/// its job. Any thread; shared through an `Arc`, so the pool thread may
/// still wake the waiter after the caller has returned.
///
/// `state` moves `PENDING -> DONE`, or `PENDING -> BLOCKING -> DONE`:
///
/// | state      | meaning                                                     | set by                    |
/// |------------|-------------------------------------------------------------|---------------------------|
/// | `PENDING`  | job queued or running; the waiter parks (green) if it waits | `new`                     |
/// | `BLOCKING` | the waiter is being unwound and blocks its OS thread        | the waiter, CAS, Release  |
/// | `DONE`     | the task is gone; if it ran, its result is in the slot      | the pool thread, swap     |
struct Completion {
    state: AtomicU8,
    /// The green thread that called `unblock`: woken on `DONE` unless it
    /// blocks its OS thread instead.
    waiter: GreenThread,
    /// The OS thread of a `BLOCKING` waiter. Written by the waiter before
    /// its Release CAS to `BLOCKING`; read by the pool thread after its swap
    /// observed `BLOCKING`.
    blocked: OnceLock<std::thread::Thread>,
}

const PENDING: u8 = 0;
const BLOCKING: u8 = 1;
const DONE: u8 = 2;

impl Completion {
    fn new(waiter: GreenThread) -> Completion {
        Completion { state: AtomicU8::new(PENDING), waiter, blocked: OnceLock::new() }
    }

    fn is_done(&self) -> bool {
        self.state.load(Acquire) == DONE
    }

    /// The job's thread, after the job (and everything it borrowed) is gone:
    /// publish `DONE`, then wake the waiter. Protocol steps 3 and 5.
    fn complete(&self) {
        match self.state.swap(DONE, AcqRel) {
            BLOCKING => self.blocked.get().expect("a blocking waiter registered its thread").unpark(),
            _ => self.waiter.unpark(),
        }
    }

    /// The waiter, when it cannot park (protocol step 5): blocks its OS
    /// thread until `DONE`.
    fn block_until_done(&self) {
        let _ = self.blocked.set(std::thread::current());
        if self.state.compare_exchange(PENDING, BLOCKING, AcqRel, Acquire).is_err() {
            return; // DONE
        }
        #[cfg(all(test, not(loom)))]
        tests::note_blocking_wait();
        while !self.is_done() {
            std::thread::park();
        }
    }
}

/// The job `unblock` queues: the caller's task, lifetime erased, and its
/// completion. Pool thread (or the caller, running it inline). However it
/// ends, run or dropped unrun, its `Drop` drops the task before it
/// publishes `DONE`: `DONE` means nothing borrows the caller's frame any
/// more.
struct Handoff {
    task: Option<Box<dyn FnOnce() + Send + 'static>>,
    completion: Arc<Completion>,
}

impl Handoff {
    /// Runs the task (it catches the panics of user code), then completes.
    fn run(mut self) {
        if let Some(task) = self.task.take() {
            task();
        }
    }
}

impl Drop for Handoff {
    fn drop(&mut self) {
        drop(self.task.take());
        self.completion.complete();
    }
}

/// The caller's side of the wait. Lives on the caller's stack from before
/// its job is queued; its `Drop` is what makes lending the stack to
/// the job sound (see the `SAFETY` comment in [`unblock`]). Owner green
/// thread only.
struct Wait<'a> {
    completion: &'a Completion,
}

impl Wait<'_> {
    /// Parks until `DONE` (protocol step 4). Shielded: cancelling the
    /// caller, or its `weft::timeout`, takes effect after the job is done,
    /// because unwinding out of here would make `drop` block the worker.
    fn wait(&self) {
        crate::shield(|| {
            while !self.completion.is_done() {
                if context::unwinding() {
                    // Parking returns at once from here on; `drop` blocks.
                    return;
                }
                crate::park();
            }
        })
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if !self.completion.is_done() {
            self.completion.block_until_done();
        }
    }
}

/// A unit of work for a pool thread. Must not panic (`unblock`'s jobs catch
/// the panics of user code).
type Job = Box<dyn FnOnce() + Send + 'static>;

/// Starts a pool thread named `name` running `body`.
type Spawner = Box<dyn Fn(String, Box<dyn FnOnce() + Send>) -> io::Result<()> + Send + Sync>;

/// The process-wide pool, created on first use.
fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let max_threads = match std::env::var("WEFT_BLOCKING_THREADS") {
            Ok(value) => match value.trim().parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => panic!("weft: WEFT_BLOCKING_THREADS must be a positive integer, got {value:?}"),
            },
            Err(_) => MAX_BLOCKING_THREADS,
        };
        Pool::new(max_threads, BLOCKING_KEEP_ALIVE, "weft-blocking", Box::new(spawn_os_thread))
    })
}

fn spawn_os_thread(name: String, body: Box<dyn FnOnce() + Send>) -> io::Result<()> {
    std::thread::Builder::new().name(name).spawn(body).map(drop)
}

/// A pool of OS threads running [`Job`]s. Any thread.
struct Pool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    state: Mutex<PoolState>,
    /// Signalled once per claimed idle thread (`PoolState::notified`).
    work: Condvar,
    max_threads: usize,
    keep_alive: Duration,
    name: &'static str,
    spawn: Spawner,
}

/// Under `PoolInner::state`.
///
/// Invariants: `threads <= max_threads`; `idle + notified <= threads`.
/// Every job pushed while `idle > 0` claims one idle thread (`idle -= 1`,
/// `notified += 1`); otherwise a new thread is started or, at the cap, a
/// busy thread takes it when it looks at the queue (it always does before
/// going idle). So a queued job is never left without a thread to run it.
struct PoolState {
    queue: VecDeque<Job>,
    /// Live pool threads.
    threads: usize,
    /// Threads waiting for work that no submitter has claimed.
    idle: usize,
    /// Claims not yet taken up by a waiting thread. A thread that wakes
    /// (claimed, timed out or spuriously) and finds one takes it and goes
    /// back to the queue; whichever waiter wakes first may take it.
    notified: usize,
    /// Suffix of the next thread's name.
    next_index: u64,
}

impl Pool {
    fn new(max_threads: usize, keep_alive: Duration, name: &'static str, spawn: Spawner) -> Pool {
        let state = PoolState { queue: VecDeque::new(), threads: 0, idle: 0, notified: 0, next_index: 0 };
        Pool {
            inner: Arc::new(PoolInner {
                state: Mutex::new(state),
                work: Condvar::new(),
                max_threads,
                keep_alive,
                name,
                spawn,
            }),
        }
    }

    /// Queues `job` and makes sure a thread will run it. `Err` gives the job
    /// back when the pool has no thread and cannot start one: the caller
    /// must run it itself.
    fn submit(&self, job: Job) -> Result<(), Job> {
        let inner = &self.inner;
        let mut state = inner.lock();
        state.queue.push_back(job);
        if state.idle > 0 {
            state.idle -= 1;
            state.notified += 1;
            drop(state);
            inner.work.notify_one();
            return Ok(());
        }
        if state.threads >= inner.max_threads {
            return Ok(());
        }
        let name = format!("{}-{}", inner.name, state.next_index);
        state.next_index += 1;
        state.threads += 1;
        // Started under the lock, so the accounting above and the job's fate
        // below are decided together; a new thread first waits for the lock.
        let worker = inner.clone();
        let spawned = (inner.spawn)(name, Box::new(move || worker.run()));
        let Err(e) = spawned else { return Ok(()) };
        state.threads -= 1;
        let result = if state.threads > 0 {
            Ok(())
        } else {
            // Nobody will take the queue; nothing else can be in it (every
            // job queued while `threads == 0` was handed back like this
            // one). Ours is the last.
            Err(state.queue.pop_back().expect("the job just queued"))
        };
        drop(state);
        warn_spawn_failed(&e);
        result
    }

    #[cfg(all(test, not(loom)))]
    fn threads(&self) -> usize {
        self.inner.lock().threads
    }
}

impl PoolInner {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // Jobs run outside the lock and pool code does not panic under it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The body of a pool thread: run queued jobs; when there are none, wait
    /// up to the keep-alive for a claim, then exit.
    fn run(&self) {
        let mut state = self.lock();
        'work: loop {
            while let Some(job) = state.queue.pop_front() {
                drop(state);
                if panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
                    crate::sys::signal::write_stderr(b"fatal runtime error: weft: a blocking-pool job panicked\n");
                    std::process::abort();
                }
                state = self.lock();
            }
            state.idle += 1;
            let deadline = Instant::now().checked_add(self.keep_alive);
            loop {
                let timeout = deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(Instant::now()));
                state = self.work.wait_timeout(state, timeout).unwrap_or_else(PoisonError::into_inner).0;
                if state.notified > 0 {
                    state.notified -= 1;
                    continue 'work;
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    state.idle -= 1;
                    state.threads -= 1;
                    return;
                }
            }
        }
    }
}

/// Once per process: the pool hit the OS thread limit.
fn warn_spawn_failed(e: &io::Error) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Relaxed) {
        eprintln!(
            "weft: cannot start a blocking-pool thread ({e}); jobs wait for the pool's other threads, \
             or run on the caller's worker if it has none"
        );
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// Test builds only: counts waiters that fell back to blocking their OS
    /// thread (protocol step 5), so a test can wait for that moment exactly.
    static BLOCKING_WAITS: Mutex<usize> = Mutex::new(0);
    static BLOCKING_WAITS_CHANGED: Condvar = Condvar::new();

    pub(super) fn note_blocking_wait() {
        *BLOCKING_WAITS.lock().unwrap() += 1;
        BLOCKING_WAITS_CHANGED.notify_all();
    }

    /// Waits until `note_blocking_wait` has been called `n` times in total;
    /// false if that takes longer than `limit` (a hung test would say less).
    fn wait_for_blocking_waits(n: usize, limit: Duration) -> bool {
        let guard = BLOCKING_WAITS.lock().unwrap();
        let (guard, _) = BLOCKING_WAITS_CHANGED.wait_timeout_while(guard, limit, |count| *count < n).unwrap();
        *guard >= n
    }

    /// A pool whose threads are recorded so tests can join them.
    fn test_pool(max_threads: usize, keep_alive: Duration) -> (Pool, Arc<Mutex<Vec<std::thread::JoinHandle<()>>>>) {
        let handles = Arc::new(Mutex::new(Vec::new()));
        let recorded = handles.clone();
        let spawn: Spawner = Box::new(move |name, body| {
            let handle = std::thread::Builder::new().name(name).spawn(body)?;
            recorded.lock().unwrap().push(handle);
            Ok(())
        });
        (Pool::new(max_threads, keep_alive, "test-blocking", spawn), handles)
    }

    #[test]
    fn pool_at_cap_queues_jobs_fifo() {
        let (pool, handles) = test_pool(2, Duration::from_secs(60));
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let gate_rx = Arc::new(Mutex::new(gate_rx));
        let (started_tx, started_rx) = mpsc::channel::<()>();
        // Two jobs occupy both threads until the gate opens.
        for _ in 0..2 {
            let (gate_rx, started_tx) = (gate_rx.clone(), started_tx.clone());
            pool.submit(Box::new(move || {
                started_tx.send(()).unwrap();
                gate_rx.lock().unwrap().recv().unwrap();
            }))
            .unwrap_or_else(|_| panic!("pool refused a job"));
        }
        started_rx.recv().unwrap();
        started_rx.recv().unwrap();
        let (order_tx, order_rx) = mpsc::channel::<usize>();
        for i in 0..5 {
            let order_tx = order_tx.clone();
            pool.submit(Box::new(move || order_tx.send(i).unwrap())).unwrap_or_else(|_| panic!("refused"));
        }
        assert_eq!(pool.threads(), 2, "no thread beyond the cap");
        // One gate opens: one thread drains the queue in order.
        gate_tx.send(()).unwrap();
        let order: Vec<usize> = (0..5).map(|_| order_rx.recv().unwrap()).collect();
        assert_eq!(order, [0, 1, 2, 3, 4]);
        gate_tx.send(()).unwrap();
        assert_eq!(handles.lock().unwrap().len(), 2, "exactly two threads were started");
    }

    #[test]
    fn pool_idle_threads_exit_after_keep_alive() {
        let (pool, handles) = test_pool(4, Duration::from_millis(1));
        let (tx, rx) = mpsc::channel();
        for i in 0..3 {
            let tx = tx.clone();
            pool.submit(Box::new(move || tx.send(i).unwrap())).unwrap_or_else(|_| panic!("refused"));
        }
        let mut got: Vec<i32> = (0..3).map(|_| rx.recv().unwrap()).collect();
        got.sort();
        assert_eq!(got, [0, 1, 2]);
        // Joining returns only once each thread has given up waiting.
        for handle in handles.lock().unwrap().drain(..) {
            handle.join().unwrap();
        }
        assert_eq!(pool.threads(), 0);
        // An emptied pool starts a thread again for the next job.
        let (tx, rx) = mpsc::channel();
        pool.submit(Box::new(move || tx.send(7).unwrap())).unwrap_or_else(|_| panic!("refused"));
        assert_eq!(rx.recv().unwrap(), 7);
    }

    #[test]
    fn pool_without_threads_hands_job_back_when_spawn_fails() {
        let failing: Spawner = Box::new(|_, _| Err(io::Error::from_raw_os_error(libc::EAGAIN)));
        let pool = Pool::new(4, Duration::from_secs(60), "never", failing);
        let result = pool.submit(Box::new(|| ()));
        let job = result.expect_err("no thread can run it");
        job();
        assert_eq!(pool.threads(), 0);
        assert_eq!(pool.inner.lock().queue.len(), 0, "the job left the queue");
    }

    #[test]
    fn pool_with_a_thread_queues_job_when_spawn_fails() {
        let spawned = Arc::new(AtomicBool::new(false));
        let flag = spawned.clone();
        // The first spawn succeeds; later ones fail as at a thread limit.
        let spawn: Spawner = Box::new(move |name, body| {
            if flag.swap(true, SeqCst) {
                return Err(io::Error::from_raw_os_error(libc::EAGAIN));
            }
            std::thread::Builder::new().name(name).spawn(body).map(drop)
        });
        let pool = Pool::new(4, Duration::from_secs(60), "one", spawn);
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel::<()>();
        pool.submit(Box::new(move || {
            started_tx.send(()).unwrap();
            gate_rx.recv().unwrap();
        }))
        .unwrap_or_else(|_| panic!("refused"));
        started_rx.recv().unwrap();
        let (tx, rx) = mpsc::channel();
        assert!(pool.submit(Box::new(move || tx.send(1).unwrap())).is_ok(), "queued for the existing thread");
        gate_tx.send(()).unwrap();
        assert_eq!(rx.recv().unwrap(), 1);
        assert_eq!(pool.threads(), 1);
    }

    #[test]
    fn unblock_completion_unparks_waiter_once_done() {
        let c = Completion::new(crate::current());
        assert!(!c.is_done());
        c.complete();
        assert!(c.is_done());
        // The token it left makes this park return at once.
        crate::park();
        // A waiter that blocks after DONE does not block.
        c.block_until_done();
    }

    /// Records, when dropped, whether `DONE` was already published.
    struct DoneOnDrop(Arc<Completion>, Arc<AtomicBool>);

    impl Drop for DoneOnDrop {
        fn drop(&mut self) {
            self.1.store(self.0.is_done(), SeqCst);
        }
    }

    #[test]
    fn unblock_handoff_dropped_unrun_drops_task_then_completes() {
        let completion = Arc::new(Completion::new(crate::current()));
        let done_at_drop = Arc::new(AtomicBool::new(true));
        let capture = DoneOnDrop(completion.clone(), done_at_drop.clone());
        let task: Box<dyn FnOnce() + Send> = Box::new(move || drop(capture));
        drop(Handoff { task: Some(task), completion: completion.clone() });
        assert!(!done_at_drop.load(SeqCst), "DONE was published before the task was gone");
        assert!(completion.is_done(), "a job dropped unrun completes");
    }

    /// Drops its report of `buf` down the channel: what the green thread's
    /// frame held when the unwind freed it.
    struct Report {
        buf: [u8; 4],
        tx: mpsc::Sender<[u8; 4]>,
    }

    impl Drop for Report {
        fn drop(&mut self) {
            let _ = self.tx.send(self.buf);
        }
    }

    /// The exact interleaving of protocol step 5: the runtime force-unwinds
    /// a green thread whose job is still running and still writes into the
    /// green thread's frame; the job waits until the unwind has reached the
    /// guard and the worker is blocked in it, then writes and returns.
    #[test]
    fn unblock_force_unwind_blocks_worker_until_job_done() {
        let rt = crate::Runtime::builder().workers(1).name("unwind-guard").build().unwrap();
        let before = *BLOCKING_WAITS.lock().unwrap();
        let (entered_tx, entered_rx) = mpsc::channel::<()>();
        let (report_tx, report_rx) = mpsc::channel::<[u8; 4]>();
        let (seen_tx, seen_rx) = mpsc::channel::<bool>();
        let h = rt.spawn(move || {
            let mut report = Report { buf: [0; 4], tx: report_tx };
            unblock(|| {
                entered_tx.send(()).unwrap();
                let reached = wait_for_blocking_waits(before + 1, Duration::from_secs(30));
                report.buf = *b"done";
                seen_tx.send(reached).unwrap();
            });
        });
        entered_rx.recv().unwrap();
        drop(rt);
        assert_eq!(&report_rx.recv().unwrap(), b"done", "the frame outlived the job");
        assert!(seen_rx.recv().unwrap(), "the worker blocked in the guard while the job ran");
        assert!(h.join().unwrap_err().is::<crate::Cancelled>());
    }
}
