//! The Consul frontend's own state (spec §2, §10): KV values, flags and indexes, tombstones,
//! the session table and lock-delays, under one mutex; plus the change signals that wake
//! blocking queries. Who holds which key is never stored here: it is asked of the core
//! ([`LockManager::holder_sessions`]), where a Consul session is a core [`Session`].
//! The KV operations are in `kv.rs`, the session operations in `sessions.rs`.
//!
//! The state is reached through [`Store::lock`], whose guard wakes the blocking queries on
//! the keys a write touched once it has unlocked: other requests never wait on wake-ups.

use std::collections::{BTreeMap, HashMap};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use super::key_watch::{self, KeyWatch, KeyWatchers};
use super::session_spec::SessionSpec;
use super::tombstones::Tombstones;
use crate::lock::sync::Mutex;
use crate::{LockManager, Session};

/// A stored KV entry (the key is the map key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub lock_index: u64,
    pub flags: u64,
    pub value: Vec<u8>,
    pub create_index: u64,
    pub modify_index: u64,
}

/// A live Consul session: its settings, indexes, TTL deadline and the core session that holds
/// its locks.
pub(crate) struct ConsulSession {
    pub id: String,
    pub spec: SessionSpec,
    pub create_index: u64,
    pub modify_index: u64,
    /// When the session expires (2 × TTL after create or renew), if it has a TTL.
    pub deadline: Option<Instant>,
    pub core: Session,
}

/// Everything under the store's mutex.
#[derive(Default)]
pub(crate) struct State {
    /// The global index: the last value a write took (starts at 1).
    pub index: u64,
    /// The last index that changed a KV entry or made a tombstone.
    pub kv_index: u64,
    /// The last index that created or removed a session.
    pub sessions_index: u64,
    pub kv: BTreeMap<String, Entry>,
    /// Deleted keys and the index of their deletion, one per key.
    pub tombstones: Tombstones,
    /// Live sessions by lower-case id (so sorted by id).
    pub sessions: BTreeMap<String, ConsulSession>,
    /// Keys that no `?acquire=` may take before the given time.
    pub delays: HashMap<String, Instant>,
    /// Keys written under this lock whose watchers are still to wake (see [`State::touch`]).
    touched: Vec<String>,
}

/// Takes the next index value for a write.
pub(crate) fn next_index(index: &mut u64) -> u64 {
    *index += 1;
    *index
}

impl State {
    /// The Consul session id holding core lock `key`, if one of this store's sessions holds
    /// it. Read from the core: a holder's core session is named `consul:<id>` (which is also how
    /// the lockd protocol's listings show it), and must be that session's own core session.
    pub fn holder(&self, mgr: &LockManager, key: &str) -> Option<&str> {
        mgr.holder_sessions(key.as_bytes())
            .into_iter()
            .find_map(|core_id| {
                let name = mgr.session_name(core_id)?;
                let id = std::str::from_utf8(name.as_bytes())
                    .ok()?
                    .strip_prefix("consul:")?;
                let (id, session) = self.sessions.get_key_value(id)?;
                (session.core.id() == core_id).then_some(id.as_str())
            })
    }

    /// Stores a new entry for `key`, created at index `i`; its tombstone, if any, goes.
    pub fn create(&mut self, key: &str, value: Vec<u8>, flags: u64, lock_index: u64, i: u64) {
        self.tombstones.remove(key);
        let entry = Entry {
            lock_index,
            flags,
            value,
            create_index: i,
            modify_index: i,
        };
        self.kv.insert(key.to_owned(), entry);
    }

    /// Leaves a tombstone for `key`, deleted at index `i` (replacing an older one).
    pub fn tombstone(&mut self, key: &str, i: u64, ttl: Duration) {
        self.tombstones.insert(key, i, Instant::now() + ttl);
    }

    /// Forgets tombstones older than their TTL.
    pub fn reap_tombstones(&mut self) {
        self.tombstones.reap(Instant::now());
    }

    /// Marks `key` as changed: the blocking queries on it and on its prefixes wake when the
    /// lock is released.
    pub fn touch(&mut self, key: &str) {
        self.touched.push(key.to_owned());
    }
}

