//! What the manager, its sessions and their guards share: the manager's [`Core`] (the table and
//! the session registry) and a session's [`SessionInner`] (its holdings and pending waits, under
//! the session's own mutex). It sits below `manager`, `session`, `acquire` and `guard`, which all
//! use it, so none of them needs another's internals.

use std::collections::HashMap;
use std::sync::Arc;

use super::error::Error;
use super::holdings::Holdings;
use super::mode::Mode;
use super::name::Name;
use super::sync::{AtomicU64, Mutex};
use super::table::{CancelReason, EntryPtr, Key, Node, Release, Settled, Table};
use super::wait::Waiter;

/// What every handle, session and queued wait of one manager shares (a session's guards reach it
/// through their session). Aligned so that the `Arc`'s reference counts (changed by every new
/// handle, session and wait) do not share a cache line with the table's read-mostly fields.
#[repr(align(128))]
pub(crate) struct Core {
    pub(crate) table: Table,
    pub(crate) next_session: AtomicU64,
    /// Live sessions and their registered names.
    pub(crate) sessions: Mutex<HashMap<u64, Option<Arc<Name>>, foldhash::fast::RandomState>>,
}

impl Core {
    pub(crate) fn unregister(&self, id: u64) {
        self.sessions.lock().remove(&id);
    }

    pub(crate) fn set_session_name(&self, id: u64, name: Option<Arc<Name>>) {
        if let Some(slot) = self.sessions.lock().get_mut(&id) {
            *slot = name;
        }
    }

    pub(crate) fn session_name(&self, id: u64) -> Option<Arc<Name>> {
        self.sessions.lock().get(&id).cloned().flatten()
    }
}

/// What a session holds and waits for. Guarded by its own mutex, which is always taken before
/// any shard lock.
#[derive(Default)]
pub(crate) struct SessionState {
    pub(crate) closed: bool,
    pub(crate) limit: Option<usize>,
    pub(crate) exclusive: Holdings,
    pub(crate) shared: Holdings,
    /// Queued requests, with the name each waits for.
    pub(crate) pending: Vec<(Arc<Name>, Arc<Waiter>)>,
}

impl SessionState {
    pub(crate) fn holdings(&self, mode: Mode) -> &Holdings {
        match mode {
            Mode::Exclusive => &self.exclusive,
            Mode::Shared => &self.shared,
        }
    }

    fn holdings_mut(&mut self, mode: Mode) -> &mut Holdings {
        match mode {
            Mode::Exclusive => &mut self.exclusive,
            Mode::Shared => &mut self.shared,
        }
    }

    /// Whether a new request may proceed: the session is open and, if it has a lock limit, the
    /// request fits it (re-acquiring a held lock always works). The common case (open, no limit)
    /// costs two tests; the errors are made out of line.
    #[inline]
    pub(crate) fn check_request(&self, id: u64, key: Key<'_>, mode: Mode) -> Result<(), Error> {
        if self.closed || self.limit.is_some() {
            self.check_slow(id, key, mode)
        } else {
            Ok(())
        }
    }

    #[cold]
    #[inline(never)]
    fn check_slow(&self, id: u64, key: Key<'_>, mode: Mode) -> Result<(), Error> {
        if self.closed {
            return Err(Error::SessionClosed { session: id });
        }
        match self.limit {
            Some(limit)
                if self.exclusive.len() + self.shared.len() >= limit
                    && self.holdings(mode).get(key.hash, key.name).is_none() =>
            {
                Err(Error::LockLimit {
                    name: key.name.into(),
                    limit,
                })
            }
            _ => Ok(()),
        }
    }

    /// Notes a grant (new or rejoined holding; a rejoin has the token already recorded).
    ///
    /// # Safety
    /// The grant is held, so `node` is alive (I3, I5).
    #[inline]
    pub(crate) unsafe fn record(
        &mut self,
        table: &Table,
        hash: u64,
        node: EntryPtr,
        mode: Mode,
        token: u64,
    ) {
        // SAFETY: (I3, I5) forwarded from the caller.
        unsafe { self.holdings_mut(mode).record(table, hash, node, token) }
    }

    /// Forgets a holding of `node` that ended, if `token` is still the recorded one.
    #[inline]
    pub(crate) fn forget(
        &mut self,
        table: &Table,
        hash: u64,
        node: EntryPtr,
        mode: Mode,
        token: u64,
    ) {
        self.holdings_mut(mode).remove_if(table, hash, node, token);
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
    /// A guard of this session was dropped: one reference of its holding goes. `hash` is the
    /// table's hash of its name.
    #[inline]
    pub(crate) fn release_ref(&self, node: &Node, hash: u64, mode: Mode, token: u64) {
        let table = &self.core.table;
        let mut state = self.state.lock();
        // A no-op when the holding was released by name or the session closed.
        state
            .holdings_mut(mode)
            .release_ref(table, hash, node.ptr(), token, || {
                // SAFETY: (I4, I5) the holding is recorded, so it is held and only this
                // session, whose state lock is held, can end it; the guard's counted reference
                // keeps the node in any case.
                unsafe { table.release_hashed(hash, node.ptr(), token, Release::One) }
            });
    }

    pub(crate) fn release_by_name(&self, name: &Name, mode: Mode) -> bool {
        let table = &self.core.table;
        let key = table.key(name);
        let mut state = self.state.lock();
        let Some((node, token)) = state.holdings_mut(mode).remove(table, key.hash, name) else {
            return false;
        };
        // SAFETY: (I4) the holding was recorded, so it is held, and only this session (whose state
        // lock is held) can end it: this does.
        unsafe { table.release_hashed(key.hash, node, token, Release::All) }.is_some()
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
    #[cfg_attr(not(feature = "tcp-server"), allow(dead_code))]
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
        let (mut exclusive, mut shared) = (
            std::mem::take(&mut state.exclusive),
            std::mem::take(&mut state.shared),
        );
        for (node, token) in exclusive.take().chain(shared.take()) {
            // SAFETY: (I4) each holding was recorded, so it is held, and only this session (whose
            // state lock is held) can end it: this does.
            unsafe { table.release(node, token, Release::Orphan) };
        }
        drop(state);
        self.core.unregister(self.id);
    }
}
