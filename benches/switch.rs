//! Context-switch cost: one yield round trip (each of two green threads
//! yields once) on a single worker, side by side with may's coroutines and
//! with two raw corosensei floors: one coroutine resumed and suspended (two
//! stack switches), and two coroutines resumed in turn from a dispatcher
//! (four switches across three stacks, the shape of weft's worker loop).
//!
//! ```text
//! cargo bench --bench switch -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! # How the runtimes are measured
//!
//! The two yielding threads are started once, outside the measurement. Each
//! `iter_custom` call is one batch of `iters` rounds:
//!
//! 1. the benchmark thread stores the round count, bumps the generation and
//!    unparks the leading side;
//! 2. the leader wakes its peer (a local wakeup on the same worker) and both
//!    yield `iters` times, so the worker alternates between them;
//! 3. the side that finishes second unparks the benchmark thread, and both
//!    park until the next generation.
//!
//! The remote wakeup of step 1 and the unpark of step 3 (a few microseconds)
//! are paid once per batch and vanish in batches of millions of rounds.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corosensei::{Coroutine, Yielder};
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};

/// What the benchmark thread and the two yielding sides share. Any thread.
struct Rounds {
    /// Bumped by the benchmark thread to start a batch.
    generation: AtomicU64,
    /// Yields each side does in the current batch; written before the
    /// generation is bumped (Release), read after it is seen (Acquire).
    rounds: AtomicU64,
    /// Sides that have finished the current batch (0, 1 or 2).
    finished: AtomicUsize,
    /// Set once, when the benchmark is over: both sides return.
    stop: AtomicBool,
    /// The thread running the benchmark, unparked when a batch is done.
    bench_thread: std::thread::Thread,
}

impl Rounds {
    fn new() -> Arc<Rounds> {
        Arc::new(Rounds {
            generation: AtomicU64::new(0),
            rounds: AtomicU64::new(0),
            finished: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            bench_thread: std::thread::current(),
        })
    }

    /// The body of one side: park until a batch starts, call `wake_peer`,
    /// yield the batch's round count, report, repeat until `stop`.
    fn side(&self, park: fn(), yield_now: fn(), wake_peer: impl Fn()) {
        let mut seen = 0;
        loop {
            let generation = loop {
                if self.stop.load(Acquire) {
                    return;
                }
                let generation = self.generation.load(Acquire);
                if generation != seen {
                    break generation;
                }
                park();
            };
            seen = generation;
            wake_peer();
            for _ in 0..self.rounds.load(Relaxed) {
                yield_now();
            }
            if self.finished.fetch_add(1, AcqRel) == 1 {
                self.bench_thread.unpark();
            }
        }
    }

    /// Benchmark thread: runs one batch of `iters` rounds and returns how
    /// long it took. `wake_leader` unparks the leading side.
    fn batch(&self, iters: u64, wake_leader: impl Fn()) -> Duration {
        self.rounds.store(iters, Relaxed);
        self.finished.store(0, Relaxed);
        let start = Instant::now();
        self.generation.fetch_add(1, Release);
        wake_leader();
        while self.finished.load(Acquire) < 2 {
            std::thread::park();
        }
        start.elapsed()
    }

    /// Benchmark thread: tells both sides to return; the caller wakes them.
    fn stop(&self) {
        self.stop.store(true, Release);
    }
}

fn weft_yield(c: &mut BenchmarkGroup<'_, WallTime>) {
    let rt = weft::Runtime::builder().workers(1).build().expect("weft runtime");
    let rounds = Rounds::new();
    let follower = {
        let rounds = rounds.clone();
        rt.spawn(move || rounds.side(weft::park, weft::yield_now, || {}))
    };
    let leader = {
        let (rounds, peer) = (rounds.clone(), follower.thread().clone());
        rt.spawn(move || rounds.side(weft::park, weft::yield_now, || peer.unpark()))
    };
    c.bench_function("weft_1_worker", |b| b.iter_custom(|iters| rounds.batch(iters, || leader.thread().unpark())));
    rounds.stop();
    leader.thread().unpark();
    follower.thread().unpark();
    leader.join().expect("leader");
    follower.join().expect("follower");
}

fn may_yield(c: &mut BenchmarkGroup<'_, WallTime>) {
    let rounds = Rounds::new();
    let follower = {
        let rounds = rounds.clone();
        // SAFETY: may requires that the coroutine not hold thread-local
        // references across a switch and not overflow its stack; this body
        // uses only atomics and may's own park/yield, a few frames deep.
        unsafe { may::coroutine::spawn(move || rounds.side(may::coroutine::park, may::coroutine::yield_now, || {})) }
    };
    let leader = {
        let (rounds, peer) = (rounds.clone(), follower.coroutine().clone());
        // SAFETY: as above; `unpark` of a may handle is its public API.
        unsafe {
            may::coroutine::spawn(move || {
                rounds.side(may::coroutine::park, may::coroutine::yield_now, || peer.unpark())
            })
        }
    };
    c.bench_function("may_1_worker", |b| b.iter_custom(|iters| rounds.batch(iters, || leader.coroutine().unpark())));
    rounds.stop();
    leader.coroutine().unpark();
    follower.coroutine().unpark();
    leader.join().expect("leader");
    follower.join().expect("follower");
}

/// The floor: resume a corosensei coroutine (default mmap'd stack) that
/// immediately suspends back; no scheduler, no queue, no thread-local.
fn corosensei_resume_suspend(c: &mut BenchmarkGroup<'_, WallTime>) {
    let mut co = Coroutine::new(|yielder: &Yielder<(), ()>, ()| loop {
        yielder.suspend(());
    });
    c.bench_function("corosensei_raw", |b| b.iter(|| black_box(co.resume(()))));
}

/// The floor for a scheduler that switches through its own stack, as weft's
/// worker does: the benchmark thread resumes two corosensei coroutines in
/// turn, so one round trip is four stack switches across three stacks.
fn corosensei_pair_through_dispatcher(c: &mut BenchmarkGroup<'_, WallTime>) {
    let body = |yielder: &Yielder<(), ()>, ()| loop {
        yielder.suspend(());
    };
    let (mut a, mut b) = (Coroutine::new(body), Coroutine::new(body));
    c.bench_function("corosensei_raw_pair", |bench| {
        bench.iter(|| {
            black_box(a.resume(()));
            black_box(b.resume(()))
        })
    });
}

fn yield_round_trip(c: &mut Criterion) {
    // may's scheduler is process-global and starts on the first spawn.
    may::config().set_workers(1);
    let mut group = c.benchmark_group("yield_round_trip");
    weft_yield(&mut group);
    may_yield(&mut group);
    corosensei_resume_suspend(&mut group);
    corosensei_pair_through_dispatcher(&mut group);
    group.finish();
}

criterion_group!(benches, yield_round_trip);
criterion_main!(benches);
