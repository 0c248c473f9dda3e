//! A green thread whose socket operations always complete at once (a peer
//! keeps the receive buffer full) must still let the other green threads of
//! its worker run: after a run of immediate completions it yields.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

mod support;

use support::bounded;

/// Bytes queued for the reader before it starts: more single-byte reads
/// than it can do before the other green thread must have run.
const QUEUED: usize = 64 * 1024;

/// Bytes readable on `fd` now (`FIONREAD`).
fn readable(fd: i32) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which is valid.
    let rc = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) };
    assert_eq!(rc, 0, "ioctl(FIONREAD): {}", std::io::Error::last_os_error());
    n as usize
}

#[test]
fn a_reader_that_never_waits_still_lets_its_worker_run_others() {
    bounded(Duration::from_secs(30), "io-fairness", || {
        let rt = weft::Runtime::builder().workers(1).name("fair").build().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut writer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (reader, _) = listener.accept().unwrap();
        // A peer that writes until the reader is gone.
        let flood = std::thread::spawn(move || {
            let chunk = vec![7u8; 16 * 1024];
            while writer.write_all(&chunk).is_ok() {}
        });
        // Wait (on this OS thread) until plenty is queued, so the reader's
        // first QUEUED reads cannot meet WouldBlock.
        let fd = reader.as_raw_fd();
        let deadline = std::time::Instant::now() + support::YIELD_LIMIT;
        while readable(fd) < QUEUED {
            assert!(std::time::Instant::now() < deadline, "the peer never filled the socket");
            std::thread::yield_now();
        }
        let mut reader = weft::net::TcpStream::from(reader);
        let other_ran = Arc::new(AtomicBool::new(false));
        let flag = other_ran.clone();
        let reads = rt
            .spawn(move || {
                let mut byte = [0u8; 1];
                let mut reads = 0usize;
                // The other green thread can run only when this one
                // switches out: same worker, and it is spawned from here.
                let flag2 = flag.clone();
                let other = weft::spawn(move || flag2.store(true, SeqCst));
                while !flag.load(SeqCst) {
                    assert_eq!(reader.read(&mut byte).unwrap(), 1);
                    reads += 1;
                }
                other.join().unwrap();
                reads
            })
            .join()
            .unwrap();
        assert!(other_ran.load(SeqCst));
        assert!(reads < QUEUED, "the reader yielded only when the socket ran dry ({reads} reads)");
        drop(rt);
        flood.join().unwrap();
    });
}
