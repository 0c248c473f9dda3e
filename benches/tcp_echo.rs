//! TCP echo under load: a weft green thread per connection against a std
//! thread per connection, a std pool of 64 threads, and may, with 1 KiB
//! messages at 100 and 10,000 concurrent connections. Reports throughput,
//! latency percentiles and starved connections, and checks the targets:
//! weft at least 2x the std pool's throughput at 10,000 connections with no
//! connection starved, and at least may's throughput at 100.
//!
//! ```text
//! cargo bench --bench tcp_echo                          # everything, 3 rounds (about 4 minutes)
//! cargo bench --bench tcp_echo -- --quick               # 1 round, shorter windows
//! cargo bench --bench tcp_echo -- --conns 10000 --kinds weft,std-pool64
//! cargo bench --bench tcp_echo -- --conns 10000 --rate 2  # paced: 2 msg/s per connection
//! cargo bench --bench tcp_echo -- --help                # all options
//! ```
//!
//! Run without `--bench` (as `cargo test --all-targets` runs it) it is a
//! smoke test: 8 connections per kind for 0.2 s, failing unless every kind
//! echoes every message correctly and serves every connection.
//!
//! # Method
//!
//! Every run (one server kind, one connection count, one round) starts a
//! fresh server: this binary re-executed as `tcp_echo server KIND WORKERS`
//! (see `tcp_echo/server.rs`). Separate processes, because 10,000
//! connections need 20,000 descriptors on one machine and the per-process
//! limit here is 20,000; and so no server inherits another's threads,
//! stacks or allocator state, and a server that breaks only fails its row.
//!
//! The load generator is this process and the same for every kind: fresh
//! single-worker weft runtimes per run (one per client worker, connections
//! dealt to them in turn), one green thread per connection, in a closed
//! loop or paced (see `tcp_echo/client.rs`). All connections start together
//! after every connect is done; messages completing in the warm-up are not
//! counted.
//!
//! Runs are interleaved, kinds within rounds (weft, std-thread, std-pool64,
//! may, weft, ...), so drift in the machine touches every kind alike.
//!
//! # Reading the numbers
//!
//! * The client and the server share the machine's cores. On 2 cores the
//!   throughput is what both processes together fit in 2 cores, so a server
//!   that spends less CPU per message leaves more to the client and scores
//!   higher. `srv us/msg` is the server's CPU time per message (user +
//!   system of the child; loopback TCP's softirq work is charged to no
//!   process and shows in `sirq`).
//! * The machine may be shared with other work: `other` is the cores busy
//!   with neither benchmark process nor softirq during the window. The
//!   scheduler shares the cores per thread, so a server with thousands of
//!   runnable threads takes a larger share from other work than one with
//!   two workers: under contention msg/s measures that share as much as
//!   the server. `msg/cpu-s` (messages per CPU-second of client + server +
//!   softirq) does not depend on it; the summary gives ratios of both, and
//!   takes each kind's median round.
//! * In the closed loop latency is the round trip: a client sends its next
//!   message only after the previous reply, so queueing delay inside a slow
//!   server shows as lower throughput rather than as higher latency
//!   ("coordinated omission"); compare percentiles at equal connections.
//!   Paced (`--rate`), latency counts from the scheduled send time.
//! * `starved` counts connections that completed no message in the window.
//!   The std pool serves 64 connections at a time, each until it closes:
//!   with long-lived connections the rest wait for ever. In the closed loop
//!   its throughput is that of the 64 served, which is as high as that of
//!   all 10,000 (64 busy connections saturate two cores just as well), so
//!   read it with its starved count. The paced load (`--rate`) is the shape
//!   where that shows in throughput: every connection asks for a little,
//!   and a server earns throughput only by serving them all.
//! * A contender that cannot run a configuration (threads, mappings or
//!   descriptors run out) gets a row saying so; the run goes on.
//!
//! # Never hangs
//!
//! Connects time out, setup and teardown have deadlines, children are
//! killed by a guard (also on panic) and exit by themselves when this
//! process dies, and a watchdog ends the whole run shortly after
//! `--deadline`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

#[path = "common/args.rs"]
mod args;
#[path = "tcp_echo/client.rs"]
mod client;
#[path = "common/numbers.rs"]
mod numbers;
// Shared with http_hello, which uses parts of it that this benchmark does not.
#[allow(dead_code)]
#[path = "common/process.rs"]
mod process;
#[path = "tcp_echo/report.rs"]
mod report;
#[path = "tcp_echo/server.rs"]
mod server;
#[path = "common/std_server.rs"]
mod std_server;

use args::Flags;
use client::{Load, Window};
use process::{CpuSample, ServerProcess};
use report::{Measured, Run};
use server::Stats;

/// Bytes per message.
pub const MSG_SIZE: usize = 1024;

/// Extra time for connection setup beyond one connect's timeout.
const SETUP_SLACK: Duration = Duration::from_secs(20);

/// How long the client's green threads get to return after the server has
/// stopped (they only have to see their sockets close).
const FINISH_TIMEOUT: Duration = Duration::from_secs(10);

