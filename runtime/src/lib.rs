//! # weft: stackful green threads with std's blocking API
//!
//! A green thread is an ordinary function running on its own small stack.
//! When it blocks (sleeps, parks, waits to join, and with `weft::net`, waits
//! on a socket) weft switches its stack out and runs another one; worker OS
//! threads run green threads across all cores. Code stays sequential and
//! blocking in shape, and a thread-per-connection program is ported by
//! changing `std::thread::spawn` to `weft::spawn`.
//!
//! ```
//! use std::time::Duration;
//!
//! let handles: Vec<_> = (0..1000u64)
//!     .map(|i| weft::spawn(move || {
//!         weft::sleep(Duration::from_millis(1)); // parks, the worker runs others
//!         i * 2
//!     }))
//!     .collect();
//! let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
//! assert_eq!(sum, 999 * 1000);
//! ```
//!
//! # Architecture map
//!
//! | module        | job                                                              |
//! |---------------|------------------------------------------------------------------|
//! | `thread`      | the std::thread-shaped API: spawn, join, park, sleep, current    |
//! | `runtime`     | [`Runtime`], its builder, the default runtime, shutdown          |
//! | `green`       | control block, context switch (corosensei), stacks, park state, join, scope, overflow reports |
//! | `sched`       | worker loop, run queues, stealing unstarted green threads, wakeup routing |
//! | `time`        | per-worker deadlines                                             |
//! | `reactor`     | per-worker epoll, per-fd read/write waiter slots, the wait protocol |
//! | `io`          | [`io::Pollable`]: any fd made cooperative (the retry-or-park loop) |
//! | `net`         | std-shaped TCP, UDP and Unix sockets on `Pollable`               |
//! | `signal`      | waiting for Unix signals from a green thread                     |
//! | `cancel`      | [`timeout`] and [`shield`]; `green/interrupt.rs` is the mechanism |
//! | `sync`        | Mutex, RwLock, Condvar, Semaphore, Barrier, WaitGroup, OnceLock, channels, `select!`: park, never block the worker |
//! | `sys`         | the only libc user: mmap/madvise, eventfd, epoll, sockets, signals |
//! | `panic`       | panic reports that name the green thread                         |
//! | `blocking`    | the blocking pool and [`unblock`]; [`fs`] is std::fs run on it   |
//! | `observe`     | the hog monitor, [`dump`], wait states, stack high-water marks   |
//!
//! # Glossary
//!
//! * **green thread**: a function on its own stack, scheduled by weft; has an
//!   id, an optional name, a park state and a join slot.
//! * **worker**: an OS thread that runs green threads; default count is the
//!   number of available cores (`WEFT_WORKERS` overrides it for the default
//!   runtime).
//! * **park / unpark**: the one primitive every blocking operation lowers to
//!   (see `green/state.rs` for the state machine).
//! * **owner**: the worker a green thread first ran on. It is resumed only
//!   there for its whole life.
//!
//! # Green threads stay on their worker
//!
//! A green thread that has started is only ever resumed by the worker that
//! first ran it; idle workers steal only green threads that have not started.
//! Rust code keeps `!Send` values (`Rc`, `MutexGuard`) and thread-local
//! addresses across ordinary calls; moving a running green thread to another
//! OS thread would carry them along, which is undefined behaviour. Because
//! weft never does, [`spawn`] is a safe function with exactly
//! `std::thread::spawn`'s bounds. Load is balanced when green threads start.
//!
//! One consequence: `thread_local!` values are shared by all green threads of
//! one worker. And a `std::sync::Mutex` guard held across a weft blocking
//! point (a sleep, a join) blocks the worker's other green threads if they
//! want the same lock: the worker itself cannot switch to the holder while
//! a waiter blocks the OS thread. Do not hold std locks across weft calls.
//!
//! # Works outside green threads too
//!
//! Every blocking function here also works on a plain OS thread, where it
//! blocks that thread as std would: `main` can `join` a green thread, `sleep`
//! or `park` directly.
//!
//! # Cancellation and deadlines
//!
//! [`JoinHandle::cancel`] unwinds a green thread from its next blocking
//! point; [`timeout`] bounds every blocking point inside a closure (socket
//! calls fail with `TimedOut`, the others unwind back to it); [`shield`]
//! holds both off. [`green_local!`] gives each green thread its own value.
//!
//! # Panics and overflows
//!
//! A panic in a green thread is caught, printed like std prints a thread
//! panic but naming the green thread, and returned by [`JoinHandle::join`];
//! it never takes down a worker. A stack overflow hits the guard page below
//! the stack and aborts the process with a message naming the green thread
//! and its stack size, as std does for OS threads.
//!
//! # Finding what blocks a worker
//!
//! A green thread that runs without reaching a blocking point holds up every
//! other green thread of its worker. A monitor thread reports one that does
//! so for more than 100 ms, by name, on stderr
//! ([`RuntimeBuilder::monitor_threshold`]); [`dump`] lists every green thread
//! and what it waits for, and `WEFT_DUMP_SIGNAL=QUIT` prints that list on
//! `kill -QUIT`. See [`observe`].

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![warn(missing_debug_implementations)]

mod blocking;
mod cancel;
pub mod fs;
mod green;
pub mod io;
mod loom;
pub mod net;
pub mod observe;
mod panic;
mod reactor;
mod runtime;
mod sched;
pub mod signal;
pub mod sync;
mod sys;
mod thread;
mod time;

pub use blocking::{unblock, BLOCKING_KEEP_ALIVE, MAX_BLOCKING_THREADS};
pub use cancel::{shield, timeout, Elapsed};
pub use green::local::GreenLocal;
pub use green::scope::{scope, Scope, ScopedJoinHandle};
pub use green::stack::{shrink_stack, stack_guard_mode, GuardMode, DEFAULT_STACK_SIZE, MIN_STACK_SIZE};
pub use observe::dump;
pub use runtime::{Runtime, RuntimeBuilder};
pub use thread::{
    current, park, park_timeout, sleep, spawn, yield_now, Builder, Cancelled, GreenThread, JoinHandle, ThreadId,
};
