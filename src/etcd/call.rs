//! One etcd request under the configured deadline, with its failure named.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::error::Error;

/// Runs `request`, failing with [`Error::RequestTimeout`] after `limit`.
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
