//! Channel ping-pong and a contended mutex, weft's `sync` side by side with
//! std between OS threads and with may's coroutines.
//!
//! ```text
//! cargo bench --bench sync_channel -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! # What is measured
//!
//! * `ping_pong/*`: one round trip: side A sends a number on one channel,
//!   side B receives it and sends it back on another, A receives it. Both
//!   sides block in `recv` every round (the other side is never ahead), so
//!   each round trip is two handoffs to a parked receiver. weft on one
//!   worker (both green threads on it), on two workers (placed on different
//!   workers: every handoff crosses OS threads), std's `mpsc` between two OS
//!   threads, and may's `mpsc` between two coroutines on one may worker.
//! * `mutex/*`: one lock, increment, unlock by one of 100 threads all
//!   hammering the same lock: weft's `Mutex` with 100 green threads on one
//!   and on two workers, std's `Mutex` with 100 OS threads.
//!
//! The threads are started once, outside the measurement; each criterion
//! batch sends them a round count and waits for them to report back, so a
//! batch pays a few microseconds of start/finish signalling, which vanishes
//! in batches of thousands of rounds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};

/// Threads contending for the mutex.
const CONTENDERS: u64 = 100;

/// Times `iters` round trips of a ping-pong pair driven by its control
/// channel: `start(n)` asks for `n` round trips, `finished()` waits for them.
fn time_round_trips(c: &mut BenchmarkGroup<'_, WallTime>, name: &str, start: impl Fn(u64), finished: impl Fn()) {
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let begin = Instant::now();
            start(iters);
            finished();
            begin.elapsed()
        })
    });
}

/// A ping-pong pair on weft: returns the control channels of side A. With
/// `apart`, the two green threads first meet at a std barrier, which blocks
/// the OS thread of whichever arrives first: the other can then only start
/// on another worker, so the pair is on different workers for certain.
fn weft_pair(rt: &weft::Runtime, apart: bool) -> (weft::sync::mpsc::Sender<u64>, weft::sync::mpsc::Receiver<()>) {
    use weft::sync::mpsc::channel;
    let (ctl_tx, ctl_rx) = channel::<u64>();
    let (done_tx, done_rx) = channel::<()>();
    let (ping_tx, ping_rx) = channel::<u64>();
    let (pong_tx, pong_rx) = channel::<u64>();
    let barrier = Arc::new(std::sync::Barrier::new(if apart { 2 } else { 1 }));
    let b2 = barrier.clone();
    rt.spawn(move || {
        b2.wait();
        for v in ping_rx.iter() {
            pong_tx.send(v).unwrap();
        }
    });
    rt.spawn(move || {
        barrier.wait();
        for rounds in ctl_rx.iter() {
            for i in 0..rounds {
                ping_tx.send(i).unwrap();
                assert_eq!(pong_rx.recv(), Ok(i));
            }
            done_tx.send(()).unwrap();
        }
    });
    (ctl_tx, done_rx)
}

fn weft_ping_pong(c: &mut BenchmarkGroup<'_, WallTime>, workers: usize) {
    let rt = weft::Runtime::builder().workers(workers).build().expect("weft runtime");
    let (ctl_tx, done_rx) = weft_pair(&rt, workers > 1);
    ctl_tx.send(1).unwrap();
    done_rx.recv().unwrap();
    assert!(workers == 1 || rt.started_per_worker() == [1, 1], "the barrier puts the pair on two workers");
    let name = if workers == 1 { "weft_1_worker" } else { "weft_2_workers_cross" };
    time_round_trips(c, name, |rounds| ctl_tx.send(rounds).unwrap(), || done_rx.recv().unwrap());
    drop((ctl_tx, done_rx));
    drop(rt);
}

fn std_ping_pong(c: &mut BenchmarkGroup<'_, WallTime>) {
    use std::sync::mpsc::channel;
    let (ctl_tx, ctl_rx) = channel::<u64>();
    let (done_tx, done_rx) = channel::<()>();
    let (ping_tx, ping_rx) = channel::<u64>();
    let (pong_tx, pong_rx) = channel::<u64>();
    let b_side = std::thread::spawn(move || {
        for v in ping_rx.iter() {
            pong_tx.send(v).unwrap();
        }
    });
    let a_side = std::thread::spawn(move || {
        for rounds in ctl_rx.iter() {
            for i in 0..rounds {
                ping_tx.send(i).unwrap();
                assert_eq!(pong_rx.recv(), Ok(i));
            }
            done_tx.send(()).unwrap();
        }
    });
    time_round_trips(c, "std_os_threads", |rounds| ctl_tx.send(rounds).unwrap(), || done_rx.recv().unwrap());
    drop(ctl_tx);
    a_side.join().unwrap();
    b_side.join().unwrap();
}

