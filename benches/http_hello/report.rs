//! Results: one row per wrk run as it finishes; per scenario a summary of
//! the rounds with ratios to may-minihttp; the idle-memory table; and the
//! verdict on the targets.

use std::io::Write;
use std::time::Duration;

use crate::idle::Idle;
use crate::numbers::{cores, grouped, latency, median, times};
use crate::process::CpuSample;
use crate::{wrk, Kind, Scenario};

/// Target: weft-http's requests per second over may-minihttp's, pipelined.
pub const TARGET_PIPELINED: f64 = 1.1;
/// Target: the same, not pipelined.
pub const TARGET_NOT_PIPELINED: f64 = 1.0;
/// Target: weft-http's resident memory per idle connection, in KiB.
pub const TARGET_IDLE_KIB: f64 = 8.0;

/// The kinds the targets are about, and the one they compare against.
const SUBJECTS: [Kind; 2] = [Kind::WeftHttp, Kind::WeftHttpReusePort];
const BASELINE: Kind = Kind::MayMinihttp;

/// What one wrk run (one kind, one scenario, one round) measured.
pub struct Measured {
    pub wrk: wrk::Report,
    /// CPU time used from just before wrk started to just after it exited.
    pub cpu: CpuSample,
    /// That span of wall-clock time.
    pub window: Duration,
    /// Connections the server had accepted but not begun to serve halfway
    /// through the run (std kinds only).
    pub waiting: Option<u64>,
    /// The first line of the server's stderr, if any.
    pub server_stderr: Option<String>,
}

impl Measured {
    /// Server CPU time per request, in us.
    fn server_us(&self) -> Option<f64> {
        let cpu = self.cpu.server?;
        (self.wrk.requests > 0).then(|| cpu.as_secs_f64() * 1e6 / self.wrk.requests as f64)
    }

    /// Requests per second of server CPU time.
    fn per_server_cpu(&self) -> Option<f64> {
        let cpu = self.cpu.server?;
        (!cpu.is_zero()).then(|| self.wrk.requests as f64 / cpu.as_secs_f64())
    }

    fn notes(&self, scenario: Scenario) -> String {
        let mut notes = Vec::new();
        if scenario.pipeline > 1 {
            if let Some(rtt) = self.wrk.mean_round_trip_us(scenario.conns, scenario.pipeline) {
                notes.push(format!("mean batch round trip {}", us(rtt)));
            }
        }
        if self.wrk.errors() > 0 {
            notes.push(self.wrk.error_detail());
        }
        if let Some(e) = &self.server_stderr {
            notes.push(format!("server stderr: {e}"));
        }
        notes.join("; ")
    }
}

/// One run's place and outcome.
pub struct Run {
    pub kind: Kind,
    pub scenario: Scenario,
    pub round: usize,
    pub outcome: Result<Measured, String>,
}

fn us(v: f64) -> String {
    latency(v.round() as u64)
}

/// A latency, `-` when wrk gave none.
fn opt_us(v: Option<f64>) -> String {
    v.map_or("-".into(), us)
}

fn opt(v: Option<f64>, format: impl Fn(f64) -> String) -> String {
    v.map_or("?".into(), format)
}

pub fn print_row_header() {
    println!(
        "{:<19} {:>8} {:>3} {:>9} {:>8} {:>8} {:>7} {:>7} {:>6} {:>9} {:>5} {:>5} {:>5} {:>5}  notes",
        "kind",
        "scenario",
        "rnd",
        "req/s",
        "p50",
        "p99",
        "errors",
        "waiting",
        "srv",
        "req/srv",
        "srv",
        "wrk",
        "sirq",
        "other"
    );
    println!(
        "{:<19} {:>8} {:>3} {:>9} {:>8} {:>8} {:>7} {:>7} {:>6} {:>9} {:>5} {:>5} {:>5} {:>5}",
        "", "", "", "", "", "", "", "", "us/req", "cpu-s", "cores", "cores", "cores", "cores"
    );
}

