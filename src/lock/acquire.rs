//! The acquire flow every form (try, async, blocking, timed; manager or session) goes through.
//!
//! `begin` tries the table and, for waiting forms, queues a [`Waiter`]. `finish` turns a
//! resolved (or timed-out) waiter into a guard or an error. `abandon` is the cancellation path of
//! a dropped future. For session requests every step runs under the session's state lock, which
//! makes "the session records what the table grants it" atomic with respect to the session
//! closing (lock order everywhere: session state → shard → waiter).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::lock::error::Error;
use crate::lock::guard::Grip;
use crate::lock::guard::{ExclusiveGuard, SharedGuard};
use crate::lock::mode::Mode;
use crate::lock::name::Name;
use crate::lock::owner::{Core, SessionInner, SessionState};
use crate::lock::table::{Acquired, CancelReason, EntryPtr, Granted, Key, Node, Settled};
use crate::lock::wait::Waiter;

/// One acquisition request: who asks, for what.
pub(crate) struct Request<'a> {
    pub(crate) core: &'a Arc<Core>,
    pub(crate) session: Option<&'a Arc<SessionInner>>,
    pub(crate) name: &'a Name,
    pub(crate) mode: Mode,
    /// For shared requests: the most holders to join (`usize::MAX`: no limit).
    pub(crate) limit: usize,
}

/// A grant made to a request, before it becomes a guard's [`Grip`]. Only made for a grant that
/// is held (so `node` is alive while it is), and for a session's grant with a counted reference
/// taken under the session's state lock (so the session cannot end the holding first).
pub(crate) struct Grant {
    node: EntryPtr,
    counted: Option<Node>,
    hash: u64,
    token: u64,
    /// Distinct holders right after the grant (1 for exclusive).
    pub(crate) count: usize,
}

pub(crate) enum Begun {
    Granted(Grant),
    Queued(Arc<Waiter>),
}

impl<'a> Request<'a> {
    /// Joins only while fewer than `max` owners hold the lock (0 counts as 1).
    pub(crate) fn limit(mut self, max: usize) -> Self {
        self.limit = max.max(1);
        self
    }

