//! One shard of the table: a mutex around a hash table of entries, and the operations that run
//! under it (acquire, release, settle a waiter). Each operation takes the shard lock once, lets
//! the entry's state machine (`entry`) decide, applies the outcome to the map, and wakes whom it
//! granted after unlocking (I2).

use std::ptr::NonNull;
use std::sync::Arc;
use std::task::Waker;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry as Slot;

use super::entry::{EntryState, Release};
use super::globals::{Globals, Key};
use crate::lock::contention::Contention;
use crate::lock::mode::Mode;
use crate::lock::name::Name;
use crate::lock::node::{NodePtr, NodeRef};
use crate::lock::snapshot::{LockInfo, Stats};
use crate::lock::sync::{Mutex, MutexGuard};
use crate::lock::wait::{Outcome, Waiter};

/// A table entry: one allocation per held name.
pub(crate) type Node = NodeRef<EntryState>;

/// An uncounted pointer to an entry, valid while the holding it was granted for lasts (I4) or
/// while a counted [`Node`] keeps it (I5).
pub(crate) type EntryPtr = NodePtr<EntryState>;

/// A successful grant, as the table recorded it. The entry stays in the table while the grant is
/// held (I3), so `node` is valid until the grant is released.
pub(crate) struct Granted {
    pub(crate) node: EntryPtr,
    pub(crate) token: u64,
    /// Distinct holders right after the grant (1 for exclusive).
    pub(crate) count: usize,
}

/// What [`Shard::acquire`] did.
pub(crate) enum Acquired {
    Granted(Granted),
    /// Refused: why, and the entry (for the error to name without copying).
    Busy(Contention, Node),
    Queued(Arc<Waiter>),
}

/// What [`Shard::settle`] found.
pub(crate) enum Settled {
    /// A grant had reached the waiter; it stays recorded in the table.
    Granted(Granted),
    /// The waiter left the queue (or had been cancelled before) without a grant.
    Cancelled,
}

/// Why a waiter is being taken out of its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CancelReason {
    Timeout,
    Cancelled,
}

/// What [`Shard::release`] did.
pub(crate) struct Released {
    /// References left (0 when the holding ended), or `None` if no such holding existed.
    pub(crate) left: Option<u64>,
    /// The shard was orphaned and this release emptied it: the caller must free it (I7).
    pub(crate) dead: bool,
}

/// In declaration order (`repr(C)`): what every acquire and release touches comes first, so that
/// with the mutex it shares one cache line; the counters of the slow paths follow.
#[repr(C)]
pub(crate) struct ShardState {
    map: HashTable<Node>,
    /// The next token this shard issues: every name of the shard draws from it under the shard
    /// lock, so tokens strictly increase per name (I12) and no cache line is shared across
    /// shards for them. Every new holding takes one, so it also counts the grants.
    next_token: u64,
    /// The last entry that became idle, left in the map (with its hash) instead of removed: a
    /// name taken again finds it there (no map change, no allocation), and a new name reuses its
    /// allocation when it fits. One per shard at most (I3).
    idle: Option<(EntryPtr, u64)>,
    /// Where `next_token` started: grants are `next_token - first_token`.
    first_token: u64,
    /// The table was dropped while this shard still had entries: the release that empties it
    /// frees it (I7).
    orphaned: bool,
    /// Counters of the slow paths (waits, timeouts, cancellations, orphan releases). Grants and
    /// releases are not counted as they happen: they follow from the tokens issued and the
    /// holdings left (see [`ShardState::stats`]).
    stats: Stats,
}

/// One shard: a mutex around part of the map. Each shard is its own allocation, aligned to
/// cache lines, and guards keep a pointer to their shard (not to the whole table): threads
/// working on different shards then write no cache line in common except the token counter.
///
/// `repr(C)`: the globals pointer, the mutex and the hot half of its state fill the first cache
/// line.
#[repr(C, align(128))]
pub(crate) struct Shard {
    globals: Arc<Globals>,
    state: Mutex<ShardState>,
}

