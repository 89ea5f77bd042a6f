//! What the lockd frontend asks of a lock table, over either backend. The lock verbs go through
//! the backend contract's sessions ([`LockSession`]); a [`Table`] adds what only a server needs:
//! a session per connection, inspection, listings with their holders' labels, and the
//! display-name registry. The in-memory table is [`Memory`]; with feature `etcd`, [`Etcd`] is
//! the cluster's. Neither keeps lock state of its own.

mod memory;

#[cfg(feature = "etcd")]
mod etcd;

use std::future::Future;
use std::sync::Arc;

use crate::backend::LockSession;
use crate::lock::Mode;

#[cfg(feature = "etcd")]
pub(crate) use etcd::Etcd;
pub(crate) use memory::Memory;

/// The backend could not answer (etcd unreachable, a request timed out): what happened, for the
/// log; the client is told with a `0` line.
#[derive(Debug)]
pub(crate) struct Unavailable(pub(crate) String);

impl<E: std::fmt::Display> From<E> for Unavailable {
    fn from(e: E) -> Self {
        Unavailable(e.to_string())
    }
}

/// One holder of a lock, as a listing shows it.
pub(crate) struct Holder {
    /// A core session's id, for this server to name it by its connection (in memory).
    pub(crate) session: Option<u64>,
    /// The holder's display id when the table knows it (a Consul session; any etcd holder,
    /// as its own server saw it).
    pub(crate) label: Option<Vec<u8>>,
    /// Its registered display name, if any.
    pub(crate) name: Option<Vec<u8>>,
}

/// A registered display name: (the connection's display id, the name).
pub(crate) type Registration = (Vec<u8>, Vec<u8>);

/// One lock with its holders, by core name.
pub(crate) struct LockView {
    pub(crate) name: Vec<u8>,
    pub(crate) mode: Mode,
    pub(crate) holders: Vec<Holder>,
}

/// A lock table as the lockd frontend serves it.
pub(crate) trait Table: Send + Sync + 'static {
    /// A connection's session.
    type Session: LockSession + 'static;

    /// Which backend, for log lines.
    const KIND: &'static str;
    /// Whether ending a session completes without waiting (in memory), so that a shutdown can
    /// end every connection before any other request runs.
    const ENDS_AT_ONCE: bool;

    /// How long one request to the table may take (what a request waits, at most, for the
    /// releases of connections being ended).
    fn patience(&self) -> std::time::Duration;

    /// A new session for the connection with display id `id`, holding at most `lock_limit`
    /// names.
    fn open(
        &self,
        id: &[u8],
        lock_limit: Option<usize>,
    ) -> impl Future<Output = Result<Self::Session, Unavailable>> + Send;
    /// The session's number, unique among this server's live sessions.
    fn number(session: &Self::Session) -> u64;
    /// What the session holds: (exclusive, shared).
    fn held_counts(session: &Self::Session) -> (usize, usize);
    /// Ends the session's waits without a grant (shutdown).
    fn cancel_waits(session: &Self::Session);
    /// Whether the session has ended.
    fn is_closed(session: &Self::Session) -> bool;
    /// Ends the session, releasing everything it holds and its registration.
    fn end(&self, session: &Self::Session) -> impl Future<Output = ()> + Send;

    /// (held exclusively, shared holders) of a core name.
    fn inspect_both(
        &self,
        name: &[u8],
    ) -> impl Future<Output = Result<(bool, usize), Unavailable>> + Send;
    /// Shared holders of a core name.
    fn inspect_shared(
        &self,
        name: &[u8],
    ) -> impl Future<Output = Result<usize, Unavailable>> + Send;
    /// Every held lock, in core-name byte order.
    fn snapshot(&self) -> impl Future<Output = Result<Vec<LockView>, Unavailable>> + Send;
    /// One lock, if held.
    fn lock_info(
        &self,
        name: &[u8],
    ) -> impl Future<Output = Result<Option<LockView>, Unavailable>> + Send;

    /// Registers `name` for the session of connection `id` (empty: unregisters).
    fn set_name(
        &self,
        session: &Self::Session,
        id: &Arc<[u8]>,
        name: &[u8],
    ) -> impl Future<Output = Result<(), Unavailable>> + Send;
    /// The session's registered name.
    fn name_of(session: &Self::Session) -> Option<Vec<u8>>;
    /// (display id, name) of every registration, oldest first, optionally only those named
    /// exactly `name`.
    fn names(
        &self,
        name: Option<&[u8]>,
    ) -> impl Future<Output = Result<Vec<Registration>, Unavailable>> + Send;
}
