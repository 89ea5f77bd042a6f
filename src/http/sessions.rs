//! Session operations of the store (spec §4): create, destroy, renew, reads, TTL expiry and
//! invalidation, which releases (or deletes) the session's keys and arms their lock-delays.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::session_spec::{SessionSpec, new_uuid};
use super::store::{ConsulSession, Indexes, SessionView, State, Store, next_index};

/// The longest lock-delay ever armed (spec §4.5).
const MAX_LOCK_DELAY: Duration = Duration::from_secs(60);

/// Which sessions a read returns.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SessionFilter<'a> {
    One(&'a str),
    Node(&'a str),
    All,
}

impl ConsulSession {
    fn view(&self, node: &str) -> SessionView {
        SessionView {
            id: self.id.clone(),
            name: self.spec.name.clone(),
            node: node.to_owned(),
            lock_delay: self.spec.lock_delay_ns,
            behavior: if self.spec.delete {
                "delete"
            } else {
                "release"
            },
            ttl: self.spec.ttl_text.clone(),
            node_checks: if self.spec.checks {
                vec!["serfHealth"]
            } else {
                Vec::new()
            },
            service_checks: None,
            create_index: self.create_index,
            modify_index: self.modify_index,
        }
    }
}

impl Store {
    /// Creates a session and starts its TTL timer; returns its id.
    pub fn create_session(self: &Arc<Self>, spec: SessionSpec) -> String {
        let id = new_uuid();
        let core = self.mgr.session();
        core.set_name(format!("consul:{id}"));
        let ttl = spec.ttl;
        {
            let mut guard = self.lock();
            let st = &mut *guard;
            let i = next_index(&mut st.index);
            st.sessions_index = i;
            st.sessions.insert(
                id.clone(),
                ConsulSession {
                    id: id.clone(),
                    spec,
                    create_index: i,
                    modify_index: i,
                    deadline: ttl.map(|t| Instant::now() + t * 2),
                    core,
                },
            );
        }
        if let Some(ttl) = ttl {
            self.expire_after(id.clone(), ttl * 2);
        }
        self.sessions_changed();
        id
    }

    /// Expires session `id` once its deadline passes (renewals move the deadline).
    fn expire_after(self: &Arc<Self>, id: String, first: Duration) {
        let store = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut at = Instant::now() + first;
            loop {
                tokio::time::sleep_until(at).await;
                let Some(store) = store.upgrade() else { return };
                let mut st = store.lock();
                match st.sessions.get(&id).map(|s| s.deadline) {
                    None => return,
                    Some(Some(deadline)) if deadline > Instant::now() => at = deadline,
                    Some(_) => {
                        store.invalidate(&mut st, &id);
                        return;
                    }
                }
            }
        });
    }

    /// The ACL token that made session `id`: `None` if there is no such session.
    pub fn session_owner(&self, id: &str) -> Option<Option<usize>> {
        let st = self.lock();
        st.sessions
            .get(&id.to_ascii_lowercase())
            .map(|s| s.spec.owner)
    }

    /// The sessions holding keys `key` (with `prefix`, every key under it).
    pub fn holders_of(&self, key: &str, prefix: bool) -> Vec<String> {
        let st = self.lock();
        let keys: Vec<&String> = match prefix {
            true => st.kv.keys().filter(|k| k.starts_with(key)).collect(),
            false => st
                .kv
                .get_key_value(key)
                .map(|(k, _)| k)
                .into_iter()
                .collect(),
        };
        keys.into_iter()
            .filter_map(|k| st.holder(&self.mgr, k).map(str::to_owned))
            .collect()
    }

    /// Destroys session `id` (any case); unknown ids are fine.
    pub fn destroy_session(&self, id: &str) {
        let mut st = self.lock();
        self.invalidate(&mut st, &id.to_ascii_lowercase());
    }

    /// Resets session `id`'s TTL timer; `None` if it does not exist.
    pub fn renew_session(&self, id: &str) -> Option<SessionView> {
        let mut st = self.lock();
        let s = st.sessions.get_mut(&id.to_ascii_lowercase())?;
        if let Some(ttl) = s.spec.ttl {
            s.deadline = Some(Instant::now() + ttl * 2);
        }
        Some(s.view(&self.node))
    }

    /// The sessions `filter` selects, sorted by id, with the sessions table index.
    pub fn sessions(&self, filter: SessionFilter<'_>) -> (Indexes, Vec<SessionView>) {
        let st = self.lock();
        let views = match filter {
            SessionFilter::One(id) => st
                .sessions
                .get(&id.to_ascii_lowercase())
                .map(|s| s.view(&self.node))
                .into_iter()
                .collect(),
            SessionFilter::Node(node) if !node.eq_ignore_ascii_case(&self.node) => Vec::new(),
            SessionFilter::Node(_) | SessionFilter::All => {
                st.sessions.values().map(|s| s.view(&self.node)).collect()
            }
        };
        (self.sessions_indexes(&st), views)
    }

    /// The index a session read reports.
    pub fn sessions_indexes(&self, st: &State) -> Indexes {
        Indexes::new(st.sessions_index, st.index)
    }

    /// Ends session `id` in one step at a new index (spec §4.4): removes it, releases or
    /// deletes every key it holds, arms their lock-delays, and wakes blocked queries.
    pub fn invalidate(&self, st: &mut State, id: &str) {
        let Some(session) = st.sessions.remove(id) else {
            return;
        };
        let i = next_index(&mut st.index);
        st.sessions_index = i;
        let held = session.core.held_names();
        session.core.close();
        let delay = Duration::from_nanos(session.spec.lock_delay_ns).min(MAX_LOCK_DELAY);
        let now = Instant::now();
        let mut kv_changed = false;
        if !delay.is_zero() {
            st.delays.retain(|_, until| *until > now); // forget delays that ran out
        }
        for name in held {
            let Ok(key) = std::str::from_utf8(name.as_bytes()) else {
                continue;
            };
            if !delay.is_zero() {
                st.delays.insert(key.to_owned(), now + delay);
            }
            if session.spec.delete {
                if st.kv.remove(key).is_some() {
                    st.tombstone(key, i, self.tombstone_ttl);
                    st.touch(key);
                    kv_changed = true;
                }
            } else if let Some(entry) = st.kv.get_mut(key) {
                entry.modify_index = i;
                st.touch(key);
                kv_changed = true;
            }
        }
        if kv_changed {
            st.kv_index = i;
        }
        self.sessions_changed();
    }
}
