//! The std::thread-shaped API: spawn, join, park, sleep, yield, current.
//!
//! Every function here works both inside a green thread (it parks the green
//! thread, never the worker) and on a plain OS thread (it blocks that
//! thread, as std would): DESIGN.md decision 3.

use std::any::Any;
use std::fmt;
use std::io;
use std::num::NonZeroU64;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::green::context::{self, Suspend};
use crate::green::interrupt;
use crate::green::join::{Completer, Packet};
use crate::green::local::{DestroyOnExit, Locals};
use crate::green::scope::ScopeData;
use crate::green::{stack, Green, Task};
use crate::observe::{self, WaitReason};
use crate::sched::{self, Shared};
use crate::Runtime;

/// A unique identifier of a green thread, or of an OS thread that called
/// [`current`]. Never reused within a process.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ThreadId(NonZeroU64);

impl ThreadId {
    pub(crate) fn next() -> ThreadId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ThreadId(NonZeroU64::new(NEXT.fetch_add(1, Relaxed)).expect("thread id counter overflowed"))
    }

    /// The id as a number (for logs and metrics).
    pub fn as_u64(&self) -> u64 {
        self.0.get()
    }

    /// The id numbered `n` (as returned by `as_u64`), for diagnostics that
    /// store ids in atomics.
    pub(crate) fn from_u64(n: u64) -> Option<ThreadId> {
        NonZeroU64::new(n).map(ThreadId)
    }
}

impl fmt::Display for ThreadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The payload of a green thread that did not run to completion because
/// it was cancelled: by [`JoinHandle::cancel`], or because its runtime shut
/// down before it finished.
/// [`JoinHandle::join`] returns it as `Err(Box<dyn Any + Send>)`;
/// downcast to tell it from a panic:
///
/// ```
/// let rt = weft::Runtime::builder().workers(1).build().unwrap();
/// let h = rt.spawn(|| weft::park()); // parks until unparked: never, here
/// drop(rt);
/// assert!(h.join().unwrap_err().is::<weft::Cancelled>());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("green thread cancelled")
    }
}

/// A handle to a green thread, or to an OS thread (what [`current`] returns
/// outside green threads). Cheap to clone; `unpark` works from any thread.
#[derive(Clone)]
pub struct GreenThread {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    Green(Arc<Green>),
    Os { thread: std::thread::Thread, id: ThreadId },
}

impl GreenThread {
    pub(crate) fn from_green(green: Arc<Green>) -> GreenThread {
        GreenThread { inner: Inner::Green(green) }
    }

    /// The control block, for a green thread.
    pub(crate) fn green(&self) -> Option<&Arc<Green>> {
        match &self.inner {
            Inner::Green(g) => Some(g),
            Inner::Os { .. } => None,
        }
    }

    /// The thread's unique id.
    pub fn id(&self) -> ThreadId {
        match &self.inner {
            Inner::Green(g) => g.id,
            Inner::Os { id, .. } => *id,
        }
    }

    /// The thread's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        match &self.inner {
            Inner::Green(g) => g.name.as_deref(),
            Inner::Os { thread, .. } => thread.name(),
        }
    }

    /// True for a green thread, false for an OS thread.
    pub fn is_green(&self) -> bool {
        matches!(self.inner, Inner::Green(_))
    }

    /// Makes the thread's token available, waking it if it is parked, as
    /// [`std::thread::Thread::unpark`]. Any thread may call this.
    pub fn unpark(&self) {
        match &self.inner {
            Inner::Green(g) => g.unpark(),
            Inner::Os { thread, .. } => thread.unpark(),
        }
    }
}

impl fmt::Debug for GreenThread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GreenThread")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("green", &self.is_green())
            .finish()
    }
}

