//! What the core's hot paths allocate, counted by a wrapping global allocator: a rejected try
//! allocates nothing (its error shares the held entry's name), and taking and releasing a name
//! again reuses the entry's allocation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use lockd::{Contention, Error, LockManager};

struct Counting;

thread_local! {
    /// Allocations made by this thread (each test counts only its own thread's).
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches no memory
// it hands out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCS.with(Cell::get);
    f();
    ALLOCS.with(Cell::get) - before
}

#[test]
fn a_rejected_try_allocates_nothing_and_still_names_the_lock() {
    let mgr = LockManager::new();
    let session = mgr.session();
    let _held = mgr.get("jobs/nightly").unwrap();
    let _shared = mgr.get_shared("pool").unwrap();
    let mut errors = Vec::with_capacity(4);
    let n = allocations(|| {
        errors.push(mgr.get("jobs/nightly").unwrap_err());
        errors.push(session.get("jobs/nightly").unwrap_err());
        errors.push(mgr.get_shared("jobs/nightly").unwrap_err());
        errors.push(mgr.get("pool").unwrap_err());
    });
    assert_eq!(n, 0, "a refusal allocated");
    match &errors[0] {
        Error::WouldBlock { name, reason, .. } => {
            assert_eq!(name, "jobs/nightly");
            assert_eq!(*reason, Contention::HeldExclusive);
        }
        other => panic!("{other:?}"),
    }
    assert!(errors[3].to_string().contains("\"pool\""), "{}", errors[3]);
    // The error outlives the holding and the manager, naming its lock all along.
    drop((_held, _shared, session, mgr));
    assert!(errors[1].to_string().contains("jobs/nightly"));
}

#[test]
fn taking_and_releasing_a_name_again_allocates_nothing() {
    let mgr = LockManager::new();
    drop(mgr.get("warm").unwrap()); // the shard's spare entry now exists
    let n = allocations(|| {
        for _ in 0..1_000 {
            drop(mgr.get("warm").unwrap());
            drop(mgr.get_shared("warm").unwrap());
        }
    });
    assert_eq!(n, 0, "the entry was not reused");
}
