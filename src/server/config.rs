//! Server settings: every limit of the spec (§2, §10), with its default.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How a [`Server`](super::Server) runs. `Default` gives the spec's defaults; every setting is
/// a public field and a chainable setter of the same name.
///
/// ```
/// use lockd::server::Config;
///
/// let config = Config::default().port(0).max_connections(500).idle_timeout(None);
/// assert_eq!((config.port, config.max_connections), (0, 500));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// TCP listen address (default `127.0.0.1`: the protocol has no authentication).
    pub bind: IpAddr,
    /// TCP port (default 9999; 0 lets the OS choose).
    pub port: u16,
    /// An additional Unix-socket listener.
    pub unix: Option<PathBuf>,
    /// Whether `d`, `sd`, `dump` work (default on).
    pub dump: bool,
    /// Whether `iam`, `who` and names in listings work (default on).
    pub registry: bool,
    /// Longest accepted request line, without its line ending (default 65536).
    pub max_line_bytes: usize,
    /// Connections beyond this are closed at once, nothing sent (default 10000).
    pub max_connections: usize,
    /// Holdings per connection, exclusive plus shared; 0 = no limit (default).
    pub max_locks_per_session: usize,
    /// TCP keepalive idle time, so dead peers are detected; `None` = off (default 60 s).
    pub keepalive: Option<Duration>,
    /// Close a connection silent this long, releasing its locks; `None` = off (default).
    pub idle_timeout: Option<Duration>,
    /// Cap for the waiting extension verbs `gw`/`sgw`; longer waits are cut to it (default
    /// 10 minutes).
    pub max_wait: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 9999,
            unix: None,
            dump: true,
            registry: true,
            max_line_bytes: 65536,
            max_connections: 10_000,
            max_locks_per_session: 0,
            keepalive: Some(Duration::from_secs(60)),
            idle_timeout: None,
            max_wait: Duration::from_secs(600),
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        impl Config {
            $(
                $(#[$doc])*
                pub fn $name(mut self, value: $ty) -> Self {
                    self.$name = value;
                    self
                }
            )*
        }
    };
}

setters! {
    /// Sets [`Config::bind`].
    bind: IpAddr,
    /// Sets [`Config::port`].
    port: u16,
    /// Sets [`Config::unix`].
    unix: Option<PathBuf>,
    /// Sets [`Config::dump`].
    dump: bool,
    /// Sets [`Config::registry`].
    registry: bool,
    /// Sets [`Config::max_line_bytes`].
    max_line_bytes: usize,
    /// Sets [`Config::max_connections`].
    max_connections: usize,
    /// Sets [`Config::max_locks_per_session`].
    max_locks_per_session: usize,
    /// Sets [`Config::keepalive`].
    keepalive: Option<Duration>,
    /// Sets [`Config::idle_timeout`].
    idle_timeout: Option<Duration>,
    /// Sets [`Config::max_wait`].
    max_wait: Duration,
}
