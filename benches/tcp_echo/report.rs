//! Results: one row per run as it finishes, then a summary per connection
//! count with ratios against the std pool and against may, and the targets.

use std::io::Write;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::client::{self, ConnStats};
use crate::numbers::{cores, grouped, latency, median, times};
use crate::process::CpuSample;
use crate::server::Stats;
use crate::Kind;

/// The target at the larger connection count: weft's throughput over the
/// std pool's.
pub const TARGET_VS_POOL: f64 = 2.0;
/// The connection count at which [`TARGET_VS_POOL`] applies.
pub const TARGET_VS_POOL_CONNS: usize = 10_000;
/// The target at the smaller connection count: weft's throughput over may's.
pub const TARGET_VS_MAY: f64 = 1.0;
/// The connection count at which [`TARGET_VS_MAY`] applies.
pub const TARGET_VS_MAY_CONNS: usize = 100;

/// What one run (one server kind, one connection count, one round) measured.
pub struct Measured {
    /// Connections asked for.
    pub conns: usize,
    /// Connections established.
    pub connected: usize,
    /// Length of the measurement window.
    pub window: Duration,
    /// Messages completed in the window, all connections.
    pub messages: u64,
    /// Their round-trip times (us).
    pub hist: Histogram<u64>,
    /// Connections (of `conns`) that completed no message in the window.
    pub starved: usize,
    /// Fewest and most messages one connection completed (of `conns`).
    pub min_msgs: u64,
    pub max_msgs: u64,
    /// Connections that saw an error before the end of the window, and the
    /// first such error.
    pub errors: usize,
    pub first_error: Option<String>,
    /// Client green threads that did not return in time.
    pub abandoned: usize,
    /// CPU time used in the window.
    pub cpu: CpuSample,
    /// The server's counters and the first line of its stderr.
    pub server: Option<Stats>,
    pub server_stderr: Option<String>,
}

impl Measured {
    /// Folds the per-connection results of one run.
    pub fn new(conns: usize, window: Duration, results: &[ConnStats]) -> Measured {
        let mut m = Measured {
            conns,
            connected: 0,
            window,
            messages: 0,
            hist: client::histogram(),
            starved: conns.saturating_sub(results.len()),
            min_msgs: if results.len() < conns { 0 } else { u64::MAX },
            max_msgs: 0,
            errors: 0,
            first_error: None,
            abandoned: 0,
            cpu: CpuSample::default(),
            server: None,
            server_stderr: None,
        };
        for r in results {
            m.connected += usize::from(r.connected);
            m.messages += r.messages;
            m.starved += usize::from(r.messages == 0);
            m.min_msgs = m.min_msgs.min(r.messages);
            m.max_msgs = m.max_msgs.max(r.messages);
            if let Some(h) = &r.hist {
                m.hist.add(h).expect("histograms of the same bounds add");
            }
            if let Some(e) = &r.error {
                m.errors += 1;
                m.first_error.get_or_insert_with(|| e.clone());
            }
        }
        if m.min_msgs == u64::MAX {
            m.min_msgs = 0;
        }
        m
    }

    /// Messages per second.
    pub fn throughput(&self) -> f64 {
        self.messages as f64 / self.window.as_secs_f64()
    }

    /// Messages per CPU-second spent by the benchmark: client, server and
    /// the softirq work of loopback TCP. Unlike [`Measured::throughput`] it
    /// does not depend on how much of the cores other work left us.
    pub fn per_cpu_second(&self) -> Option<f64> {
        let cpu = self.cpu.server? + self.cpu.client? + self.cpu.softirq?;
        Some(self.messages as f64 / cpu.as_secs_f64()).filter(|_| !cpu.is_zero())
    }

    fn notes(&self) -> String {
        let mut notes = Vec::new();
        if self.connected < self.conns {
            notes.push(format!("{} connects failed", self.conns - self.connected));
        }
        if self.errors > 0 {
            notes.push(format!("{} errors, first: {}", self.errors, self.first_error.as_deref().unwrap_or("?")));
        }
        if self.abandoned > 0 {
            notes.push(format!("{} client threads abandoned", self.abandoned));
        }
        match &self.server {
            Some(s) => {
                if is_skewed(&s.spread) {
                    notes.push(format!("server workers started {}", slashed(&s.spread)));
                }
                if s.served < s.accepted {
                    notes.push(format!("server began serving {} of {} accepted", s.served, s.accepted));
                }
                if s.spawn_failed > 0 {
                    notes.push(format!("{} thread spawns failed", s.spawn_failed));
                }
                if s.accept_errors > 0 {
                    notes.push(format!("{} accept errors", s.accept_errors));
                }
            }
            None => notes.push("server gave no stats (killed)".into()),
        }
        if let Some(e) = &self.server_stderr {
            notes.push(format!("server stderr: {e}"));
        }
        notes.join("; ")
    }
}

/// Whether work spread over workers unevenly: the busiest worker started
/// over 1.5x its fair share.
fn is_skewed(spread: &[u64]) -> bool {
    let total: u64 = spread.iter().sum();
    let max = spread.iter().copied().max().unwrap_or(0);
    spread.len() > 1 && total > 0 && max as f64 > 1.5 * total as f64 / spread.len() as f64
}

