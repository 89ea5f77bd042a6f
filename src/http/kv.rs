//! KV operations of the store (spec §5): reads (single, `recurse`, `keys`, `raw`) with their
//! indexes, PUT (plain, `cas`, `acquire`, `release`) and DELETE. An `?acquire=` takes the core
//! exclusive lock of the key through the Consul session's core session, so it contends with
//! lockd-protocol and in-process users of the same name.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio::time::Instant;

use super::route::Reject;
use super::store::{Entry, Indexes, KvEntry, State, Store, next_index};

/// What a KV GET asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GetKind {
    Single,
    Raw,
    Recurse,
    /// Keys only, cut after the first separator (if any) that follows the prefix.
    Keys(Option<String>),
}

/// A KV GET's answer; `None` from [`Store::kv_get`] means 404.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KvAnswer {
    Entries(Vec<KvEntry>),
    Keys(Vec<String>),
    Raw(Vec<u8>),
}

/// What a KV PUT does besides writing the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PutOp {
    Plain,
    Cas(u64),
    Acquire(String),
    Release(String),
}

/// The entries under `prefix` (string prefix, not path-aware), in key order.
fn under<'a, V>(
    map: &'a std::collections::BTreeMap<String, V>,
    prefix: &'a str,
) -> impl Iterator<Item = (&'a String, &'a V)> + 'a {
    map.range::<str, _>((
        std::ops::Bound::Included(prefix),
        std::ops::Bound::Unbounded,
    ))
    .take_while(move |(k, _)| k.starts_with(prefix))
}

impl Store {
    /// The index a GET of `key` with `kind` reports now (cheap: for blocking re-checks).
    pub fn kv_indexes(&self, key: &str, kind: &GetKind) -> Indexes {
        let mut st = self.lock();
        self.kv_indexes_in(&mut st, key, kind)
    }

    fn kv_indexes_in(&self, st: &mut State, key: &str, kind: &GetKind) -> Indexes {
        let index = match kind {
            GetKind::Single | GetKind::Raw => {
                st.kv.get(key).map_or(st.kv_index, |e| e.modify_index)
            }
            GetKind::Recurse | GetKind::Keys(_) => {
                st.reap_tombstones();
                let entries = under(&st.kv, key).map(|(_, e)| e.modify_index).max();
                let tombs = st.tombstones.max_index_under(key);
                match entries.max(tombs).unwrap_or(0) {
                    0 => st.kv_index,
                    i => i,
                }
            }
        };
        Indexes::new(index, st.index)
    }

    /// A KV GET: its indexes and answer (`None`: 404).
    pub fn kv_get(&self, key: &str, kind: &GetKind) -> (Indexes, Option<KvAnswer>) {
        let mut guard = self.lock();
        let indexes = self.kv_indexes_in(&mut guard, key, kind);
        let st = &*guard;
        let answer = match kind {
            GetKind::Single => st
                .kv
                .get(key)
                .map(|e| KvAnswer::Entries(vec![self.view(st, key, e)])),
            GetKind::Raw => st.kv.get(key).map(|e| KvAnswer::Raw(e.value.clone())),
            GetKind::Recurse => {
                let all: Vec<KvEntry> = under(&st.kv, key)
                    .map(|(k, e)| self.view(st, k, e))
                    .collect();
                (!all.is_empty()).then_some(KvAnswer::Entries(all))
            }
            GetKind::Keys(separator) => {
                let mut keys: Vec<String> = Vec::new();
                for (k, _) in under(&st.kv, key) {
                    let cut = separator
                        .as_deref()
                        .filter(|s| !s.is_empty())
                        .and_then(|s| k[key.len()..].find(s).map(|at| key.len() + at + s.len()))
                        .map_or(k.as_str(), |end| &k[..end]);
                    if keys.last().map(String::as_str) != Some(cut) {
                        keys.push(cut.to_owned());
                    }
                }
                (!keys.is_empty() || key.is_empty()).then_some(KvAnswer::Keys(keys))
            }
        };
        (indexes, answer)
    }

    fn view(&self, st: &State, key: &str, e: &Entry) -> KvEntry {
        KvEntry {
            lock_index: e.lock_index,
            key: key.to_owned(),
            flags: e.flags,
            value: (!e.value.is_empty()).then(|| BASE64.encode(&e.value)),
            session: st.holder(&self.mgr, key).map(str::to_owned),
            create_index: e.create_index,
            modify_index: e.modify_index,
        }
    }

