//! Driving wrk (<https://github.com/wg/wrk>, Debian package `wrk`): its
//! command line, the pipelining script, and reading its report.
//!
//! Without a script wrk sends one request per connection at a time, the
//! same prepared bytes every time. Pipelined, it runs [`PIPELINE_LUA`],
//! TechEmpower's `pipeline.lua`: `init` formats the request `depth` times
//! with `wrk.format()` and `request` returns the concatenation, so every
//! write carries `depth` requests. wrk counts the requests in that string
//! and writes the next batch only when all `depth` responses are in; it
//! records one latency sample per batch, from the batch's write to its
//! last response. A Lua `request` function costs wrk a call into LuaJIT
//! per batch, which is why the unpipelined runs use no script.
//!
//! # wrk's latency percentiles
//!
//! Before printing, wrk 4 "corrects" its latency samples for coordinated
//! omission: it takes `runtime / (requests / connections)` as the interval
//! at which each connection should have sent, and for every sample longer
//! than that adds the samples the missing sends would have had. Unpipelined
//! that is its documented behaviour, and the percentiles include it.
//! Pipelined it is wrong: requests are counted per response but sent per
//! batch, so the interval comes out `depth` times too short; the added
//! samples swamp the real ones and fall outside the range wrk sums when it
//! looks up a percentile, which then prints as `0.00us` (wrk issue #236).
//! So pipelined runs report no percentiles ([`Report::p50_us`] is `None`);
//! [`Report::mean_round_trip_us`] gives the mean batch round trip instead,
//! by Little's law (every connection always has one batch in flight).
//! The report is wrk's text (`--latency` adds the percentiles): the lines
//! read are
//!
//! ```text
//!   Latency Distribution
//!      50%  180.00us
//!      99%    1.20ms
//!   490000 requests in 5.00s, 60.00MB read
//!   Socket errors: connect 0, read 0, write 0, timeout 0     (only if any)
//!   Non-2xx or 3xx responses: 5                              (only if any)
//! Requests/sec:  98000.00
//! ```

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// TechEmpower's `pipeline.lua`; its argument is the depth.
pub const PIPELINE_LUA: &str = "\
init = function(args)
  local r = {}
  local depth = tonumber(args[1]) or 1
  for i = 1, depth do
    r[i] = wrk.format()
  end
  req = table.concat(r)
end

request = function()
  return req
end
";

/// How long after its `-d` a wrk run may take (connecting, reporting)
/// before it is killed.
const WRK_SLACK: Duration = Duration::from_secs(15);

/// Whether `wrk` can be started.
pub fn installed() -> bool {
    Command::new("wrk").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

/// [`PIPELINE_LUA`] in a file of its own, deleted on drop. Owned by the
/// parent's main thread.
pub struct Script {
    pub path: PathBuf,
}

impl Script {
    pub fn write() -> Result<Script, String> {
        let path = std::env::temp_dir().join(format!("http_hello-pipeline-{}.lua", std::process::id()));
        std::fs::write(&path, PIPELINE_LUA).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(Script { path })
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One wrk invocation.
#[derive(Clone, Copy, Debug)]
pub struct Wrk {
    pub threads: usize,
    pub conns: usize,
    /// Requests per write; 1 runs without a script.
    pub pipeline: usize,
    /// wrk takes whole seconds.
    pub seconds: u64,
}

/// What wrk reported.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Responses completed.
    pub requests: u64,
    /// `Requests/sec`: responses over wrk's own run time.
    pub rate: f64,
    /// Latency percentiles, in microseconds; `None` pipelined, or when wrk
    /// printed `0.00us` (see the module docs).
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    /// Socket errors: connect, read, write, timeout.
    pub socket_errors: [u64; 4],
    /// Responses with a status of 400 or more (wrk calls them "Non-2xx or 3xx").
    pub bad_status: u64,
}

impl Report {
    /// The mean round trip of a write (one request, or one pipelined
    /// batch) in us, by Little's law: `conns` connections each with one
    /// write in flight complete `rate / pipeline` writes per second. Holds
    /// while every connection is served; not for std-pool64 beyond 64.
    pub fn mean_round_trip_us(&self, conns: usize, pipeline: usize) -> Option<f64> {
        (self.rate > 0.0).then(|| conns as f64 * pipeline as f64 / self.rate * 1e6)
    }

    pub fn errors(&self) -> u64 {
        self.socket_errors.iter().sum::<u64>() + self.bad_status
    }

    /// The non-zero error counts, for humans.
    pub fn error_detail(&self) -> String {
        let names = ["connect", "read", "write", "timeout"];
        let mut parts: Vec<String> = names
            .iter()
            .zip(self.socket_errors)
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        if self.bad_status > 0 {
            parts.push(format!("status>=400 {}", self.bad_status));
        }
        parts.join(", ")
    }
}

impl Wrk {
    /// The arguments, for `url` and the pipelining script at `script`.
    fn args(&self, url: &str, script: &str) -> Vec<String> {
        let mut args = vec![
            format!("-t{}", self.threads),
            format!("-c{}", self.conns),
            format!("-d{}s", self.seconds),
            "--latency".to_owned(),
        ];
        if self.pipeline > 1 {
            args.extend(["-s".to_owned(), script.to_owned(), url.to_owned(), "--".to_owned()]);
            args.push(self.pipeline.to_string());
        } else {
            args.push(url.to_owned());
        }
        args
    }

    /// The command line, for the report.
    pub fn command_line(&self, url: &str, script: &Script) -> String {
        format!("wrk {}", self.args(url, &script.path.to_string_lossy()).join(" "))
    }

    /// Runs wrk against `url` and reads its report.
    pub fn run(&self, url: &str, script: &Script) -> Result<Report, String> {
        let mut child = Command::new("wrk")
            .args(self.args(url, &script.path.to_string_lossy()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start wrk: {e}"))?;
        let mut pipes = (child.stdout.take(), child.stderr.take());
        let output = std::thread::spawn(move || {
            let (mut out, mut err) = (String::new(), String::new());
            if let Some(p) = &mut pipes.0 {
                let _ = p.read_to_string(&mut out);
            }
            if let Some(p) = &mut pipes.1 {
                let _ = p.read_to_string(&mut err);
            }
            (out, err)
        });
        let deadline = Instant::now() + Duration::from_secs(self.seconds) + WRK_SLACK;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                Ok(None) | Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("wrk did not finish within {WRK_SLACK:?} of its duration; killed"));
                }
            }
        };
        let (out, err) = output.join().map_err(|_| "wrk's output reader panicked".to_owned())?;
        if !status.success() {
            return Err(format!("wrk failed ({status}): {}", err.trim()));
        }
        let mut report = parse(&out).map_err(|e| format!("{e} in wrk's report:\n{out}{err}"))?;
        if self.pipeline > 1 {
            (report.p50_us, report.p99_us) = (None, None);
        }
        Ok(report)
    }
}