fn slashed(spread: &[u64]) -> String {
    spread.iter().map(u64::to_string).collect::<Vec<_>>().join("/")
}

/// One run's place and outcome.
pub struct Run {
    pub kind: Kind,
    pub conns: usize,
    pub round: usize,
    pub outcome: Result<Measured, String>,
}

fn percentiles(hist: &Histogram<u64>) -> [String; 3] {
    if hist.is_empty() {
        return ["-".into(), "-".into(), "-".into()];
    }
    [0.50, 0.99, 0.999].map(|q| latency(hist.value_at_quantile(q)))
}

pub fn print_row_header() {
    println!(
        "{:<10} {:>6} {:>3} {:>9} {:>9} {:>8} {:>8} {:>8} {:>7} {:>15} {:>6} {:>5} {:>5} {:>5} {:>5}  notes",
        "kind",
        "conns",
        "rnd",
        "msg/s",
        "msg/cpu-s",
        "p50",
        "p99",
        "p99.9",
        "starved",
        "msgs/conn",
        "srv",
        "srv",
        "cli",
        "sirq",
        "other"
    );
    println!(
        "{:<10} {:>6} {:>3} {:>9} {:>9} {:>8} {:>8} {:>8} {:>7} {:>15} {:>6} {:>5} {:>5} {:>5} {:>5}",
        "", "", "", "", "", "", "", "", "", "min..max", "us/msg", "cores", "cores", "cores", "cores"
    );
}

/// Server CPU time per message, in us.
fn per_message(cpu: Option<Duration>, messages: u64) -> Option<f64> {
    cpu.filter(|_| messages > 0).map(|c| c.as_secs_f64() * 1e6 / messages as f64)
}

pub fn print_row(run: &Run) {
    let head = format!("{:<10} {:>6} {:>3}", run.kind.name(), run.conns, run.round);
    match &run.outcome {
        Ok(m) => {
            let [p50, p99, p999] = percentiles(&m.hist);
            let server_us = per_message(m.cpu.server, m.messages).map_or("?".into(), |us| format!("{us:.1}"));
            println!(
                "{head} {:>9} {:>9} {:>8} {:>8} {:>8} {:>7} {:>15} {:>6} {:>5} {:>5} {:>5} {:>5}  {}",
                grouped(m.throughput() as u64),
                m.per_cpu_second().map_or("?".into(), |r| grouped(r as u64)),
                p50,
                p99,
                p999,
                m.starved,
                format!("{}..{}", m.min_msgs, m.max_msgs),
                server_us,
                cores(m.cpu.server, m.window),
                cores(m.cpu.client, m.window),
                cores(m.cpu.softirq, m.window),
                cores(m.cpu.other(), m.window),
                m.notes(),
            );
        }
        Err(e) => println!("{head} DID NOT RUN: {e}"),
    }
    let _ = std::io::stdout().flush();
}

/// The runs of one kind at one connection count, folded.
struct Summary {
    kind: Kind,
    ran: usize,
    failed: usize,
    /// Messages per second: the median round's.
    rate: f64,
    min: f64,
    max: f64,
    /// Messages per CPU-second of the benchmark: the median round's.
    per_cpu: f64,
    hist: Histogram<u64>,
    /// Worst round.
    starved: usize,
    errors: usize,
    /// Server CPU time per message over all rounds (us).
    server_us: Option<f64>,
    /// Mean cores used by other work on the machine during the windows.
    other: Option<f64>,
}

impl Summary {
    fn of(kind: Kind, conns: usize, runs: &[Run]) -> Option<Summary> {
        let mine: Vec<&Run> = runs.iter().filter(|r| r.kind == kind && r.conns == conns).collect();
        if mine.is_empty() {
            return None;
        }
        let ok: Vec<&Measured> = mine.iter().filter_map(|r| r.outcome.as_ref().ok()).collect();
        let mut hist = client::histogram();
        for m in &ok {
            hist.add(&m.hist).expect("histograms of the same bounds add");
        }
        let rates: Vec<f64> = ok.iter().map(|m| m.throughput()).collect();
        let others: Option<Vec<f64>> =
            ok.iter().map(|m| m.cpu.other().map(|o| o.as_secs_f64() / m.window.as_secs_f64())).collect();
        Some(Summary {
            kind,
            ran: ok.len(),
            failed: mine.len() - ok.len(),
            rate: median(rates.clone()),
            min: rates.iter().copied().fold(f64::INFINITY, f64::min),
            max: rates.iter().copied().fold(0.0, f64::max),
            per_cpu: median(ok.iter().filter_map(|m| m.per_cpu_second()).collect()),
            hist,
            starved: ok.iter().map(|m| m.starved).max().unwrap_or(0),
            errors: ok.iter().map(|m| m.errors).sum(),
            server_us: per_message(ok.iter().map(|m| m.cpu.server).sum(), ok.iter().map(|m| m.messages).sum()),
            other: others.filter(|o| !o.is_empty()).map(|o| o.iter().sum::<f64>() / o.len() as f64),
        })
    }
}

