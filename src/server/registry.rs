//! The `iam`/`who` registry (spec §6.3): display names of protocol connections, oldest
//! registration first. Names are labels only; ownership is always by connection. The name is
//! also set on the connection's core session, so snapshots and listings see it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::lock::sync::Mutex;

/// One registration: session id, display id, name.
type Registration = (u64, Arc<[u8]>, Vec<u8>);

#[derive(Debug, Default)]
struct Inner {
    next: u64,
    /// Registration sequence → registration.
    by_seq: BTreeMap<u64, Registration>,
    /// Session id → its registration sequence.
    by_session: std::collections::HashMap<u64, u64>,
}

/// Registered connections in registration order.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    inner: Mutex<Inner>,
}

impl Registry {
    /// Registers `name` for a session (empty = unregister); a new registration is always the
    /// newest, even with an unchanged name.
    pub(crate) fn set(&self, session: u64, id: &Arc<[u8]>, name: &[u8]) {
        let mut inner = self.inner.lock();
        if let Some(seq) = inner.by_session.remove(&session) {
            inner.by_seq.remove(&seq);
        }
        if !name.is_empty() {
            let seq = inner.next;
            inner.next += 1;
            inner
                .by_seq
                .insert(seq, (session, id.clone(), name.to_vec()));
            inner.by_session.insert(session, seq);
        }
    }

    /// Forgets a session (its connection ended).
    pub(crate) fn remove(&self, session: u64) {
        self.set(session, &Arc::from(&b""[..]), b"");
    }

    /// (display id, name) of every registration, oldest first, optionally only those named
    /// exactly `name`.
    pub(crate) fn list(&self, name: Option<&[u8]>) -> Vec<(Arc<[u8]>, Vec<u8>)> {
        let inner = self.inner.lock();
        inner
            .by_seq
            .values()
            .filter(|(_, _, n)| name.is_none_or(|want| n == want))
            .map(|(_, id, n)| (id.clone(), n.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_first_reregistration_moves_last() {
        let r = Registry::default();
        let (a, b): (Arc<[u8]>, Arc<[u8]>) = (Arc::from(&b"A"[..]), Arc::from(&b"B"[..]));
        r.set(1, &a, b"c1");
        r.set(2, &b, b"c1");
        let ids: Vec<_> = r.list(Some(b"c1")).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, [a.clone(), b.clone()]);
        r.set(1, &a, b"c1"); // re-iam: newest
        let ids: Vec<_> = r.list(None).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, [b.clone(), a.clone()]);
        r.set(2, &b, b""); // empty name unregisters
        r.remove(1);
        assert!(r.list(None).is_empty());
    }
}
