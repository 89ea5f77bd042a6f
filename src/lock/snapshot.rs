//! Introspection: a consistent snapshot of the held locks, and the manager's counters.

use std::sync::Arc;
use std::time::SystemTime;

use crate::lock::mode::Mode;
use crate::lock::name::Name;

/// Counters and gauges of a [`LockManager`](crate::LockManager).
///
/// Counters only grow; gauges (`held_locks`, `holdings`, `waiting`) describe the moment the
/// stats were read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// New holdings granted (a rejoin by an owner that already holds the lock is not counted).
    pub grants: u64,
    /// Holdings ended, for any reason (guard drop, release by name, session end).
    pub releases: u64,
    /// Of `releases`, those caused by their session ending (dropped or closed) while holding.
    pub orphan_releases: u64,
    /// Requests that had to queue.
    pub waits: u64,
    /// Queued requests whose time limit expired.
    pub timeouts: u64,
    /// Queued requests abandoned otherwise (dropped future, closed session).
    pub cancelled_waits: u64,
    /// Gauge: names held right now.
    pub held_locks: u64,
    /// Gauge: (name, owner) holdings right now.
    pub holdings: u64,
    /// Gauge: requests queued right now.
    pub waiting: u64,
}

impl Stats {
    pub(crate) fn add_counters(&mut self, other: &Stats) {
        self.grants += other.grants;
        self.releases += other.releases;
        self.orphan_releases += other.orphan_releases;
        self.waits += other.waits;
        self.timeouts += other.timeouts;
        self.cancelled_waits += other.cancelled_waits;
    }
}

/// One held lock in a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockInfo {
    /// The lock's name.
    pub name: Arc<Name>,
    /// How it is held.
    pub mode: Mode,
    /// Its holders: one for an exclusive lock; for a shared lock, in acquisition order.
    pub holders: Vec<HolderInfo>,
    /// Queued exclusive requests.
    pub exclusive_waiters: usize,
    /// Queued shared requests.
    pub shared_waiters: usize,
    /// The queue itself, oldest first: who waits, for which mode (the edges of a wait-for
    /// graph: each waiting session waits for every holder above).
    pub waiters: Vec<WaiterInfo>,
}

/// One queued request in a [`Snapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaiterInfo {
    /// The waiting session's id, or `None` for a session-less wait on the manager itself.
    pub session: Option<u64>,
    /// The mode it waits for.
    pub mode: Mode,
}

/// One holder of a lock in a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HolderInfo {
    /// The owning session's id, or `None` for a session-less guard from the manager itself.
    pub session: Option<u64>,
    /// The owning session's registered name, if it has one.
    pub session_name: Option<Arc<Name>>,
    /// The holding's fencing token.
    pub token: u64,
    /// When the holding was granted.
    pub since: SystemTime,
    /// How many acquisitions this holding stands for (re-acquires by its session, kept guards).
    pub refs: u64,
}

/// A consistent view of every held lock, taken with
/// [`LockManager::snapshot`](crate::LockManager::snapshot): no grant or release is half-visible.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Snapshot {
    /// Every held lock, sorted by name (byte order).
    pub locks: Vec<LockInfo>,
    /// The counters, read in the same instant.
    pub stats: Stats,
    /// When the snapshot was taken.
    pub taken_at: SystemTime,
}

impl Snapshot {
    /// The entry for `name`, if it is held.
    pub fn get(&self, name: impl AsRef<[u8]>) -> Option<&LockInfo> {
        let name = Name::new(name.as_ref());
        self.locks
            .binary_search_by(|l| (*l.name).cmp(name))
            .ok()
            .map(|i| &self.locks[i])
    }
}
