//! The reactor: one epoll instance per worker, per-fd waiter slots, and the
//! protocol that parks a green thread on a socket without losing readiness.
//!
//! # Pieces
//!
//! * [`Reactor`] (one per worker, in `sched::Remote`, any thread): the
//!   worker's epoll instance and a slab of registrations. Tokens in epoll
//!   events are `(generation << 32) | index` into the slab, so an event for
//!   a registration that has just been removed (and whose slot may already
//!   be reused) is recognised as stale and ignored. The worker's wakeup
//!   eventfd is registered too, with [`WAKEUP_TOKEN`].
//! * [`ScheduledIo`] (one per registered fd, any thread): two waiter slots,
//!   readable and writable, so one green thread can read while another
//!   writes the same socket. Each slot has a tick, bumped by every event for
//!   its direction, and a list of parked green threads.
//! * [`Registration`]: owned by the [`crate::io::Pollable`] wrapping the fd;
//!   registers the fd once (edge-triggered, read and write interest) on the
//!   worker of the first green thread that has to wait on it, and removes
//!   it from epoll before the fd is closed.
//!
//! # The wait protocol (DESIGN.md decision 2)
//!
//! Edge-triggered epoll reports a change, not a state: an event that nobody
//! sees is gone. The protocol makes sure a green thread never parks after an
//! edge it has not reacted to:
//!
//! 1. Read the direction's tick (`t0`).
//! 2. Try the operation. If it does not fail with `WouldBlock`, done.
//! 3. Lock the slot. If the tick moved since `t0`, an event arrived after
//!    step 1: unlock and go to 1 (the `WouldBlock` may predate the data).
//!    Otherwise add ourselves to the slot's waiters and unlock.
//! 4. Park (with the operation's deadline, if any).
//! 5. Lock the slot and remove ourselves if still listed (timeout or a
//!    spurious wakeup). Go to 1, or report the timeout if the deadline passed.
//!
//! The worker that owns the epoll instance, for each event: locks the slot
//! of each direction the event concerns, bumps its tick, and unparks every
//! waiter (the list is drained under the lock). Any data that arrives after
//! step 2 generates an event after step 2, whose dispatch either precedes
//! step 3 (the tick moved) or finds us listed: no lost wakeup. A wakeup
//! that races step 5 leaves at most a park token behind, which every park
//! loop tolerates.
//!
//! Lazy registration fits the protocol: `EPOLL_CTL_ADD` reports the fd's
//! current readiness as an event, so the first wait registers and then uses
//! `t0 = 0`, the tick of a fresh slot.
//!
//! # Waking green threads of other workers
//!
//! The fd's events are read by the worker it was registered on; the
//! green threads parked on it may belong to any worker (a socket can be
//! shared). Unparking routes each to its owner as for any other wakeup.
//!
//! # Busy workers still poll
//!
//! A worker whose run queue never empties would never reach `epoll_wait`.
//! So every `MAINTENANCE_INTERVAL` (61) resumptions it also polls its epoll
//! instance with a zero timeout when it has registrations: I/O readiness
//! waits at most 61 green-thread switches.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::green::{context, interrupt, Green};
use crate::sched::{self, Shared};
use crate::sys::epoll::{self, Epoll};
use crate::thread::{park_point, GreenThread, ParkEnd};

/// The epoll token of the worker's wakeup eventfd.
pub(crate) const WAKEUP_TOKEN: u64 = u64::MAX;

/// How many events one `epoll_wait` returns at most. Further ready fds wait
/// for the next poll, which comes after the woken green threads ran.
pub(crate) const EVENTS_PER_POLL: usize = 1024;

/// Which readiness an operation waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read = 0,
    Write = 1,
}

/// One worker's epoll instance and registrations. Any thread may register
/// and deregister; only the owner worker waits and dispatches.
pub(crate) struct Reactor {
    epoll: Epoll,
    slab: Mutex<Slab>,
    /// Live registrations: the owner polls while busy only if non-zero.
    registered: AtomicUsize,
}

#[derive(Default)]
struct Slab {
    entries: Vec<SlabEntry>,
    free: Vec<u32>,
}

struct SlabEntry {
    generation: u32,
    io: Option<Arc<ScheduledIo>>,
}

