//! The display-name registry verbs (spec §6.3): `me`, `iam`, `who`.

use super::conn::Conn;
use crate::protocol::{Verb, reply};
use crate::server::table::Table;

impl<T: Table> Conn<'_, T> {
    /// `me`, `iam NAME` or `who [NAME]`.
    pub(super) async fn registry_verb(&self, verb: Verb, arg: &[u8], out: &mut Vec<u8>) {
        let sh = self.shared;
        let cfg = &sh.config;
        match verb {
            Verb::Me => {
                let name = match cfg.registry {
                    true => T::name_of(self.session),
                    false => None,
                };
                reply::me(out, self.id, name.as_deref().unwrap_or(self.id));
            }
            Verb::Iam if !cfg.registry => out.extend_from_slice(reply::DISABLED),
            Verb::Iam => match sh.table.set_name(self.session, self.id, arg).await {
                Ok(()) => out.extend_from_slice(reply::OK),
                Err(e) => {
                    self.unavailable("a registration", &e.0);
                    out.extend_from_slice(reply::UNAVAILABLE);
                }
            },
            Verb::Who if !cfg.registry || !cfg.dump => out.extend_from_slice(reply::DISABLED),
            _ => {
                sh.reap_gone().await; // a connection that has gone is no longer listed
                let filter = (!arg.is_empty()).then_some(arg);
                match sh.table.names(filter).await {
                    Ok(names) => {
                        for (id, name) in names {
                            reply::pair(out, &id, &name);
                        }
                    }
                    Err(e) => {
                        self.unavailable("a listing", &e.0);
                        out.extend_from_slice(reply::UNAVAILABLE);
                    }
                }
            }
        }
    }
}
