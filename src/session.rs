//! Sessions: lock owners. Everything acquired through a session belongs to it, and ending the
//! session (drop or [`Session::close`]) releases all of it and cancels its waits, exactly as a
//! network client's disconnect does.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::Mode;
use crate::acquire::Request;
use crate::error::Error;
use crate::manager::Core;
use crate::name::Name;
use crate::sync::Mutex;
use crate::table::{CancelReason, EntryPtr, Node, Release, Settled};
use crate::wait::Waiter;

/// Held entries (looked up by name) and their tokens.
type Holdings = HashMap<Node, u64, foldhash::fast::RandomState>;

/// Capacity a holdings map keeps however few entries are left: shrinking below it saves too
/// little to be worth a rehash.
const KEEP_CAPACITY: usize = 64;

/// Gives back a holdings map's memory once most of it is unused (as the lock table does with
/// its shards): below 1/8 full it shrinks to twice its length. A map grows when full, so a
/// session taking and releasing locks over and over does not resize it each time, and each
/// shrink's rehash follows at least as many releases as it moves entries.
#[inline]
fn shrink(map: &mut Holdings) {
    let cap = map.capacity();
    if cap > KEEP_CAPACITY && map.len() * 8 < cap {
        shrink_now(map);
    }
}

/// Out of line: the release path only pays for the check.
#[cold]
#[inline(never)]
fn shrink_now(map: &mut Holdings) {
    map.shrink_to(map.len() * 2);
}

/// What a session holds and waits for. Guarded by its own mutex, which is always taken before
/// any shard lock.
#[derive(Default)]
pub(crate) struct SessionState {
    closed: bool,
    limit: Option<usize>,
    exclusive: Holdings,
    shared: Holdings,
    /// Queued requests, with the name each waits for.
    pub(crate) pending: Vec<(Arc<Name>, Arc<Waiter>)>,
}

impl SessionState {
    fn map(&self, mode: Mode) -> &Holdings {
        match mode {
            Mode::Exclusive => &self.exclusive,
            Mode::Shared => &self.shared,
        }
    }

    fn map_mut(&mut self, mode: Mode) -> &mut Holdings {
        match mode {
            Mode::Exclusive => &mut self.exclusive,
            Mode::Shared => &mut self.shared,
        }
    }

    pub(crate) fn check_open(&self, id: u64) -> Result<(), Error> {
        if self.closed {
            Err(Error::SessionClosed { session: id })
        } else {
            Ok(())
        }
    }

    /// A new holding must fit the limit; re-acquiring a held lock always works.
    pub(crate) fn check_limit(&self, name: &Name, mode: Mode) -> Result<(), Error> {
        match self.limit {
            Some(limit)
                if self.exclusive.len() + self.shared.len() >= limit
                    && !self.map(mode).contains_key(name) =>
            {
                Err(Error::LockLimit {
                    name: name.into(),
                    limit,
                })
            }
            _ => Ok(()),
        }
    }

    /// Notes a grant (new or rejoined holding; a rejoin has the token already recorded).
    ///
    /// # Safety
    /// The grant is held, so `node` is alive.
    pub(crate) unsafe fn record(&mut self, node: EntryPtr, mode: Mode, token: u64) {
        let map = self.map_mut(mode);
        // SAFETY: forwarded to the caller.
        if !map.contains_key(unsafe { node.name() }) {
            map.insert(unsafe { node.counted() }, token);
        }
    }

    /// Forgets a holding that ended, if `token` is still the recorded one.
    pub(crate) fn forget(&mut self, name: &Name, mode: Mode, token: u64) {
        let map = self.map_mut(mode);
        if map.get(name) == Some(&token) {
            map.remove(name);
            shrink(map);
        }
    }

    /// Removes `waiter` from the pending list; false if it is not there (the session closed).
    pub(crate) fn take_pending(&mut self, waiter: &Arc<Waiter>) -> bool {
        match self
            .pending
            .iter()
            .position(|(_, w)| Arc::ptr_eq(w, waiter))
        {
            Some(at) => {
                self.pending.swap_remove(at);
                true
            }
            None => false,
        }
    }
}

/// Shared by a [`Session`], its guards and the manager's registry.
pub(crate) struct SessionInner {
    pub(crate) id: u64,
    pub(crate) core: Arc<Core>,
    pub(crate) state: Mutex<SessionState>,
}

