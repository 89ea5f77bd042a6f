//! A lock-table entry's single allocation: a small header (reference count, name length, the
//! entry's state) followed by the name's bytes.
//!
//! The table's hash slots hold a [`NodeRef`] (one pointer), and a guard holds another, so a held
//! lock costs one allocation and a guard finds its entry again by pointer, not by comparing names.
//! The state inside is only ever touched with the owning shard's mutex held, which is what makes
//! the `UnsafeCell` sound; every access goes through [`NodeRef::state`], whose callers say so.

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use std::cell::UnsafeCell;
use std::hash::{Hash, Hasher};
use std::ptr::{self, NonNull};

use crate::name::Name;
use crate::sync::{AtomicUsize, Ordering, fence};

#[repr(C)]
struct Header<S> {
    refs: AtomicUsize,
    len: usize,
    state: UnsafeCell<S>,
}

/// A counted reference to a node (`Arc`-like, but the name lives inline).
pub(crate) struct NodeRef<S> {
    ptr: NonNull<Header<S>>,
}

// SAFETY: the state is only accessed under the owning shard's mutex (see `state`), the name is
// immutable, and the reference count is atomic: like `Arc<Mutex-protected S>`.
unsafe impl<S: Send> Send for NodeRef<S> {}
unsafe impl<S: Send> Sync for NodeRef<S> {}

impl<S> NodeRef<S> {
    fn layout(len: usize) -> Layout {
        let (layout, _) = Layout::new::<Header<S>>()
            .extend(Layout::array::<u8>(len).expect("name length fits in memory"))
            .expect("node layout fits in memory");
        layout.pad_to_align()
    }

    /// A node named `name` holding `state`, with one reference.
    pub(crate) fn new(name: &Name, state: S) -> Self {
        let bytes = name.as_bytes();
        let layout = Self::layout(bytes.len());
        // SAFETY: the layout is non-zero-sized (it contains the header).
        let raw = unsafe { alloc(layout) } as *mut Header<S>;
        let Some(ptr) = NonNull::new(raw) else {
            handle_alloc_error(layout)
        };
        // SAFETY: `raw` is freshly allocated for a header followed by `bytes.len()` bytes.
        unsafe {
            ptr::write(
                raw,
                Header {
                    refs: AtomicUsize::new(1),
                    len: bytes.len(),
                    state: UnsafeCell::new(state),
                },
            );
            let dst = (raw as *mut u8).add(std::mem::size_of::<Header<S>>());
            ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len());
        }
        NodeRef { ptr }
    }

    fn header(&self) -> &Header<S> {
        // SAFETY: the node lives while any reference to it does.
        unsafe { self.ptr.as_ref() }
    }

    /// The lock's name.
    pub(crate) fn name(&self) -> &Name {
        let len = self.header().len;
        // SAFETY: `len` bytes were written right after the header and never change.
        let bytes = unsafe {
            let start = (self.ptr.as_ptr() as *const u8).add(std::mem::size_of::<Header<S>>());
            std::slice::from_raw_parts(start, len)
        };
        Name::new(bytes)
    }

    /// The entry's state.
    ///
    /// # Safety
    /// The caller holds the mutex of the shard this node belongs to, and drops the returned
    /// reference before releasing it; no other reference from `state` is alive meanwhile.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn state(&self) -> &mut S {
        // SAFETY: exclusive access is guaranteed by the caller holding the shard mutex.
        unsafe { &mut *self.header().state.get() }
    }

    /// Whether two references name the same node.
    pub(crate) fn same(&self, other: &Self) -> bool {
        self.ptr == other.ptr
    }
}

impl<S> Clone for NodeRef<S> {
    fn clone(&self) -> Self {
        // Relaxed, as in `Arc::clone`: a new reference is made from an existing one.
        self.header().refs.fetch_add(1, Ordering::Relaxed);
        NodeRef { ptr: self.ptr }
    }
}

impl<S> Drop for NodeRef<S> {
    fn drop(&mut self) {
        // Release/Acquire as in `Arc::drop`: every use happens before the deallocation.
        if self.header().refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        let layout = Self::layout(self.header().len);
        // SAFETY: this was the last reference; the header was initialised in `new`.
        unsafe {
            ptr::drop_in_place(self.ptr.as_ptr());
            dealloc(self.ptr.as_ptr() as *mut u8, layout);
        }
    }
}

impl<S> Hash for NodeRef<S> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name().hash(state) // as `Name` hashes, so `Borrow<Name>` lookups work
    }
}

impl<S> PartialEq for NodeRef<S> {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl<S> Eq for NodeRef<S> {}

impl<S> std::borrow::Borrow<Name> for NodeRef<S> {
    fn borrow(&self) -> &Name {
        self.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_state_and_refcounts() {
        let a = NodeRef::new(Name::new(b"a\x00b"), vec![1u32, 2]);
        assert_eq!(a.name().as_bytes(), b"a\x00b");
        let b = a.clone();
        assert!(a.same(&b));
        // SAFETY: single-threaded test; no other state reference is alive.
        unsafe { b.state().push(3) };
        drop(a);
        // SAFETY: as above.
        assert_eq!(unsafe { b.state() }.len(), 3);
        let empty = NodeRef::new(Name::new(""), ());
        assert_eq!(empty.name(), "");
        let other = NodeRef::new(Name::new(""), ());
        assert!(!empty.same(&other) && empty == other);
    }
}
