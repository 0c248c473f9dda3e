//! Green-thread stacks: guarded, carved from large slabs, pooled per worker.
//!
//! # Layout
//!
//! ```text
//!  slab (one mmap, MAP_NORESERVE, MADV_NOHUGEPAGE)
//!  +-------+-------------------+-------+-------------------+---- ...
//!  | guard | stack 0     (grows | guard | stack 1           |
//!  |       |  down) <-----  top | ...   |                   |
//!  +-------+-------------------+-------+-------------------+---- ...
//!  low addresses                                          high addresses
//! ```
//!
//! Each stack has a guard region of one page directly below it. Rust emits
//! stack probes for frames larger than a page, so an overflow always touches
//! the guard rather than jumping over it into the stack below.
//!
//! # Why slabs and `MADV_GUARD_INSTALL`
//!
//! The obvious design, one `mmap` plus one `mprotect` guard page per stack
//! (corosensei's `DefaultStack`, may), costs two kernel mappings per stack,
//! and the stock `vm.max_map_count` of 65,530 then caps a process near
//! 32,000 green threads. `MADV_GUARD_INSTALL` (Linux >= 6.13) marks guard
//! pages in the page tables instead, so a whole slab stays one mapping and a
//! million guarded stacks fit under the stock limit. On an older kernel the
//! first install fails with `EINVAL` and weft falls back to `mprotect`
//! (forced with `WEFT_STACK_GUARD=mprotect`); when that runs out of
//! mappings, stack allocation returns an error naming `vm.max_map_count`.
//!
//! # Why 64 KiB by default
//!
//! A green thread that parks touches one or two pages at the top of its
//! stack, and only touched pages cost memory, so the size is a ceiling on
//! *virtual* space, not a cost. 64 KiB holds ordinary handler code,
//! `format!`, std's I/O and panic machinery with room to spare, while
//! 1,000,000 stacks still need only 68 GB of address space. Deep recursion
//! or large stack arrays need `Builder::stack_size`; an overflow aborts
//! with a message naming the green thread, never corrupts memory.
//!
//! # Reuse
//!
//! A finished green thread's stack goes back where it came from: the pool of
//! the worker that handed it out ([`StackPool`]), or, for green threads
//! spawned from outside the runtime's workers, the process-wide free list.
//! Returning a stack costs no syscall: it joins a *dirty* list as it is
//! (the next spawn reuses it without page faults). Pages below the top
//! [`KEEP_BYTES`] of dirty stacks are released with `MADV_DONTNEED` in
//! batches: when a worker goes idle (its own pool, and the process-wide
//! list if no other worker is doing it), and when a dirty list is over
//! its cap. So a burst does not pin memory forever, and a steady stream of
//! short green threads never makes the syscall at all.
//!
//! Releasing on every return, the obvious policy, costs one `madvise` per
//! green thread: several times the whole cost of a spawn and join.
//!
//! Caps: a worker keeps at most [`POOL_DIRTY`] dirty and [`POOL_CLEAN`]
//! released stacks; the process-wide list keeps at most [`GLOBAL_DIRTY`]
//! dirty ones per size. While a worker is busy its dirty stacks can hold
//! up to `POOL_DIRTY` times the pages its green threads touched (with 64 KiB
//! stacks at most 64 MiB, typically a few MiB); it gives them back the
//! next time it has nothing to run. Slabs are never unmapped: they hold
//! address space, not memory.

use std::io;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::sync::Mutex;

use crate::sys::{mmap, page_size};

/// Default usable size of a green-thread stack (see the module docs).
pub const DEFAULT_STACK_SIZE: usize = 64 * 1024;

/// Smallest stack weft hands out: the runtime's own entry path and a panic
/// message need this much.
pub const MIN_STACK_SIZE: usize = 16 * 1024;

/// Bytes at the top of a pooled stack that stay resident when the rest is
/// released: what nearly every green thread touches.
pub(crate) const KEEP_BYTES: usize = 8 * 1024;

/// Dirty (returned, not yet trimmed) stacks a worker keeps.
pub(crate) const POOL_DIRTY: usize = 1024;

/// Trimmed stacks a worker keeps.
pub(crate) const POOL_CLEAN: usize = 1024;

/// Dirty stacks the process-wide free list keeps per size.
pub(crate) const GLOBAL_DIRTY: usize = 4096;

/// Size of one slab reservation.
const SLAB_BYTES: usize = 64 * 1024 * 1024;

