//! Hello-world HTTP/1.1 under load: weft-http (one accept loop, and one
//! per worker with SO_REUSEPORT) against may_minihttp, a std thread per
//! connection and a std pool of 64 threads, every server answering
//! `Hello, World!` with the same bytes, driven by wrk over loopback at
//! 100 and 1,000 connections and at 256 connections pipelining 16
//! requests per write; then the memory one idle keep-alive connection
//! costs each server. Reports requests per second, latency, errors and
//! the server's CPU per request, and checks the targets: weft-http at
//! least may_minihttp's throughput unpipelined and 1.1x pipelined, and at
//! most 8 KiB per idle connection.
//!
//! ```text
//! apt-get install -y wrk                                  # the load generator (Debian/Ubuntu)
//! cargo bench --bench http_hello                          # everything, 3 rounds (about 6 minutes)
//! cargo bench --bench http_hello -- --quick               # 1 round, 2 s windows (about 1.5 minutes)
//! cargo bench --bench http_hello -- --conns 256x16 --kinds weft-http,may-minihttp
//! cargo bench --bench http_hello -- --idle 10000          # the idle-memory mode alone
//! cargo bench --bench http_hello -- --help                # all options
//! ```
//!
//! Run without `--bench` (as `cargo test --all-targets` runs it) it is a
//! smoke test that needs no wrk: every kind's server answers keep-alive,
//! split and pipelined requests from this process, each response checked
//! byte for byte, and holds a few idle connections (`http_hello/smoke.rs`).
//!
//! # Method
//!
//! Every wrk run (one kind, one scenario, one round) gets a fresh server:
//! this binary re-executed as `http_hello server KIND WORKERS`
//! (`http_hello/server.rs`, the child protocol in `common/process.rs`),
//! with `--workers` (default 2) workers for the weft and may runtimes.
//! wrk runs once for `--warmup` seconds (not counted), then for
//! `--duration` seconds; the server's CPU time is read from
//! `/proc/PID/stat` just before that run starts and just after wrk exits.
//! Runs are interleaved, kinds within rounds, so drift in the machine
//! touches every kind alike; the summary takes the median of the rounds.
//!
//! Scenarios are `CONNS` or `CONNSxDEPTH` (`--conns`): DEPTH requests per
//! write with TechEmpower's `pipeline.lua` (`http_hello/wrk.rs` has the
//! script and what wrk does with it). wrk runs with `--wrk-threads`
//! threads, default 1: the machine this was written on has 2 cores for wrk
//! and the server together, and one wrk thread (one core at most) leaves
//! the server the other whatever it does; wrk at 2 threads would take a
//! share of both cores from a server with 2 workers and make the result a
//! scheduling contest.
//!
//! The idle mode (`--idle N`, 10,000 in the full run; `http_hello/idle.rs`)
//! opens N keep-alive connections from this process (weft green threads),
//! one request each, holds them, and reports the growth of the server's
//! `VmRSS` per connection. std-pool64 cannot hold them (it serves 64
//! connections at a time) and is left out.
//!
//! # Reading the numbers
//!
//! * wrk and the server share the machine's cores: `srv cores` and
//!   `wrk cores` are what each used during the run, `sirq` the kernel's
//!   softirq work (much of loopback TCP, charged to no process) and
//!   `other` the cores busy with neither, that is other work on the
//!   machine competing with both. Under such competition req/s measures
//!   the share of the cores a server got as much as the server;
//!   `req/cpu-s`, requests per server CPU-second, does not.
//! * wrk is a closed loop: a connection sends its next request (or batch)
//!   when the previous response is in, so latency is a round trip and a
//!   slow server shows as lower throughput more than as higher latency.
//!   Pipelined, latency is one sample per batch of DEPTH.
//! * `errors` adds wrk's socket errors (connect, read, write, and timeout:
//!   a response that came more than 2 s after its request) and responses
//!   with a status of 400 or more. A connection that never gets a response
//!   is no error to wrk: it just adds no requests.
//! * `waiting` is what wrk cannot see: connections the server had accepted
//!   but not begun to serve halfway through the run, from the std servers'
//!   counters (the other kinds serve every connection as they accept it
//!   and show `-`). std-pool64 at 256 or 1,000 connections serves 64 and
//!   leaves the rest waiting for as long as those 64 stay open, which with
//!   keep-alive is the whole run: its req/s is that of 64 connections (as
//!   high as that of all of them: 64 busy connections fill 2 cores), to be
//!   read with its `waiting`.
//! * All kinds put the same number of bytes on the wire per response
//!   (`http_hello/response.rs`: the headers and their order differ only
//!   in case and in a one-letter server name).
//!
//! # Never hangs
//!
//! wrk is killed if it runs well past its `-d`; connects and reads have
//! timeouts; server children are killed by a guard (also on panic) and
//! exit by themselves when this process dies; a watchdog ends the whole
//! run shortly after `--deadline`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

