//! Resident memory per parked green thread, weft against may.
//!
//! ```text
//! cargo bench --bench parked_memory                    # N = 100,000 and 1,000,000, weft and may
//! cargo bench --bench parked_memory -- 1000000 weft    # one N, one runtime
//! WEFT_PARKED_COUNTS=100000,200000 cargo bench --bench parked_memory
//! ```
//!
//! Run by `cargo test --benches` (no `--bench` flag) it measures N = 1,000
//! only, as a quick check that the harness works.
//!
//! # Method
//!
//! Every measurement runs in a fresh child process (this binary re-executed
//! with `--child RUNTIME N`), so allocator caches, stack pools and mappings
//! left by one measurement cannot flatter the next, and a runtime that fails
//! only fails its own row. The child:
//!
//! 1. starts a 2-worker runtime and touches the memory of the handle vector;
//! 2. reads the baseline `VmRSS`;
//! 3. spawns N threads that each count their arrival and park until a
//!    shared flag is set, and waits (polling) until all have arrived;
//! 4. reads `VmRSS`, `VmHWM` and the number of mappings (`/proc/self/maps`);
//! 5. sets the flag, unparks every thread through its handle, joins them all;
//! 6. prints one `result` line that the parent turns into the table.
//!
//! Bytes per thread = (`VmRSS` after step 3 - baseline) / threads parked:
//! stacks, control blocks, join packets and queue entries, everything a
//! parked thread holds.
//!
//! # The mapping limit
//!
//! may gives each coroutine its own `mmap` with an `mprotect` guard page: two
//! kernel mappings, so the stock `vm.max_map_count` (65,530) caps it near
//! 32,000 coroutines. Past the limit `mmap` fails inside may's spawn, and the
//! panic that follows runs out of memory while holding std's backtrace lock:
//! the process hangs rather than exits. So the child stops spawning may
//! coroutines shortly before the limit, measures what it has, and reports
//! how many fit (`reached`); and the parent kills any child that outlives
//! [`child_timeout`].

use std::io::{Read, Write};
use std::mem::MaybeUninit;
use std::panic::{self, AssertUnwindSafe};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Thread counts measured by `cargo bench` unless told otherwise.
const BENCH_COUNTS: [usize; 2] = [100_000, 1_000_000];

/// Thread count when run as a test (`cargo test --benches`).
const TEST_COUNT: usize = 1_000;

/// Workers of each runtime.
const WORKERS: usize = 2;

/// Longest wait for all threads to arrive before the child gives up.
const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(120);

/// Pause after the last arrival so the last threads finish switching out.
const SETTLE: Duration = Duration::from_millis(50);

/// may spawns between two looks at the mapping count.
const MAP_CHECK_EVERY: usize = 1_024;

/// Mappings left free when the child stops spawning may coroutines: two per
/// coroutine until the next check, plus room for malloc and thread stacks.
const MAP_HEADROOM: usize = 2 * MAP_CHECK_EVERY + 2_048;

/// The target from the design: 4.5 KiB per parked green thread at 1,000,000.
const TARGET_BYTES: f64 = 4.5 * 1024.0;

/// How long the parent waits for a child measuring `n` threads.
fn child_timeout(n: usize) -> Duration {
    Duration::from_secs(120) + Duration::from_micros(100) * n as u32
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Runtime {
    Weft,
    May,
}

impl Runtime {
    const ALL: [Runtime; 2] = [Runtime::Weft, Runtime::May];

    fn name(self) -> &'static str {
        match self {
            Runtime::Weft => "weft",
            Runtime::May => "may",
        }
    }

    fn parse(s: &str) -> Option<Runtime> {
        Runtime::ALL.into_iter().find(|r| r.name() == s)
    }
}

/// What the parked threads share with the child's main thread. Any thread.
struct Gate {
    /// Threads that have started and are about to park.
    arrived: AtomicUsize,
    /// Set once to let every thread return.
    released: AtomicBool,
}

impl Gate {
    fn new() -> Arc<Gate> {
        Arc::new(Gate { arrived: AtomicUsize::new(0), released: AtomicBool::new(false) })
    }

    /// The body of every parked thread.
    fn wait(&self, park: fn()) {
        self.arrived.fetch_add(1, Release);
        while !self.released.load(Acquire) {
            park();
        }
    }

