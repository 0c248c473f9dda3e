//! Stack high-water marks: a green thread that recursed deeply shows a
//! larger mark than a shallow one, both within the stack; with
//! `WEFT_STACK_REPORT=1` each green thread's mark is printed when it
//! finishes (checked in a child process, as `stack_overflow.rs` does).

use std::hint::black_box;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;

use weft::observe::GreenState;

mod support;

use support::dump_when;

const CHILD_ENV: &str = "WEFT_TEST_CHILD";
const KIB: usize = 1024;
const STACK: usize = 256 * KIB;
/// How deep the deep green thread goes: frames of at least 1 KiB each.
const DEEP: usize = 32 * KIB;

/// Recurses `depth` frames of at least 1 KiB of live stack each.
fn recurse(depth: usize) -> u64 {
    let mut frame = [0u8; KIB];
    black_box(&mut frame);
    if depth == 0 {
        return u64::from(frame[0]);
    }
    recurse(depth - 1) + u64::from(black_box(frame[KIB - 1]))
}

/// Spawns a green thread named `name` that recurses `frames` deep, returns,
/// then parks until `release` is set.
fn parked_after_recursion(
    rt: &weft::Runtime,
    name: &str,
    frames: usize,
    release: &Arc<AtomicBool>,
) -> weft::JoinHandle<u64> {
    let release = release.clone();
    weft::Builder::new()
        .name(name)
        .spawn_on(rt, move || {
            let sum = recurse(frames);
            while !release.load(SeqCst) {
                weft::park();
            }
            sum
        })
        .unwrap()
}

#[test]
fn stack_high_water_of_deep_recursion_exceeds_shallow() {
    for workers in [1, 2] {
        let rt = weft::Runtime::builder()
            .workers(workers)
            .name(format!("hwm-w{workers}"))
            .stack_size(STACK)
            .stack_report(true)
            .build()
            .unwrap();
        let release = Arc::new(AtomicBool::new(false));
        let shallow = parked_after_recursion(&rt, "shallow", 0, &release);
        let deep = parked_after_recursion(&rt, "deep", DEEP / KIB, &release);
        let ids = [shallow.thread().id(), deep.thread().id()];
        let dump = dump_when(&rt, |d| {
            ids.iter().all(|&id| d.get(id).is_some_and(|t| matches!(t.state(), GreenState::Parked(_))))
        });
        let (shallow_info, deep_info) = (dump.get(ids[0]).unwrap(), dump.get(ids[1]).unwrap());
        for info in [shallow_info, deep_info] {
            assert!(info.stack_high_water_is_exact(), "stack_report makes marks exact:\n{dump}");
            assert_eq!(info.stack_size(), STACK);
            assert!(info.stack_high_water() > 0 && info.stack_high_water() <= STACK, "{dump}");
        }
        assert!(deep_info.stack_high_water() >= DEEP, "{dump}");
        assert!(deep_info.stack_high_water() > shallow_info.stack_high_water(), "{dump}");
        assert!(shallow_info.stack_high_water() < DEEP, "{dump}");
        release.store(true, SeqCst);
        for h in [shallow, deep] {
            h.thread().unpark();
            h.join().unwrap();
        }
    }
}

#[test]
fn stack_report_env_prints_each_finished_green_threads_mark() {
    const TEST: &str = "stack_report_env_prints_each_finished_green_threads_mark";
    if std::env::var(CHILD_ENV).as_deref() == Ok(TEST) {
        let rt = weft::Runtime::builder().workers(1).stack_size(STACK).build().unwrap();
        let h = weft::Builder::new().name("reported").spawn_on(&rt, || recurse(DEEP / KIB)).unwrap();
        eprintln!("child: green thread {}", h.thread().id());
        h.join().unwrap();
        drop(rt);
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, TEST)
        .env("WEFT_STACK_REPORT", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let id = stderr.lines().find_map(|l| l.strip_prefix("child: green thread ")).expect("child printed the id");
    let prefix = format!("weft: green thread 'reported' ({id}) finished; stack high-water mark ");
    let line = stderr.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_else(|| panic!("no report:\n{stderr}"));
    let used: usize = line.split(' ').next().unwrap().parse().unwrap();
    assert!(line.ends_with(&format!("of {STACK} bytes")), "{line}");
    assert!((DEEP..=STACK).contains(&used), "{line}");
}

#[test]
fn shrink_stack_releases_the_pages_below_the_frame_and_keeps_the_frames_above() {
    for workers in [1, 2] {
        let rt = weft::Runtime::builder()
            .workers(workers)
            .name(format!("shrink-w{workers}"))
            .stack_size(STACK)
            .stack_report(true)
            .build()
            .unwrap();
        let release = Arc::new(AtomicBool::new(false));
        let release2 = release.clone();
        let h = weft::Builder::new()
            .name("shrunk")
            .spawn_on(&rt, move || {
                // Live data in this frame and a parent frame must survive.
                let mut live = [0u8; 2 * KIB];
                for (i, b) in live.iter_mut().enumerate() {
                    *b = (i % 251) as u8;
                }
                black_box(&mut live);
                let sum = recurse(DEEP / KIB);
                weft::shrink_stack();
                while !release2.load(SeqCst) {
                    weft::park();
                }
                assert!(live.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8), "live frame data changed");
                // The released pages come back as needed.
                assert_eq!(recurse(DEEP / KIB), sum);
                sum
            })
            .unwrap();
        let id = h.thread().id();
        let dump = dump_when(&rt, |d| d.get(id).is_some_and(|t| matches!(t.state(), GreenState::Parked(_))));
        let info = dump.get(id).unwrap();
        assert!(info.stack_high_water_is_exact(), "{dump}");
        // The deep recursion touched DEEP bytes; after shrinking, only the
        // frames above the call and the park path remain.
        assert!(info.stack_high_water() < DEEP / 2, "{dump}");
        release.store(true, SeqCst);
        h.thread().unpark();
        h.join().unwrap();
    }
    // On an OS thread it does nothing (and does not fault).
    weft::shrink_stack();
    assert_eq!(recurse(4), 0);
}
