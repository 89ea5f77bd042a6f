//! HTTP API settings: every option of spec §1.1, with its default.

use std::net::SocketAddr;
use std::time::Duration;

/// How an [`HttpServer`](super::HttpServer) runs. `Default` gives the spec's defaults; every
/// setting is a public field and a chainable setter of the same name.
///
/// ```
/// use std::time::Duration;
/// use lockd::http::HttpConfig;
///
/// let config = HttpConfig::default()
///     .bind("127.0.0.1:0".parse().unwrap())
///     .token(Some("s3cret".into()))
///     .session_ttl_min(Duration::from_millis(100));
/// assert_eq!(config.node, "lockd");
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct HttpConfig {
    /// Listen address (default `127.0.0.1:8500`).
    pub bind: SocketAddr,
    /// ACL token: when set, every request must carry it, else 403 (default none).
    pub token: Option<String>,
    /// The only datacenter `?dc=` accepts (default `dc1`).
    pub datacenter: String,
    /// The single node: sessions' default `Node` and `Config.NodeName` (default `lockd`).
    pub node: String,
    /// Lowest accepted session TTL (default 10 s; the upper bound is 24 h).
    pub session_ttl_min: Duration,
    /// Largest KV value a PUT may store (default 512 KiB); more gets 413.
    pub kv_max_value_size: usize,
    /// Largest body of any other request (default 64 KiB); more gets 413.
    pub max_body_size: usize,
    /// Blocking-query wait when the request names none (default 5 min).
    pub default_query_time: Duration,
    /// Longest blocking-query wait; longer requests are cut to it (default 10 min).
    pub max_query_time: Duration,
    /// How long a deleted key's tombstone keeps listing indexes from going backwards (default
    /// 15 min).
    pub tombstone_ttl: Duration,
    /// Concurrent HTTP connections; more are closed at once (default 10000).
    pub max_connections: usize,
    /// Time allowed to receive a request's headers, and its body (default 30 s).
    pub read_timeout: Duration,
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("bind", &self.bind)
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .field("datacenter", &self.datacenter)
            .field("node", &self.node)
            .field("session_ttl_min", &self.session_ttl_min)
            .field("kv_max_value_size", &self.kv_max_value_size)
            .field("max_body_size", &self.max_body_size)
            .field("default_query_time", &self.default_query_time)
            .field("max_query_time", &self.max_query_time)
            .field("tombstone_ttl", &self.tombstone_ttl)
            .field("max_connections", &self.max_connections)
            .field("read_timeout", &self.read_timeout)
            .finish()
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8500)),
            token: None,
            datacenter: "dc1".into(),
            node: "lockd".into(),
            session_ttl_min: Duration::from_secs(10),
            kv_max_value_size: 512 * 1024,
            max_body_size: 64 * 1024,
            default_query_time: Duration::from_secs(300),
            max_query_time: Duration::from_secs(600),
            tombstone_ttl: Duration::from_secs(900),
            max_connections: 10_000,
            read_timeout: Duration::from_secs(30),
        }
    }
}

macro_rules! setters {
    ($($name:ident: $ty:ty),* $(,)?) => {
        impl HttpConfig {
            $(
                #[doc = concat!("Sets [`HttpConfig::", stringify!($name), "`].")]
                pub fn $name(mut self, value: $ty) -> Self {
                    self.$name = value;
                    self
                }
            )*
        }
    };
}

setters! {
    bind: SocketAddr,
    token: Option<String>,
    datacenter: String,
    node: String,
    session_ttl_min: Duration,
    kv_max_value_size: usize,
    max_body_size: usize,
    default_query_time: Duration,
    max_query_time: Duration,
    tombstone_ttl: Duration,
    max_connections: usize,
    read_timeout: Duration,
}
