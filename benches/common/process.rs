//! A load benchmark's server child, both halves: the parent starts it,
//! learns its port, reads its CPU time and memory, and stops it; the child
//! announces its port and serves until its stdin closes. Whatever happens
//! to the parent, the child goes:
//!
//! * [`ServerProcess`] kills and reaps the child when dropped, also while
//!   unwinding from a panic;
//! * the child exits when its stdin reaches end of file, which the kernel
//!   delivers when the parent exits for any reason, even `SIGKILL`
//!   ([`serve_until_stdin_closes`]).
//!
//! The protocol, on the child's stdout and stdin:
//!
//! 1. the child binds, prints `port N` and serves;
//! 2. whenever the parent writes to the child's stdin, the child prints one
//!    line of counters starting with `stats ` (the parent's
//!    [`ServerProcess::snapshot`]; the format is the benchmark's own);
//! 3. when its stdin closes the child exits at once with
//!    `std::process::exit`, which closes every connection it holds.
//!
//! Shared by the load benchmarks (`tcp_echo`, `http_hello`), each of which
//! includes it by `#[path]`; nothing here knows what the child serves.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a child may take to print its port.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a child may take to exit after its stdin is closed, before it
/// is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// A running server child. Owned by the parent's main thread.
pub struct ServerProcess {
    child: Child,
    /// Writing asks the child for its stats; closing it, to exit.
    stdin: Option<ChildStdin>,
    /// The child's stdout, line by line, from a reader thread.
    lines: mpsc::Receiver<String>,
    /// The child's stderr, read to the end on a helper thread.
    stderr: Option<JoinHandle<String>>,
    pub addr: SocketAddr,
    /// Set once the child has been reaped.
    reaped: bool,
}

/// What a stopped child left behind.
pub struct Stopped {
    /// Its first `stats ...` line: the counters when
    /// [`ServerProcess::snapshot`] asked, else when it exited on request;
    /// `None` if it printed none (or had to be killed).
    pub stats: Option<String>,
    /// The first line of its stderr, if any.
    pub stderr: Option<String>,
}

impl ServerProcess {
    /// Starts this binary again with `args` (the server role and its
    /// arguments, `server KIND WORKERS` say) and waits for its port.
    pub fn start(args: &[&str]) -> Result<ServerProcess, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the server child: {e}"))?;
        let (tx, lines) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            });
        }
        let stderr = child.stderr.take().map(|mut pipe| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text);
                text
            })
        });
        let stdin = child.stdin.take();
        // From here on the guard owns the child: an early return kills it.
        let mut server = ServerProcess {
            child,
            stdin,
            lines,
            stderr,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            reaped: false,
        };
        let port = server.wait_for_port()?;
        server.addr.set_port(port);
        Ok(server)
    }

    fn wait_for_port(&mut self) -> Result<u16, String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(port) = line.strip_prefix("port ").and_then(|p| p.trim().parse().ok()) {
                        return Ok(port);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!("the server printed no port in {START_TIMEOUT:?}"));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let stopped = self.stop();
                    return Err(format!(
                        "the server exited before printing its port: {}",
                        stopped.stderr.unwrap_or_else(|| "no message".into())
                    ));
                }
            }
        }
    }

    /// The child's user + system CPU time so far (all its threads).
    pub fn cpu_time(&self) -> Option<Duration> {
        cpu_time(&self.child.id().to_string())
    }

    /// The child's resident memory (`VmRSS` of `/proc/PID/status`), in
    /// bytes: the pages of its address space now in RAM. Kernel memory
    /// (socket buffers, thread kernel stacks) is not in it.
    pub fn rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().strip_suffix("kB")?;
        Some(kib.trim().parse::<u64>().ok()? * 1024)
    }

    /// Asks the child to print its counters now; [`ServerProcess::stop`]
    /// collects them.
    pub fn snapshot(&mut self) {
        if let Some(stdin) = &mut self.stdin {
            let _ = stdin.write_all(b"s").and_then(|()| stdin.flush());
        }
    }

    /// Asks the child for its counters and waits up to `timeout` for its
    /// `stats ...` line (for a reading in the middle of a run; lines other
    /// than stats lines are skipped).
    pub fn query_stats(&mut self, timeout: Duration) -> Option<String> {
        self.snapshot();
        let deadline = Instant::now() + timeout;
        loop {
            let line = self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())).ok()?;
            if line.starts_with("stats ") {
                return Some(line);
            }
        }
    }

    /// Closes the child's stdin, waits for it to print its stats and exit
    /// (killing it after [`STOP_TIMEOUT`]) and reaps it.
    pub fn stop(&mut self) -> Stopped {
        drop(self.stdin.take());
        let deadline = Instant::now() + STOP_TIMEOUT;
        while !self.reaped {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => self.reaped = true,
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    self.reaped = true;
                }
            }
        }
        // The reader thread ends with the child's stdout; whatever it has
        // not sent yet is in the pipe and follows shortly.
        let mut stats = None;
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
            if line.starts_with("stats ") {
                stats.get_or_insert(line);
            }
        }
        let stderr = self.stderr.take().and_then(|h| h.join().ok()).and_then(|text| {
            let mut lines = text.lines().filter(|l| !l.trim().is_empty());
            let first = lines.next()?.to_owned();
            let more = lines.count();
            Some(if more > 0 { format!("{first} (+{more} more lines)") } else { first })
        });
        Stopped { stats, stderr }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// CPU time used so far: by the server child, by this process, by its