pub fn print_row(run: &Run) {
    let head = format!("{:<19} {:>8} {:>3}", run.kind.name(), run.scenario.label(), run.round);
    match &run.outcome {
        Ok(m) => println!(
            "{head} {:>9} {:>8} {:>8} {:>7} {:>7} {:>6} {:>9} {:>5} {:>5} {:>5} {:>5}  {}",
            grouped(m.wrk.rate as u64),
            opt_us(m.wrk.p50_us),
            opt_us(m.wrk.p99_us),
            m.wrk.errors(),
            m.waiting.map_or("-".into(), |n| n.to_string()),
            opt(m.server_us(), |v| format!("{v:.2}")),
            opt(m.per_server_cpu(), |v| grouped(v as u64)),
            cores(m.cpu.server, m.window),
            cores(m.cpu.children, m.window),
            cores(m.cpu.softirq, m.window),
            cores(m.cpu.other(), m.window),
            m.notes(run.scenario),
        ),
        Err(e) => println!("{head} DID NOT RUN: {e}"),
    }
    let _ = std::io::stdout().flush();
}

/// The runs of one kind in one scenario, folded: each figure is the
/// median of the rounds'.
struct Summary {
    kind: Kind,
    ran: usize,
    failed: usize,
    first_failure: Option<String>,
    rate: f64,
    min: f64,
    max: f64,
    p50: Option<f64>,
    p99: Option<f64>,
    /// All rounds.
    errors: u64,
    /// The most of any round; `None` for kinds that do not count.
    waiting: Option<u64>,
    server_us: f64,
    per_cpu: f64,
}

impl Summary {
    fn of(kind: Kind, scenario: Scenario, runs: &[Run]) -> Option<Summary> {
        let mine: Vec<&Run> = runs.iter().filter(|r| r.kind == kind && r.scenario == scenario).collect();
        if mine.is_empty() {
            return None;
        }
        let ok: Vec<&Measured> = mine.iter().filter_map(|r| r.outcome.as_ref().ok()).collect();
        let rates: Vec<f64> = ok.iter().map(|m| m.wrk.rate).collect();
        let of = |f: fn(&Measured) -> Option<f64>| median(ok.iter().filter_map(|m| f(m)).collect());
        Some(Summary {
            kind,
            ran: ok.len(),
            failed: mine.len() - ok.len(),
            first_failure: mine.iter().find_map(|r| r.outcome.as_ref().err().cloned()),
            rate: median(rates.clone()),
            min: rates.iter().copied().fold(f64::INFINITY, f64::min),
            max: rates.iter().copied().fold(0.0, f64::max),
            p50: some(of(|m| m.wrk.p50_us)),
            p99: some(of(|m| m.wrk.p99_us)),
            errors: ok.iter().map(|m| m.wrk.errors()).sum(),
            waiting: ok.iter().filter_map(|m| m.waiting).max(),
            server_us: of(Measured::server_us),
            per_cpu: of(Measured::per_server_cpu),
        })
    }

    /// `field` of `self` over that of `den`, when both ran.
    fn over(&self, den: Option<&Summary>, field: fn(&Summary) -> f64) -> Option<f64> {
        let den = den.filter(|d| d.ran > 0 && field(d) > 0.0)?;
        (self.ran > 0).then(|| field(self) / field(den))
    }
}

/// A median, `None` when it is of nothing (0).
fn some(median: f64) -> Option<f64> {
    Some(median).filter(|&m| m > 0.0)
}

