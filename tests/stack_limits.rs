//! When guarded stacks cannot be had, spawning returns an error that names
//! the cause instead of crashing. With `mprotect` guards (forced here with
//! `WEFT_STACK_GUARD=mprotect`, the fallback on kernels before 6.13) each
//! stack costs two kernel mappings, so the stock `vm.max_map_count` runs out
//! after some tens of thousands of live green threads. The test runs in a
//! child process, because exhausting the mapping limit would break every
//! other test sharing the process.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;

const CHILD_ENV: &str = "WEFT_TEST_CHILD";

/// In the child: spawns parked green threads until `Builder::spawn` fails,
/// prints the error, then releases and joins everything it spawned.
fn child() {
    let rt = weft::Runtime::builder().workers(1).build().unwrap();
    let release = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    let error = loop {
        let release = release.clone();
        let spawned = weft::Builder::new().spawn_on(&rt, move || {
            while !release.load(SeqCst) {
                weft::park();
            }
        });
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(e) => break e,
        }
        assert!(handles.len() < 1_000_000, "mprotect guards never ran out of mappings");
    };
    eprintln!("child: spawned {} then: kind {:?}: {error}", handles.len(), error.kind());
    release.store(true, SeqCst);
    for handle in &handles {
        handle.thread().unpark();
    }
    let joined = handles.into_iter().map(|h| h.join()).filter(Result::is_ok).count();
    eprintln!("child: joined {joined} after the error");
}

#[test]
fn stack_mprotect_map_count_exhaustion_is_a_clear_spawn_error() {
    const TEST: &str = "stack_mprotect_map_count_exhaustion_is_a_clear_spawn_error";
    if std::env::var(CHILD_ENV).as_deref() == Ok(TEST) {
        return child();
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, TEST)
        .env("WEFT_STACK_GUARD", "mprotect")
        .output()
        .expect("run child test process");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {:?}\n{stderr}", out.status);
    let line = stderr.lines().find(|l| l.starts_with("child: spawned")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.contains("kind OutOfMemory"), "{line}");
    assert!(line.contains("vm.max_map_count"), "the error names the limit: {line}");
    assert!(line.contains("mprotect"), "the error names the guard mechanism: {line}");
    let spawned: usize = line["child: spawned ".len()..].split(' ').next().unwrap().parse().unwrap();
    assert!(
        stderr.contains(&format!("child: joined {spawned} after the error")),
        "every green thread spawned before the error still ran to completion:\n{stderr}"
    );
}
