//! What an etcd-backed request can fail with: the core's refusals (`WouldBlock`, `Timeout`),
//! plus a lost session and the cluster's own failures (which keep their source).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::lock::{Contention, Mode, Name};

/// An etcd-backed request's failure.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// A try form found the lock unavailable. Nothing is left behind in the cluster.
    WouldBlock {
        /// The lock's name.
        name: Arc<Name>,
        /// The mode asked for.
        mode: Mode,
        /// Why it was not available.
        reason: Contention,
    },
    /// A timed wait ended without the lock; its request key is gone from the cluster.
    Timeout {
        /// The lock's name.
        name: Arc<Name>,
        /// The mode asked for.
        mode: Mode,
        /// How long it waited.
        waited: Duration,
    },
    /// The session's lease expired or was revoked, or one of its keys was deleted by someone
    /// else: every lock it held may now be held by others. Open a new session.
    SessionLost {
        /// The session's id.
        session: String,
    },
    /// The session holds or waits for as many names as its
    /// [lock limit](super::EtcdSession::set_lock_limit) allows. Nothing was asked of the cluster.
    LockLimit {
        /// The limit.
        limit: usize,
    },
    /// The session was closed by its owner.
    SessionClosed {
        /// The session's id.
        session: String,
    },
    /// An etcd request did not answer within
    /// [`EtcdConfig::request_timeout`](super::EtcdConfig::request_timeout).
    RequestTimeout {
        /// Which request.
        what: &'static str,
        /// The limit it exceeded.
        after: Duration,
    },
    /// An etcd request failed.
    Backend {
        /// Which request.
        what: &'static str,
        /// What the etcd client reported.
        source: Arc<etcd_client::Error>,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::WouldBlock { name, mode, reason } => {
                write!(f, "{mode} lock {name:?} is not available: {reason}")
            }
            Error::Timeout { name, mode, waited } => {
                write!(
                    f,
                    "gave up waiting for {mode} lock {name:?} after {waited:?}"
                )
            }
            Error::SessionLost { session } => write!(
                f,
                "session {session} is lost (its lease expired or its keys were deleted)"
            ),
            Error::SessionClosed { session } => write!(f, "session {session} is closed"),
            Error::LockLimit { limit } => {
                write!(
                    f,
                    "the session holds or waits for its limit of {limit} names"
                )
            }
            Error::RequestTimeout { what, after } => {
                write!(f, "etcd did not answer {what} within {after:?}")
            }
            Error::Backend { what, source } => write!(f, "etcd {what} failed: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Backend { source, .. } => Some(&**source),
            _ => None,
        }
    }
}
