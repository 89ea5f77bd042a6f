//! The lock table: a sharded map from name to entry (holders and FIFO waiters).
//!
//! Each shard is a mutex around a `hashbrown::HashTable`; a name's hash picks its shard and its
//! slot, so the hot path hashes once and takes one uncontended mutex. An entry exists only while
//! somebody holds the lock: the release, cancellation or timeout that leaves it with no holder and
//! no waiter removes it (and shrinks an emptied shard), so the table returns to empty after any
//! workload. Holdings are counted per owner (`refs`): the same session acquiring a lock it holds
//! rejoins its holding with the same fencing token. All state changes for one name happen under
//! its shard's lock, and at most one shard lock is held at a time (except [`Table::snapshot`],
//! which takes them all in index order).

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::task::Waker;

use hashbrown::HashTable;

use crate::Mode;
use crate::error::Contention;
use crate::name::Name;
use crate::snapshot::{HolderInfo, LockInfo, Stats};
use crate::sync::{AtomicU64, Mutex, Ordering};
use crate::wait::{Outcome, Waiter};

/// A name together with its hash, computed once per request.
#[derive(Clone, Copy)]
pub(crate) struct Key<'a> {
    pub(crate) name: &'a Name,
    pub(crate) hash: u64,
}

/// A successful grant, as the table recorded it.
#[derive(Debug, Clone)]
pub(crate) struct Granted {
    pub(crate) name: Arc<Name>,
    pub(crate) token: u64,
    /// Distinct holders right after the grant (1 for exclusive).
    pub(crate) count: usize,
}

/// What [`Table::acquire`] did.
pub(crate) enum Acquired {
    Granted(Granted),
    Busy(Contention),
    Queued(Arc<Waiter>),
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

enum Holders {
    Free,
    Exclusive(Holder),
    Shared(Vec<Holder>),
}

struct Entry {
    name: Arc<Name>,
    holders: Holders,
    /// Boxed: 8 bytes in every entry instead of 32, and almost every entry has no waiter.
    #[allow(clippy::box_collection)]
    queue: Option<Box<VecDeque<Arc<Waiter>>>>,
}

#[derive(Default)]
struct ShardState {
    map: HashTable<Entry>,
    stats: Stats,
}

/// Keeps the token counter on a cache line of its own.
#[repr(align(128))]
struct Padded<T>(T);

/// What every shard needs besides its own state; read-only except the token counter.
struct Globals {
    hasher: foldhash::fast::RandomState,
    clock: crate::clock::Clock,
    next_token: Padded<AtomicU64>,
}

impl Globals {
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

