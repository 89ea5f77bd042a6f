//! The etcd backend keeps the contract of [`crate::backend`]: each method is the etcd session's
//! or manager's own.

use std::future::Future;
use std::time::Duration;

use super::error::Error;
use super::guard::{EtcdExclusiveGuard, EtcdSharedGuard};
use super::manager::EtcdManager;
use super::session::EtcdSession;
use crate::backend::{ErrorKind, LockBackend, LockError, LockGuard, LockSession, SharedLockGuard};
use crate::lock::Name;

impl LockError for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::WouldBlock { reason, .. } => ErrorKind::WouldBlock(*reason),
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::SessionClosed { .. } => ErrorKind::SessionClosed,
            Error::SessionLost { .. } => ErrorKind::SessionLost,
            Error::LockLimit { .. } => ErrorKind::LockLimit,
            Error::RequestTimeout { .. } | Error::Backend { .. } => ErrorKind::Backend,
        }
    }
}

impl LockGuard for EtcdExclusiveGuard {
    fn name(&self) -> &Name {
        EtcdExclusiveGuard::name(self)
    }
    fn token(&self) -> u64 {
        EtcdExclusiveGuard::token(self)
    }
    fn keep(self) -> Result<(), Self> {
        EtcdExclusiveGuard::keep(self)
    }
}

impl LockGuard for EtcdSharedGuard {
    fn name(&self) -> &Name {
        EtcdSharedGuard::name(self)
    }
    fn token(&self) -> u64 {
        EtcdSharedGuard::token(self)
    }
    fn keep(self) -> Result<(), Self> {
        EtcdSharedGuard::keep(self)
    }
}

impl SharedLockGuard for EtcdSharedGuard {
    fn count(&self) -> usize {
        EtcdSharedGuard::count(self)
    }
}

impl LockSession for EtcdSession {
    type Error = Error;
    type Guard = EtcdExclusiveGuard;
    type SharedGuard = EtcdSharedGuard;

    fn get(&self, name: &[u8]) -> impl Future<Output = Result<EtcdExclusiveGuard, Error>> + Send {
        EtcdSession::get(self, name)
    }
    fn get_shared(
        &self,
        name: &[u8],
    ) -> impl Future<Output = Result<EtcdSharedGuard, Error>> + Send {
        EtcdSession::get_shared(self, name)
    }
    fn get_shared_max(
        &self,
        name: &[u8],
        max: usize,
    ) -> impl Future<Output = Result<EtcdSharedGuard, Error>> + Send {
        EtcdSession::get_shared_max(self, name, max)
    }
    fn lock(&self, name: &[u8]) -> impl Future<Output = Result<EtcdExclusiveGuard, Error>> + Send {
        EtcdSession::lock(self, name)
    }
    fn lock_shared(
        &self,
        name: &[u8],
    ) -> impl Future<Output = Result<EtcdSharedGuard, Error>> + Send {
        EtcdSession::lock_shared(self, name)
    }
    fn lock_shared_max(
        &self,
        name: &[u8],
        max: usize,
    ) -> impl Future<Output = Result<EtcdSharedGuard, Error>> + Send {
        EtcdSession::lock_shared_max(self, name, max)
    }
    fn lock_timeout(
        &self,
        name: &[u8],
        limit: Duration,
    ) -> impl Future<Output = Result<EtcdExclusiveGuard, Error>> + Send {
        EtcdSession::lock_timeout(self, name, limit)
    }
    fn lock_shared_timeout(
        &self,
        name: &[u8],
        limit: Duration,
    ) -> impl Future<Output = Result<EtcdSharedGuard, Error>> + Send {
        EtcdSession::lock_shared_timeout(self, name, limit)
    }
    fn lock_shared_max_timeout(
        &self,
        name: &[u8],
        max: usize,
        limit: Duration,
    ) -> impl Future<Output = Result<EtcdSharedGuard, Error>> + Send {
        EtcdSession::lock_shared_max_timeout(self, name, max, limit)
    }
    fn release(&self, name: &[u8]) -> impl Future<Output = Result<bool, Error>> + Send {
        EtcdSession::release(self, name)
    }
    fn release_shared(&self, name: &[u8]) -> impl Future<Output = Result<bool, Error>> + Send {
        EtcdSession::release_shared(self, name)
    }
    fn close(&self) -> impl Future<Output = Result<(), Error>> + Send {
        EtcdSession::close(self)
    }
    fn is_lost(&self) -> bool {
        EtcdSession::is_lost(self)
    }
    fn lost(&self) -> impl Future<Output = ()> + Send {
        EtcdSession::lost(self)
    }
}

impl LockBackend for EtcdManager {
    type Session = EtcdSession;

    fn session(&self) -> impl Future<Output = Result<EtcdSession, Error>> + Send {
        EtcdManager::session(self)
    }
    fn inspect(&self, name: &[u8]) -> impl Future<Output = Result<bool, Error>> + Send {
        EtcdManager::inspect(self, name)
    }
    fn inspect_shared(&self, name: &[u8]) -> impl Future<Output = Result<usize, Error>> + Send {
        EtcdManager::inspect_shared(self, name)
    }
}
