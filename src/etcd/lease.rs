//! A lease and its keep-alive: what keeps a session's keys alive, and how its owner learns that
//! it is lost (the keep-alive was refused, or failed for longer than the TTL, or the lease was
//! revoked).

use std::sync::Arc;
use std::time::Duration;

use etcd_client::Client;
use tokio::sync::watch;
use tokio::time::Instant;

use super::call::{lease_not_found, retried, within};
use super::error::Error;

/// A granted lease with a keep-alive task; dropping it stops the keep-alive (the lease then
/// expires after its TTL unless revoked first).
pub(crate) struct Lease {
    pub(crate) id: i64,
    lost: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Lease {
    /// Grants a lease of `ttl` seconds and starts keeping it alive.
    pub(crate) async fn grant(
        client: &Client,
        ttl: i64,
        limit: Duration,
    ) -> Result<Arc<Lease>, Error> {
        // A retry after an unknown outcome may leave an unused lease behind: it expires.
        let granted = retried("lease grant", limit, || {
            let mut c = client.clone();
            async move { c.lease_grant(ttl, None).await }
        })
        .await?;
        let id = granted.id();
        let (tx, lost) = watch::channel(false);
        let task = tokio::spawn(keep_alive(
            client.clone(),
            id,
            granted.ttl().max(1),
            limit,
            tx,
        ));
        Ok(Arc::new(Lease { id, lost, task }))
    }

    /// Whether the lease is known to be lost.
    pub(crate) fn is_lost(&self) -> bool {
        *self.lost.borrow()
    }

    /// Completes once the lease is lost.
    pub(crate) async fn lost(&self) {
        let mut rx = self.lost.clone();
        // An error means the keep-alive task ended, which it does only once the lease is lost
        // or dropped.
        let _ = rx.wait_for(|lost| *lost).await;
    }

    /// Revokes the lease (its keys go at once) and stops the keep-alive.
    pub(crate) async fn revoke(&self, client: &Client, limit: Duration) -> Result<(), Error> {
        self.task.abort();
        let id = self.id;
        match retried("lease revoke", limit, || {
            let mut c = client.clone();
            async move { c.lease_revoke(id).await }
        })
        .await
        {
            Ok(_) => Ok(()),
            Err(e) if lease_not_found(&e) => Ok(()), // an earlier attempt (or its TTL) did it
            Err(e) => Err(e),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Renews the lease every third of its TTL. A refusal (TTL 0: the lease is gone) loses it at
/// once; failures are retried until the lease would have expired since the last renewal.
async fn keep_alive(client: Client, id: i64, ttl: i64, limit: Duration, lost: watch::Sender<bool>) {
    let ttl = Duration::from_secs(ttl as u64);
    let period = ttl / 3;
    let mut renewed = Instant::now();
    let mut stream = None;
    loop {
        tokio::time::sleep(if stream.is_some() {
            period
        } else {
            Duration::from_millis(200)
        })
        .await;
        if stream.is_none() {
            let mut c = client.clone();
            match within("lease keep-alive", limit, c.lease_keep_alive(id)).await {
                Ok(s) => stream = Some(s),
                Err(e) => tracing::debug!(lease = id, error = %e, "keep-alive stream failed"),
            }
        }
        if let Some((keeper, responses)) = &mut stream {
            let renewal = async {
                keeper.keep_alive().await?;
                responses.message().await
            };
            match within(
                "lease keep-alive",
                limit.min(period.max(Duration::from_millis(500))),
                renewal,
            )
            .await
            {
                Ok(Some(r)) if r.ttl() > 0 => renewed = Instant::now(),
                Ok(Some(_)) => {
                    tracing::warn!(lease = id, "lease expired or revoked: session lost");
                    let _ = lost.send(true);
                    return;
                }
                Ok(None) | Err(_) => stream = None,
            }
        }
        if renewed.elapsed() >= ttl {
            tracing::warn!(
                lease = id,
                "no keep-alive answered within the TTL: session lost"
            );
            let _ = lost.send(true);
            return;
        }
    }
}
