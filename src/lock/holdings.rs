//! A session's holdings of one mode: held entries and their tokens, keyed by the lock table's own
//! hash of each name, so a session grant or release hashes the name once (for the table) and
//! reuses that hash here.

use hashbrown::HashTable;

use super::name::Name;
use super::table::{EntryPtr, Node, Table};

/// Capacity a holdings map keeps however few entries are left: shrinking below it saves too
/// little to be worth a rehash.
pub(crate) const KEEP_CAPACITY: usize = 64;

/// Held entries (counted references) and their tokens, by the table's hash of their names.
#[derive(Default)]
pub(crate) struct Holdings(HashTable<(Node, u64)>);

fn same(name: &Name) -> impl Fn(&(Node, u64)) -> bool + '_ {
    move |(n, _)| n.name().as_bytes() == name.as_bytes()
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

    /// Records a holding of `node` with `token` unless one of its name is recorded (a rejoin).
    ///
    /// # Safety
    /// The grant is held, so `node` is alive (I3, I5).
    #[inline]
    pub(crate) unsafe fn record(&mut self, table: &Table, hash: u64, node: EntryPtr, token: u64) {
        // SAFETY: (I3, I5) the held grant keeps the node alive (the caller says so).
        let name = unsafe { node.name() };
        if let hashbrown::hash_table::Entry::Vacant(v) = self
            .0
            .entry(hash, same(name), |(n, _)| table.key(n.name()).hash)
        {
            // SAFETY: (I3, I5) as above.
            v.insert((unsafe { node.counted() }, token));
        }
    }

    /// Removes the holding of `name` if its token is `token`; true if it did.
    #[inline]
    pub(crate) fn remove_if(&mut self, table: &Table, hash: u64, name: &Name, token: u64) -> bool {
        match self.0.find_entry(hash, same(name)) {
            Ok(slot) if slot.get().1 == token => {
                drop(slot.remove());
                self.shrink(table);
                true
            }
            _ => false,
        }
    }

    /// Removes the holding of `name`, if any, and gives memory back when most of it is unused.
    #[inline]
    pub(crate) fn remove(&mut self, table: &Table, hash: u64, name: &Name) -> Option<(Node, u64)> {
        let (held, _) = self.0.find_entry(hash, same(name)).ok()?.remove();
        self.shrink(table);
        Some(held)
    }

    /// Every holding, leaving the map empty.
    pub(crate) fn take(&mut self) -> impl Iterator<Item = (Node, u64)> {
        std::mem::take(&mut self.0).into_iter()
    }

    /// The held entries.
    pub(crate) fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.0.iter().map(|(n, _)| n)
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
        self.0.shrink_to(len * 2, |(n, _)| table.key(n.name()).hash);
    }
}
