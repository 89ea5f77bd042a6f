//! How to reach the cluster and how the backend uses it.

use std::time::Duration;

/// What [`EtcdManager::connect`](super::EtcdManager::connect) needs.
///
/// ```
/// use lockd::etcd::EtcdConfig;
/// use std::time::Duration;
///
/// let config = EtcdConfig {
///     endpoints: vec!["http://10.0.0.1:2379".into(), "http://10.0.0.2:2379".into()],
///     lease_ttl: Duration::from_secs(5),
///     ..EtcdConfig::default()
/// };
/// assert_eq!(config.prefix, "lockd");
/// ```
#[derive(Debug, Clone)]
pub struct EtcdConfig {
    /// The cluster's client URLs (`http://host:port`); requests go to any live one.
    pub endpoints: Vec<String>,
    /// Every key of this backend lives under `<prefix>/` (default `lockd`): lock tables with
    /// different prefixes are independent.
    pub prefix: String,
    /// How long a session outlives its last keep-alive (whole seconds, at least 2; default
    /// 10 s): the time after which a vanished holder's locks are free.
    pub lease_ttl: Duration,
    /// The most one etcd request may take before it fails with
    /// [`Error::RequestTimeout`](super::Error::RequestTimeout) (default 5 s). A leader election
    /// stalls requests for up to the cluster's election timeout plus its request timeout (7 s
    /// measured on etcd 3.4): a smaller bound turns such stalls into errors.
    pub request_timeout: Duration,
    /// Who holds, as snapshots show it (default: empty; a server puts its own address here).
    pub label: String,
}

impl Default for EtcdConfig {
    fn default() -> Self {
        EtcdConfig {
            endpoints: vec!["http://127.0.0.1:2379".into()],
            prefix: "lockd".into(),
            lease_ttl: Duration::from_secs(10),
            request_timeout: Duration::from_secs(5),
            label: String::new(),
        }
    }
}

impl EtcdConfig {
    /// The lease TTL in whole seconds, as etcd takes it (at least 2).
    pub(crate) fn ttl_secs(&self) -> i64 {
        (self.lease_ttl.as_secs_f64().round() as i64).max(2)
    }
}