    #[inline]
    fn key(&self) -> Key<'a> {
        self.core.table.key(self.name)
    }

    /// Tries to acquire at once; with `queue`, joins the FIFO queue instead of failing.
    #[inline]
    pub(crate) fn begin(&self, queue: bool) -> Result<Begun, Error> {
        let key = self.key();
        let shard = self.core.table.shard(key.hash);
        let Some(session) = self.session else {
            return match shard.acquire(key, self.mode, 0, queue, self.limit) {
                // SAFETY: (I3, I4) the grant is held, and nobody but this request's guard can end it.
                Acquired::Granted(g) => Ok(Begun::Granted(unsafe { self.grant(None, g, key) })),
                Acquired::Busy(reason, node) => Err(self.would_block(reason, node)),
                Acquired::Queued(w) => Ok(Begun::Queued(w)),
            };
        };
        let mut state = session.state.lock();
        state.check_request(session.id, key, self.mode)?;
        match shard.acquire(key, self.mode, session.id, queue, self.limit) {
            Acquired::Granted(g) => {
                // SAFETY: (I3, I4) the grant is held, and the session's state lock keeps it so.
                Ok(Begun::Granted(unsafe {
                    self.grant(Some(&mut state), g, key)
                }))
            }
            Acquired::Busy(reason, node) => Err(self.would_block(reason, node)),
            Acquired::Queued(w) => {
                state.pending.push((self.name.to_arc(), w.clone()));
                Ok(Begun::Queued(w))
            }
        }
    }

    /// The [`Grant`] for `g`, just made to this request's owner. A session's grant is recorded
    /// in `state` and counts a reference for its guard.
    ///
    /// # Safety
    /// The grant is held; for a session, `state` is its locked state (so it cannot end the
    /// holding meanwhile).
    #[inline]
    unsafe fn grant(&self, state: Option<&mut SessionState>, g: Granted, key: Key<'_>) -> Grant {
        let counted = state.map(|state| {
            // SAFETY: (I3, I5) the grant keeps the node alive (the caller says so).
            unsafe { state.record(&self.core.table, key.hash, g.node, self.mode, g.token) };
            // SAFETY: as above; the session's state lock keeps the holding (I4).
            unsafe { g.node.counted() }
        });
        Grant {
            node: g.node,
            counted,
            hash: key.hash,
            token: g.token,
            count: g.count,
        }
    }

    /// The guard for `grant`, which this request received.
    #[inline]
    pub(crate) fn exclusive(&self, grant: Grant) -> ExclusiveGuard {
        ExclusiveGuard::new(self.grip(grant))
    }

    /// The guard for `grant`, which this request received.
    #[inline]
    pub(crate) fn shared(&self, grant: Grant) -> SharedGuard {
        let count = grant.count;
        SharedGuard::new(self.grip(grant), count)
    }

    #[inline]
    fn grip(&self, grant: Grant) -> Grip {
        let shard = self.core.table.shard_ptr(grant.hash);
        let session = match (self.session, grant.counted) {
            (Some(session), Some(node)) => Some((session.clone(), node)),
            _ => None,
        };
        // SAFETY: (I3, I4, I5) a `Grant` is only made for a held grant, with a counted reference for a
        // session's (see `Grant`).
        unsafe {
            Grip::new(
                shard,
                session,
                grant.node,
                grant.hash,
                grant.token,
                self.mode,
            )
        }
    }

    #[cold]
    fn would_block(&self, reason: crate::lock::contention::Contention, node: Node) -> Error {
        Error::WouldBlock {
            name: crate::lock::error::LockName::new(node),
            mode: self.mode,
            reason,
        }
    }

    /// Completes a wait: the waiter was resolved, or (`timed_out`) its time is up. A grant that
    /// races the timeout wins: the caller gets the lock rather than a timeout.
    pub(crate) fn finish(
        &self,
        waiter: &Arc<Waiter>,
        timed_out: bool,
        waited: impl FnOnce() -> Duration,
    ) -> Result<Grant, Error> {
        let key = self.key();
        let why = if timed_out {
            CancelReason::Timeout
        } else {
            CancelReason::Cancelled
        };
        let mut state = self.session.map(|s| s.state.lock());
        if let (Some(state), Some(session)) = (&mut state, self.session) {
            if !state.take_pending(waiter) {
                // The session closed and took over this wait (and any grant that reached it).
                return Err(Error::SessionClosed {
                    session: session.id,
                });
            }
        }
        match self.core.table.settle(key, waiter, why) {
            // SAFETY: (I3, I4) the grant is held, and for a session its state lock keeps it so.
            Settled::Granted(g) => Ok(unsafe { self.grant(state.as_deref_mut(), g, key) }),
            Settled::Cancelled => Err(Error::Timeout {
                name: self.name.into(),
                mode: self.mode,
                waited: waited(),
            }),
        }
    }

    /// A wait nobody awaits any more: leave the queue, and give back a grant that already
    /// arrived. Never strands the entry or later waiters.
    pub(crate) fn abandon(&self, waiter: &Arc<Waiter>) {
        let key = self.key();
        let mut state = self.session.map(|s| s.state.lock());
        if let Some(state) = &mut state {
            if !state.take_pending(waiter) {
                return; // the closing session settles it
            }
        }
        if let Settled::Granted(g) = self.core.table.settle(key, waiter, CancelReason::Cancelled) {
            let left = self.core.table.give_back(key, &g);
            if let (Some(state), Some(0) | None) = (&mut state, left) {
                state.forget(&self.core.table, key.hash, g.node, self.mode, g.token);
            }
        }
    }
}