// Shared with tcp_echo, which uses parts of it that this benchmark does not.
#[allow(dead_code)]
#[path = "common/args.rs"]
mod args;
#[path = "http_hello/idle.rs"]
mod idle;
#[path = "common/numbers.rs"]
mod numbers;
// Shared with tcp_echo, which uses parts of it that this benchmark does not.
#[allow(dead_code)]
#[path = "common/process.rs"]
mod process;
#[path = "http_hello/report.rs"]
mod report;
#[path = "http_hello/response.rs"]
mod response;
#[path = "http_hello/server.rs"]
mod server;
#[path = "http_hello/smoke.rs"]
mod smoke;
// Shared with tcp_echo, which reads counters that this benchmark does not.
#[allow(dead_code)]
#[path = "common/std_server.rs"]
mod std_server;
#[path = "http_hello/weft_server.rs"]
mod weft_server;
#[path = "http_hello/wrk.rs"]
mod wrk;

use args::Flags;
use process::{CpuSample, ServerProcess};
use report::{Measured, Run};

/// How long after `--deadline` the watchdog ends the process.
const WATCHDOG_GRACE: Duration = Duration::from_secs(60);

/// How long the server child may take to report its counters.
const STATS_TIMEOUT: Duration = Duration::from_secs(2);

/// Idle connections per kind in the smoke test.
const SMOKE_IDLE_CONNS: usize = 32;

/// The server contenders.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    WeftHttp,
    WeftHttpReusePort,
    MayMinihttp,
    StdThread,
    StdPool,
}

impl Kind {
    const ALL: [Kind; 5] = [Kind::WeftHttp, Kind::WeftHttpReusePort, Kind::MayMinihttp, Kind::StdThread, Kind::StdPool];

    pub fn name(self) -> &'static str {
        match self {
            Kind::WeftHttp => "weft-http",
            Kind::WeftHttpReusePort => "weft-http-reuseport",
            Kind::MayMinihttp => "may-minihttp",
            Kind::StdThread => "std-thread",
            Kind::StdPool => "std-pool64",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Whether the idle mode applies: std-pool64 serves 64 connections at
    /// a time and leaves the rest unanswered.
    pub fn holds_idle(self) -> bool {
        self != Kind::StdPool
    }
}

/// One load shape: `conns` connections, `pipeline` requests per write.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Scenario {
    pub conns: usize,
    pub pipeline: usize,
}

impl Scenario {
    /// `100`, or `256x16` when pipelined.
    pub fn label(self) -> String {
        match self.pipeline {
            1 => self.conns.to_string(),
            p => format!("{}x{p}", self.conns),
        }
    }

    pub fn describe(self) -> String {
        match self.pipeline {
            1 => format!("{} connections, not pipelined", self.conns),
            p => format!("{} connections, {p} requests per write", self.conns),
        }
    }
}

const USAGE: &str = "\
usage: cargo bench --bench http_hello -- [options]
  --quick             1 round, 2 s runs
  --kinds LIST        of weft-http,weft-http-reuseport,may-minihttp,std-thread,std-pool64 (default: all)
  --conns LIST        scenarios, CONNS or CONNSxDEPTH (DEPTH requests per write) (default: 100,1000,256x16)
  --pipeline DEPTH    depth of the --conns items that give none (default: 1)
  --rounds N          rounds of every kind; the summary takes the median (default: 3)
  --duration SECS     measured wrk run, whole seconds (default: 5)
  --warmup SECS       uncounted wrk run before it, whole seconds, 0 for none (default: 1)
  --workers N         workers of the weft and may servers (default: 2)
  --wrk-threads N     wrk's threads (default: 1)
  --idle N            idle connections per kind for the memory mode, 0 for none (default: 10000)
  --deadline SECS     skip runs that would end after it (default: 1200)
