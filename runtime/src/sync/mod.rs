//! Synchronisation for green threads: locks, condition variables,
//! semaphores, barriers, wait groups, once-cells, channels and `select!`.
//!
//! Every blocking call here parks the calling green thread (its worker
//! keeps running the others) and, called from a plain OS thread, blocks
//! that thread instead; one `Mutex` or channel can be shared by both
//! (DESIGN.md decision 3). The APIs are std's (`std::sync::Mutex`,
//! `std::sync::mpsc`, ...), with std's error types, so porting is a change
//! of imports.
//!
//! Why not std's own primitives inside green threads: a contended
//! `std::sync::Mutex` or a `std::sync::mpsc::Receiver::recv` blocks the
//! worker OS thread, and with it every other green thread of that worker,
//! including, possibly, the one that would release it: a deadlock on a
//! one-worker runtime.
//!
//! # Anatomy
//!
//! | file          | job                                                           |
//! |---------------|---------------------------------------------------------------|
//! | `waitq`       | wait nodes and their state machine, FIFO queues, `wait`: the only place that parks |
//! | `shim`        | atomics, the internal lock and park/unpark, switched to loom's under `--cfg loom` |
//! | `poison`      | std-compatible poisoning; the std trait impls the locks share |
//! | `mutex`, `rwlock`, `condvar` | locks with a one-CAS fast path and FIFO handoff |
//! | `semaphore`, `barrier`, `waitgroup`, `once_lock` | the other waiting primitives |
//! | `chan`        | the channel core: buffer, waiting senders and receivers, direct handoff |
//! | `mpsc`, `mpmc`, `oneshot` | the public channel flavours over `chan`            |
//! | `chan_api`    | the handle methods and impls the flavours share, as macros    |
//! | `select`, `select_macro` | `select!` over channel operations                  |
//!
//! # Common design
//!
//! Each primitive has a fast path that touches only its own atomic state
//! word (or, for channels, takes the channel's short internal lock) and a
//! slow path that queues a heap-allocated wait node and parks. The thread
//! that releases a unit (unlock, permit, message, notification) hands it
//! directly to the oldest waiter, so waiting is FIFO and a woken thread
//! never has to compete for what it was woken for. See `waitq.rs` for the
//! protocol and the node states.
//!
//! # Shutdown
//!
//! While the runtime force-unwinds a green thread (see
//! [`Runtime`](crate::Runtime)), a blocking call in one of its destructors
//! that would have to wait cannot be woken: a channel operation returns
//! its disconnected error; `lock`, `wait` and friends panic with a message
//! saying so (which, during the unwind, aborts the process rather than
//! hang it).
//!
//! # Not here
//!
//! `std::sync::atomic`, `Arc`, `LazyLock` and `Once` are used as they are:
//! atomics and `Arc` never block; std's `OnceLock` and `LazyLock` block
//! the worker while another thread initialises, so use [`OnceLock`] here.

mod barrier;
mod chan;
mod chan_api;
mod condvar;
mod mutex;
mod once_lock;
mod poison;
mod rwlock;
mod select;
mod select_macro;
mod semaphore;
mod shim;
mod waitgroup;
mod waitq;

pub mod mpmc;
pub mod mpsc;
pub mod oneshot;

#[cfg(all(test, loom))]
mod loom_tests;

pub use barrier::{Barrier, BarrierWaitResult};
pub use condvar::{Condvar, WaitTimeoutResult};
pub use mutex::{Mutex, MutexGuard};
pub use once_lock::OnceLock;
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use select::{SelectRecv, SelectSend};
pub use semaphore::{Semaphore, SemaphorePermit};
pub use std::sync::{LockResult, PoisonError, TryLockError, TryLockResult};
pub use waitgroup::WaitGroup;

/// What `select!` expands to. Not a public API.
#[doc(hidden)]
pub mod __select {
    pub use super::select::{run, Arm, RecvArm, SelectRecv, SelectSend, SendArm, Timeout};
}
