//! Listings and statistics (spec §6.1, §6.2, §8): `d`, `sd`, `dump`, `q`.

use super::conn::{Conn, SHARED_NAMESPACE_PREFIX, shared_key};
use crate::Mode;
use crate::protocol::{Verb, reply};
use crate::server::table::{Holder, LockView, Table, Unavailable};

impl<T: Table> Conn<'_, T> {
    /// `d`, `sd`, `dump` (the dump feature is on) or `q`.
    pub(super) async fn listing(&self, verb: Verb, arg: &[u8], out: &mut Vec<u8>) {
        let done = match verb {
            Verb::Dump => self.holders(Mode::Exclusive, arg, out).await,
            Verb::SharedDump => self.holders(Mode::Shared, arg, out).await,
            Verb::DumpJson => self.json(arg == b"shared", out).await,
            _ => self.stats(out).await,
        };
        if let Err(e) = done {
            self.unavailable("a listing", &e.0);
            out.extend_from_slice(reply::UNAVAILABLE);
        }
    }

    async fn stats(&self, out: &mut Vec<u8>) -> Result<(), Unavailable> {
        let snap = self.shared.table.snapshot().await?;
        let (mut locks, mut shared_locks) = (0, 0);
        for lock in &snap {
            match namespace(&lock.name, lock.mode) {
                Some((Mode::Exclusive, _)) => locks += 1,
                Some((Mode::Shared, _)) => shared_locks += 1,
                None => {}
            }
        }
        reply::stats(out, self.shared.counters.report(locks, shared_locks));
        Ok(())
    }

    /// How a holder appears in `d`/`sd`: its registered name (registry on), else its id.
    fn holder_label(&self, h: &Holder) -> Vec<u8> {
        if self.shared.config.registry {
            if let Some(name) = &h.name {
                return name.clone();
            }
        }
        self.shared.display_id(h)
    }

    async fn holders(&self, mode: Mode, arg: &[u8], out: &mut Vec<u8>) -> Result<(), Unavailable> {
        if !arg.is_empty() {
            // One name: only its shard (or its etcd range) is looked at, not the whole table.
            let core_name = match mode {
                Mode::Exclusive => arg.to_vec(),
                Mode::Shared => shared_key(arg),
            };
            let Some(lock) = self.shared.table.lock_info(&core_name).await? else {
                return Ok(());
            };
            if self.visible(arg) && namespace(&lock.name, lock.mode).is_some_and(|(m, _)| m == mode)
            {
                for h in &lock.holders {
                    reply::pair(out, arg, &self.holder_label(h));
                }
            }
            return Ok(());
        }
        let snap = self.shared.table.snapshot().await?;
        for (name, holders) in locks_in(&snap, mode).filter(|(name, _)| self.visible(name)) {
            for h in holders {
                reply::pair(out, name, &self.holder_label(h));
            }
        }
        Ok(())
    }

    async fn json(&self, shared: bool, out: &mut Vec<u8>) -> Result<(), Unavailable> {
        let snap = self.shared.table.snapshot().await?;
        let mode = if shared {
            Mode::Shared
        } else {
            Mode::Exclusive
        };
        out.push(b'{');
        let visible = locks_in(&snap, mode).filter(|(name, _)| self.visible(name));
        for (i, (name, holders)) in visible.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            reply::json_string(out, name);
            out.push(b':');
            if shared {
                out.push(b'[');
                for (j, h) in holders.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    reply::json_string(out, &self.shared.display_id(h));
                }
                out.push(b']');
            } else {
                reply::json_string(out, &self.shared.display_id(&holders[0]));
            }
        }
        out.extend_from_slice(b"}\n");
        Ok(())
    }
}

/// Which lockd namespace a core lock belongs to, and its protocol name: exclusive locks are
/// core names held exclusively; shared ones carry the prefix. In-process shared holdings of
/// unprefixed names belong to neither listing.
fn namespace(core_name: &[u8], mode: Mode) -> Option<(Mode, &[u8])> {
    match (core_name.split_first(), mode) {
        (Some((&SHARED_NAMESPACE_PREFIX, rest)), Mode::Shared) => Some((Mode::Shared, rest)),
        (Some((&SHARED_NAMESPACE_PREFIX, _)), Mode::Exclusive) => None,
        (_, Mode::Exclusive) => Some((Mode::Exclusive, core_name)),
        (_, Mode::Shared) => None,
    }
}

/// The locks of one lockd namespace, by protocol name in byte order, with their holders.
fn locks_in(snap: &[LockView], mode: Mode) -> impl Iterator<Item = (&[u8], &[Holder])> {
    snap.iter()
        .filter_map(move |lock| match namespace(&lock.name, lock.mode) {
            Some((m, name)) if m == mode && !lock.holders.is_empty() => {
                Some((name, &lock.holders[..]))
            }
            _ => None,
        })
}
