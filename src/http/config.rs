//! HTTP API settings: every option of spec §1.1, and the limits every connection is held to
//! (sizes of heads, chunk framing and trailers; read and write timeouts), with their defaults.

use std::net::SocketAddr;
use std::time::Duration;

use super::chunked::ChunkedLimits;
use super::head::HeadLimits;

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
    /// ACL token: when set, every request must carry it, else 403 (default none). The
    /// one-token shortcut of [`acl`](Self::acl).
    pub token: Option<String>,
    /// ACL of tokens with name prefixes and permissions (the lockd protocol's, `--acl`): when
    /// set, every request must carry one of its tokens (`?token=`, `X-Consul-Token`,
    /// `Authorization: Bearer`), and KV keys are names: reading a key needs `read` on it,
    /// writing, locking or deleting it `lock`; sessions need `lock` to create, renew or destroy
    /// and `read` to list; listings leave out keys the token does not cover. Else 403
    /// `Permission denied` (default none).
    pub acl: Option<crate::acl::Acl>,
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
    /// Time allowed to send one response (or a `100 Continue`) to the client (default 30 s).
    /// A client that reads too slowly, or not at all, has its connection reset when it runs
    /// out, which frees the response and the socket's buffers.
    pub write_timeout: Duration,
    /// Longest request head: blank lines before it, the request line and the header fields
    /// (default 64 KiB); more gets 431 and the connection closes.
    pub max_head_size: usize,
    /// Most header fields in a request head (default 64); more gets 431 and the connection
    /// closes.
    pub max_headers: usize,
    /// Most bytes of chunk extensions (`;name=value` after a chunk size, and whitespace
    /// before them) in one chunked body, all chunks together (default 16 KiB); more gets 400
    /// and the connection closes. Extensions are read and ignored.
    pub max_chunk_extensions: usize,
    /// Longest trailer section of a chunked body, every byte of its field lines counted
    /// (default 16 KiB); more gets 431 and the connection closes. Trailers are read and
    /// ignored.
    pub max_trailer_size: usize,
    /// Listen backlog: connections the kernel queues before they are accepted (default 1024;
    /// the kernel caps it at `net.core.somaxconn`).
    pub backlog: u32,
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("bind", &self.bind)
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .field(
                "acl",
                &self.acl.as_ref().map(|a| format!("{} tokens", a.len())),
            )
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
            .field("write_timeout", &self.write_timeout)
            .field("max_head_size", &self.max_head_size)
            .field("max_headers", &self.max_headers)
            .field("max_chunk_extensions", &self.max_chunk_extensions)
            .field("max_trailer_size", &self.max_trailer_size)
            .field("backlog", &self.backlog)
            .finish()
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8500)),
            token: None,
            acl: None,
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
            write_timeout: Duration::from_secs(30),
            max_head_size: 64 * 1024,
            max_headers: 64,
            max_chunk_extensions: 16 * 1024,
            max_trailer_size: 16 * 1024,
            backlog: 1024,
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
    acl: Option<crate::acl::Acl>,
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
    write_timeout: Duration,
    max_head_size: usize,
    max_headers: usize,
    max_chunk_extensions: usize,
    max_trailer_size: usize,
    backlog: u32,
}

impl HttpConfig {
    /// The limits request heads are read within.
    pub(crate) fn head_limits(&self) -> HeadLimits {
        HeadLimits {
            max_size: self.max_head_size,
            max_headers: self.max_headers,
        }
    }

    /// The limits of a chunked body whose data may take `body` bytes.
    pub(crate) fn chunked_limits(&self, body: usize) -> ChunkedLimits {
        ChunkedLimits {
            body,
            extensions: self.max_chunk_extensions,
            trailers: self.max_trailer_size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_limits_are_the_parsers_defaults() {
        assert_eq!(HttpConfig::default().head_limits(), HeadLimits::default());
    }
}
