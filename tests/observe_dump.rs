//! `weft::dump` and `Runtime::dump`: every live green thread with its name,
//! worker, state (running, or parked on what) and stack.
//!
//! Lock and channel waits are checked by the unit tests in
//! `runtime/src/observe/tests.rs` (through the internal `waiting_on`).

mod support;

use support::dump_when;

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use weft::io::Pollable;
use weft::net::TcpListener;
use weft::observe::{Dump, GreenState, WaitReason};
use weft::signal::{Signals, SIGUSR2};
use weft::{GreenThread, ThreadId};

const KIB: usize = 1024;
const SLEEP: Duration = Duration::from_secs(3600);

fn is_parked(dump: &Dump, id: ThreadId) -> bool {
    dump.get(id).is_some_and(|t| matches!(t.state(), GreenState::Parked(_)))
}

fn state(dump: &Dump, id: ThreadId) -> GreenState {
    dump.get(id).unwrap_or_else(|| panic!("green thread {id} missing from the dump:\n{dump}")).state()
}

fn named(name: &str) -> weft::Builder {
    weft::Builder::new().name(name)
}

#[test]
fn dump_shows_each_blocking_point_with_name_worker_and_stack() {
    support::with_each_runtime("dump", |rt| {
        let workers = rt.workers();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let listener_fd = listener.as_raw_fd();
        let acceptor = named("acceptor").spawn_on(rt, move || listener.accept().map(drop)).unwrap();

        let (near, far) = UnixStream::pair().unwrap();
        let writer_fd = near.as_raw_fd();
        let writer = named("writer")
            .spawn_on(rt, move || {
                let near = Pollable::new(near).unwrap();
                // Far more than a socket buffer: parks once it is full.
                (&near).write_all(&vec![7u8; 64 * 1024 * 1024])
            })
            .unwrap();

        let sleep_started = Arc::new(Mutex::new(None));
        let sleeper = {
            let sleep_started = sleep_started.clone();
            named("sleeper")
                .stack_size(128 * KIB)
                .spawn_on(rt, move || {
                    *sleep_started.lock().unwrap() = Some(Instant::now());
                    weft::sleep(SLEEP);
                })
                .unwrap()
        };

        let release = Arc::new(AtomicBool::new(false));
        let target = {
            let release = release.clone();
            named("target")
                .spawn_on(rt, move || {
                    while !release.load(SeqCst) {
                        weft::park();
                    }
                })
                .unwrap()
        };
        let target_thread: GreenThread = target.thread().clone();
        let target_id = target_thread.id();
        let joiner = named("joiner").spawn_on(rt, move || target.join().is_ok()).unwrap();

        let signals = Signals::new(&[SIGUSR2]).unwrap();
        let signal_waiter = named("signal-waiter").spawn_on(rt, move || signals.wait().map(drop)).unwrap();

        let (job_tx, job_rx) = mpsc::channel::<()>();
        let unblocked = named("unblocked").spawn_on(rt, move || weft::unblock(move || job_rx.recv().is_ok())).unwrap();

        let ids = [
            ("acceptor", acceptor.thread().id()),
            ("writer", writer.thread().id()),
            ("sleeper", sleeper.thread().id()),
            ("target", target_id),
            ("joiner", joiner.thread().id()),
            ("signal-waiter", signal_waiter.thread().id()),
            ("unblocked", unblocked.thread().id()),
        ];
        let id = |name: &str| ids.iter().find(|(n, _)| *n == name).unwrap().1;
        let dump = dump_when(rt, |d| ids.iter().all(|&(_, id)| is_parked(d, id)));

        assert_eq!(state(&dump, id("acceptor")), GreenState::Parked(WaitReason::Read { fd: listener_fd }), "{dump}");
        assert_eq!(state(&dump, id("writer")), GreenState::Parked(WaitReason::Write { fd: writer_fd }), "{dump}");
        assert_eq!(state(&dump, id("target")), GreenState::Parked(WaitReason::Park { until: None }), "{dump}");
        assert_eq!(state(&dump, id("joiner")), GreenState::Parked(WaitReason::Join { target: target_id }), "{dump}");
        let mask = 1u64 << (SIGUSR2 - 1);
        assert_eq!(state(&dump, id("signal-waiter")), GreenState::Parked(WaitReason::Signal { mask }), "{dump}");
        assert_eq!(state(&dump, id("unblocked")), GreenState::Parked(WaitReason::Blocking), "{dump}");
        let GreenState::Parked(WaitReason::Sleep { until }) = state(&dump, id("sleeper")) else {
            panic!("the sleeper is not asleep:\n{dump}")
        };
        let started = sleep_started.lock().unwrap().expect("the sleeper noted its start");
        // The deadline is stored to the microsecond, rounded down.
        assert!(until + Duration::from_micros(1) >= started + SLEEP, "{until:?} vs {started:?}");
        assert!(until <= dump.taken_at() + SLEEP, "{until:?} vs {:?}", dump.taken_at());

        for (name, id) in ids {
            let info = dump.get(id).unwrap();
            assert_eq!(info.name(), Some(name), "{dump}");
            assert_eq!(info.runtime(), format!("dump-w{workers}"));
            assert!(info.worker() < workers, "{dump}");
            let size = if name == "sleeper" { 128 * KIB } else { weft::DEFAULT_STACK_SIZE };
            assert_eq!(info.stack_size(), size, "{name}");
            assert!(info.stack_high_water() > 0, "{name} has run, so it touched its stack:\n{dump}");
            assert!(info.stack_high_water() <= info.stack_size(), "{dump}");
            assert!(info.in_state_for().is_some(), "{name}: a parked green thread has a wait stamp:\n{dump}");
        }
        let text = dump.to_string();
        assert!(text.contains("'acceptor': parked"), "{text}");
        assert!(text.contains(&format!("on read fd {listener_fd}")), "{text}");
        assert!(text.contains(&format!("on join of green thread {target_id}")), "{text}");

        // A green thread taking a dump sees itself running; the process-wide
        // dump includes this runtime's green threads.
        let (me, inner) =
            named("dumper").spawn_on(rt, || (weft::current().id(), weft::dump())).unwrap().join().unwrap();
        assert_eq!(state(&inner, me), GreenState::Running, "{inner}");
        assert_eq!(inner.get(me).unwrap().name(), Some("dumper"));
        assert_eq!(state(&inner, id("joiner")), GreenState::Parked(WaitReason::Join { target: target_id }));

        // Finished green threads leave the dump (once their worker has seen
        // them return, which may come just after `join` does).
        job_tx.send(()).unwrap();
        assert!(unblocked.join().unwrap());
        release.store(true, SeqCst);
        target_thread.unpark();
        assert!(joiner.join().unwrap());
        let gone = ["unblocked", "joiner", "target", "dumper"];
        let after = dump_when(rt, |d| d.threads().iter().all(|t| !gone.contains(&t.name().unwrap_or(""))));
        assert!(after.get(id("sleeper")).is_some(), "{after}");
        drop(far);
    });
}

