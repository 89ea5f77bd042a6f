//! [`EtcdSession`]: an owner of etcd-backed locks, and the acquire recipe (one Txn to enqueue
//! and read, then watches on what blocks it, deciding "granted" only from a read that includes
//! its own key).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::error::Error;
use super::guard::{EtcdExclusiveGuard, EtcdSharedGuard, Grip};
use super::keys;
use super::lease::Lease;
use super::owner::{Fence, SessionInner, Slot};
use super::read::Entry;
use super::rule::{Verdict, Watch, evaluate};
use super::shared::Shared;
use crate::lock::{Contention, Mode, Name};

/// How long an acquire may wait.
#[derive(Clone, Copy)]
enum Wait {
    Try,
    Forever,
    For(Duration),
}

/// An owner of locks in the cluster, like [`Session`](crate::Session): its requests live under
/// its lease, so they all go when it closes, is dropped, or its process dies (after the lease
/// TTL). Methods take `&self`; a session may wait for several names at once.
pub struct EtcdSession {
    pub(crate) inner: Arc<SessionInner>,
}

impl std::fmt::Debug for EtcdSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdSession")
            .field("id", &self.inner.id)
            .finish()
    }
}

impl EtcdSession {
    pub(crate) fn new(
        shared: Arc<Shared>,
        lease: Arc<Lease>,
        n: u64,
        own_lease: bool,
        label: String,
    ) -> Self {
        EtcdSession {
            inner: Arc::new(SessionInner {
                id: format!("{:x}.{n}", lease.id),
                n,
                label,
                lock_limit: std::sync::atomic::AtomicUsize::new(0),
                name: Mutex::new(None),
                maybe_named: AtomicBool::new(false),
                shared,
                lease,
                own_lease,
                slots: Mutex::new(HashMap::new()),
                closed: AtomicBool::new(false),
                key_lost: Arc::new(tokio::sync::watch::channel(false).0),
                closed_tx: tokio::sync::watch::channel(false).0,
                runtime: tokio::runtime::Handle::try_current().ok(),
            }),
        }
    }

    /// The session's id as its keys and snapshots show it (`<lease id in hex>.<n>`).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Its number among its manager's sessions (unique per manager; 0 with a lease of its own).
    pub(crate) fn number(&self) -> u64 {
        self.inner.n
    }

    /// Who holds, as snapshots show this session's requests.
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    /// Sets the most names this session may hold or wait for at once (`None`: no limit, the
    /// default); a request beyond it fails with [`Error::LockLimit`]. What it holds already is
    /// kept.
    pub fn set_lock_limit(&self, limit: Option<usize>) {
        let limit = limit.map_or(0, |l| l.max(1));
        self.inner.lock_limit.store(limit, Ordering::Relaxed);
    }

    /// How many names it holds (exclusive, shared), as far as it knows.
    pub fn held_counts(&self) -> (usize, usize) {
        let slots = self.inner.slots.lock().unwrap();
        slots.values().fold((0, 0), |(x, s), slot| match slot {
            Slot::Held {
                mode: Mode::Exclusive,
                ..
            } => (x + 1, s),
            Slot::Held { .. } => (x, s + 1),
            _ => (x, s),
        })
    }

