//! The crate's one error type. Every message names the lock (or session) involved and says what
//! the caller can do about it.

use std::fmt;
use std::time::Duration;

use crate::lock::mode::Mode;
use crate::lock::name::Name;

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
    /// A try form could not acquire the lock right now.
    WouldBlock {
        /// The lock that was asked for.
        name: Box<Name>,
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
    /// no longer acquire locks; a wait it had pending was cancelled.
    SessionClosed {
        /// The session's id.
        session: u64,
    },
    /// The session already holds as many locks as its limit allows
    /// ([`Session::set_lock_limit`](crate::Session::set_lock_limit)).
    LockLimit {
        /// The lock that was asked for.
        name: Box<Name>,
        /// The session's limit.
        limit: usize,
    },
    /// (client) The server answered with a failure (`0 …`); `text` is its reply after the
    /// number, e.g. `Lock Get Failure: jobs/nightly`.
    #[cfg(feature = "client")]
    Server {
        /// The server's text.
        text: String,
    },
    /// (client) The connection could not be made, or broke; `message` says how. Requests made
    /// after this fail the same way: the client never reconnects or re-acquires silently.
    #[cfg(feature = "client")]
    Connection {
        /// What happened.
        message: String,
    },
    /// (client) No reply came in time; the client closed the connection (a late reply would be
    /// matched to the wrong request), so the locks it held are gone.
    #[cfg(feature = "client")]
    ReplyTimeout {
        /// The request that got no reply.
        request: String,
    },
    /// (client) The feature a request needs is turned off on the server (`0 disabled`).
    #[cfg(feature = "client")]
    Disabled {
        /// Which: `dump`, `registry`, or `dump and/or registry`.
        feature: &'static str,
    },
    /// (client) A name or argument that cannot be sent: it contains CR or LF.
    #[cfg(feature = "client")]
    InvalidName,
    /// (client) The server does not serve the extension verbs (`gw`, `sgw`).
    #[cfg(feature = "client")]
    Unsupported,
    /// (client) The server sent something the protocol does not allow here.
    #[cfg(feature = "client")]
    Protocol {
        /// What was wrong.
        message: String,
    },
}

/// Why a lock was not available to a try form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Contention {
    /// Another owner holds it exclusively.
    HeldExclusive,
    /// It is held shared by this many owners, and an exclusive lock was asked for.
    HeldShared(usize),
    /// Earlier requests are queued for it; they are served first (first come, first served).
    Queued(usize),
    /// It is held shared by this many owners, the most the request accepts
    /// ([`get_shared_max`](crate::LockManager::get_shared_max)).
    AtLimit(usize),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::WouldBlock { name, mode, reason } => {
                write!(f, "{mode} lock {name:?} is not available: ")?;
                match reason {
                    Contention::HeldExclusive => write!(f, "another owner holds it exclusively")?,
                    Contention::HeldShared(n) => write!(f, "it is held shared by {n} owner(s)")?,
                    Contention::Queued(n) => write!(f, "{n} earlier request(s) are queued for it")?,
                    Contention::AtLimit(n) => write!(f, "it already has {n} holder(s), the limit")?,
                }
                write!(
                    f,
                    "; retry later or use a waiting form (lock, lock_timeout)"
                )
            }
            Error::Timeout { name, mode, waited } => write!(
                f,
                "timed out after {waited:?} waiting for {mode} lock {name:?}; the request left the queue"
            ),
            Error::SessionClosed { session } => write!(
                f,
                "session {session} is closed: its locks were released; create a new session"
            ),
            Error::LockLimit { name, limit } => write!(
                f,
                "cannot acquire lock {name:?}: the session already holds its limit of {limit} lock(s); release one first"
            ),
            #[cfg(feature = "client")]
            Error::Server { text } => write!(f, "the lockd server refused: {text}"),
            #[cfg(feature = "client")]
            Error::Connection { message } => write!(
                f,
                "lockd connection failed: {message}; its locks are released; create a new client"
            ),
            #[cfg(feature = "client")]
            Error::ReplyTimeout { request } => write!(
                f,
                "no reply to {request:?} in time; the connection was closed and its locks released"
            ),
            #[cfg(feature = "client")]
            Error::Disabled { feature } => {
                write!(f, "the {feature} feature of the lockd server is disabled")
            }
            #[cfg(feature = "client")]
            Error::InvalidName => f.write_str("lock names and arguments cannot contain CR or LF"),
            #[cfg(feature = "client")]
            Error::Unsupported => {
                f.write_str("the lockd server does not support the extension verbs (gw, sgw)")
            }
            #[cfg(feature = "client")]
            Error::Protocol { message } => write!(f, "lockd protocol error: {message}"),
        }
    }
}

impl std::error::Error for Error {}
