//! Scoped green threads, shaped like [`std::thread::scope`]: children may
//! borrow from the caller because `scope` returns only after every child
//! has finished and its result has been dropped.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::sync::Arc;

use super::join::Packet;
use crate::sched::{self, Shared};
use crate::thread::{self, Builder, GreenThread};

/// Shared by a scope and its children's packets. Any thread.
pub(crate) struct ScopeData {
    /// Children whose packet still exists.
    running: AtomicUsize,
    /// A child panicked and nobody joined it to see the panic.
    panicked: AtomicBool,
    /// The thread running `scope`, woken when the last child is gone. If it
    /// is a green thread, it counts this scope's unfinished children (see
    /// `Green::scoped_children`).
    main: GreenThread,
}

impl ScopeData {
    pub(crate) fn increment(&self) {
        // A bound far below usize::MAX: an overflow would make `scope`
        // return while children still borrow from it.
        if self.running.fetch_add(1, Relaxed) > usize::MAX / 2 {
            self.running.fetch_sub(1, Relaxed);
            panic!("weft: too many green threads in one scope");
        }
        if let Some(owner) = self.main.green() {
            owner.scoped_children.fetch_add(1, Relaxed);
        }
    }

    /// A child has finished running (returned, panicked, or was dropped
    /// unstarted): nothing on its stack borrows from the scope any more.
    pub(crate) fn child_finished(&self) {
        if let Some(owner) = self.main.green() {
            owner.scoped_children.fetch_sub(1, Release);
        }
    }

    pub(crate) fn decrement(&self, unhandled_panic: bool) {
        if unhandled_panic {
            self.panicked.store(true, Relaxed);
        }
        if self.running.fetch_sub(1, Release) == 1 {
            self.main.unpark();
        }
    }
}

/// A scope to spawn scoped green threads in; see [`scope`].
pub struct Scope<'scope, 'env: 'scope> {
    data: Arc<ScopeData>,
    rt: Arc<Shared>,
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

/// Runs `f` with a [`Scope`] whose green threads may borrow non-`'static`
/// data; returns once all of them have finished. If any of them panicked
/// and was not joined, `scope` panics after all have finished, as
/// [`std::thread::scope`] does.
///
/// ```
/// let mut counts = [0usize; 4];
/// let words = vec!["green", "threads", "borrow", "safely"];
/// weft::scope(|s| {
///     for (count, word) in counts.iter_mut().zip(&words) {
///         s.spawn(move || *count = word.len());
///     }
/// });
/// assert_eq!(counts, [5, 7, 6, 6]);
/// ```
#[track_caller]
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let scope = Scope {
        data: Arc::new(ScopeData {
            running: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            main: thread::current(),
        }),
        rt: sched::current_or_default(),
        scope: PhantomData,
        env: PhantomData,
    };
    let result = panic::catch_unwind(AssertUnwindSafe(|| f(&scope)));
    while scope.data.running.load(Acquire) != 0 {
        thread::park();
    }
    match result {
        Err(payload) => panic::resume_unwind(payload),
        Ok(_) if scope.data.panicked.load(Relaxed) => panic!("a scoped green thread panicked"),
        Ok(value) => value,
    }
}

impl<'scope> Scope<'scope, '_> {
    /// Spawns a scoped green thread; it may borrow anything that outlives
    /// the scope.
    ///
    /// # Panics
    ///
    /// Panics if no stack can be allocated; see [`Scope::spawn_with`].
    pub fn spawn<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        self.spawn_with(Builder::new(), f).expect("weft: failed to spawn scoped green thread")
    }

    /// Spawns a scoped green thread configured by `builder`.
    pub fn spawn_with<F, T>(&'scope self, builder: Builder, f: F) -> io::Result<ScopedJoinHandle<'scope, T>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        // SAFETY: `scope` does not return until this child's packet has been
        // dropped (ScopeData::running), so everything with lifetime 'scope
        // that `f` and `T` borrow outlives the green thread's use of it.
        let handle = unsafe { builder.spawn_unchecked(&self.rt, f, Some(self.data.clone()))? };
        let (packet, thread) = handle.into_parts();
        Ok(ScopedJoinHandle { packet, thread, scope: PhantomData })
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope").field("running", &self.data.running.load(Relaxed)).finish_non_exhaustive()
    }
}

/// A handle to join a scoped green thread.
pub struct ScopedJoinHandle<'scope, T> {
    packet: Arc<Packet<T>>,
    thread: GreenThread,
    scope: PhantomData<&'scope ()>,
}

impl<T> fmt::Debug for ScopedJoinHandle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedJoinHandle").field("thread", &self.thread).finish_non_exhaustive()
    }
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Waits for the green thread to finish; see [`crate::JoinHandle::join`].
    pub fn join(self) -> std::thread::Result<T> {
        thread::join_packet(&self.packet, &self.thread)
    }

    pub fn is_finished(&self) -> bool {
        self.packet.is_done()
    }

    pub fn thread(&self) -> &GreenThread {
        &self.thread
    }
}