/// `num`'s `field` over `den`'s, when both ran.
fn ratio(num: Option<&Summary>, den: Option<&Summary>, field: fn(&Summary) -> f64) -> Option<f64> {
    match (num, den) {
        (Some(n), Some(d)) if n.ran > 0 && d.ran > 0 && field(d) > 0.0 => Some(field(n) / field(d)),
        _ => None,
    }
}

fn rate(s: &Summary) -> f64 {
    s.rate
}

fn per_cpu(s: &Summary) -> f64 {
    s.per_cpu
}

/// Prints the summary tables and the verdict on the targets.
pub fn print_summary(kinds: &[Kind], counts: &[usize], runs: &[Run]) {
    for &conns in counts {
        let summaries: Vec<Summary> = kinds.iter().filter_map(|&k| Summary::of(k, conns, runs)).collect();
        let find = |kind: Kind| summaries.iter().find(|s| s.kind == kind);
        let (pool, may) = (find(Kind::StdPool), find(Kind::May));
        println!();
        println!("== {conns} connections ==");
        println!(
            "{:<10} {:>4} {:>9} {:>19} {:>8} {:>8} {:>8} {:>7} {:>6} {:>6} {:>5} {:>9} {:>8} {:>8} {:>8} {:>8}",
            "kind",
            "runs",
            "msg/s",
            "min..max",
            "p50",
            "p99",
            "p99.9",
            "starved",
            "errors",
            "us/msg",
            "other",
            "msg/cpu-s",
            "vs pool",
            "vs may",
            "pool/cpu",
            "may/cpu"
        );
        for s in &summaries {
            let [p50, p99, p999] = percentiles(&s.hist);
            let range =
                if s.ran > 0 { format!("{}..{}", grouped(s.min as u64), grouped(s.max as u64)) } else { "-".into() };
            let runs = if s.failed > 0 { format!("{}+{}F", s.ran, s.failed) } else { s.ran.to_string() };
            println!(
                "{:<10} {:>4} {:>9} {:>19} {:>8} {:>8} {:>8} {:>7} {:>6} {:>6} {:>5} {:>9} {:>8} {:>8} {:>8} {:>8}",
                s.kind.name(),
                runs,
                grouped(s.rate as u64),
                range,
                p50,
                p99,
                p999,
                s.starved,
                s.errors,
                s.server_us.map_or("?".into(), |us| format!("{us:.1}")),
                s.other.map_or("?".into(), |o| format!("{o:.2}")),
                grouped(s.per_cpu as u64),
                times(ratio(Some(s), pool, rate)),
                times(ratio(Some(s), may, rate)),
                times(ratio(Some(s), pool, per_cpu)),
                times(ratio(Some(s), may, per_cpu)),
            );
        }
    }
    println!();
    println!("msg/s: the median round; min..max: all rounds; latency: all rounds' messages together;");
    println!("us/msg: server CPU per message; other: cores busy with other work during the window (mean);");
    println!("msg/cpu-s: messages per CPU-second used by client + server + softirq (median round), a throughput");
    println!("  that does not depend on the share of the cores the benchmark got; pool/cpu, may/cpu: its ratios.");
    print_targets(counts, runs);
}

fn print_targets(counts: &[usize], runs: &[Run]) {
    println!();
    let verdict = |met: bool| if met { "MET" } else { "MISSED" };
    if counts.contains(&TARGET_VS_POOL_CONNS) {
        let weft = Summary::of(Kind::Weft, TARGET_VS_POOL_CONNS, runs);
        let pool = Summary::of(Kind::StdPool, TARGET_VS_POOL_CONNS, runs);
        match (ratio(weft.as_ref(), pool.as_ref(), rate), &weft) {
            (Some(r), Some(w)) => println!(
                "target at {TARGET_VS_POOL_CONNS} connections: weft >= {TARGET_VS_POOL}x std-pool64 throughput and no \
                 connection starved: {r:.2}x ({} per CPU-second), {} starved -> {}",
                times(ratio(weft.as_ref(), pool.as_ref(), per_cpu)),
                w.starved,
                verdict(r >= TARGET_VS_POOL && w.starved == 0 && w.errors == 0)
            ),
            _ => println!("target at {TARGET_VS_POOL_CONNS} connections: not measured (weft or std-pool64 missing)"),
        }
    }
    if counts.contains(&TARGET_VS_MAY_CONNS) {
        let weft = Summary::of(Kind::Weft, TARGET_VS_MAY_CONNS, runs);
        let may = Summary::of(Kind::May, TARGET_VS_MAY_CONNS, runs);
        match ratio(weft.as_ref(), may.as_ref(), rate) {
            Some(r) => println!(
                "target at {TARGET_VS_MAY_CONNS} connections: weft >= may throughput: {r:.2}x ({} per CPU-second) -> {}",
                times(ratio(weft.as_ref(), may.as_ref(), per_cpu)),
                verdict(r >= TARGET_VS_MAY)
            ),
            None => println!("target at {TARGET_VS_MAY_CONNS} connections: not measured (weft or may missing)"),
        }
    }
}
