//! The main job until the HTTP server lands: spawn 100,000 green threads in
//! pairs; each pair sleeps, then exchanges a message through park/unpark.
//! Prints how long it took and the process's peak RSS.
//!
//! ```text
//! cargo run --release --example spawn_many -- [green-threads] [workers]
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A one-message mailbox: the sender stores the value and unparks the
/// receiver, which parks until the value is there.
struct Mailbox {
    value: Mutex<Option<u64>>,
    receiver: Mutex<Option<weft::GreenThread>>,
}

impl Mailbox {
    fn new() -> Arc<Mailbox> {
        Arc::new(Mailbox { value: Mutex::new(None), receiver: Mutex::new(None) })
    }

    fn send(&self, value: u64) {
        *self.value.lock().unwrap() = Some(value);
        if let Some(receiver) = self.receiver.lock().unwrap().take() {
            receiver.unpark();
        }
    }

    fn recv(&self) -> u64 {
        loop {
            *self.receiver.lock().unwrap() = Some(weft::current());
            if let Some(value) = self.value.lock().unwrap().take() {
                return value;
            }
            weft::park();
        }
    }
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: u64 = args.next().map_or(100_000, |a| a.parse().expect("green-thread count"));
    let mut builder = weft::Runtime::builder();
    if let Some(workers) = args.next() {
        builder = builder.workers(workers.parse().expect("worker count"));
    }
    let rt = builder.build()?;
    let start = Instant::now();
    let mut handles = Vec::with_capacity(count as usize);
    for pair in 0..count / 2 {
        let (ping, pong) = (Mailbox::new(), Mailbox::new());
        let (ping2, pong2) = (ping.clone(), pong.clone());
        handles.push(rt.spawn(move || {
            weft::sleep(Duration::from_millis(10));
            ping.send(pair);
            pong.recv()
        }));
        handles.push(rt.spawn(move || {
            weft::sleep(Duration::from_millis(10));
            let got = ping2.recv();
            pong2.send(got * 2);
            got
        }));
    }
    let spawned = start.elapsed();
    let mut sum = 0u64;
    for handle in handles {
        sum += handle.join().expect("green thread panicked");
    }
    let elapsed = start.elapsed();
    let pairs = count / 2;
    let expected = 3 * (pairs * pairs.saturating_sub(1) / 2);
    assert_eq!(sum, expected, "every message arrived");
    println!(
        "{count} green threads on {} workers: spawned in {spawned:?}, all slept, exchanged messages and joined in {elapsed:?}",
        rt.workers()
    );
    println!("green threads started per worker: {:?}", rt.started_per_worker());
    match peak_rss_kib() {
        Some(kib) => println!("peak RSS: {kib} KiB ({:.2} KiB per green thread)", kib as f64 / count as f64),
        None => println!("peak RSS: unavailable"),
    }
    Ok(())
}
