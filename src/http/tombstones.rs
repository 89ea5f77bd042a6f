//! Tombstones of deleted KV keys (spec §5.4): the index of a key's deletion, kept for the
//! tombstone TTL so that a listing's index never goes backwards when its newest key goes.
//!
//! One tombstone per key: deleting a key again replaces its tombstone (and its place in the
//! expiry order), so PUT+DELETE of one key in a loop holds one entry, not one per delete.

use std::collections::BTreeMap;

use tokio::time::Instant;

/// The tombstones, by key and in order of expiry.
#[derive(Default)]
pub(crate) struct Tombstones {
    /// Deleted keys and the index of their deletion.
    by_key: BTreeMap<String, u64>,
    /// The same tombstones by (index, key), with their reap time. Every deletion uses the same
    /// TTL and indexes grow with time, so this is also the order of expiry.
    by_index: BTreeMap<(u64, String), Instant>,
}

impl Tombstones {
    /// Leaves a tombstone for `key`, deleted at index `i`, to be reaped at `reap_at`; an older
    /// tombstone of the same key goes.
    pub fn insert(&mut self, key: &str, i: u64, reap_at: Instant) {
        if let Some(old) = self.by_key.insert(key.to_owned(), i) {
            self.by_index.remove(&(old, key.to_owned()));
        }
        self.by_index.insert((i, key.to_owned()), reap_at);
    }

    /// Forgets `key`'s tombstone (the key exists again).
    pub fn remove(&mut self, key: &str) {
        if let Some(old) = self.by_key.remove(key) {
            self.by_index.remove(&(old, key.to_owned()));
        }
    }

    /// Forgets the tombstones whose reap time has come.
    pub fn reap(&mut self, now: Instant) {
        while let Some(entry) = self.by_index.first_entry() {
            if *entry.get() > now {
                break;
            }
            let (_, key) = entry.remove_entry().0;
            self.by_key.remove(&key);
        }
    }

    /// The newest deletion index among keys starting with `prefix`.
    pub fn max_index_under(&self, prefix: &str) -> Option<u64> {
        self.by_key
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, i)| *i)
            .max()
    }

    /// How many keys have a tombstone.
    pub fn len(&self) -> usize {
        debug_assert_eq!(self.by_key.len(), self.by_index.len());
        self.by_key.len()
    }

    /// Entries in the expiry order (equal to [`len`](Self::len); for tests).
    #[cfg(test)]
    pub fn queued(&self) -> usize {
        self.by_index.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn one_tombstone_per_key_and_reaping_in_order() {
        let t0 = Instant::now();
        let ttl = Duration::from_secs(10);
        let mut t = Tombstones::default();
        for i in 1..=1000u64 {
            t.insert("k", i, t0 + ttl + Duration::from_millis(i));
        }
        t.insert("other", 1001, t0 + ttl + Duration::from_millis(1001));
        assert_eq!((t.len(), t.queued()), (2, 2));
        assert_eq!(t.max_index_under("k"), Some(1000));
        assert_eq!(t.max_index_under(""), Some(1001));
        assert_eq!(t.max_index_under("x"), None);
        // The first delete's reap time is past, but "k" was deleted again since: it stays.
        t.reap(t0 + ttl + Duration::from_millis(999));
        assert_eq!(t.len(), 2);
        t.reap(t0 + ttl + Duration::from_millis(1000));
        assert_eq!((t.len(), t.max_index_under("")), (1, Some(1001)));
        t.remove("other");
        assert_eq!((t.len(), t.queued()), (0, 0));
    }
}
