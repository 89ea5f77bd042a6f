//! One request → its effect on the connection's core [`Session`] → its reply bytes (spec §5–§8),
//! by family: lock verbs and their waiting forms (`locks.rs`), listings and statistics
//! (`listings.rs`), and the display-name registry (`registry.rs`). The frontend keeps no lock
//! state: every answer comes from the core.
//!
//! **Namespaces.** An exclusive lockd name `NAME` is the core lock `NAME`, the same lock as
//! in-process `get(NAME)`. The lockd *shared* namespace is kept apart (`g foo` and `sg foo` never
//! interact, as in glockd): `sg NAME` holds the core shared lock `"\n" + NAME`. No protocol name
//! can contain LF, so this never collides with a name a lockd client can send; in-process code
//! can join a lockd shared lock with `get_shared("\nNAME")` and should not otherwise use names
//! starting with LF.

mod conn;
mod listings;
mod locks;
mod registry;

pub(crate) use conn::Conn;
pub use conn::SHARED_NAMESPACE_PREFIX;
pub(crate) use locks::Wait;

use crate::protocol::{Verb, reply};

impl Conn<'_> {
    /// Applies one valid request and appends its reply (possibly nothing) to `out`, or returns
    /// the wait the connection must run to answer it.
    pub(crate) fn apply(&self, verb: Verb, arg: &[u8], out: &mut Vec<u8>) -> Option<Wait> {
        self.shared.counters.command(verb); // counted before the reply is built (§8)
        self.dispatch(verb, arg, out, true)
    }

    /// `first` is false when a request is applied again after connections whose peers had
    /// gone were ended (see [`Conn::recheck`]).
    fn dispatch(&self, verb: Verb, arg: &[u8], out: &mut Vec<u8>, first: bool) -> Option<Wait> {
        let cfg = &self.shared.config;
        match verb {
            Verb::Get
            | Verb::Release
            | Verb::Inspect
            | Verb::SharedGet
            | Verb::SharedRelease
            | Verb::SharedInspect
            | Verb::GetWait
            | Verb::SharedGetWait => return self.lock_verb(verb, arg, out, first),
            Verb::Dump | Verb::SharedDump | Verb::DumpJson if !cfg.dump => {
                out.extend_from_slice(reply::DISABLED)
            }
            Verb::Dump | Verb::SharedDump | Verb::DumpJson | Verb::Stats => {
                self.shared.reap_gone();
                self.listing(verb, arg, out)
            }
            Verb::Me | Verb::Iam | Verb::Who => self.registry_verb(verb, arg, out),
            Verb::Ext => out.extend_from_slice(reply::EXT),
        }
        None
    }

    /// Called where an answer would say "held by someone else": if connections whose peers
    /// have already gone are ended now (their locks released), the request is applied again and
    /// its outcome returned (its reply is then in `out`); `None` means the answer stands.
    fn recheck(
        &self,
        verb: Verb,
        arg: &[u8],
        out: &mut Vec<u8>,
        first: bool,
    ) -> Option<Option<Wait>> {
        (first && self.shared.reap_gone()).then(|| self.dispatch(verb, arg, out, false))
    }
}
