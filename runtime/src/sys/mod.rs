//! The only module that talks to libc.
//!
//! # Platform contract
//!
//! weft needs exactly these things from the operating system (Linux 6.x):
//!
//! * **Memory** ([`mmap`]): anonymous private mappings reserved without
//!   commit charge (`MAP_NORESERVE`), `madvise(MADV_NOHUGEPAGE)` so a stack
//!   slab is never backed by 2 MiB pages, `madvise(MADV_DONTNEED)` to give
//!   touched pages back, and a guard region below each stack. The guard is
//!   installed with `madvise(MADV_GUARD_INSTALL)` (Linux >= 6.13), which marks
//!   page-table entries and keeps the slab one kernel mapping; on older
//!   kernels `mprotect(PROT_NONE)` is used, which splits the mapping and costs
//!   two entries of `vm.max_map_count` per stack.
//!   `mincore(2)` tells which stack pages are resident, for the stack
//!   high-water marks of `weft::observe` (only when a report asks).
//! * **Wakeups** ([`eventfd`]): an `eventfd` per worker, non-blocking, so
//!   another thread can wake a worker sleeping in `epoll_wait`.
//! * **Readiness** ([`epoll`]): one epoll instance per worker, holding its
//!   eventfd and the fds its reactor registered (edge-triggered). The
//!   worker's sleep is `epoll_wait` with its next timer deadline as the
//!   timeout.
//! * **Affinity** ([`affinity`]): `sched_getaffinity` and
//!   `pthread_setaffinity_np`, to pin workers to CPUs on request.
//! * **Sockets** ([`socket`], [`fd`]): non-blocking sockets from birth,
//!   `accept4`, `sendfile`, `poll(2)` for callers on plain OS threads.
//! * **Signals** ([`sigpipe`]): a handler that forwards chosen signals into
//!   pipes (the self-pipe trick) for `weft::signal`.
//! * **Faults** ([`signal`]): a `SIGSEGV`/`SIGBUS` handler on an alternate
//!   signal stack, so a green-thread stack overflow is reported by name
//!   instead of dying with a bare segmentation fault.
//!
//! Every file descriptor created here is `O_CLOEXEC` and, where it can be
//! read or written, `O_NONBLOCK` from birth (DESIGN.md decision 6).
//! Errors are returned as `io::Error` built from `errno`.

pub(crate) mod affinity;
pub(crate) mod epoll;
pub(crate) mod eventfd;
pub(crate) mod fd;
pub(crate) mod mmap;
pub(crate) mod signal;
pub(crate) mod sigpipe;
pub(crate) mod socket;

use std::io;

/// Turns a `-1` return value of a libc call into the `errno` error.
pub(crate) fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// The size of a memory page, read once.
pub(crate) fn page_size() -> usize {
    use std::sync::OnceLock;
    static PAGE: OnceLock<usize> = OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf has no preconditions.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if size <= 0 {
            4096
        } else {
            size as usize
        }
    })
}
