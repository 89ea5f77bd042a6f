//! The lock table: a sharded map from name to entry (holders and FIFO waiters).
//!
//! Each shard is a mutex around a `hashbrown::HashTable` of [`Node`]s; a name's hash picks its
//! shard and its slot, so the hot path hashes once and takes one uncontended mutex. A node is the
//! entry's single allocation (state and name bytes together) and a table slot is one pointer, so a
//! held lock costs little memory. Guards keep a pointer to their node and shard and find the slot
//! again by pointer (see `node` for why a guard of no session needs no reference count). A shard
//! outlives its table while guards of no session still hold locks in it: the table marks it
//! orphaned, and the release that empties it frees it. An entry exists only while somebody holds
//! the lock or waits for it: the release,
//! cancellation or timeout that leaves it with neither removes it (and shrinks an emptied shard),
//! so the table returns to empty after any workload. Holdings are counted per owner (`refs`): the
//! same session acquiring a lock it holds rejoins its holding with the same fencing token. All
//! state of one name changes under its shard's lock, and at most one shard lock is held at a time
//! (except in [`Table::snapshot`], which takes them all in index order).

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher as _};
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::Waker;

use hashbrown::HashTable;
use smallvec::{SmallVec, smallvec};

use crate::Mode;
use crate::error::Contention;
use crate::name::Name;
use crate::node::{NodePtr, NodeRef};
use crate::snapshot::{HolderInfo, LockInfo, Stats, WaiterInfo};
use crate::sync::{AtomicU64, Mutex, Ordering};
use crate::wait::{Outcome, Waiter};

/// A name together with its hash, computed once per request.
#[derive(Clone, Copy)]
pub(crate) struct Key<'a> {
    pub(crate) name: &'a Name,
    pub(crate) hash: u64,
}

/// A table entry: one allocation per held name.
pub(crate) type Node = NodeRef<EntryState>;

/// An uncounted pointer to an entry, valid while the holding it was granted for lasts (or while
/// a counted [`Node`] keeps it).
pub(crate) type EntryPtr = NodePtr<EntryState>;

/// A successful grant, as the table recorded it. The entry stays in the table while the grant is
/// held, so `node` is valid until the grant is released.
pub(crate) struct Granted {
    pub(crate) node: EntryPtr,
    pub(crate) token: u64,
    /// Distinct holders right after the grant (1 for exclusive).
    pub(crate) count: usize,
}

/// What [`Shard::acquire`] did.
pub(crate) enum Acquired {
    Granted(Granted),
    Busy(Contention),
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

/// How a holding is being released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Release {
    /// Drop one reference (a guard); the holding ends when none is left.
    One,
    /// End the holding whatever its references (release by name).
    All,
    /// End the holding because its session ended (counted as an orphan release).
    Orphan,
    /// Give back a grant nobody received (a wait cancelled after its grant arrived).
    Unclaimed,
}

#[derive(Debug, Clone, Copy)]
struct Holder {
    /// Session id, or 0 for a session-less (anonymous) owner, which never rejoins.
    owner: u64,
    token: u64,
    since_us: u64,
    refs: u64,
}

/// One name's state. `mode` is meaningful while `holders` is not empty; shared holders are kept
/// in acquisition order, and the first one is stored inline.
pub(crate) struct EntryState {
    mode: Mode,
    holders: SmallVec<[Holder; 1]>,
    /// Boxed: 8 bytes in every entry instead of 32, and almost every entry has no waiter.
    #[allow(clippy::box_collection)]
    queue: Option<Box<VecDeque<Arc<Waiter>>>>,
}

#[derive(Default)]
struct ShardState {
    map: HashTable<Node>,
    stats: Stats,
    /// The table was dropped while this shard still had entries: the release that empties it
    /// frees it.
    orphaned: bool,
    /// The allocation of the last entry removed, kept for the next new entry of its size class:
    /// a lock taken and released again and again allocates nothing. One per shard at most.
    spare: Option<Node>,
}