#[test]
fn dump_counts_green_threads_not_started_yet() {
    let rt = support::runtime(1, "dump-unstarted");
    let (go_tx, go_rx) = mpsc::channel::<()>();
    // The only worker blocks (an std channel: the trap the monitor reports)
    // so the next spawns cannot start.
    let blocker = rt.spawn(move || go_rx.recv().unwrap());
    let dump = dump_when(&rt, |d| d.get(blocker.thread().id()).is_some_and(|t| t.state() == GreenState::Running));
    assert_eq!(dump.unstarted(), 0, "{dump}");
    let waiting: Vec<_> = (0..3).map(|_| rt.spawn(|| ())).collect();
    let dump = rt.dump();
    assert_eq!(dump.unstarted(), 3, "{dump}");
    assert!(dump.to_string().contains("(and 3 not started yet)"), "{dump}");
    go_tx.send(()).unwrap();
    blocker.join().unwrap();
    for h in waiting {
        h.join().unwrap();
    }
}

const CHILD_ENV: &str = "WEFT_TEST_CHILD";

/// `WEFT_DUMP_SIGNAL=QUIT`: a runtime built with the default configuration
/// prints its dump to stderr on `SIGQUIT` and keeps running. The child
/// process parks a green thread, says "ready", and runs until its stdin is
/// closed; the parent sends the signal and reads the dump from its stderr.
#[test]
fn dump_on_sigquit_prints_every_green_thread_to_stderr() {
    const TEST: &str = "dump_on_sigquit_prints_every_green_thread_to_stderr";
    if std::env::var(CHILD_ENV).as_deref() == Ok(TEST) {
        let rt = support::runtime(1, "sigdump");
        let napper = named("napper").spawn_on(&rt, || weft::sleep(SLEEP)).unwrap();
        dump_when(&rt, |d| is_parked(d, napper.thread().id()));
        // The harness has printed "test ... " without a newline: start a line.
        println!("\nready");
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).unwrap();
        return;
    }
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, TEST)
        .env("WEFT_DUMP_SIGNAL", "QUIT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A listener that never prints would leave the child waiting forever: a
    // watchdog kills it after a generous bound so the test fails instead.
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let pid = child.id() as libc::pid_t;
    let watchdog = std::thread::spawn(move || {
        if done_rx.recv_timeout(Duration::from_secs(60)).is_err() {
            // SAFETY: kill(2) on the child we spawned.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    });
    // Kept open until the child has exited, which still writes to it.
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(stdout.by_ref().map(|l| l.unwrap()).any(|l| l == "ready"), "child never became ready");
    // SAFETY: kill(2) with a pid we spawned; no memory involved.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGQUIT) }, 0);
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines().map(|l| l.unwrap());
    let mut stderr = Vec::new();
    for line in lines.by_ref() {
        let napper = line.contains("'napper': parked");
        stderr.push(line);
        if napper {
            break;
        }
    }
    // The dump is out: let the child finish, and keep reading its stderr
    // so it can write to the end.
    drop(child.stdin.take());
    stderr.extend(lines);
    let status = child.wait().unwrap();
    drop(stdout);
    let _ = done_tx.send(());
    watchdog.join().unwrap();
    let stderr = stderr.join("\n");
    assert!(status.success(), "the child survives its dump: {status}\n{stderr}");
    assert!(stderr.contains(&format!("weft: signal {} received", libc::SIGQUIT)), "{stderr}");
    assert!(stderr.contains("runtime 'sigdump', worker 0"), "{stderr}");
    assert!(stderr.contains("on sleep, wakes in"), "{stderr}");
}

/// Threads of this process whose (kernel, 15-byte) name is `name`.
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter(|task| {
            let comm = std::fs::read_to_string(task.as_ref().unwrap().path().join("comm")).unwrap_or_default();
            comm.trim_end() == name
        })
        .count()
}

#[test]
fn dump_on_signal_listener_is_shared_and_stops_with_the_last_runtime() {
    let listener = format!("weft-dump-{}", libc::SIGUSR1);
    let build =
        |name: &str| weft::Runtime::builder().workers(1).name(name).dump_on_signal(libc::SIGUSR1).build().unwrap();
    let (a, b) = (build("dump-share-a"), build("dump-share-b"));
    // A new thread names itself once it runs: wait for that.
    let start = Instant::now();
    while threads_named(&listener) == 0 {
        assert!(start.elapsed() < Duration::from_secs(60), "no listener thread");
        std::thread::yield_now();
    }
    assert_eq!(threads_named(&listener), 1, "one listener per signal, however many runtimes");
    drop(a);
    assert_eq!(threads_named(&listener), 1, "still needed by the other runtime");
    drop(b);
    // Joined; the kernel lists an exited thread until it has released it.
    let start = Instant::now();
    while threads_named(&listener) != 0 {
        assert!(start.elapsed() < Duration::from_secs(10), "the last runtime stops the listener");
        std::thread::yield_now();
    }
}

#[test]
fn dump_shows_green_threads_waiting_on_a_mutex_and_a_channel() {
    support::with_each_runtime("dump-sync", |rt| {
        let lock = Arc::new(weft::sync::Mutex::new(()));
        let held = lock.lock().unwrap();
        let lock2 = lock.clone();
        let locker = named("locker").spawn_on(rt, move || drop(lock2.lock())).unwrap();
        let (tx, rx) = weft::sync::mpsc::channel::<u8>();
        let receiver = named("receiver").spawn_on(rt, move || rx.recv().ok()).unwrap();
        let (locker_id, receiver_id) = (locker.thread().id(), receiver.thread().id());
        let dump = dump_when(rt, |d| is_parked(d, locker_id) && is_parked(d, receiver_id));
        assert!(matches!(state(&dump, locker_id), GreenState::Parked(WaitReason::Mutex { .. })), "{dump}");
        assert!(matches!(state(&dump, receiver_id), GreenState::Parked(WaitReason::ChannelRecv { .. })), "{dump}");
        drop(held);
        tx.send(9).unwrap();
        locker.join().unwrap();
        assert_eq!(receiver.join().unwrap(), Some(9));
    });
}
