//! Display names of sessions, cluster-wide (what a lockd server's `iam`/`who` register and
//! list): one key per named session, `<prefix>/r/<session>`, on the session's lease, whose value
//! is `<label>\n<name>`. Oldest registration first is the keys' `mod_revision` order: naming a
//! session again makes its registration the newest.

use etcd_client::{GetOptions, PutOptions, SortOrder, SortTarget};

use super::call::retried;
use std::sync::atomic::Ordering;

use super::error::Error;
use super::keys::{name_key, names_range};
use super::manager::EtcdManager;
use super::session::EtcdSession;

/// One named session, from [`EtcdManager::names`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EtcdNameInfo {
    /// The session's id (`<lease id in hex>.<n>`).
    pub session: String,
    /// The session's holder label ([`EtcdSession::label`]).
    pub label: String,
    /// The name it registered.
    pub name: Vec<u8>,
}

impl EtcdSession {
    /// Registers `name` as this session's display name, cluster-wide (an empty name removes the
    /// registration). It lives on the session's lease and goes when the session closes.
    pub async fn set_name(&self, name: impl AsRef<[u8]>) -> Result<(), Error> {
        let inner = &self.inner;
        inner.check()?;
        let name = name.as_ref();
        let key = name_key(&inner.shared.config.prefix, &inner.id);
        if name.is_empty() {
            *inner.name.lock().unwrap() = None;
            return inner.unregister().await;
        }
        let mut value = inner.label.as_bytes().to_vec();
        value.push(b'\n');
        value.extend_from_slice(name);
        // Marked before the put: a put whose answer is lost may still have landed, and `close`
        // must then delete the key (the delete is idempotent).
        inner.maybe_named.store(true, Ordering::Relaxed);
        retried("register", inner.shared.limit(), || {
            let mut c = inner.shared.client.clone();
            let (key, value) = (key.clone(), value.clone());
            let options = PutOptions::new().with_lease(inner.lease.id);
            async move { c.put(key, value, Some(options)).await }
        })
        .await?;
        *inner.name.lock().unwrap() = Some(name.to_vec());
        if inner.closed.load(Ordering::Relaxed) {
            // Closed while the put was under way: its unregister may have come first.
            inner.unregister().await?;
        }
        Ok(())
    }

    /// The display name this session registered, if any.
    pub fn name(&self) -> Option<Vec<u8>> {
        self.inner.name.lock().unwrap().clone()
    }
}

impl super::owner::SessionInner {
    /// Deletes the session's registration, if there may be one.
    pub(crate) async fn unregister(&self) -> Result<(), Error> {
        if !self.maybe_named.load(Ordering::Relaxed) {
            return Ok(());
        }
        let key = name_key(&self.shared.config.prefix, &self.id);
        retried("unregister", self.shared.limit(), || {
            let mut c = self.shared.client.clone();
            let key = key.clone();
            async move { c.delete(key, None).await }
        })
        .await
        .map(drop)
    }
}

impl EtcdManager {
    /// Every named session of the lock table, oldest registration first.
    pub async fn names(&self) -> Result<Vec<EtcdNameInfo>, Error> {
        let s = &self.shared;
        let range = names_range(&s.config.prefix);
        let got = retried("names read", s.limit(), || {
            let mut c = s.client.clone();
            let range = range.clone();
            let options = GetOptions::new()
                .with_prefix()
                .with_sort(SortTarget::Mod, SortOrder::Ascend);
            async move { c.get(range, Some(options)).await }
        })
        .await?;
        Ok(got
            .kvs()
            .iter()
            .filter_map(|kv| {
                let session = kv.key().strip_prefix(range.as_slice())?;
                let value = kv.value();
                let nl = value.iter().position(|&b| b == b'\n')?;
                Some(EtcdNameInfo {
                    session: String::from_utf8_lossy(session).into_owned(),
                    label: String::from_utf8_lossy(&value[..nl]).into_owned(),
                    name: value[nl + 1..].to_vec(),
                })
            })
            .collect())
    }
}
