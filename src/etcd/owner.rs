//! A session's own state ([`SessionInner`]), shared by the session and its guards: its lease,
//! what it holds and waits for, and the requests it makes of the cluster (enqueue, fenced
//! delete, watch for a deletion).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use etcd_client::{
    Compare, CompareOp, EventType, PutOptions, Txn, TxnOp, WatchFilterType, WatchOptions,
};

use super::call::{retried, within};
use super::error::Error;
use super::keys::{self, Value};
use super::lease::Lease;
use super::read::{Entry, range_options};
use super::shared::Shared;
use super::watcher::LostFlag;
use crate::lock::Mode;

/// Holdings deleted per Txn when a session on a shared lease closes (etcd's default
/// `--max-txn-ops` is 128).
const CLOSE_BATCH: usize = 100;

/// A session's knowledge of one of its request keys.
pub(crate) enum Slot {
    /// An acquire is under way; notified when it ends (granted, refused or withdrawn), for the
    /// session's later requests of the name, which wait behind it.
    Pending(Arc<tokio::sync::Notify>),
    /// The key of a request or holding that ended is being deleted (retried until it is, or
    /// the lease is lost); notified when it is gone. The session's next request for the name
    /// waits for it, so no delete of this key can ever meet a newer request's key.
    Deleting(Arc<tokio::sync::Notify>),
    Held {
        mode: Mode,
        token: i64,
        count: usize,
        refs: usize,
    },
}

/// What a delete of one of the session's keys must find for it to apply.
#[derive(Clone)]
pub(crate) enum Fence {
    /// The key made at this revision (a holding's token, or a request's once read).
    Revision(i64),
    /// The key with this value (a request whose revision was never read).
    Value(Vec<u8>),
}

pub(crate) struct SessionInner {
    pub(crate) shared: Arc<Shared>,
    pub(crate) id: String,
    /// Its number among the manager's sessions (0 for one with its own lease).
    pub(crate) n: u64,
    /// Who holds, as snapshots show it.
    pub(crate) label: String,
    /// The most names it may hold or wait for at once (0: no limit).
    pub(crate) lock_limit: std::sync::atomic::AtomicUsize,
    /// Its registered display name (see `names.rs`).
    pub(crate) name: Mutex<Option<Vec<u8>>>,
    /// Whether a registration key may exist (a put was sent).
    pub(crate) maybe_named: AtomicBool,
    pub(crate) lease: Arc<Lease>,
    pub(crate) own_lease: bool,
    pub(crate) slots: Mutex<HashMap<Vec<u8>, Slot>>,
    pub(crate) closed: AtomicBool,
    /// Set by `close()`, for the waits under way to end with `SessionClosed`.
    pub(crate) closed_tx: tokio::sync::watch::Sender<bool>,
    /// Set when one of its keys was found deleted by someone else.
    pub(crate) key_lost: LostFlag,
    pub(crate) runtime: Option<tokio::runtime::Handle>,
}

impl SessionInner {
    pub(crate) fn is_lost(&self) -> bool {
        self.lease.is_lost() || *self.key_lost.borrow()
    }

    /// Marks the session lost: one of its keys is gone without its doing.
    pub(crate) fn mark_lost(&self, why: &str) {
        if !self.key_lost.send_replace(true) {
            tracing::warn!(session = %self.id, why, "session lost");
        }
    }

    /// Completes once the session is lost, by its lease or by one of its keys.
    pub(crate) async fn lost(&self) {
        let mut keys = self.key_lost.subscribe();
        tokio::select! {
            _ = self.lease.lost() => {}
            _ = keys.wait_for(|lost| *lost) => {}
        }
    }

    /// Registers the key of a holding just granted (made at `token`), so that its deletion by
    /// anyone but this session makes the session lost.
    pub(crate) fn watch_held(&self, name: &[u8], token: i64) {
        self.shared.held.register(
            &self.shared.client,
            self.key_of(name),
            token,
            &self.key_lost,
        );
    }