/// A handle to the calling thread: the running green thread, or the OS
/// thread if called outside green threads.
pub fn current() -> GreenThread {
    if let Some(green) = context::current_green() {
        return GreenThread::from_green(green);
    }
    thread_local! {
        static OS_ID: ThreadId = ThreadId::next();
    }
    GreenThread { inner: Inner::Os { thread: std::thread::current(), id: OS_ID.with(|id| *id) } }
}

/// Blocks until the current thread's token is available, as
/// [`std::thread::park`]: it may also return spuriously, so call it in a
/// loop that checks a condition.
///
/// A blocking point: a cancelled green thread, or one whose
/// [`timeout`](crate::timeout) has elapsed, unwinds from here.
pub fn park() {
    if !park_green(None) {
        os_park(None);
    }
}

/// Like [`park`], but returns after at most `dur`.
pub fn park_timeout(dur: Duration) {
    match Instant::now().checked_add(dur) {
        Some(deadline) => {
            if !park_green(Some(deadline)) {
                os_park(Some(deadline));
            }
        }
        None => park(),
    }
}

/// Parks a green thread or an OS thread until a wakeup or `deadline`; a
/// blocking point (see [`park`]).
#[cfg_attr(loom, allow(dead_code))] // sync parks through loom instead
pub(crate) fn park_until(deadline: Option<Instant>) {
    if !park_green(deadline) {
        os_park(deadline);
    }
}

/// How a green thread's park ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParkEnd {
    /// The caller is not a green thread; nothing happened.
    NotGreen,
    /// A wakeup, its own deadline, or a spurious return.
    Woke,
    /// The deadline of an enclosing `weft::timeout` passed (soft points only;
    /// hard points unwind instead).
    TimeoutElapsed,
}

/// Parks the running green thread until a wakeup or `deadline`. Returns
/// false if the caller is not a green thread. While the runtime shuts down
/// (destructors of force-unwound green threads) it returns at once.
/// Unwinds on cancellation or an elapsed `weft::timeout`.
pub(crate) fn park_green(deadline: Option<Instant>) -> bool {
    park_point(deadline, false) != ParkEnd::NotGreen
}

