//! Green threads: the control block other threads may touch, the context
//! switch, stacks, the park protocol, join and scope.
//!
//! A green thread is split in two, following DESIGN.md decision 1:
//!
//! * [`Green`], the control block (`Send + Sync`, in an `Arc`): id, name,
//!   park state, owner worker. This is all any other thread ever touches.
//! * Its coroutine and stack, which live in the owner worker's table from
//!   the first run to the end and never leave that OS thread (corosensei's
//!   `Coroutine` is deliberately not `Send`; nothing here pretends it is).
//!
//! Before its first run a green thread is a [`Task`]: the control block, a
//! stack and the boxed closure, all `Send`, so idle workers may steal it.

pub(crate) mod context;
pub(crate) mod interrupt;
pub(crate) mod join;
pub(crate) mod local;
pub(crate) mod overflow;
pub(crate) mod scope;
pub(crate) mod stack;
pub(crate) mod state;

use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use crate::sched::Shared;
use crate::thread::ThreadId;
use state::{ParkState, Unpark};

/// The control block of a green thread. Any thread.
pub(crate) struct Green {
    pub(crate) id: ThreadId,
    pub(crate) name: Option<Box<str>>,
    pub(crate) park: ParkState,
    /// The runtime it belongs to: where wakeups are routed.
    pub(crate) rt: Arc<Shared>,
    /// Index of the owner worker, `NO_OWNER` until the first run. Written
    /// once by the worker that starts it, before it can park; wakers read it
    /// after observing `PARKED` (Acquire), which orders the two.
    owner: AtomicUsize,
    /// Index in the owner worker's table. Owner worker only.
    slot: AtomicU32,
    /// Usable bytes of its stack (for overflow reports).
    pub(crate) stack_size: usize,
    /// Scoped green threads spawned by this one (in `weft::scope`) that have
    /// not finished yet. At shutdown the worker does not unwind this green
    /// thread while it is non-zero: unwinding a scope's owner would free
    /// the frames its children borrow from. Any thread.
    pub(crate) scoped_children: AtomicUsize,
    /// Cancellation request, `weft::timeout` deadline, shield depth.
    pub(crate) interrupts: interrupt::Interrupts,
    /// Its green-local values (on its own stack); null before its body
    /// starts and after it ends. Only the green thread itself uses it.
    locals: AtomicPtr<local::Locals>,
    /// What it waits for while parked (diagnostics). Written by the green
    /// thread itself at its blocking points; read by any thread.
    pub(crate) wait: crate::observe::WaitRecord,
}

const NO_OWNER: usize = usize::MAX;

impl Green {
    pub(crate) fn new(rt: Arc<Shared>, name: Option<Box<str>>, stack_size: usize) -> Green {
        Green {
            id: ThreadId::next(),
            name,
            park: ParkState::new(),
            rt,
            owner: AtomicUsize::new(NO_OWNER),
            slot: AtomicU32::new(u32::MAX),
            stack_size,
            scoped_children: AtomicUsize::new(0),
            interrupts: interrupt::Interrupts::new(),
            locals: AtomicPtr::new(std::ptr::null_mut()),
            wait: crate::observe::WaitRecord::new(),
        }
    }

    pub(crate) fn owner(&self) -> usize {
        self.owner.load(Relaxed)
    }

    pub(crate) fn slot(&self) -> u32 {
        self.slot.load(Relaxed)
    }

    /// Owner worker, at the first run.
    pub(crate) fn set_home(&self, owner: usize, slot: u32) {
        self.owner.store(owner, Relaxed);
        self.slot.store(slot, Relaxed);
    }

    pub(crate) fn locals(&self) -> *const local::Locals {
        self.locals.load(Relaxed)
    }

    /// The green thread itself, at the start and end of its body.
    pub(crate) fn set_locals(&self, locals: *const local::Locals) {
        self.locals.store(locals.cast_mut(), Relaxed);
    }

    /// Owner worker, firing its timer: wake it only if it is still parked.
    pub(crate) fn wake_by_timer(self: &Arc<Green>) {
        if self.park.unpark_if_parked() {
            crate::sched::schedule(self);
        }
    }

    /// Any thread: wake it if parked (exactly once), else leave a token.
    pub(crate) fn unpark(self: &Arc<Green>) {
        if self.park.unpark() == Unpark::Schedule {
            crate::sched::schedule(self);
        }
    }
}

/// A green thread that has not run yet. `Send`: it may be stolen.
pub(crate) struct Task {
    pub(crate) green: Arc<Green>,
    pub(crate) stack: stack::Stack,
    pub(crate) main: Box<dyn FnOnce() + Send + 'static>,
}

impl Drop for Task {
    fn drop(&mut self) {
        // An unstarted task is only dropped at shutdown; its stack was never
        // used, so it can go straight back to the process-wide free list.
        stack::free(std::mem::replace(&mut self.stack, stack::Stack::EMPTY));
    }
}