    fn hash(&self, name: &Name) -> u64 {
        self.hasher.hash_one(name.as_bytes())
    }
}

/// One shard: a mutex around part of the map. Each shard is its own allocation, aligned to
/// cache lines, and guards keep an `Arc` of their shard (not of the whole table): threads working
/// on different shards then write no cache line in common except the token counter.
#[repr(align(128))]
pub(crate) struct Shard {
    state: Mutex<ShardState>,
    globals: Arc<Globals>,
}

/// The sharded lock table. See the module docs.
pub(crate) struct Table {
    shards: Box<[Arc<Shard>]>,
    shard_mask: usize,
    globals: Arc<Globals>,
}

impl Table {
    /// A table with `shards` shards (rounded up to a power of two) whose first token is
    /// `first_token`.
    pub(crate) fn new(shards: usize, first_token: u64) -> Self {
        let n = shards.clamp(1, 1 << 16).next_power_of_two();
        let globals = Arc::new(Globals {
            hasher: foldhash::fast::RandomState::default(),
            clock: crate::clock::Clock::new(),
            next_token: Padded(AtomicU64::new(first_token.max(1))),
        });
        Table {
            shards: (0..n)
                .map(|_| {
                    Arc::new(Shard {
                        state: Mutex::new(ShardState::default()),
                        globals: globals.clone(),
                    })
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
    pub(crate) fn shard(&self, hash: u64) -> &Arc<Shard> {
        // hashbrown takes the low bits for the slot and the top 7 for tags: use others.
        &self.shards[(hash >> 32) as usize & self.shard_mask]
    }

    /// The next token that will be issued (every issued token is below it).
    pub(crate) fn peek_token(&self) -> u64 {
        self.globals.next_token.0.load(Ordering::Relaxed)
    }

    /// See [`Shard::release`].
    pub(crate) fn release(&self, key: Key<'_>, token: u64, how: Release) -> Option<u64> {
        self.shard(key.hash).release(key, token, how)
    }

    /// See [`Shard::settle`].
    pub(crate) fn settle(&self, key: Key<'_>, waiter: &Arc<Waiter>, why: CancelReason) -> Outcome {
        self.shard(key.hash).settle(key, waiter, why)
    }

    /// Whether `key` is held exclusively, and by how many owners it is held shared.
    pub(crate) fn inspect(&self, key: Key<'_>) -> (bool, usize) {
        let shard = self.shard(key.hash).state.lock();
        match shard
            .map
            .find(key.hash, |e| e.name.as_bytes() == key.name.as_bytes())
            .map(|e| &e.holders)
        {
            Some(Holders::Exclusive(_)) => (true, 0),
            Some(Holders::Shared(v)) => (false, v.len()),
            Some(Holders::Free) | None => (false, 0),
        }
    }

    /// A consistent view of every held lock and the counters: all shards are locked at once (in
    /// index order), so no grant or release is half-visible.
    pub(crate) fn snapshot(&self) -> (Vec<LockInfo>, Stats) {
        let shards: Vec<_> = self.shards.iter().map(|s| s.state.lock()).collect();
        let mut locks = Vec::new();
        let mut stats = Stats::default();
        for shard in &shards {
            stats.add_counters(&shard.stats);
            for entry in shard.map.iter() {
                locks.push(entry.info(&self.globals));
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
        for shard in self.shards.iter() {
            let shard = shard.state.lock();
            stats.add_counters(&shard.stats);
            stats.held_locks += shard.map.len() as u64;
            for entry in shard.map.iter() {
                stats.holdings += entry.holder_count() as u64;
                stats.waiting += entry.queue.as_ref().map_or(0, |q| q.len()) as u64;
            }
        }
        stats
    }

    /// Number of entries (held names) in the table.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.state.lock().map.len()).sum()
    }
}

impl Shard {
    /// Grants `mode` on `key` to `owner` now if the lock is compatible and nobody is queued
    /// ahead (an owner already holding it in `mode` always rejoins). Otherwise, when `queue` is
    /// set, appends a waiter to the name's FIFO queue.
    #[inline]
    pub(crate) fn acquire(&self, key: Key<'_>, mode: Mode, owner: u64, queue: bool) -> Acquired {
        let globals = &*self.globals;
        let mut guard = self.state.lock();
        let shard = &mut *guard;
        let entry = shard.map.entry(
            key.hash,
            |e| e.name.as_bytes() == key.name.as_bytes(),
            |e| globals.hash(&e.name),
        );
        let entry = match entry {
            hashbrown::hash_table::Entry::Occupied(o) => o.into_mut(),
            hashbrown::hash_table::Entry::Vacant(v) => {
                // Fast path: a free name. The entry is created already held.
                let holder = globals.new_holder(owner);
                let name = key.name.to_arc();
                let holders = match mode {
                    Mode::Exclusive => Holders::Exclusive(holder),
                    Mode::Shared => Holders::Shared(vec![holder]),
                };
                v.insert(Entry {
                    name: name.clone(),
                    holders,
                    queue: None,
                });
                shard.stats.grants += 1;
                return Acquired::Granted(Granted {
                    name,
                    token: holder.token,
                    count: 1,
                });
            }
        };
        match entry.try_grant(globals, mode, owner, true) {
            Ok((token, count, fresh)) => {
                shard.stats.grants += u64::from(fresh);
                Acquired::Granted(Granted {
                    name: entry.name.clone(),
                    token,
                    count,
                })
            }
            Err(why) if !queue => Acquired::Busy(why),
            Err(_) => {
                let waiter = Arc::new(Waiter::new(mode, owner));
                entry
                    .queue
                    .get_or_insert_with(Default::default)
                    .push_back(waiter.clone());
                shard.stats.waits += 1;
                Acquired::Queued(waiter)
            }
        }
    }

    /// Releases the holding with `token` on `key` as `how` says. Returns the references left
    /// (0 when the holding ended), or `None` if no such holding exists (already released).
    #[inline]
    pub(crate) fn release(&self, key: Key<'_>, token: u64, how: Release) -> Option<u64> {
        let globals = &*self.globals;
        let mut wake = Vec::new();
        let left = {
            let mut guard = self.state.lock();
            let shard = &mut *guard;
            let mut slot = shard
                .map
                .find_entry(key.hash, |e| e.name.as_bytes() == key.name.as_bytes())
                .ok()?;
            let entry = slot.get_mut();
            let left = entry.drop_ref(token, how)?;
            if left == 0 {
                shard.stats.releases += 1;
                shard.stats.orphan_releases += u64::from(how == Release::Orphan);
                entry.grant_waiters(globals, &mut shard.stats, &mut wake);
                if entry.is_idle() {
                    slot.remove();
                    shard.shrink(globals);
                }
            }
            left
        };
        wake.into_iter().for_each(Waker::wake);
        Some(left)
    }

    /// Settles a waiter that stops waiting: if still queued, it leaves the queue (waking any
    /// waiter this unblocks) and is marked cancelled; if a grant already reached it, that grant is
    /// returned and stays recorded (the caller keeps it or gives it back with
    /// [`Release::Unclaimed`]). The returned outcome is never `Pending`.
    pub(crate) fn settle(&self, key: Key<'_>, waiter: &Arc<Waiter>, why: CancelReason) -> Outcome {
        let globals = &*self.globals;
        let mut wake = Vec::new();
        let outcome = {
            let mut guard = self.state.lock();
            let shard = &mut *guard;
            let outcome = waiter.outcome();
            if outcome != Outcome::Pending {
                return outcome;
            }
            // A pending waiter is always in its entry's queue (both change under this lock).
            let mut slot = shard
                .map
                .find_entry(key.hash, |e| e.name.as_bytes() == key.name.as_bytes())
                .unwrap_or_else(|_| unreachable!("a queued waiter keeps its entry alive"));
            let entry = slot.get_mut();
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
                slot.remove();
                shard.shrink(globals);
            }
            Outcome::Cancelled
        };
        wake.into_iter().for_each(Waker::wake);
        outcome
    }
}

impl ShardState {
    /// Gives memory back once a shard has emptied out (growth happens at 7/8 load, so shrinking
    /// below 1/8 cannot thrash).
    fn shrink(&mut self, globals: &Globals) {
        let cap = self.map.capacity();
        if cap > 64 && self.map.len() * 8 < cap {
            self.map
                .shrink_to(self.map.len() * 2, |e| globals.hash(&e.name));
        }
    }
}

impl Entry {
    fn is_idle(&self) -> bool {
        matches!(self.holders, Holders::Free) && self.queue.is_none()
    }

    fn holder_count(&self) -> usize {
        match &self.holders {
            Holders::Free => 0,
            Holders::Exclusive(_) => 1,
            Holders::Shared(v) => v.len(),
        }
    }

    /// Grants `mode` to `owner` if compatible. An owner that already holds the name in `mode`
    /// rejoins (one more reference, same token). With `fifo`, a non-empty queue blocks newcomers.
    /// Returns (token, holder count, whether this is a new holding).
    fn try_grant(
        &mut self,
        globals: &Globals,
        mode: Mode,
        owner: u64,
        fifo: bool,
    ) -> Result<(u64, usize, bool), Contention> {
        if owner != 0 {
            match (&mut self.holders, mode) {
                (Holders::Exclusive(h), Mode::Exclusive) if h.owner == owner => {
                    h.refs += 1;
                    return Ok((h.token, 1, false));
                }
                (Holders::Shared(v), Mode::Shared) => {
                    let n = v.len();
                    if let Some(h) = v.iter_mut().find(|h| h.owner == owner) {
                        h.refs += 1;
                        return Ok((h.token, n, false));
                    }
                }
                _ => {}
            }
        }
        if fifo {
            if let Some(q) = &self.queue {
                return Err(Contention::Queued(q.len()));
            }
        }
        match (&mut self.holders, mode) {
            (Holders::Free, Mode::Exclusive) => {
                let h = globals.new_holder(owner);
                self.holders = Holders::Exclusive(h);
                Ok((h.token, 1, true))
            }
            (Holders::Free, Mode::Shared) => {
                let h = globals.new_holder(owner);
                self.holders = Holders::Shared(vec![h]);
                Ok((h.token, 1, true))
            }
            (Holders::Shared(v), Mode::Shared) => {
                let h = globals.new_holder(owner);
                v.push(h);
                Ok((h.token, v.len(), true))
            }
            (Holders::Shared(v), Mode::Exclusive) => Err(Contention::HeldShared(v.len())),
            (Holders::Exclusive(_), _) => Err(Contention::HeldExclusive),
        }
    }

    /// Drops references of the holding with `token`; returns those left, `None` if not held.
    fn drop_ref(&mut self, token: u64, how: Release) -> Option<u64> {
        let take = |h: &mut Holder| -> u64 {
            match how {
                Release::One | Release::Unclaimed => h.refs -= 1,
                Release::All | Release::Orphan => h.refs = 0,
            }
            h.refs
        };
        match &mut self.holders {
            Holders::Exclusive(h) if h.token == token => {
                let left = take(h);
                if left == 0 {
                    self.holders = Holders::Free;
                }
                Some(left)
            }
            Holders::Shared(v) => {
                let at = v.iter().position(|h| h.token == token)?;
                let left = take(&mut v[at]);
                if left == 0 {
                    // `remove`, not `swap_remove`: holders stay in acquisition order.
                    v.remove(at);
                    if v.is_empty() {
                        self.holders = Holders::Free;
                    }
                }
                Some(left)
            }
            _ => None,
        }
    }

    /// Hands the lock to queued waiters, oldest first, for as long as the oldest is compatible
    /// (so consecutive shared waiters are granted together, and an exclusive waiter at the head
    /// stops later shared ones from overtaking it).
    fn grant_waiters(&mut self, globals: &Globals, stats: &mut Stats, wake: &mut Vec<Waker>) {
        while let Some(front) = self.queue.as_ref().and_then(|q| q.front()) {
            let (mode, owner) = (front.mode, front.owner);
            let Ok((token, count, fresh)) = self.try_grant(globals, mode, owner, false) else {
                break;
            };
            let queue = self.queue.as_mut().expect("front exists");
            let waiter = queue.pop_front().expect("front exists");
            if queue.is_empty() {
                self.queue = None;
            }
            stats.grants += u64::from(fresh);
            wake.extend(waiter.resolve(Outcome::Granted { token, count }));
        }
    }

    fn info(&self, globals: &Globals) -> LockInfo {
        let (mode, holders): (Mode, &[Holder]) = match &self.holders {
            Holders::Exclusive(h) => (Mode::Exclusive, std::slice::from_ref(h)),
            Holders::Shared(v) => (Mode::Shared, v),
            Holders::Free => (Mode::Exclusive, &[]),
        };
        let (mut exclusive_waiters, mut shared_waiters) = (0, 0);
        for w in self.queue.iter().flat_map(|q| q.iter()) {
            match w.mode {
                Mode::Exclusive => exclusive_waiters += 1,
                Mode::Shared => shared_waiters += 1,
            }
        }
        LockInfo {
            name: self.name.clone(),
            mode,
            holders: holders
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
        }
    }
}