    /// Whether [`close`](Self::close) has begun.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Relaxed)
    }

    /// Whether the session is known to be lost (see [`Error::SessionLost`]).
    pub fn is_lost(&self) -> bool {
        self.inner.is_lost()
    }

    /// Completes when the session is lost: its lease expired or was revoked, or could not be
    /// renewed within its TTL, or one of its held keys was deleted by someone else. Whoever holds
    /// locks through it must stop relying on them.
    pub async fn lost(&self) {
        self.inner.lost().await
    }

    /// Exclusive try: granted now or [`Error::WouldBlock`].
    pub async fn get(&self, name: impl AsRef<[u8]>) -> Result<EtcdExclusiveGuard, Error> {
        let (grip, _) = self
            .acquire(name.as_ref(), Mode::Exclusive, 1, Wait::Try)
            .await?;
        Ok(EtcdExclusiveGuard::new(grip))
    }

    /// Shared try.
    pub async fn get_shared(&self, name: impl AsRef<[u8]>) -> Result<EtcdSharedGuard, Error> {
        let (grip, count) = self
            .acquire(name.as_ref(), Mode::Shared, usize::MAX, Wait::Try)
            .await?;
        Ok(EtcdSharedGuard::new(grip, count))
    }

    /// Shared try that joins only while fewer than `max` hold it (0 counts as 1).
    pub async fn get_shared_max(
        &self,
        name: impl AsRef<[u8]>,
        max: usize,
    ) -> Result<EtcdSharedGuard, Error> {
        let (grip, count) = self
            .acquire(name.as_ref(), Mode::Shared, max.max(1), Wait::Try)
            .await?;
        Ok(EtcdSharedGuard::new(grip, count))
    }

    /// Exclusive wait, first come first served.
    ///
    /// # Cancel safety
    /// Dropping the future withdraws the request (its key is deleted in the background).
    pub async fn lock(&self, name: impl AsRef<[u8]>) -> Result<EtcdExclusiveGuard, Error> {
        let (grip, _) = self
            .acquire(name.as_ref(), Mode::Exclusive, 1, Wait::Forever)
            .await?;
        Ok(EtcdExclusiveGuard::new(grip))
    }

    /// Shared wait. Cancel safe as [`lock`](Self::lock).
    pub async fn lock_shared(&self, name: impl AsRef<[u8]>) -> Result<EtcdSharedGuard, Error> {
        let (grip, count) = self
            .acquire(name.as_ref(), Mode::Shared, usize::MAX, Wait::Forever)
            .await?;
        Ok(EtcdSharedGuard::new(grip, count))
    }

    /// Shared wait to join while fewer than `max` hold it (0 counts as 1). Cancel safe as
    /// [`lock`](Self::lock).
    pub async fn lock_shared_max(
        &self,
        name: impl AsRef<[u8]>,
        max: usize,
    ) -> Result<EtcdSharedGuard, Error> {
        let (grip, count) = self
            .acquire(name.as_ref(), Mode::Shared, max.max(1), Wait::Forever)
            .await?;
        Ok(EtcdSharedGuard::new(grip, count))
    }

    /// Exclusive wait of at most `limit`, then [`Error::Timeout`]. Cancel safe as
    /// [`lock`](Self::lock).
    pub async fn lock_timeout(
        &self,
        name: impl AsRef<[u8]>,
        limit: Duration,
    ) -> Result<EtcdExclusiveGuard, Error> {
        let (grip, _) = self
            .acquire(name.as_ref(), Mode::Exclusive, 1, Wait::For(limit))
            .await?;
        Ok(EtcdExclusiveGuard::new(grip))
    }

    /// Shared wait of at most `limit`. Cancel safe as [`lock`](Self::lock).
    pub async fn lock_shared_timeout(
        &self,
        name: impl AsRef<[u8]>,
        limit: Duration,
    ) -> Result<EtcdSharedGuard, Error> {
        let (grip, count) = self
            .acquire(name.as_ref(), Mode::Shared, usize::MAX, Wait::For(limit))
            .await?;
        Ok(EtcdSharedGuard::new(grip, count))
    }

    /// Shared wait of at most `limit` to join while fewer than `max` hold it. Cancel safe as
    /// [`lock`](Self::lock).
    pub async fn lock_shared_max_timeout(
        &self,
        name: impl AsRef<[u8]>,
        max: usize,
        limit: Duration,
    ) -> Result<EtcdSharedGuard, Error> {
        let (grip, count) = self
            .acquire(name.as_ref(), Mode::Shared, max.max(1), Wait::For(limit))
            .await?;
        Ok(EtcdSharedGuard::new(grip, count))
    }

    /// Releases this session's exclusive holding of `name`, whatever its guards; false if it
    /// held none.
    pub async fn release(&self, name: impl AsRef<[u8]>) -> Result<bool, Error> {
        self.inner
            .release_by_name(name.as_ref(), Mode::Exclusive)
            .await
    }

    /// Releases this session's shared holding of `name`; false if it held none.
    pub async fn release_shared(&self, name: impl AsRef<[u8]>) -> Result<bool, Error> {
        self.inner
            .release_by_name(name.as_ref(), Mode::Shared)
            .await
    }

    /// Ends the session: every request and holding goes (an own lease is revoked). Idempotent.
    pub async fn close(&self) -> Result<(), Error> {
        self.inner.close().await
    }

    async fn acquire(
        &self,
        name: &[u8],
        mode: Mode,
        limit: usize,
        wait: Wait,
    ) -> Result<(Grip, usize), Error> {
        let inner = &self.inner;
        inner.check()?;
        let arc_name = Name::new(name).to_arc();
        let started = Instant::now();
        // How long this request may wait for an earlier key of the same name to be deleted.
        let patience = match wait {
            Wait::Try => inner.shared.limit(),
            Wait::Forever => Duration::MAX,
            Wait::For(d) => d,
        };
        let mut pending_done = None;
        let mut rejoined = None;
        loop {
            let deleting = {
                let mut slots = inner.slots.lock().unwrap();
                match slots.get_mut(name) {
                    Some(Slot::Held {
                        mode: m,
                        token,
                        count,
                        refs,
                    }) if *m == mode => {
                        *refs += 1; // a rejoin: same holding, same token
                        let grip = Grip::new(inner.clone(), arc_name.clone(), mode, *token as u64);
                        if mode == Mode::Exclusive {
                            return Ok((grip, 1));
                        }
                        // As in the core, a shared rejoin reports the holders now: read below.
                        rejoined = Some((grip, *count));
                        None
                    }
                    Some(Slot::Held { mode: m, .. }) => {
                        let reason = match m {
                            Mode::Exclusive => Contention::HeldExclusive,
                            Mode::Shared => Contention::HeldShared(1),
                        };
                        return Err(Error::WouldBlock {
                            name: arc_name,
                            mode,
                            reason,
                        });
                    }
                    // A try never waits behind this session's own request (it would be queued
                    // behind it, as in the core).
                    Some(Slot::Pending(_)) if matches!(wait, Wait::Try) => {
                        return Err(Error::WouldBlock {
                            name: arc_name,
                            mode,
                            reason: Contention::Queued(1),
                        });
                    }
                    // A wait queues behind this session's own request for the name: when that
                    // one ends, this one rejoins its holding or makes its own request. An
                    // earlier key of this name being deleted is waited for the same way (it
                    // must be gone before this request's key is made).
                    Some(Slot::Pending(done) | Slot::Deleting(done)) => Some(done.clone()),
                    None => {
                        let limit = inner.lock_limit.load(Ordering::Relaxed);
                        if limit > 0 && slots.len() >= limit {
                            return Err(Error::LockLimit { limit });
                        }
                        let done = Arc::new(tokio::sync::Notify::new());
                        slots.insert(name.to_vec(), Slot::Pending(done.clone()));
                        pending_done = Some(done);
                        break;
                    }
                }
            };
            let Some(deleting) = deleting else {
                break;
            };
            let done = deleting.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            let still = matches!(
                inner.slots.lock().unwrap().get(name),
                Some(Slot::Pending(d) | Slot::Deleting(d)) if Arc::ptr_eq(d, &deleting)
            );
            if still {
                let left = patience.saturating_sub(started.elapsed());
                if tokio::time::timeout(left, done).await.is_err() {
                    return Err(match wait {
                        Wait::Try => Error::WouldBlock {
                            name: arc_name,
                            mode,
                            reason: Contention::Queued(1),
                        },
                        _ => Error::Timeout {
                            name: arc_name,
                            mode,
                            waited: started.elapsed(),
                        },
                    });
                }
            }
            inner.check()?;
        }
        if let Some((grip, count)) = rejoined {
            // The guard is live already: if the read fails, dropping it undoes the rejoin.
            let (_, held) = inner.shared.read_name(name).await?;
            let verdicts = evaluate(&held.iter().map(Entry::request).collect::<Vec<_>>());
            let now = held
                .iter()
                .zip(&verdicts)
                .filter(|(e, v)| {
                    e.value.mode == Mode::Shared && matches!(v, Verdict::Granted { .. })
                })
                .count();
            return Ok((grip, if now > 0 { now } else { count }));
        }
        let value = inner.request_value(mode, limit);
        let mut pending = PendingRequest {
            inner: inner.clone(),
            name: name.to_vec(),
            token: None,
            value: value.clone(),
            phase: Phase::MaybeSent,
            done: pending_done.expect("a new request's slot"),
        };
        let key = inner.key_of(name);
        let (mut revision, mut held) = inner.enqueue(name, &key, mode, &value).await?;
        let mut wait = wait;
        let mut timed_out = false;
        let mut closed = inner.closed_tx.subscribe();
        loop {
            // Granted or not is decided only from a read with this request's own key, made at
            // the revision first read (a key made again would be another request).
            let me = held
                .iter()
                .position(|e| e.key == key && pending.token.is_none_or(|t| t == e.revision));
            let Some(me) = me else {
                inner.mark_lost("its request key is gone");
                return Err(Error::SessionLost {
                    session: inner.id.clone(),
                });
            };
            let token = held[me].revision;
            pending.token = Some(token);
            let verdicts = evaluate(&held.iter().map(Entry::request).collect::<Vec<_>>());
            match &verdicts[me] {
                Verdict::Granted { count } => {
                    {
                        let mut slots = inner.slots.lock().unwrap();
                        let refused = if inner.closed.load(Ordering::Relaxed) {
                            Some(Error::SessionClosed {
                                session: inner.id.clone(),
                            })
                        } else if inner.is_lost() {
                            Some(Error::SessionLost {
                                session: inner.id.clone(),
                            })
                        } else {
                            None
                        };
                        if let Some(e) = refused {
                            // Closed or lost while this request was under way: withdraw it.
                            drop(slots);
                            pending.withdraw().await;
                            return Err(e);
                        }
                        slots.insert(
                            name.to_vec(),
                            Slot::Held {
                                mode,
                                token,
                                count: *count,
                                refs: 1,
                            },
                        );
                        // Registered in the same critical section, so that a close or release
                        // (which deregister under it) never leaves a registration behind.
                        inner.watch_held(name, token);
                        pending.phase = Phase::Granted;
                    }
                    drop(pending);
                    return Ok((
                        Grip::new(inner.clone(), arc_name, mode, token as u64),
                        *count,
                    ));
                }
                Verdict::Blocked { why, watch } => {
                    let left = match wait {
                        Wait::Try => {
                            pending.withdraw().await;
                            if timed_out {
                                return Err(Error::Timeout {
                                    name: arc_name,
                                    mode,
                                    waited: started.elapsed(),
                                });
                            }
                            return Err(Error::WouldBlock {
                                name: arc_name,
                                mode,
                                reason: *why,
                            });
                        }
                        Wait::Forever => None,
                        Wait::For(d) => Some(d.saturating_sub(started.elapsed())),
                    };
                    let target = match watch {
                        Watch::Delete(rev) => held
                            .iter()
                            .find(|e| e.revision == *rev)
                            .map(|e| (e.key.clone(), false))
                            .expect("the watched request was read"),
                        Watch::AnyDelete => {
                            (keys::name_range(&inner.shared.config.prefix, name), true)
                        }
                    };
                    let waited = inner.wait_for_delete(target, revision + 1, left);
                    let lost = inner.lost();
                    tokio::select! {
                        r = waited => {
                            if !r? {
                                // Time is up; one last read, so that a grant that raced the
                                // timeout wins (as in the core), else a timeout.
                                timed_out = true;
                                wait = Wait::Try;
                            }
                        }
                        _ = lost => {
                            pending.withdraw().await;
                            return Err(Error::SessionLost { session: inner.id.clone() });
                        }
                        _ = async { drop(closed.wait_for(|c| *c).await) } => {
                            pending.withdraw().await;
                            return Err(Error::SessionClosed { session: inner.id.clone() });
                        }
                    }
                    (revision, held) = inner.shared.read_name(name).await?;
                }
            }
        }
    }
}

