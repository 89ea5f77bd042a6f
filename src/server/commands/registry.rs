//! The display-name registry verbs (spec §6.3): `me`, `iam`, `who`.

use super::conn::Conn;
use crate::protocol::{Verb, reply};

impl Conn<'_> {
    /// `me`, `iam NAME` or `who [NAME]`.
    pub(super) fn registry_verb(&self, verb: Verb, arg: &[u8], out: &mut Vec<u8>) {
        let sh = self.shared;
        let cfg = &sh.config;
        match verb {
            Verb::Me => {
                let name = match cfg.registry {
                    true => self.session.name().map(|n| n.as_bytes().to_vec()),
                    false => None,
                };
                reply::me(out, self.id, name.as_deref().unwrap_or(self.id));
            }
            Verb::Iam if !cfg.registry => out.extend_from_slice(reply::DISABLED),
            Verb::Iam => {
                sh.registry.set(self.session.id(), self.id, arg);
                match arg.is_empty() {
                    true => self.session.clear_name(),
                    false => self.session.set_name(arg),
                }
                out.extend_from_slice(reply::OK);
            }
            Verb::Who if !cfg.registry || !cfg.dump => out.extend_from_slice(reply::DISABLED),
            _ => {
                sh.reap_gone(); // a connection that has gone is no longer listed
                let filter = (!arg.is_empty()).then_some(arg);
                for (id, name) in sh.registry.list(filter) {
                    reply::pair(out, &id, &name);
                }
            }
        }
    }
}