/// A blocking point of a green thread: checks for interrupts, parks until a
/// wakeup, `deadline` or the enclosing `weft::timeout` deadline, and checks
/// again. Cancellation always unwinds; an elapsed timeout unwinds unless
/// `soft`, when it is returned for the caller to report (sockets fail with
/// `TimedOut`).
pub(crate) fn park_point(deadline: Option<Instant>, soft: bool) -> ParkEnd {
    if !context::with_green(|g| g.is_some()) {
        return ParkEnd::NotGreen;
    }
    if context::unwinding() {
        return ParkEnd::Woke;
    }
    let interrupted = || {
        if soft {
            interrupt::check_soft()
        } else {
            interrupt::check();
            false
        }
    };
    if interrupted() {
        return ParkEnd::TimeoutElapsed;
    }
    let deadline = match (deadline, interrupt::deadline()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    context::with_green(|green| {
        let green = green.expect("checked above");
        if green.park.try_consume() {
            return;
        }
        // The default reason; a caller's more specific one takes precedence.
        let _waiting = observe::waiting_on(WaitReason::Park { until: deadline });
        let key = deadline.map(|d| sched::add_timer(d, context::current_green().expect("running green thread")));
        if green.park.begin_park() {
            context::suspend(Suspend::Park);
        }
        if let Some(key) = key {
            sched::cancel_timer(key);
        }
    });
    if interrupted() {
        return ParkEnd::TimeoutElapsed;
    }
    ParkEnd::Woke
}

/// An OS thread's park: until a wakeup, `deadline` or the enclosing
/// `weft::timeout` deadline (then it unwinds to that `timeout`).
fn os_park(deadline: Option<Instant>) {
    interrupt::check();
    let deadline = match (deadline, interrupt::deadline()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    match deadline {
        Some(d) => std::thread::park_timeout(d.saturating_duration_since(Instant::now())),
        None => std::thread::park(),
    }
    interrupt::check();
}

/// Puts the current thread to sleep for at least `dur`: a green thread
/// parks (its worker runs others), an OS thread sleeps. A blocking point
/// (see [`park`]).
pub fn sleep(dur: Duration) {
    let Some(deadline) = Instant::now().checked_add(dur) else {
        loop {
            park();
        }
    };
    if !context::with_green(|g| g.is_some()) {
        interrupt::check();
        match interrupt::deadline() {
            Some(limit) if limit < deadline => {
                std::thread::sleep(limit.saturating_duration_since(Instant::now()));
                interrupt::check();
            }
            _ => std::thread::sleep(deadline.saturating_duration_since(Instant::now())),
        }
        return;
    }
    let _waiting = observe::waiting_on(WaitReason::Sleep { until: deadline });
    while Instant::now() < deadline && !context::unwinding() {
        park_green(Some(deadline));
    }
}

/// Gives up the worker to the other ready green threads (or, on an OS
/// thread, calls [`std::thread::yield_now`]).
pub fn yield_now() {
    if context::with_green(|g| g.is_some_and(|g| g.interrupts.cancel_requested())) {
        interrupt::check();
    }
    if !context::yield_green() {
        std::thread::yield_now();
    }
}

/// Spawns a green thread on the caller's runtime (the one running the
/// calling green thread, or the default runtime) and returns a handle to
/// join it. The same bounds as [`std::thread::spawn`].
///
/// # Panics
///
/// Panics if no stack can be allocated, as `std::thread::spawn` panics when
/// the OS cannot create a thread; use [`Builder::spawn`] to get the error.
///
/// A green thread cannot capture non-`Send` values:
///
/// ```compile_fail
/// let rc = std::rc::Rc::new(5);
/// weft::spawn(move || *rc + 1);
/// ```
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new().spawn(f).expect("weft: failed to spawn green thread")
}

/// Green-thread factory with configuration, shaped like
/// [`std::thread::Builder`].
#[derive(Debug, Default)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the green thread (shown in panic messages and overflow reports).
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Usable stack size in bytes, rounded up to whole pages and to at least
    /// [`MIN_STACK_SIZE`](crate::MIN_STACK_SIZE). Default: the runtime's
    /// (64 KiB unless configured).
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Spawns on the caller's runtime. Errors if no stack can be allocated;
    /// the message names the cause.
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let rt = sched::current_or_default();
        // SAFETY: F and T are 'static, so nothing the green thread holds can
        // dangle however long it lives.
        unsafe { self.spawn_unchecked(&rt, f, None) }
    }

    /// Spawns on the given runtime.
    pub fn spawn_on<F, T>(self, rt: &Runtime, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // SAFETY: F and T are 'static.
        unsafe { self.spawn_unchecked(rt.shared(), f, None) }
    }

    /// # Safety
    ///
    /// Everything `f` borrows, and `T`, must stay valid until the green
    /// thread has finished and its packet is dropped; `scope` guarantees it
    /// by waiting for every child before returning.
    pub(crate) unsafe fn spawn_unchecked<'a, F, T>(
        self,
        rt: &Arc<Shared>,
        f: F,
        scope: Option<Arc<ScopeData>>,
    ) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'a,
        T: Send + 'a,
    {
        let size = stack::round_size(self.stack_size.unwrap_or(rt.config.stack_size));
        let stack = sched::take_stack(rt, size)?;
        let name = self.name.map(String::into_boxed_str);
        let green = Arc::new(Green::new(rt.clone(), name, size));
        if let Some(scope) = &scope {
            scope.increment();
        }
        let packet = Arc::new(Packet::new(scope));
        let completer = Completer::new(packet.clone());
        let main = move || {
            // Cancelled before it ever ran: do not start it at all.
            if context::with_green(|g| g.is_some_and(|g| g.interrupts.cancel_requested())) {
                return completer.complete(Err(Box::new(Cancelled)));
            }
            // Its green-locals are destroyed before the result is published,
            // as an OS thread's thread-locals are before `join` returns.
            let result = {
                let locals = Locals::default();
                context::with_green(|g| {
                    g.expect("a green thread's body runs as that green thread").set_locals(&locals)
                });
                let _destroy = DestroyOnExit(&locals);
                panic::catch_unwind(AssertUnwindSafe(f))
            };
            match result {
                // The worker is force-unwinding this green thread (runtime
                // shutdown): corosensei must see its own payload again; the
                // completer's drop reports Cancelled.
                Err(payload) if context::unwinding() => panic::resume_unwind(payload),
                result => completer.complete(result),
            }
        };
        let main: Box<dyn FnOnce() + Send + 'a> = Box::new(main);
        // SAFETY: only the lifetime changes. The caller guarantees that what
        // `main` borrows outlives the green thread (see `# Safety`).
        let main: Box<dyn FnOnce() + Send + 'static> = unsafe { std::mem::transmute(main) };
        sched::submit(rt, Task { green: green.clone(), stack, main });
        Ok(JoinHandle { packet, thread: GreenThread::from_green(green) })
    }
}

