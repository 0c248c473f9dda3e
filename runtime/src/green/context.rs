//! The context switch: the only user of corosensei.
//!
//! A worker resumes a green thread's coroutine; the green thread suspends
//! back to the worker with a [`Suspend`] reason. While a green thread runs,
//! the thread-local [`RUNNING`] names it, its `Yielder` and its guard page,
//! so blocking calls deep in user code can switch out and the fault handler
//! can name an overflowing green thread.
//!
//! `RUNNING` is a `const`-initialised `Cell` of plain data: reading it needs
//! no lazy initialisation and no destructor, which makes it safe to read from
//! the `SIGSEGV` handler.

use std::cell::Cell;
use std::sync::Arc;

use super::stack::Stack;
use super::Green;

/// Why a green thread switched out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Suspend {
    /// `yield_now`: run it again after the others that are ready.
    Yield,
    /// `park`: its state is `PARKING`; the worker finishes the park.
    Park,
}

pub(crate) type Yielder = corosensei::Yielder<(), Suspend>;
pub(crate) type Coroutine = corosensei::Coroutine<(), Suspend, (), Stack>;

/// What the current OS thread is running. Owner worker only (it is a
/// thread-local of the worker).
#[derive(Clone, Copy)]
pub(crate) struct Running {
    /// From `Arc::as_ptr`; the worker's table holds that `Arc` while the
    /// green thread runs. Null when no green thread runs.
    pub(crate) green: *const Green,
    /// Lives on the green thread's own stack for its whole life. Null until
    /// the coroutine body has started.
    pub(crate) yielder: *const Yielder,
    /// Guard page range of the running stack.
    pub(crate) guard: (usize, usize),
    /// Set while the worker force-unwinds green threads at shutdown.
    pub(crate) unwinding: bool,
    /// Socket operations that completed at once since this green thread was
    /// last resumed (see [`spend_io_budget`]).
    pub(crate) io_streak: u32,
}

impl Running {
    pub(crate) const NONE: Running =
        Running { green: std::ptr::null(), yielder: std::ptr::null(), guard: (0, 0), unwinding: false, io_streak: 0 };
}

thread_local! {
    pub(crate) static RUNNING: Cell<Running> = const { Cell::new(Running::NONE) };
}

/// The running green thread's control block, if the caller is one.
pub(crate) fn current_green() -> Option<Arc<Green>> {
    let green = RUNNING.with(|r| r.get().green);
    if green.is_null() {
        return None;
    }
    // SAFETY: `green` came from `Arc::as_ptr` of an `Arc` the worker's table
    // keeps alive while this green thread runs (and we are running on it);
    // bumping the count first makes `from_raw` produce a new owned `Arc`.
    unsafe {
        Arc::increment_strong_count(green);
        Some(Arc::from_raw(green))
    }
}

/// Runs `f` with the running green thread's control block, if any, without
/// touching the reference count.
pub(crate) fn with_green<R>(f: impl FnOnce(Option<&Green>) -> R) -> R {
    let green = RUNNING.with(|r| r.get().green);
    // SAFETY: as in `current_green`, the pointee outlives this call.
    f(unsafe { green.as_ref() })
}

/// True while the worker force-unwinds this green thread at shutdown and it
/// is running destructors: blocking calls must then return at once.
///
/// If the green thread is being unwound but is *not* panicking, user code
/// caught the unwind (`catch_unwind` in a loop, say) and carried on; then
/// this switches out, and the worker resumes it with a fresh forced unwind
/// (corosensei re-raises it at the suspension point). Code that swallows the
/// unwind [`MAX_SWALLOWED_UNWINDS`] times would keep shutdown spinning
/// forever; the process then aborts with a message naming the green thread
/// rather than hang silently.
pub(crate) fn unwinding() -> bool {
    if !RUNNING.with(|r| r.get().unwinding) {
        return false;
    }
    if !std::thread::panicking() {
        let swallowed = SWALLOWED.with(|n| {
            n.set(n.get() + 1);
            n.get()
        });
        if swallowed >= MAX_SWALLOWED_UNWINDS {
            let who = with_green(|g| g.map(|g| format!("'{}' ({})", g.name.as_deref().unwrap_or("<unnamed>"), g.id)));
            eprintln!(
                "fatal runtime error: weft: green thread {} caught the runtime's shutdown unwind {swallowed} \
                 times (catch_unwind around a weft blocking call, in a loop); the runtime cannot shut down. \
                 Re-raise payloads you did not create with std::panic::resume_unwind.",
                who.unwrap_or_default()
            );
            std::process::abort();
        }
        suspend(Suspend::Yield);
    }
    true
}

/// See [`unwinding`].
pub(crate) const MAX_SWALLOWED_UNWINDS: u32 = 16;

thread_local! {
    /// Shutdown unwinds swallowed by the green thread being unwound; reset
    /// by the worker before each one.
    pub(crate) static SWALLOWED: Cell<u32> = const { Cell::new(0) };
}

/// Switches the running green thread out. Green thread only.
pub(crate) fn suspend(reason: Suspend) {
    let yielder = RUNNING.with(|r| r.get().yielder);
    assert!(!yielder.is_null(), "weft: suspend called outside a green thread");
    // SAFETY: the Yielder lives on the stack of the coroutine we are running
    // on, for the coroutine's whole life, and is only used from that stack.
    unsafe { (*yielder).suspend(reason) };
}

/// `yield_now` for green threads: switches out to the back of the ready
/// queue. Returns false (doing nothing) if the caller is not a green thread.
/// Socket operations a green thread may complete in a row without waiting
/// before it yields to the others on its worker.
pub(crate) const IO_BUDGET: u32 = 128;

/// Counts a socket operation that completed without waiting. A green thread
/// whose peer keeps data flowing never meets `WouldBlock`, so it would never
/// switch out and would hold its worker for as long as the flood lasts (an
/// upload at loopback speed, say); after [`IO_BUDGET`] such operations in a
/// row this returns true and the caller yields. The count starts afresh
/// whenever the green thread is resumed, so one that waits now and then
/// never reaches it. Tokio's cooperative budget exists for the same reason.
pub(crate) fn spend_io_budget() -> bool {
    RUNNING.with(|r| {
        let mut running = r.get();
        if running.green.is_null() {
            return false;
        }
        running.io_streak += 1;
        r.set(running);
        running.io_streak >= IO_BUDGET
    })
}

pub(crate) fn yield_green() -> bool {
    let running = RUNNING.with(|r| r.get());
    if running.green.is_null() {
        return false;
    }
    if !running.unwinding {
        // SAFETY: as in `suspend`; a running green thread's yielder is set
        // before any user code runs.
        unsafe { (*running.yielder).suspend(Suspend::Yield) };
    }
    true
}

/// Runs `f` on the worker's own stack instead of the green thread's, for
/// stack-hungry work such as resolving a backtrace. Green thread only.
pub(crate) fn on_worker_stack<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let yielder = RUNNING.with(|r| r.get().yielder);
    if yielder.is_null() {
        return f();
    }
    // SAFETY: as in `suspend`.
    unsafe { (*yielder).on_parent_stack(f) }
}

/// Builds a coroutine that runs `main` on `stack`. Owner worker only.
pub(crate) fn coroutine(stack: Stack, main: Box<dyn FnOnce() + Send>) -> Coroutine {
    Coroutine::with_stack(stack, move |yielder: &Yielder, ()| {
        RUNNING.with(|r| {
            let mut running = r.get();
            running.yielder = yielder;
            r.set(running);
        });
        main();
    })
}
