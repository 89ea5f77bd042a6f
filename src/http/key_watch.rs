//! Per-key change signals for blocking KV queries (spec §6): a parked query on key K wakes only
//! when K changes, and one on prefix P only when a key under P changes, so thousands of parked
//! queries cost nothing while idle and a write wakes just its own watchers. A signal exists
//! while someone watches it.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;

use super::store::Store;

/// The signals, by exact key and by prefix. Lives in the store's state, under its mutex.
#[derive(Default)]
pub(crate) struct KeyWatchers {
    exact: HashMap<String, watch::Sender<()>>,
    prefix: HashMap<String, watch::Sender<()>>,
}

impl KeyWatchers {
    /// Signals the watchers of `key` and of every prefix of it.
    pub fn touch(&self, key: &str) {
        if let Some(tx) = self.exact.get(key) {
            tx.send_replace(());
        }
        if self.prefix.is_empty() {
            return;
        }
        let ends = key.char_indices().map(|(i, _)| i).chain([key.len()]);
        for end in ends {
            if let Some(tx) = self.prefix.get(&key[..end]) {
                tx.send_replace(());
            }
        }
    }

    fn map(&mut self, prefix: bool) -> &mut HashMap<String, watch::Sender<()>> {
        if prefix {
            &mut self.prefix
        } else {
            &mut self.exact
        }
    }
}

/// One parked query's subscription; dropping it forgets the signal when nobody else uses it.
pub(crate) struct KeyWatch {
    pub changed: watch::Receiver<()>,
    store: Arc<Store>,
    key: String,
    prefix: bool,
}

impl Store {
    /// Subscribes to changes of `key` (or, with `prefix`, of any key under it).
    pub fn watch_key(self: &Arc<Self>, key: &str, prefix: bool) -> KeyWatch {
        let mut st = self.state.lock();
        let changed = st
            .watchers
            .map(prefix)
            .entry(key.to_owned())
            .or_insert_with(|| watch::channel(()).0)
            .subscribe();
        KeyWatch {
            changed,
            store: self.clone(),
            key: key.to_owned(),
            prefix,
        }
    }
}

impl Drop for KeyWatch {
    fn drop(&mut self) {
        let mut st = self.store.state.lock();
        let map = st.watchers.map(self.prefix);
        // Our own receiver is still alive here: 1 means nobody else watches.
        if map
            .get(&self.key)
            .is_some_and(|tx| tx.receiver_count() <= 1)
        {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LockManager;
    use std::time::Duration;

    #[tokio::test]
    async fn writes_wake_only_their_watchers_and_signals_are_forgotten() {
        let store = Arc::new(Store::new(
            LockManager::new(),
            "lockd".into(),
            Duration::from_secs(1),
        ));
        let mut exact = store.watch_key("a/b", false);
        let mut prefix = store.watch_key("a/", true);
        let mut other = store.watch_key("z", false);
        store.state.lock().watchers.touch("a/b");
        assert!(exact.changed.has_changed().unwrap());
        assert!(prefix.changed.has_changed().unwrap());
        assert!(!other.changed.has_changed().unwrap());
        exact.changed.mark_unchanged();
        prefix.changed.mark_unchanged();
        store.state.lock().watchers.touch("a/c");
        assert!(!exact.changed.has_changed().unwrap());
        assert!(prefix.changed.has_changed().unwrap());
        other.changed.mark_unchanged();
        drop((exact, prefix, other));
        let st = store.state.lock();
        assert!(st.watchers.exact.is_empty() && st.watchers.prefix.is_empty());
    }
}