/// One guarded stack. Plain addresses: owned by whoever holds the value
/// (a spawn request, a coroutine, a pool), returned to a pool when done.
#[derive(Debug)]
pub(crate) struct Stack {
    /// Highest address (exclusive): where the stack starts growing down.
    top: usize,
    /// Lowest usable address; the guard lies directly below it.
    bottom: usize,
    /// Handed out by the process-wide allocator rather than a worker pool:
    /// it goes back there.
    global: bool,
}

impl Stack {
    /// A placeholder owning no memory (left behind when a stack is moved out).
    pub(crate) const EMPTY: Stack = Stack { top: 0, bottom: 0, global: true };

    /// Usable bytes (excluding the guard).
    pub(crate) fn size(&self) -> usize {
        self.top - self.bottom
    }

    /// The guard region `[start, end)`: a fault there is an overflow.
    pub(crate) fn guard(&self) -> (usize, usize) {
        (self.bottom - page_size(), self.bottom)
    }

    /// Releases every page below the top `keep` bytes.
    fn release_below(&self, keep: usize) {
        let keep = keep.min(self.size());
        mmap::release(self.bottom, self.size() - keep);
    }
}

// SAFETY: `base` and `limit` describe memory this value owns exclusively:
// `[bottom, top)` is readable and writable, at least MIN_STACK_SIZE (>= 4096)
// long, page aligned (so STACK_ALIGNMENT aligned), and `limit` includes the
// guard page directly below `bottom`, which faults on any access.
unsafe impl corosensei::stack::Stack for Stack {
    fn base(&self) -> corosensei::stack::StackPointer {
        corosensei::stack::StackPointer::new(self.top).expect("stack top is never null")
    }

    fn limit(&self) -> corosensei::stack::StackPointer {
        corosensei::stack::StackPointer::new(self.bottom - page_size()).expect("stack limit is never null")
    }
}

const MODE_UNKNOWN: u8 = 0;
const MODE_MADVISE: u8 = 1;
const MODE_MPROTECT: u8 = 2;

/// How guards are installed, decided once per process.
static GUARD_MODE: AtomicU8 = AtomicU8::new(MODE_UNKNOWN);

/// Which mechanism guards the stacks of this process (diagnostics, tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardMode {
    /// `madvise(MADV_GUARD_INSTALL)`: one kernel mapping per slab.
    Madvise,
    /// `mprotect(PROT_NONE)`: two kernel mappings per stack.
    Mprotect,
}

fn guard_mode() -> u8 {
    let mode = GUARD_MODE.load(Relaxed);
    if mode != MODE_UNKNOWN {
        return mode;
    }
    let forced = std::env::var("WEFT_STACK_GUARD").ok();
    let mode = match forced.as_deref() {
        Some("mprotect") => MODE_MPROTECT,
        _ => MODE_MADVISE,
    };
    GUARD_MODE.store(mode, Relaxed);
    mode
}

/// The guard mechanism in use, once the first stack has been allocated.
pub fn stack_guard_mode() -> Option<GuardMode> {
    match GUARD_MODE.load(Relaxed) {
        MODE_MADVISE => Some(GuardMode::Madvise),
        MODE_MPROTECT => Some(GuardMode::Mprotect),
        _ => None,
    }
}

/// Stacks of one usable size: a bump region in the current slab, plus a free
/// list of fully released stacks.
struct SizeClass {
    size: usize,
    /// Next unused byte in the current slab and the slab's end.
    next: usize,
    end: usize,
    /// Returned, pages not released yet.
    dirty: Vec<Stack>,
    /// Pages below the top `KEEP_BYTES` released.
    clean: Vec<Stack>,
}

/// The process-wide allocator. Any thread; behind a mutex because it is
/// reached only when a worker's pool is empty or full.
static CLASSES: Mutex<Vec<SizeClass>> = Mutex::new(Vec::new());

/// Rounds a requested size up to whole pages, at least [`MIN_STACK_SIZE`].
pub(crate) fn round_size(size: usize) -> usize {
    let page = page_size();
    size.max(MIN_STACK_SIZE).div_ceil(page) * page
}

