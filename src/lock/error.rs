//! The core's error type: why an acquire did not give a guard. Every message names the lock (or
//! session) involved and says what happened; what to do about it is in the docs of each variant.
//! No feature changes it (the client has its own, `client::Error`).

use std::fmt;
use std::time::Duration;

pub use crate::lock::contention::Contention;
use crate::lock::mode::Mode;
use crate::lock::name::Name;
use crate::lock::table::Node;

/// Everything that can go wrong when acquiring a lock.
///
/// ```
/// use lockd::{Error, LockManager};
///
/// let mgr = LockManager::new();
/// let _held = mgr.get("jobs/nightly")?;
/// match mgr.get("jobs/nightly") {
///     Err(Error::WouldBlock { name, .. }) => assert_eq!(name, "jobs/nightly"),
///     other => panic!("expected WouldBlock, got {other:?}"),
/// }
/// # Ok::<(), lockd::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A try form could not acquire the lock right now. Retry later, or use a waiting form
    /// (`lock`, `lock_timeout`, `blocking_lock`), which queues first come, first served.
    WouldBlock {
        /// The lock that was asked for (no copy is made: a refusal does not allocate).
        name: LockName,
        /// The mode that was asked for.
        mode: Mode,
        /// Why it is not available.
        reason: Contention,
    },
    /// A timed wait expired before the lock was granted; the request has left the queue.
    Timeout {
        /// The lock that was waited for.
        name: Box<Name>,
        /// The mode that was asked for.
        mode: Mode,
        /// How long the caller waited.
        waited: Duration,
    },
    /// The session was closed (dropped or [`Session::close`](crate::Session::close)d), so it can
    /// no longer acquire locks; a wait it had pending was cancelled, and its locks were released.
    /// Create a new session to go on.
    SessionClosed {
        /// The session's id.
        session: u64,
    },
    /// The session already holds as many locks as its limit allows
    /// ([`Session::set_lock_limit`](crate::Session::set_lock_limit)); release one first.
    LockLimit {
        /// The lock that was asked for.
        name: Box<Name>,
        /// The session's limit.
        limit: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::WouldBlock { name, mode, reason } => {
                write!(f, "{mode} lock {name:?} is not available: {reason}")
            }
            Error::Timeout { name, mode, waited } => write!(
                f,
                "timed out after {waited:?} waiting for {mode} lock {name:?}"
            ),
            Error::SessionClosed { session } => write!(f, "session {session} is closed"),
            Error::LockLimit { name, limit } => write!(
                f,
                "cannot acquire lock {name:?}: the session holds its limit of {limit} lock(s)"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// The name in an [`Error::WouldBlock`]: the held entry's own name, shared rather than copied.
/// Reads as a [`Name`] (`Deref`), compares with strings and byte strings.
#[derive(Clone)]
pub struct LockName(Node);

impl LockName {
    pub(crate) fn new(node: Node) -> Self {
        LockName(node)
    }
}

impl std::ops::Deref for LockName {
    type Target = Name;
    fn deref(&self) -> &Name {
        self.0.name()
    }
}

impl AsRef<[u8]> for LockName {
    fn as_ref(&self) -> &[u8] {
        self.0.name().as_bytes()
    }
}

impl fmt::Debug for LockName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl fmt::Display for LockName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl PartialEq for LockName {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for LockName {}

impl PartialEq<str> for LockName {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for LockName {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<[u8]> for LockName {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl PartialEq<Name> for LockName {
    fn eq(&self, other: &Name) -> bool {
        **self == *other
    }
}