    /// Polls until `n` threads have arrived (a benchmark may poll).
    fn wait_for_arrivals(&self, n: usize) -> Result<(), String> {
        let start = Instant::now();
        while self.arrived.load(Acquire) < n {
            if start.elapsed() > ARRIVAL_TIMEOUT {
                return Err(format!(
                    "only {} of {n} threads arrived in {ARRIVAL_TIMEOUT:?}",
                    self.arrived.load(Acquire)
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(SETTLE);
        Ok(())
    }
}

/// Lines of a `/proc/<pid>/maps`: the process's kernel mappings.
fn map_count(pid: &str) -> Option<usize> {
    std::fs::read_to_string(format!("/proc/{pid}/maps")).ok().map(|m| m.lines().count())
}

/// A `kB` field of a `/proc/<pid>/status`.
fn status_kib(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn max_map_count() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/vm/max_map_count").ok()?.trim().parse().ok()
}

/// Memory counters of this process.
#[derive(Clone, Copy, Debug)]
struct Snapshot {
    rss_kib: u64,
    hwm_kib: u64,
    maps: usize,
}

impl Snapshot {
    fn take() -> Snapshot {
        Snapshot {
            rss_kib: status_kib("self", "VmRSS:").expect("VmRSS in /proc/self/status"),
            hwm_kib: status_kib("self", "VmHWM:").expect("VmHWM in /proc/self/status"),
            maps: map_count("self").expect("/proc/self/maps"),
        }
    }
}

/// One child's measurement.
#[derive(Debug)]
struct Measurement {
    /// Threads actually parked: N, or fewer if the mapping limit stopped may.
    reached: usize,
    base: Snapshot,
    parked: Snapshot,
    spawn_and_park: Duration,
    release_and_join: Duration,
    note: String,
}

impl Measurement {
    fn bytes_per_thread(&self) -> f64 {
        (self.parked.rss_kib.saturating_sub(self.base.rss_kib) * 1024) as f64 / self.reached.max(1) as f64
    }

    fn to_line(&self) -> String {
        format!(
            "result reached={} base_rss_kib={} rss_kib={} hwm_kib={} base_maps={} maps={} spawn_us={} release_us={} \
             note={}",
            self.reached,
            self.base.rss_kib,
            self.parked.rss_kib,
            self.parked.hwm_kib,
            self.base.maps,
            self.parked.maps,
            self.spawn_and_park.as_micros(),
            self.release_and_join.as_micros(),
            self.note,
        )
    }

    fn from_line(line: &str) -> Option<Measurement> {
        let fields: Vec<(&str, &str)> =
            line.strip_prefix("result ")?.split(' ').filter_map(|kv| kv.split_once('=')).collect();
        let get = |key: &str| fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        let num = |key: &str| get(key)?.parse::<u64>().ok();
        Some(Measurement {
            reached: num("reached")? as usize,
            base: Snapshot { rss_kib: num("base_rss_kib")?, hwm_kib: 0, maps: num("base_maps")? as usize },
            parked: Snapshot { rss_kib: num("rss_kib")?, hwm_kib: num("hwm_kib")?, maps: num("maps")? as usize },
            spawn_and_park: Duration::from_micros(num("spawn_us")?),
            release_and_join: Duration::from_micros(num("release_us")?),
            note: get("note")?.to_owned(),
        })
    }
}

/// A vector for `n` handles whose pages are already resident, so the
/// baseline includes the benchmark's own bookkeeping.
fn touched_vec<T>(n: usize) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    v.spare_capacity_mut().fill_with(MaybeUninit::zeroed);
    v
}

/// The text of a caught panic payload.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".to_owned())
}

fn measure_weft(n: usize) -> Result<Measurement, String> {
    let rt = weft::Runtime::builder().workers(WORKERS).build().map_err(|e| format!("weft runtime: {e}"))?;
    let gate = Gate::new();
    let mut handles: Vec<weft::JoinHandle<()>> = touched_vec(n);
    let base = Snapshot::take();
    let start = Instant::now();
    for i in 0..n {
        let gate = gate.clone();
        let handle = weft::Builder::new()
            .spawn_on(&rt, move || gate.wait(weft::park))
            .map_err(|e| format!("spawn failed after {i} green threads: {e}"))?;
        handles.push(handle);
    }
    gate.wait_for_arrivals(n)?;
    let spawn_and_park = start.elapsed() - SETTLE;
    let parked = Snapshot::take();
    let start = Instant::now();
    gate.released.store(true, Release);
    for handle in &handles {
        handle.thread().unpark();
    }
    for handle in handles {
        handle.join().map_err(|e| format!("green thread failed: {}", panic_text(&*e)))?;
    }
    let release_and_join = start.elapsed();
    let note = match weft::stack_guard_mode() {
        Some(weft::GuardMode::Madvise) => "guard=madvise",
        Some(weft::GuardMode::Mprotect) => "guard=mprotect",
        None => "guard=unknown",
    };
    Ok(Measurement { reached: n, base, parked, spawn_and_park, release_and_join, note: note.to_owned() })
}

fn measure_may(n: usize) -> Result<Measurement, String> {
    may::config().set_workers(WORKERS);
    let map_limit = max_map_count().unwrap_or(usize::MAX);
    let gate = Gate::new();
    let mut handles: Vec<may::coroutine::JoinHandle<()>> = touched_vec(n);
    // Start may's scheduler (its workers, timer thread, coroutine pool)
    // before the baseline, as weft's runtime is.
    // SAFETY: may requires no thread-local references held across a switch
    // and no stack overflow; the closure does nothing.
    unsafe { may::coroutine::spawn(|| {}) }.join().map_err(|e| format!("may warm-up: {}", panic_text(&*e)))?;
    let base = Snapshot::take();
    let start = Instant::now();
    let mut reached = n;
    for i in 0..n {
        if i % MAP_CHECK_EVERY == 0 && map_count("self").unwrap_or(0) + MAP_HEADROOM > map_limit {
            reached = i;
            break;
        }
        let gate = gate.clone();
        let spawned = panic::catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: as above: `Gate::wait` uses atomics and may's park only.
            unsafe { may::coroutine::Builder::new().spawn(move || gate.wait(may::coroutine::park)) }
        }));
        match spawned {
            Ok(Ok(handle)) => handles.push(handle),
            Ok(Err(e)) => return Err(format!("spawn failed after {i} coroutines: {e}")),
            Err(payload) => return Err(format!("spawn panicked after {i} coroutines: {}", panic_text(&*payload))),
        }
    }
    gate.wait_for_arrivals(reached)?;
    let spawn_and_park = start.elapsed() - SETTLE;
    let parked = Snapshot::take();
    let start = Instant::now();
    gate.released.store(true, Release);
    for handle in &handles {
        handle.coroutine().unpark();
    }
    for handle in handles {
        handle.join().map_err(|e| format!("coroutine failed: {}", panic_text(&*e)))?;
    }
    let release_and_join = start.elapsed();
    let note = format!("stack={}B", may::config().get_stack_size() * std::mem::size_of::<usize>());
    Ok(Measurement { reached, base, parked, spawn_and_park, release_and_join, note })
}

