//! Spawning and joining green threads: results, nesting, handles, names,
//! ids and `weft::current`.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc};

use support::{os_thread_name, run_green, runtime, with_each_runtime, worker_index};

const MANY: u64 = 10_000;

fn expected(i: u64) -> u64 {
    i * i + 7
}

#[test]
fn spawn_join_10k_results_checked_from_os_thread() {
    with_each_runtime("spawn10k", |rt| {
        let handles: Vec<_> = (0..MANY)
            .map(|i| {
                rt.spawn(move || {
                    if i % 2 == 0 {
                        // Half of them switch out once, so results are
                        // completed out of spawn order.
                        weft::yield_now();
                    }
                    (i, expected(i))
                })
            })
            .collect();
        for (i, h) in (0..MANY).zip(handles) {
            assert_eq!(h.join().unwrap(), (i, expected(i)));
        }
        assert_eq!(rt.started_per_worker().iter().sum::<u64>(), MANY);
    });
}

#[test]
fn spawn_join_10k_results_checked_from_green_thread() {
    with_each_runtime("spawn10k-green", |rt| {
        let sum = run_green(rt, || {
            let handles: Vec<_> = (0..MANY).map(|i| weft::spawn(move || expected(i))).collect();
            let mut sum = 0;
            for (i, h) in (0..MANY).zip(handles) {
                let v = h.join().unwrap();
                assert_eq!(v, expected(i));
                sum += v;
            }
            sum
        });
        assert_eq!(sum, (0..MANY).map(expected).sum::<u64>());
    });
}

/// Spawns a tree of green threads `depth` levels deep, each node joining
/// its children from inside a green thread; returns the number of nodes.
fn tree(depth: u32, fanout: u64, prefix: &'static str) -> u64 {
    assert!(weft::current().is_green());
    assert!(worker_index(&os_thread_name(), prefix).is_some(), "ran on another runtime's worker");
    if depth == 0 {
        return 1;
    }
    let children: Vec<_> = (0..fanout).map(|_| weft::spawn(move || tree(depth - 1, fanout, prefix))).collect();
    1 + children.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
}

#[test]
fn spawn_nested_green_threads_joined_from_green_threads() {
    for (workers, prefix) in [(1, "nested-w1"), (2, "nested-w2")] {
        let rt = runtime(workers, prefix);
        // 1 + 4 + 16 + 64 + 256 nodes.
        assert_eq!(run_green(&rt, move || tree(4, 4, prefix)), 341);
    }
}

#[test]
fn spawn_from_os_thread_uses_default_runtime() {
    let h = weft::spawn(|| (weft::current().is_green(), os_thread_name()));
    let (green, worker) = h.join().unwrap();
    assert!(green);
    assert!(worker_index(&worker, "weft-worker").is_some(), "default runtime worker was named {worker:?}");
}

#[test]
fn spawn_inside_green_thread_uses_callers_runtime() {
    with_each_runtime("callers-rt", |rt| {
        let prefix = format!("callers-rt-w{}", rt.workers());
        let worker = run_green(rt, || weft::spawn(os_thread_name).join().unwrap());
        assert!(worker_index(&worker, &prefix).is_some(), "child ran on {worker:?}, not a {prefix} worker");
        let worker = run_green(rt, || weft::Builder::new().spawn(os_thread_name).unwrap().join().unwrap());
        assert!(worker_index(&worker, &prefix).is_some(), "Builder::spawn child ran on {worker:?}");
    });
}

#[test]
fn join_is_finished_false_while_parked_true_after_return() {
    with_each_runtime("is-finished", |rt| {
        let release = Arc::new(AtomicBool::new(false));
        let (started_tx, started_rx) = mpsc::channel();
        let h = {
            let release = release.clone();
            rt.spawn(move || {
                started_tx.send(()).unwrap();
                while !release.load(SeqCst) {
                    weft::park();
                }
                42
            })
        };
        started_rx.recv().unwrap();
        assert!(!h.is_finished(), "finished while still waiting for release");
        release.store(true, SeqCst);
        h.thread().unpark();
        while !h.is_finished() {
            std::thread::yield_now();
        }
        assert_eq!(h.join().unwrap(), 42);

        let panicked = rt.spawn(|| -> u32 { panic!("is_finished after panic") });
        while !panicked.is_finished() {
            std::thread::yield_now();
        }
        assert!(panicked.join().is_err());
    });
}

