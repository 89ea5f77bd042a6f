//! The lock table: a sharded map from name to entry (holders and FIFO waiters), and the core's
//! invariants.
//!
//! Each shard (`shard`) is a mutex around a `hashbrown::HashTable` of nodes; a name's hash picks
//! its shard and its slot, so the hot path hashes once and takes one uncontended mutex. A node
//! (`node`) is the entry's single allocation (state and name bytes together) and a table slot is
//! one pointer, so a held lock costs little memory. The rules of one name (who is granted, in
//! which order) are the pure state machine in `entry`. Guards keep a pointer to their node and
//! shard and find the slot again by pointer. An entry exists only while somebody holds the lock or
//! waits for it, so the table returns to empty after any workload. Holdings are counted per owner
//! (`refs`): the same session acquiring a lock it holds rejoins its holding with the same token.
//!
//! # Invariants
//!
//! Every `SAFETY:` comment in the core cites the numbers it relies on.
//!
//! - **I1 (shard lock).** An entry's state is read or written only with its shard's mutex held,
//!   through the node's cell (`with_state` / `with_state_mut`, loom-checked), and no reference
//!   into it outlives that call. Every change to one name happens under that one lock; at most one
//!   shard lock is held at a time, except in [`Table::snapshot`], which takes them all in index
//!   order.
//! - **I2 (no foreign code under a shard lock).** Nothing the caller supplies runs with a shard
//!   lock held: no user callback, no user `Drop`, no waker (wakers are collected and woken after
//!   unlocking). parking_lot does not poison, so this is what keeps a panic in a caller's code from
//!   leaving an entry half-changed; the code that does run under the lock panics only on a broken
//!   invariant, never on input.
//! - **I3 (entries live while used).** A name's entry is in its shard's map while it has a holder
//!   or a queued waiter. The operation that leaves it with neither makes it the shard's one idle
//!   entry, under the same lock, and removes the entry that was idle before; the idle entry is
//!   invisible (not counted, listed or inspected) until its name is taken again or a new name
//!   takes its allocation. So at most one unused entry per shard stays allocated.
//! - **I4 (a holding ends by its owner).** A holding is ended only by whoever owns it: a guard of
//!   no session (by its own drop, nothing else can reach it), its session (under the session's
//!   state lock, which every session grant is recorded under), or the party that settles a wait a
//!   grant reached but nobody received. So a session-less guard's uncounted entry pointer is valid
//!   until its own release: the holding keeps the entry in the map (I3), and the map keeps the
//!   node (I5). Likewise a session's record of a holding (an uncounted pointer) is valid while it
//!   is recorded: the session removes the record under the same state-lock hold that ends the
//!   holding.
//! - **I5 (node lifetime).** A node is freed when its last counted reference drops. The map holds
//!   one while the entry is in it, and a session's guard holds one (the session can end the
//!   holding while the guard lives, and the guard's name must stay readable).
//! - **I6 (names are fixed while shared).** A node's name bytes and length are written only when
//!   it is made or reused, and it is reused only when it is the sole reference (the shard's spare,
//!   under the shard lock).
//! - **I7 (shard lifetime).** A shard is freed by its table's drop if it is empty then; otherwise
//!   the table marks it orphaned and the release that empties it frees it. Only session-less
//!   guards can hold entries past the table (a session keeps its manager's table alive), and each
//!   of them holds its shard pointer until that release.
//! - **I8 (one outcome per wait).** A waiter's outcome leaves `Pending` exactly once, under its
//!   entry's shard lock; while pending it is in its entry's queue. So a grant and a cancellation
//!   never both win: the loser sees the winner's outcome.
//! - **I9 (lock order).** Session state, then shard, then waiter; nothing is locked in the other
//!   direction.
//! - **I10 (reader–writer).** Any number of shared holders or one exclusive holder; a shared
//!   request joins only while fewer than its limit hold the name; a grant reports the distinct
//!   holders after it, the caller included.
//! - **I11 (first come, first served).** A newcomer never overtakes a queued request that it
//!   would block; a release hands the name to the oldest eligible waiters at once.
//! - **I12 (tokens).** A new holding's token is greater than every token issued before it for the
//!   same name: each shard counts its own tokens under its lock, and a name always lives in one
//!   shard. Tokens of different names are not ordered. A rejoin keeps its holding's token.
//! - **I13 (layouts).** A node is one allocation of `NodeRef::layout(len)`: its header, then its
//!   name's `len` bytes; it is freed with the layout it was made with (a reuse keeps the size
//!   class). `Name` is `repr(transparent)` over `[u8]`.

mod entry;
mod globals;
mod shard;

use std::sync::Arc;

use smallvec::SmallVec;

use crate::lock::name::Name;
use crate::lock::snapshot::{LockInfo, Stats};
use crate::lock::wait::Waiter;
pub(crate) use entry::Release;
use globals::Globals;
pub(crate) use globals::Key;
pub(crate) use shard::{Acquired, CancelReason, EntryPtr, Granted, Node, Settled, Shard, ShardPtr};

