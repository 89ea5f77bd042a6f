//! A session's holdings of one mode: held entries and their tokens, keyed by the lock table's own
//! hash of each name, so a session grant or release hashes the name once (for the table) and
//! reuses that hash here. While a name is held its entry stays in the table and is the only entry
//! of that name (I3), so a grant or a guard's release, which know the entry, find their holding by
//! the entry's address (no name comparison); lookups that start from a name compare names.

use hashbrown::HashTable;

use super::name::Name;
use super::table::{EntryPtr, Table};

/// Capacity a holdings map keeps however few entries are left: shrinking below it saves too
/// little to be worth a rehash.
pub(crate) const KEEP_CAPACITY: usize = 64;

/// Held entries and their tokens, by the table's hash of their names.
///
/// The entry pointers are uncounted: a recorded holding is held, and only its session ends it,
/// under the session's state lock, in the same critical section that removes the record (I4).
/// So every pointer here is valid while it is recorded, and every method may dereference it
/// (all run under the session's state lock, `&self`/`&mut self` being behind it).
#[derive(Default)]
pub(crate) struct Holdings(HashTable<(EntryPtr, u64)>);

/// The name of a recorded holding's entry.
fn name_of<'a>(node: EntryPtr) -> &'a Name {
    // SAFETY: (I4) a recorded holding is held, which keeps its entry alive (see `Holdings`); the
    // name is only used while the record is (under the session's state lock).
    unsafe { node.name() }
}

fn same(name: &Name) -> impl Fn(&(EntryPtr, u64)) -> bool + '_ {
    move |(n, _)| name_of(*n).as_bytes() == name.as_bytes()
}

fn same_entry(node: EntryPtr) -> impl Fn(&(EntryPtr, u64)) -> bool {
    move |(n, _)| node.is_ptr(*n)
}

impl Holdings {
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.0.capacity()
    }

    /// The token of the holding of `name` (whose table hash is `hash`), if any.
    #[inline]
    pub(crate) fn get(&self, hash: u64, name: &Name) -> Option<u64> {
        self.0.find(hash, same(name)).map(|(_, t)| *t)
    }

    /// Records a holding of `node` with `token` unless it is recorded already (a rejoin).
    ///
    /// # Safety
    /// The grant is held, and the caller holds the session's state lock from the grant on, so
    /// that only this session can end the holding, and it removes this record when it does (I4).
    #[inline]
    pub(crate) unsafe fn record(&mut self, table: &Table, hash: u64, node: EntryPtr, token: u64) {
        if let hashbrown::hash_table::Entry::Vacant(v) =
            self.0
                .entry(hash, same_entry(node), |(n, _)| table.key(name_of(*n)).hash)
        {
            v.insert((node, token));
        }
    }

    /// Removes the holding of `node` if its token is `token`; true if it did.
    #[inline]
    pub(crate) fn remove_if(
        &mut self,
        table: &Table,
        hash: u64,
        node: EntryPtr,
        token: u64,
    ) -> bool {
        match self.0.find_entry(hash, same_entry(node)) {
            Ok(slot) if slot.get().1 == token => {
                slot.remove();
                self.shrink(table);
                true
            }
            _ => false,
        }
    }

    /// One reference of the holding of `node` with `token` goes (a guard was dropped), in one
    /// probe: if that holding is still recorded, `release` ends the reference in the table and
    /// says how many are left; the holding is forgotten when none are. Nothing happens when the
    /// holding is no longer recorded (released by name, or the session closed).
    #[inline]
    pub(crate) fn release_ref(
        &mut self,
        table: &Table,
        hash: u64,
        node: EntryPtr,
        token: u64,
        release: impl FnOnce() -> Option<u64>,
    ) {
        let Ok(slot) = self.0.find_entry(hash, same_entry(node)) else {
            return;
        };
        if slot.get().1 != token {
            return;
        }
        if let Some(0) | None = release() {
            slot.remove();
            self.shrink(table);
        }
    }

    /// Removes the holding of `name`, if any, and gives memory back when most of it is unused.
    /// The entry pointer returned stays valid until the caller ends the holding (which it must,
    /// under the same state lock).
    #[inline]
    pub(crate) fn remove(
        &mut self,
        table: &Table,
        hash: u64,
        name: &Name,
    ) -> Option<(EntryPtr, u64)> {
        let (held, _) = self.0.find_entry(hash, same(name)).ok()?.remove();
        self.shrink(table);
        Some(held)
    }

    /// Every holding, leaving the map empty; the caller ends each (under the same state lock).
    pub(crate) fn take(&mut self) -> impl Iterator<Item = (EntryPtr, u64)> {
        std::mem::take(&mut self.0).into_iter()
    }

    /// The names held.
    pub(crate) fn names(&self) -> impl Iterator<Item = &Name> {
        self.0.iter().map(|(n, _)| name_of(*n))
    }

    /// Below 1/8 full, shrinks to twice its length (as the table's shards do). A map grows when
    /// full, so a session taking and releasing locks over and over does not resize it each time,
    /// and each shrink's rehash follows at least as many releases as it moves entries.
    #[inline]
    fn shrink(&mut self, table: &Table) {
        let cap = self.0.capacity();
        if cap > KEEP_CAPACITY && self.0.len() * 8 < cap {
            self.shrink_now(table);
        }
    }

    /// Out of line: the release path only pays for the check.
    #[cold]
    #[inline(never)]
    fn shrink_now(&mut self, table: &Table) {
        let len = self.0.len();
        self.0
            .shrink_to(len * 2, |(n, _)| table.key(name_of(*n)).hash);
    }
}