/// Allocates a stack of `size` usable bytes (already rounded) from the
/// process-wide allocator.
pub(crate) fn allocate(size: usize) -> io::Result<Stack> {
    let mut classes = CLASSES.lock().unwrap_or_else(|e| e.into_inner());
    let index = match classes.iter().position(|c| c.size == size) {
        Some(i) => i,
        None => {
            classes.push(SizeClass { size, next: 0, end: 0, dirty: Vec::new(), clean: Vec::new() });
            classes.len() - 1
        }
    };
    let class = &mut classes[index];
    if let Some(mut stack) = class.dirty.pop().or_else(|| class.clean.pop()) {
        stack.global = true;
        return Ok(stack);
    }
    let stride = size + page_size();
    if class.end - class.next < stride {
        let len = SLAB_BYTES.max(stride);
        let slab = mmap::reserve(len).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("weft: cannot reserve {len} bytes of address space for green-thread stacks: {e}"),
            )
        })?;
        // Only advice: a kernel without transparent huge pages refuses it,
        // and then there are no huge pages to avoid.
        let _ = mmap::no_huge_pages(slab, len);
        class.next = slab;
        class.end = slab + len - len % stride;
    }
    let start = class.next;
    install_guard(start, page_size())?;
    class.next += stride;
    Ok(Stack { top: start + stride, bottom: start + page_size(), global: true })
}

fn install_guard(addr: usize, len: usize) -> io::Result<()> {
    if guard_mode() == MODE_MADVISE {
        match mmap::guard_install(addr, len) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                // Kernel older than 6.13: fall back for the whole process.
                GUARD_MODE.store(MODE_MPROTECT, Relaxed);
            }
            Err(e) => return Err(guard_error(e, "madvise(MADV_GUARD_INSTALL)")),
        }
    }
    mmap::protect_none(addr, len).map_err(|e| guard_error(e, "mprotect"))
}

fn guard_error(e: io::Error, call: &str) -> io::Error {
    if e.raw_os_error() == Some(libc::ENOMEM) {
        let limit = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".to_owned());
        io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "weft: cannot allocate a guarded green-thread stack: {call} failed with ENOMEM; \
                 the process has likely reached vm.max_map_count ({limit}): each stack guarded \
                 with mprotect costs two kernel mappings (kernels before 6.13 lack \
                 MADV_GUARD_INSTALL); fewer live green threads or a larger vm.max_map_count help"
            ),
        )
    } else {
        io::Error::new(e.kind(), format!("weft: cannot install a green-thread stack guard: {call}: {e}"))
    }
}

/// Returns a stack to the process-wide free list; [`Stack::EMPTY`] is ignored.
pub(crate) fn free(stack: Stack) {
    if stack.top == 0 {
        return;
    }
    let mut classes = CLASSES.lock().unwrap_or_else(|e| e.into_inner());
    let Some(class) = classes.iter_mut().find(|c| c.size == stack.size()) else {
        unreachable!("a stack of {} bytes was not allocated here", stack.size())
    };
    if class.dirty.len() < GLOBAL_DIRTY {
        class.dirty.push(stack);
    } else {
        stack.release_below(KEEP_BYTES);
        class.clean.push(stack);
    }
}

/// Trims the process-wide dirty lists, unless another thread holds them.
fn trim_global() {
    let Ok(mut classes) = CLASSES.try_lock() else { return };
    for class in classes.iter_mut() {
        while let Some(stack) = class.dirty.pop() {
            stack.release_below(KEEP_BYTES);
            class.clean.push(stack);
        }
    }
}

/// A worker's cache of stacks of the runtime's default size.
/// Owner worker only.
pub(crate) struct StackPool {
    size: usize,
    /// Returned since the last trim; pages not released yet. LIFO: the most
    /// recently used stack is the warmest.
    dirty: Vec<Stack>,
    /// Pages below the top `KEEP_BYTES` released.
    clean: Vec<Stack>,
}

impl StackPool {
    pub(crate) fn new(size: usize) -> StackPool {
        StackPool { size, dirty: Vec::new(), clean: Vec::new() }
    }

    /// A stack of `size` usable bytes (already rounded).
    pub(crate) fn take(&mut self, size: usize) -> io::Result<Stack> {
        if size == self.size {
            if let Some(stack) = self.dirty.pop().or_else(|| self.clean.pop()) {
                return Ok(stack);
            }
        }
        let mut stack = allocate(size)?;
        stack.global = size != self.size;
        Ok(stack)
    }

    /// Takes back a stack whose green thread has finished.
    pub(crate) fn give(&mut self, stack: Stack) {
        if stack.global || stack.size() != self.size {
            free(stack);
        } else if self.dirty.len() < POOL_DIRTY {
            self.dirty.push(stack);
        } else {
            self.keep_clean(stack);
        }
    }

