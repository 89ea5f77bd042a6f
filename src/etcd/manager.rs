//! [`EtcdManager`]: the connection to the cluster, sessions, and cluster-wide inspection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use etcd_client::{Client, ConnectOptions};

use super::call::{retried, within};
use super::config::EtcdConfig;
use super::error::Error;
use super::keys;
use super::lease::Lease;
use super::read::Entry;
use super::rule::{Verdict, evaluate};
use super::session::EtcdSession;
use super::shared::Shared;
use super::watcher::HeldKeys;
use crate::lock::{Mode, Name};

/// A lock table kept in an etcd cluster: the same sessions, exclusive and counted shared locks,
/// FIFO waits and per-name fencing tokens as [`LockManager`](crate::LockManager), shared by every
/// process that connects with the same endpoints and prefix. Cheap to clone.
#[derive(Clone)]
pub struct EtcdManager {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for EtcdManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdManager")
            .field("endpoints", &self.shared.config.endpoints)
            .field("prefix", &self.shared.config.prefix)
            .finish()
    }
}

/// One lock as the cluster holds it, in a [`EtcdManager::snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EtcdLockInfo {
    /// The lock's name.
    pub name: Arc<Name>,
    /// Its requests, oldest first: holders first, then the queue.
    pub requests: Vec<EtcdRequestInfo>,
}

/// One request key of a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EtcdRequestInfo {
    /// The session that made it (`<lease id in hex>.<n>`).
    pub session: String,
    /// The holder label of its manager ([`EtcdConfig::label`]).
    pub label: String,
    /// The mode it asks for or holds.
    pub mode: Mode,
    /// Whether it holds the lock (otherwise it waits).
    pub granted: bool,
    /// Its fencing token (the key's `create_revision`).
    pub token: u64,
    /// When the request was made.
    pub since: SystemTime,
}

impl EtcdManager {
    /// Connects to the cluster (any of `config.endpoints`).
    pub async fn connect(config: EtcdConfig) -> Result<EtcdManager, Error> {
        // require_leader: a member cut off from the quorum refuses requests and watches
        // instead of serving them silently stale (a watch there would never fire).
        let options = ConnectOptions::new()
            .with_require_leader(true)
            .with_connect_timeout(config.request_timeout)
            .with_keep_alive(Duration::from_secs(2), config.request_timeout);
        let client = within(
            "connect",
            config.request_timeout,
            Client::connect(config.endpoints.clone(), Some(options)),
        )
        .await?;
        // The client connects lazily: one read through it (with a leader) shows that the
        // cluster answers, so that a wrong address is an error here, not at the first lock.
        let probe = keys::all_locks(&config.prefix);
        retried("connect", config.request_timeout, || {
            let mut c = client.clone();
            let probe = probe.clone();
            let options = etcd_client::GetOptions::new()
                .with_prefix()
                .with_count_only();
            async move { c.get(probe, Some(options)).await }
        })
        .await?;
        Ok(EtcdManager {
            shared: Arc::new(Shared {
                client,
                held: HeldKeys::new(keys::all_locks(&config.prefix)),
                config,
                next_session: AtomicU64::new(0),
                lease: tokio::sync::Mutex::new(None),
            }),
        })
    }

    /// A new session with a lease of its own (one keep-alive stream per session).
    pub async fn session(&self) -> Result<EtcdSession, Error> {
        let s = &self.shared;
        let lease = Lease::grant(&s.client, s.config.ttl_secs(), s.limit()).await?;
        Ok(EtcdSession::new(
            s.clone(),
            lease,
            0,
            true,
            s.config.label.clone(),
        ))
    }

    /// A new session on the manager's own lease, shared by every such session: one keep-alive
    /// stream however many sessions (a server's connections). Its keys are removed one by one
    /// when it closes; if the shared lease is lost, every session on it is lost. A lost shared
    /// lease is replaced by a new one for sessions made afterwards.
    pub async fn session_on_shared_lease(&self) -> Result<EtcdSession, Error> {
        let label = self.shared.config.label.clone();
        self.labelled_session_on_shared_lease(label).await
    }

