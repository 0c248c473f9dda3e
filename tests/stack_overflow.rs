//! A green thread that overflows its stack aborts the process with a
//! report naming it, its id and its stack size, as std does for an OS
//! thread. Each test re-executes this test binary, running only itself, as
//! a child process (selected by `WEFT_TEST_CHILD`), lets the child
//! overflow, and checks how it died and what it printed.
//!
//! Two guard mechanisms are covered: `MADV_GUARD_INSTALL` (the default on
//! Linux >= 6.13; older kernels fall back to mprotect, which the default
//! test then expects) and `mprotect`, forced with `WEFT_STACK_GUARD`.

use std::hint::black_box;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use weft::GuardMode;

const CHILD_ENV: &str = "WEFT_TEST_CHILD";
const SIGABRT: i32 = 6;
const KIB: usize = 1024;

/// Recurses until the stack runs out (the condition is never true, but the
/// compiler cannot know that).
fn recurse_forever(depth: u64) -> u64 {
    let mut frame = [0u8; 256];
    black_box(&mut frame);
    if black_box(depth) == u64::MAX {
        return 0;
    }
    recurse_forever(depth + 1) + u64::from(frame[0])
}

/// How the child sizes and names the green thread that overflows.
struct Victim {
    /// `Builder::name`, if any.
    name: Option<&'static str>,
    /// `Builder::stack_size`, if any.
    stack_size: Option<usize>,
    /// `RuntimeBuilder::stack_size`.
    runtime_stack_size: usize,
}

/// In the child: starts a runtime, reports the guard mode, then overflows a
/// green thread shaped by `victim`. Never returns normally.
fn child(victim: Victim, expected_mode: GuardMode) {
    let rt = weft::Runtime::builder().workers(1).stack_size(victim.runtime_stack_size).build().unwrap();
    // Any spawn allocates a stack, which settles the guard mode.
    rt.spawn(|| ()).join().unwrap();
    let mode = weft::stack_guard_mode();
    eprintln!("child: guard mode {mode:?}");
    assert_eq!(mode, Some(expected_mode));
    let mut builder = weft::Builder::new();
    if let Some(name) = victim.name {
        builder = builder.name(name);
    }
    if let Some(size) = victim.stack_size {
        builder = builder.stack_size(size);
    }
    // The green thread waits until its id has been printed: the overflow
    // aborts the process at once.
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let h = builder
        .spawn_on(&rt, move || {
            go_rx.recv().unwrap();
            recurse_forever(0)
        })
        .unwrap();
    eprintln!("child: overflowing green thread {}", h.thread().id());
    go_tx.send(()).unwrap();
    let result = h.join();
    eprintln!("child: survived its overflow: {:?}", result.map_err(|_| "panic"));
    std::process::exit(1);
}

/// In the parent: runs test `test` as a child with `env`, and checks that
/// it aborted with a report for green thread `name` of `stack_size` bytes,
/// after printing `guard mode Some(expected_mode)`.
fn expect_overflow_abort(test: &str, env: &[(&str, &str)], name: &str, stack_size: usize, expected_mode: GuardMode) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"]).env(CHILD_ENV, test).env_remove("WEFT_STACK_GUARD");
    cmd.envs(env.iter().copied());
    let out = cmd.output().expect("run child test process");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let context = format!("child status {:?}, stderr:\n{stderr}", out.status);
    assert_eq!(out.status.signal(), Some(SIGABRT), "{context}");
    assert!(stderr.contains(&format!("child: guard mode Some({expected_mode:?})")), "{context}");
    let id = stderr
        .lines()
        .find_map(|l| l.strip_prefix("child: overflowing green thread "))
        .unwrap_or_else(|| panic!("child did not report the green thread's id; {context}"));
    let report = format!("thread '{name}' (weft green thread {id}) has overflowed its stack of {stack_size} bytes");
    assert!(stderr.contains(&report), "missing {report:?}; {context}");
    assert!(stderr.contains("fatal runtime error: stack overflow"), "{context}");
    assert!(!stderr.contains("child: survived"), "{context}");
}

/// The guard mode the default (non-forced) path should settle on here.
fn default_mode() -> GuardMode {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit()).map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) >= (6, 13) {
        GuardMode::Madvise
    } else {
        GuardMode::Mprotect
    }
}

#[test]
fn stack_overflow_default_guard_aborts_with_named_report() {
    const TEST: &str = "stack_overflow_default_guard_aborts_with_named_report";
    if std::env::var(CHILD_ENV).as_deref() == Ok(TEST) {
        let victim = Victim { name: Some("deep-diver"), stack_size: Some(64 * KIB), runtime_stack_size: 256 * KIB };
        return child(victim, default_mode());
    }
    expect_overflow_abort(TEST, &[], "deep-diver", 64 * KIB, default_mode());
}

#[test]
fn stack_overflow_mprotect_guard_aborts_with_named_report() {
    const TEST: &str = "stack_overflow_mprotect_guard_aborts_with_named_report";
    if std::env::var(CHILD_ENV).as_deref() == Ok(TEST) {
        let victim =
            Victim { name: Some("mprotect-diver"), stack_size: Some(128 * KIB), runtime_stack_size: 256 * KIB };
        return child(victim, GuardMode::Mprotect);
    }
    expect_overflow_abort(TEST, &[("WEFT_STACK_GUARD", "mprotect")], "mprotect-diver", 128 * KIB, GuardMode::Mprotect);
}

#[test]
fn stack_overflow_unnamed_green_thread_reports_runtime_stack_size() {
    const TEST: &str = "stack_overflow_unnamed_green_thread_reports_runtime_stack_size";
    if std::env::var(CHILD_ENV).as_deref() == Ok(TEST) {
        return child(Victim { name: None, stack_size: None, runtime_stack_size: 32 * KIB }, default_mode());
    }
    expect_overflow_abort(TEST, &[], "<unnamed>", 32 * KIB, default_mode());
}
