//! Panics in green threads: caught, returned by `join` with their payload,
//! and never fatal to the worker.

mod support;

use std::panic::panic_any;

use support::{os_thread_name, panic_message, run_green, runtime, with_each_runtime};

#[test]
fn panic_str_payload_returned_by_join() {
    with_each_runtime("panic-str", |rt| {
        let payload = rt.spawn(|| -> u32 { panic!("static message") }).join().unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"static message"));
    });
}

#[test]
fn panic_string_payload_returned_by_join() {
    with_each_runtime("panic-string", |rt| {
        // A runtime value: a message made only of literals is folded into a
        // &'static str payload by the compiler.
        let n = std::hint::black_box(42);
        let payload = rt.spawn(move || -> u32 { panic!("formatted message {n}") }).join().unwrap_err();
        assert_eq!(payload.downcast_ref::<String>().map(String::as_str), Some("formatted message 42"));
    });
}

#[test]
fn panic_custom_payload_returned_by_join() {
    #[derive(Debug, PartialEq)]
    struct Code(u32);
    with_each_runtime("panic-any", |rt| {
        let payload = rt.spawn(|| panic_any(Code(17))).join().unwrap_err();
        assert_eq!(payload.downcast_ref::<Code>(), Some(&Code(17)));
        assert!(!payload.is::<weft::Cancelled>(), "a panic is not a cancellation");
    });
}

#[test]
fn panic_joined_from_green_thread() {
    with_each_runtime("panic-green-join", |rt| {
        let message = run_green(rt, || {
            let payload = weft::spawn(|| -> () { panic!("child of a green thread") }).join().unwrap_err();
            panic_message(&*payload).map(str::to_owned)
        });
        assert_eq!(message.as_deref(), Some("child of a green thread"));
    });
}

/// After panics, the one worker is still the same OS thread and still runs
/// green threads: parked ones resume, new ones start.
#[test]
fn panic_worker_survives_and_keeps_running_green_threads() {
    let rt = runtime(1, "survivor");
    let (worker_before, os_id_before) = run_green(&rt, || (os_thread_name(), std::thread::current().id()));
    // A green thread parked across the panics, resumed after them.
    let (tx, rx) = std::sync::mpsc::channel();
    let parked = rt.spawn(move || {
        tx.send(()).unwrap();
        weft::park();
        weft::sleep(std::time::Duration::from_millis(1));
        "resumed"
    });
    rx.recv().unwrap();
    for i in 0..20 {
        let h = rt.spawn(move || -> () {
            weft::yield_now();
            panic!("panic number {i}")
        });
        let payload = h.join().unwrap_err();
        assert_eq!(panic_message(&*payload), Some(format!("panic number {i}").as_str()));
    }
    parked.thread().unpark();
    assert_eq!(parked.join().unwrap(), "resumed");
    let results: Vec<u32> = (0..100).map(|i| rt.spawn(move || i + 1)).map(|h| h.join().unwrap()).collect();
    assert_eq!(results, (1..=100).collect::<Vec<_>>());
    let (worker_after, os_id_after) = run_green(&rt, || (os_thread_name(), std::thread::current().id()));
    assert_eq!(worker_after, worker_before);
    assert_eq!(os_id_after, os_id_before, "the worker OS thread was replaced");
    assert_eq!(rt.started_per_worker(), vec![1 + 1 + 20 + 100 + 1]);
}

/// A panic unwinds the green thread's stack: its locals' destructors run
/// before `join` reports the panic.
#[test]
fn panic_runs_destructors_before_join_returns() {
    with_each_runtime("panic-drop", |rt| {
        let (guard, dropped) = support::DropFlag::new();
        let h = rt.spawn(move || {
            let _guard = guard;
            weft::yield_now();
            panic!("with a guard on the stack");
        });
        assert!(h.join().is_err());
        assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
    });
}
