//! Wait reasons of the synchronisation primitives (`weft::sync`, wired by
//! their own module through `waiting_on`), and the precedence rule, checked
//! through a real runtime and dump.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{waiting_on, Dump, GreenState, WaitReason};
use crate::{JoinHandle, Runtime, ThreadId};

fn dump_when(rt: &Runtime, done: impl Fn(&Dump) -> bool) -> Dump {
    let start = Instant::now();
    loop {
        let dump = rt.dump();
        if done(&dump) {
            return dump;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "never got there:\n{dump}");
        std::thread::yield_now();
    }
}

/// A green thread that waits as a primitive would: `reason` around a park
/// loop (whose own default reason must not override it).
fn waiter(rt: &Runtime, reason: WaitReason, release: &Arc<AtomicBool>) -> JoinHandle<()> {
    let release = release.clone();
    rt.spawn(move || {
        let _waiting = waiting_on(reason);
        while !release.load(SeqCst) {
            crate::park_timeout(Duration::from_secs(3600));
        }
    })
}

fn parked_on(dump: &Dump, id: ThreadId) -> Option<WaitReason> {
    match dump.get(id)?.state() {
        GreenState::Parked(reason) => Some(reason),
        _ => None,
    }
}

#[test]
fn dump_shows_green_threads_waiting_on_a_mutex_and_a_channel() {
    for workers in [1, 2] {
        let rt = Runtime::builder().workers(workers).name(format!("sync-w{workers}")).build().unwrap();
        let release = Arc::new(AtomicBool::new(false));
        let mutex = WaitReason::Mutex { object: 0x1000 };
        let channel = WaitReason::ChannelRecv { object: 0x2000 };
        let handles = [waiter(&rt, mutex, &release), waiter(&rt, channel, &release)];
        let ids = handles.each_ref().map(|h| h.thread().id());
        let dump = dump_when(&rt, |d| ids.iter().all(|&id| parked_on(d, id).is_some()));
        assert_eq!(parked_on(&dump, ids[0]), Some(mutex), "{dump}");
        assert_eq!(parked_on(&dump, ids[1]), Some(channel), "{dump}");
        let text = dump.to_string();
        assert!(text.contains("on mutex 0x1000") && text.contains("on channel receive 0x2000"), "{text}");
        release.store(true, SeqCst);
        for h in handles {
            h.thread().unpark();
            h.join().unwrap();
        }
    }
}

#[test]
fn wait_record_is_cleared_when_the_wait_ends() {
    let rt = Runtime::builder().workers(1).name("sync-clear").build().unwrap();
    let release = Arc::new(AtomicBool::new(false));
    let gate = release.clone();
    let h = rt.spawn(move || {
        {
            let _waiting = waiting_on(WaitReason::Semaphore { object: 1 });
        }
        // The semaphore wait is over: a plain park shows as a park.
        while !gate.load(SeqCst) {
            crate::park();
        }
    });
    let id = h.thread().id();
    let dump = dump_when(&rt, |d| parked_on(d, id).is_some());
    assert_eq!(parked_on(&dump, id), Some(WaitReason::Park { until: None }), "{dump}");
    release.store(true, SeqCst);
    h.thread().unpark();
    h.join().unwrap();
}

#[test]
fn waiting_on_outside_a_green_thread_does_nothing() {
    let _waiting = waiting_on(WaitReason::Barrier { object: 1 });
}

#[test]
fn dump_signal_env_accepts_names_numbers_and_off() {
    use super::parse_signal;
    assert_eq!(parse_signal("QUIT"), Ok(Some(libc::SIGQUIT)));
    assert_eq!(parse_signal(" sigusr1 "), Ok(Some(libc::SIGUSR1)));
    assert_eq!(parse_signal("12"), Ok(Some(12)));
    assert_eq!(parse_signal(""), Ok(None));
    assert_eq!(parse_signal("0"), Ok(None));
    assert_eq!(parse_signal("QUITE"), Err(()));
}
