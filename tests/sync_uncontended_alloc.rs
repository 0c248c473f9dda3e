//! Uncontended lock and unlock allocate nothing (issue 4: "no syscall and
//! no allocation"). A counting global allocator sees every allocation of
//! this test binary; the test runs alone in its binary so no other test's
//! allocations are counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, SeqCst);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn sync_uncontended_lock_and_unlock_allocate_nothing() {
    let mutex = weft::sync::Mutex::new(0u64);
    let rwlock = weft::sync::RwLock::new(0u64);
    let semaphore = weft::sync::Semaphore::new(1);
    // Warm up anything lazily initialised.
    drop(mutex.lock().unwrap());
    let before = ALLOCATIONS.load(SeqCst);
    for _ in 0..10_000 {
        *mutex.lock().unwrap() += 1;
        *rwlock.write().unwrap() += 1;
        drop(rwlock.read().unwrap());
        drop(semaphore.acquire());
    }
    assert_eq!(ALLOCATIONS.load(SeqCst), before, "an uncontended lock or unlock allocated");
    assert_eq!(*mutex.lock().unwrap(), 10_000);
}
