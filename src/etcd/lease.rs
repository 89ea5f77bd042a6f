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
        // A keep-alive task that is gone (its runtime shut down) renews nothing any more.
        *self.lost.borrow() || self.lost.has_changed().is_err()
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

/// Renews the lease every third of its TTL. The session counts as lost from the moment the lease
/// may have expired: the TTL after the last renewal that succeeded was *sent* (less a margin),
/// whatever the renewals or reconnections under way are doing then; a refusal (TTL 0: the lease
/// is gone) loses it at once.
async fn keep_alive(client: Client, id: i64, ttl: i64, limit: Duration, lost: watch::Sender<bool>) {
    let ttl = Duration::from_secs(ttl as u64);
    let margin = (ttl / 10).min(Duration::from_millis(500));
    let period = ttl / 3;
    // The grant was sent before this task started.
    let mut deadline = Instant::now() + ttl - margin;
    let mut stream = None;
    loop {
        let step = renew(&client, id, &mut stream, period, limit);
        let outcome = tokio::select! {
            o = step => o,
            _ = tokio::time::sleep_until(deadline) => Renewal::Expired,
        };
        match outcome {
            Renewal::Renewed { sent, ttl } => deadline = sent + ttl - margin,
            Renewal::Failed => {}
            Renewal::Refused => {
                tracing::warn!(lease = id, "lease expired or revoked: session lost");
                let _ = lost.send(true);
                return;
            }
            Renewal::Expired => {
                tracing::warn!(
                    lease = id,
                    "no keep-alive answered within the TTL: session lost"
                );
                let _ = lost.send(true);
                return;
            }
        }
    }
}

/// What one renewal attempt found.
enum Renewal {
    /// Renewed for `ttl` by a request sent at `sent`.
    Renewed { sent: Instant, ttl: Duration },
    /// No answer (the stream broke or timed out): tried again next time.
    Failed,
    /// The cluster says the lease is gone.
    Refused,
    /// The lease may have expired meanwhile.
    Expired,
}

/// Waits for the next renewal time, then renews once (opening the keep-alive stream if needed).
async fn renew(
    client: &Client,
    id: i64,
    stream: &mut Option<(etcd_client::LeaseKeeper, etcd_client::LeaseKeepAliveStream)>,
    period: Duration,
    limit: Duration,
) -> Renewal {
    tokio::time::sleep(if stream.is_some() {
        period
    } else {
        Duration::from_millis(200)
    })
    .await;
    if stream.is_none() {
        let mut c = client.clone();
        match within("lease keep-alive", limit, c.lease_keep_alive(id)).await {
            Ok(s) => *stream = Some(s),
            Err(e) => {
                tracing::debug!(lease = id, error = %e, "keep-alive stream failed");
                return Renewal::Failed;
            }
        }
    }
    let Some((keeper, responses)) = stream.as_mut() else {
        return Renewal::Failed;
    };
    let sent = Instant::now();
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
        Ok(Some(r)) if r.ttl() > 0 => Renewal::Renewed {
            sent,
            ttl: Duration::from_secs(r.ttl() as u64),
        },
        Ok(Some(_)) => Renewal::Refused,
        Ok(None) | Err(_) => {
            *stream = None;
            Renewal::Failed
        }
    }
}