/// How long after `--deadline` the watchdog ends the process.
const WATCHDOG_GRACE: Duration = Duration::from_secs(60);

/// The server contenders.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Weft,
    StdThread,
    StdPool,
    May,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Weft, Kind::StdThread, Kind::StdPool, Kind::May];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Weft => "weft",
            Kind::StdThread => "std-thread",
            Kind::StdPool => "std-pool64",
            Kind::May => "may",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }
}

const USAGE: &str = "\
usage: cargo bench --bench tcp_echo -- [options]
  --quick               1 round, 0.5 s warm-up, 2 s measurement
  --kinds LIST          of weft,std-thread,std-pool64,may (default: all)
  --conns LIST          connection counts (default: 100,10000)
  --rounds N            rounds of every kind; the summary takes the median (default: 3)
  --warmup SECS         warm-up per run (default: 1)
  --measure SECS        measurement window per run (default: 5)
  --client-workers N    single-worker weft runtimes of the load generator (default: cores)
  --server-workers N    workers of the weft and may servers (default: cores)
  --deadline SECS       skip runs that would end after it (default: 900)
  --rate R              paced load: R messages per second per connection, latency from the
                        scheduled send (default: closed loop, each connection as fast as it can)
Without --bench (as cargo test runs it): a smoke test, 8 connections for 0.2 s.";

/// What to run. Built from the defaults of the mode, then the arguments.
#[derive(Debug)]
struct Options {
    /// Run by `cargo bench` (`--bench` present), else a smoke test.
    bench: bool,
    kinds: Vec<Kind>,
    conns: Vec<usize>,
    rounds: usize,
    warmup: Duration,
    measure: Duration,
    client_workers: usize,
    server_workers: usize,
    deadline: Duration,
    /// Paced load: messages per second per connection. `None`: closed loop.
    rate: Option<f64>,
}

impl Options {
    fn defaults(bench: bool) -> Options {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let secs = Duration::from_secs_f64;
        Options {
            bench,
            kinds: Kind::ALL.to_vec(),
            conns: if bench { vec![100, 10_000] } else { vec![8] },
            rounds: if bench { 3 } else { 1 },
            warmup: secs(if bench { 1.0 } else { 0.05 }),
            measure: secs(if bench { 5.0 } else { 0.2 }),
            client_workers: cores,
            server_workers: cores,
            deadline: secs(if bench { 900.0 } else { 60.0 }),
            rate: None,
        }
    }

    fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options::defaults(args.iter().any(|a| a == "--bench"));
        if o.bench && args.iter().any(|a| a == "--quick") {
            o.rounds = 1;
            o.warmup = Duration::from_millis(500);
            o.measure = Duration::from_secs(2);
        }
        let mut flags = Flags::new(args);
        while let Some((key, arg)) = flags.next_option() {
            match key {
                "--bench" | "--quick" => {}
                "--kinds" => o.kinds = flags.list(|k| Kind::parse(k).ok_or(format!("unknown kind {k:?}")))?,
                "--conns" => o.conns = flags.counts()?,
                "--rounds" => o.rounds = flags.count()?,
                "--client-workers" => o.client_workers = flags.count()?,
                "--server-workers" => o.server_workers = flags.count()?,
                "--warmup" => o.warmup = flags.seconds()?,
                "--measure" => o.measure = Some(flags.seconds()?).filter(|d| !d.is_zero()).ok_or(flags.bad("0"))?,
                "--deadline" => o.deadline = flags.seconds()?,
                "--rate" => {
                    let v = flags.value()?;
                    o.rate = Some(v.parse().ok().filter(|r: &f64| r.is_finite() && *r >= 0.001).ok_or(flags.bad(v))?);
                }
                "--help" | "-h" => return Err(USAGE.to_owned()),
                // `cargo test` may pass libtest's flags and filters to every
                // target; the smoke test ignores them.
                _ if !o.bench => {}
                _ => return Err(format!("unknown argument {arg:?}\n{USAGE}")),
            }
        }
        Ok(o)
    }

    /// A generous bound on one run's duration, for the deadline check.
    fn run_budget(&self, conns: usize) -> Duration {
        self.warmup + self.measure + Duration::from_secs(5) + Duration::from_micros(500) * conns as u32
    }
}

fn sleep_until(t: Instant) {
    std::thread::sleep(t.saturating_duration_since(Instant::now()));
}

