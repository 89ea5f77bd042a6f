//! One request → its effect on the connection's core [`Session`] → its reply bytes (spec §5–§8).
//! The frontend keeps no lock state: every answer comes from the core.
//!
//! **Namespaces.** An exclusive lockd name `NAME` is the core lock `NAME`, the same lock as
//! in-process `get(NAME)`. The lockd *shared* namespace is kept apart (`g foo` and `sg foo` never
//! interact, as in glockd): `sg NAME` holds the core shared lock `"\n" + NAME`. No protocol name
//! can contain LF, so this never collides with a name a lockd client can send; in-process code
//! can join a lockd shared lock with `get_shared("\nNAME")` and should not otherwise use names
//! starting with LF.

use std::sync::Arc;
use std::time::Duration;

use super::Shared;
use crate::protocol::{Verb, reply};
use crate::{HolderInfo, Mode, Session, Snapshot};

/// The first byte of core names in the lockd shared namespace.
pub const SHARED_NAMESPACE_PREFIX: u8 = b'\n';

fn shared_key(name: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len() + 1);
    key.push(SHARED_NAMESPACE_PREFIX);
    key.extend_from_slice(name);
    key
}

/// A waiting extension request (`gw`/`sgw` with a wait), run by the connection: while it waits,
/// the connection's later lines wait behind it (§12).
pub(crate) enum Wait {
    /// The answer would depend on a lock held by a connection whose peer has already gone:
    /// let its cleanup run, then apply the request again (uncounted).
    Recheck {
        verb: Verb,
        arg: Vec<u8>,
    },
    Get {
        wait: Duration,
        name: Vec<u8>,
    },
    Shared {
        wait: Duration,
        limit: usize,
        name: Vec<u8>,
    },
}

/// `MS NAME` / `MS LIMIT NAME` (§12): decimal numbers, the name is the rest (maybe empty).
fn ext_args(arg: &[u8], with_limit: bool) -> Option<(u64, usize, &[u8])> {
    fn decimal(s: &[u8]) -> Option<u64> {
        if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        // Saturate: a huge wait is cut to the cap anyway, a huge limit is no limit.
        Some(s.iter().fold(0u64, |n, d| {
            n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        }))
    }
    let mut parts = arg.splitn(if with_limit { 3 } else { 2 }, |&b| b == b' ');
    let ms = decimal(parts.next()?)?;
    let limit = match with_limit {
        true => usize::try_from(decimal(parts.next()?)?).unwrap_or(usize::MAX),
        false => usize::MAX,
    };
    if limit == 0 {
        return None;
    }
    Some((ms, limit, parts.next().unwrap_or(b"")))
}

/// One protocol connection's view of the server.
pub(crate) struct Conn<'a> {
    pub(crate) session: &'a Session,
    pub(crate) id: &'a Arc<[u8]>,
    pub(crate) shared: &'a Shared,
}

