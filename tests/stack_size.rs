//! Stack sizes: `Builder::stack_size` and `RuntimeBuilder::stack_size`
//! take effect. The default stack is 64 KiB, so each of these green threads
//! would overflow (and abort the test binary) if its size were ignored.

mod support;

use std::hint::black_box;

use support::with_each_runtime;

const KIB: usize = 1024;

/// Fills a 512 KiB array on the stack and sums it back.
fn big_frame() -> u64 {
    let mut buf = [0u8; 512 * KIB];
    black_box(&mut buf);
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    black_box(&buf).iter().map(|&b| u64::from(b)).sum()
}

fn big_frame_expected() -> u64 {
    (0..512 * KIB).map(|i| (i % 251) as u64).sum()
}

/// Recurses `depth` times with a 1 KiB frame each.
fn recurse(depth: u32) -> u64 {
    let mut frame = [0u8; KIB];
    black_box(&mut frame);
    frame[depth as usize % KIB] = 1;
    let below = if depth == 0 { 0 } else { recurse(depth - 1) };
    below + u64::from(black_box(&frame).iter().map(|&b| u32::from(b)).sum::<u32>())
}

#[test]
fn stack_builder_size_1mib_holds_512kib_array() {
    with_each_runtime("stack-array", |rt| {
        let h = weft::Builder::new().stack_size(1024 * KIB).spawn_on(rt, big_frame).unwrap();
        assert_eq!(h.join().unwrap(), big_frame_expected());
    });
}

#[test]
fn stack_builder_size_1mib_allows_deep_recursion() {
    with_each_runtime("stack-recursion", |rt| {
        // About 600 KiB of frames: ten times the default stack.
        let h = weft::Builder::new().stack_size(1024 * KIB).spawn_on(rt, || recurse(600)).unwrap();
        assert_eq!(h.join().unwrap(), 601);
    });
}

#[test]
fn stack_runtime_default_size_applies_to_its_green_threads() {
    for workers in support::WORKER_COUNTS {
        let rt = weft::Runtime::builder().workers(workers).stack_size(1024 * KIB).build().unwrap();
        let handles: Vec<_> = (0..4).map(|_| rt.spawn(big_frame)).collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), big_frame_expected());
        }
        // Nested spawns inherit the runtime's default too.
        let nested = rt.spawn(|| weft::spawn(big_frame).join().unwrap());
        assert_eq!(nested.join().unwrap(), big_frame_expected());
    }
}

/// A one-byte request is rounded up to `MIN_STACK_SIZE` (16 KiB): an 8 KiB
/// array fits, which a one-page stack could not hold.
#[test]
fn stack_tiny_request_rounds_up_to_minimum() {
    with_each_runtime("stack-tiny", |rt| {
        let h = weft::Builder::new()
            .stack_size(1)
            .spawn_on(rt, || {
                let mut buf = [1u8; weft::MIN_STACK_SIZE / 2];
                black_box(&mut buf);
                weft::yield_now();
                black_box(&buf).iter().map(|&b| usize::from(b)).sum::<usize>()
            })
            .unwrap();
        assert_eq!(h.join().unwrap(), weft::MIN_STACK_SIZE / 2);
    });
}
