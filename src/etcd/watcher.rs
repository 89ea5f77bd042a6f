//! Held-key deletions, for every session of a manager: one watch on the whole lock range
//! (deletions only), and a registry of the keys its sessions hold. A registered key deleted with
//! the token it was registered with was deleted by someone else (a session deregisters a key
//! before deleting it itself), so its session is lost at once. One watch per manager, however
//! many sessions: a server's connections cost no watch each.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use etcd_client::{Client, EventType, GetOptions, WatchFilterType, WatchOptions};
use tokio::sync::watch;

/// Where a session is told it is lost.
pub(crate) type LostFlag = Arc<watch::Sender<bool>>;

/// Held keys: each with the token it was registered with and its session's lost flag.
type Keys = Mutex<HashMap<Vec<u8>, (i64, Weak<watch::Sender<bool>>)>>;

/// The registry and its watch task (started with the first registration).
pub(crate) struct HeldKeys {
    range: Vec<u8>,
    keys: Arc<Keys>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl HeldKeys {
    pub(crate) fn new(range: Vec<u8>) -> Self {
        HeldKeys {
            range,
            keys: Arc::default(),
            task: Mutex::new(None),
        }
    }

    /// `key`, made at `token`, is held by the session that `lost` belongs to.
    pub(crate) fn register(&self, client: &Client, key: Vec<u8>, token: i64, lost: &LostFlag) {
        self.keys
            .lock()
            .unwrap()
            .insert(key, (token, Arc::downgrade(lost)));
        let mut task = self.task.lock().unwrap();
        // Started anew if its runtime has gone (a server's event loop that stopped).
        if task.as_ref().is_none_or(|t| t.is_finished()) {
            let keys = Arc::downgrade(&self.keys);
            *task = Some(tokio::spawn(run(client.clone(), self.range.clone(), keys)));
        }
    }

    /// The holding of `key` made at `token` ends by its session's own doing (called before the
    /// session deletes it).
    pub(crate) fn deregister(&self, key: &[u8], token: i64) {
        let mut keys = self.keys.lock().unwrap();
        if keys.get(key).is_some_and(|(t, _)| *t == token) {
            keys.remove(key);
        }
    }
}

impl Drop for HeldKeys {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap().take() {
            task.abort();
        }
    }
}

type Registry = Weak<Keys>;

/// `key` was deleted at revision `at`: if it is registered with a token (creation revision)
/// below that, the registered holding is what was deleted (a session deletes its own key before
/// it makes the key again, so no later incarnation can exist between the two), and its session
/// is lost. Deletion events then need no previous value (which costs the cluster a read each).
fn deleted(keys: &Registry, key: &[u8], at: i64) {
    let Some(keys) = keys.upgrade() else { return };
    let mut keys = keys.lock().unwrap();
    if keys.get(key).is_some_and(|(t, _)| *t < at) {
        if let Some((_, lost)) = keys.remove(key) {
            if let Some(lost) = lost.upgrade() {
                if !lost.send_replace(true) {
                    tracing::warn!(key = %String::from_utf8_lossy(key), "a held key was deleted by someone else: session lost");
                }
            }
        }
    }
}

async fn run(client: Client, range: Vec<u8>, keys: Registry) {
    loop {
        if keys.strong_count() == 0 {
            return;
        }
        if let Err(e) = watch_once(&client, &range, &keys).await {
            tracing::debug!(error = %e, "held-key watch broke; reading again");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Reads the range once (a registered key missing from it, or made at another revision, was
/// deleted while no watch was open), then watches deletions from after that read until the
/// stream breaks or is compacted away.
async fn watch_once(
    client: &Client,
    range: &[u8],
    keys: &Registry,
) -> Result<(), etcd_client::Error> {
    let mut c = client.clone();
    let now = c
        .get(
            range.to_vec(),
            Some(GetOptions::new().with_prefix().with_keys_only()),
        )
        .await?;
    let revision = now.header().map_or(0, |h| h.revision());
    let present: HashSet<(Vec<u8>, i64)> = now
        .kvs()
        .iter()
        .map(|kv| (kv.key().to_vec(), kv.create_revision()))
        .collect();
    let registered: Vec<(Vec<u8>, i64)> = match keys.upgrade() {
        Some(k) => k
            .lock()
            .unwrap()
            .iter()
            .map(|(k, (t, _))| (k.clone(), *t))
            .collect(),
        None => return Ok(()),
    };
    for (key, token) in registered {
        // Registered after the read began are not in it: only a key older than the read counts.
        if token <= revision && !present.contains(&(key.clone(), token)) {
            deleted(keys, &key, revision + 1);
        }
    }
    let options = WatchOptions::new()
        .with_prefix()
        .with_start_revision(revision + 1)
        .with_filters([WatchFilterType::NoPut]);
    let mut stream = c.watch(range.to_vec(), Some(options)).await?;
    while let Some(r) = stream.message().await? {
        if r.canceled() {
            return Ok(());
        }
        for e in r.events() {
            if e.event_type() == EventType::Delete {
                if let Some(kv) = e.kv() {
                    deleted(keys, kv.key(), kv.mod_revision());
                }
            }
        }
        if keys.strong_count() == 0 {
            return Ok(());
        }
    }
    Ok(())
}