    /// The holding of `name` made at `token` ends by this session's doing: its key's deletion is
    /// ours, not someone else's.
    fn unwatch_held(&self, name: &[u8], token: i64) {
        self.shared.held.deregister(&self.key_of(name), token);
    }

    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.closed.load(Ordering::Relaxed) {
            Err(Error::SessionClosed {
                session: self.id.clone(),
            })
        } else if self.is_lost() {
            Err(Error::SessionLost {
                session: self.id.clone(),
            })
        } else {
            Ok(())
        }
    }

    pub(crate) fn spawn(
        self: Arc<Self>,
        work: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        match tokio::runtime::Handle::try_current()
            .ok()
            .or_else(|| self.runtime.clone())
        {
            Some(rt) => {
                rt.spawn(work);
            }
            None => {
                tracing::warn!(session = %self.id, "no runtime to release on: the lease TTL will")
            }
        }
    }

    /// Puts the request key unless it exists, and reads the name's requests, in one Txn. A key
    /// left by an earlier holding of this session (a release still under way) is deleted first,
    /// so every request starts a new place in the queue with a new token.
    /// The value of a new request: unique to it (its `since`, in microseconds, is later than
    /// the session's previous request for the name, which was deleted before this one begins).
    pub(crate) fn request_value(&self, mode: Mode, limit: usize) -> Vec<u8> {
        let since_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        Value {
            mode,
            limit,
            since_us,
            label: self.label.clone(),
        }
        .encode()
    }

    pub(crate) async fn enqueue(
        &self,
        name: &[u8],
        key: &[u8],
        mode: Mode,
        value: &[u8],
    ) -> Result<(i64, Vec<Entry>), Error> {
        let shared = &self.shared;
        let prefix = &shared.config.prefix;
        let value = value.to_vec();
        let range = keys::name_range(prefix, name);
        for _ in 0..3 {
            // Retried as a whole after a transient failure: if an earlier attempt's put landed,
            // the retry finds the key with this very value (its `since` is this request's) and
            // keeps it.
            let resp = retried("enqueue txn", shared.limit(), || {
                let put = TxnOp::put(
                    key.to_vec(),
                    value.clone(),
                    Some(PutOptions::new().with_lease(self.lease.id)),
                );
                let enqueue = Txn::new()
                    .when([Compare::create_revision(key.to_vec(), CompareOp::Equal, 0)])
                    .and_then([
                        put.clone(),
                        TxnOp::get(range.clone(), Some(range_options())),
                    ])
                    .or_else([TxnOp::get(key.to_vec(), None)]);
                // An exclusive request on a free name is granted by its put alone: when the
                // name's range is empty (a range compare against an empty range compares a
                // key that does not exist), nothing needs reading back. Otherwise the nested
                // enqueue runs, in the same round trip.
                let txn = match mode {
                    Mode::Exclusive => Txn::new()
                        .when(
                            [Compare::create_revision(range.clone(), CompareOp::Equal, 0)
                                .with_prefix()],
                        )
                        .and_then([put])
                        .or_else([TxnOp::txn(enqueue)]),
                    Mode::Shared => enqueue,
                };
                let mut c = shared.client.clone();
                async move { c.txn(txn).await }
            })
            .await?;
            let revision = resp.header().map_or(0, |h| h.revision());
            if mode == Mode::Exclusive && resp.succeeded() {
                // The put made the key, so its create_revision is this revision.
                let (name, session) = keys::parse_key(prefix, key).expect("our own key parses");
                let entry = Entry {
                    key: key.to_vec(),
                    name,
                    session: String::from_utf8_lossy(session).into_owned(),
                    revision,
                    value: Value::decode(&value).expect("our own value parses"),
                };
                return Ok((revision, vec![entry]));
            }
            let resp = match mode {
                Mode::Exclusive => match resp.op_responses().into_iter().next() {
                    Some(etcd_client::TxnOpResponse::Txn(inner)) => inner,
                    _ => unreachable!("the else branch is the nested enqueue"),
                },
                Mode::Shared => resp,
            };
            let ops = resp.op_responses();
            if resp.succeeded() {
                let held = ops.iter().find_map(|op| match op {
                    etcd_client::TxnOpResponse::Get(g) => {
                        Some(super::read::entries(prefix, g.kvs()))
                    }
                    _ => None,
                });
                return Ok((revision, held.unwrap_or_default()));
            }
            let existing = ops.iter().find_map(|op| match op {
                etcd_client::TxnOpResponse::Get(g) => g
                    .kvs()
                    .first()
                    .map(|kv| (kv.create_revision(), kv.value() == value.as_slice())),
                _ => None,
            });
            match existing {
                // This request's own put, from an attempt whose answer was lost.
                Some((_, true)) => return shared.read_name(name).await,
                // A stale key of an earlier request of ours: withdraw it (fenced), then
                // enqueue afresh.
                Some((rev, false)) => {
                    self.fenced_delete(key, rev).await?;
                }
                None => {}
            }
        }
        Err(Error::Backend {
            what: "enqueue txn",
            source: Arc::new(etcd_client::Error::InvalidArgs(
                "the request key kept reappearing".into(),
            )),
        })
    }

    /// Marks `name`'s slot `Deleting` (its key is about to be deleted), whatever it was.
    pub(crate) fn begin_delete(&self, name: &[u8]) -> Arc<tokio::sync::Notify> {
        let done = Arc::new(tokio::sync::Notify::new());
        self.slots
            .lock()
            .unwrap()
            .insert(name.to_vec(), Slot::Deleting(done.clone()));
        done
    }

    /// The delete `done` stands for is over: the slot goes (if it is still that delete's), and
    /// whoever waits for it is woken.
    fn end_delete(&self, name: &[u8], done: &Arc<tokio::sync::Notify>) {
        let mut slots = self.slots.lock().unwrap();
        if matches!(slots.get(name), Some(Slot::Deleting(d)) if Arc::ptr_eq(d, done)) {
            slots.remove(name);
        }
        drop(slots);
        done.notify_waiters();
    }

    /// Whether deleting a key of this session is no longer needed: the lease that carries it is
    /// lost (its keys go with it) or revoked by `close`.
    fn keys_go_with_lease(&self) -> bool {
        self.lease.is_lost() || (self.own_lease && self.closed.load(Ordering::Relaxed))
    }

    /// Deletes this session's key for `name` (slot already `Deleting`): one attempt now; if it
    /// fails, retried in the background until it succeeds or the lease goes, and the error is
    /// returned.
    pub(crate) async fn delete_now(
        self: &Arc<Self>,
        name: &[u8],
        fence: Fence,
        done: Arc<tokio::sync::Notify>,
    ) -> Result<(), Error> {
        match self.delete_fenced(name, &fence).await {
            Ok(()) => {
                self.end_delete(name, &done);
                Ok(())
            }
            Err(e) => {
                self.clone().spawn_delete(name.to_vec(), fence, done);
                Err(e)
            }
        }
    }

    /// Deletes this session's key for `name` (slot already `Deleting`) in the background,
    /// retrying with a growing pause until it succeeds or the lease goes.
    pub(crate) fn spawn_delete(
        self: Arc<Self>,
        name: Vec<u8>,
        fence: Fence,
        done: Arc<tokio::sync::Notify>,
    ) {
        let inner = self.clone();
        self.spawn(async move {
            let mut pause = Duration::from_millis(100);
            loop {
                match inner.delete_fenced(&name, &fence).await {
                    Ok(()) => break,
                    Err(_) if inner.keys_go_with_lease() => break,
                    Err(e) => {
                        tracing::debug!(session = %inner.id, error = %e, "deleting a request key failed; retrying");
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_secs(2));
                    }
                }
            }
            inner.end_delete(&name, &done);
        });
    }

    /// Deletes this session's key for `name` if it is still the one `fence` names.
    async fn delete_fenced(&self, name: &[u8], fence: &Fence) -> Result<(), Error> {
        let key = self.key_of(name);
        match fence {
            Fence::Revision(t) => self.fenced_delete(&key, *t).await,
            Fence::Value(value) => {
                // The request's value is unique to it (its `since`), so a delete that arrives
                // late never removes a later request's key.
                retried("withdraw", self.shared.limit(), || {
                    let txn = Txn::new()
                        .when([Compare::value(key.clone(), CompareOp::Equal, value.clone())])
                        .and_then([TxnOp::delete(key.clone(), None)]);
                    let mut c = self.shared.client.clone();
                    async move { c.txn(txn).await }
                })
                .await
                .map(drop)
            }
        }
    }

    /// Deletes `key` if it is still the request made at `revision` (never a newer one).
    pub(crate) async fn fenced_delete(&self, key: &[u8], revision: i64) -> Result<(), Error> {
        // Idempotent: a retry after a lost answer finds the key gone and deletes nothing.
        // Whether it deleted anything does not matter: either way that request's key is gone.
        retried("fenced delete", self.shared.limit(), || {
            let txn = Txn::new()
                .when([Compare::create_revision(
                    key.to_vec(),
                    CompareOp::Equal,
                    revision,
                )])
                .and_then([TxnOp::delete(key.to_vec(), None)]);
            let mut c = self.shared.client.clone();
            async move { c.txn(txn).await }
        })
        .await
        .map(drop)
    }

    /// Waits for a deletion of `key` (or, with `prefix`, of any key under it) from `from` on, at
    /// most `left`; false if the time ran out. A broken watch ends the wait early (the caller
    /// reads again, which is always safe).
    pub(crate) async fn wait_for_delete(
        &self,
        (key, prefix): (Vec<u8>, bool),
        from: i64,
        left: Option<Duration>,
    ) -> Result<bool, Error> {
        let mut options = WatchOptions::new()
            .with_start_revision(from)
            .with_filters([WatchFilterType::NoPut]);
        if prefix {
            options = options.with_prefix();
        }
        let watching = async {
            let mut c = self.shared.client.clone();
            let mut stream =
                match within("watch", self.shared.limit(), c.watch(key, Some(options))).await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::debug!(error = %e, "watch failed; reading again");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        return;
                    }
                };
            loop {
                match stream.message().await {
                    Ok(Some(r)) if r.canceled() || r.compact_revision() > 0 => return,
                    Ok(Some(r))
                        if r.events()
                            .iter()
                            .any(|e| e.event_type() == EventType::Delete) =>
                    {
                        return;
                    }
                    Ok(Some(_)) => continue,
                    Ok(None) | Err(_) => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        return;
                    }
                }
            }
        };
        match left {
            None => {
                watching.await;
                Ok(true)
            }
            Some(d) => Ok(tokio::time::timeout(d, watching).await.is_ok()),
        }
    }

    /// A guard of holding `token` was dropped or released: one reference goes; for the last
    /// one, the slot becomes `Deleting` and the caller deletes the key.
    pub(crate) fn drop_ref(
        &self,
        name: &[u8],
        mode: Mode,
        token: u64,
    ) -> Option<(i64, Arc<tokio::sync::Notify>)> {
        let mut slots = self.slots.lock().unwrap();
        match slots.get_mut(name) {
            Some(Slot::Held {
                mode: m,
                token: t,
                refs,
                ..
            }) if *m == mode && *t as u64 == token => {
                *refs -= 1;
                if *refs == 0 {
                    let done = Arc::new(tokio::sync::Notify::new());
                    slots.insert(name.to_vec(), Slot::Deleting(done.clone()));
                    self.unwatch_held(name, token as i64);
                    Some((token as i64, done))
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    pub(crate) fn key_of(&self, name: &[u8]) -> Vec<u8> {
        keys::request_key(&self.shared.config.prefix, name, &self.id)
    }

    pub(crate) async fn release_by_name(
        self: &Arc<Self>,
        name: &[u8],
        mode: Mode,
    ) -> Result<bool, Error> {
        let (token, done) = {
            let mut slots = self.slots.lock().unwrap();
            match slots.get(name) {
                Some(Slot::Held { mode: m, token, .. }) if *m == mode => {
                    let t = *token;
                    let done = Arc::new(tokio::sync::Notify::new());
                    slots.insert(name.to_vec(), Slot::Deleting(done.clone()));
                    self.unwatch_held(name, t);
                    (t, done)
                }
                _ => return Ok(false),
            }
        };
        // The holding was this session's; a key found gone already (an earlier attempt whose
        // answer was lost, or the lease) is released all the same. A failed delete is retried
        // in the background (and reported).
        self.delete_now(name, Fence::Revision(token), done).await?;
        Ok(true)
    }

    /// Ends the session: its waits end with `SessionClosed`, and every holding's key is deleted
    /// (an own lease is revoked instead; were the revoke to fail, the lease expires within its
    /// TTL, its keep-alive being stopped).
    pub(crate) async fn close(self: &Arc<Self>) -> Result<(), Error> {
        if self.closed.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        self.closed_tx.send_replace(true);
        let held: Vec<(Vec<u8>, i64, Arc<tokio::sync::Notify>)> = {
            let mut slots = self.slots.lock().unwrap();
            let names: Vec<(Vec<u8>, i64)> = slots
                .iter()
                .filter_map(|(name, slot)| match slot {
                    Slot::Held { token, .. } => Some((name.clone(), *token)),
                    // Their acquires (or background deletes) delete their keys.
                    Slot::Pending(_) | Slot::Deleting(_) => None,
                })
                .collect();
            names
                .into_iter()
                .map(|(name, token)| {
                    let done = Arc::new(tokio::sync::Notify::new());
                    slots.insert(name.clone(), Slot::Deleting(done.clone()));
                    (name, token, done)
                })
                .collect()
        };
        for (name, token, _) in &held {
            self.unwatch_held(name, *token);
        }
        if self.lease.is_lost() {
            // Its keys go (or went) with the lease: nothing to delete, and nothing to wait for
            // before its owner is told.
            for (name, _, done) in &held {
                self.end_delete(name, done);
            }
            return Ok(());
        }
        if self.own_lease {
            let revoked = self
                .lease
                .revoke(&self.shared.client, self.shared.limit())
                .await;
            for (name, _, done) in &held {
                self.end_delete(name, done);
            }
            return revoked;
        }
        // Every key at once: one Txn of fenced deletes per `CLOSE_BATCH` holdings (etcd's
        // default limit of operations per Txn is 128). A batch that fails is retried key by key
        // in the background, and the first error reported.
        let mut first = Ok(());
        for batch in held.chunks(CLOSE_BATCH) {
            let deleted = retried("close", self.shared.limit(), || {
                let ops: Vec<TxnOp> = batch
                    .iter()
                    .map(|(name, token, _)| {
                        let key = self.key_of(name);
                        TxnOp::txn(
                            Txn::new()
                                .when([Compare::create_revision(
                                    key.clone(),
                                    CompareOp::Equal,
                                    *token,
                                )])
                                .and_then([TxnOp::delete(key, None)]),
                        )
                    })
                    .collect();
                let mut c = self.shared.client.clone();
                async move { c.txn(Txn::new().and_then(ops)).await }
            })
            .await;
            match deleted {
                Ok(_) => {
                    for (name, _, done) in batch {
                        self.end_delete(name, done);
                    }
                }
                Err(e) => {
                    for (name, token, done) in batch {
                        self.clone().spawn_delete(
                            name.clone(),
                            Fence::Revision(*token),
                            done.clone(),
                        );
                    }
                    first = first.and(Err(e));
                }
            }
        }
        self.name.lock().unwrap().take();
        first.and(self.unregister().await)
    }
}
