//! The etcd backend (feature `etcd`): the core's sessions, exclusive and counted shared locks,
//! FIFO waits and per-name fencing tokens, kept in an etcd cluster so that every process that
//! connects to it shares one lock table and survives the loss of a machine.
//!
//! The recipe is lockd's own, over Txn, Watch and Lease (etcd 3.4's own lock service can grant a
//! lock to a waiter whose lease expired, so it is not used):
//! - a request is one key per (session, name), `<prefix>/l/<name>/<session>`, on the session's
//!   lease; FIFO order is the keys' `create_revision`, which is also the fencing token;
//! - an acquire is one Txn (put if absent, then read the name's keys); the grant rule is the
//!   core's, applied to the keys in order;
//! - a waiter watches only what blocks it (the key just ahead of an exclusive request; the last
//!   exclusive request ahead of a shared one; the name's deletions for a shared request blocked
//!   only by holder limits), and decides "granted" only from a fresh read that includes its own
//!   key;
//! - a failed try, a timeout, a cancelled wait and a release delete the key only if it is still
//!   the same request (`If CreateRevision(key) == token Then Delete`);
//! - a session is a lease with keep-alive; when it cannot be renewed within its TTL, or a key of
//!   the session is found deleted, the session is lost ([`EtcdSession::lost`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), lockd::etcd::Error> {
//! use lockd::etcd::{EtcdConfig, EtcdManager};
//!
//! let mgr = EtcdManager::connect(EtcdConfig {
//!     endpoints: vec!["http://127.0.0.1:2379".into()],
//!     ..EtcdConfig::default()
//! })
//! .await?;
//! let session = mgr.session().await?;
//! let guard = session.lock("nightly-report").await?;
//! println!("fencing token {}", guard.token());
//! guard.release().await?;
//! session.close().await?;
//! # Ok(()) }
//! ```

mod backend;
mod call;
mod config;
mod error;
mod guard;
mod keys;
mod lease;
mod manager;
mod names;
mod owner;
mod read;
mod rule;
mod session;
mod shared;
mod watcher;

pub use config::EtcdConfig;
pub use error::Error;
pub use guard::{EtcdExclusiveGuard, EtcdSharedGuard};
pub use manager::{EtcdLockInfo, EtcdManager, EtcdRequestInfo};
pub use names::EtcdNameInfo;
pub use session::EtcdSession;