/// An owned permission to join a green thread, as
/// [`std::thread::JoinHandle`]. Dropping it detaches the green thread.
pub struct JoinHandle<T> {
    packet: Arc<Packet<T>>,
    thread: GreenThread,
}

impl<T> JoinHandle<T> {
    /// Waits for the green thread to finish and returns its result: `Ok`
    /// with its return value, or `Err` with its panic payload (or
    /// [`Cancelled`] if its runtime shut down first). Works from green threads
    /// (parks) and OS threads (blocks).
    ///
    /// # Panics
    ///
    /// Panics if a green thread tries to join itself.
    pub fn join(self) -> std::thread::Result<T> {
        join_packet(&self.packet, &self.thread)
    }

    /// True once the green thread has finished (returned, panicked or been
    /// cancelled); `join` will then not block.
    pub fn is_finished(&self) -> bool {
        self.packet.is_done()
    }

    /// A handle to the green thread.
    pub fn thread(&self) -> &GreenThread {
        &self.thread
    }

    /// Asks the green thread to stop: it unwinds from its current or next
    /// blocking point (a socket call, sleep, park, join, lock, channel,
    /// `yield_now`), running its destructors, and [`join`](Self::join) then
    /// returns `Err` with a [`Cancelled`] payload (no panic message is
    /// printed). A green thread that has not started yet never runs. Code
    /// inside [`shield`](crate::shield) is not interrupted; cancellation
    /// takes effect at the first blocking point after it. Cancelling a
    /// finished green thread does nothing. Any thread may call this.
    ///
    /// ```
    /// let h = weft::spawn(|| loop { weft::park() });
    /// h.cancel();
    /// assert!(h.join().unwrap_err().is::<weft::Cancelled>());
    /// ```
    pub fn cancel(&self) {
        if let Some(green) = self.thread.green() {
            green.interrupts.request_cancel();
            green.unpark();
        }
    }

    pub(crate) fn into_parts(self) -> (Arc<Packet<T>>, GreenThread) {
        (self.packet, self.thread)
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("thread", &self.thread).finish_non_exhaustive()
    }
}

pub(crate) fn join_packet<T>(packet: &Packet<T>, target: &GreenThread) -> std::thread::Result<T> {
    if !packet.is_done() && context::with_green(|g| g.is_some_and(|g| g.id == target.id())) {
        panic!("weft: green thread {} tried to join itself, which would wait forever", target.id());
    }
    packet.join(current, || {
        if context::with_green(|g| g.is_some()) {
            if context::unwinding() {
                return false;
            }
            let _waiting = observe::waiting_on(WaitReason::Join { target: target.id() });
            park_green(None);
        } else {
            os_park(None);
        }
        true
    })
}

/// The message of a panic payload, as std prints it.
pub(crate) fn payload_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "Box<dyn Any>"
    }
}