impl Reactor {
    pub(crate) fn new() -> io::Result<Reactor> {
        Ok(Reactor { epoll: Epoll::new()?, slab: Mutex::new(Slab::default()), registered: AtomicUsize::new(0) })
    }

    /// Registers the worker's wakeup eventfd (level-triggered).
    pub(crate) fn add_wakeup(&self, fd: RawFd) -> io::Result<()> {
        self.epoll.add(fd, epoll::READABLE, WAKEUP_TOKEN)
    }

    pub(crate) fn epoll(&self) -> &Epoll {
        &self.epoll
    }

    /// True if any fd is registered here.
    pub(crate) fn has_registrations(&self) -> bool {
        self.registered.load(Relaxed) != 0
    }

    fn slab(&self) -> MutexGuard<'_, Slab> {
        // The slab is only locked for a few instructions that cannot panic
        // halfway; a poisoned lock still holds consistent data.
        self.slab.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn register(&self, fd: RawFd) -> io::Result<(u64, Arc<ScheduledIo>)> {
        let io = Arc::new(ScheduledIo::new());
        let token = {
            let mut slab = self.slab();
            let index = match slab.free.pop() {
                Some(index) => index,
                None => {
                    slab.entries.push(SlabEntry { generation: 0, io: None });
                    u32::try_from(slab.entries.len() - 1).expect("more than 2^32 registered fds")
                }
            };
            let entry = &mut slab.entries[index as usize];
            entry.generation = entry.generation.wrapping_add(1);
            entry.io = Some(io.clone());
            (u64::from(entry.generation) << 32) | u64::from(index)
        };
        if let Err(e) = self.epoll.add(fd, epoll::EDGE_READ_WRITE, token) {
            self.remove(token);
            return Err(e);
        }
        self.registered.fetch_add(1, Relaxed);
        Ok((token, io))
    }

    fn remove(&self, token: u64) {
        let mut slab = self.slab();
        let index = token as u32;
        let entry = &mut slab.entries[index as usize];
        debug_assert_eq!(entry.generation, (token >> 32) as u32);
        entry.io = None;
        slab.free.push(index);
    }

    fn deregister(&self, fd: RawFd, token: u64) {
        // Failure means the fd is not registered here any more (closed
        // behind our back by unsafe code); nothing is left to undo.
        let _ = self.epoll.delete(fd);
        self.remove(token);
        self.registered.fetch_sub(1, Relaxed);
    }

    /// Wakes the green threads waiting on the fds in `events`. Returns true
    /// if the wakeup eventfd was among them. Owner worker only.
    pub(crate) fn dispatch(&self, events: &[libc::epoll_event]) -> bool {
        let mut wakeup = false;
        let slab = self.slab();
        for event in events {
            let (token, bits) = (event.u64, event.events);
            if token == WAKEUP_TOKEN {
                wakeup = true;
                continue;
            }
            let Some(entry) = slab.entries.get(token as u32 as usize) else { continue };
            if entry.generation != (token >> 32) as u32 {
                continue; // removed (and maybe reused) since the event was queued
            }
            if let Some(io) = &entry.io {
                io.wake(bits);
            }
        }
        wakeup
    }
}

/// The waiter slots of one registered fd. Any thread.
pub(crate) struct ScheduledIo {
    slots: [Slot; 2],
}

struct Slot {
    /// Events seen for this direction; written under `waiters`' lock, read
    /// without it at step 1 of the protocol.
    tick: AtomicU64,
    /// Green threads parked until the next event of this direction.
    waiters: Mutex<Vec<GreenThread>>,
}

/// How a wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Waited {
    /// Readiness may have changed: try the operation again.
    Retry,
    /// The deadline passed with no event.
    TimedOut,
    /// The runtime is shutting down and unwinding this green thread: it
    /// cannot park any more.
    ShuttingDown,
    /// The deadline of an enclosing `weft::timeout` passed.
    TimeoutElapsed,
}

impl ScheduledIo {
    fn new() -> ScheduledIo {
        let slot = || Slot { tick: AtomicU64::new(0), waiters: Mutex::new(Vec::new()) };
        ScheduledIo { slots: [slot(), slot()] }
    }

    /// Step 1 of the protocol.
    pub(crate) fn tick(&self, dir: Direction) -> u64 {
        self.slots[dir as usize].tick.load(Acquire)
    }