/// Generates the 13 acquire methods, identical on [`LockManager`] (session-less guards) and
/// [`Session`] (guards owned by the session). The type provides `fn request(&self, name, mode)`.
macro_rules! acquire_methods {
    () => {
        /// Takes `name` exclusively if it is free now (and nobody is queued for it); never waits.
        ///
        /// # Errors
        /// [`Error::WouldBlock`](crate::Error::WouldBlock) saying why it is not available;
        /// for a session also `SessionClosed` and `LockLimit`.
        pub fn get(&self, name: impl AsRef<[u8]>) -> Result<crate::ExclusiveGuard, crate::Error> {
            let req = self.request(crate::Name::new(name.as_ref()), crate::Mode::Exclusive);
            Ok(req.exclusive(crate::lock::acquire::try_lock(&req)?))
        }

        /// Joins the shared lock on `name` if no exclusive holder has it and nobody is queued
        /// for it; never waits. The guard's [`count`](crate::SharedGuard::count) says how many
        /// distinct owners hold it now, this one included.
        ///
        /// # Errors
        /// As for [`get`](Self::get).
        pub fn get_shared(
            &self,
            name: impl AsRef<[u8]>,
        ) -> Result<crate::SharedGuard, crate::Error> {
            let req = self.request(crate::Name::new(name.as_ref()), crate::Mode::Shared);
            Ok(req.shared(crate::lock::acquire::try_lock(&req)?))
        }

        /// Waits for `name` exclusively, first come first served. Works on any executor (no
        /// timer is involved).
        ///
        /// # Cancel safety
        /// Cancel safe: dropping the future before it completes takes the request out of the
        /// queue, and a grant that reached it in the meantime is passed on to the next waiter.
        pub async fn lock(
            &self,
            name: impl AsRef<[u8]>,
        ) -> Result<crate::ExclusiveGuard, crate::Error> {
            let req = self.request(crate::Name::new(name.as_ref()), crate::Mode::Exclusive);
            Ok(req.exclusive(crate::lock::acquire::lock_async(&req, None).await?))
        }

        /// Waits for a share of `name`, first come first served: a shared request queued behind
        /// an exclusive one waits for it, so writers are not starved.
        ///
        /// # Cancel safety
        /// Cancel safe, as [`lock`](Self::lock).
        pub async fn lock_shared(
            &self,
            name: impl AsRef<[u8]>,
        ) -> Result<crate::SharedGuard, crate::Error> {
            let req = self.request(crate::Name::new(name.as_ref()), crate::Mode::Shared);
            Ok(req.shared(crate::lock::acquire::lock_async(&req, None).await?))
        }

        /// As [`lock`](Self::lock), giving up after `timeout` with
        /// [`Error::Timeout`](crate::Error::Timeout). A grant that races the deadline wins.
        /// Needs a Tokio runtime with the time driver enabled.
        ///
        /// # Cancel safety
        /// Cancel safe, as [`lock`](Self::lock).
        pub async fn lock_timeout(
            &self,
            name: impl AsRef<[u8]>,
            timeout: std::time::Duration,
        ) -> Result<crate::ExclusiveGuard, crate::Error> {
            let req = self.request(crate::Name::new(name.as_ref()), crate::Mode::Exclusive);
            Ok(req.exclusive(crate::lock::acquire::lock_async(&req, Some(timeout)).await?))
        }

        /// As [`lock_shared`](Self::lock_shared), giving up after `timeout`. Needs a Tokio
        /// runtime with the time driver enabled.
        ///
        /// # Cancel safety
        /// Cancel safe, as [`lock`](Self::lock).
        pub async fn lock_shared_timeout(
            &self,
            name: impl AsRef<[u8]>,
            timeout: std::time::Duration,
        ) -> Result<crate::SharedGuard, crate::Error> {
            let req = self.request(crate::Name::new(name.as_ref()), crate::Mode::Shared);
            Ok(req.shared(crate::lock::acquire::lock_async(&req, Some(timeout)).await?))
        }

        /// Joins the shared lock on `name` if fewer than `max_holders` owners hold it (a counting
        /// semaphore with `max_holders` permits); never waits. An owner already holding it always
        /// rejoins. `0` counts as 1.
        ///
        /// # Errors
        /// [`Contention::AtLimit`](crate::Contention::AtLimit) at the limit; otherwise as
        /// [`get_shared`](Self::get_shared).
        pub fn get_shared_max(
            &self,
            name: impl AsRef<[u8]>,
            max_holders: usize,
        ) -> Result<crate::SharedGuard, crate::Error> {
            let req = self
                .request(crate::Name::new(name.as_ref()), crate::Mode::Shared)
                .limit(max_holders);
            Ok(req.shared(crate::lock::acquire::try_lock(&req)?))
        }

        /// Waits until fewer than `max_holders` owners hold `name` shared, then joins. Waiters are
        /// served oldest *eligible* first: one waiting for a lower limit does not hold back one
        /// whose limit is already met; a queued exclusive request still holds back every later one.
        ///
        /// # Cancel safety
        /// Cancel safe, as [`lock`](Self::lock).
        pub async fn lock_shared_max(
            &self,
            name: impl AsRef<[u8]>,
            max_holders: usize,
        ) -> Result<crate::SharedGuard, crate::Error> {
            let req = self
                .request(crate::Name::new(name.as_ref()), crate::Mode::Shared)
                .limit(max_holders);
            Ok(req.shared(crate::lock::acquire::lock_async(&req, None).await?))
        }

        /// As [`lock_shared_max`](Self::lock_shared_max), giving up after `timeout`. Needs a Tokio
        /// runtime with the time driver enabled.
        ///
        /// # Cancel safety
        /// Cancel safe, as [`lock`](Self::lock).
        pub async fn lock_shared_max_timeout(
            &self,
            name: impl AsRef<[u8]>,
            max_holders: usize,
            timeout: std::time::Duration,
        ) -> Result<crate::SharedGuard, crate::Error> {
            let req = self
                .request(crate::Name::new(name.as_ref()), crate::Mode::Shared)
                .limit(max_holders);
            Ok(req.shared(crate::lock::acquire::lock_async(&req, Some(timeout)).await?))
        }

        /// Blocks the thread until `name` is granted exclusively (first come first served, in
        /// the same queue as async waiters). Do not call it from async code.
        pub fn blocking_lock(
            &self,
            name: impl AsRef<[u8]>,
        ) -> Result<crate::ExclusiveGuard, crate::Error> {
            let req = self.request(crate::Name::new(name.as_ref()), crate::Mode::Exclusive);
            Ok(req.exclusive(crate::lock::acquire::lock_blocking(&req, None)?))
        }

        /// Blocks the thread until a share of `name` is granted.
        pub fn blocking_lock_shared(
            &self,
            name: impl AsRef<[u8]>,
        ) -> Result<crate::SharedGuard, crate::Error> {
            let req = self.request(crate::Name::new(name.as_ref()), crate::Mode::Shared);
            Ok(req.shared(crate::lock::acquire::lock_blocking(&req, None)?))
        }

        /// As [`blocking_lock`](Self::blocking_lock), giving up after `timeout`.
        pub fn blocking_lock_timeout(
            &self,
            name: impl AsRef<[u8]>,
            timeout: std::time::Duration,
        ) -> Result<crate::ExclusiveGuard, crate::Error> {
            let req = self.request(crate::Name::new(name.as_ref()), crate::Mode::Exclusive);
            Ok(req.exclusive(crate::lock::acquire::lock_blocking(&req, Some(timeout))?))
        }

        /// As [`blocking_lock_shared`](Self::blocking_lock_shared), giving up after `timeout`.
        pub fn blocking_lock_shared_timeout(
            &self,
            name: impl AsRef<[u8]>,
            timeout: std::time::Duration,
        ) -> Result<crate::SharedGuard, crate::Error> {
            let req = self.request(crate::Name::new(name.as_ref()), crate::Mode::Shared);
            Ok(req.shared(crate::lock::acquire::lock_blocking(&req, Some(timeout))?))
        }
    };
}
pub(crate) use acquire_methods;