#[test]
fn builder_name_and_id_seen_by_handle_and_inside() {
    with_each_runtime("builder-name", |rt| {
        let h = weft::Builder::new()
            .name("worker-bee")
            .spawn_on(rt, || {
                let me = weft::current();
                (me.id(), me.name().map(str::to_owned), me.is_green())
            })
            .unwrap();
        let handle_id = h.thread().id();
        assert_eq!(h.thread().name(), Some("worker-bee"));
        assert!(h.thread().is_green());
        let (inner_id, inner_name, inner_green) = h.join().unwrap();
        assert_eq!(inner_id, handle_id, "weft::current() inside differs from the handle's thread");
        assert_eq!(inner_name.as_deref(), Some("worker-bee"));
        assert!(inner_green);
    });
}

#[test]
fn builder_unnamed_green_thread_has_no_name() {
    with_each_runtime("unnamed", |rt| {
        let h = rt.spawn(|| weft::current().name().map(str::to_owned));
        assert_eq!(h.thread().name(), None);
        assert_eq!(h.join().unwrap(), None);
    });
}

#[test]
fn current_in_green_thread_has_handles_id() {
    with_each_runtime("current-id", |rt| {
        let handles: Vec<_> = (0..100).map(|_| rt.spawn(|| weft::current().id())).collect();
        let mut seen = HashSet::new();
        for h in handles {
            let outer = h.thread().id();
            assert_eq!(h.join().unwrap(), outer);
            assert!(seen.insert(outer), "id {outer} given to two green threads");
        }
    });
}

#[test]
fn current_on_os_thread_is_not_green_and_has_std_name() {
    let (id, other_id) = std::thread::Builder::new()
        .name("plain-os-thread".into())
        .spawn(|| {
            let me = weft::current();
            assert!(!me.is_green());
            assert_eq!(me.name(), Some("plain-os-thread"));
            assert_eq!(me.name(), std::thread::current().name());
            assert_eq!(weft::current().id(), me.id(), "an OS thread's id is stable");
            let other = std::thread::spawn(|| weft::current().id()).join().unwrap();
            (me.id(), other)
        })
        .unwrap()
        .join()
        .unwrap();
    assert_ne!(id, other_id);
    let green_id = weft::spawn(|| weft::current().id()).join().unwrap();
    assert_ne!(green_id, id, "green and OS thread ids share one space and never collide");
    assert_ne!(green_id, other_id);
}

#[test]
fn yield_now_lets_other_green_thread_on_same_worker_run() {
    with_each_runtime("yield", |rt| {
        let yields = run_green(rt, || {
            let flag = Arc::new(AtomicBool::new(false));
            // Queued behind the spinner; on one worker it can only run when
            // the spinner, which never parks, yields.
            let setter = weft::spawn({
                let flag = flag.clone();
                move || flag.store(true, SeqCst)
            });
            let mut yields = 0;
            while !flag.load(SeqCst) {
                yields += 1;
                weft::yield_now();
            }
            setter.join().unwrap();
            yields
        });
        if rt.workers() == 1 {
            assert!(yields >= 1, "the setter ran although the spinner never yielded");
        }
    });
}

#[test]
fn join_self_panics_instead_of_hanging() {
    with_each_runtime("join-self", |rt| {
        let (handle_tx, handle_rx) = mpsc::channel::<weft::JoinHandle<()>>();
        let (result_tx, result_rx) = mpsc::channel();
        let h = rt.spawn(move || {
            let me = handle_rx.recv().unwrap();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| me.join()));
            result_tx.send(result.map(|_| ()).map_err(|p| support::panic_message(&*p).map(str::to_owned))).unwrap();
        });
        handle_tx.send(h).unwrap();
        let message = result_rx.recv().unwrap().expect_err("joining itself must panic").unwrap();
        assert!(message.contains("tried to join itself"), "unexpected message {message:?}");
    });
}

#[test]
fn runtime_builder_rejects_zero_workers_and_reports_count() {
    let err = weft::Runtime::builder().workers(0).build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    for n in [1, 3] {
        assert_eq!(runtime(n, "count").workers(), n);
        assert_eq!(runtime(n, "count").started_per_worker(), vec![0; n]);
    }
}
