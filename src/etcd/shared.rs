//! What an [`EtcdManager`](super::EtcdManager)'s clones and sessions share: the client, the
//! configuration, the shared lease, and reads of the request keys.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use etcd_client::Client;

use super::call::retried;
use super::config::EtcdConfig;
use super::error::Error;
use super::keys;
use super::lease::Lease;
use super::read::{Entry, entries, range_options};
use super::watcher::HeldKeys;

/// What a manager's clones and sessions share.
pub(crate) struct Shared {
    pub(crate) client: Client,
    pub(crate) config: EtcdConfig,
    pub(crate) next_session: AtomicU64,
    /// The manager's own lease, for sessions that share it (made on first use).
    pub(crate) lease: tokio::sync::Mutex<Option<Arc<Lease>>>,
    /// The keys the sessions hold, watched for deletions by anyone else.
    pub(crate) held: HeldKeys,
}

impl Shared {
    pub(crate) fn limit(&self) -> Duration {
        self.config.request_timeout
    }

    /// The request keys of `name`, oldest first, and the revision of the read.
    pub(crate) async fn read_name(&self, name: &[u8]) -> Result<(i64, Vec<Entry>), Error> {
        let range = keys::name_range(&self.config.prefix, name);
        self.read_range(range).await
    }

    pub(crate) async fn read_range(&self, range: Vec<u8>) -> Result<(i64, Vec<Entry>), Error> {
        let got = retried("range read", self.limit(), || {
            let mut c = self.client.clone();
            let range = range.clone();
            async move { c.get(range, Some(range_options())).await }
        })
        .await?;
        let revision = got.header().map_or(0, |h| h.revision());
        Ok((revision, entries(&self.config.prefix, got.kvs())))
    }
}
