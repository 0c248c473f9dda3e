//! The hog monitor: a green thread that runs longer than the threshold
//! without reaching a blocking point is reported once per incident, by
//! name and id; one that yields is never reported; the monitor thread
//! exists only when enabled and stops with its runtime.
//!
//! The hogs here spin for [`SPIN`] by the clock: that is the scenario, not a
//! wait for a condition. The stderr tests re-execute this test binary as a
//! child process (selected by `WEFT_TEST_CHILD`), as `stack_overflow.rs`
//! does.

mod support;

use std::process::Command;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use weft::observe::{GreenState, HogReport};

const CHILD_ENV: &str = "WEFT_TEST_CHILD";
const THRESHOLD: Duration = Duration::from_millis(100);
const SPIN: Duration = Duration::from_millis(300);

/// The tests here keep cores busy on purpose. They run one at a time, so
/// that one test's spinning cannot starve another's worker for a whole
/// threshold (which, from outside, is what a hog looks like).
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static CPU: Mutex<()> = Mutex::new(());
    CPU.lock().unwrap_or_else(|e| e.into_inner())
}

/// Keeps the calling green thread's worker busy for `d`, never blocking.
fn spin_for(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// A runtime whose monitor collects its reports.
fn monitored(workers: usize, name: &str) -> (weft::Runtime, Arc<Mutex<Vec<HogReport>>>) {
    monitored_with(workers, name, THRESHOLD)
}

fn monitored_with(workers: usize, name: &str, threshold: Duration) -> (weft::Runtime, Arc<Mutex<Vec<HogReport>>>) {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = reports.clone();
    let rt = weft::Runtime::builder()
        .workers(workers)
        .name(name)
        .monitor_threshold(threshold)
        .on_hog(move |report| sink.lock().unwrap().push(report.clone()))
        .build()
        .unwrap();
    (rt, reports)
}

/// Drops the runtime, which joins its monitor: no report can come later.
fn reports_after_drop(rt: weft::Runtime, reports: Arc<Mutex<Vec<HogReport>>>) -> Vec<HogReport> {
    drop(rt);
    let reports = reports.lock().unwrap();
    reports.clone()
}

#[test]
fn monitor_reports_spinning_green_thread_once_with_name() {
    let _cpu = one_at_a_time();
    for workers in support::WORKER_COUNTS {
        let (rt, reports) = monitored(workers, &format!("hog-w{workers}"));
        let hog = weft::Builder::new().name("hog").spawn_on(&rt, || spin_for(SPIN)).unwrap();
        let id = hog.thread().id();
        hog.join().unwrap();
        let reports = reports_after_drop(rt, reports);
        assert_eq!(reports.len(), 1, "exactly one report per incident: {reports:#?}");
        let report = &reports[0];
        assert_eq!(report.name(), Some("hog"));
        assert_eq!(report.id(), id);
        assert!(report.running_for() >= THRESHOLD, "{report:?}");
        assert_eq!(report.threshold(), THRESHOLD);
        assert!(report.worker() < workers);
        assert_eq!(report.worker_thread(), format!("hog-w{workers}-{}", report.worker()));
        let text = report.to_string();
        assert!(text.contains(&format!("green thread 'hog' ({id})")), "{text}");
        assert!(text.contains("weft::unblock"), "{text}");
    }
}

#[test]
fn monitor_reports_each_incident_of_the_same_green_thread() {
    let _cpu = one_at_a_time();
    let (rt, reports) = monitored(1, "hog-twice");
    let hog = weft::Builder::new()
        .name("twice")
        .spawn_on(&rt, || {
            spin_for(SPIN);
            weft::yield_now();
            spin_for(SPIN);
        })
        .unwrap();
    hog.join().unwrap();
    let reports = reports_after_drop(rt, reports);
    assert_eq!(reports.len(), 2, "two runs over the threshold, two incidents: {reports:#?}");
    assert!(reports.iter().all(|r| r.name() == Some("twice")));
}

/// The threshold here is higher than elsewhere: a worker that the OS does
/// not run for a whole threshold (a loaded machine, a stolen vCPU) is, seen
/// from the monitor, a worker stuck in one green thread; the rule itself
/// (a new resume restarts the clock) is unit-tested in `monitor.rs`.
#[test]
fn monitor_never_reports_green_thread_that_yields_every_ms() {
    let _cpu = one_at_a_time();
    for workers in support::WORKER_COUNTS {
        let (rt, reports) = monitored_with(workers, &format!("polite-w{workers}"), Duration::from_millis(250));
        let polite = weft::Builder::new()
            .name("polite")
            .spawn_on(&rt, || {
                let start = Instant::now();
                while start.elapsed() < SPIN {
                    spin_for(Duration::from_millis(1));
                    weft::yield_now();
                }
            })
            .unwrap();
        polite.join().unwrap();
        let reports = reports_after_drop(rt, reports);
        assert!(reports.is_empty(), "{reports:#?}");
    }
}

#[test]
fn monitor_counts_ready_and_parked_green_threads_of_the_hogged_worker() {
    let _cpu = one_at_a_time();
    let (rt, reports) = monitored(1, "hog-counts");
    // Two green threads parked on the worker before the hog starts.
    let sleepers: Vec<_> = (0..2).map(|_| rt.spawn(|| weft::sleep(Duration::from_secs(3600)))).collect();
    let start = Instant::now();
    while !sleepers.iter().all(|s| {
        let dump = rt.dump();
        dump.get(s.thread().id()).is_some_and(|t| matches!(t.state(), GreenState::Parked(_)))
    }) {
        assert!(start.elapsed() < Duration::from_secs(60), "the sleepers never parked:\n{}", rt.dump());
        std::thread::yield_now();
    }
    let hog = weft::Builder::new()
        .name("counted")
        .spawn_on(&rt, || {
            // Three more wait behind it, not started yet.
            let waiting: Vec<_> = (0..3).map(|_| weft::spawn(|| ())).collect();
            spin_for(SPIN);
            waiting
        })
        .unwrap();
    for h in hog.join().unwrap() {
        h.join().unwrap();
    }
    let reports = reports_after_drop(rt, reports);
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!((reports[0].ready(), reports[0].parked()), (3, 2), "{}", reports[0]);
}

#[test]
fn monitor_zero_threshold_turns_it_off() {
    let _cpu = one_at_a_time();
    let reports = Arc::new(Mutex::new(Vec::<HogReport>::new()));
    let sink = reports.clone();
    let rt = weft::Runtime::builder()
        .workers(1)
        .name("hog-off")
        .monitor_threshold(Duration::ZERO)
        .on_hog(move |report| sink.lock().unwrap().push(report.clone()))
        .build()
        .unwrap();
    rt.spawn(|| spin_for(SPIN)).join().unwrap();
    // By now a monitor thread would long have named itself.
    assert!(!thread_exists("hog-off-monitor"), "no monitor thread when off");
    let reports = reports_after_drop(rt, reports);
    assert!(reports.is_empty(), "{reports:#?}");
}

/// True if a thread of this process is named `name` (the kernel keeps the
/// first 15 bytes of a thread's name).
fn thread_exists(name: &str) -> bool {
    std::fs::read_dir("/proc/self/task").unwrap().any(|task| {
        let comm = std::fs::read_to_string(task.unwrap().path().join("comm")).unwrap_or_default();
        comm.trim_end() == name
    })
}

#[test]
fn monitor_thread_runs_with_its_runtime_and_stops_on_drop() {
    let _cpu = one_at_a_time();
    let rt = weft::Runtime::builder().workers(1).name("mon-life").build().unwrap();
    // A new thread names itself once it runs: wait for that.
    let start = Instant::now();
    while !thread_exists("mon-life-monito") {
        assert!(start.elapsed() < Duration::from_secs(60), "no monitor thread");
        std::thread::yield_now();
    }
    drop(rt);
    // Joined; the kernel lists an exited thread until it has released it.
    let start = Instant::now();
    while thread_exists("mon-life-monito") {
        assert!(start.elapsed() < Duration::from_secs(10), "dropping the runtime stops its monitor");
        std::thread::yield_now();
    }
}

/// The child's body: a runtime configured by the environment only, and one
/// green thread named `stderr-hog` spinning past the default threshold.
fn child_spins() {
    let rt = weft::Runtime::builder().workers(1).name("child").build().unwrap();
    weft::Builder::new().name("stderr-hog").spawn_on(&rt, || spin_for(SPIN)).unwrap().join().unwrap();
    drop(rt);
}

/// Runs test `test` in a child process with `env`, returns its stderr.
fn child_stderr(test: &str, env: &[(&str, &str)]) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, test)
        .env_remove("WEFT_MONITOR_MS")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "child failed ({:?}):\n{stderr}", out.status);
    stderr
}

