//! What other threads may see of one worker: its [`Probe`], the registry of
//! the green threads it has started, and since when (as far as the monitor
//! knows) its current green thread has been running.
//!
//! # The registry
//!
//! A dump must list every live green thread, including those of a worker
//! that is stuck (a hog, a blocking system call): exactly when a dump is
//! wanted. So the list cannot be something the worker produces on request;
//! it is a table other threads can read at any time, behind a mutex.
//!
//! * The owner worker adds a green thread when it starts it (its table slot
//!   is the index) and removes it when it finishes, *before* dropping its
//!   `Arc<Green>`; at shutdown it clears the whole table before unwinding.
//! * The table holds a pointer, not an `Arc`: no reference-count traffic
//!   per spawn, and no `Arc<Shared> -> Green -> Arc<Shared>` cycle. A
//!   reader clones the `Arc` while it holds the lock, during which the
//!   owner cannot finish removing the entry, so the pointee is alive.
//! * Cost per green thread: one uncontended lock and unlock at start, one
//!   at finish, on a cache line the owner keeps (readers are rare). The
//!   rejected alternative, a process-wide sharded list updated by `spawn`,
//!   costs the same lock from whatever thread spawns, on a shared line.
//! * Unstarted green threads are not listed (they sit in work-stealing
//!   queues that cannot be iterated); a dump counts them.

use std::ptr::NonNull;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crossbeam_utils::CachePadded;

use super::probe::{Probe, Running};
use crate::green::Green;

/// The observable side of one worker, in its `sched::Remote`. Any thread,
/// with the writers named per field.
#[derive(Default)]
pub(crate) struct Watch {
    /// Owner worker writes on every resume: a cache line of its own. The
    /// worker keeps a clone of the `Arc`, so its resume path reaches the
    /// probe with one load instead of indexing the runtime's worker table.
    pub(crate) probe: Arc<CachePadded<Probe>>,
    /// By table slot. Owner worker writes; any thread reads.
    registry: Mutex<Vec<Option<Entry>>>,
    /// The epoch the monitor last saw running and when it first saw it.
    /// The monitor writes (once per new run it sees); dumps read.
    running_since: Mutex<Option<(u64, Instant)>>,
}

/// A registered green thread.
struct Entry {
    /// From `Arc::as_ptr` of the `Arc` in the owner's table; valid while
    /// the entry exists (see the module docs).
    green: NonNull<Green>,
    /// Lowest usable address of its stack.
    stack_bottom: usize,
    /// The stack was released when the green thread started, so every
    /// resident page is one it touched (`stack_report` mode).
    scrubbed: bool,
}

// SAFETY: an `Entry` is a `Green` pointer that stays valid while the entry
// is in the registry (the owner removes it before dropping its `Arc`), and
// `Green` is `Sync`: reading it from whichever thread holds the lock is
// what `Arc<Green>: Send` allows anyway.
unsafe impl Send for Entry {}

/// A started green thread, as a reader of the registry gets it.
pub(crate) struct Started {
    pub(crate) green: Arc<Green>,
    pub(crate) stack_bottom: usize,
    pub(crate) scrubbed: bool,
}

impl Watch {
    fn registry(&self) -> MutexGuard<'_, Vec<Option<Entry>>> {
        // Nothing panics while the lock is held; a poisoned one still holds
        // consistent data.
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Owner worker, when it starts `green` in table slot `slot`.
    pub(crate) fn register(&self, slot: u32, green: &Arc<Green>, stack_bottom: usize, scrubbed: bool) {
        let mut registry = self.registry();
        let slot = slot as usize;
        if registry.len() <= slot {
            registry.resize_with(slot + 1, || None);
        }
        registry[slot] = Some(Entry { green: NonNull::from(&**green), stack_bottom, scrubbed });
    }

    /// Owner worker, when the green thread in `slot` has finished, before
    /// its control block is dropped.
    pub(crate) fn unregister(&self, slot: u32) {
        if let Some(entry) = self.registry().get_mut(slot as usize) {
            *entry = None;
        }
    }

    /// Owner worker, at shutdown, before it unwinds its green threads.
    pub(crate) fn clear(&self) {
        self.registry().clear();
    }

    /// Any thread: every green thread started here and not finished.
    pub(crate) fn started(&self) -> Vec<Started> {
        let registry = self.registry();
        registry
            .iter()
            .flatten()
            .map(|entry| {
                let ptr = entry.green.as_ptr().cast_const();
                // SAFETY: the entry is registered and we hold the lock, so
                // the owner's `Arc` is alive (module docs); bumping the
                // count first makes `from_raw` a new owned `Arc`.
                let green = unsafe {
                    Arc::increment_strong_count(ptr);
                    Arc::from_raw(ptr)
                };
                Started { green, stack_bottom: entry.stack_bottom, scrubbed: entry.scrubbed }
            })
            .collect()
    }

    /// The monitor, on first seeing resume `epoch` running, at `since`.
    pub(crate) fn set_running_since(&self, epoch: u64, since: Instant) {
        *self.running_since.lock().unwrap_or_else(|e| e.into_inner()) = Some((epoch, since));
    }

    /// Any thread: since when the monitor has seen `running`, if it has.
    pub(crate) fn running_since(&self, running: Running) -> Option<Instant> {
        let since = self.running_since.lock().unwrap_or_else(|e| e.into_inner());
        since.filter(|(epoch, _)| *epoch == running.epoch).map(|(_, at)| at)
    }
}
