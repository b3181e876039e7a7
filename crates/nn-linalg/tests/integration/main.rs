//! Integration tests of `nn-linalg`, built as one binary to keep link time down.

#![allow(
    clippy::unwrap_used,
    clippy::float_cmp,
    reason = "tests: a failure should stop them; exact comparisons are intended"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

mod packed;
mod scratch;
mod upper_state;
mod vmath;

/// Counts the allocations of each thread (for `scratch.rs`); otherwise the system allocator.
struct CountingPerThread;

thread_local! {
    /// Allocations on this thread so far. A `const` initialiser with no destructor: reading it
    /// never allocates, even inside the allocator.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

/// The allocations made by the calling thread so far.
fn thread_allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

fn count_one() {
    // `try_with`: nothing to count while the thread's storage is being torn down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

#[allow(unsafe_code, reason = "a global allocator must implement the unsafe GlobalAlloc trait")]
// SAFETY: every method forwards unchanged to the system allocator; it only counts.
unsafe impl GlobalAlloc for CountingPerThread {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingPerThread = CountingPerThread;
