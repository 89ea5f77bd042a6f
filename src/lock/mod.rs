//! The core: the in-memory lock table and everything that hands out its locks. Always compiled,
//! no I/O, no optional dependency; the network frontends (`server`, `http`) and the client are
//! built on its public API.
//!
//! Files from the top down (each uses only files below it):
//!
//! | file | owns |
//! |---|---|
//! | `manager` | [`LockManager`], [`Builder`] |
//! | `session` | [`Session`]: the public owner handle |
//! | `acquire` | the one acquire flow behind every form (try, async, blocking, timed) and the macro that writes the 13 acquire methods of both |
//! | `guard` | [`ExclusiveGuard`], [`SharedGuard`]: release on drop |
//! | `owner` | what the manager, sessions and guards share: the manager's `Core`, a session's state |
//! | `holdings` | a session's holdings of one mode, keyed by the table's own hash |
//! | `table` | the sharded name → entry map; `table/entry` is the pure per-name state machine; the core's invariants (I1…) |
//! | `node` | an entry's single allocation: state and name bytes |
//! | `wait` | the waiter every waiting form parks on |
//! | `snapshot` | [`Snapshot`], [`Stats`] |
//! | `name`, `mode`, `error`, `clock` | [`Name`], [`Mode`], [`Error`], the coarse clock behind "held since" |
//! | `sync` | the loom facade: every mutex, condition variable, atomic and `UnsafeCell` |

pub(crate) mod acquire;
pub(crate) mod clock;
pub(crate) mod contention;
pub(crate) mod error;
pub(crate) mod guard;
pub(crate) mod holdings;
pub(crate) mod manager;
pub(crate) mod mode;
pub(crate) mod name;
pub(crate) mod node;
pub(crate) mod owner;
pub(crate) mod session;
pub(crate) mod snapshot;
pub(crate) mod sync;
pub(crate) mod table;
pub(crate) mod wait;

#[cfg(all(test, loom))]
mod loom_tests;

pub use contention::Contention;
pub use error::{Error, LockName};
pub use guard::{ExclusiveGuard, SharedGuard};
pub use manager::{Builder, LockManager};
pub use mode::Mode;
pub use name::Name;
pub use session::Session;
pub use snapshot::{HolderInfo, LockInfo, Snapshot, Stats, WaiterInfo};