    /// A session on the shared lease, as [`session_on_shared_lease`](Self::session_on_shared_lease),
    /// whose requests show `label` as their holder (a server gives each connection its own).
    pub async fn labelled_session_on_shared_lease(
        &self,
        label: impl Into<String>,
    ) -> Result<EtcdSession, Error> {
        let s = &self.shared;
        let lease = {
            let mut slot = s.lease.lock().await;
            match &*slot {
                Some(l) if !l.is_lost() => l.clone(),
                _ => {
                    let l = Lease::grant(&s.client, s.config.ttl_secs(), s.limit()).await?;
                    *slot = Some(l.clone());
                    l
                }
            }
        };
        let n = s.next_session.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(EtcdSession::new(s.clone(), lease, n, false, label.into()))
    }

    /// Whether `name` is held exclusively, by anyone in the cluster.
    pub async fn inspect(&self, name: impl AsRef<[u8]>) -> Result<bool, Error> {
        Ok(self.inspect_both(name.as_ref()).await?.0)
    }

    /// How many hold `name` shared, cluster-wide.
    pub async fn inspect_shared(&self, name: impl AsRef<[u8]>) -> Result<usize, Error> {
        Ok(self.inspect_both(name.as_ref()).await?.1)
    }

    /// (held exclusively, how many hold it shared), from one read.
    pub(crate) async fn inspect_both(&self, name: &[u8]) -> Result<(bool, usize), Error> {
        let (_, held) = self.shared.read_name(name).await?;
        let verdicts = evaluate(&held.iter().map(Entry::request).collect::<Vec<_>>());
        let granted = |mode| {
            held.iter()
                .zip(&verdicts)
                .filter(|(e, v)| e.value.mode == mode && matches!(v, Verdict::Granted { .. }))
                .count()
        };
        Ok((granted(Mode::Exclusive) > 0, granted(Mode::Shared)))
    }

    /// Every lock with its holders and waiters, cluster-wide, from one consistent read.
    pub async fn snapshot(&self) -> Result<Vec<EtcdLockInfo>, Error> {
        let (_, all) = self
            .shared
            .read_range(keys::all_locks(&self.shared.config.prefix))
            .await?;
        let mut by_name: std::collections::BTreeMap<Vec<u8>, Vec<Entry>> = Default::default();
        for e in all {
            by_name.entry(e.name.clone()).or_default().push(e);
        }
        Ok(by_name
            .into_iter()
            .map(|(name, list)| lock_info(&name, list))
            .collect())
    }

    /// One lock with its holders and waiters, if anyone holds or waits for it.
    pub async fn lock_info(&self, name: impl AsRef<[u8]>) -> Result<Option<EtcdLockInfo>, Error> {
        let name = name.as_ref();
        let (_, list) = self.shared.read_name(name).await?;
        Ok((!list.is_empty()).then(|| lock_info(name, list)))
    }

    /// The etcd client itself, for a store that checks fencing tokens inside its own Txn
    /// (`Compare::create_revision(key, Equal, token)`).
    pub fn client(&self) -> &Client {
        &self.shared.client
    }

    /// The configuration it was connected with.
    pub fn config(&self) -> &EtcdConfig {
        &self.shared.config
    }
}

/// A name's requests, oldest first, as a [`EtcdLockInfo`].
fn lock_info(name: &[u8], list: Vec<Entry>) -> EtcdLockInfo {
    let verdicts = evaluate(&list.iter().map(Entry::request).collect::<Vec<_>>());
    EtcdLockInfo {
        name: Name::new(name).to_arc(),
        requests: list
            .into_iter()
            .zip(verdicts)
            .map(|(e, v)| EtcdRequestInfo {
                session: e.session,
                label: e.value.label,
                mode: e.value.mode,
                granted: matches!(v, Verdict::Granted { .. }),
                token: e.revision as u64,
                since: UNIX_EPOCH + Duration::from_micros(e.value.since_us),
            })
            .collect(),
    }
}