/// Reads wrk's text report (see the module docs).
fn parse(out: &str) -> Result<Report, String> {
    let mut report = Report::default();
    let (mut p50, mut p99, mut requests, mut rate) = (None, None, None, None);
    for line in out.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or("");
        match first {
            "50%" => p50 = words.next().and_then(microseconds),
            "99%" => p99 = words.next().and_then(microseconds),
            "Requests/sec:" => rate = words.next().and_then(|r| r.parse().ok()),
            _ if line.contains(" requests in ") => requests = first.parse().ok(),
            _ => {}
        }
        if let Some(counts) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            for (slot, part) in report.socket_errors.iter_mut().zip(counts.split(',')) {
                *slot = part.split_whitespace().nth(1).and_then(|n| n.parse().ok()).ok_or("bad Socket errors line")?;
            }
        }
        if let Some(n) = line.strip_prefix("Non-2xx or 3xx responses:") {
            report.bad_status = n.trim().parse().map_err(|_| "bad Non-2xx line")?;
        }
    }
    report.requests = requests.ok_or("no request count")?;
    report.rate = rate.ok_or("no Requests/sec")?;
    // wrk prints `0.00us` for a percentile its corrected samples do not reach.
    report.p50_us = Some(p50.ok_or("no 50% latency")?).filter(|&us| us > 0.0);
    report.p99_us = Some(p99.ok_or("no 99% latency")?).filter(|&us| us > 0.0);
    Ok(report)
}

/// A wrk duration (`812.00us`, `1.20ms`, `2.00s`, `1.50m`, `1.00h`) in
/// microseconds.
fn microseconds(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        _ => return None,
    };
    Some(number.parse::<f64>().ok()? * scale)
}

/// Checks [`parse`] on a report of the shape wrk 4.1 prints; run by the
/// smoke test, which has no wrk to produce a real one.
pub fn self_check() -> Result<(), String> {
    let sample = "\
Running 5s test @ http://127.0.0.1:8080/
  1 threads and 256 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms  500.00us  20.00ms   90.00%
    Req/Sec   300.00k    10.00k  320.00k    80.00%
  Latency Distribution
     50%  812.00us
     75%    1.00ms
     90%    1.50ms
     99%    2.00s
  1500000 requests in 5.00s, 180.00MB read
  Socket errors: connect 0, read 3, write 0, timeout 7
  Non-2xx or 3xx responses: 5
Requests/sec: 300000.50
Transfer/sec:     36.00MB
";
    let r = parse(sample)?;
    let ok = r.requests == 1_500_000
        && r.rate == 300_000.5
        && r.p50_us == Some(812.0)
        && r.p99_us == Some(2e6)
        && r.socket_errors == [0, 3, 0, 7]
        && r.bad_status == 5
        && r.errors() == 15;
    if ok {
        Ok(())
    } else {
        Err(format!("wrk report parsed wrongly: {r:?}"))
    }
}