/// other children once they have exited, and by the whole machine. Taken
/// at both ends of the window.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuSample {
    /// User + system time of the server child, all its threads.
    pub server: Option<Duration>,
    /// User + system time of this process (`tcp_echo`'s load generator).
    pub client: Option<Duration>,
    /// User + system time of this process's children that have exited and
    /// been waited for (`http_hello`'s `wrk`; server children are reaped
    /// outside the windows).
    pub children: Option<Duration>,
    /// All cores: time not idle, softirq included.
    pub busy: Option<Duration>,
    /// All cores: time in softirq, where the kernel does much of loopback
    /// TCP's work; not charged to any process by `/proc/PID/stat`.
    pub softirq: Option<Duration>,
}

impl CpuSample {
    pub fn take(server: &ServerProcess) -> CpuSample {
        let (busy, softirq) = machine_cpu().unzip();
        let (client, children) = own_cpu_times().unzip();
        CpuSample { server: server.cpu_time(), client, children, busy, softirq }
    }

    /// The CPU time used from `self` to `later`.
    pub fn until(&self, later: &CpuSample) -> CpuSample {
        let diff = |a: Option<Duration>, b: Option<Duration>| Some(b?.saturating_sub(a?));
        CpuSample {
            server: diff(self.server, later.server),
            client: diff(self.client, later.client),
            children: diff(self.children, later.children),
            busy: diff(self.busy, later.busy),
            softirq: diff(self.softirq, later.softirq),
        }
    }

    /// What neither benchmark process nor softirq used: other work on the
    /// machine competing for the cores (meaningful for a difference).
    pub fn other(&self) -> Option<Duration> {
        Some(self.busy?.saturating_sub(self.softirq? + self.server? + self.client? + self.children?))
    }
}

fn ticks_to_duration(ticks: u64) -> Option<Duration> {
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_second = u64::try_from(per_second).ok().filter(|&t| t > 0)?;
    Some(Duration::from_nanos(ticks.checked_mul(1_000_000_000)? / per_second))
}

/// User + system CPU time of process `pid` ("self" for this one), from
/// `/proc/PID/stat`: fields 14 and 15, in clock ticks.
pub fn cpu_time(pid: &str) -> Option<Duration> {
    let [utime, stime, ..] = stat_times(pid)?;
    ticks_to_duration(utime + stime)
}

/// This process's user + system CPU time, and that of its children that
/// have exited and been waited for (fields 16 and 17, `cutime` and
/// `cstime`).
fn own_cpu_times() -> Option<(Duration, Duration)> {
    let [utime, stime, cutime, cstime] = stat_times("self")?;
    Some((ticks_to_duration(utime + stime)?, ticks_to_duration(cutime + cstime)?))
}

/// Fields 14 to 17 of `/proc/PID/stat`: utime, stime, cutime, cstime.
fn stat_times(pid: &str) -> Option<[u64; 4]> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; it ends at the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11); // field 3 is index 0
    let mut times = [0; 4];
    for t in &mut times {
        *t = fields.next()?.parse().ok()?;
    }
    Some(times)
}

/// Busy and softirq time of all cores, from the `cpu` line of `/proc/stat`
/// (user nice system idle iowait irq softirq steal ..., in clock ticks).
fn machine_cpu() -> Option<(Duration, Duration)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let t: Vec<u64> = line.split_whitespace().skip(1).take(8).map(|v| v.parse().ok()).collect::<Option<_>>()?;
    let [user, nice, system, _idle, _iowait, irq, softirq, steal] = t[..] else { return None };
    Some((ticks_to_duration(user + nice + system + irq + softirq + steal)?, ticks_to_duration(softirq)?))
}

/// Raises this process's soft open-file limit to the hard limit (children
/// inherit it) and returns the soft limit now in force.
fn raise_fd_limit() -> Option<libc::rlim_t> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a valid rlimit for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        // SAFETY: `raised` is a valid rlimit; raising the soft limit up to
        // the hard one needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    Some(limit.rlim_cur)
}

/// The opening of a load benchmark's `main`. Re-executed as a server
/// child (`BIN server ...`), this process runs `server_main`. As the
/// parent, it parses its options with `parse` (whose error, the usage
/// message among them, is printed with exit status 2), starts the
/// watchdog to end the run `watchdog(&options)` from now, and raises the
/// open-file limit (children inherit it). Returns the options and that
/// limit, or the exit status `main` is to return.
pub fn begin_main<O>(
    bench: &'static str,
    server_main: fn(&[String]) -> ExitCode,
    parse: fn(&[String]) -> Result<O, String>,
    watchdog: fn(&O) -> Duration,
) -> Result<(O, Option<libc::rlim_t>), ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("server") {
        return Err(server_main(&args[1..]));
    }
    let options = parse(&args).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(2)
    })?;
    start_watchdog(bench, Instant::now() + watchdog(&options));
    Ok((options, raise_fd_limit()))
}

/// Ends the process with status 3 if it is still running at `end`.
/// Children exit when their stdin closes, which this exit causes.
fn start_watchdog(bench: &'static str, end: Instant) {
    std::thread::spawn(move || {
        while Instant::now() < end {
            std::thread::sleep(end.saturating_duration_since(Instant::now()));
        }
        eprintln!("{bench}: still running at the watchdog's deadline; giving up");
        std::process::exit(3);
    });
}

/// The child's half of the protocol, once it serves on `port`: announces
/// the port, prints `stats()` whenever the parent writes, and exits the
/// process when its stdin closes (the parent closed it, or died).
pub fn serve_until_stdin_closes(port: u16, stats: impl Fn() -> String) -> ! {
    println!("port {port}");
    let _ = std::io::stdout().flush();
    let mut request = [0u8; 64];
    let mut stdin = std::io::stdin().lock();
    while let Ok(1..) = stdin.read(&mut request) {
        println!("{}", stats());
        let _ = std::io::stdout().flush();
    }
    // Not a return from main: the serving threads are still running, and
    // exiting the process is what closes their connections.
    std::process::exit(0)
}