impl Conn<'_> {
    /// Applies one valid request and appends its reply (possibly nothing) to `out`, or returns
    /// the wait the connection must run to answer it. `first` is false when a request is
    /// applied again after a [`Wait::Recheck`]: it is not counted twice, nor rechecked again.
    pub(crate) fn apply(
        &self,
        verb: Verb,
        arg: &[u8],
        out: &mut Vec<u8>,
        first: bool,
    ) -> Option<Wait> {
        let sh = self.shared;
        let cfg = &sh.config;
        if first {
            sh.counters.command(verb); // counted before the reply is built (§8)
        }
        // A "held" answer caused by a connection that has gone but not been cleaned up yet.
        let recheck = |core_name: &[u8]| {
            (first && sh.holder_gone(core_name)).then(|| Wait::Recheck {
                verb,
                arg: arg.to_vec(),
            })
        };
        match verb {
            Verb::Get => match self.session.get(arg) {
                Ok(guard) => {
                    let _ = guard.keep(); // held by the session until `r` or disconnect
                    reply::lock(out, 1, reply::GET_SUCCESS, arg);
                }
                Err(_) => {
                    if let Some(again) = recheck(arg) {
                        return Some(again);
                    }
                    reply::lock(out, 0, reply::GET_FAILURE, arg)
                }
            },
            Verb::Release => match self.session.release(arg) {
                true => reply::lock(out, 1, reply::RELEASE_SUCCESS, arg),
                false => reply::lock(out, 0, reply::RELEASE_FAILURE, arg),
            },
            Verb::Inspect => {
                // Held by anyone, in-process shared holders of the same core name included.
                let (exclusive, shared) = sh.mgr.inspect_both(arg);
                if exclusive || shared > 0 {
                    if let Some(again) = recheck(arg) {
                        return Some(again);
                    }
                    reply::lock(out, 1, reply::IS_LOCKED, arg);
                } else {
                    reply::lock(out, 0, reply::NOT_LOCKED, arg);
                }
            }
            Verb::SharedGet => match self.session.get_shared(shared_key(arg)) {
                Ok(guard) => {
                    let count = guard.count() as u64;
                    let _ = guard.keep();
                    reply::lock(out, count, reply::SHARED_GET_SUCCESS, arg);
                }
                Err(_) => reply::lock(out, 0, reply::SHARED_GET_FAILURE, arg),
            },
            Verb::SharedRelease => match self.session.release_shared(shared_key(arg)) {
                true => reply::lock(out, 1, reply::SHARED_RELEASE_SUCCESS, arg),
                false => reply::lock(out, 0, reply::SHARED_RELEASE_FAILURE, arg),
            },
            Verb::SharedInspect => match sh.mgr.inspect_shared(shared_key(arg)) as u64 {
                0 => reply::lock(out, 0, reply::SHARED_NOT_LOCKED, arg),
                n => {
                    if let Some(again) = recheck(&shared_key(arg)) {
                        return Some(again);
                    }
                    reply::lock(out, n, reply::SHARED_IS_LOCKED, arg);
                }
            },
            Verb::Dump | Verb::SharedDump if !cfg.dump => out.extend_from_slice(reply::DISABLED),
            Verb::Dump => self.listing(Mode::Exclusive, arg, out),
            Verb::SharedDump => self.listing(Mode::Shared, arg, out),
            Verb::DumpJson if !cfg.dump => out.extend_from_slice(reply::DISABLED),
            Verb::DumpJson => self.json(arg == b"shared", out),
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
            Verb::Who => {
                let filter = (!arg.is_empty()).then_some(arg);
                for (id, name) in sh.registry.list(filter) {
                    reply::pair(out, &id, &name);
                }
            }
            Verb::Stats => {
                let snap = sh.mgr.snapshot();
                let (mut locks, mut shared_locks) = (0, 0);
                for lock in &snap.locks {
                    match namespace(lock.name.as_bytes(), lock.mode) {
                        Some((Mode::Exclusive, _)) => locks += 1,
                        Some((Mode::Shared, _)) => shared_locks += 1,
                        None => {}
                    }
                }
                reply::stats(out, sh.counters.report(locks, shared_locks));
            }
            Verb::Ext => out.extend_from_slice(reply::EXT),
            Verb::GetWait => match ext_args(arg, false) {
                None => reply::invalid_arguments(out, arg),
                Some((0, _, name)) => match self.session.get(name) {
                    Ok(guard) => self.kept(guard, name, out),
                    Err(_) => {
                        if let Some(again) = recheck(name) {
                            return Some(again);
                        }
                        reply::lock(out, 0, reply::GET_FAILURE, name)
                    }
                },
                Some((ms, _, name)) => {
                    let wait = Duration::from_millis(ms).min(cfg.max_wait);
                    let name = name.to_vec();
                    return Some(Wait::Get { wait, name });
                }
            },
            Verb::SharedGetWait => match ext_args(arg, true) {
                None => reply::invalid_arguments(out, arg),
                Some((0, limit, name)) => {
                    match self.session.get_shared_max(shared_key(name), limit) {
                        Ok(guard) => self.kept_shared(guard, name, out),
                        Err(_) => reply::lock(out, 0, reply::SHARED_GET_FAILURE, name),
                    }
                }
                Some((ms, limit, name)) => {
                    let wait = Duration::from_millis(ms).min(cfg.max_wait);
                    let name = name.to_vec();
                    return Some(Wait::Shared { wait, limit, name });
                }
            },
        }
        None
    }

    /// Runs a waiting request to its reply. Cancel safe: dropping it (the peer reset, the
    /// server was destroyed) leaves the queue, and nothing is granted or orphaned.
    pub(crate) async fn wait(&self, wait: Wait, out: &mut Vec<u8>) {
        match wait {
            // Handled by the connection before it waits (it is not a wait for a lock).
            Wait::Recheck { .. } => {}
            Wait::Get { wait, name } => match self.session.lock_timeout(&name, wait).await {
                Ok(guard) => self.kept(guard, &name, out),
                Err(crate::Error::Timeout { .. }) => reply::lock(out, 0, reply::GET_TIMEOUT, &name),
                Err(_) => reply::lock(out, 0, reply::GET_FAILURE, &name),
            },
            Wait::Shared { wait, limit, name } => {
                let key = shared_key(&name);
                match self.session.lock_shared_max_timeout(key, limit, wait).await {
                    Ok(guard) => self.kept_shared(guard, &name, out),
                    Err(crate::Error::Timeout { .. }) => {
                        reply::lock(out, 0, reply::SHARED_GET_TIMEOUT, &name)
                    }
                    Err(_) => reply::lock(out, 0, reply::SHARED_GET_FAILURE, &name),
                }
            }
        }
    }

    /// `T Lock Get Success: NAME`, T the fencing token; the session keeps the lock.
    fn kept(&self, guard: crate::ExclusiveGuard, name: &[u8], out: &mut Vec<u8>) {
        reply::lock(out, guard.token(), reply::GET_SUCCESS, name);
        let _ = guard.keep();
    }

    /// `N Shared Lock Get Success: NAME`, N the holder count; the session keeps the lock.
    fn kept_shared(&self, guard: crate::SharedGuard, name: &[u8], out: &mut Vec<u8>) {
        reply::lock(out, guard.count() as u64, reply::SHARED_GET_SUCCESS, name);
        let _ = guard.keep();
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

    fn listing(&self, mode: Mode, arg: &[u8], out: &mut Vec<u8>) {
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
