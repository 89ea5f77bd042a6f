//! # lockd: a named-lock manager
//!
//! An embeddable, in-process lock manager: exclusive locks and counted shared locks keyed by
//! name, handed out as RAII guards and owned by sessions. Optional network frontends (the lockd
//! line protocol, a Consul-compatible HTTP API) sit on this same core as cargo features.
//!
//! ```
//! use lockd::LockManager;
//!
//! let mgr = LockManager::new();
//! let g = mgr.get("x")?;                     // exclusive; Err(WouldBlock) if taken
//! assert!(mgr.inspect("x"));
//! drop(g);                                   // released
//!
//! let worker = mgr.session();                // an owner, like a network connection
//! let a = worker.get_shared("quota")?;       // shared locks count their holders
//! let b = mgr.get_shared("quota")?;
//! assert_eq!((a.count(), b.count()), (1, 2));
//! drop(worker);                              // releases all the session held
//! assert_eq!(mgr.inspect_shared("quota"), 1);
//! # Ok::<(), lockd::Error>(())
//! ```
//!
//! ## Semantics
//! - **Reader–writer per name.** Any number of shared holders, or one exclusive holder. A
//!   shared grant reports the number of distinct owners holding it, itself included.
//! - **First come, first served.** Waiters (async, blocking, timed: one queue) are granted in
//!   arrival order; a try or a wait arriving while others are queued does not overtake them, so
//!   a stream of shared requests cannot starve a queued exclusive one. The lock passes straight
//!   from the releaser to the next waiter.
//! - **Owners.** Each guard from [`LockManager`] is its own owner. A [`Session`] owns all it
//!   acquires and releases it all when dropped or closed, even while its guards live on;
//!   re-acquiring a lock it holds rejoins the holding (see [`Session`]).
//! - **No timeouts needed for correctness.** A lock that exists is held by a live guard or
//!   session. Unused entries are removed at once; after any workload the table is empty again
//!   (each shard keeps at most one unused entry, invisible, for reuse).
//!
//! ## Fencing tokens
//! Every new holding gets a token ([`ExclusiveGuard::token`]) strictly greater than every token
//! issued before it for the same name. (Tokens of different names are not promised to be
//! ordered against each other: a store checks tokens per resource.) Each shard of the table
//! counts its own, starting at the wall-clock time in microseconds at start-up, so a restarted
//! process keeps issuing larger tokens than the previous run as long as no shard of that run
//! averaged one grant per microsecond or more (tokens stay far below 2^53, so
//! JavaScript clients read them exactly). A store that protects a resource keeps the highest
//! token it has accepted for that resource and rejects writes carrying a lower one: a holder
//! that paused (GC, network partition) past losing its lock is then refused, because the new
//! holder's token is higher.
//!
//! ```
//! # let mgr = lockd::LockManager::new();
//! let first = mgr.get("resource")?.token();
//! let second = mgr.get("resource")?.token();
//! assert!(second > first);
//! # Ok::<(), lockd::Error>(())
//! ```
//!
//! ## Errors
//! A refused try is [`Error::WouldBlock`] with its [`Contention`] (held exclusively, held shared by
//! N, queued behind N, at the holder limit) and the lock's [`LockName`], shared with the held
//! entry, so a refusal allocates nothing. A timed wait that expires is [`Error::Timeout`]; a
//! closed session's requests are [`Error::SessionClosed`]. The network client has its own error
//! type (`client::Error`); no feature changes this one.
//!
//! ## Features
//! - `tcp-server`: `server`, the lockd line-protocol server (glockd / Node lockd compatible),
//!   with `server::run` to serve every listener of a process until shutdown; `protocol`, its
//!   framing and parsing.
//! - `client`: `client`, an async client for lockd and glockd-compatible servers.
//! - `http`: `http`, the subset of Consul's HTTP API that lock users rely on (sessions, KV
//!   acquire/release/CAS, blocking queries), over the same locks.
//! - `etcd`: `etcd`, the same sessions and locks kept in an etcd cluster, and `backend`'s contract
//!   implemented over it; with `tcp-server`, `Server::with_etcd` (the binary's `--etcd`) serves
//!   the lockd protocol from the cluster's table, shared by every server connected to it.
//! - `cli`: the `lockd` binary (with `http`, also `lockd --http ADDR`). What only a process needs
//!   (argument parsing, log output, signals, the allocator) comes with it, never with the
//!   library's features.
//!
//! The core needs none of them and never touches the network. How the crate is built inside is
//! in `ARCHITECTURE.md`.
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod lock;

#[cfg(any(feature = "tcp-server", feature = "http"))]
mod duration;
#[cfg(any(feature = "tcp-server", feature = "http"))]
mod net;

#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
#[cfg(any(feature = "tcp-server", feature = "client"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "tcp-server", feature = "client"))))]
pub mod protocol;
#[cfg(feature = "tcp-server")]
#[cfg_attr(docsrs, doc(cfg(feature = "tcp-server")))]
pub mod server;

pub mod backend;

#[cfg(any(feature = "tcp-server", feature = "http"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "tcp-server", feature = "http"))))]
pub mod acl;
#[cfg(feature = "etcd")]
#[cfg_attr(docsrs, doc(cfg(feature = "etcd")))]
pub mod etcd;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;

pub use lock::{
    Builder, Contention, Error, ExclusiveGuard, HolderInfo, LockInfo, LockManager, LockName, Mode,
    Name, Session, SharedGuard, Snapshot, Stats, WaiterInfo,
};

#[cfg(any(feature = "tcp-server", feature = "http"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "tcp-server", feature = "http"))))]
pub use duration::{parse_duration, parse_duration_or};

/// The README's Rust examples, compiled and run as doc tests so they cannot rot (with
/// `--all-features`, as `.ci/run` does: they use the network frontends and the etcd backend).
#[cfg(all(
    doctest,
    feature = "tcp-server",
    feature = "etcd",
    feature = "client",
    feature = "tls"
))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
