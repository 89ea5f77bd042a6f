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

/// What a refusal says of the lock, after "… is not available: ".
impl std::fmt::Display for Contention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Contention::HeldExclusive => write!(f, "another owner holds it exclusively"),
            Contention::HeldShared(n) => write!(f, "it is held shared by {n} owner(s)"),
            Contention::Queued(n) => write!(f, "{n} earlier request(s) are queued for it"),
            Contention::AtLimit(n) => write!(f, "it already has {n} holder(s), the limit"),
        }
    }
}