/// Child process: measure one runtime at one N and print the result line.
fn child(args: &[String]) -> ExitCode {
    let (Some(runtime), Some(n)) =
        (args.first().and_then(|r| Runtime::parse(r)), args.get(1).and_then(|n| n.parse::<usize>().ok()))
    else {
        eprintln!("usage: parked_memory --child weft|may N");
        return ExitCode::from(2);
    };
    let result = match runtime {
        Runtime::Weft => measure_weft(n),
        Runtime::May => measure_may(n),
    };
    match result {
        Ok(m) => {
            println!("{}", m.to_line());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// A row of the table: a measurement, or why there is none.
type Row = Result<Measurement, String>;

/// Reads a child's pipe to the end on a helper thread, so a chatty child
/// cannot block on a full pipe while the parent waits.
fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    })
}

/// Waits for `child` until `timeout`; on timeout describes its state, kills
/// and reaps it.
fn wait_or_kill(child: &mut Child, timeout: Duration) -> Result<std::process::ExitStatus, String> {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if start.elapsed() < timeout => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let pid = child.id().to_string();
                let maps = map_count(&pid).map_or("?".to_owned(), |m| m.to_string());
                let rss = status_kib(&pid, "VmRSS:").map_or("?".to_owned(), |k| format!("{:.0} MiB", mib(k)));
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no result after {timeout:?}, killed (it had {maps} mappings, VmRSS {rss})"));
            }
            Err(e) => return Err(format!("waiting for child: {e}")),
        }
    }
}

