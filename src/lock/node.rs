//! A lock-table entry's single allocation: a small header (reference count, name length, the
//! entry's state) followed by the name's bytes.
//!
//! The table's hash slots own a [`NodeRef`] (one pointer), so a held lock costs one allocation. A
//! guard finds its entry again by pointer, not by comparing names: a guard of no session holds an
//! uncounted [`NodePtr`], which its own holding keeps valid (the entry stays in the table while it
//! is held, and nothing but that guard can end the holding), so the hot path touches no reference
//! count; a session's holdings list keeps uncounted pointers too (valid while recorded: only the
//! session ends those holdings, and it drops the record as it does), and a session's guards keep
//! counted references, since the session can end a holding while its guards live on. The state inside is only ever touched with the owning
//! shard's mutex held, which is what makes the `UnsafeCell` sound; every access goes through
//! [`NodeRef::state`] or [`NodePtr::state`], whose callers say so.

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use std::hash::{Hash, Hasher};
use std::ptr::{self, NonNull};

use crate::lock::name::Name;
use crate::lock::sync::{AtomicUsize, Ordering, UnsafeCell, fence};

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

// SAFETY: (I1, I6) the state is only accessed under the owning shard's mutex, the name does not
// change while shared, and the reference count is atomic: like `Arc<Mutex<S>>`.
unsafe impl<S: Send> Send for NodeRef<S> {}
// SAFETY: as for `Send`: shared use goes through the shard's mutex (I1).
unsafe impl<S: Send> Sync for NodeRef<S> {}

/// Where a node's name bytes start: right after its header.
fn name_start<S>(raw: *mut Header<S>) -> *mut u8 {
    raw.cast::<u8>()
        .wrapping_add(std::mem::size_of::<Header<S>>())
}

impl<S> NodeRef<S> {
    /// The allocation for a name of `len` bytes: header and name, rounded up to 16 bytes (the
    /// allocator's own granularity, so the rounding costs no memory) so that names of similar
    /// length share a size class and a spare node can be [reused](Self::reuse).
    fn layout(len: usize) -> Layout {
        Layout::from_size_align(Self::size(len), std::mem::align_of::<Header<S>>())
            .expect("node layout fits in memory")
    }

    /// The rounded size behind [`layout`](Self::layout). A name's length is at most
    /// `isize::MAX` (it is a slice), so this cannot overflow.
    #[inline]
    fn size(len: usize) -> usize {
        (std::mem::size_of::<Header<S>>() + len).next_multiple_of(16)
    }

    /// Whether this is the only reference to the node.
    #[inline]
    pub(crate) fn is_unique(&self) -> bool {
        self.header().refs.load(Ordering::Acquire) == 1
    }

    /// Whether this node is the only reference to it and its allocation is `name`'s size
    /// class, so that [`reuse`](Self::reuse) may give it to another entry.
    #[inline]
    pub(crate) fn reusable_for(&self, name: &Name) -> bool {
        self.is_unique() && Self::size(name.as_bytes().len()) == Self::size(self.header().len)
    }

