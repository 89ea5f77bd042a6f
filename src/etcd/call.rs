//! One etcd request under the configured deadline, with its failure named; idempotent requests
//! are retried on the failures a leader election or a lost member cause (the client does not
//! retry by itself).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::error::Error;

/// Runs `request` once, failing with [`Error::RequestTimeout`] after `limit`.
pub(crate) async fn within<T>(
    what: &'static str,
    limit: Duration,
    request: impl Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, Error> {
    match tokio::time::timeout(limit, request).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Error::Backend {
            what,
            source: Arc::new(e),
        }),
        Err(_) => Err(Error::RequestTimeout { what, after: limit }),
    }
}

/// Runs the idempotent request `make()` makes, again after each transient failure (the leader
/// lost, a member unreachable), with a growing pause, until it succeeds, fails otherwise, or
/// `limit` has passed since the first attempt.
pub(crate) async fn retried<T, F>(
    what: &'static str,
    limit: Duration,
    mut make: impl FnMut() -> F,
) -> Result<T, Error>
where
    F: Future<Output = Result<T, etcd_client::Error>>,
{
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_millis(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let last = match tokio::time::timeout(left, make()).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) if transient(&e) => e,
            Ok(Err(e)) => {
                return Err(Error::Backend {
                    what,
                    source: Arc::new(e),
                });
            }
            Err(_) => return Err(Error::RequestTimeout { what, after: limit }),
        };
        if Instant::now() + pause >= deadline {
            return Err(Error::Backend {
                what,
                source: Arc::new(last),
            });
        }
        tracing::debug!(what, error = %last, "transient etcd failure; retrying");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// Whether a failure is one a retry can get past: the cluster is electing a leader, a member is
/// down, or the connection broke.
pub(crate) fn transient(e: &etcd_client::Error) -> bool {
    use tonic::Code;
    match e {
        etcd_client::Error::GRpcStatus(s) => matches!(
            s.code(),
            Code::Unavailable | Code::DeadlineExceeded | Code::Unknown | Code::Aborted
        ),
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => true,
        _ => false,
    }
}

/// Whether a failure says the lease does not exist (any more).
pub(crate) fn lease_not_found(e: &Error) -> bool {
    match e {
        Error::Backend { source, .. } => match &**source {
            etcd_client::Error::GRpcStatus(s) => s.code() == tonic::Code::NotFound,
            _ => false,
        },
        _ => false,
    }
}
