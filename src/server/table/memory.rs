//! The in-memory table: the process's [`LockManager`], which in-process code shares, with the
//! server's own `iam` registry. Every call is the core's synchronous one, so nothing here waits.

use std::sync::Arc;

use super::{Holder, LockView, Registration, Table, Unavailable};
use crate::lock::snapshot::LockInfo;
use crate::server::registry::Registry;
use crate::{LockManager, Session};

/// The core's lock table, as a server serves it.
pub(crate) struct Memory {
    pub(crate) mgr: LockManager,
    registry: Registry,
}

impl Memory {
    pub(crate) fn new(mgr: LockManager) -> Memory {
        Memory {
            mgr,
            registry: Registry::default(),
        }
    }
}

fn view(lock: LockInfo) -> LockView {
    LockView {
        name: lock.name.as_bytes().to_vec(),
        mode: lock.mode,
        holders: lock
            .holders
            .into_iter()
            .map(|h| {
                let name = h.session_name.map(|n| n.as_bytes().to_vec());
                // A Consul session's core session carries its display id as its name.
                let label = name.clone().filter(|n| n.starts_with(b"consul:"));
                Holder {
                    session: h.session,
                    label,
                    name,
                }
            })
            .collect(),
    }
}

impl Table for Memory {
    type Session = Session;
    const KIND: &'static str = "memory";
    const ENDS_AT_ONCE: bool = true;

    fn patience(&self) -> std::time::Duration {
        std::time::Duration::ZERO // an end never waits, so nobody waits for one
    }

    async fn open(&self, _id: &[u8], lock_limit: Option<usize>) -> Result<Session, Unavailable> {
        let session = self.mgr.session();
        session.set_lock_limit(lock_limit);
        Ok(session)
    }

    fn number(session: &Session) -> u64 {
        session.id()
    }

    fn held_counts(session: &Session) -> (usize, usize) {
        session.held_counts()
    }

    fn cancel_waits(session: &Session) {
        session.cancel_waits();
    }

    fn is_closed(session: &Session) -> bool {
        session.is_closed()
    }

    async fn end(&self, session: &Session) {
        session.close();
        self.registry.remove(session.id());
    }

    async fn inspect_both(&self, name: &[u8]) -> Result<(bool, usize), Unavailable> {
        Ok(self.mgr.inspect_both(name))
    }

    async fn inspect_shared(&self, name: &[u8]) -> Result<usize, Unavailable> {
        Ok(self.mgr.inspect_shared(name))
    }

    async fn snapshot(&self) -> Result<Vec<LockView>, Unavailable> {
        Ok(self.mgr.snapshot().locks.into_iter().map(view).collect())
    }

    async fn lock_info(&self, name: &[u8]) -> Result<Option<LockView>, Unavailable> {
        Ok(self.mgr.lock_info(name).map(view))
    }

    async fn set_name(
        &self,
        session: &Session,
        id: &Arc<[u8]>,
        name: &[u8],
    ) -> Result<(), Unavailable> {
        self.registry.set(session.id(), id, name);
        match name.is_empty() {
            true => session.clear_name(),
            false => session.set_name(name),
        }
        Ok(())
    }

    fn name_of(session: &Session) -> Option<Vec<u8>> {
        session.name().map(|n| n.as_bytes().to_vec())
    }

    async fn names(&self, name: Option<&[u8]>) -> Result<Vec<Registration>, Unavailable> {
        Ok(self
            .registry
            .list(name)
            .into_iter()
            .map(|(id, n)| (id.to_vec(), n))
            .collect())
    }
}