/// A pointer to a shard. The table owns its shards; a shard it orphaned is owned by its
/// remaining holdings, and the release that empties it frees it (I7).
#[derive(Clone, Copy)]
pub(crate) struct ShardPtr(NonNull<Shard>);

// SAFETY: (I7) a `Shard` is `Send + Sync` (a mutex around its state, read-only globals); the pointer
// is only dereferenced while the shard is alive (I7; see `ShardPtr::get`).
unsafe impl Send for ShardPtr {}
// SAFETY: (I7) as for `Send`: only `&Shard` is ever made from it, and `Shard` is `Sync`.
unsafe impl Sync for ShardPtr {}

impl ShardPtr {
    /// A new shard of a table whose shards share `globals`, owned by the returned pointer.
    pub(crate) fn new(globals: Arc<Globals>) -> Self {
        let state = ShardState {
            map: HashTable::new(),
            next_token: globals.first_token,
            idle: None,
            first_token: globals.first_token,
            orphaned: false,
            stats: Stats::default(),
        };
        let shard = Box::new(Shard {
            state: Mutex::new(state),
            globals,
        });
        ShardPtr(NonNull::from(Box::leak(shard)))
    }

    /// The shard.
    ///
    /// # Safety
    /// The shard is alive while the reference is used (I7): its table is, or a holding in it is
    /// that only the caller can release.
    #[inline]
    pub(crate) unsafe fn get<'a>(self) -> &'a Shard {
        // SAFETY: (I7) forwarded to the caller.
        unsafe { self.0.as_ref() }
    }

    /// Frees a shard whose release reported it [`Released::dead`], or an empty shard of a table
    /// being dropped.
    ///
    /// # Safety
    /// That was the last use of the shard, and no reference to it is alive (I7).
    pub(crate) unsafe fn free(self) {
        // SAFETY: (I7) the shard came from `Box::leak` in `new`; nobody else can reach it (the
        // caller says so).
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

impl ShardState {
    fn find(&self, key: Key<'_>) -> Option<&Node> {
        self.map
            .find(key.hash, |n| n.name().as_bytes() == key.name.as_bytes())
    }

    /// An entry just became idle: it stays in the map as the shard's idle entry, and the one
    /// that was idle before leaves the map (I3).
    #[inline]
    fn park(&mut self, hash: u64, node: EntryPtr, globals: &Globals) {
        if let Some((old, old_hash)) = self.idle.replace((node, hash)) {
            if let Ok(slot) = self.map.find_entry(old_hash, |n| old.is(n)) {
                drop(slot.remove());
            }
            self.shrink(globals);
        }
    }

    /// Gives memory back once a shard has emptied out (growth happens at 7/8 load, so shrinking
    /// below 1/8 cannot thrash).
    #[inline]
    fn shrink(&mut self, globals: &Globals) {
        let cap = self.map.capacity();
        if cap > 64 && self.map.len() * 8 < cap {
            self.map
                .shrink_to(self.map.len() * 2, |n| globals.hash(n.name()));
        }
    }

    /// The token this shard issues next (every token it issued is below it).
    pub(crate) fn next_token(&self) -> u64 {
        self.next_token
    }

    /// How many names are held or waited for in this shard (the idle entry is not counted).
    pub(crate) fn len(&self) -> usize {
        self.map.len() - usize::from(self.idle.is_some())
    }

    /// The counters of this shard: grants are the tokens issued (one per new holding), releases
    /// the grants whose holdings have ended.
    pub(crate) fn stats(&self) -> Stats {
        let mut holdings = 0u64;
        self.for_each(|_, e| holdings += e.holder_count() as u64);
        let grants = self.next_token - self.first_token;
        Stats {
            grants,
            releases: grants - holdings,
            ..self.stats
        }
    }

    /// Calls `f` with each entry that is held or waited for, and its name.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Name, &EntryState)) {
        for node in self.map.iter() {
            if self.idle.is_some_and(|(p, _)| p.is(node)) {
                continue;
            }
            // SAFETY: (I1) the shard lock is held (`self` is behind its guard) and the state
            // reference does not leave `with_state`.
            unsafe { node.with_state(|entry| f(node.name(), entry)) }
        }
    }

    /// Calls `f` with `key`'s entry, if it has one.
    pub(crate) fn with_entry<R>(
        &self,
        key: Key<'_>,
        f: impl FnOnce(&EntryState) -> R,
    ) -> Option<R> {
        let node = self.find(key)?;
        if self.idle.is_some_and(|(p, _)| p.is(node)) {
            return None;
        }
        // SAFETY: (I1) the shard lock is held and the reference does not leave `with_state`.
        Some(unsafe { node.with_state(f) })
    }
}

impl Shard {
    /// Locks the shard for a read of its entries (snapshots, stats).
    pub(crate) fn lock(&self) -> MutexGuard<'_, ShardState> {
        self.state.lock()
    }