    /// A KV PUT (spec §5.3). `Ok(answer)` is the JSON `true`/`false`.
    pub fn kv_put(&self, key: &str, value: Vec<u8>, flags: u64, op: PutOp) -> Result<bool, Reject> {
        let mut guard = self.lock();
        let st = &mut *guard;
        match op {
            PutOp::Plain => {
                self.set(st, key, value, flags);
                Ok(true)
            }
            PutOp::Cas(n) => {
                let matches = match st.kv.get(key) {
                    None => n == 0,
                    Some(e) => n != 0 && e.modify_index == n,
                };
                if matches {
                    self.set(st, key, value, flags);
                }
                Ok(matches)
            }
            PutOp::Acquire(sid) => self.acquire(st, key, value, flags, &sid),
            PutOp::Release(sid) => {
                if sid.is_empty() {
                    return Err(Reject::new(500, "missing session"));
                }
                let held = st
                    .sessions
                    .get(&sid.to_ascii_lowercase())
                    .is_some_and(|s| st.kv.contains_key(key) && s.core.release(key));
                if held {
                    let i = next_index(&mut st.index);
                    let e = st.kv.get_mut(key).expect("checked above");
                    (e.value, e.flags, e.modify_index) = (value, flags, i);
                    st.kv_index = i;
                    st.touch(key);
                }
                Ok(held)
            }
        }
    }

    fn acquire(
        &self,
        st: &mut State,
        key: &str,
        value: Vec<u8>,
        flags: u64,
        sid: &str,
    ) -> Result<bool, Reject> {
        // The lock-delay is checked first, for any session (§4.5).
        if let Some(until) = st.delays.get(key) {
            if Instant::now() < *until {
                return Ok(false);
            }
            st.delays.remove(key);
        }
        if sid.is_empty() {
            return Err(Reject::new(500, "missing session"));
        }
        let Some(session) = st.sessions.get(&sid.to_ascii_lowercase()) else {
            return Err(Reject::new(500, format!("invalid session \"{sid}\"")));
        };
        if key.starts_with('\n') {
            // The core's names starting with LF are the lockd protocol's shared namespace.
            return Err(Reject::new(
                400,
                "Invalid key: a lock key may not start with a line feed",
            ));
        }
        // A fresh acquisition moves the key from free to held; a holder's repeat only rewrites.
        let fresh = !session.core.holds(key);
        if fresh {
            match session.core.get(key) {
                // Held by the session until release, delete or invalidation.
                Ok(guard) => drop(guard.keep()),
                Err(_) => return Ok(false),
            }
        } else if st
            .kv
            .get(key)
            .is_some_and(|e| e.flags == flags && e.value == value)
        {
            return Ok(true);
        }
        let i = next_index(&mut st.index);
        match st.kv.get_mut(key) {
            Some(e) => {
                e.lock_index += u64::from(fresh);
                (e.value, e.flags, e.modify_index) = (value, flags, i);
            }
            None => st.create(key, value, flags, 1, i),
        }
        st.kv_index = i;
        st.touch(key);
        Ok(true)
    }

    /// A plain write: value and flags; session, lock and `LockIndex` kept; a no-op if nothing
    /// changed.
    fn set(&self, st: &mut State, key: &str, value: Vec<u8>, flags: u64) {
        let i = match st.kv.get_mut(key) {
            Some(e) if e.flags == flags && e.value == value => return,
            Some(e) => {
                let i = next_index(&mut st.index);
                (e.value, e.flags, e.modify_index) = (value, flags, i);
                i
            }
            None => {
                let i = next_index(&mut st.index);
                st.create(key, value, flags, 0, i);
                i
            }
        };
        st.kv_index = i;
        st.touch(key);
    }

    /// A KV DELETE (spec §5.4); the JSON answer.
    pub fn kv_delete(&self, key: &str, recurse: bool, cas: Option<u64>) -> bool {
        let mut guard = self.lock();
        let st = &mut *guard;
        let doomed: Vec<String> = if recurse {
            under(&st.kv, key).map(|(k, _)| k.clone()).collect()
        } else {
            match (st.kv.get(key), cas) {
                (None, _) => return true,
                (Some(e), Some(n)) if e.modify_index != n || n == 0 => return false,
                _ => vec![key.to_owned()],
            }
        };
        if doomed.is_empty() {
            return true;
        }
        let i = next_index(&mut st.index);
        for k in &doomed {
            // Deleting a held key frees its core lock, with no lock-delay.
            if let Some(sid) = st.holder(&self.mgr, k).map(str::to_owned) {
                if let Some(s) = st.sessions.get(&sid) {
                    s.core.release(k);
                }
            }
            st.kv.remove(k);
            st.tombstone(k, i, self.tombstone_ttl);
            st.touch(k);
        }
        st.kv_index = i;
        st.reap_tombstones();
        true
    }
}
