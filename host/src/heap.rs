//! Giving freed heap memory back to the system after a burst (a connection flood):
//! allocators keep freed pages for reuse, so without this the memory thousands of
//! closed connections used would stay resident until a restart.
//!
//! mimalloc (the binary's allocator) keeps freed pages per thread, and only a
//! thread can collect its own heap; so a release is a generation bump that every
//! runtime worker acts on when it next goes idle (`on_worker_park`, one atomic load
//! otherwise), besides collecting the calling thread and trimming glibc's heap.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

static GENERATION: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COLLECTED: Cell<u64> = const { Cell::new(0) };
}

/// Asks every thread to give its free memory back; run on a blocking thread.
pub fn release() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
    collect_this_thread();
    trim_system_heap();
}

/// The runtime's `on_thread_park` hook: collects this worker's heap once per release.
pub fn on_worker_park() {
    let generation = GENERATION.load(Ordering::Relaxed);
    if COLLECTED.get() != generation {
        COLLECTED.set(generation);
        collect_this_thread();
    }
}

#[allow(unsafe_code)] // FFI: the allocators' own release calls
fn collect_this_thread() {
    // SAFETY: mi_collect takes no pointers; it frees this thread's unused pages.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim_system_heap() {
    // SAFETY: malloc_trim takes no pointers; it returns free pages of glibc's heap.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_system_heap() {}