/// The owned parts of a queued request, so a future can outlive the borrow that made it.
pub(crate) struct Queued {
    core: Arc<Core>,
    session: Option<Arc<SessionInner>>,
    name: Arc<Name>,
    mode: Mode,
    limit: usize,
    waiter: Arc<Waiter>,
    armed: bool,
}

impl Queued {
    fn request(&self) -> Request<'_> {
        Request {
            core: &self.core,
            session: self.session.as_ref(),
            name: &self.name,
            mode: self.mode,
            limit: self.limit,
        }
    }
}

impl Future for Queued {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.waiter.poll_resolved(cx)
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        if self.armed {
            self.request().abandon(&self.waiter);
        }
    }
}

/// The async waiting acquire behind every `lock*` method. Cancel safe: dropping the returned
/// future at any await point leaves the queue (see [`Request::abandon`]).
pub(crate) async fn lock_async(
    req: &Request<'_>,
    timeout: Option<Duration>,
) -> Result<Grant, Error> {
    let waiter = match req.begin(true)? {
        Begun::Granted(grant) => return Ok(grant),
        Begun::Queued(w) => w,
    };
    // Tokio's clock, so a paused test clock and the reported wait agree with the timer.
    let started = tokio::time::Instant::now();
    let mut queued = Queued {
        core: req.core.clone(),
        session: req.session.cloned(),
        name: req.name.to_arc(),
        mode: req.mode,
        limit: req.limit,
        waiter,
        armed: true,
    };
    let timed_out = match timeout {
        None => {
            (&mut queued).await;
            false
        }
        Some(limit) => tokio::time::timeout(limit, &mut queued).await.is_err(),
    };
    queued.armed = false;
    queued
        .request()
        .finish(&queued.waiter, timed_out, || started.elapsed())
}

/// The blocking acquire behind every `blocking_lock*` method.
pub(crate) fn lock_blocking(req: &Request<'_>, timeout: Option<Duration>) -> Result<Grant, Error> {
    let waiter = match req.begin(true)? {
        Begun::Granted(grant) => return Ok(grant),
        Begun::Queued(w) => w,
    };
    let started = Instant::now();
    let deadline = timeout.map(|t| started + t);
    let resolved = waiter.block_until(deadline);
    req.finish(&waiter, !resolved, || started.elapsed())
}

/// The try acquire behind every `get*` method.
#[inline]
pub(crate) fn try_lock(req: &Request<'_>) -> Result<Grant, Error> {
    match req.begin(false)? {
        Begun::Granted(grant) => Ok(grant),
        Begun::Queued(_) => unreachable!("a try never queues"),
    }
}