impl SessionInner {
    /// A guard of this session was dropped: one reference of its holding goes.
    pub(crate) fn release_ref(&self, node: &Node, mode: Mode, token: u64) {
        let mut state = self.state.lock();
        if state.map(mode).get(node.name()) != Some(&token) {
            return; // released by name, or the session closed: nothing left to release
        }
        if let Some(0) | None = self.core.table.release(node, token, Release::One) {
            state.forget(node.name(), mode, token);
        }
    }

    fn release_by_name(&self, name: &Name, mode: Mode) -> bool {
        let mut state = self.state.lock();
        let map = state.map_mut(mode);
        let Some((node, token)) = map.remove_entry(name) else {
            return false;
        };
        shrink(map);
        self.core
            .table
            .release(&node, token, Release::All)
            .is_some()
    }

    /// Takes every pending wait out of its queue without a grant; a grant that already reached
    /// one is given back. The waits' futures then fail with [`Error::SessionClosed`].
    fn cancel_pending(&self, state: &mut SessionState) {
        // A grant that reached a pending waiter is not recorded in `state` yet (the waiter's
        // future records it when it completes), so giving it back is all there is to undo.
        let table = &self.core.table;
        for (name, waiter) in std::mem::take(&mut state.pending) {
            let key = table.key(&name);
            if let Settled::Granted(g) = table.settle(key, &waiter, CancelReason::Cancelled) {
                table.give_back(key, &g);
            }
        }
    }

    /// Cancels the session's pending waits (see [`Session::cancel_waits`]).
    pub(crate) fn cancel_waits(&self) {
        let mut state = self.state.lock();
        self.cancel_pending(&mut state);
    }

    /// Ends the session: cancels its waits, then releases everything it holds (counted as
    /// orphan releases). Idempotent.
    pub(crate) fn close(&self) {
        let mut state = self.state.lock();
        if state.closed {
            return;
        }
        state.closed = true;
        // Waits first, so that releasing this session's own locks grants nothing to it.
        self.cancel_pending(&mut state);
        let table = &self.core.table;
        for (node, token) in std::mem::take(&mut state.exclusive)
            .into_iter()
            .chain(std::mem::take(&mut state.shared))
        {
            table.release(&node, token, Release::Orphan);
        }
        drop(state);
        self.core.unregister(self.id);
    }
}

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

    crate::manager::acquire_methods!();

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
    /// [`Error::LockLimit`]; re-acquiring a held one still works.
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
        let state = self.inner.state.lock();
        state
            .map(Mode::Exclusive)
            .contains_key(Name::new(name.as_ref()))
    }

    /// Whether this session holds `name` shared.
    pub fn holds_shared(&self, name: impl AsRef<[u8]>) -> bool {
        let state = self.inner.state.lock();
        state
            .map(Mode::Shared)
            .contains_key(Name::new(name.as_ref()))
    }

    /// The names this session holds exclusively, in no particular order.
    pub fn held_names(&self) -> Vec<Arc<Name>> {
        let state = self.inner.state.lock();
        state
            .map(Mode::Exclusive)
            .keys()
            .map(|node| node.name().to_arc())
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
    /// [`Error::SessionClosed`]) and releases everything it holds. Later acquires fail with
    /// `SessionClosed`. Dropping the session does the same.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Cancels every wait of this session that is pending now, granting nothing: each fails
    /// with [`Error::SessionClosed`]. Holdings and later acquires are unaffected. A server uses
    /// this when it begins to shut down, before it releases any of its sessions' locks, so that
    /// no lock is handed to a client that is about to be disconnected.
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
        assert!(capacity(&s) <= 2 * super::KEEP_CAPACITY, "{}", capacity(&s));
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
        assert!(capacity(&s) <= super::KEEP_CAPACITY, "{}", capacity(&s));
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
            crate::table::tests::assert_same_size(capacity(&s), cap);
        }
        // Down to half and back up: no resize either way.
        (0..5_000).for_each(|i| assert!(s.release(format!("x{i}"))));
        crate::table::tests::assert_same_size(capacity(&s), cap);
        for i in 0..5_000 {
            s.get(format!("w{i}")).unwrap().keep().unwrap();
        }
        crate::table::tests::assert_same_size(capacity(&s), cap);
    }
}
