//! The contract both backends keep, for code that should run on either: the in-memory core
//! ([`LockManager`](crate::LockManager)) and, with feature `etcd`, the etcd cluster
//! ([`EtcdManager`](crate::etcd::EtcdManager)). Static dispatch only (generic parameters, no trait
//! objects), so the in-memory path costs what it costs without the traits: its methods are
//! ready futures around the same synchronous calls.
//!
//! ```
//! use lockd::backend::{ErrorKind, LockBackend, LockError, LockGuard, LockSession};
//!
//! /// Runs `job` at most once at a time across every process sharing `backend`.
//! async fn exclusive_job<B: LockBackend>(backend: &B, job: &str) -> Result<bool, String> {
//!     let session = backend.session().await.map_err(|e| e.to_string())?;
//!     match session.get(job.as_bytes()).await {
//!         Ok(guard) => {
//!             println!("running {job} with token {}", guard.token());
//!             Ok(true)
//!         }
//!         Err(e) if matches!(e.kind(), ErrorKind::WouldBlock(_)) => Ok(false),
//!         Err(e) => Err(e.to_string()),
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let mgr = lockd::LockManager::new();
//! assert!(exclusive_job(&mgr, "nightly").await.unwrap());
//! # });
//! ```

use std::future::Future;
use std::time::Duration;

use crate::lock::{Contention, Name};

mod memory;

/// What kind of failure an error is, the same for every backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A try form found the lock unavailable.
    WouldBlock(Contention),
    /// A timed wait ran out.
    Timeout,
    /// The session was closed by its owner.
    SessionClosed,
    /// The session was lost (etcd: its lease expired); its locks may be held by others.
    SessionLost,
    /// The session's lock limit was reached (in-memory core).
    LockLimit,
    /// The backend itself failed (etcd: a request failed or timed out).
    Backend,
}

/// An error of a backend.
pub trait LockError: std::error::Error + Send + Sync + 'static {
    /// What kind of failure it is.
    fn kind(&self) -> ErrorKind;
}

/// A held lock; dropping it releases that reference.
pub trait LockGuard: Send {
    /// The lock's name.
    fn name(&self) -> &Name;
    /// The holding's fencing token: strictly increasing per name.
    fn token(&self) -> u64;
    /// Hands this reference to its session: the lock stays held until the session releases the
    /// name or ends (how a network frontend holds a client's locks without keeping guards). A
    /// guard of no session is handed back as `Err`.
    fn keep(self) -> Result<(), Self>
    where
        Self: Sized;
}

/// A shared holding, which knows how many held it when it was granted.
pub trait SharedLockGuard: LockGuard {
    /// Distinct holders right after this grant, this one included.
    fn count(&self) -> usize;
}

/// An owner of locks: the methods of [`Session`](crate::Session) and
/// [`EtcdSession`](crate::etcd::EtcdSession), with the same meanings.
pub trait LockSession: Send + Sync {
    /// The backend's error.
    type Error: LockError;
    /// An exclusive holding.
    type Guard: LockGuard;
    /// A shared holding.
    type SharedGuard: SharedLockGuard;

    /// Exclusive try.
    fn get(&self, name: &[u8]) -> impl Future<Output = Result<Self::Guard, Self::Error>> + Send;
    /// Shared try.
    fn get_shared(
        &self,
        name: &[u8],
    ) -> impl Future<Output = Result<Self::SharedGuard, Self::Error>> + Send;
    /// Shared try, joining only while fewer than `max` hold it.
    fn get_shared_max(
        &self,
        name: &[u8],
        max: usize,
    ) -> impl Future<Output = Result<Self::SharedGuard, Self::Error>> + Send;
    /// Exclusive wait.
    fn lock(&self, name: &[u8]) -> impl Future<Output = Result<Self::Guard, Self::Error>> + Send;
    /// Shared wait.
    fn lock_shared(
        &self,
        name: &[u8],
    ) -> impl Future<Output = Result<Self::SharedGuard, Self::Error>> + Send;
    /// Shared wait to join while fewer than `max` hold it.
    fn lock_shared_max(
        &self,
        name: &[u8],
        max: usize,
    ) -> impl Future<Output = Result<Self::SharedGuard, Self::Error>> + Send;
    /// Exclusive wait of at most `limit`.
    fn lock_timeout(
        &self,
        name: &[u8],
        limit: Duration,
    ) -> impl Future<Output = Result<Self::Guard, Self::Error>> + Send;
    /// Shared wait of at most `limit`.
    fn lock_shared_timeout(
        &self,
        name: &[u8],
        limit: Duration,
    ) -> impl Future<Output = Result<Self::SharedGuard, Self::Error>> + Send;
    /// Shared wait of at most `limit` to join while fewer than `max` hold it.
    fn lock_shared_max_timeout(
        &self,
        name: &[u8],
        max: usize,
        limit: Duration,
    ) -> impl Future<Output = Result<Self::SharedGuard, Self::Error>> + Send;
    /// Releases this session's exclusive holding of `name`, whatever its guards.
    fn release(&self, name: &[u8]) -> impl Future<Output = Result<bool, Self::Error>> + Send;
    /// Releases this session's shared holding of `name`.
    fn release_shared(&self, name: &[u8])
    -> impl Future<Output = Result<bool, Self::Error>> + Send;
    /// Ends the session and everything it holds.
    fn close(&self) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Whether the session is known to be lost (never, in memory).
    fn is_lost(&self) -> bool;
    /// Completes when the session is lost (never, in memory).
    fn lost(&self) -> impl Future<Output = ()> + Send;
}

/// A lock table: where sessions come from, and what anyone may inspect.
pub trait LockBackend: Clone + Send + Sync {
    /// Its sessions.
    type Session: LockSession;

    /// A new session.
    fn session(
        &self,
    ) -> impl Future<Output = Result<Self::Session, <Self::Session as LockSession>::Error>> + Send;
    /// Whether `name` is held exclusively.
    fn inspect(
        &self,
        name: &[u8],
    ) -> impl Future<Output = Result<bool, <Self::Session as LockSession>::Error>> + Send;
    /// How many hold `name` shared.
    fn inspect_shared(
        &self,
        name: &[u8],
    ) -> impl Future<Output = Result<usize, <Self::Session as LockSession>::Error>> + Send;
}