/// Keeps the token counter on a cache line of its own.
#[repr(align(128))]
struct Padded<T>(T);

/// Name hashing: randomly seeded per table, except under loom, whose models must replay the
/// same shard choices in every execution.
#[cfg(not(loom))]
type Hasher = foldhash::fast::RandomState;
#[cfg(loom)]
type Hasher = foldhash::fast::FixedState;

/// What every shard needs besides its own state; read-only except the token counter.
struct Globals {
    hasher: Hasher,
    clock: crate::clock::Clock,
    next_token: Padded<AtomicU64>,
}

impl Globals {
    #[inline]
    fn new_holder(&self, owner: u64) -> Holder {
        Holder {
            owner,
            // Relaxed is enough: the counter's modification order alone makes tokens unique and
            // increasing along every happens-before chain.
            token: self.next_token.0.fetch_add(1, Ordering::Relaxed),
            since_us: self.clock.now_us(),
            refs: 1,
        }
    }

    /// The name's bytes, hashed in one call (no length prefix: each hash covers one whole name).
    #[inline]
    fn hash(&self, name: &Name) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(name.as_bytes());
        h.finish()
    }
}

/// One shard: a mutex around part of the map. Each shard is its own allocation, aligned to
/// cache lines, and guards keep a pointer to their shard (not to the whole table): threads
/// working on different shards then write no cache line in common except the token counter.
#[repr(align(128))]
pub(crate) struct Shard {
    state: Mutex<ShardState>,
    globals: Arc<Globals>,
}

/// A pointer to a shard. The table owns its shards; a shard it orphaned (see the module docs) is
/// owned by its remaining holdings, and the release that empties it frees it.
#[derive(Clone, Copy)]
pub(crate) struct ShardPtr(NonNull<Shard>);

// SAFETY: a `Shard` is `Send + Sync` (a mutex around its state, read-only globals); the pointer
// is only dereferenced while the shard is alive (see `ShardPtr::get`).
unsafe impl Send for ShardPtr {}
unsafe impl Sync for ShardPtr {}

impl ShardPtr {
    /// The shard.
    ///
    /// # Safety
    /// The shard is alive while the reference is used: its table is, or a holding in it is that
    /// only the caller can release.
    pub(crate) unsafe fn get<'a>(self) -> &'a Shard {
        // SAFETY: forwarded to the caller.
        unsafe { self.0.as_ref() }
    }