impl Drop for EtcdSession {
    fn drop(&mut self) {
        // Like the core: dropping a session ends everything it holds, guards or not.
        if !self.inner.closed.load(Ordering::Relaxed) {
            let inner = self.inner.clone();
            inner.clone().spawn(async move {
                let _ = inner.close().await;
            });
        }
    }
}

/// Where an acquire stands, for what its end must undo.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Its key may exist (the enqueue was sent): it must be withdrawn.
    MaybeSent,
    /// Granted and recorded: the holding is the session's now.
    Granted,
    /// Withdrawn (or handed to a background delete): nothing left to undo.
    Done,
}

/// An acquire under way. If it ends without a grant (refusal, timeout, error, dropped future),
/// its key is withdrawn: at once by [`withdraw`](Self::withdraw), otherwise in the background.
/// Either way the name's slot is `Deleting` until the key is gone, so that the session's next
/// request for the name waits for it (this session's key for a name is one key, whichever
/// request made it).
struct PendingRequest {
    inner: Arc<SessionInner>,
    name: Vec<u8>,
    /// The key's revision once read (the delete is fenced on it); before that, the delete is
    /// fenced on `value`, unique to this request.
    token: Option<i64>,
    value: Vec<u8>,
    phase: Phase,
    /// Woken when this request ends, for the session's later requests of the name.
    done: Arc<tokio::sync::Notify>,
}

impl PendingRequest {
    fn fence(&self) -> Fence {
        match self.token {
            Some(t) => Fence::Revision(t),
            None => Fence::Value(self.value.clone()),
        }
    }

    async fn withdraw(&mut self) {
        if self.phase != Phase::MaybeSent {
            return;
        }
        self.phase = Phase::Done;
        let done = self.inner.begin_delete(&self.name);
        if let Err(e) = self.inner.delete_now(&self.name, self.fence(), done).await {
            tracing::debug!(error = %e, "withdrawing a request failed; retrying in the background");
        }
    }
}

impl Drop for PendingRequest {
    fn drop(&mut self) {
        match self.phase {
            Phase::Granted | Phase::Done => {
                let mut slots = self.inner.slots.lock().unwrap();
                if matches!(slots.get(&self.name), Some(Slot::Pending(d)) if Arc::ptr_eq(d, &self.done))
                {
                    slots.remove(&self.name);
                }
            }
            Phase::MaybeSent => {
                let done = self.inner.begin_delete(&self.name);
                self.inner
                    .clone()
                    .spawn_delete(self.name.clone(), self.fence(), done);
            }
        }
        // The slot is no longer this request's: whoever waits behind it looks again.
        self.done.notify_waiters();
    }
}
