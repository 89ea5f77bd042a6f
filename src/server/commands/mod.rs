//! One request → its effect on the connection's session → its reply bytes (spec §5–§8), by
//! family: lock verbs and their waiting forms (`locks.rs`), listings and statistics
//! (`listings.rs`), and the display-name registry (`registry.rs`). The frontend keeps no lock
//! state: every answer comes from the table (in memory, the core; or the etcd cluster's), whose
//! lock verbs are the backend contract's ([`LockSession`](crate::backend::LockSession)).
//!
//! **Namespaces.** An exclusive lockd name `NAME` is the core lock `NAME`, the same lock as
//! in-process `get(NAME)`. The lockd *shared* namespace is kept apart (`g foo` and `sg foo` never
//! interact, as in glockd): `sg NAME` holds the core shared lock `"\n" + NAME`. No protocol name
//! can contain LF, so this never collides with a name a lockd client can send; in-process code
//! can join a lockd shared lock with `get_shared("\nNAME")` and should not otherwise use names
//! starting with LF.

mod auth;
mod conn;
mod listings;
mod locks;
mod registry;

use conn::Again;
pub(crate) use conn::AuthState;
pub(crate) use conn::Conn;
pub use conn::SHARED_NAMESPACE_PREFIX;
pub(crate) use locks::Wait;

use crate::protocol::{Verb, reply};
use crate::server::table::Table;

impl<T: Table> Conn<'_, T> {
    /// Applies one valid request and appends its reply (possibly nothing) to `out`, or returns
    /// the wait the connection must run to answer it.
    pub(crate) async fn apply(&self, verb: Verb, arg: &[u8], out: &mut Vec<u8>) -> Option<Wait> {
        self.shared.counters.command(verb); // counted before the reply is built (§8)
        if self.refused_by_acl(verb, arg, out) {
            return None;
        }
        let len = out.len();
        let first = Some(self.shared.ends_completed());
        match self.dispatch(verb, arg, out, first).await {
            Ok(wait) => wait,
            Err(Again) => {
                out.truncate(len);
                self.dispatch(verb, arg, out, None).await.unwrap_or(None)
            }
        }
    }

    /// `first` is how many connection ends had completed when the request was first applied;
    /// `None` when it is applied again after connections whose peers had gone were ended (see
    /// [`Conn::recheck`]).
    async fn dispatch(
        &self,
        verb: Verb,
        arg: &[u8],
        out: &mut Vec<u8>,
        first: Option<u64>,
    ) -> Result<Option<Wait>, Again> {
        let cfg = &self.shared.config;
        match verb {
            Verb::Get
            | Verb::Release
            | Verb::Inspect
            | Verb::SharedGet
            | Verb::SharedRelease
            | Verb::SharedInspect
            | Verb::GetWait
            | Verb::SharedGetWait => return self.lock_verb(verb, arg, out, first).await,
            Verb::Dump | Verb::SharedDump | Verb::DumpJson if !cfg.dump => {
                out.extend_from_slice(reply::DISABLED)
            }
            Verb::Dump | Verb::SharedDump | Verb::DumpJson | Verb::Stats => {
                self.shared.reap_gone().await;
                self.listing(verb, arg, out).await
            }
            Verb::Me | Verb::Iam | Verb::Who => self.registry_verb(verb, arg, out).await,
            Verb::Ext => out.extend_from_slice(reply::EXT),
            Verb::Auth => unreachable!("answered by refused_by_acl"),
        }
        Ok(None)
    }

    /// Called where an answer would say "held by someone else": if connections whose peers
    /// have already gone are ended now (their locks released), or a connection's end completed
    /// while the request was under way (on etcd, where both take time), the request is to be
    /// applied again (`Err(Again)`); `Ok` means the answer stands.
    async fn recheck(&self, first: Option<u64>) -> Result<(), Again> {
        let Some(ends) = first else {
            return Ok(());
        };
        match self.shared.reap_gone().await || self.shared.ends_completed() != ends {
            true => Err(Again),
            false => Ok(()),
        }
    }

    /// Logs a failure of the table (the client is told with a `0` line).
    fn unavailable(&self, what: &str, e: &impl std::fmt::Display) {
        tracing::warn!(backend = T::KIND, peer = %String::from_utf8_lossy(self.id), error = %e, "{what} failed");
    }
}