With --conns and no --idle only the wrk scenarios run; with --idle and no --conns only the idle mode.
Without --bench (as cargo test runs it): a smoke test that needs no wrk.";

/// What to run. Built from the defaults of the mode, then the arguments.
#[derive(Debug)]
struct Options {
    /// Run by `cargo bench` (`--bench` present), else a smoke test.
    bench: bool,
    kinds: Vec<Kind>,
    scenarios: Vec<Scenario>,
    rounds: usize,
    duration: u64,
    warmup: u64,
    workers: usize,
    wrk_threads: usize,
    /// Idle connections per kind; 0: no idle mode.
    idle: usize,
    deadline: Duration,
}

impl Options {
    fn defaults(bench: bool) -> Options {
        Options {
            bench,
            kinds: Kind::ALL.to_vec(),
            scenarios: [(100, 1), (1000, 1), (256, 16)].map(|(conns, pipeline)| Scenario { conns, pipeline }).to_vec(),
            rounds: 3,
            duration: 5,
            warmup: 1,
            workers: 2,
            wrk_threads: 1,
            idle: if bench { 10_000 } else { SMOKE_IDLE_CONNS },
            deadline: Duration::from_secs(if bench { 1200 } else { 60 }),
        }
    }

    fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options::defaults(args.iter().any(|a| a == "--bench"));
        if args.iter().any(|a| a == "--quick") {
            o.rounds = 1;
            o.duration = 2;
        }
        let (mut conns, mut depth, mut idle_given) = (None, 1, false);
        let mut flags = Flags::new(args);
        while let Some((key, arg)) = flags.next_option() {
            match key {
                "--bench" | "--quick" => {}
                "--kinds" => o.kinds = flags.list(|k| Kind::parse(k).ok_or(format!("unknown kind {k:?}")))?,
                "--conns" => conns = Some(flags.list(|item| scenario(item).ok_or(args::bad(key, item)))?),
                "--pipeline" => depth = flags.count()?,
                "--rounds" => o.rounds = flags.count()?,
                "--duration" => o.duration = flags.count()? as u64,
                "--warmup" => {
                    let v = flags.value()?;
                    o.warmup = args::number(v).ok_or(flags.bad(v))? as u64;
                }
                "--workers" => o.workers = flags.count()?,
                "--wrk-threads" => o.wrk_threads = flags.count()?,
                "--idle" => {
                    let v = flags.value()?;
                    o.idle = args::number(v).ok_or(flags.bad(v))?;
                    idle_given = true;
                }
                "--deadline" => o.deadline = flags.seconds()?,
                "--help" | "-h" => return Err(USAGE.to_owned()),
                // `cargo test` may pass libtest's flags and filters to every
                // target; the smoke test ignores them.
                _ if !o.bench => {}
                _ => return Err(format!("unknown argument {arg:?}\n{USAGE}")),
            }
        }
        match conns {
            Some(items) => {
                o.scenarios =
                    items.into_iter().map(|(conns, p)| Scenario { conns, pipeline: p.unwrap_or(depth) }).collect();
                if !idle_given {
                    o.idle = 0;
                }
            }
            None if idle_given => o.scenarios.clear(),
            None => o.scenarios.iter_mut().filter(|s| s.pipeline == 1).for_each(|s| s.pipeline = depth),
        }
        if let Some(s) = o.scenarios.iter().find(|s| s.conns < o.wrk_threads) {
            return Err(format!("{} connections are fewer than wrk's {} threads", s.conns, o.wrk_threads));
        }
        Ok(o)
    }

    /// A generous bound on one wrk run's duration, for the deadline check.
    fn run_budget(&self) -> Duration {
        Duration::from_secs(self.warmup + self.duration + 5)
    }
}

