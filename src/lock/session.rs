//! Sessions: lock owners. Everything acquired through a session belongs to it, and ending the
//! session (drop or [`Session::close`]) releases all of it and cancels its waits, exactly as a
//! network client's disconnect does.

use std::fmt;
use std::sync::Arc;

use crate::lock::acquire::Request;
use crate::lock::mode::Mode;
use crate::lock::name::Name;
use crate::lock::owner::SessionInner;

/// A lock owner. Locks acquired through a session belong to it, and it releases them all when it
/// is dropped or [closed](Session::close), even if guards from it are still alive elsewhere
/// (their later drop is then a no-op). This is how "a disconnect releases everything" works.
///
/// **Re-acquiring.** A session that acquires a lock it already holds in the same mode rejoins
/// its holding at once, even past queued waiters: it gets another guard with the *same* token
/// (and, for shared locks, an unchanged count). The holding counts its guards, like PostgreSQL's
/// advisory locks and `parking_lot::ReentrantMutex`: it ends when the last of them is dropped,
/// or at once on [`release`](Session::release). Holding the *other* mode is no exception: a
/// session holding `x` shared that asks for `x` exclusively is one more contender (and waits
/// forever if it waits with no timeout while keeping its shared guard).
///
/// ```
/// use lockd::LockManager;
///
/// let mgr = LockManager::new();
/// let alice = mgr.session();
/// let bob = mgr.session();
/// let g = alice.get("deploy")?;
/// assert!(bob.get("deploy").is_err());
/// let again = alice.get("deploy")?;          // rejoins: same token
/// assert_eq!(again.token(), g.token());
/// drop(alice);                               // releases everything alice held
/// assert!(bob.get("deploy").is_ok());
/// drop((g, again));                          // no-ops now
/// # Ok::<(), lockd::Error>(())
/// ```
pub struct Session {
    inner: Arc<SessionInner>,
}

impl Session {
    pub(crate) fn new(inner: Arc<SessionInner>) -> Self {
        Session { inner }
    }

    fn request<'a>(&'a self, name: &'a Name, mode: Mode) -> Request<'a> {
        Request {
            core: &self.inner.core,
            session: Some(&self.inner),
            name,
            mode,
            limit: usize::MAX,
        }
    }

    crate::lock::acquire::acquire_methods!();

    /// The session's id: unique in this process, never reused, counting from 1.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// Registers a display name for this session (e.g. a client's `iam` name). Names are labels
    /// only, need not be unique, and appear in [`LockManager::snapshot`](crate::LockManager::snapshot).
    pub fn set_name(&self, name: impl AsRef<[u8]>) {
        self.inner
            .core
            .set_session_name(self.inner.id, Some(Name::new(name.as_ref()).to_arc()));
    }

    /// Removes the registered name.
    pub fn clear_name(&self) {
        self.inner.core.set_session_name(self.inner.id, None);
    }

    /// The registered name, if any.
    pub fn name(&self) -> Option<Arc<Name>> {
        self.inner.core.session_name(self.inner.id)
    }

    /// Limits how many locks (exclusive plus shared holdings) this session may hold at once;
    /// `None` (the default) means no limit. At the limit, acquiring a new lock fails with
    /// [`Error::LockLimit`](crate::Error::LockLimit); re-acquiring a held one still works.
    pub fn set_lock_limit(&self, limit: Option<usize>) {
        self.inner.state.lock().limit = limit;
    }

    /// Releases this session's exclusive holding of `name` whatever guards or kept references
    /// stand for it (their later drop is a no-op). Returns whether it held it.
    pub fn release(&self, name: impl AsRef<[u8]>) -> bool {
        self.inner
            .release_by_name(Name::new(name.as_ref()), Mode::Exclusive)
    }

    /// Leaves this session's shared holding of `name`, as [`release`](Session::release) does for
    /// exclusive ones. Returns whether it held it.
    pub fn release_shared(&self, name: impl AsRef<[u8]>) -> bool {
        self.inner
            .release_by_name(Name::new(name.as_ref()), Mode::Shared)
    }

    /// Whether this session holds `name` exclusively.
    pub fn holds(&self, name: impl AsRef<[u8]>) -> bool {
        self.holds_in(Name::new(name.as_ref()), Mode::Exclusive)
    }