fn run_child(runtime: Runtime, n: usize) -> Row {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut child = Command::new(exe)
        .args(["--child", runtime.name(), &n.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start child: {e}"))?;
    let (stdout, stderr) = (drain(child.stdout.take()), drain(child.stderr.take()));
    let status = wait_or_kill(&mut child, child_timeout(n))?;
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if status.success() {
        if let Some(m) = stdout.lines().find_map(Measurement::from_line) {
            return Ok(m);
        }
    }
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output");
    Err(format!("{status} ({last})"))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn print_row(runtime: Runtime, n: usize, row: &Row) {
    match row {
        Ok(m) => {
            let note = if m.reached < n {
                format!(
                    "{} LIMIT: only {} parked, {} mappings of vm.max_map_count {}",
                    m.note,
                    m.reached,
                    m.parked.maps,
                    max_map_count().map_or("?".to_owned(), |l| l.to_string())
                )
            } else {
                m.note.clone()
            };
            println!(
                "{:<5} {:>9} {:>10.0} {:>10.1} {:>10.1} {:>8} {:>10.0} {:>10.0}  {note}",
                runtime.name(),
                n,
                m.bytes_per_thread(),
                mib(m.parked.rss_kib),
                mib(m.parked.hwm_kib),
                m.parked.maps,
                m.spawn_and_park.as_secs_f64() * 1e3,
                m.release_and_join.as_secs_f64() * 1e3,
            )
        }
        Err(e) => println!("{:<5} {:>9} FAILED: {e}", runtime.name(), n),
    }
    // Rows of a long run appear as they finish.
    let _ = std::io::stdout().flush();
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        return child(&args[1..]);
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // then only a quick run is wanted. Other `--flags` (libtest's) are ignored.
    let bench = args.iter().any(|a| a == "--bench");
    let mut counts: Vec<usize> = args.iter().filter_map(|a| a.replace('_', "").parse().ok()).collect();
    if counts.is_empty() {
        if let Ok(list) = std::env::var("WEFT_PARKED_COUNTS") {
            counts = list.split(',').filter_map(|n| n.trim().replace('_', "").parse().ok()).collect();
        }
    }
    if counts.is_empty() {
        counts = if bench { BENCH_COUNTS.to_vec() } else { vec![TEST_COUNT] };
    }
    let mut runtimes: Vec<Runtime> = args.iter().filter_map(|a| Runtime::parse(a)).collect();
    if runtimes.is_empty() {
        runtimes = Runtime::ALL.to_vec();
    }

    println!(
        "parked threads, {WORKERS} workers, one fresh process per row; \
         bytes/thr = (VmRSS parked - VmRSS before spawning) / threads parked"
    );
    println!(
        "{:<5} {:>9} {:>10} {:>10} {:>10} {:>8} {:>10} {:>10}  note",
        "rt", "N", "bytes/thr", "VmRSS MiB", "VmHWM MiB", "maps", "spawn ms", "release ms"
    );
    let mut results = Vec::new();
    for &n in &counts {
        for &runtime in &runtimes {
            let row = run_child(runtime, n);
            print_row(runtime, n, &row);
            results.push((runtime, n, row));
        }
    }

    println!();
    let mut weft_failed = false;
    for &n in &counts {
        let find = |rt: Runtime| results.iter().find(|(r, c, _)| *r == rt && *c == n).map(|(_, _, row)| row);
        match (find(Runtime::Weft), find(Runtime::May)) {
            (Some(Ok(w)), Some(Ok(m))) if m.reached == n => {
                println!("N={n}: weft/may bytes per thread = {:.2}", w.bytes_per_thread() / m.bytes_per_thread())
            }
            (Some(Ok(w)), Some(Ok(m))) => println!(
                "N={n}: may parked only {}; weft at N={n} / may at {} = {:.2} bytes per thread",
                m.reached,
                m.reached,
                w.bytes_per_thread() / m.bytes_per_thread()
            ),
            (Some(Ok(_)), Some(Err(_))) => println!("N={n}: may failed, no ratio"),
            _ => {}
        }
        match find(Runtime::Weft) {
            Some(Ok(w)) => println!(
                "N={n}: weft {:.0} B per parked green thread = {:.2}x the {TARGET_BYTES:.0} B target",
                w.bytes_per_thread(),
                w.bytes_per_thread() / TARGET_BYTES
            ),
            Some(Err(_)) => weft_failed = true,
            None => {}
        }
    }
    // may hitting its limits is a finding; weft failing fails the run.
    if weft_failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