    fn keep_clean(&mut self, stack: Stack) {
        stack.release_below(KEEP_BYTES);
        if self.clean.len() < POOL_CLEAN {
            self.clean.push(stack);
        } else {
            let mut stack = stack;
            stack.global = true;
            free(stack);
        }
    }

    /// Releases the deep pages of every dirty stack, here and (if free) in
    /// the process-wide list. Called when the worker has nothing to run, so
    /// the syscalls never delay a green thread.
    pub(crate) fn trim(&mut self) {
        while let Some(stack) = self.dirty.pop() {
            self.keep_clean(stack);
        }
        trim_global();
    }
}

impl Drop for StackPool {
    fn drop(&mut self) {
        for mut stack in self.dirty.drain(..).chain(self.clean.drain(..)) {
            stack.global = true;
            free(stack);
        }
    }
}

/// Bytes below the caller's frame that [`shrink_stack`] leaves alone: the
/// x86-64 red zone (128 bytes a leaf function may use below its stack
/// pointer) and the frames of the `madvise` call itself, with room to spare.
const SHRINK_MARGIN: usize = 2048;

/// Gives the memory of the calling green thread's stack below the current
/// frame back to the OS; the pages read as zeros and are faulted in again
/// if the stack grows back into them.
///
/// A stack's resident pages are those its deepest call ever touched, and
/// they stay resident while the green thread lives. A green thread that ran
/// deep once (a request handler) and then waits for a long time (an idle
/// keep-alive connection) can call this before the wait, so that ten
/// thousand such waits cost only the pages their shallow wait path uses.
/// Go shrinks idle goroutine stacks for the same reason.
///
/// It costs one `madvise(MADV_DONTNEED)` (about a microsecond, plus page
/// faults when the stack grows again): call it before long waits, not on
/// every wait. On an OS thread it does nothing.
///
/// ```
/// weft::spawn(|| {
///     fn deep(n: u32) -> u32 {
///         let pad = std::hint::black_box([n as u8; 1024]);
///         if n == 0 { 0 } else { deep(n - 1) + u32::from(pad[0]) }
///     }
///     deep(16);
///     weft::shrink_stack(); // the 16 KiB deep() touched go back to the OS
/// })
/// .join()
/// .unwrap();
/// ```
pub fn shrink_stack() {
    let (_, bottom) = super::context::RUNNING.with(|r| r.get().guard);
    if bottom == 0 {
        return;
    }
    let marker = 0u8;
    let here = std::hint::black_box(&marker) as *const u8 as usize;
    let end = here.saturating_sub(SHRINK_MARGIN) & !(page_size() - 1);
    if end > bottom {
        // Everything in [bottom, end) lies below the live frames of this
        // green thread (stacks grow down) by more than the red zone plus the
        // madvise call's own frames: no live object is stored there.
        mmap::release(bottom, end - bottom);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_sizes_round_up_to_pages_and_minimum() {
        assert_eq!(round_size(1), MIN_STACK_SIZE);
        assert_eq!(round_size(MIN_STACK_SIZE + 1), MIN_STACK_SIZE + page_size());
        assert_eq!(round_size(DEFAULT_STACK_SIZE), DEFAULT_STACK_SIZE);
    }

    #[test]
    fn stack_is_writable_to_its_bottom_and_guarded_below() {
        let stack = allocate(round_size(32 * 1024)).unwrap();
        // SAFETY: [bottom, top) is our freshly allocated, writable stack.
        unsafe {
            std::ptr::write_volatile(stack.bottom as *mut u8, 1);
            std::ptr::write_volatile((stack.top - 1) as *mut u8, 2);
        }
        let (lo, hi) = stack.guard();
        assert_eq!(hi - lo, page_size());
        assert_eq!(hi, stack.bottom);
        free(stack);
    }

    #[test]
    fn stack_pool_reuses_and_bounds() {
        let size = round_size(20 * 1024);
        let mut pool = StackPool::new(size);
        let a = pool.take(size).unwrap();
        let a_top = a.top;
        pool.give(a);
        let b = pool.take(size).unwrap();
        assert_eq!(b.top, a_top, "a returned stack is reused first");
        pool.give(b);
        assert_eq!(pool.dirty.len(), 1, "returning a stack makes no syscall: it stays dirty");
        pool.trim();
        assert!(pool.dirty.is_empty());
        assert_eq!(pool.clean.len(), 1);
    }
}
