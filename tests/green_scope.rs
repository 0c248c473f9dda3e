//! weft::scope: children borrow from the caller, scope waits for all of
//! them, and panics propagate as std::thread::scope's do.

mod support;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use support::{panic_message, run_green, with_each_runtime};

/// Children fill disjoint chunks of a caller's Vec, switching out in
/// between so they interleave.
fn fill_chunks() -> Vec<usize> {
    let mut data = vec![0usize; 1000];
    weft::scope(|s| {
        for (c, chunk) in data.chunks_mut(37).enumerate() {
            s.spawn(move || {
                for (j, x) in chunk.iter_mut().enumerate() {
                    *x = c * 37 + j;
                    if j % 10 == 0 {
                        weft::yield_now();
                    }
                }
            });
        }
    });
    data
}

#[test]
fn scope_children_mutate_disjoint_parts_of_callers_vec() {
    let expected: Vec<usize> = (0..1000).collect();
    with_each_runtime("scope-chunks", |rt| assert_eq!(run_green(rt, fill_chunks), expected));
    // From a plain OS thread (children go to the default runtime).
    assert_eq!(fill_chunks(), expected);
}

/// Children (and grandchildren spawned on the same scope) that are never
/// joined have all finished when `scope` returns.
fn count_unjoined_children() -> usize {
    let finished = AtomicUsize::new(0);
    weft::scope(|s| {
        for i in 0..20u64 {
            let finished = &finished;
            s.spawn(move || {
                weft::sleep(Duration::from_millis(i % 4));
                s.spawn(move || {
                    weft::yield_now();
                    finished.fetch_add(1, SeqCst);
                });
                finished.fetch_add(1, SeqCst);
            });
        }
    });
    finished.load(SeqCst)
}

#[test]
fn scope_returns_only_after_all_children_finished() {
    with_each_runtime("scope-wait", |rt| assert_eq!(run_green(rt, count_unjoined_children), 40));
    assert_eq!(count_unjoined_children(), 40);
}

#[test]
fn scope_returns_value_of_closure_and_joined_results() {
    with_each_runtime("scope-value", |rt| {
        let (sum, tag) = run_green(rt, || {
            let numbers: Vec<u64> = (1..=100).collect();
            weft::scope(|s| {
                let halves: Vec<_> = numbers.chunks(50).map(|h| s.spawn(move || h.iter().sum::<u64>())).collect();
                (halves.into_iter().map(|h| h.join().unwrap()).sum::<u64>(), "done")
            })
        });
        assert_eq!((sum, tag), (5050, "done"));
    });
}

/// A child panics and nobody joins it: `scope` waits for the others, then
/// panics itself.
fn scope_with_unjoined_panic() -> (std::thread::Result<()>, usize) {
    let finished = AtomicUsize::new(0);
    let result = catch_unwind(AssertUnwindSafe(|| {
        weft::scope(|s| {
            s.spawn(|| panic!("unjoined child panic"));
            for i in 0..8u64 {
                let finished = &finished;
                s.spawn(move || {
                    weft::sleep(Duration::from_millis(i % 3));
                    finished.fetch_add(1, SeqCst);
                });
            }
        })
    }));
    (result, finished.load(SeqCst))
}

#[test]
fn scope_panics_when_unjoined_child_panicked() {
    let check = |(result, finished): (std::thread::Result<()>, usize)| {
        let payload = result.expect_err("scope must panic");
        assert_eq!(panic_message(&*payload), Some("a scoped green thread panicked"));
        assert_eq!(finished, 8, "scope panicked before its other children finished");
    };
    with_each_runtime("scope-panic", |rt| check(run_green(rt, scope_with_unjoined_panic)));
    check(scope_with_unjoined_panic());
}

#[test]
fn scope_joined_child_panic_returned_by_join_not_rethrown() {
    with_each_runtime("scope-joined-panic", |rt| {
        let message = run_green(rt, || {
            weft::scope(|s| {
                let n = std::hint::black_box(7);
                let h = s.spawn(move || -> u32 { panic!("joined child panic {n}") });
                let payload = h.join().expect_err("join returns the panic");
                panic_message(&*payload).map(str::to_owned)
            })
        });
        assert_eq!(message.as_deref(), Some("joined child panic 7"));
    });
}

/// The scope closure itself panics: the payload is the closure's, and it is
/// re-raised only after every child has finished.
#[test]
fn scope_closure_panic_waits_for_children_then_propagates() {
    with_each_runtime("scope-closure-panic", |rt| {
        let (message, finished) = run_green(rt, || {
            let finished = AtomicUsize::new(0);
            let result = catch_unwind(AssertUnwindSafe(|| {
                weft::scope(|s| {
                    for _ in 0..5 {
                        s.spawn(|| {
                            weft::sleep(Duration::from_millis(2));
                            finished.fetch_add(1, SeqCst);
                        });
                    }
                    panic!("closure panic");
                })
            }));
            let payload = result.expect_err("scope re-raises the closure's panic");
            (panic_message(&*payload).map(str::to_owned), finished.load(SeqCst))
        });
        assert_eq!(message.as_deref(), Some("closure panic"));
        assert_eq!(finished, 5);
    });
}

#[test]
fn scope_spawn_with_builder_names_child() {
    with_each_runtime("scope-builder", |rt| {
        let name = run_green(rt, || {
            weft::scope(|s| {
                let h = s
                    .spawn_with(weft::Builder::new().name("scoped-child"), || weft::current().name().map(str::to_owned))
                    .unwrap();
                assert_eq!(h.thread().name(), Some("scoped-child"));
                h.join().unwrap()
            })
        });
        assert_eq!(name.as_deref(), Some("scoped-child"));
    });
}