/// The sharded lock table. See the module docs.
pub(crate) struct Table {
    shards: Box<[ShardPtr]>,
    shard_mask: usize,
    globals: Arc<Globals>,
}

impl Drop for Table {
    fn drop(&mut self) {
        for &ptr in self.shards.iter() {
            // SAFETY: (I7) the table owns its shards until here.
            let empty = unsafe { ptr.get() }.orphan();
            if empty {
                // SAFETY: (I7) an empty shard has no holding that could reach it, and the table
                // (the only other way in) is going away.
                unsafe { ptr.free() };
            }
        }
    }
}

impl Table {
    /// A table with `shards` shards (rounded up to a power of two) whose first token is
    /// `first_token`.
    pub(crate) fn new(shards: usize, first_token: u64) -> Self {
        let n = shards.clamp(1, 1 << 16).next_power_of_two();
        let globals = Arc::new(Globals::new(first_token));
        Table {
            shards: (0..n).map(|_| ShardPtr::new(globals.clone())).collect(),
            shard_mask: n - 1,
            globals,
        }
    }

    pub(crate) fn shard_count(&self) -> usize {
        self.shards.len()
    }

    #[inline]
    pub(crate) fn key<'a>(&self, name: &'a Name) -> Key<'a> {
        self.globals.key(name)
    }

    /// The shard that owns `hash`.
    #[inline]
    pub(crate) fn shard(&self, hash: u64) -> &Shard {
        // SAFETY: (I7) the table owns its shards while it lives.
        unsafe { self.shard_ptr(hash).get() }
    }

    /// A pointer to the shard that owns `hash`, for a guard to keep.
    #[inline]
    pub(crate) fn shard_ptr(&self, hash: u64) -> ShardPtr {
        // hashbrown takes the low bits for the slot and the top 7 for tags: use others.
        self.shards[(hash >> 32) as usize & self.shard_mask]
    }

    fn all_shards(&self) -> impl Iterator<Item = &Shard> {
        // SAFETY: (I7) the table owns its shards while it lives.
        self.shards.iter().map(|p| unsafe { p.get() })
    }

    /// A token above every token issued so far, by any name: the highest shard counter (each
    /// shard locked in turn).
    pub(crate) fn peek_token(&self) -> u64 {
        self.all_shards()
            .map(|s| s.lock().next_token())
            .max()
            .unwrap_or(self.globals.first_token)
    }

    /// Releases `node`'s holding with `token`; see [`Shard::release`].
    ///
    /// # Safety
    /// The holding is held and only the caller can end it (I4), so `node` is alive.
    pub(crate) unsafe fn release(&self, node: EntryPtr, token: u64, how: Release) -> Option<u64> {
        // SAFETY: (I3, I4) the holding keeps the node alive (the caller says so).
        let hash = self.globals.hash(unsafe { node.name() });
        // SAFETY: (I3, I4) as above, until this release, its last use here.
        let released = unsafe { self.shard(hash).release(hash, node, token, how) };
        debug_assert!(!released.dead, "a live table's shard is never orphaned");
        released.left
    }

    /// As [`release`](Self::release), for a node whose name hashes to `hash`.
    ///
    /// # Safety
    /// As for [`release`](Self::release).
    #[inline]
    pub(crate) unsafe fn release_hashed(
        &self,
        hash: u64,
        node: EntryPtr,
        token: u64,
        how: Release,
    ) -> Option<u64> {
        // SAFETY: (I3, I4) the holding keeps the node alive until this release (the caller says so).
        let released = unsafe { self.shard(hash).release(hash, node, token, how) };
        debug_assert!(!released.dead, "a live table's shard is never orphaned");
        released.left
    }

    /// Gives back a grant that nobody will receive (a wait abandoned after its grant arrived);
    /// returns the references left.
    pub(crate) fn give_back(&self, key: Key<'_>, grant: &Granted) -> Option<u64> {
        // SAFETY: (I3, I4) a `Granted` is made for a grant that is held, and this ends it: its
        // entry is in the table until here.
        let released = unsafe {
            self.shard(key.hash)
                .release(key.hash, grant.node, grant.token, Release::Unclaimed)
        };
        debug_assert!(!released.dead, "a live table's shard is never orphaned");
        released.left
    }

    /// See [`Shard::settle`].
    pub(crate) fn settle(&self, key: Key<'_>, waiter: &Arc<Waiter>, why: CancelReason) -> Settled {
        self.shard(key.hash).settle(key, waiter, why)
    }

    /// Whether `key` is held exclusively, and by how many owners it is held shared.
    pub(crate) fn inspect(&self, key: Key<'_>) -> (bool, usize) {
        let shard = self.shard(key.hash).lock();
        shard.with_entry(key, |e| e.inspect()).unwrap_or((false, 0))
    }

    /// The session ids of `key`'s holders (0 for session-less ones), without copying anything
    /// else; one holder is stored inline.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn holder_sessions(&self, key: Key<'_>) -> SmallVec<[u64; 2]> {
        let shard = self.shard(key.hash).lock();
        shard
            .with_entry(key, |e| e.owners().collect())
            .unwrap_or_default()
    }

    /// One lock's entry, if held (its shard alone is locked).
    pub(crate) fn lock_info(&self, key: Key<'_>) -> Option<LockInfo> {
        self.shard(key.hash).lock_info(key)
    }

    /// A consistent view of every held lock and the counters: all shards are locked at once (in
    /// index order, I1), so no grant or release is half-visible.
    pub(crate) fn snapshot(&self) -> (Vec<LockInfo>, Stats) {
        let shards: Vec<_> = self.all_shards().map(|s| s.lock()).collect();
        let clock = &self.globals.clock;
        let mut locks = Vec::new();
        let mut stats = Stats::default();
        for shard in &shards {
            stats.add_counters(&shard.stats());
            shard.for_each(|name, entry| locks.push(entry.info(name, |us| clock.wall_time(us))));
        }
        drop(shards);
        for lock in &locks {
            stats.held_locks += 1;
            stats.holdings += lock.holders.len() as u64;
            stats.waiting += (lock.exclusive_waiters + lock.shared_waiters) as u64;
        }
        locks.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        (locks, stats)
    }

    /// Counters only (each shard locked in turn; cheaper than a snapshot).
    pub(crate) fn stats(&self) -> Stats {
        let mut stats = Stats::default();
        for shard in self.all_shards() {
            let shard = shard.lock();
            stats.add_counters(&shard.stats());
            stats.held_locks += shard.len() as u64;
            shard.for_each(|_, entry| {
                stats.holdings += entry.holder_count() as u64;
                stats.waiting += entry.waiter_count() as u64;
            });
        }
        stats
    }

    /// Number of entries (held names) in the table.
    pub(crate) fn len(&self) -> usize {
        self.all_shards().map(|s| s.lock().len()).sum()
    }
}

