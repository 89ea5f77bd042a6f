//! RAII guards: holding one means holding the lock; dropping it releases exactly that grant.

use std::fmt;
use std::sync::Arc;

use crate::lock::mode::Mode;
use crate::lock::name::Name;
use crate::lock::owner::SessionInner;
use crate::lock::table::{EntryPtr, Node, Release, ShardPtr};

/// What both guard kinds hold: enough to find and release their grant without rehashing.
///
/// A guard of no session holds plain pointers to its shard and entry and touches no reference
/// count: nothing but this guard can end its holding, and while the holding lasts the entry stays
/// in its shard and the shard stays alive (even past the table, see `table`). A session's guard
/// also keeps the session (whose manager keeps the table) and a counted reference to the entry,
/// because the session can end the holding first, and the guard's later drop must still find the
/// entry to see that it is gone.
pub(crate) struct Grip {
    shard: ShardPtr,
    node: EntryPtr,
    session: Option<(Arc<SessionInner>, Node)>,
    hash: u64,
    token: u64,
    mode: Mode,
    active: bool,
}

impl Grip {
    /// A grip on the grant `node`/`token` just made to `session` (or to no session).
    ///
    /// # Safety
    /// The grant is held, so `node` is alive and in `shard`; a session's grip comes with a counted
    /// reference to `node`.
    #[inline]
    pub(crate) unsafe fn new(
        shard: ShardPtr,
        session: Option<(Arc<SessionInner>, Node)>,
        node: EntryPtr,
        hash: u64,
        token: u64,
        mode: Mode,
    ) -> Self {
        Grip {
            shard,
            node,
            session,
            hash,
            token,
            mode,
            active: true,
        }
    }

    fn name(&self) -> &Name {
        // SAFETY: (I4, I5) a session's grip keeps a counted reference; otherwise the holding this grip
        // releases on drop keeps the entry (see the type's docs).
        unsafe { self.node.name() }
    }

    fn keep(&mut self) -> bool {
        if self.session.is_some() {
            self.active = false;
        }
        !self.active
    }

    fn session_id(&self) -> Option<u64> {
        self.session.as_ref().map(|(s, _)| s.id)
    }
}

impl Drop for Grip {
    fn drop(&mut self) {
        if !self.active {
            return;
        }
        match &self.session {
            // A no-op when the session has closed or released this holding by name meanwhile.
            Some((session, node)) => session.release_ref(node, self.hash, self.mode, self.token),
            None => {
                // SAFETY: (I7) this grip's holding keeps the shard alive until this release.
                let shard = unsafe { self.shard.get() };
                // SAFETY: (I3, I4) only this grip can end its holding, which keeps the entry in
                // the table until this release, the entry's last use here.
                let released =
                    unsafe { shard.release(self.hash, self.node, self.token, Release::One) };
                if released.dead {
                    // SAFETY: (I7) that release emptied an orphaned shard: nobody else can reach it.
                    unsafe { self.shard.free() };
                }
            }
        }
    }
}

macro_rules! guard_common {
    () => {
        /// The lock's name.
        pub fn name(&self) -> &Name {
            self.grip.name()
        }

        /// The holding's fencing token: strictly greater than the token of every holding of the
        /// same name granted before it (in this process and, by construction, in earlier runs;
        /// tokens of different names are not ordered against each other). Guards for the same
        /// holding (a session re-acquiring a lock it holds) share one token. See the crate docs,
        /// "Fencing tokens", for how a downstream store uses it.
        pub fn token(&self) -> u64 {
            self.grip.token
        }

        /// The owning session's id, or `None` for a guard from [`LockManager`](crate::LockManager)
        /// itself.
        pub fn session_id(&self) -> Option<u64> {
            self.grip.session_id()
        }

        /// Hands this reference to the owning session instead of releasing it on drop: the lock
        /// stays held until [`Session::release`](crate::Session::release) /
        /// [`Session::release_shared`](crate::Session::release_shared) or the session ends. This
        /// is how a network frontend holds a client's lock without keeping guards. A guard that
        /// belongs to no session is handed back as `Err(self)`, since nothing could release it.
        pub fn keep(mut self) -> Result<(), Self> {
            if self.grip.keep() { Ok(()) } else { Err(self) }
        }
    };
}

/// An exclusive lock on a name. Dropping it releases the lock (unless its session ended first,
/// in which case the drop is a no-op).
///
/// A guard may outlive every handle to its manager (and its session's handle): it keeps what it
/// needs to release its lock. Guards of no session cost no reference counting to make or drop.
///
/// ```
/// use lockd::LockManager;
///
/// let mgr = LockManager::new();
/// {
///     let g = mgr.get("invoice-42")?;
///     assert!(mgr.inspect("invoice-42"));
///     assert!(g.token() > 0);
/// } // released here
/// assert!(!mgr.inspect("invoice-42"));
/// # Ok::<(), lockd::Error>(())
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ExclusiveGuard {
    grip: Grip,
}

impl ExclusiveGuard {
    pub(crate) fn new(grip: Grip) -> Self {
        ExclusiveGuard { grip }
    }

    guard_common!();
}

/// One holder's share of a shared lock. Dropping it leaves the lock; the name is free once its
/// last holder leaves.
///
/// ```
/// use lockd::LockManager;
///
/// let mgr = LockManager::new();
/// let a = mgr.get_shared("api-quota")?;
/// let b = mgr.get_shared("api-quota")?;
/// assert_eq!((a.count(), b.count()), (1, 2));
/// assert_eq!(mgr.inspect_shared("api-quota"), 2);
/// # Ok::<(), lockd::Error>(())
/// ```
#[must_use = "the shared lock is left as soon as the guard is dropped"]
pub struct SharedGuard {
    grip: Grip,
    count: usize,
}

impl SharedGuard {
    pub(crate) fn new(grip: Grip, count: usize) -> Self {
        SharedGuard { grip, count }
    }

    guard_common!();

    /// Distinct holders right after this grant, this one included (1 for the first holder).
    /// This is what rate limiting by count reads: "am I the N-th concurrent holder?".
    pub fn count(&self) -> usize {
        self.count
    }
}

impl fmt::Debug for ExclusiveGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExclusiveGuard")
            .field("name", &self.name())
            .field("token", &self.token())
            .field("session", &self.session_id())
            .finish()
    }
}

impl fmt::Debug for SharedGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedGuard")
            .field("name", &self.name())
            .field("token", &self.token())
            .field("count", &self.count)
            .field("session", &self.session_id())
            .finish()
    }
}
