//! Authentication and permissions (spec §12, `auth`): with an ACL configured, a connection
//! does nothing before `auth [USER] TOKEN` succeeds, and afterwards only what its token permits,
//! on the names it covers; listings leave out the names it does not cover.

use std::sync::atomic::Ordering;

use super::conn::Conn;
use super::locks::ext_args;
use crate::acl::Permission;
use crate::protocol::{Verb, reply};
use crate::server::table::Table;

/// What a verb needs, and on which protocol name (`None`: on no name in particular).
fn needs(verb: Verb, arg: &[u8]) -> Option<(Permission, Option<&[u8]>)> {
    Some(match verb {
        Verb::Get | Verb::Release | Verb::SharedGet | Verb::SharedRelease => {
            (Permission::Lock, Some(arg))
        }
        // Malformed arguments are answered as such, revealing nothing.
        Verb::GetWait => (Permission::Lock, Some(ext_args(arg, false)?.2)),
        Verb::SharedGetWait => (Permission::Lock, Some(ext_args(arg, true)?.2)),
        Verb::Iam => (Permission::Lock, None),
        Verb::Inspect | Verb::SharedInspect => (Permission::Read, Some(arg)),
        // `d NAME` of a name it does not cover shows nothing, as for a free name.
        Verb::Dump | Verb::SharedDump | Verb::DumpJson | Verb::Who => (Permission::Read, None),
        Verb::Stats => (Permission::Admin, None),
        Verb::Me | Verb::Ext | Verb::Auth => return None,
    })
}

impl<T: Table> Conn<'_, T> {
    /// Answers `auth`, or a verb this connection may not use; false if `verb` may go on.
    pub(super) fn refused_by_acl(&self, verb: Verb, arg: &[u8], out: &mut Vec<u8>) -> bool {
        let cfg = &self.shared.config;
        let Some(acl) = &cfg.acl else {
            if verb == Verb::Auth {
                out.extend_from_slice(reply::AUTH_SUCCESS); // nothing to authenticate
                return true;
            }
            return false;
        };
        if verb == Verb::Auth {
            let (user, secret) = match arg.iter().position(|&b| b == b' ') {
                Some(sp) => (Some(&arg[..sp]), &arg[sp + 1..]),
                None => (None, arg),
            };
            match acl.authenticate(user, secret) {
                Some(grant) => {
                    *self.auth.grant.lock() = Some(grant.clone());
                    out.extend_from_slice(reply::AUTH_SUCCESS);
                }
                None => {
                    out.extend_from_slice(reply::AUTH_FAILURE);
                    let failed = self.auth.failures.fetch_add(1, Ordering::SeqCst) + 1;
                    if failed >= cfg.auth_max_failures.max(1) {
                        self.auth.close.store(true, Ordering::SeqCst);
                    }
                    // The secret tried is never logged.
                    tracing::info!(peer = %String::from_utf8_lossy(self.id), failed, "auth failed");
                }
            }
            return true;
        }
        if verb == Verb::Ext {
            return false; // how a client finds out that it can authenticate
        }
        let grant = self.auth.grant.lock();
        let Some(grant) = grant.as_ref() else {
            out.extend_from_slice(reply::AUTH_REQUIRED);
            return true;
        };
        let Some((what, name)) = needs(verb, arg) else {
            return false; // `me`: any authenticated connection
        };
        let permitted = match name {
            Some(name) => grant.permits(what, name),
            None => grant.allows(what),
        };
        if !permitted {
            reply::permission_denied(out, name);
        }
        !permitted
    }

    /// Whether a listing may show the protocol name `name` to this connection.
    pub(super) fn visible(&self, name: &[u8]) -> bool {
        if self.shared.config.acl.is_none() {
            return true;
        }
        self.auth
            .grant
            .lock()
            .as_ref()
            .is_some_and(|g| g.covers(name))
    }
}