    /// Whether this session holds `name` shared.
    pub fn holds_shared(&self, name: impl AsRef<[u8]>) -> bool {
        self.holds_in(Name::new(name.as_ref()), Mode::Shared)
    }

    fn holds_in(&self, name: &Name, mode: Mode) -> bool {
        let key = self.inner.core.table.key(name);
        let state = self.inner.state.lock();
        state.holdings(mode).get(key.hash, name).is_some()
    }

    /// The names this session holds exclusively, in no particular order.
    pub fn held_names(&self) -> Vec<Arc<Name>> {
        let state = self.inner.state.lock();
        state
            .holdings(Mode::Exclusive)
            .names()
            .map(Name::to_arc)
            .collect()
    }

    /// How many exclusive and how many shared holdings this session has.
    pub fn held_counts(&self) -> (usize, usize) {
        let state = self.inner.state.lock();
        (state.exclusive.len(), state.shared.len())
    }

    /// How many holdings (exclusive plus shared) this session has.
    pub fn lock_count(&self) -> usize {
        let state = self.inner.state.lock();
        state.exclusive.len() + state.shared.len()
    }

    /// Ends the session now: cancels its pending waits (they fail with
    /// [`Error::SessionClosed`](crate::Error::SessionClosed)) and releases everything it holds.
    /// Later acquires fail with `SessionClosed`. Dropping the session does the same.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Cancels every wait of this session that is pending now, granting nothing: each fails
    /// with [`Error::SessionClosed`]. Holdings and later acquires are unaffected. A server uses
    /// this when it begins to shut down, before it releases any of its sessions' locks, so that
    /// no lock is handed to a client that is about to be disconnected.
    #[cfg_attr(not(feature = "tcp-server"), allow(dead_code))]
    pub(crate) fn cancel_waits(&self) {
        self.inner.cancel_waits();
    }

    /// Whether the session has been closed.
    pub fn is_closed(&self) -> bool {
        self.inner.state.lock().closed
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.inner.close();
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.inner.id)
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::LockManager;

    fn capacity(s: &super::Session) -> usize {
        let state = s.inner.state.lock();
        state.exclusive.capacity() + state.shared.capacity()
    }

    #[test]
    fn holdings_give_their_memory_back_after_a_mass_release() {
        let mgr = LockManager::new();
        let s = mgr.session();
        for i in 0..50_000 {
            s.get(format!("x{i}")).unwrap().keep().unwrap();
            s.get_shared(format!("s{i}")).unwrap().keep().unwrap();
        }
        assert!(capacity(&s) >= 100_000);
        for i in 0..50_000 {
            assert!(s.release(format!("x{i}")) && s.release_shared(format!("s{i}")));
        }
        assert_eq!(s.lock_count(), 0);
        assert!(
            capacity(&s) <= 2 * crate::lock::holdings::KEEP_CAPACITY,
            "{}",
            capacity(&s)
        );
    }

    #[test]
    fn holdings_shrink_when_guards_are_dropped_too() {
        let mgr = LockManager::new();
        let s = mgr.session();
        let guards: Vec<_> = (0..20_000)
            .map(|i| s.get(format!("x{i}")).unwrap())
            .collect();
        assert!(capacity(&s) >= 20_000);
        drop(guards);
        assert_eq!(s.lock_count(), 0);
        assert!(
            capacity(&s) <= crate::lock::holdings::KEEP_CAPACITY,
            "{}",
            capacity(&s)
        );
    }

    #[test]
    fn taking_and_releasing_at_a_steady_level_does_not_resize() {
        let mgr = LockManager::new();
        let s = mgr.session();
        for i in 0..10_000 {
            s.get(format!("x{i}")).unwrap().keep().unwrap();
        }
        let cap = capacity(&s);
        for i in 0..10_000 {
            drop(s.get(format!("y{i}")).unwrap());
            s.get(format!("z{i}")).unwrap().keep().unwrap();
            assert!(s.release(format!("z{i}")));
            crate::lock::table::tests::assert_same_size(capacity(&s), cap);
        }
        // Down to half and back up: no resize either way.
        (0..5_000).for_each(|i| assert!(s.release(format!("x{i}"))));
        crate::lock::table::tests::assert_same_size(capacity(&s), cap);
        for i in 0..5_000 {
            s.get(format!("w{i}")).unwrap().keep().unwrap();
        }
        crate::lock::table::tests::assert_same_size(capacity(&s), cap);
    }
}
