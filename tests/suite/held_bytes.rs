//! What a structure really holds on the heap, for tests of memory bounds that the code can
//! only estimate: the suite's global allocator counts, per thread, the bytes allocated and not
//! yet freed, and the allocations made. A test reads the count before and after an operation on one thread (tokio's
//! default test runtime runs everything on the test's thread).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    /// Bytes this thread allocated minus bytes it freed.
    static HELD: Cell<isize> = const { Cell::new(0) };
    /// Allocations this thread made (a `realloc` counts as one).
    static MADE: Cell<usize> = const { Cell::new(0) };
}

/// The system allocator, counting.
pub struct Counting;

fn add(bytes: usize, sign: isize) {
    // Never panics (and never allocates): during a thread's teardown the count is gone.
    let _ = HELD.try_with(|held| held.set(held.get() + sign * bytes as isize));
    if sign > 0 {
        let _ = MADE.try_with(|made| made.set(made.get() + 1));
    }
}

// SAFETY: every call is forwarded to `System` unchanged; the counting touches no memory the
// caller owns.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc`, passed on.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            add(layout.size(), 1);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc`, passed on.
        unsafe { System.dealloc(ptr, layout) };
        add(layout.size(), -1);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc`, passed on.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            add(layout.size(), -1);
            add(new_size, 1);
        }
        new
    }
}

/// The bytes this thread holds now.
pub fn held() -> isize {
    HELD.with(Cell::get)
}

/// How many allocations this thread has made so far.
pub fn allocations() -> usize {
    MADE.with(Cell::get)
}
