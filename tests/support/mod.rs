//! Helpers shared by the integration tests.
//!
//! Each test binary uses a different subset of these, hence the
//! `dead_code` allowance below.
#![allow(dead_code)]

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;

/// Worker counts every behaviour is checked with: one worker (everything
/// interleaves on one OS thread) and several (wakeups cross OS threads).
pub const WORKER_COUNTS: [usize; 2] = [1, 2];

/// A runtime with `workers` workers whose threads are named `{name}-{i}`.
pub fn runtime(workers: usize, name: &str) -> weft::Runtime {
    weft::Runtime::builder().workers(workers).name(name).build().expect("build runtime")
}

/// Runs `f` once on a fresh 1-worker runtime and once on a fresh 2-worker
/// runtime; the runtime is dropped after each run.
pub fn with_each_runtime(name: &str, f: impl Fn(&weft::Runtime)) {
    for workers in WORKER_COUNTS {
        let rt = runtime(workers, &format!("{name}-w{workers}"));
        f(&rt);
    }
}

/// Runs `f` as a green thread on `rt` and returns its result, re-raising
/// its panic on the caller.
pub fn run_green<T: Send + 'static>(rt: &weft::Runtime, f: impl FnOnce() -> T + Send + 'static) -> T {
    match rt.spawn(f).join() {
        Ok(value) => value,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// The message of a panic payload (`&str` or `String`), as std prints it.
pub fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload.downcast_ref::<&'static str>().copied().or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// Sets its flag when dropped: shows that a destructor ran.
#[derive(Debug)]
pub struct DropFlag(pub Arc<AtomicBool>);

impl DropFlag {
    /// A guard and the flag it sets.
    pub fn new() -> (DropFlag, Arc<AtomicBool>) {
        let flag = Arc::new(AtomicBool::new(false));
        (DropFlag(flag.clone()), flag)
    }
}

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

/// xorshift64*: a tiny deterministic RNG, seeded per test so a failure can
/// be replayed.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        // Zero is a fixed point of xorshift; mix the seed so 0 works too.
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-enough in `0..n` (n > 0) for scheduling noise.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability 1/n.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// The index `i` of a worker thread named `{prefix}-{i}`, if the name has
/// that shape.
pub fn worker_index(thread_name: &str, prefix: &str) -> Option<usize> {
    thread_name.strip_prefix(prefix)?.strip_prefix('-')?.parse().ok()
}

/// The name of the OS thread running the caller (inside a green thread:
/// its worker).
pub fn os_thread_name() -> String {
    std::thread::current().name().expect("named thread").to_owned()
}