/// A `--conns` item: `CONNS` or `CONNSxDEPTH`.
fn scenario(item: &str) -> Option<(usize, Option<usize>)> {
    let (conns, depth) = match item.split_once('x') {
        Some((c, d)) => (c, Some(args::number(d).filter(|&d| d > 0)?)),
        None => (item, None),
    };
    Some((args::number(conns).filter(|&c| c > 0)?, depth))
}

/// Starts `kind`'s server child.
pub fn start_server(kind: Kind, workers: usize) -> Result<ServerProcess, String> {
    ServerProcess::start(&["server", kind.name(), &workers.to_string()])
}

fn wrk_for(o: &Options, scenario: Scenario, seconds: u64) -> wrk::Wrk {
    wrk::Wrk { threads: o.wrk_threads, conns: scenario.conns, pipeline: scenario.pipeline, seconds }
}

/// One wrk run on a fresh server.
fn measure(kind: Kind, scenario: Scenario, o: &Options, script: &wrk::Script) -> Result<Measured, String> {
    let mut server = start_server(kind, o.workers)?;
    let url = format!("http://{}/", server.addr);
    if o.warmup > 0 {
        if let Err(e) = wrk_for(o, scenario, o.warmup).run(&url, script) {
            return Err(stop_failed(&mut server, format!("warm-up: {e}")));
        }
    }
    let start = Instant::now();
    let before = CpuSample::take(&server);
    let (report, waiting) = std::thread::scope(|s| {
        let run = s.spawn(|| wrk_for(o, scenario, o.duration).run(&url, script));
        // Connections waiting for a thread, halfway through: wrk cannot
        // tell them (it counts a timeout only when a late response comes).
        sleep_until(start + Duration::from_secs(o.duration) / 2);
        let waiting = server.query_stats(STATS_TIMEOUT).as_deref().and_then(server::Waiting::from_line);
        (run.join().unwrap_or_else(|_| Err("the wrk thread panicked".into())), waiting.and_then(|w| w.0))
    });
    let cpu = before.until(&CpuSample::take(&server));
    let window = start.elapsed();
    match report {
        Ok(wrk) => Ok(Measured { wrk, cpu, window, waiting, server_stderr: server.stop().stderr }),
        Err(e) => Err(stop_failed(&mut server, e)),
    }
}

/// Stops a server whose run failed with `e`; returns `e` with the
/// server's stderr, which often says why.
pub fn stop_failed(server: &mut ServerProcess, e: String) -> String {
    match server.stop().stderr {
        Some(stderr) => format!("{e} (server stderr: {stderr})"),
        None => e,
    }
}

fn sleep_until(t: Instant) {
    std::thread::sleep(t.saturating_duration_since(Instant::now()));
}

/// The idle mode for one kind, on a fresh server.
fn measure_idle(kind: Kind, o: &Options) -> Result<idle::Idle, String> {
    let mut server = start_server(kind, o.workers)?;
    match idle::measure(&server, o.idle) {
        Ok(idle) => {
            server.stop();
            Ok(idle)
        }
        Err(e) => Err(stop_failed(&mut server, e)),
    }
}

fn print_header(o: &Options, fd_limit: Option<libc::rlim_t>, script: &wrk::Script) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let command: Vec<String> = std::env::args().collect();
    println!("command line: {}", command.join(" "));
    println!(
        "http_hello benchmark: hello-world HTTP/1.1 over loopback, wrk against a fresh server child per run; \
         {cores} cores SHARED by wrk and the server"
    );
    println!(
        "servers: weft-http, weft-http-reuseport and may-minihttp with {} workers (pinned); std-thread (a thread \
         per connection, {} KiB stacks); std-pool64 ({} threads, a connection holds its thread until closed)",
        o.workers,
        std_server::STD_THREAD_STACK / 1024,
        std_server::POOL_THREADS,
    );
    println!(
        "per run: wrk warm-up {} s (not counted), then {} s measured; {} round(s), kinds interleaved; \
         open-file limit {}",
        o.warmup,
        o.duration,
        o.rounds,
        fd_limit.map_or("?".into(), |l| l.to_string())
    );
    for &s in &o.scenarios {
        println!("wrk for {}: {}", s.label(), wrk_for(o, s, o.duration).command_line("http://127.0.0.1:PORT/", script));
    }
    if o.scenarios.iter().any(|s| s.pipeline > 1) {
        println!("{} (the argument after -- is DEPTH):", script.path.display());
        for line in wrk::PIPELINE_LUA.lines().filter(|l| !l.is_empty()) {
            println!("    {line}");
        }
    }
    if o.idle > 0 {
        println!("idle mode: {} connections per kind (not std-pool64)", o.idle);
    }
    println!();
}