    /// Frees a shard whose release reported it [`Released::dead`].
    ///
    /// # Safety
    /// That release was the last use of the shard, and no reference to it is alive.
    pub(crate) unsafe fn free(self) {
        // SAFETY: the shard came from `Box::into_raw` in `Table::new`; nobody else can reach it.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

/// What [`Shard::release`] did.
pub(crate) struct Released {
    /// References left (0 when the holding ended), or `None` if no such holding existed.
    pub(crate) left: Option<u64>,
    /// The shard was orphaned and this release emptied it: the caller must free it.
    pub(crate) dead: bool,
}

/// The sharded lock table. See the module docs.
pub(crate) struct Table {
    shards: Box<[ShardPtr]>,
    shard_mask: usize,
    globals: Arc<Globals>,
}

impl Drop for Table {
    fn drop(&mut self) {
        for &ptr in self.shards.iter() {
            // SAFETY: the table owns its shards until here.
            let shard = unsafe { ptr.get() };
            let empty = {
                let mut state = shard.state.lock();
                state.orphaned = !state.map.is_empty();
                !state.orphaned
            };
            if empty {
                // SAFETY: an empty shard has no holding that could reach it, and the table (the
                // only other way in) is going away.
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
        let globals = Arc::new(Globals {
            hasher: Hasher::default(),
            clock: crate::clock::Clock::new(),
            next_token: Padded(AtomicU64::new(first_token.max(1))),
        });
        Table {
            shards: (0..n)
                .map(|_| {
                    let shard = Box::new(Shard {
                        state: Mutex::new(ShardState::default()),
                        globals: globals.clone(),
                    });
                    ShardPtr(NonNull::from(Box::leak(shard)))
                })
                .collect(),
            shard_mask: n - 1,
            globals,
        }
    }

    pub(crate) fn shard_count(&self) -> usize {
        self.shards.len()
    }

    #[inline]
    pub(crate) fn key<'a>(&self, name: &'a Name) -> Key<'a> {
        Key {
            name,
            hash: self.globals.hash(name),
        }
    }

    /// The shard that owns `hash`.
    #[inline]
    pub(crate) fn shard(&self, hash: u64) -> &Shard {
        // SAFETY: the table owns its shards while it lives.
        unsafe { self.shard_ptr(hash).get() }
    }

    /// A pointer to the shard that owns `hash`, for a guard to keep.
    #[inline]
    pub(crate) fn shard_ptr(&self, hash: u64) -> ShardPtr {
        // hashbrown takes the low bits for the slot and the top 7 for tags: use others.
        self.shards[(hash >> 32) as usize & self.shard_mask]
    }

    fn all_shards(&self) -> impl Iterator<Item = &Shard> {
        // SAFETY: the table owns its shards while it lives.
        self.shards.iter().map(|p| unsafe { p.get() })
    }

    /// The next token that will be issued (every issued token is below it).
    pub(crate) fn peek_token(&self) -> u64 {
        self.globals.next_token.0.load(Ordering::Relaxed)
    }

    /// Releases `node`'s holding with `token`; see [`Shard::release`].
    pub(crate) fn release(&self, node: &Node, token: u64, how: Release) -> Option<u64> {
        let hash = self.globals.hash(node.name());
        // SAFETY: the counted reference keeps the node alive.
        let released = unsafe { self.shard(hash).release(hash, node.ptr(), token, how) };
        debug_assert!(!released.dead, "a live table's shard is never orphaned");
        released.left
    }

    /// Gives back a grant that nobody will receive (a wait abandoned after its grant arrived);
    /// returns the references left.
    pub(crate) fn give_back(&self, key: Key<'_>, grant: &Granted) -> Option<u64> {
        // SAFETY: a `Granted` is made for a grant that is held, and this ends it: its entry is
        // alive until here.
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
        let shard = self.shard(key.hash).state.lock();
        let Some(node) = shard.find(key) else {
            return (false, 0);
        };
        // SAFETY: the shard lock is held.
        let entry = unsafe { node.state() };
        match (entry.holders.len(), entry.mode) {
            (0, _) => (false, 0),
            (_, Mode::Exclusive) => (true, 0),
            (n, Mode::Shared) => (false, n),
        }
    }

    /// The session ids of `key`'s holders (0 for session-less ones), without copying anything
    /// else; one holder is stored inline.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn holder_sessions(&self, key: Key<'_>) -> SmallVec<[u64; 2]> {
        let shard = self.shard(key.hash).state.lock();
        let Some(node) = shard.find(key) else {
            return SmallVec::new();
        };
        // SAFETY: the shard lock is held.
        let entry = unsafe { node.state() };
        entry.holders.iter().map(|h| h.owner).collect()
    }

    /// One lock's entry, if held (its shard alone is locked).
    pub(crate) fn lock_info(&self, key: Key<'_>) -> Option<LockInfo> {
        let shard = self.shard(key.hash).state.lock();
        let node = shard.find(key)?;
        // SAFETY: the shard lock is held.
        let entry = unsafe { node.state() };
        Some(entry.info(node.name(), &self.globals))
    }

    /// A consistent view of every held lock and the counters: all shards are locked at once (in
    /// index order), so no grant or release is half-visible.
    pub(crate) fn snapshot(&self) -> (Vec<LockInfo>, Stats) {
        let shards: Vec<_> = self.all_shards().map(|s| s.state.lock()).collect();
        let mut locks = Vec::new();
        let mut stats = Stats::default();
        for shard in &shards {
            stats.add_counters(&shard.stats);
            for node in shard.map.iter() {
                // SAFETY: this node's shard lock is held (all of them are).
                let entry = unsafe { node.state() };
                locks.push(entry.info(node.name(), &self.globals));
            }
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
            let shard = shard.state.lock();
            stats.add_counters(&shard.stats);
            stats.held_locks += shard.map.len() as u64;
            for node in shard.map.iter() {
                // SAFETY: the shard lock is held.
                let entry = unsafe { node.state() };
                stats.holdings += entry.holders.len() as u64;
                stats.waiting += entry.queue.as_ref().map_or(0, |q| q.len()) as u64;
            }
        }
        stats
    }

    /// Number of entries (held names) in the table.
    pub(crate) fn len(&self) -> usize {
        self.all_shards().map(|s| s.state.lock().map.len()).sum()
    }
}

impl ShardState {
    fn find(&self, key: Key<'_>) -> Option<&Node> {
        self.map
            .find(key.hash, |n| n.name().as_bytes() == key.name.as_bytes())
    }

