//! Panic reports for green threads.
//!
//! std's panic hook names the OS thread, which inside a green thread is just
//! the worker. weft wraps the hook installed before it: a panic on a green
//! thread is printed like std prints a thread panic, but names the green
//! thread (and its id and worker); any other panic goes to the previous hook
//! unchanged. A hook the user installs later replaces this one, as usual.

use std::backtrace::{Backtrace, BacktraceStatus};
use std::panic::{self, PanicHookInfo};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Once;

use crate::green::context;
use crate::thread::{payload_message, Cancelled};

pub(crate) fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !report_green_panic(info) {
                previous(info);
            }
        }));
    });
}

/// Prints the report if the panic happened on a green thread.
fn report_green_panic(info: &PanicHookInfo<'_>) -> bool {
    let Some(green) = context::current_green() else { return false };
    if info.payload().is::<Cancelled>() {
        return true;
    }
    let name = green.name.as_deref().unwrap_or("<unnamed>").to_owned();
    let id = green.id;
    drop(green);
    let worker = std::thread::current();
    let location = info.location().map(|l| l.to_string()).unwrap_or_default();
    let message = payload_message(info.payload());
    let backtrace = Backtrace::capture();
    // Resolving symbols needs far more stack than a green thread has; do the
    // formatting on the worker's own stack.
    let report = context::on_worker_stack(move || {
        let mut report = format!(
            "\nthread '{name}' (weft green thread {}, on {}) panicked at {location}:\n{message}\n",
            id,
            worker.name().unwrap_or("<unnamed>"),
        );
        static NOTED: AtomicBool = AtomicBool::new(false);
        match backtrace.status() {
            BacktraceStatus::Captured => report.push_str(&format!("stack backtrace:\n{backtrace}")),
            _ if !NOTED.swap(true, Relaxed) => {
                report.push_str("note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n")
            }
            _ => {}
        }
        report
    });
    eprint!("{report}");
    true
}