    fn lock(&self, dir: Direction) -> MutexGuard<'_, Vec<GreenThread>> {
        self.slots[dir as usize].waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Steps 3 to 5, for the running green thread, after its operation
    /// failed with `WouldBlock` having read `t0` at step 1. A cancellation
    /// unwinds from here; the guard takes the green thread off the list.
    pub(crate) fn wait(&self, dir: Direction, t0: u64, deadline: Option<Instant>) -> Waited {
        if context::unwinding() {
            return Waited::ShuttingDown;
        }
        if interrupt::check_soft() {
            return Waited::TimeoutElapsed;
        }
        let me = context::current_green().expect("weft: reactor wait outside a green thread");
        {
            let mut waiters = self.lock(dir);
            if self.slots[dir as usize].tick.load(Acquire) != t0 {
                return Waited::Retry;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Waited::TimedOut;
            }
            waiters.push(GreenThread::from_green(me.clone()));
        }
        let listed = Listed { io: self, dir, me: &me };
        let end = park_point(deadline, true);
        let still_listed = listed.remove();
        if end == ParkEnd::TimeoutElapsed {
            Waited::TimeoutElapsed
        } else if still_listed && deadline.is_some_and(|d| Instant::now() >= d) {
            Waited::TimedOut
        } else {
            Waited::Retry
        }
    }

    /// Dispatch of one event. Owner worker of the registration.
    fn wake(&self, bits: u32) {
        if bits & epoll::READ_EVENTS != 0 {
            self.wake_dir(Direction::Read);
        }
        if bits & epoll::WRITE_EVENTS != 0 {
            self.wake_dir(Direction::Write);
        }
    }

    fn wake_dir(&self, dir: Direction) {
        let mut waiters = self.lock(dir);
        self.slots[dir as usize].tick.fetch_add(1, Release);
        for waiter in waiters.drain(..) {
            waiter.unpark();
        }
    }
}

/// A green thread on a slot's waiter list; taken off when this is dropped
/// (also when a cancellation unwinds through the wait).
struct Listed<'a> {
    io: &'a ScheduledIo,
    dir: Direction,
    me: &'a Arc<Green>,
}

impl Listed<'_> {
    /// Takes the green thread off the list; true if it was still there
    /// (no event woke it).
    fn remove(self) -> bool {
        let removed = self.take_off();
        std::mem::forget(self);
        removed
    }

    fn take_off(&self) -> bool {
        let mut waiters = self.io.lock(self.dir);
        let pos = waiters.iter().position(|w| w.green().is_some_and(|g| Arc::ptr_eq(g, self.me)));
        pos.map(|pos| waiters.swap_remove(pos)).is_some()
    }
}

impl Drop for Listed<'_> {
    fn drop(&mut self) {
        self.take_off();
    }
}

/// An fd's registration with one worker's reactor. Removes the fd from
/// epoll when dropped, which must happen before the fd is closed (the
/// owning `Pollable` declares it first, so it drops first).
pub(crate) struct Registration {
    rt: Arc<Shared>,
    worker: usize,
    fd: RawFd,
    token: u64,
    io: Arc<ScheduledIo>,
}

impl Registration {
    /// Registers `fd` on the worker running the calling green thread.
    pub(crate) fn new(fd: RawFd) -> io::Result<Registration> {
        let (rt, worker) = sched::current_worker().expect("weft: reactor registration outside a worker");
        let (token, io) = rt.workers[worker].reactor.register(fd)?;
        Ok(Registration { rt, worker, fd, token, io })
    }

    pub(crate) fn io(&self) -> &ScheduledIo {
        &self.io
    }

    /// False once the runtime it was registered with has shut down: nobody
    /// polls its epoll instance any more.
    pub(crate) fn is_live(&self) -> bool {
        !self.rt.shutdown.load(Acquire)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.rt.workers[self.worker].reactor.deregister(self.fd, self.token);
        // Nobody can be parked on it: waiting borrows the owning Pollable,
        // which is being dropped. Wake anyone anyway rather than strand them.
        self.io.wake(epoll::READ_EVENTS | epoll::WRITE_EVENTS);
    }
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration").field("worker", &self.worker).field("fd", &self.fd).finish()
    }
}
