//! Helpers shared by the integration tests.
//!
//! Each test binary uses a different subset of these, hence the
//! `dead_code` allowance below.
#![allow(dead_code)]

pub mod http;

use std::any::Any;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

/// Worker counts every behaviour is checked with: one worker (everything
/// interleaves on one OS thread) and several (wakeups cross OS threads).
pub const WORKER_COUNTS: [usize; 2] = [1, 2];

/// A runtime with `workers` workers whose threads are named `{name}-{i}`.
pub fn runtime(workers: usize, name: &str) -> weft::Runtime {
    weft::Runtime::builder().workers(workers).name(name).build().expect("build runtime")
}

/// Runs `f` once on a fresh 1-worker runtime and once on a fresh 2-worker
/// runtime; the runtime is dropped after each run.
pub fn with_each_runtime(name: &str, f: impl Fn(&weft::Runtime)) {
    for workers in WORKER_COUNTS {
        let rt = runtime(workers, &format!("{name}-w{workers}"));
        f(&rt);
    }
}

/// Runs `f` as a green thread on `rt` and returns its result, re-raising
/// its panic on the caller.
pub fn run_green<T: Send + 'static>(rt: &weft::Runtime, f: impl FnOnce() -> T + Send + 'static) -> T {
    match rt.spawn(f).join() {
        Ok(value) => value,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// The message of a panic payload (`&str` or `String`), as std prints it.
pub fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload.downcast_ref::<&'static str>().copied().or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// Sets its flag when dropped: shows that a destructor ran.
#[derive(Debug)]
pub struct DropFlag(pub Arc<AtomicBool>);

impl DropFlag {
    /// A guard and the flag it sets.
    pub fn new() -> (DropFlag, Arc<AtomicBool>) {
        let flag = Arc::new(AtomicBool::new(false));
        (DropFlag(flag.clone()), flag)
    }
}

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

/// xorshift64*: a tiny deterministic RNG, seeded per test so a failure can
/// be replayed.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        // Zero is a fixed point of xorshift; mix the seed so 0 works too.
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-enough in `0..n` (n > 0) for scheduling noise.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability 1/n.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// The index `i` of a worker thread named `{prefix}-{i}`, if the name has
/// that shape.
pub fn worker_index(thread_name: &str, prefix: &str) -> Option<usize> {
    thread_name.strip_prefix(prefix)?.strip_prefix('-')?.parse().ok()
}

/// The name of the OS thread running the caller (inside a green thread:
/// its worker).
pub fn os_thread_name() -> String {
    std::thread::current().name().expect("named thread").to_owned()
}

/// Runs `f` on its own OS thread and waits at most `limit` for it: a test
/// whose bug is a hang (a worker blocked, a lost wakeup) then fails with a
/// message instead of stalling the suite. A panic of `f` is re-raised here.
/// On timeout the stuck thread is left behind; the test binary still exits.
pub fn bounded<T: Send + 'static>(limit: std::time::Duration, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(format!("bounded-{what}"))
        .spawn(move || {
            let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
        })
        .expect("spawn a bounded test thread");
    match rx.recv_timeout(limit) {
        Ok(Ok(value)) => value,
        Ok(Err(payload)) => std::panic::resume_unwind(payload),
        Err(_) => panic!("{what}: did not finish within {limit:?} (hung: a blocked worker or a lost wakeup?)"),
    }
}

/// Yields (green thread or OS thread) until `cond` holds. Panics after
/// [`YIELD_LIMIT`], so a condition that never comes fails the test.
///
/// On a 1-worker runtime, a green thread that sees a flag set by another
/// green thread just before a blocking call knows that green thread is now
/// parked in that call: the worker only came back because it switched out.
pub fn yield_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + YIELD_LIMIT;
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "gave up waiting for {what}");
        weft::yield_now();
    }
}

/// How long [`yield_until`] and [`wait_until_os_thread_sleeps`] wait for
/// their condition before failing the test.
pub const YIELD_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Waits until OS thread `tid` (a Linux thread id, `libc::gettid()`) is
/// asleep in the kernel (state `S` in `/proc/self/task/{tid}/stat`): how a
/// test sees that a thread is blocked in a call without sleeping itself.
pub fn wait_until_os_thread_sleeps(tid: i32) {
    let deadline = std::time::Instant::now() + YIELD_LIMIT;
    while os_thread_state(&tid.to_string()) != Some('S') {
        assert!(std::time::Instant::now() < deadline, "thread {tid} never blocked");
        std::thread::yield_now();
    }
}

/// The environment variable that makes a re-executed test binary run one
/// test as a child (its value is the test's name).
pub const CHILD_ENV: &str = "WEFT_TEST_CHILD";

/// True in the child process started by [`run_child`] for `test`.
pub fn is_child(test: &str) -> bool {
    std::env::var(CHILD_ENV).as_deref() == Ok(test)
}

/// Re-executes this test binary running only `test` (exactly, with output
/// shown, even if it is `#[ignore]`d) as a child process with
/// [`CHILD_ENV`] set, and returns how it ended.
pub fn run_child(test: &str) -> std::process::Output {
    std::process::Command::new(std::env::current_exe().expect("current exe"))
        .args(["--exact", test, "--nocapture", "--test-threads=1", "--include-ignored"])
        .env(CHILD_ENV, test)
        .output()
        .expect("run child test process")
}

