//! Atomics that become loom's model-checked atomics under `--cfg loom`.
//!
//! Only the pure concurrency structures (the park state machine) use these;
//! see `tests/loom_park.rs`.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU8, Ordering};