/// Prints the summary of every scenario and the verdict on the targets.
pub fn print_summary(kinds: &[Kind], scenarios: &[Scenario], runs: &[Run]) {
    for &scenario in scenarios {
        let summaries: Vec<Summary> = kinds.iter().filter_map(|&k| Summary::of(k, scenario, runs)).collect();
        let may = summaries.iter().find(|s| s.kind == BASELINE);
        println!();
        println!("== {} ==", scenario.describe());
        println!(
            "{:<19} {:>4} {:>9} {:>19} {:>8} {:>8} {:>7} {:>7} {:>6} {:>9} {:>7} {:>7}",
            "kind",
            "runs",
            "req/s",
            "min..max",
            "p50",
            "p99",
            "errors",
            "waiting",
            "us/req",
            "req/cpu-s",
            "vs may",
            "may/cpu"
        );
        for s in &summaries {
            let runs = if s.failed > 0 { format!("{}+{}F", s.ran, s.failed) } else { s.ran.to_string() };
            if s.ran == 0 {
                println!("{:<19} {runs:>4} -  {}", s.kind.name(), s.first_failure.as_deref().unwrap_or(""));
                continue;
            }
            println!(
                "{:<19} {runs:>4} {:>9} {:>19} {:>8} {:>8} {:>7} {:>7} {:>6.2} {:>9} {:>7} {:>7}",
                s.kind.name(),
                grouped(s.rate as u64),
                format!("{}..{}", grouped(s.min as u64), grouped(s.max as u64)),
                opt_us(s.p50),
                opt_us(s.p99),
                s.errors,
                s.waiting.map_or("-".into(), |n| n.to_string()),
                s.server_us,
                grouped(s.per_cpu as u64),
                times(s.over(may, |s| s.rate)),
                times(s.over(may, |s| s.per_cpu)),
            );
        }
    }
    println!();
    println!("req/s, latency, us/req, req/cpu-s: the median of the rounds; min..max: all rounds; errors: all rounds;");
    println!("waiting: connections accepted but not yet served halfway through a run (std kinds; most of any round),");
    println!("  invisible to wrk: its req/s is that of the connections served;");
    println!("us/req: server CPU (user + system) per request; req/cpu-s: requests per server CPU-second;");
    println!("vs may: req/s over may-minihttp's; may/cpu: req/cpu-s over may-minihttp's.");
    println!(
        "Pipelined: no percentiles, wrk's are wrong there (http_hello/wrk.rs); rows give the mean batch round trip."
    );
    println!();
    for &scenario in scenarios {
        let target = if scenario.pipeline > 1 { TARGET_PIPELINED } else { TARGET_NOT_PIPELINED };
        let may = Summary::of(BASELINE, scenario, runs);
        let verdicts: Vec<String> = SUBJECTS
            .iter()
            .filter_map(|&kind| {
                let s = Summary::of(kind, scenario, runs)?;
                Some(match s.over(may.as_ref(), |s| s.rate) {
                    Some(r) => format!(
                        "{} {r:.2}x ({} per server CPU) -> {}",
                        kind.name(),
                        times(s.over(may.as_ref(), |s| s.per_cpu)),
                        verdict(r >= target && s.errors == 0 && s.waiting.unwrap_or(0) == 0)
                    ),
                    None => format!("{} not measured", kind.name()),
                })
            })
            .collect();
        println!(
            "target {}: >= {target:.2}x may-minihttp req/s: {}",
            scenario.describe(),
            if verdicts.is_empty() { "not measured".to_owned() } else { verdicts.join("; ") }
        );
    }
}

fn verdict(met: bool) -> &'static str {
    if met {
        "MET"
    } else {
        "MISSED"
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

pub fn print_idle_header(conns: usize) {
    println!();
    println!("== idle keep-alive connections: {conns} opened by this process, one request each, then held silent ==");
    println!(
        "{:<19} {:>6} {:>10} {:>10} {:>9} {:>7}  notes",
        "kind", "held", "RSS before", "RSS after", "KiB/conn", "vs may"
    );
}

pub fn print_idle_row(kind: Kind, result: &Result<Idle, String>, may: Option<&Idle>) {
    match result {
        Ok(idle) => {
            let kib = idle.kib_per_conn();
            let vs = kib.zip(may.and_then(Idle::kib_per_conn)).filter(|(_, m)| *m > 0.0).map(|(k, m)| k / m);
            println!(
                "{:<19} {:>6} {:>8}Mi {:>8}Mi {:>9} {:>7}  {}",
                kind.name(),
                idle.held,
                mib(idle.before),
                mib(idle.after),
                opt(kib, |k| format!("{k:.1}")),
                times(vs),
                idle.error.as_deref().map_or(String::new(), |e| format!("stopped opening: {e}")),
            );
        }
        Err(e) => println!("{:<19} DID NOT RUN: {e}", kind.name()),
    }
    let _ = std::io::stdout().flush();
}

/// The idle target's verdict, from the kinds measured.
pub fn print_idle_target(results: &[(Kind, Result<Idle, String>)]) {
    println!("KiB/conn: (RSS after - RSS before) / held; VmRSS excludes kernel memory (socket buffers, thread kernel stacks)");
    let kib = |kind: Kind| {
        results.iter().find(|(k, _)| *k == kind).and_then(|(_, r)| r.as_ref().ok()).and_then(Idle::kib_per_conn)
    };
    let may = kib(BASELINE).map_or("not measured".to_owned(), |k| format!("{k:.1} KiB"));
    match kib(Kind::WeftHttp) {
        Some(k) => println!(
            "target idle: weft-http <= {TARGET_IDLE_KIB} KiB per idle connection: {k:.1} KiB (may-minihttp {may}) -> {}",
            verdict(k <= TARGET_IDLE_KIB)
        ),
        None => println!("target idle: weft-http <= {TARGET_IDLE_KIB} KiB per idle connection: not measured (may-minihttp {may})"),
    }
}
