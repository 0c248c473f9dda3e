//! Anonymous memory for stacks: reserve, guard, release.
//!
//! All functions take raw addresses because the stack allocator owns the
//! memory and tracks its layout; each documents what it requires.

use std::io;

use super::cvt;

/// `MADV_GUARD_INSTALL` (Linux >= 6.13): marks the range's page-table
/// entries so any access faults, without creating a new mapping.
/// Not yet exported by the `libc` crate.
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// Reserves `len` bytes of readable, writable, private anonymous memory.
/// `MAP_NORESERVE`: no commit charge, pages cost RSS only once touched.
pub(crate) fn reserve(len: usize) -> io::Result<usize> {
    // SAFETY: a fresh anonymous mapping at an address of the kernel's choice
    // cannot alias any existing Rust object.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(ptr as usize)
}

/// Asks the kernel never to back `[addr, addr + len)` with huge pages, so a
/// 64 KiB stack never costs 2 MiB of RSS.
pub(crate) fn no_huge_pages(addr: usize, len: usize) -> io::Result<()> {
    // SAFETY: advice only; the range is a mapping we own (caller contract).
    cvt(unsafe { libc::madvise(addr as *mut libc::c_void, len, libc::MADV_NOHUGEPAGE) })?;
    Ok(())
}

/// Installs a guard region over `[addr, addr + len)` with
/// `MADV_GUARD_INSTALL`. Fails with `EINVAL` on kernels older than 6.13.
pub(crate) fn guard_install(addr: usize, len: usize) -> io::Result<()> {
    // SAFETY: the caller owns this range and no Rust object lives in it; any
    // later access faults, which is the point.
    cvt(unsafe { libc::madvise(addr as *mut libc::c_void, len, MADV_GUARD_INSTALL) })?;
    Ok(())
}

/// Makes `[addr, addr + len)` inaccessible with `mprotect(PROT_NONE)`. This
/// splits the mapping: it costs entries of `vm.max_map_count`, and fails
/// with `ENOMEM` when they run out.
pub(crate) fn protect_none(addr: usize, len: usize) -> io::Result<()> {
    // SAFETY: the caller owns this range and no Rust object lives in it.
    cvt(unsafe { libc::mprotect(addr as *mut libc::c_void, len, libc::PROT_NONE) })?;
    Ok(())
}

/// Gives the pages of `[addr, addr + len)` back to the kernel; the next
/// access sees zero-filled pages. Guard markers installed with
/// `MADV_GUARD_INSTALL` survive this.
pub(crate) fn release(addr: usize, len: usize) {
    if len == 0 {
        return;
    }
    // SAFETY: the caller guarantees no live Rust object is stored in the
    // range (the stack it belongs to is not in use).
    let _ = unsafe { libc::madvise(addr as *mut libc::c_void, len, libc::MADV_DONTNEED) };
}

/// Fills `out` with one byte per page of `[addr, addr + len)` (`addr` page
/// aligned): bit 0 is set if the page is resident, that is, it has been
/// touched since it was mapped or last released. Reads no memory of the
/// range, so it may run while another thread uses that memory.
pub(crate) fn resident_pages(addr: usize, len: usize, out: &mut Vec<u8>) -> io::Result<()> {
    let pages = len.div_ceil(super::page_size());
    out.clear();
    out.resize(pages, 0);
    // SAFETY: mincore reads page tables only; `out` has room for one byte
    // per page of the range, which the kernel writes and nothing else.
    cvt(unsafe { libc::mincore(addr as *mut libc::c_void, len, out.as_mut_ptr()) })?;
    Ok(())
}
