//! Spawn + join cost per thread, in bulk: spawn a batch of threads running a
//! trivial closure, then join them all. Reported per thread.
//!
//! ```text
//! cargo bench --bench spawn -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Variants, all in the `spawn_join` group:
//!
//! | function                       | spawner                                | batch |
//! |--------------------------------|----------------------------------------|-------|
//! | `weft_1_worker`                | the benchmark (OS) thread              | 1,000 |
//! | `weft_2_workers`               | the benchmark (OS) thread              | 1,000 |
//! | `weft_1_worker_from_green`     | a green thread on the runtime (1)      | 1,000 |
//! | `weft_2_workers_from_green`    | a green thread on the runtime (1)      | 1,000 |
//! | `may_2_workers`                | the benchmark (OS) thread              | 1,000 |
//! | `may_2_workers_from_coroutine` | a may coroutine                        | 1,000 |
//! | `std_thread`                   | the benchmark thread                   | 100   |
//!
//! (1) The server pattern: an accept loop spawning a green thread per
//! connection; spawns go through the worker-local queue and stack pool.
//!
//! `iter_custom` always runs whole batches (rounding `iters` up) and scales
//! the time back to `iters` threads, so every sample measures the same
//! batch shape.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};

/// Green threads (and may coroutines) per batch.
const BATCH: usize = 1_000;

/// OS threads per batch: each costs tens of microseconds.
const STD_BATCH: usize = 100;

/// may workers: its scheduler is process-global, so one setting per binary.
const MAY_WORKERS: usize = 2;

/// Runs whole batches covering `iters` threads and returns the time scaled
/// to exactly `iters` threads.
fn batches(iters: u64, batch: usize, mut run_batch: impl FnMut()) -> Duration {
    let count = iters.div_ceil(batch as u64).max(1);
    let start = Instant::now();
    for _ in 0..count {
        run_batch();
    }
    start.elapsed().mul_f64(iters as f64 / (count * batch as u64) as f64)
}

/// One batch of weft green threads, spawned by `spawn` and joined by the
/// caller. `handles` is reused so its allocation stays out of the loop.
fn weft_batch(handles: &mut Vec<weft::JoinHandle<usize>>, spawn: impl Fn(usize) -> weft::JoinHandle<usize>) {
    handles.extend((0..BATCH).map(spawn));
    for handle in handles.drain(..) {
        black_box(handle.join().expect("green thread"));
    }
}

fn weft_from_os_thread(group: &mut BenchmarkGroup<'_, WallTime>, workers: usize, name: &str) {
    let rt = weft::Runtime::builder().workers(workers).build().expect("weft runtime");
    let mut handles = Vec::with_capacity(BATCH);
    group.bench_function(name, |b| {
        b.iter_custom(|iters| batches(iters, BATCH, || weft_batch(&mut handles, |i| rt.spawn(move || black_box(i)))))
    });
}

fn weft_from_green_thread(group: &mut BenchmarkGroup<'_, WallTime>, workers: usize, name: &str) {
    let rt = weft::Runtime::builder().workers(workers).build().expect("weft runtime");
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            // One driver green thread per sample; it times itself, so its own
            // spawn and join are not measured.
            rt.spawn(move || {
                let mut handles = Vec::with_capacity(BATCH);
                batches(iters, BATCH, || weft_batch(&mut handles, |i| weft::spawn(move || black_box(i))))
            })
            .join()
            .expect("driver green thread")
        })
    });
}

/// One batch of may coroutines, spawned and joined by the caller.
fn may_batch(handles: &mut Vec<may::coroutine::JoinHandle<usize>>) {
    // SAFETY: may requires that a coroutine not hold thread-local references
    // across a switch and not overflow its stack; this closure touches
    // neither (it returns its argument).
    handles.extend((0..BATCH).map(|i| unsafe { may::coroutine::spawn(move || black_box(i)) }));
    for handle in handles.drain(..) {
        black_box(handle.join().expect("coroutine"));
    }
}

fn may_from_os_thread(group: &mut BenchmarkGroup<'_, WallTime>) {
    let mut handles = Vec::with_capacity(BATCH);
    group.bench_function(format!("may_{MAY_WORKERS}_workers"), |b| {
        b.iter_custom(|iters| batches(iters, BATCH, || may_batch(&mut handles)))
    });
}

fn may_from_coroutine(group: &mut BenchmarkGroup<'_, WallTime>) {
    group.bench_function(format!("may_{MAY_WORKERS}_workers_from_coroutine"), |b| {
        b.iter_custom(|iters| {
            // SAFETY: the driver keeps no thread-local references across
            // switches (its state is on its own stack and heap) and needs a
            // few frames of stack.
            let driver = unsafe {
                may::coroutine::spawn(move || {
                    let mut handles = Vec::with_capacity(BATCH);
                    batches(iters, BATCH, || may_batch(&mut handles))
                })
            };
            driver.join().expect("driver coroutine")
        })
    });
}

fn std_threads(group: &mut BenchmarkGroup<'_, WallTime>) {
    let mut handles = Vec::with_capacity(STD_BATCH);
    group.bench_function("std_thread", |b| {
        b.iter_custom(|iters| {
            batches(iters, STD_BATCH, || {
                handles.extend((0..STD_BATCH).map(|i| std::thread::spawn(move || black_box(i))));
                for handle in handles.drain(..) {
                    black_box(handle.join().expect("thread"));
                }
            })
        })
    });
}

fn spawn_join(c: &mut Criterion) {
    may::config().set_workers(MAY_WORKERS);
    let mut group = c.benchmark_group("spawn_join");
    weft_from_os_thread(&mut group, 1, "weft_1_worker");
    weft_from_os_thread(&mut group, 2, "weft_2_workers");
    weft_from_green_thread(&mut group, 1, "weft_1_worker_from_green");
    weft_from_green_thread(&mut group, 2, "weft_2_workers_from_green");
    may_from_os_thread(&mut group);
    may_from_coroutine(&mut group);
    std_threads(&mut group);
    group.finish();
}

criterion_group!(benches, spawn_join);
criterion_main!(benches);