    /// Removes an idle node's slot and gives memory back once a shard has emptied out (growth
    /// happens at 7/8 load, so shrinking below 1/8 cannot thrash).
    #[inline]
    fn remove(&mut self, hash: u64, node: EntryPtr, globals: &Globals) {
        if let Ok(slot) = self.map.find_entry(hash, |n| node.is(n)) {
            let (node, _) = slot.remove();
            // Only an unreferenced allocation can be reused; a session may still count this one.
            if node.is_unique() {
                self.spare = Some(node);
            }
        }
        let cap = self.map.capacity();
        if cap > 64 && self.map.len() * 8 < cap {
            self.map
                .shrink_to(self.map.len() * 2, |n| globals.hash(n.name()));
        }
    }
}

impl Shard {
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
        let slot = shard.map.entry(
            key.hash,
            |n| n.name().as_bytes() == key.name.as_bytes(),
            |n| globals.hash(n.name()),
        );
        let node = match slot {
            hashbrown::hash_table::Entry::Occupied(o) => o.into_mut(),
            hashbrown::hash_table::Entry::Vacant(v) => {
                // Fast path: a free name. The entry is created already held.
                let holder = globals.new_holder(owner);
                let node = match shard.spare.take() {
                    // An idle entry's state: no holder, no queue.
                    Some(spare) if spare.reusable_for(key.name) => spare.reuse(key.name, |s| {
                        debug_assert!(s.is_idle());
                        s.mode = mode;
                        s.holders.push(holder);
                    }),
                    spare => {
                        shard.spare = spare;
                        let state = EntryState {
                            mode,
                            holders: smallvec![holder],
                            queue: None,
                        };
                        Node::new(key.name, state)
                    }
                };
                let ptr = node.ptr();
                v.insert(node);
                shard.stats.grants += 1;
                return Acquired::Granted(Granted {
                    node: ptr,
                    token: holder.token,
                    count: 1,
                });
            }
        };
        // SAFETY: the shard lock is held.
        let entry = unsafe { node.state() };
        match entry.try_grant(globals, mode, owner, true, limit) {
            Ok((token, count, fresh)) => {
                shard.stats.grants += u64::from(fresh);
                Acquired::Granted(Granted {
                    node: node.ptr(),
                    token,
                    count,
                })
            }
            Err(why) if !queue => Acquired::Busy(why),
            Err(_) => {
                let waiter = Arc::new(Waiter::new(mode, owner, limit));
                entry
                    .queue
                    .get_or_insert_with(Default::default)
                    .push_back(waiter.clone());
                shard.stats.waits += 1;
                Acquired::Queued(waiter)
            }
        }
    }

