//! weft::sleep: wakes in deadline order, never early, and parks only the
//! sleeping green thread.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{run_green, runtime, with_each_runtime, XorShift};

const STEP: Duration = Duration::from_millis(10);

/// Green threads given deadlines `STEP` apart, spawned in shuffled order,
/// record when they wake; on one worker the record is in deadline order.
#[test]
fn sleep_wakes_in_deadline_order_on_one_worker() {
    let rt = runtime(1, "sleep-order");
    let mut order: Vec<u32> = (1..=8).collect();
    XorShift::new(7).shuffle(&mut order);
    let woke = Arc::new(Mutex::new(Vec::new()));
    // A shared base: each green thread sleeps until base + k * STEP, so the
    // order depends on the deadlines, not on when each one started.
    let base = Instant::now();
    let handles: Vec<_> = order
        .iter()
        .map(|&k| {
            let woke = woke.clone();
            rt.spawn(move || {
                let deadline = base + STEP * k;
                weft::sleep(deadline.saturating_duration_since(Instant::now()));
                let now = Instant::now();
                woke.lock().unwrap().push(k);
                now >= deadline
            })
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap(), "a sleeper woke before its deadline");
    }
    assert_eq!(*woke.lock().unwrap(), (1..=8).collect::<Vec<_>>());
}

#[test]
fn sleep_returns_no_earlier_than_requested() {
    with_each_runtime("sleep-min", |rt| {
        let handles: Vec<_> = (0..20u64)
            .map(|i| {
                rt.spawn(move || {
                    let d = Duration::from_millis(i % 5);
                    let start = Instant::now();
                    weft::sleep(d);
                    (d, start.elapsed())
                })
            })
            .collect();
        for h in handles {
            let (asked, took) = h.join().unwrap();
            assert!(took >= asked, "sleep({asked:?}) returned after {took:?}");
        }
    });
    // On an OS thread weft::sleep is std's sleep.
    let start = Instant::now();
    weft::sleep(Duration::from_millis(2));
    assert!(start.elapsed() >= Duration::from_millis(2));
}

/// A long sleeper does not hold up a short one on the same worker: the
/// short one, started second, wakes first.
#[test]
fn sleep_parks_only_the_sleeper_on_one_worker() {
    let rt = runtime(1, "sleep-parks");
    let woke = Arc::new(Mutex::new(Vec::new()));
    let base = Instant::now();
    let sleeper = |name: &'static str, steps: u32| {
        let woke = woke.clone();
        move || {
            weft::sleep(Duration::ZERO);
            weft::sleep((base + STEP * steps).saturating_duration_since(Instant::now()));
            woke.lock().unwrap().push(name);
        }
    };
    let (long, short) = (sleeper("long", 5), sleeper("short", 1));
    run_green(&rt, move || {
        let long = weft::spawn(long);
        let short = weft::spawn(short);
        short.join().unwrap();
        long.join().unwrap();
    });
    assert_eq!(*woke.lock().unwrap(), ["short", "long"]);
}
