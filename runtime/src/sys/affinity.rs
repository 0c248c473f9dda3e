//! CPU affinity of worker threads (`RuntimeBuilder::pin_workers`).

use std::io;
use std::mem::{size_of, MaybeUninit};

/// The CPUs this process may run on (its affinity mask), in order.
pub(crate) fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { MaybeUninit::zeroed().assume_init() };
    // SAFETY: `set` is a live cpu_set_t of the size passed.
    let ret = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    let max = 8 * size_of::<libc::cpu_set_t>();
    // SAFETY: CPU_ISSET reads the set; `cpu` is below the set's capacity.
    Ok((0..max).filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) }).collect())
}

/// Restricts the thread `thread` to the one CPU `cpu`.
pub(crate) fn pin(thread: libc::pthread_t, cpu: usize) -> io::Result<()> {
    // SAFETY: as above.
    let mut set: libc::cpu_set_t = unsafe { MaybeUninit::zeroed().assume_init() };
    // SAFETY: CPU_SET writes into our set; the callers pass a CPU that
    // `allowed_cpus` returned, below the set's capacity.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `thread` is a live thread (its JoinHandle is held by the
    // caller); `set` is a live cpu_set_t of the size passed.
    let ret = unsafe { libc::pthread_setaffinity_np(thread, size_of::<libc::cpu_set_t>(), &set) };
    if ret != 0 {
        return Err(io::Error::from_raw_os_error(ret));
    }
    Ok(())
}
