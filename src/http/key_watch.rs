//! Per-key change signals for blocking KV queries (spec §6): a parked query on key K wakes only
//! when K changes, and one on prefix P only when a key under P changes, so thousands of parked
//! queries cost nothing while idle and a write wakes just its own watchers. A signal exists
//! while someone watches it.
//!
//! The signals have their own mutex, apart from the store's: the store collects the keys a
//! write touched and wakes their watchers after it unlocks (`store.rs`), so waking never
//! holds up other requests. Finding a key's watchers costs one hash of the key and one walk
//! down a radix tree of the watched prefixes: linear in the key's length.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;

use super::prefix_trie::PrefixTrie;
use crate::lock::sync::Mutex;

/// The signals, by exact key and by prefix.
#[derive(Default)]
pub(crate) struct KeyWatchers {
    exact: HashMap<String, watch::Sender<()>>,
    prefix: PrefixTrie<watch::Sender<()>>,
}

impl KeyWatchers {
    /// Adds the signals that `key` changing must fire (the key's own, and those of every
    /// watched prefix of it) to `out`, to be sent once the lock is released.
    pub fn collect(&self, key: &str, out: &mut Vec<watch::Sender<()>>) {
        if let Some(tx) = self.exact.get(key) {
            out.push(tx.clone());
        }
        if !self.prefix.is_empty() {
            self.prefix
                .for_each_prefix_of(key.as_bytes(), |tx| out.push(tx.clone()));
        }
    }

    /// Signals the watchers of `key` and of every prefix of it, now.
    #[cfg(test)]
    pub fn touch(&self, key: &str) {
        let mut out = Vec::new();
        self.collect(key, &mut out);
        for tx in out {
            tx.send_replace(());
        }
    }

    fn subscribe(&mut self, key: &str, prefix: bool) -> watch::Receiver<()> {
        let make = || watch::channel(()).0;
        if prefix {
            self.prefix.get_or_insert_with(key.as_bytes(), make)
        } else {
            self.exact.entry(key.to_owned()).or_insert_with(make)
        }
        .subscribe()
    }

    /// Forgets the signal of `key` if the caller's receiver is the last one.
    fn unsubscribe(&mut self, key: &str, prefix: bool) {
        let last = |tx: &watch::Sender<()>| tx.receiver_count() <= 1;
        if prefix {
            if self.prefix.get(key.as_bytes()).is_some_and(last) {
                self.prefix.remove(key.as_bytes());
            }
        } else if self.exact.get(key).is_some_and(last) {
            self.exact.remove(key);
        }
    }

    /// How many signals exist (exact, prefix).
    #[cfg(test)]
    pub fn counts(&self) -> (usize, usize) {
        (self.exact.len(), self.prefix.len())
    }
}

/// One parked query's subscription; dropping it forgets the signal when nobody else uses it.
pub(crate) struct KeyWatch {
    pub changed: watch::Receiver<()>,
    watchers: Arc<Mutex<KeyWatchers>>,
    key: String,
    prefix: bool,
}

/// Subscribes to changes of `key` (or, with `prefix`, of any key under it) in `watchers`.
pub(crate) fn watch_key(watchers: &Arc<Mutex<KeyWatchers>>, key: &str, prefix: bool) -> KeyWatch {
    let changed = watchers.lock().subscribe(key, prefix);
    KeyWatch {
        changed,
        watchers: watchers.clone(),
        key: key.to_owned(),
        prefix,
    }
}

impl Drop for KeyWatch {
    fn drop(&mut self) {
        // Our own receiver is still alive here: the last one counts as 1.
        self.watchers.lock().unsubscribe(&self.key, self.prefix);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_wake_only_their_watchers_and_signals_are_forgotten() {
        let watchers = Arc::new(Mutex::new(KeyWatchers::default()));
        let mut exact = watch_key(&watchers, "a/b", false);
        let mut prefix = watch_key(&watchers, "a/", true);
        let other = watch_key(&watchers, "z", false);
        let mut all = watch_key(&watchers, "", true);
        let twice = watch_key(&watchers, "a/", true);
        watchers.lock().touch("a/b");
        assert!(exact.changed.has_changed().unwrap());
        assert!(prefix.changed.has_changed().unwrap());
        assert!(all.changed.has_changed().unwrap());
        assert!(!other.changed.has_changed().unwrap());
        exact.changed.mark_unchanged();
        prefix.changed.mark_unchanged();
        all.changed.mark_unchanged();
        watchers.lock().touch("a/c");
        assert!(!exact.changed.has_changed().unwrap());
        assert!(prefix.changed.has_changed().unwrap());
        watchers.lock().touch("a");
        assert!(all.changed.has_changed().unwrap());
        drop(prefix);
        assert_eq!(
            watchers.lock().counts(),
            (2, 2),
            "a shared signal went early"
        );
        drop((exact, other, all, twice));
        assert_eq!(watchers.lock().counts(), (0, 0));
    }

    #[tokio::test]
    async fn a_long_key_wakes_its_prefix_watchers() {
        let watchers = Arc::new(Mutex::new(KeyWatchers::default()));
        let key = "k".repeat(60_000);
        let near = watch_key(&watchers, &key[..59_999], true);
        let short = watch_key(&watchers, "k", true);
        let longer = watch_key(&watchers, &format!("{key}k"), true);
        let elsewhere = watch_key(&watchers, "kx", true);
        watchers.lock().touch(&key);
        assert!(near.changed.has_changed().unwrap());
        assert!(short.changed.has_changed().unwrap());
        assert!(!longer.changed.has_changed().unwrap());
        assert!(!elsewhere.changed.has_changed().unwrap());
    }
}
