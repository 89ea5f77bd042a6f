//! The lock verbs (`g r i sg sr si`, spec §5) and the waiting extensions (`gw sgw`, §12).

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::conn::{Again, Conn, shared_key};
use crate::backend::{ErrorKind, LockError, LockGuard, LockSession, SharedLockGuard};
use crate::protocol::{Verb, reply};
use crate::server::table::Table;

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
    /// How long it may wait (already capped by `max_wait`).
    pub(crate) fn duration(&self) -> Duration {
        match self {
            Wait::Get { wait, .. } | Wait::Shared { wait, .. } => *wait,
        }
    }

    /// The line that answers this wait when it ends without a grant.
    pub(crate) fn timed_out(&self, out: &mut Vec<u8>) {
        match self {
            Wait::Get { name, .. } => reply::lock(out, 0, reply::GET_TIMEOUT, name),
            Wait::Shared { name, .. } => reply::lock(out, 0, reply::SHARED_GET_TIMEOUT, name),
        }
    }
}

/// `MS NAME` / `MS LIMIT NAME` (§12): decimal numbers, the name is the rest (maybe empty).
pub(super) fn ext_args(arg: &[u8], with_limit: bool) -> Option<(u64, usize, &[u8])> {
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

impl<T: Table> Conn<'_, T> {
    /// Once shutdown has begun nothing is granted (§12): acquiring verbs fail as if contended.
    fn shutting_down(&self) -> bool {
        self.shared.shutting_down.load(Ordering::SeqCst)
    }

    /// A refusal or failure of an acquiring verb: whether the lock was held by someone else
    /// (worth a [`recheck`](Conn::recheck)); a failure of the table itself is logged.
    fn refused(&self, e: &impl LockError) -> bool {
        match e.kind() {
            ErrorKind::WouldBlock(_) => true,
            ErrorKind::Backend | ErrorKind::SessionLost => {
                self.unavailable("a lock request", e);
                false
            }
            _ => false,
        }
    }

    /// One lock verb; see [`Conn::dispatch`](super::Conn).
    pub(super) async fn lock_verb(
        &self,
        verb: Verb,
        arg: &[u8],
        out: &mut Vec<u8>,
        first: Option<u64>,
    ) -> Result<Option<Wait>, Again> {
        let sh = self.shared;
        let session = self.session;
        match verb {
            Verb::Get => match session.get(arg).await {
                Ok(guard) if !self.shutting_down() => {
                    let _ = guard.keep(); // held by the session until `r` or disconnect
                    reply::lock(out, 1, reply::GET_SUCCESS, arg);
                }
                Ok(_) => reply::lock(out, 0, reply::GET_FAILURE, arg),
                Err(e) => {
                    if self.refused(&e) {
                        self.recheck(first).await?;
                    }
                    reply::lock(out, 0, reply::GET_FAILURE, arg)
                }
            },
            Verb::Release => match session.release(arg).await {
                Ok(true) => reply::lock(out, 1, reply::RELEASE_SUCCESS, arg),
                Ok(false) => reply::lock(out, 0, reply::RELEASE_FAILURE, arg),
                Err(e) => {
                    self.unavailable("a release", &e);
                    reply::lock(out, 0, reply::RELEASE_FAILURE, arg)
                }
            },
            Verb::Inspect => match sh.table.inspect_both(arg).await {
                // Held by anyone, in-process shared holders of the same core name included.
                Ok((exclusive, shared)) if exclusive || shared > 0 => {
                    self.recheck(first).await?;
                    reply::lock(out, 1, reply::IS_LOCKED, arg);
                }
                Ok(_) => reply::lock(out, 0, reply::NOT_LOCKED, arg),
                Err(e) => {
                    self.unavailable("an inspection", &e.0);
                    reply::lock(out, 0, reply::INSPECT_FAILURE, arg)
                }
            },
            Verb::SharedGet => match session.get_shared(&shared_key(arg)).await {
                Ok(guard) if !self.shutting_down() => {
                    let count = guard.count() as u64;
                    let _ = guard.keep();
                    reply::lock(out, count, reply::SHARED_GET_SUCCESS, arg);
                }
                Ok(_) => reply::lock(out, 0, reply::SHARED_GET_FAILURE, arg),
                Err(e) => {
                    self.refused(&e);
                    reply::lock(out, 0, reply::SHARED_GET_FAILURE, arg)
                }
            },
            Verb::SharedRelease => match session.release_shared(&shared_key(arg)).await {
                Ok(true) => reply::lock(out, 1, reply::SHARED_RELEASE_SUCCESS, arg),
                Ok(false) => reply::lock(out, 0, reply::SHARED_RELEASE_FAILURE, arg),
                Err(e) => {
                    self.unavailable("a release", &e);
                    reply::lock(out, 0, reply::SHARED_RELEASE_FAILURE, arg)
                }
            },
            Verb::SharedInspect => match sh.table.inspect_shared(&shared_key(arg)).await {
                Ok(0) => reply::lock(out, 0, reply::SHARED_NOT_LOCKED, arg),
                Ok(n) => {
                    self.recheck(first).await?;
                    reply::lock(out, n as u64, reply::SHARED_IS_LOCKED, arg);
                }
                Err(e) => {
                    self.unavailable("an inspection", &e.0);
                    reply::lock(out, 0, reply::SHARED_INSPECT_FAILURE, arg)
                }
            },
            Verb::GetWait => match ext_args(arg, false) {
                None => reply::invalid_arguments(out, arg),
                Some((0, _, name)) => match session.get(name).await {
                    Ok(guard) => self.kept(guard, name, out),
                    Err(e) => {
                        if self.refused(&e) {
                            self.recheck(first).await?;
                        }
                        reply::lock(out, 0, reply::GET_FAILURE, name)
                    }
                },
                Some((ms, _, name)) => {
                    let wait = Duration::from_millis(ms).min(sh.config.max_wait);
                    let name = name.to_vec();
                    return Ok(Some(Wait::Get { wait, name }));
                }
            },
            Verb::SharedGetWait => match ext_args(arg, true) {
                None => reply::invalid_arguments(out, arg),
                Some((0, limit, name)) => {
                    match session.get_shared_max(&shared_key(name), limit).await {
                        Ok(guard) => self.kept_shared(guard, name, out),
                        Err(e) => {
                            if self.refused(&e) {
                                self.recheck(first).await?;
                            }
                            reply::lock(out, 0, reply::SHARED_GET_FAILURE, name)
                        }
                    }
                }
                Some((ms, limit, name)) => {
                    let wait = Duration::from_millis(ms).min(sh.config.max_wait);
                    let name = name.to_vec();
                    return Ok(Some(Wait::Shared { wait, limit, name }));
                }
            },
            _ => unreachable!("not a lock verb: {verb:?}"),
        }
        Ok(None)
    }

    /// The start of a waiting request: a try, whose grant counts even if the input ends while
    /// it is under way (it is not a wait yet). True if it answered the request (granted, or
    /// refused other than by contention); false if the request has to wait.
    pub(crate) async fn try_first(&self, wait: &Wait, out: &mut Vec<u8>) -> bool {
        let failed = |e: &<T::Session as LockSession>::Error| match e.kind() {
            ErrorKind::WouldBlock(_) => false,
            _ => {
                self.refused(e);
                true
            }
        };
        match wait {
            Wait::Get { name, .. } => match self.session.get(name).await {
                Ok(guard) => self.kept(guard, name, out),
                Err(e) if failed(&e) => reply::lock(out, 0, reply::GET_FAILURE, name),
                Err(_) => return false,
            },
            Wait::Shared { limit, name, .. } => {
                match self.session.get_shared_max(&shared_key(name), *limit).await {
                    Ok(guard) => self.kept_shared(guard, name, out),
                    Err(e) if failed(&e) => reply::lock(out, 0, reply::SHARED_GET_FAILURE, name),
                    Err(_) => return false,
                }
            }
        }
        true
    }

    /// Runs a waiting request to its reply. Cancel safe: dropping it (the peer's input ended,
    /// the peer reset, the server is shutting down) leaves the queue, and nothing is granted or
    /// orphaned. A wait that the session's end cancelled answers with its timeout line; one
    /// the session's lock limit or a failure of the table refused, with its failure line.
    pub(crate) async fn wait(&self, wait: &Wait, limit: Duration, out: &mut Vec<u8>) {
        let failed = |e: &<T::Session as LockSession>::Error| match e.kind() {
            ErrorKind::LockLimit => true,
            ErrorKind::Backend | ErrorKind::SessionLost => {
                self.unavailable("a waiting lock request", e);
                true
            }
            _ => false,
        };
        match wait {
            Wait::Get { name, .. } => match self.session.lock_timeout(name, limit).await {
                Ok(guard) => self.kept(guard, name, out),
                Err(e) if failed(&e) => reply::lock(out, 0, reply::GET_FAILURE, name),
                Err(_) => wait.timed_out(out),
            },
            Wait::Shared {
                limit: max, name, ..
            } => {
                let key = shared_key(name);
                match self
                    .session
                    .lock_shared_max_timeout(&key, *max, limit)
                    .await
                {
                    Ok(guard) => self.kept_shared(guard, name, out),
                    Err(e) if failed(&e) => reply::lock(out, 0, reply::SHARED_GET_FAILURE, name),
                    Err(_) => wait.timed_out(out),
                }
            }
        }
    }

    /// `T Lock Get Success: NAME`, T the fencing token; the session keeps the lock. During
    /// shutdown the grant is given back instead and the request fails.
    fn kept(&self, guard: <T::Session as LockSession>::Guard, name: &[u8], out: &mut Vec<u8>) {
        if self.shutting_down() {
            return reply::lock(out, 0, reply::GET_FAILURE, name);
        }
        reply::lock(out, guard.token(), reply::GET_SUCCESS, name);
        let _ = guard.keep();
    }

    /// `N Shared Lock Get Success: NAME`, N the holder count; the session keeps the lock.
    fn kept_shared(
        &self,
        guard: <T::Session as LockSession>::SharedGuard,
        name: &[u8],
        out: &mut Vec<u8>,
    ) {
        if self.shutting_down() {
            return reply::lock(out, 0, reply::SHARED_GET_FAILURE, name);
        }
        reply::lock(out, guard.count() as u64, reply::SHARED_GET_SUCCESS, name);
        let _ = guard.keep();
    }
}
