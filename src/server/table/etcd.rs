//! The etcd table: the lock table of an etcd cluster, shared by every server (and program) that
//! connects with the same prefix. All of a server's connections are sessions on the server's one
//! lease; each request key carries its connection's display id as its label, so any server's
//! listings name every holder as its own server saw it.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Holder, LockView, Registration, Table, Unavailable};
use crate::etcd::{EtcdLockInfo, EtcdManager, EtcdSession};

/// A cluster's lock table, as a server serves it.
pub(crate) struct Etcd {
    pub(crate) mgr: EtcdManager,
}

/// The granted requests of a lock, as holders; the lock's mode is its first holder's.
fn view(lock: EtcdLockInfo, names: &HashMap<String, Vec<u8>>) -> Option<LockView> {
    let mode = lock.requests.iter().find(|r| r.granted)?.mode;
    Some(LockView {
        name: lock.name.as_bytes().to_vec(),
        mode,
        holders: lock
            .requests
            .into_iter()
            .filter(|r| r.granted)
            .map(|r| Holder {
                session: None,
                name: names.get(&r.session).cloned(),
                label: Some(r.label.into_bytes()),
            })
            .collect(),
    })
}

impl Etcd {
    async fn names_by_session(&self) -> Result<HashMap<String, Vec<u8>>, Unavailable> {
        Ok(self
            .mgr
            .names()
            .await?
            .into_iter()
            .map(|n| (n.session, n.name))
            .collect())
    }
}

impl Table for Etcd {
    type Session = EtcdSession;
    const KIND: &'static str = "etcd";
    const ENDS_AT_ONCE: bool = false;

    fn patience(&self) -> std::time::Duration {
        self.mgr.config().request_timeout
    }

    async fn open(&self, id: &[u8], lock_limit: Option<usize>) -> Result<EtcdSession, Unavailable> {
        let label = String::from_utf8_lossy(id).into_owned();
        let session = self.mgr.labelled_session_on_shared_lease(label).await?;
        session.set_lock_limit(lock_limit);
        Ok(session)
    }

    fn number(session: &EtcdSession) -> u64 {
        session.number()
    }

    fn held_counts(session: &EtcdSession) -> (usize, usize) {
        session.held_counts()
    }

    fn cancel_waits(_: &EtcdSession) {
        // Nothing to do: once shutdown has begun no grant is kept (the server gives it back),
        // and ending the session ends its waits.
    }

    fn is_closed(session: &EtcdSession) -> bool {
        session.is_closed()
    }

    async fn end(&self, session: &EtcdSession) {
        if let Err(e) = session.close().await {
            // Retried in the background until the keys are gone or the lease is.
            tracing::warn!(session = session.id(), error = %e, "releasing a connection's locks failed");
        }
    }

    async fn inspect_both(&self, name: &[u8]) -> Result<(bool, usize), Unavailable> {
        Ok(self.mgr.inspect_both(name).await?)
    }

    async fn inspect_shared(&self, name: &[u8]) -> Result<usize, Unavailable> {
        Ok(self.mgr.inspect_shared(name).await?)
    }

    async fn snapshot(&self) -> Result<Vec<LockView>, Unavailable> {
        let locks = self.mgr.snapshot().await?;
        let names = self.names_by_session().await?;
        Ok(locks.into_iter().filter_map(|l| view(l, &names)).collect())
    }

    async fn lock_info(&self, name: &[u8]) -> Result<Option<LockView>, Unavailable> {
        let Some(lock) = self.mgr.lock_info(name).await? else {
            return Ok(None);
        };
        let names = self.names_by_session().await?;
        Ok(view(lock, &names))
    }

    async fn set_name(
        &self,
        session: &EtcdSession,
        _id: &Arc<[u8]>,
        name: &[u8],
    ) -> Result<(), Unavailable> {
        Ok(session.set_name(name).await?)
    }

    fn name_of(session: &EtcdSession) -> Option<Vec<u8>> {
        session.name()
    }

    async fn names(&self, name: Option<&[u8]>) -> Result<Vec<Registration>, Unavailable> {
        Ok(self
            .mgr
            .names()
            .await?
            .into_iter()
            .filter(|n| name.is_none_or(|want| n.name == want))
            .map(|n| (n.label.into_bytes(), n.name))
            .collect())
    }
}