    /// Releases the holding with `token` of `node` (whose name hashes to `hash`) as `how` says.
    ///
    /// # Safety
    /// `node` is alive: the holding keeps it (only the caller can end it), or a counted reference.
    #[inline]
    pub(crate) unsafe fn release(
        &self,
        hash: u64,
        node: EntryPtr,
        token: u64,
        how: Release,
    ) -> Released {
        let globals = &*self.globals;
        let mut wake = None;
        let released = {
            let mut guard = self.state.lock();
            let shard = &mut *guard;
            // SAFETY: the shard lock is held, and the caller keeps the node alive. (A node that
            // left the table has no holders, so a stale guard finds nothing to release.)
            let entry = unsafe { node.state() };
            let Some(left) = entry.drop_ref(token, how) else {
                return Released {
                    left: None,
                    dead: false,
                };
            };
            if left == 0 {
                shard.stats.releases += 1;
                shard.stats.orphan_releases += u64::from(how == Release::Orphan);
                if entry.queue.is_some() {
                    let wake = wake.insert(Vec::new());
                    entry.grant_waiters(globals, &mut shard.stats, wake);
                }
                if entry.is_idle() {
                    shard.remove(hash, node, globals);
                }
            }
            Released {
                left: Some(left),
                dead: shard.orphaned && shard.map.is_empty(),
            }
        };
        // Outside the shard lock: a woken task may run at once and want it.
        wake.into_iter().flatten().for_each(Waker::wake);
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
                    // The grant is recorded, so the entry is in the table.
                    let node = shard.find(key).expect("a granted entry is held").ptr();
                    return Settled::Granted(Granted { node, token, count });
                }
            }
            // A pending waiter is in its entry's queue (both change under this lock), and a
            // queued waiter keeps its entry in the table.
            let node = shard
                .find(key)
                .expect("a queued waiter's entry exists")
                .ptr();
            // SAFETY: the shard lock is held and the node is in the table.
            let entry = unsafe { node.state() };
            let queue = entry.queue.as_mut().expect("a pending waiter is queued");
            let at = queue
                .iter()
                .position(|w| Arc::ptr_eq(w, waiter))
                .expect("a pending waiter is queued");
            queue.remove(at);
            if queue.is_empty() {
                entry.queue = None;
            }
            wake.extend(waiter.resolve(Outcome::Cancelled));
            match why {
                CancelReason::Timeout => shard.stats.timeouts += 1,
                CancelReason::Cancelled => shard.stats.cancelled_waits += 1,
            }
            entry.grant_waiters(globals, &mut shard.stats, &mut wake);
            if entry.is_idle() {
                shard.remove(key.hash, node, globals);
            }
            Settled::Cancelled
        };
        wake.into_iter().for_each(Waker::wake);
        settled
    }
}

impl EntryState {
    fn is_idle(&self) -> bool {
        self.holders.is_empty() && self.queue.is_none()
    }

    /// Grants `mode` to `owner` if compatible and, for shared, if fewer than `limit` hold it. An
    /// owner that already holds the name in `mode` rejoins (one more reference, same token). With
    /// `fifo`, queued requests block newcomers: any of them blocks an exclusive request, and a
    /// queued exclusive one blocks shared requests (so writers are not starved; shared waiters
    /// queued only for their own limit do not hold back others).
    /// Returns (token, holder count, whether this is a new holding).
    fn try_grant(
        &mut self,
        globals: &Globals,
        mode: Mode,
        owner: u64,
        fifo: bool,
        limit: usize,
    ) -> Result<(u64, usize, bool), Contention> {
        let held = !self.holders.is_empty();
        if owner != 0 && held && self.mode == mode {
            let n = self.holders.len();
            if let Some(h) = self.holders.iter_mut().find(|h| h.owner == owner) {
                h.refs += 1;
                return Ok((h.token, n, false));
            }
        }
        if fifo {
            if let Some(q) = &self.queue {
                if mode == Mode::Exclusive || q.iter().any(|w| w.mode == Mode::Exclusive) {
                    return Err(Contention::Queued(q.len()));
                }
            }
        }
        match (held, self.mode, mode) {
            (true, Mode::Shared, Mode::Shared) if self.holders.len() >= limit.max(1) => {
                Err(Contention::AtLimit(self.holders.len()))
            }
            (false, _, _) | (true, Mode::Shared, Mode::Shared) => {
                let h = globals.new_holder(owner);
                self.mode = mode;
                self.holders.push(h);
                Ok((h.token, self.holders.len(), true))
            }
            (true, Mode::Shared, Mode::Exclusive) => {
                Err(Contention::HeldShared(self.holders.len()))
            }
            (true, Mode::Exclusive, _) => Err(Contention::HeldExclusive),
        }
    }

