//! Server settings: every limit of the spec (§2, §10), with its default.

use std::net::IpAddr;
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
    /// Dead-peer detection bound: a TCP peer that vanishes (its machine or network gone, no
    /// FIN or reset ever arrives) is detected, and its locks released, within this time.
    /// Keepalive probes and `TCP_USER_TIMEOUT` are derived from it (see [`KeepaliveProbes`]);
    /// `None` = off (default 30 s).
    pub keepalive: Option<Duration>,
    /// Close a connection silent this long, releasing its locks; `None` = off (default).
    pub idle_timeout: Option<Duration>,
    /// Cap for the waiting extension verbs `gw`/`sgw`; longer waits are cut to it (default
    /// 10 minutes).
    pub max_wait: Duration,
    /// Listen backlog of the TCP and Unix listeners: connections the kernel queues before they
    /// are accepted (default 1024; the kernel caps it at `net.core.somaxconn`).
    pub backlog: u32,
    /// Unsent reply bytes after which a connection's replies are sent before its next request
    /// is read or processed (default 256 KiB). A client that sends requests without reading
    /// the replies is therefore held to this much buffered output plus one reply.
    pub max_pending_output: usize,
    /// The tokens connections authenticate with (`auth [USER] TOKEN`); `Some` turns
    /// authentication on for every listener: until a connection authenticates, every verb but
    /// `auth` and `ext` answers `0 Authentication Required` (default `None`: no authentication).
    pub acl: Option<crate::acl::Acl>,
    /// Failed `auth` attempts after which a connection is closed (default 3).
    pub auth_max_failures: u32,
}

/// TCP keepalive settings derived from a detection bound `B` (see [`Config::keepalive`]):
/// probes every `B/6` (at least 1 s), 3 unanswered probes declare the peer dead, and the first
/// probe is sent after the rest of the bound (at least 1 s) of silence; `TCP_USER_TIMEOUT` is
/// `B`, so a peer that stops acknowledging data is dropped within the bound too. With
/// `B` ≥ 4 s the peer is detected within `B` (plus the kernel's timer slack); below that within
/// 4 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepaliveProbes {
    /// Silence before the first probe.
    pub idle: Duration,
    /// Time between probes.
    pub interval: Duration,
    /// Unanswered probes after which the peer is dead.
    pub retries: u32,
    /// Longest time sent data may stay unacknowledged.
    pub user_timeout: Duration,
}

impl KeepaliveProbes {
    /// The probes for detection bound `bound`.
    pub fn for_bound(bound: Duration) -> KeepaliveProbes {
        const RETRIES: u32 = 3;
        let second = Duration::from_secs(1);
        // Whole seconds: the kernel counts these in seconds.
        let whole = |d: Duration| Duration::from_secs(d.as_secs()).max(second);
        let interval = whole(bound / 6);
        let idle = whole(bound.saturating_sub(interval * RETRIES));
        KeepaliveProbes {
            idle,
            interval,
            retries: RETRIES,
            user_timeout: bound.max(second),
        }
    }

    /// The longest time a vanished peer goes undetected with these probes.
    pub fn detection_bound(&self) -> Duration {
        self.idle + self.interval * self.retries
    }

    /// Sets these probes on a socket.
    pub(crate) fn apply(&self, socket: &socket2::SockRef<'_>) -> std::io::Result<()> {
        let ka = socket2::TcpKeepalive::new().with_time(self.idle);
        #[cfg(any(target_os = "linux", target_os = "android", target_os = "macos"))]
        let ka = ka.with_interval(self.interval).with_retries(self.retries);
        socket.set_tcp_keepalive(&ka)?;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        socket.set_tcp_user_timeout(Some(self.user_timeout))?;
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 9999,
            dump: true,
            registry: true,
            max_line_bytes: 65536,
            max_connections: 10_000,
            max_locks_per_session: 0,
            keepalive: Some(Duration::from_secs(30)),
            idle_timeout: None,
            max_wait: Duration::from_secs(600),
            backlog: 1024,
            max_pending_output: 256 * 1024,
            acl: None,
            auth_max_failures: 3,
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
    /// Sets [`Config::backlog`].
    backlog: u32,
    /// Sets [`Config::max_pending_output`].
    max_pending_output: usize,
    /// Sets [`Config::acl`].
    acl: Option<crate::acl::Acl>,
    /// Sets [`Config::auth_max_failures`].
    auth_max_failures: u32,
}