#[test]
fn monitor_default_report_goes_to_stderr_with_advice() {
    let _cpu = one_at_a_time();
    const TEST: &str = "monitor_default_report_goes_to_stderr_with_advice";
    if std::env::var(CHILD_ENV).as_deref() == Ok(TEST) {
        return child_spins();
    }
    let stderr = child_stderr(TEST, &[]);
    assert_eq!(stderr.matches("has been running on").count(), 1, "one report:\n{stderr}");
    assert!(stderr.contains("green thread 'stderr-hog'"), "{stderr}");
    assert!(stderr.contains("without reaching a blocking point"), "{stderr}");
    assert!(stderr.contains("weft::unblock(|| ...)"), "{stderr}");
    assert!(stderr.contains("after 100 ms"), "the default threshold:\n{stderr}");
}

#[test]
fn monitor_env_sets_the_threshold_and_zero_turns_it_off() {
    let _cpu = one_at_a_time();
    const TEST: &str = "monitor_env_sets_the_threshold_and_zero_turns_it_off";
    if std::env::var(CHILD_ENV).as_deref() == Ok(TEST) {
        return child_spins();
    }
    let stderr = child_stderr(TEST, &[("WEFT_MONITOR_MS", "50")]);
    assert!(stderr.contains("green thread 'stderr-hog'") && stderr.contains("after 50 ms"), "{stderr}");
    let stderr = child_stderr(TEST, &[("WEFT_MONITOR_MS", "0")]);
    assert!(!stderr.contains("stderr-hog"), "WEFT_MONITOR_MS=0 turns the monitor off:\n{stderr}");
}

#[test]
fn monitor_env_malformed_fails_the_build() {
    let _cpu = one_at_a_time();
    const TEST: &str = "monitor_env_malformed_fails_the_build";
    if std::env::var(CHILD_ENV).as_deref() == Ok(TEST) {
        let err = weft::Runtime::builder().workers(1).build().unwrap_err();
        eprintln!("child: {err}");
        return;
    }
    let stderr = child_stderr(TEST, &[("WEFT_MONITOR_MS", "soon")]);
    assert!(stderr.contains("child: weft: WEFT_MONITOR_MS must be a whole number of milliseconds"), "{stderr}");
}
