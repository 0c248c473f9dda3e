//! Fault handling: a `SIGSEGV`/`SIGBUS` handler that gives the runtime the
//! first look at a fault, and an alternate signal stack for worker threads.
//!
//! The handler is installed once per process. It calls the runtime's
//! `on_fault(address)`; if that returns (the fault is not a green-thread
//! guard hit), the handler that was installed before ours gets the signal
//! (Rust's std installs one for main-thread overflows). If there was none,
//! the default action is restored and the faulting instruction re-executes,
//! so a plain bug still dies as a plain `SIGSEGV`.

use std::io;
use std::mem::MaybeUninit;
use std::sync::OnceLock;

use super::{cvt, mmap};

/// The function given the first look at a fault. It must be
/// async-signal-safe: it may read thread-locals that are `Cell`s of plain
/// data, write to stderr and abort; it must not allocate or lock.
pub(crate) type FaultHook = fn(fault_addr: usize);

struct Previous {
    segv: libc::sigaction,
    bus: libc::sigaction,
    hook: FaultHook,
}

static PREVIOUS: OnceLock<Previous> = OnceLock::new();

/// Installs the process-wide fault handler once; later calls do nothing.
pub(crate) fn install_fault_handler(hook: FaultHook) {
    PREVIOUS.get_or_init(|| {
        // SAFETY: sigaction structs are plain data; zeroed is a valid value
        // that install() fills in.
        let mut prev = unsafe { Previous { segv: std::mem::zeroed(), bus: std::mem::zeroed(), hook } };
        install(libc::SIGSEGV, &mut prev.segv);
        install(libc::SIGBUS, &mut prev.bus);
        prev
    });
}

fn install(signum: libc::c_int, prev: &mut libc::sigaction) {
    // SAFETY: a zeroed sigaction is valid; we set handler, flags and an
    // empty mask before passing it to the kernel.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signum, &action, prev);
    }
}

extern "C" fn handler(signum: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers, and
    // si_addr is defined for SIGSEGV and SIGBUS.
    let addr = unsafe { (*info).si_addr() } as usize;
    // A fault on another thread while `install_fault_handler` is still
    // running finds no record yet: treat it like a fault with no previous
    // handler.
    let prev = PREVIOUS.get();
    if let Some(prev) = prev {
        (prev.hook)(addr);
    }
    let action = match prev {
        Some(prev) if signum == libc::SIGSEGV => prev.segv.sa_sigaction,
        Some(prev) => prev.bus.sa_sigaction,
        None => libc::SIG_DFL,
    };
    let old_flags = match prev {
        Some(prev) if signum == libc::SIGSEGV => prev.segv.sa_flags,
        Some(prev) => prev.bus.sa_flags,
        None => 0,
    };
    if action == libc::SIG_DFL || action == libc::SIG_IGN {
        // SAFETY: restoring the default disposition is async-signal-safe;
        // returning re-executes the fault, which now kills the process with
        // the ordinary signal.
        unsafe {
            let mut dfl: libc::sigaction = std::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(signum, &dfl, std::ptr::null_mut());
        }
    } else if old_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed with SA_SIGINFO, so it
        // has the three-argument signature; we pass our own arguments on.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(action) };
        f(signum, info, ctx);
    } else {
        // SAFETY: without SA_SIGINFO the previous handler takes one argument.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(action) };
        f(signum);
    }
}

/// An alternate signal stack installed for the current thread by
/// [`ensure_alt_stack`]; uninstalled and freed on drop.
pub(crate) struct AltStack {
    addr: usize,
    len: usize,
}

/// Makes sure the current thread has an alternate signal stack, so the fault
/// handler can run when a green-thread stack is exhausted. Threads started
/// by std usually have one already; then nothing is installed.
pub(crate) fn ensure_alt_stack() -> io::Result<Option<AltStack>> {
    let mut old = MaybeUninit::<libc::stack_t>::uninit();
    // SAFETY: querying only (null new stack); `old` is written by the kernel.
    cvt(unsafe { libc::sigaltstack(std::ptr::null(), old.as_mut_ptr()) })?;
    // SAFETY: sigaltstack succeeded, so `old` is initialised.
    let old = unsafe { old.assume_init() };
    if old.ss_flags & libc::SS_DISABLE == 0 {
        return Ok(None);
    }
    let len = 64 * 1024;
    let addr = mmap::reserve(len)?;
    let stack = libc::stack_t { ss_sp: addr as *mut libc::c_void, ss_flags: 0, ss_size: len };
    // SAFETY: `stack` describes memory we just mapped and keep until drop.
    cvt(unsafe { libc::sigaltstack(&stack, std::ptr::null_mut()) })?;
    Ok(Some(AltStack { addr, len }))
}

impl Drop for AltStack {
    fn drop(&mut self) {
        let disable = libc::stack_t { ss_sp: std::ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 };
        // SAFETY: disabling first, then unmapping memory no one uses any more.
        unsafe {
            libc::sigaltstack(&disable, std::ptr::null_mut());
            libc::munmap(self.addr as *mut libc::c_void, self.len);
        }
    }
}

/// Writes `bytes` to stderr with `write(2)`; async-signal-safe.
pub(crate) fn write_stderr(bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: writes from a live slice.
        let n = unsafe { libc::write(libc::STDERR_FILENO, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            return;
        }
        rest = &rest[n as usize..];
    }
}

/// Aborts the process (SIGABRT); async-signal-safe.
pub(crate) fn abort() -> ! {
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}
