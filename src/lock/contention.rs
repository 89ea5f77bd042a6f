//! Why a lock was not available to a try form: what the entry's state machine reports, and what
//! [`Error::WouldBlock`](crate::Error::WouldBlock) carries.

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
