//! The in-memory core keeps the contract: each method is the core's own, its result wrapped in a
//! ready future where the core answers at once.

use std::future::{Future, ready};
use std::time::Duration;

use super::{ErrorKind, LockBackend, LockError, LockGuard, LockSession, SharedLockGuard};
use crate::lock::{Error, ExclusiveGuard, LockManager, Name, Session, SharedGuard};

impl LockError for Error {
    #[inline]
    fn kind(&self) -> ErrorKind {
        match self {
            Error::WouldBlock { reason, .. } => ErrorKind::WouldBlock(*reason),
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::SessionClosed { .. } => ErrorKind::SessionClosed,
            Error::LockLimit { .. } => ErrorKind::LockLimit,
        }
    }
}

impl LockGuard for ExclusiveGuard {
    #[inline]
    fn name(&self) -> &Name {
        ExclusiveGuard::name(self)
    }
    #[inline]
    fn token(&self) -> u64 {
        ExclusiveGuard::token(self)
    }
    #[inline]
    fn keep(self) -> Result<(), Self> {
        ExclusiveGuard::keep(self)
    }
}

impl LockGuard for SharedGuard {
    #[inline]
    fn name(&self) -> &Name {
        SharedGuard::name(self)
    }
    #[inline]
    fn token(&self) -> u64 {
        SharedGuard::token(self)
    }
    #[inline]
    fn keep(self) -> Result<(), Self> {
        SharedGuard::keep(self)
    }
}

impl SharedLockGuard for SharedGuard {
    #[inline]
    fn count(&self) -> usize {
        SharedGuard::count(self)
    }
}

impl LockSession for Session {
    type Error = Error;
    type Guard = ExclusiveGuard;
    type SharedGuard = SharedGuard;

    #[inline]
    fn get(&self, name: &[u8]) -> impl Future<Output = Result<ExclusiveGuard, Error>> + Send {
        ready(Session::get(self, name))
    }
    #[inline]
    fn get_shared(&self, name: &[u8]) -> impl Future<Output = Result<SharedGuard, Error>> + Send {
        ready(Session::get_shared(self, name))
    }
    #[inline]
    fn get_shared_max(
        &self,
        name: &[u8],
        max: usize,
    ) -> impl Future<Output = Result<SharedGuard, Error>> + Send {
        ready(Session::get_shared_max(self, name, max))
    }
    #[inline]
    fn lock(&self, name: &[u8]) -> impl Future<Output = Result<ExclusiveGuard, Error>> + Send {
        Session::lock(self, name)
    }
    #[inline]
    fn lock_shared(&self, name: &[u8]) -> impl Future<Output = Result<SharedGuard, Error>> + Send {
        Session::lock_shared(self, name)
    }
    #[inline]
    fn lock_shared_max(
        &self,
        name: &[u8],
        max: usize,
    ) -> impl Future<Output = Result<SharedGuard, Error>> + Send {
        Session::lock_shared_max(self, name, max)
    }
    #[inline]
    fn lock_timeout(
        &self,
        name: &[u8],
        limit: Duration,
    ) -> impl Future<Output = Result<ExclusiveGuard, Error>> + Send {
        Session::lock_timeout(self, name, limit)
    }
    #[inline]
    fn lock_shared_timeout(
        &self,
        name: &[u8],
        limit: Duration,
    ) -> impl Future<Output = Result<SharedGuard, Error>> + Send {
        Session::lock_shared_timeout(self, name, limit)
    }
    #[inline]
    fn lock_shared_max_timeout(
        &self,
        name: &[u8],
        max: usize,
        limit: Duration,
    ) -> impl Future<Output = Result<SharedGuard, Error>> + Send {
        Session::lock_shared_max_timeout(self, name, max, limit)
    }
    #[inline]
    fn release(&self, name: &[u8]) -> impl Future<Output = Result<bool, Error>> + Send {
        ready(Ok(Session::release(self, name)))
    }
    #[inline]
    fn release_shared(&self, name: &[u8]) -> impl Future<Output = Result<bool, Error>> + Send {
        ready(Ok(Session::release_shared(self, name)))
    }
    #[inline]
    fn close(&self) -> impl Future<Output = Result<(), Error>> + Send {
        Session::close(self);
        ready(Ok(()))
    }
    #[inline]
    fn is_lost(&self) -> bool {
        false
    }
    #[inline]
    fn lost(&self) -> impl Future<Output = ()> + Send {
        std::future::pending()
    }
}

impl LockBackend for LockManager {
    type Session = Session;

    #[inline]
    fn session(&self) -> impl Future<Output = Result<Session, Error>> + Send {
        ready(Ok(LockManager::session(self)))
    }
    #[inline]
    fn inspect(&self, name: &[u8]) -> impl Future<Output = Result<bool, Error>> + Send {
        ready(Ok(LockManager::inspect(self, name)))
    }
    #[inline]
    fn inspect_shared(&self, name: &[u8]) -> impl Future<Output = Result<usize, Error>> + Send {
        ready(Ok(LockManager::inspect_shared(self, name)))
    }
}