    /// This node, renamed `name`, with its state set up by `init` (from the state it had): a new
    /// entry without an allocation. Only for a node that is [`reusable_for`](Self::reusable_for)
    /// the name, and only where the node's state may be touched (its shard's mutex is held).
    #[inline]
    pub(crate) fn reuse(self, name: &Name, init: impl FnOnce(&mut S)) -> Self {
        debug_assert!(
            self.reusable_for(name),
            "a node is reused only when it fits"
        );
        let bytes = name.as_bytes();
        let raw = self.ptr.as_ptr();
        // SAFETY: (I6) this is the only reference (the caller checked), so nothing else reads the
        // header, state or name while they are rewritten.
        let header = unsafe { &mut *raw };
        header.len = bytes.len();
        // SAFETY: (I1) the only reference, and the shard lock is held (the caller's part).
        header.state.with_mut(|state| init(unsafe { &mut *state }));
        // SAFETY: (I13) the allocation holds `bytes.len()` name bytes after the header (same size
        // class), and nothing else reads them (the only reference).
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), name_start(raw), bytes.len()) };
        self
    }

    /// A node named `name` holding `state`, with one reference.
    pub(crate) fn new(name: &Name, state: S) -> Self {
        let bytes = name.as_bytes();
        let layout = Self::layout(bytes.len());
        // SAFETY: (I13) the layout is non-zero-sized (it contains the header).
        let raw = unsafe { alloc(layout) } as *mut Header<S>;
        let Some(ptr) = NonNull::new(raw) else {
            handle_alloc_error(layout)
        };
        let header = Header {
            refs: AtomicUsize::new(1),
            len: bytes.len(),
            state: UnsafeCell::new(state),
        };
        // SAFETY: (I13) `raw` is freshly allocated, aligned for a header.
        unsafe { ptr::write(raw, header) };
        // SAFETY: (I13) the allocation holds `bytes.len()` bytes after the header, not yet shared.
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), name_start(raw), bytes.len()) };
        NodeRef { ptr }
    }

    fn header(&self) -> &Header<S> {
        // SAFETY: (I5) the node lives while any reference to it does.
        unsafe { self.ptr.as_ref() }
    }

    /// The lock's name.
    pub(crate) fn name(&self) -> &Name {
        // SAFETY: (I5) this reference keeps the node alive.
        unsafe { self.ptr().name() }
    }

    /// Calls `f` with the entry's state, for reading.
    ///
    /// # Safety
    /// The caller holds the mutex of the shard this node belongs to (I1).
    #[inline]
    pub(crate) unsafe fn with_state<R>(&self, f: impl FnOnce(&S) -> R) -> R {
        // SAFETY: this reference keeps the node alive (I5); the rest is the caller's (I1).
        unsafe { self.ptr().with_state(f) }
    }

    /// Calls `f` with the entry's state, for writing.
    ///
    /// # Safety
    /// As for [`with_state`](Self::with_state).
    #[inline]
    pub(crate) unsafe fn with_state_mut<R>(&self, f: impl FnOnce(&mut S) -> R) -> R {
        // SAFETY: this reference keeps the node alive (I5); the rest is the caller's (I1).
        unsafe { self.ptr().with_state_mut(f) }
    }

    /// An uncounted pointer to this node.
    pub(crate) fn ptr(&self) -> NodePtr<S> {
        NodePtr { ptr: self.ptr }
    }
}

/// An uncounted pointer to a node: valid only while something else keeps the node alive (see the
/// module docs). Its accessors are `unsafe` for that reason.
pub(crate) struct NodePtr<S> {
    ptr: NonNull<Header<S>>,
}

impl<S> Clone for NodePtr<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for NodePtr<S> {}

// SAFETY: (I1, I4, I5) as for `NodeRef`; a `NodePtr` is only dereferenced while the node is alive.
unsafe impl<S: Send> Send for NodePtr<S> {}
// SAFETY: (I1) as for `Send`.
unsafe impl<S: Send> Sync for NodePtr<S> {}

impl<S> NodePtr<S> {
    /// The lock's name.
    ///
    /// # Safety
    /// The node is alive while the name is used.
    pub(crate) unsafe fn name<'a>(self) -> &'a Name {
        // SAFETY: (I4, I5) the node is alive (the caller says so).
        let len = unsafe { (*self.ptr.as_ptr()).len };
        let start = name_start(self.ptr.as_ptr());
        // SAFETY: (I6) `len` bytes were written right after the header and do not change while
        // the node is shared; the node outlives the use (the caller says so).
        Name::new(unsafe { std::slice::from_raw_parts(start, len) })
    }

    /// Calls `f` with the entry's state, for reading. Under loom the access is checked against
    /// every other thread's.
    ///
    /// # Safety
    /// The node is alive (I4, I5) and the caller holds its shard's mutex (I1); `f` gets the only
    /// reference into the state while it runs.
    #[inline]
    pub(crate) unsafe fn with_state<'a, R>(self, f: impl FnOnce(&S) -> R) -> R
    where
        S: 'a,
    {
        // SAFETY: (I4, I5) the node is alive, so its header is (the caller says so).
        let cell = unsafe { &(*self.ptr.as_ptr()).state };
        // SAFETY: (I1) the shard mutex is held, so no write to the state is under way, and the
        // reference does not leave `f`.
        cell.with(|state| f(unsafe { &*state }))
    }