#[cfg(all(test, not(loom)))]
pub(crate) mod tests {
    use super::*;
    use crate::lock::mode::Mode;

    impl Table {
        /// Slots the shards' maps have room for, all together.
        fn capacity(&self) -> usize {
            self.all_shards().map(|s| s.lock().capacity()).sum()
        }
    }

    /// Whether a map of capacity `was` still has the same buckets: a resize at least doubles or
    /// halves the capacity, and removals alone lower it a little (tombstones; see hashbrown's
    /// `capacity`), until the next rehash in place.
    pub(crate) fn assert_same_size(now: usize, was: usize) {
        assert!(now <= was && now > was / 2, "capacity {was} became {now}");
    }

    fn take(table: &Table, name: &str) -> (u64, Granted) {
        let key = table.key(Name::new(name));
        match table
            .shard(key.hash)
            .acquire(key, Mode::Exclusive, 0, false, usize::MAX)
        {
            Acquired::Granted(g) => (key.hash, g),
            _ => panic!("{name} is free"),
        }
    }

    fn give(table: &Table, (hash, g): (u64, Granted)) {
        // SAFETY: (I3, I4) the grant is held, so its entry is alive; this ends it.
        let released = unsafe {
            table
                .shard(hash)
                .release(hash, g.node, g.token, Release::One)
        };
        assert_eq!(released.left, Some(0));
    }

    #[test]
    fn shards_give_their_slots_back_after_a_mass_release() {
        let table = Table::new(8, 1);
        let held: Vec<_> = (0..100_000)
            .map(|i| take(&table, &format!("n{i}")))
            .collect();
        assert!(table.capacity() >= 100_000);
        for h in held {
            give(&table, h);
        }
        assert_eq!(table.len(), 0);
        // Each shard keeps at most the few slots that are not worth shrinking.
        assert!(table.capacity() <= 8 * 64, "capacity {}", table.capacity());
    }

    #[test]
    fn taking_and_releasing_at_a_steady_level_does_not_resize() {
        let table = Table::new(4, 1);
        let held: Vec<_> = (0..10_000)
            .map(|i| take(&table, &format!("n{i}")))
            .collect();
        let cap = table.capacity();
        for i in 0..10_000 {
            let h = take(&table, &format!("m{i}"));
            give(&table, h);
            assert_same_size(table.capacity(), cap);
        }
        // Down to half, then back up: still no resize.
        let mut held = held.into_iter();
        let kept: Vec<_> = held.by_ref().take(5_000).collect();
        held.for_each(|h| give(&table, h));
        assert_same_size(table.capacity(), cap);
        let again: Vec<_> = (0..5_000).map(|i| take(&table, &format!("k{i}"))).collect();
        assert_same_size(table.capacity(), cap);
        kept.into_iter().chain(again).for_each(|h| give(&table, h));
        assert!(table.capacity() <= 4 * 64);
    }
}