/// A connected loopback TCP pair of weft streams: (client, server side).
/// Works from green threads and plain OS threads alike (the connect
/// completes in the listener's backlog before `accept`).
pub fn tcp_pair() -> (weft::net::TcpStream, weft::net::TcpStream) {
    let listener = weft::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let client = weft::net::TcpStream::connect(listener.local_addr().expect("local_addr")).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    (client, server)
}

/// A fresh directory under the system temp dir, unique to this process
/// and call, removed (with everything in it) when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, SeqCst);
        let path = std::env::temp_dir().join(format!("weft-{tag}-{}-{n}", std::process::id()));
        // Left over by an earlier process with the same pid, perhaps.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The path of `name` inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A message unique to client `id`, `len` bytes long.
pub fn message(id: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (id.wrapping_mul(31).wrapping_add(i * 7) % 251) as u8).collect()
}

/// A weft stream socket, TCP or Unix-domain, for the echo helpers: what
/// they need beyond `Read` and `Write`.
pub trait Stream: Read + Write + Send + Sized + 'static {
    fn try_clone(&self) -> io::Result<Self>;
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;
}

impl Stream for weft::net::TcpStream {
    fn try_clone(&self) -> io::Result<Self> {
        weft::net::TcpStream::try_clone(self)
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        weft::net::TcpStream::shutdown(self, how)
    }
}

impl Stream for weft::net::UnixStream {
    fn try_clone(&self) -> io::Result<Self> {
        weft::net::UnixStream::try_clone(self)
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        weft::net::UnixStream::shutdown(self, how)
    }
}

/// Echoes every byte of `stream` back until end of file.
pub fn echo_stream(mut stream: impl Stream) {
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).expect("server read");
        if n == 0 {
            return;
        }
        stream.write_all(&buf[..n]).expect("server write");
    }
}

/// Client `id` sends its [`message`] of `len` bytes on `stream` to an
/// echo server and checks that all of it comes back.
///
/// A writer on a clone of `stream` sends (then shuts the write half) while
/// this thread reads the echo until end of file: a message larger than the
/// socket buffers would deadlock a write-then-read. The writer is a green
/// thread if the caller is one, else an OS thread.
pub fn assert_echo(mut stream: impl Stream, id: usize, len: usize) {
    let msg = message(id, len);
    let mut writer = stream.try_clone().unwrap();
    let to_send = msg.clone();
    let write = move || {
        writer.write_all(&to_send).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    };
    let join: Box<dyn FnOnce()> = if weft::current().is_green() {
        let w = weft::spawn(write);
        Box::new(move || w.join().unwrap())
    } else {
        let w = std::thread::spawn(write);
        Box::new(move || w.join().unwrap())
    };
    let mut back = Vec::new();
    stream.read_to_end(&mut back).unwrap();
    join();
    assert!(back == msg, "client {id}: echo differs");
}

/// Byte `i` of the test pattern with seed `seed` (not periodic in any
/// power of two, so a shifted or repeated chunk shows).
pub fn pattern_byte(seed: u64, i: u64) -> u8 {
    (i.wrapping_mul(7).wrapping_add(i / 251).wrapping_add(seed.wrapping_mul(131)) % 251) as u8
}

/// `len` bytes of the pattern with seed `seed`, starting at offset `from`.
pub fn pattern(seed: u64, from: u64, len: usize) -> Vec<u8> {
    (from..from + len as u64).map(|i| pattern_byte(seed, i)).collect()
}

/// Checks `got` against the pattern at offset `from`; the message names
/// the first differing offset.
pub fn check_pattern(seed: u64, from: u64, got: &[u8], what: &str) {
    if let Some(i) = got.iter().enumerate().position(|(i, &b)| b != pattern_byte(seed, from + i as u64)) {
        panic!(
            "{what}: byte at offset {} is {} instead of {}",
            from + i as u64,
            got[i],
            pattern_byte(seed, from + i as u64)
        );
    }
}

/// The state letter of OS thread `tid` of this process (`R`, `S`, `D`,
/// ...), from `/proc/self/task/{tid}/stat`; `None` once it has exited.
fn os_thread_state(tid: &str) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    // "tid (comm) S ...": the state follows the last ')', as comm may
    // contain anything.
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// Waits until every worker of the runtime named `name` (threads named
/// `{name}-{i}`; keep `name` short, Linux keeps 15 bytes of a thread name)
/// is asleep in the kernel. Workers only sleep in `epoll_wait` when they
/// have nothing to run, so afterwards every green thread of that runtime
/// is parked (or finished): how a test sees "parked" on any worker count.
pub fn wait_until_workers_sleep(name: &str, workers: usize) {
    let deadline = std::time::Instant::now() + YIELD_LIMIT;
    loop {
        let mut asleep = 0;
        for task in std::fs::read_dir("/proc/self/task").expect("read /proc/self/task").flatten() {
            let tid = task.file_name().to_string_lossy().into_owned();
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if worker_index(comm.trim_end(), name).is_some() && os_thread_state(&tid) == Some('S') {
                asleep += 1;
            }
        }
        if asleep == workers {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "the workers of {name} never all slept");
        std::thread::yield_now();
    }
}

/// Takes dumps of `rt` until `done` accepts one, and returns it. Each green
/// thread under test reaches its state by itself; this waits for all of
/// them (yielding in between), and fails with the last dump if they have
/// not got there within a generous bound.
pub fn dump_when(rt: &weft::Runtime, done: impl Fn(&weft::observe::Dump) -> bool) -> weft::observe::Dump {
    let start = std::time::Instant::now();
    loop {
        let dump = rt.dump();
        if done(&dump) {
            return dump;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(60), "the green threads never got there:\n{dump}");
        std::thread::yield_now();
    }
}