fn may_ping_pong(c: &mut BenchmarkGroup<'_, WallTime>) {
    use may::sync::mpsc::channel;
    let (ctl_tx, ctl_rx) = channel::<u64>();
    let (done_tx, done_rx) = channel::<()>();
    let (ping_tx, ping_rx) = channel::<u64>();
    let (pong_tx, pong_rx) = channel::<u64>();
    // SAFETY: may requires that a coroutine not hold thread-local
    // references across a switch and not overflow its stack; these bodies
    // use only may's channels, a few frames deep.
    let b_side = unsafe {
        may::coroutine::spawn(move || {
            while let Ok(v) = ping_rx.recv() {
                pong_tx.send(v).unwrap();
            }
        })
    };
    // SAFETY: as above.
    let a_side = unsafe {
        may::coroutine::spawn(move || {
            while let Ok(rounds) = ctl_rx.recv() {
                for i in 0..rounds {
                    ping_tx.send(i).unwrap();
                    assert_eq!(pong_rx.recv().ok(), Some(i));
                }
                done_tx.send(()).unwrap();
            }
        })
    };
    time_round_trips(c, "may_1_worker", |rounds| ctl_tx.send(rounds).unwrap(), || done_rx.recv().unwrap());
    drop(ctl_tx);
    a_side.join().unwrap();
    b_side.join().unwrap();
}

fn ping_pong(c: &mut Criterion) {
    // may's scheduler is process-global and starts on the first spawn.
    may::config().set_workers(1);
    let mut group = c.benchmark_group("ping_pong");
    weft_ping_pong(&mut group, 1);
    weft_ping_pong(&mut group, 2);
    std_ping_pong(&mut group);
    may_ping_pong(&mut group);
    group.finish();
}

/// Times `iters` lock operations spread over the [`CONTENDERS`]:
/// `start(n)` asks each contender for `n` rounds, `finished()` waits for
/// one contender's report. Rounds are whole per contender, so the measured
/// time is scaled back to `iters` operations.
fn time_contended(c: &mut BenchmarkGroup<'_, WallTime>, name: &str, start: impl Fn(u64), finished: impl Fn()) {
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let per = iters.div_ceil(CONTENDERS).max(1);
            let scale = iters as f64 / (per * CONTENDERS) as f64;
            let begin = Instant::now();
            start(per);
            (0..CONTENDERS).for_each(|_| finished());
            begin.elapsed().mul_f64(scale)
        })
    });
}

fn weft_mutex(c: &mut BenchmarkGroup<'_, WallTime>, workers: usize) {
    use weft::sync::{mpsc, Mutex};
    let rt = weft::Runtime::builder().workers(workers).build().expect("weft runtime");
    let counter = Arc::new(Mutex::new(0u64));
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let starts: Vec<_> = (0..CONTENDERS)
        .map(|_| {
            let (tx, rx) = mpsc::channel::<u64>();
            let (counter, done_tx) = (counter.clone(), done_tx.clone());
            rt.spawn(move || {
                for rounds in rx.iter() {
                    for _ in 0..rounds {
                        *counter.lock().unwrap() += 1;
                    }
                    done_tx.send(()).unwrap();
                }
            });
            tx
        })
        .collect();
    time_contended(
        c,
        &format!("weft_{workers}_worker_100_green"),
        |per| starts.iter().for_each(|tx| tx.send(per).unwrap()),
        || done_rx.recv().unwrap(),
    );
    drop(starts);
    drop(rt);
}

fn std_mutex(c: &mut BenchmarkGroup<'_, WallTime>) {
    use std::sync::{mpsc, Mutex};
    let counter = Arc::new(Mutex::new(0u64));
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let (starts, threads): (Vec<_>, Vec<_>) = (0..CONTENDERS)
        .map(|_| {
            let (tx, rx) = mpsc::channel::<u64>();
            let (counter, done_tx) = (counter.clone(), done_tx.clone());
            let thread = std::thread::spawn(move || {
                for rounds in rx.iter() {
                    for _ in 0..rounds {
                        *counter.lock().unwrap() += 1;
                    }
                    done_tx.send(()).unwrap();
                }
            });
            (tx, thread)
        })
        .unzip();
    time_contended(
        c,
        "std_100_os_threads",
        |per| starts.iter().for_each(|tx| tx.send(per).unwrap()),
        || done_rx.recv().unwrap(),
    );
    drop(starts);
    threads.into_iter().for_each(|t| t.join().unwrap());
}

fn contended_mutex(c: &mut Criterion) {
    let mut group = c.benchmark_group("mutex");
    group.warm_up_time(Duration::from_secs(1));
    weft_mutex(&mut group, 1);
    weft_mutex(&mut group, 2);
    std_mutex(&mut group);
    group.finish();
}

criterion_group!(benches, ping_pong, contended_mutex);
criterion_main!(benches);
