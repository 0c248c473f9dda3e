//! Randomized park/unpark stress (STYLE.md rule 8): waiters on green
//! threads and OS threads wait for posts in a park loop; wakers on green
//! threads of several workers and on OS threads post and unpark in a
//! shuffled order, with random yields and handshakes in between. A lost
//! wakeup leaves a waiter parked and the test hangs; a doubled or stray
//! one is harmless by contract, and the counters must come out exact.
//!
//! Seeds are fixed so a failure replays the same decision sequence (the OS
//! scheduler still varies the interleaving from run to run).

mod support;

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use support::{runtime, XorShift};

/// Rounds each waiter waits for.
const ROUNDS: u64 = 250;

struct Slot {
    /// Posts made to this waiter by any waker.
    posted: AtomicU64,
    /// Rounds this waiter has completed.
    consumed: AtomicU64,
}

struct Shape {
    green_waiters: usize,
    os_waiters: usize,
    green_wakers: usize,
    os_wakers: usize,
}

/// Waits for `ROUNDS` posts, one round at a time, mixing plain parks,
/// short timed parks and yields.
fn wait_rounds(slot: &Slot, total: &AtomicU64, mut rng: XorShift) {
    for round in 1..=ROUNDS {
        while slot.posted.load(SeqCst) < round {
            match rng.below(8) {
                0 => weft::yield_now(),
                1 => weft::park_timeout(Duration::from_micros(50)),
                _ => weft::park(),
            }
        }
        slot.consumed.store(round, SeqCst);
        total.fetch_add(1, SeqCst);
    }
}

/// Posts once to each waiter in `targets`, in that order.
fn post_all(slots: &[Slot], threads: &[weft::GreenThread], targets: &[usize], mut rng: XorShift) {
    for &i in targets {
        let mine = slots[i].posted.fetch_add(1, SeqCst) + 1;
        threads[i].unpark();
        match rng.below(4) {
            // Handshake: wait until the waiter has taken this post, so the
            // next post is likely to find it parked again.
            0 => {
                while slots[i].consumed.load(SeqCst) < mine {
                    weft::yield_now();
                }
            }
            1 => weft::yield_now(),
            _ => {}
        }
    }
}

fn stress(seed: u64, workers: usize, shape: Shape) {
    let rt = runtime(workers, &format!("stress-{seed}-w{workers}"));
    let mut rng = XorShift::new(seed);
    let waiters = shape.green_waiters + shape.os_waiters;
    let slots: Arc<[Slot]> =
        (0..waiters).map(|_| Slot { posted: AtomicU64::new(0), consumed: AtomicU64::new(0) }).collect();
    let total = Arc::new(AtomicU64::new(0));

    // Waiters first, so their handles exist before any waker runs.
    let mut threads = Vec::with_capacity(waiters);
    let mut green_waiters = Vec::new();
    for i in 0..shape.green_waiters {
        let (slots, total, wrng) = (slots.clone(), total.clone(), XorShift::new(rng.next_u64()));
        let h = rt.spawn(move || wait_rounds(&slots[i], &total, wrng));
        threads.push(h.thread().clone());
        green_waiters.push(h);
    }
    let mut os_waiters = Vec::new();
    for i in shape.green_waiters..waiters {
        let (slots, total, wrng) = (slots.clone(), total.clone(), XorShift::new(rng.next_u64()));
        let (tx, rx) = mpsc::channel();
        os_waiters.push(std::thread::spawn(move || {
            tx.send(weft::current()).unwrap();
            wait_rounds(&slots[i], &total, wrng);
        }));
        threads.push(rx.recv().unwrap());
    }
    let threads: Arc<[weft::GreenThread]> = threads.into();

    // Every waiter index ROUNDS times, shuffled, dealt out to the wakers.
    let mut posts: Vec<usize> = (0..waiters).flat_map(|i| std::iter::repeat_n(i, ROUNDS as usize)).collect();
    rng.shuffle(&mut posts);
    let wakers = shape.green_wakers + shape.os_wakers;
    let mut hands: Vec<Vec<usize>> = vec![Vec::new(); wakers];
    for (n, i) in posts.into_iter().enumerate() {
        hands[n % wakers].push(i);
    }
    let mut green_wakers = Vec::new();
    let mut os_wakers = Vec::new();
    for (w, hand) in hands.into_iter().enumerate() {
        let (slots, threads, wrng) = (slots.clone(), threads.clone(), XorShift::new(rng.next_u64()));
        let post = move || post_all(&slots, &threads, &hand, wrng);
        if w < shape.green_wakers {
            green_wakers.push(rt.spawn(post));
        } else {
            os_wakers.push(std::thread::spawn(post));
        }
    }

    for h in green_wakers {
        h.join().unwrap();
    }
    for h in os_wakers {
        h.join().unwrap();
    }
    for h in green_waiters {
        h.join().unwrap();
    }
    for h in os_waiters {
        h.join().unwrap();
    }
    assert_eq!(total.load(SeqCst), waiters as u64 * ROUNDS);
    for (i, slot) in slots.iter().enumerate() {
        assert_eq!(slot.posted.load(SeqCst), ROUNDS, "posts to waiter {i}");
        assert_eq!(slot.consumed.load(SeqCst), ROUNDS, "rounds of waiter {i}");
    }
}

#[test]
fn park_stress_random_wakers_two_workers_and_os_threads_lose_no_wakeup() {
    for seed in [1, 2, 3] {
        stress(seed, 2, Shape { green_waiters: 24, os_waiters: 2, green_wakers: 4, os_wakers: 2 });
    }
}

#[test]
fn park_stress_random_wakers_four_workers_lose_no_wakeup() {
    for seed in [11, 12] {
        stress(seed, 4, Shape { green_waiters: 32, os_waiters: 1, green_wakers: 6, os_wakers: 2 });
    }
}

#[test]
fn park_stress_random_wakers_one_worker_and_os_threads_lose_no_wakeup() {
    for seed in [21, 22] {
        stress(seed, 1, Shape { green_waiters: 16, os_waiters: 1, green_wakers: 2, os_wakers: 2 });
    }
}