/// One run: a fresh server child and a fresh client runtime.
fn measure(kind: Kind, conns: usize, o: &Options) -> Result<Measured, String> {
    let mut server = ServerProcess::start(&["server", kind.name(), &o.server_workers.to_string()])?;
    let setup_deadline = Instant::now() + client::CONNECT_TIMEOUT + SETUP_SLACK;
    let load = Load::start(server.addr, conns, o.client_workers, setup_deadline)
        .map_err(|e| format!("client runtime: {e}"))?;
    if load.connected() == 0 {
        let stopped = server.stop();
        let why = stopped.stderr.unwrap_or_else(|| "no message from the server".into());
        return Err(format!("no connection could be made ({why})"));
    }
    let start = Instant::now();
    let interval = o.rate.map(|r| Duration::from_secs_f64(1.0 / r));
    let window = Window { start, measure: start + o.warmup, end: start + o.warmup + o.measure, interval };
    load.release(window);
    sleep_until(window.measure);
    let cpu = CpuSample::take(&server);
    sleep_until(window.end);
    let cpu = cpu.until(&CpuSample::take(&server));
    server.snapshot();
    // Stopping the server closes every connection: the client's green
    // threads still waiting for a reply wake up and return.
    let stopped = server.stop();
    let (results, abandoned) = load.finish(Instant::now() + FINISH_TIMEOUT);
    let mut m = Measured::new(conns, o.measure, &results);
    m.abandoned = abandoned;
    m.cpu = cpu;
    m.server = stopped.stats.as_deref().and_then(Stats::from_line);
    m.server_stderr = stopped.stderr;
    Ok(m)
}

fn print_header(o: &Options, fd_limit: Option<libc::rlim_t>) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mode = if o.bench { "benchmark" } else { "smoke test (run with --bench for the benchmark)" };
    let shape = match o.rate {
        None => "closed loop (each connection sends its next message when the echo is back)".to_owned(),
        Some(r) => format!(
            "paced: {r} msg/s per connection, offered {} msg/s in all; latency from the scheduled send time",
            o.conns.iter().map(|&n| format!("{:.0}", n as f64 * r)).collect::<Vec<_>>().join(" / ")
        ),
    };
    println!("tcp_echo {mode}: {MSG_SIZE} B messages echoed over loopback, {shape}");
    println!(
        "machine: {cores} cores, SHARED by the load generator and the server process: the throughput is what \
         both together fit in {cores} cores"
    );
    println!(
        "client: this process, {} single-worker weft runtimes, connections dealt to them in turn, one green \
         thread per connection",
        o.client_workers
    );
    println!(
        "servers (a fresh child process per run): weft ({w} workers, green thread per connection) | std-thread \
         (thread per connection, {} KiB stacks) | std-pool64 ({} threads, a connection holds its thread until \
         closed) | may ({w} workers, coroutine per connection, may's default stack and worker pinning)",
        std_server::STD_THREAD_STACK / 1024,
        std_server::POOL_THREADS,
        w = o.server_workers,
    );
    println!(
        "per run: warm-up {:?}, measurement {:?}; {} round(s); kinds interleaved; open-file limit {}",
        o.warmup,
        o.measure,
        o.rounds,
        fd_limit.map_or("?".into(), |l| l.to_string())
    );
    if let Some(limit) = fd_limit {
        if let Some(&n) = o.conns.iter().find(|&&n| n as libc::rlim_t + 64 > limit) {
            println!("warning: {n} connections need more descriptors than the limit of {limit} per process");
        }
    }
    println!();
}

/// A run that did not go as a smoke test requires.
fn smoke_failure(run: &Run) -> Option<String> {
    let what = format!("{} with {} connections", run.kind.name(), run.conns);
    match &run.outcome {
        Err(e) => Some(format!("{what}: did not run: {e}")),
        Ok(m) if m.errors > 0 => Some(format!("{what}: {}", m.first_error.as_deref().unwrap_or("error"))),
        Ok(m) if m.starved > 0 => Some(format!("{what}: {} connections got no reply", m.starved)),
        Ok(_) => None,
    }
}

fn main() -> ExitCode {
    let begin = Instant::now();
    let (o, fd_limit) =
        match process::begin_main("tcp_echo", server::main, Options::parse, |o| o.deadline + WATCHDOG_GRACE) {
            Ok(started) => started,
            Err(status) => return status,
        };
    let deadline = begin + o.deadline;
    print_header(&o, fd_limit);
    report::print_row_header();

    let mut runs = Vec::new();
    for &conns in &o.conns {
        for round in 1..=o.rounds {
            for &kind in &o.kinds {
                let outcome = if Instant::now() + o.run_budget(conns) > deadline {
                    Err(format!("skipped: it would end after the {:?} deadline", o.deadline))
                } else {
                    measure(kind, conns, &o)
                };
                let run = Run { kind, conns, round, outcome };
                report::print_row(&run);
                runs.push(run);
            }
        }
    }
    report::print_summary(&o.kinds, &o.conns, &runs);
    println!("total time {:.1} s", begin.elapsed().as_secs_f64());

    let failures: Vec<String> = if o.bench {
        // Other contenders failing a configuration is a finding; weft
        // failing one fails the benchmark.
        runs.iter()
            .filter(|r| r.kind == Kind::Weft)
            .filter_map(|r| match &r.outcome {
                Err(e) => Some(format!("weft with {} connections did not run: {e}", r.conns)),
                Ok(m) if m.errors > 0 => Some(format!("weft with {} connections: {} errors", r.conns, m.errors)),
                Ok(_) => None,
            })
            .collect()
    } else {
        runs.iter().filter_map(smoke_failure).collect()
    };
    for failure in &failures {
        eprintln!("FAILED: {failure}");
    }
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
