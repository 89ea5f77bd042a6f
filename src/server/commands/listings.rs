//! Listings and statistics (spec §6.1, §6.2, §8): `d`, `sd`, `dump`, `q`.

use super::conn::{Conn, SHARED_NAMESPACE_PREFIX, shared_key};
use crate::protocol::{Verb, reply};
use crate::{HolderInfo, Mode, Snapshot};

impl Conn<'_> {
    /// `d`, `sd`, `dump` (the dump feature is on) or `q`.
    pub(super) fn listing(&self, verb: Verb, arg: &[u8], out: &mut Vec<u8>) {
        match verb {
            Verb::Dump => self.holders(Mode::Exclusive, arg, out),
            Verb::SharedDump => self.holders(Mode::Shared, arg, out),
            Verb::DumpJson => self.json(arg == b"shared", out),
            _ => self.stats(out),
        }
    }

    fn stats(&self, out: &mut Vec<u8>) {
        let snap = self.shared.mgr.snapshot();
        let (mut locks, mut shared_locks) = (0, 0);
        for lock in &snap.locks {
            match namespace(lock.name.as_bytes(), lock.mode) {
                Some((Mode::Exclusive, _)) => locks += 1,
                Some((Mode::Shared, _)) => shared_locks += 1,
                None => {}
            }
        }
        reply::stats(out, self.shared.counters.report(locks, shared_locks));
    }

    /// How a holder appears in `d`/`sd`: its registered name (registry on), else its id.
    fn holder_label(&self, h: &HolderInfo, names: bool) -> Vec<u8> {
        if names && self.shared.config.registry {
            if let Some(name) = &h.session_name {
                return name.as_bytes().to_vec();
            }
        }
        self.shared.display_id(h.session)
    }

    fn holders(&self, mode: Mode, arg: &[u8], out: &mut Vec<u8>) {
        if !arg.is_empty() {
            // One name: only its shard is looked at, not the whole table.
            let core_name = match mode {
                Mode::Exclusive => arg.to_vec(),
                Mode::Shared => shared_key(arg),
            };
            let Some(lock) = self.shared.mgr.lock_info(&core_name) else {
                return;
            };
            if namespace(lock.name.as_bytes(), lock.mode).is_some_and(|(m, _)| m == mode) {
                for h in &lock.holders {
                    reply::pair(out, arg, &self.holder_label(h, true));
                }
            }
            return;
        }
        let snap = self.shared.mgr.snapshot();
        for (name, holders) in locks_in(&snap, mode) {
            for h in holders {
                reply::pair(out, name, &self.holder_label(h, true));
            }
        }
    }

    fn json(&self, shared: bool, out: &mut Vec<u8>) {
        let snap = self.shared.mgr.snapshot();
        let mode = if shared {
            Mode::Shared
        } else {
            Mode::Exclusive
        };
        out.push(b'{');
        for (i, (name, holders)) in locks_in(&snap, mode).enumerate() {
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
                    reply::json_string(out, &self.shared.display_id(h.session));
                }
                out.push(b']');
            } else {
                reply::json_string(out, &self.shared.display_id(holders[0].session));
            }
        }
        out.extend_from_slice(b"}\n");
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
fn locks_in(snap: &Snapshot, mode: Mode) -> impl Iterator<Item = (&[u8], &[HolderInfo])> {
    snap.locks.iter().filter_map(
        move |lock| match namespace(lock.name.as_bytes(), lock.mode) {
            Some((m, name)) if m == mode => Some((name, &lock.holders[..])),
            _ => None,
        },
    )
}