fn main() -> ExitCode {
    let begin = Instant::now();
    let (o, fd_limit) =
        match process::begin_main("http_hello", server::main, Options::parse, |o| o.deadline + WATCHDOG_GRACE) {
            Ok(started) => started,
            Err(status) => return status,
        };
    let deadline = begin + o.deadline;
    if !o.bench {
        println!("http_hello smoke test (run with --bench for the benchmark; it needs wrk)");
        let failures = smoke::run(&o.kinds, o.workers, o.idle);
        for failure in &failures {
            eprintln!("FAILED: {failure}");
        }
        return if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    }
    if !o.scenarios.is_empty() && !wrk::installed() {
        eprintln!(
            "http_hello: `wrk` is not on PATH; it is the load generator of this benchmark. Install it with \
             `apt-get install -y wrk` (Debian/Ubuntu), or run only the idle mode with `--idle N`."
        );
        return ExitCode::FAILURE;
    }
    let script = match wrk::Script::write() {
        Ok(script) => script,
        Err(e) => {
            eprintln!("http_hello: {e}");
            return ExitCode::FAILURE;
        }
    };
    print_header(&o, fd_limit, &script);

    let mut runs = Vec::new();
    if !o.scenarios.is_empty() {
        report::print_row_header();
    }
    for &scenario in &o.scenarios {
        for round in 1..=o.rounds {
            for &kind in &o.kinds {
                let outcome = if Instant::now() + o.run_budget() > deadline {
                    Err(format!("skipped: it would end after the {:?} deadline", o.deadline))
                } else {
                    measure(kind, scenario, &o, &script)
                };
                let run = Run { kind, scenario, round, outcome };
                report::print_row(&run);
                runs.push(run);
            }
        }
    }
    if !o.scenarios.is_empty() {
        report::print_summary(&o.kinds, &o.scenarios, &runs);
    }

    let mut idle: Vec<(Kind, Result<idle::Idle, String>)> = Vec::new();
    if o.idle > 0 {
        report::print_idle_header(o.idle);
        for &kind in o.kinds.iter().filter(|k| k.holds_idle()) {
            let result = measure_idle(kind, &o);
            let may = idle.iter().find(|(k, _)| *k == Kind::MayMinihttp).and_then(|(_, r)| r.as_ref().ok());
            report::print_idle_row(kind, &result, may);
            idle.push((kind, result));
        }
        report::print_idle_target(&idle);
    }
    println!("total time {:.1} s", begin.elapsed().as_secs_f64());

    // Other contenders failing is a finding; weft-http failing fails the
    // benchmark.
    let weft = |kind: Kind| matches!(kind, Kind::WeftHttp | Kind::WeftHttpReusePort);
    let failures: Vec<String> = runs
        .iter()
        .filter(|r| weft(r.kind))
        .filter_map(|r| match &r.outcome {
            Err(e) => Some(format!("{} {}: {e}", r.kind.name(), r.scenario.label())),
            Ok(m) if m.wrk.errors() > 0 => {
                Some(format!("{} {}: {}", r.kind.name(), r.scenario.label(), m.wrk.error_detail()))
            }
            Ok(_) => None,
        })
        .chain(idle.iter().filter(|(k, _)| weft(*k)).filter_map(|(k, r)| match r {
            Err(e) => Some(format!("{} idle: {e}", k.name())),
            Ok(i) => i.error.as_ref().map(|e| format!("{} idle: {e}", k.name())),
        }))
        .collect();
    for failure in &failures {
        eprintln!("FAILED: {failure}");
    }
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
