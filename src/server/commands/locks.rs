//! The lock verbs (`g r i sg sr si`, spec §5) and the waiting extensions (`gw sgw`, §12).

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::conn::{Conn, shared_key};
use crate::protocol::{Verb, reply};

/// A waiting extension request (`gw`/`sgw` with a wait), run by the connection: while it waits,
/// the connection's later lines wait behind it (§12).
#[derive(Debug)]
pub(crate) enum Wait {
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

impl Wait {
    /// The line that answers this wait when it ends without a grant.
    pub(crate) fn timed_out(&self, out: &mut Vec<u8>) {
        match self {
            Wait::Get { name, .. } => reply::lock(out, 0, reply::GET_TIMEOUT, name),
            Wait::Shared { name, .. } => reply::lock(out, 0, reply::SHARED_GET_TIMEOUT, name),
        }
    }
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

impl Conn<'_> {
    /// Once shutdown has begun nothing is granted (§12): acquiring verbs fail as if contended.
    fn shutting_down(&self) -> bool {
        self.shared.shutting_down.load(Ordering::SeqCst)
    }

    /// One lock verb; see [`Conn::dispatch`](super::Conn).
    pub(super) fn lock_verb(
        &self,
        verb: Verb,
        arg: &[u8],
        out: &mut Vec<u8>,
        first: bool,
    ) -> Option<Wait> {
        let sh = self.shared;
        match verb {
            Verb::Get => match self.session.get(arg) {
                Ok(guard) if !self.shutting_down() => {
                    let _ = guard.keep(); // held by the session until `r` or disconnect
                    reply::lock(out, 1, reply::GET_SUCCESS, arg);
                }
                Ok(_) => reply::lock(out, 0, reply::GET_FAILURE, arg),
                Err(_) => {
                    if let Some(again) = self.recheck(verb, arg, out, first) {
                        return again;
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
                    if let Some(again) = self.recheck(verb, arg, out, first) {
                        return again;
                    }
                    reply::lock(out, 1, reply::IS_LOCKED, arg);
                } else {
                    reply::lock(out, 0, reply::NOT_LOCKED, arg);
                }
            }
            Verb::SharedGet => match self.session.get_shared(shared_key(arg)) {
                Ok(guard) if !self.shutting_down() => {
                    let count = guard.count() as u64;
                    let _ = guard.keep();
                    reply::lock(out, count, reply::SHARED_GET_SUCCESS, arg);
                }
                _ => reply::lock(out, 0, reply::SHARED_GET_FAILURE, arg),
            },
            Verb::SharedRelease => match self.session.release_shared(shared_key(arg)) {
                true => reply::lock(out, 1, reply::SHARED_RELEASE_SUCCESS, arg),
                false => reply::lock(out, 0, reply::SHARED_RELEASE_FAILURE, arg),
            },
            Verb::SharedInspect => match sh.mgr.inspect_shared(shared_key(arg)) as u64 {
                0 => reply::lock(out, 0, reply::SHARED_NOT_LOCKED, arg),
                n => {
                    if let Some(again) = self.recheck(verb, arg, out, first) {
                        return again;
                    }
                    reply::lock(out, n, reply::SHARED_IS_LOCKED, arg);
                }
            },
            Verb::GetWait => match ext_args(arg, false) {
                None => reply::invalid_arguments(out, arg),
                Some((0, _, name)) => match self.session.get(name) {
                    Ok(guard) => self.kept(guard, name, out),
                    Err(_) => {
                        if let Some(again) = self.recheck(verb, arg, out, first) {
                            return again;
                        }
                        reply::lock(out, 0, reply::GET_FAILURE, name)
                    }
                },
                Some((ms, _, name)) => {
                    let wait = Duration::from_millis(ms).min(sh.config.max_wait);
                    let name = name.to_vec();
                    return Some(Wait::Get { wait, name });
                }
            },
            Verb::SharedGetWait => match ext_args(arg, true) {
                None => reply::invalid_arguments(out, arg),
                Some((0, limit, name)) => {
                    match self.session.get_shared_max(shared_key(name), limit) {
                        Ok(guard) => self.kept_shared(guard, name, out),
                        Err(_) => {
                            if let Some(again) = self.recheck(verb, arg, out, first) {
                                return again;
                            }
                            reply::lock(out, 0, reply::SHARED_GET_FAILURE, name)
                        }
                    }
                }
                Some((ms, limit, name)) => {
                    let wait = Duration::from_millis(ms).min(sh.config.max_wait);
                    let name = name.to_vec();
                    return Some(Wait::Shared { wait, limit, name });
                }
            },
            _ => unreachable!("not a lock verb: {verb:?}"),
        }
        None
    }

    /// Runs a waiting request to its reply. Cancel safe: dropping it (the peer's input ended,
    /// the peer reset, the server is shutting down) leaves the queue, and nothing is granted or
    /// orphaned. A wait that the session's end cancelled answers with its timeout line.
    pub(crate) async fn wait(&self, wait: &Wait, out: &mut Vec<u8>) {
        match wait {
            Wait::Get { wait: time, name } => match self.session.lock_timeout(name, *time).await {
                Ok(guard) => self.kept(guard, name, out),
                Err(crate::Error::LockLimit { .. }) => {
                    reply::lock(out, 0, reply::GET_FAILURE, name)
                }
                Err(_) => wait.timed_out(out),
            },
            Wait::Shared {
                wait: time,
                limit,
                name,
            } => {
                let key = shared_key(name);
                match self
                    .session
                    .lock_shared_max_timeout(key, *limit, *time)
                    .await
                {
                    Ok(guard) => self.kept_shared(guard, name, out),
                    Err(crate::Error::LockLimit { .. }) => {
                        reply::lock(out, 0, reply::SHARED_GET_FAILURE, name)
                    }
                    Err(_) => wait.timed_out(out),
                }
            }
        }
    }

    /// `T Lock Get Success: NAME`, T the fencing token; the session keeps the lock. During
    /// shutdown the grant is given back instead and the request fails.
    fn kept(&self, guard: crate::ExclusiveGuard, name: &[u8], out: &mut Vec<u8>) {
        if self.shutting_down() {
            return reply::lock(out, 0, reply::GET_FAILURE, name);
        }
        reply::lock(out, guard.token(), reply::GET_SUCCESS, name);
        let _ = guard.keep();
    }

    /// `N Shared Lock Get Success: NAME`, N the holder count; the session keeps the lock.
    fn kept_shared(&self, guard: crate::SharedGuard, name: &[u8], out: &mut Vec<u8>) {
        if self.shutting_down() {
            return reply::lock(out, 0, reply::SHARED_GET_FAILURE, name);
        }
        reply::lock(out, guard.count() as u64, reply::SHARED_GET_SUCCESS, name);
        let _ = guard.keep();
    }
}