    /// One entry's description, as a snapshot reports it.
    pub(crate) fn lock_info(&self, key: Key<'_>) -> Option<LockInfo> {
        let clock = &self.globals.clock;
        self.lock()
            .with_entry(key, |e| e.info(key.name, |us| clock.wall_time(us)))
    }

    /// Marks the shard orphaned if it still has entries (its table is being dropped); returns
    /// whether it is empty, so the table frees it (I7).
    pub(crate) fn orphan(&self) -> bool {
        let mut state = self.state.lock();
        state.orphaned = state.len() > 0;
        !state.orphaned
    }

    /// Grants `mode` on `key` to `owner` now if the lock is compatible and nobody is queued
    /// ahead (an owner already holding it in `mode` always rejoins). Otherwise, when `queue` is
    /// set, appends a waiter to the name's FIFO queue.
    #[inline]
    pub(crate) fn acquire(
        &self,
        key: Key<'_>,
        mode: Mode,
        owner: u64,
        queue: bool,
        limit: usize,
    ) -> Acquired {
        let globals = &*self.globals;
        let mut guard = self.state.lock();
        let shard = &mut *guard;
        let mut issue = globals.issuer(&mut shard.next_token);
        let slot = shard.map.entry(
            key.hash,
            |n| n.name().as_bytes() == key.name.as_bytes(),
            |n| globals.hash(n.name()),
        );
        let node = match slot {
            Slot::Occupied(o) => o.into_mut(),
            Slot::Vacant(v) => {
                // A free name: the entry is created already held, in the idle entry's
                // allocation when that fits and nothing else refers to it.
                let holder = issue(owner);
                let map = v.into_table();
                let reused = match shard.idle.take() {
                    Some((idle, hash)) => match map.find_entry(hash, |n| idle.is(n)) {
                        Ok(slot) if slot.get().reusable_for(key.name) => {
                            let (node, _) = slot.remove();
                            // An idle entry's state: no holder, no queue (I3).
                            Some(node.reuse(key.name, |s| s.hold_again(mode, holder)))
                        }
                        Ok(slot) => {
                            drop(slot.remove());
                            None
                        }
                        Err(_) => None,
                    },
                    None => None,
                };
                let node = reused
                    .unwrap_or_else(|| Node::new(key.name, EntryState::held_by(mode, holder)));
                let ptr = node.ptr();
                map.insert_unique(key.hash, node, |n| globals.hash(n.name()));
                return Acquired::Granted(Granted {
                    node: ptr,
                    token: holder.token,
                    count: 1,
                });
            }
        };
        let ptr = node.ptr();
        if shard.idle.is_some_and(|(p, _)| p.is(node)) {
            shard.idle = None; // taken again: no longer idle
        }
        let stats = &mut shard.stats;
        // SAFETY: (I1) the shard lock is held and the reference does not leave `with_state_mut`.
        unsafe {
            node.with_state_mut(|entry| {
                match entry.try_grant(mode, owner, true, limit, &mut issue) {
                    Ok(g) => Acquired::Granted(Granted {
                        node: ptr,
                        token: g.token,
                        count: g.count,
                    }),
                    Err(why) if !queue => Acquired::Busy(why, node.clone()),
                    Err(_) => {
                        let waiter = Arc::new(Waiter::new(mode, owner, limit));
                        entry.enqueue(waiter.clone());
                        stats.waits += 1;
                        Acquired::Queued(waiter)
                    }
                }
            })
        }
    }