/// What reads report besides their answer: the index for `X-Consul-Index` (never 0) and the
/// global index when the answer was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Indexes {
    pub index: u64,
    pub global: u64,
}

impl Indexes {
    pub fn new(index: u64, global: u64) -> Self {
        Indexes {
            index: index.max(1),
            global,
        }
    }
}

/// The frontend's state and its change signals: the session table's, and the per-key ones of
/// blocking KV queries.
pub(crate) struct Store {
    pub mgr: LockManager,
    pub node: String,
    pub tombstone_ttl: Duration,
    state: Mutex<State>,
    /// Under their own mutex, never taken while `state` is held.
    watchers: Arc<Mutex<KeyWatchers>>,
    sessions_changed: watch::Sender<()>,
}

/// The locked state. Dropping it unlocks, then wakes the watchers of the keys touched under
/// it ([`State::touch`]). A query that subscribed before the write is woken; one that
/// subscribes after it reads the written state (its check takes the lock after the write
/// released it), so no change is missed.
pub(crate) struct StateGuard<'a, G: DerefMut<Target = State>> {
    guard: Option<G>,
    watchers: &'a Mutex<KeyWatchers>,
}

impl<G: DerefMut<Target = State>> Deref for StateGuard<'_, G> {
    type Target = State;
    fn deref(&self) -> &State {
        self.guard.as_ref().expect("locked until dropped")
    }
}

impl<G: DerefMut<Target = State>> DerefMut for StateGuard<'_, G> {
    fn deref_mut(&mut self) -> &mut State {
        self.guard.as_mut().expect("locked until dropped")
    }
}

impl<G: DerefMut<Target = State>> Drop for StateGuard<'_, G> {
    fn drop(&mut self) {
        let Some(mut guard) = self.guard.take() else {
            return;
        };
        let touched = std::mem::take(&mut guard.touched);
        drop(guard);
        if touched.is_empty() {
            return;
        }
        let mut signals = Vec::new();
        {
            let watchers = self.watchers.lock();
            for key in &touched {
                watchers.collect(key, &mut signals);
            }
        }
        for tx in signals {
            tx.send_replace(());
        }
    }
}

impl Store {
    pub fn new(mgr: LockManager, node: String, tombstone_ttl: Duration) -> Self {
        Store {
            mgr,
            node,
            tombstone_ttl,
            state: Mutex::new(State {
                index: 1,
                ..State::default()
            }),
            watchers: Default::default(),
            sessions_changed: watch::channel(()).0,
        }
    }

    /// Locks the state; see [`StateGuard`].
    pub fn lock(&self) -> StateGuard<'_, impl DerefMut<Target = State> + '_> {
        StateGuard {
            guard: Some(self.state.lock()),
            watchers: &self.watchers,
        }
    }

    /// Subscribes to changes of `key` (or, with `prefix`, of any key under it).
    pub fn watch_key(&self, key: &str, prefix: bool) -> KeyWatch {
        key_watch::watch_key(&self.watchers, key, prefix)
    }

    /// A receiver that sees every later change of the session table.
    pub fn watch_sessions(&self) -> watch::Receiver<()> {
        self.sessions_changed.subscribe()
    }

    /// Wakes the blocking queries on the session table.
    pub fn sessions_changed(&self) {
        self.sessions_changed.send_replace(());
    }
}

/// A KV entry as JSON (spec §5.1), fields in Consul's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct KvEntry {
    pub lock_index: u64,
    pub key: String,
    pub flags: u64,
    /// Standard padded base64; `null` when empty.
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    pub create_index: u64,
    pub modify_index: u64,
}

/// A session as JSON (spec §3), fields in Consul's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct SessionView {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Node")]
    pub node: String,
    /// Nanoseconds.
    #[serde(rename = "LockDelay")]
    pub lock_delay: u64,
    #[serde(rename = "Behavior")]
    pub behavior: &'static str,
    #[serde(rename = "TTL")]
    pub ttl: String,
    #[serde(rename = "NodeChecks")]
    pub node_checks: Vec<&'static str>,
    #[serde(rename = "ServiceChecks")]
    pub service_checks: Option<Vec<()>>,
    #[serde(rename = "CreateIndex")]
    pub create_index: u64,
    #[serde(rename = "ModifyIndex")]
    pub modify_index: u64,
}