    /// Drops references of the holding with `token`; returns those left, `None` if not held.
    fn drop_ref(&mut self, token: u64, how: Release) -> Option<u64> {
        let at = self.holders.iter().position(|h| h.token == token)?;
        let h = &mut self.holders[at];
        match how {
            Release::One | Release::Unclaimed => h.refs -= 1,
            Release::All | Release::Orphan => h.refs = 0,
        }
        let left = h.refs;
        if left == 0 {
            // `remove`, not `swap_remove`: shared holders stay in acquisition order.
            self.holders.remove(at);
        }
        Some(left)
    }

    /// Hands the lock to queued waiters, oldest first. An exclusive waiter that cannot be granted
    /// stops the pass (nobody overtakes it), so consecutive shared waiters are granted together
    /// and writers are not starved. A shared waiter held back only by its own holder limit is
    /// passed over, so the oldest *eligible* waiter is served.
    fn grant_waiters(&mut self, globals: &Globals, stats: &mut Stats, wake: &mut Vec<Waker>) {
        let mut at = 0;
        while let Some(w) = self.queue.as_ref().and_then(|q| q.get(at)) {
            let (mode, owner, limit) = (w.mode, w.owner, w.limit);
            match self.try_grant(globals, mode, owner, false, limit) {
                Ok((token, count, fresh)) => {
                    let queue = self.queue.as_mut().expect("waiter exists");
                    let waiter = queue.remove(at).expect("waiter exists");
                    if queue.is_empty() {
                        self.queue = None;
                    }
                    stats.grants += u64::from(fresh);
                    wake.extend(waiter.resolve(Outcome::Granted { token, count }));
                }
                Err(Contention::AtLimit(_)) => at += 1,
                Err(_) => break,
            }
        }
    }

    fn info(&self, name: &Name, globals: &Globals) -> LockInfo {
        let waiters: Vec<_> = self
            .queue
            .iter()
            .flat_map(|q| q.iter())
            .map(|w| WaiterInfo {
                session: (w.owner != 0).then_some(w.owner),
                mode: w.mode,
            })
            .collect();
        let shared_waiters = waiters.iter().filter(|w| w.mode == Mode::Shared).count();
        let exclusive_waiters = waiters.len() - shared_waiters;
        LockInfo {
            name: name.to_arc(),
            mode: self.mode,
            holders: self
                .holders
                .iter()
                .map(|h| HolderInfo {
                    session: (h.owner != 0).then_some(h.owner),
                    session_name: None,
                    token: h.token,
                    since: globals.clock.wall_time(h.since_us),
                    refs: h.refs,
                })
                .collect(),
            exclusive_waiters,
            shared_waiters,
            waiters,
        }
    }
}

#[cfg(all(test, not(loom)))]
pub(crate) mod tests {
    use super::*;

    impl Table {
        /// Slots the shards' maps have room for, all together.
        fn capacity(&self) -> usize {
            self.all_shards()
                .map(|s| s.state.lock().map.capacity())
                .sum()
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
        // SAFETY: the grant is held, so its entry is alive; this ends it.
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