    /// Calls `f` with the entry's state, for writing. Under loom the access is checked against
    /// every other thread's.
    ///
    /// # Safety
    /// As for [`with_state`](Self::with_state).
    #[inline]
    pub(crate) unsafe fn with_state_mut<R>(self, f: impl FnOnce(&mut S) -> R) -> R {
        // SAFETY: (I4, I5) the node is alive, so its header is (the caller says so).
        let cell = unsafe { &(*self.ptr.as_ptr()).state };
        // SAFETY: (I1) the shard mutex is held, so this is the only access to the state, and
        // the reference does not leave `f`.
        cell.with_mut(|state| f(unsafe { &mut *state }))
    }

    /// A counted reference to the node.
    ///
    /// # Safety
    /// The node is alive.
    pub(crate) unsafe fn counted(self) -> NodeRef<S> {
        // SAFETY: (I4, I5) the node is alive (the caller says so); Relaxed as in `NodeRef::clone`.
        unsafe { (*self.ptr.as_ptr()).refs.fetch_add(1, Ordering::Relaxed) };
        NodeRef { ptr: self.ptr }
    }

    /// Whether `node` is this node.
    pub(crate) fn is(self, node: &NodeRef<S>) -> bool {
        self.ptr == node.ptr
    }

    /// Whether `other` points to the same node.
    pub(crate) fn is_ptr(self, other: NodePtr<S>) -> bool {
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
        // The last reference (the common case: the table's, when its entry is removed) needs no
        // read-modify-write. A count of 1 seen by a holder of a reference cannot rise meanwhile
        // (only a reference can be cloned), and the Acquire load makes every earlier drop's uses
        // happen before the deallocation, as the fence below does for the general case.
        if self.header().refs.load(Ordering::Acquire) != 1 {
            // Release/Acquire as in `Arc::drop`: every use happens before the deallocation.
            if self.header().refs.fetch_sub(1, Ordering::Release) != 1 {
                return;
            }
            fence(Ordering::Acquire);
        }
        let layout = Self::layout(self.header().len);
        // SAFETY: (I5) this was the last reference; the header was initialised in `new`.
        unsafe { ptr::drop_in_place(self.ptr.as_ptr()) };
        // SAFETY: (I13) allocated in `new` with this layout (the length never changes its size class).
        unsafe { dealloc(self.ptr.as_ptr().cast::<u8>(), layout) };
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
        assert!(a.ptr().is(&b));
        // SAFETY: (I1) single-threaded test: no other access to the state.
        unsafe { b.with_state_mut(|s| s.push(3)) };
        drop(a);
        // SAFETY: (I1) as above.
        assert_eq!(unsafe { b.with_state(|s| s.len()) }, 3);
        let empty = NodeRef::new(Name::new(""), ());
        assert_eq!(empty.name(), "");
        let other = NodeRef::new(Name::new(""), ());
        assert!(!empty.ptr().is(&other) && empty == other);
    }

    #[test]
    fn a_spare_node_is_reused_only_unshared_and_in_its_size_class() {
        let a = NodeRef::new(Name::new("jobs/nightly-0042"), vec![1u32]);
        let at = a.ptr();
        assert!(a.reusable_for(Name::new("jobs/nightly-0043")));
        assert!(!a.reusable_for(Name::new("jobs/nightly-0042/and-a-much-longer-suffix")));
        let b = a.clone();
        assert!(!a.reusable_for(Name::new("jobs/nightly-0043")), "shared");
        drop(b);
        let a = a.reuse(Name::new("jobs/nightly-0043"), |v| v.push(7));
        assert!(at.is(&a), "same allocation");
        assert_eq!(a.name(), "jobs/nightly-0043");
        // SAFETY: (I1) single-threaded test: no other access to the state.
        assert_eq!(unsafe { a.with_state(|s| s.clone()) }, vec![1, 7]);
    }
}
