//! Guards of etcd-backed locks: holding one means holding the lock; dropping it releases that
//! reference in the background, [`release`](EtcdExclusiveGuard::release) does it in the open.

use std::sync::Arc;

use super::error::Error;
use super::owner::{Fence, SessionInner};
use crate::lock::{Mode, Name};

/// What both guard kinds hold.
pub(crate) struct Grip {
    session: Arc<SessionInner>,
    name: Arc<Name>,
    mode: Mode,
    token: u64,
    live: bool,
}

impl Grip {
    pub(crate) fn new(session: Arc<SessionInner>, name: Arc<Name>, mode: Mode, token: u64) -> Self {
        Grip {
            session,
            name,
            mode,
            token,
            live: true,
        }
    }

    /// Drops this reference; if it was the holding's last, the token to fence the key's delete
    /// on, and the delete's completion (the slot is `Deleting` meanwhile).
    fn end(&mut self) -> Option<(i64, Arc<tokio::sync::Notify>)> {
        if !std::mem::take(&mut self.live) {
            return None;
        }
        self.session
            .drop_ref(self.name.as_bytes(), self.mode, self.token)
    }

    async fn release(mut self) -> Result<(), Error> {
        if let Some((token, done)) = self.end() {
            // A failure is retried in the background until the key is gone or the lease is.
            self.session
                .delete_now(self.name.as_bytes(), Fence::Revision(token), done)
                .await?;
        }
        Ok(())
    }
}

impl Drop for Grip {
    fn drop(&mut self) {
        if let Some((token, done)) = self.end() {
            // Retried in the background until the key is gone or the lease is.
            self.session.clone().spawn_delete(
                self.name.as_bytes().to_vec(),
                Fence::Revision(token),
                done,
            );
        }
    }
}

macro_rules! etcd_guard_common {
    () => {
        /// The lock's name.
        pub fn name(&self) -> &Name {
            &self.grip.name
        }

        /// The fencing token: the request key's `create_revision`, strictly greater than every
        /// earlier holding's token of the same name, cluster-wide and durable. A store can check
        /// it in its own etcd Txn, or keep the highest token per resource.
        pub fn token(&self) -> u64 {
            self.grip.token
        }

        /// The owning session's id.
        pub fn session_id(&self) -> &str {
            &self.grip.session.id
        }

        /// Leaves the holding to the session: it lasts until the session releases the name
        /// ([`EtcdSession::release`](super::EtcdSession::release) or `release_shared`) or ends.
        /// Always `Ok` (every etcd guard has a session); the `Result` is the core's signature.
        pub fn keep(mut self) -> Result<(), Self> {
            self.grip.live = false;
            Ok(())
        }

        /// Releases this reference and waits for the cluster to confirm (the last reference of a
        /// holding deletes its key). Dropping the guard does the same in the background.
        pub async fn release(self) -> Result<(), Error> {
            self.grip.release().await
        }
    };
}

/// An exclusive etcd-backed lock.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct EtcdExclusiveGuard {
    grip: Grip,
}

impl EtcdExclusiveGuard {
    pub(crate) fn new(grip: Grip) -> Self {
        EtcdExclusiveGuard { grip }
    }

    etcd_guard_common!();
}

/// One holder's share of an etcd-backed shared lock.
#[must_use = "the shared lock is left as soon as the guard is dropped"]
pub struct EtcdSharedGuard {
    grip: Grip,
    count: usize,
}

impl EtcdSharedGuard {
    pub(crate) fn new(grip: Grip, count: usize) -> Self {
        EtcdSharedGuard { grip, count }
    }

    etcd_guard_common!();

    /// Distinct holders right after this grant, this one included.
    pub fn count(&self) -> usize {
        self.count
    }
}

impl std::fmt::Debug for EtcdExclusiveGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdExclusiveGuard")
            .field("name", &self.name())
            .field("token", &self.token())
            .finish()
    }
}

impl std::fmt::Debug for EtcdSharedGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdSharedGuard")
            .field("name", &self.name())
            .field("token", &self.token())
            .field("count", &self.count)
            .finish()
    }
}