    /// Releases the holding with `token` of `node` (whose name hashes to `hash`) as `how` says.
    ///
    /// # Safety
    /// `node` is alive: the holding keeps it (I4: only the caller can end it), or a counted
    /// reference does (I5).
    #[inline]
    pub(crate) unsafe fn release(
        &self,
        hash: u64,
        node: EntryPtr,
        token: u64,
        how: Release,
    ) -> Released {
        let globals = &*self.globals;
        let mut wake = Vec::new();
        let released = {
            let mut guard = self.state.lock();
            let shard = &mut *guard;
            let mut issue = globals.issuer(&mut shard.next_token);
            let stats = &mut shard.stats;
            // SAFETY: (I1, I5) the shard lock is held, the caller keeps the node alive, and the
            // reference does not leave `with_state_mut`. (A node that left the table has no
            // holders, so a stale release finds nothing to end.)
            let (left, idle) = unsafe {
                node.with_state_mut(|entry| {
                    let left = entry.drop_ref(token, how)?;
                    if left == 0 {
                        if how == Release::Orphan {
                            stats.orphan_releases += 1;
                        }
                        if entry.has_waiters() {
                            entry.grant_waiters(&mut issue, &mut wake);
                        }
                    }
                    Some((left, entry.is_idle()))
                })
            }
            .map_or((None, false), |(left, idle)| (Some(left), idle));
            drop(issue); // done with the token counter: the shard is whole again
            if idle {
                shard.park(hash, node, globals);
            }
            Released {
                left,
                dead: left.is_some() && shard.orphaned && shard.len() == 0,
            }
        };
        // Outside the shard lock (I2): a woken task may run at once and want it.
        wake.into_iter().for_each(Waker::wake);
        released
    }

    /// Settles a waiter that stops waiting: if still queued, it leaves the queue (waking any
    /// waiter this unblocks) and is marked cancelled; if a grant already reached it, that grant is
    /// returned and stays recorded (the caller keeps it or gives it back with
    /// [`Release::Unclaimed`]).
    pub(crate) fn settle(&self, key: Key<'_>, waiter: &Arc<Waiter>, why: CancelReason) -> Settled {
        let globals = &*self.globals;
        let mut wake = Vec::new();
        let settled = {
            let mut guard = self.state.lock();
            let shard = &mut *guard;
            match waiter.outcome() {
                Outcome::Pending => {}
                Outcome::Cancelled => return Settled::Cancelled,
                Outcome::Granted { token, count } => {
                    // The grant is recorded, so the entry is in the table (I3).
                    let node = shard.find(key).expect("a granted entry is held").ptr();
                    return Settled::Granted(Granted { node, token, count });
                }
            }
            // A pending waiter is in its entry's queue (I8), and a queued waiter keeps its entry
            // in the table (I3).
            let node = shard
                .find(key)
                .expect("a queued waiter's entry exists")
                .ptr();
            let mut issue = globals.issuer(&mut shard.next_token);
            let stats = &mut shard.stats;
            // SAFETY: (I1) the shard lock is held, the node is in the table, and the reference
            // does not leave `with_state_mut`.
            let idle = unsafe {
                node.with_state_mut(|entry| {
                    let queued = entry.dequeue(waiter);
                    assert!(queued, "a pending waiter is queued (I8)");
                    wake.extend(waiter.resolve(Outcome::Cancelled));
                    match why {
                        CancelReason::Timeout => stats.timeouts += 1,
                        CancelReason::Cancelled => stats.cancelled_waits += 1,
                    }
                    entry.grant_waiters(&mut issue, &mut wake);
                    entry.is_idle()
                })
            };
            drop(issue);
            if idle {
                shard.park(key.hash, node, globals);
            }
            Settled::Cancelled
        };
        wake.into_iter().for_each(Waker::wake);
        settled
    }
}

#[cfg(test)]
impl ShardState {
    pub(crate) fn capacity(&self) -> usize {
        self.map.capacity()
    }
}
