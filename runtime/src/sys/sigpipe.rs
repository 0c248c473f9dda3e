//! Signal delivery by the self-pipe trick: a handler that writes the signal
//! number into pipes, which green threads read through the reactor.
//!
//! # Why not signalfd
//!
//! `signalfd` only receives signals that are blocked in every thread of the
//! process; a thread created before the mask was set (the test harness's,
//! a library's) would still take the signal with its default action. A
//! handler works whatever the threads' masks.
//!
//! # The table
//!
//! [`SLOTS`] pipes, each with a mask of the signals its listener wants.
//! The handler, for each slot whose mask has the signal, writes one byte
//! (the signal number) to the slot's pipe. A full pipe drops the byte:
//! signals coalesce, as the kernel's do.
//!
//! A slot's pipe is created the first time the slot is used and never
//! closed, so the handler can never write into a descriptor that was closed
//! and reused for something else; a listener that goes away clears its mask
//! and the next listener of that slot drains stale bytes. At most
//! `2 * SLOTS` descriptors stay open for the process's life.
//!
//! Everything the handler touches is atomics: it is async-signal-safe.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering::*};
use std::sync::Mutex;

use super::{cvt, fd};

/// How many listeners ([`crate::signal::Signals`]) may exist at once.
pub(crate) const SLOTS: usize = 64;

/// Highest signal number that can be listened to (`SIGRTMAX` on Linux).
const MAX_SIGNAL: libc::c_int = 64;

struct Slot {
    /// Bit `n - 1` set: the listener wants signal `n`.
    mask: AtomicU64,
    /// Write end of the slot's pipe; -1 until the slot is first used.
    write_fd: AtomicI32,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot { mask: AtomicU64::new(0), write_fd: AtomicI32::new(-1) };
static SLOTS_TABLE: [Slot; SLOTS] = [EMPTY; SLOTS];

/// State only registration touches (never the handler).
struct Registry {
    /// Read ends of the slots' pipes (kept open for the process's life).
    read_ends: Vec<Option<OwnedFd>>,
    /// Write ends, owned here so they are never closed.
    write_ends: Vec<Option<OwnedFd>>,
    used: [bool; SLOTS],
    /// Listener count and the action to restore, per signal.
    listeners: Vec<(usize, Option<libc::sigaction>)>,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

fn with_registry<R>(f: impl FnOnce(&mut Registry) -> R) -> R {
    let mut guard = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    let registry = guard.get_or_insert_with(|| Registry {
        read_ends: (0..SLOTS).map(|_| None).collect(),
        write_ends: (0..SLOTS).map(|_| None).collect(),
        used: [false; SLOTS],
        listeners: (0..=MAX_SIGNAL).map(|_| (0, None)).collect(),
    });
    f(registry)
}

/// Signals that cannot be listened to: the uncatchable ones, and the faults
/// weft's overflow handler (and std's) need.
pub(crate) fn is_forbidden(signal: libc::c_int) -> bool {
    matches!(signal, libc::SIGKILL | libc::SIGSTOP | libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE)
}

/// Validates a signal number for listening.
pub(crate) fn check(signal: libc::c_int) -> io::Result<()> {
    if !(1..=MAX_SIGNAL).contains(&signal) || is_forbidden(signal) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("weft: signal {signal} cannot be listened to"),
        ));
    }
    Ok(())
}

/// Takes a free slot listening to `signals` (already checked), installs the
/// handler for each, and returns the slot and a `dup` of its pipe's read end.
pub(crate) fn listen(signals: &[libc::c_int]) -> io::Result<(usize, OwnedFd)> {
    with_registry(|reg| {
        let slot = reg.used.iter().position(|used| !used).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!("weft: at most {SLOTS} signal listeners may exist at once"),
            )
        })?;
        if reg.read_ends[slot].is_none() {
            let (read, write) = fd::pipe()?;
            SLOTS_TABLE[slot].write_fd.store(write.as_raw_fd(), Release);
            reg.read_ends[slot] = Some(read);
            reg.write_ends[slot] = Some(write);
        }
        let read = reg.read_ends[slot].as_ref().expect("created above");
        drain(read.as_fd());
        let reader = read.try_clone()?;
        let mask = signals.iter().fold(0u64, |m, &s| m | 1 << (s - 1));
        for &signal in signals {
            let (count, previous) = &mut reg.listeners[signal as usize];
            if *count == 0 {
                *previous = Some(install(signal)?);
            }
            *count += 1;
        }
        reg.used[slot] = true;
        SLOTS_TABLE[slot].mask.store(mask, Release);
        Ok((slot, reader))
    })
}

/// Gives a slot back; restores a signal's previous action when its last
/// listener goes.
pub(crate) fn unlisten(slot: usize) {
    with_registry(|reg| {
        let mask = SLOTS_TABLE[slot].mask.swap(0, AcqRel);
        for signal in 1..=MAX_SIGNAL {
            if mask & (1 << (signal - 1)) == 0 {
                continue;
            }
            let (count, previous) = &mut reg.listeners[signal as usize];
            *count -= 1;
            if *count == 0 {
                if let Some(previous) = previous.take() {
                    // SAFETY: `previous` is the action sigaction returned
                    // when we installed ours.
                    unsafe { libc::sigaction(signal, &previous, std::ptr::null_mut()) };
                }
            }
        }
        reg.used[slot] = false;
    });
}

/// Reads and discards whatever the pipe holds.
fn drain(fd: BorrowedFd<'_>) {
    let mut buf = [0u8; 64];
    // SAFETY: reads into a live buffer of the given length; the fd is
    // non-blocking, so the loop ends at EAGAIN.
    while unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
}

fn install(signal: libc::c_int) -> io::Result<libc::sigaction> {
    // SAFETY: a zeroed sigaction is valid; we set the handler, flags and an
    // empty mask before passing it to the kernel, which fills `previous`.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as *const () as usize;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        let mut previous: libc::sigaction = std::mem::zeroed();
        cvt(libc::sigaction(signal, &action, &mut previous))?;
        Ok(previous)
    }
}

extern "C" fn handler(signal: libc::c_int) {
    // SAFETY: errno is thread-local; saving and restoring it keeps the
    // interrupted code's errno intact across our write(2).
    let errno = unsafe { *libc::__errno_location() };
    let byte = signal as u8;
    for slot in &SLOTS_TABLE {
        let fd = slot.write_fd.load(Acquire);
        if fd >= 0 && slot.mask.load(Acquire) & (1 << (signal - 1)) != 0 {
            // SAFETY: write(2) is async-signal-safe; `fd` is a pipe's write
            // end that is never closed; the byte lives on our stack.
            let _ = unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
        }
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}
