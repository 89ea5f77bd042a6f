//! The `lockd` server: the lockd line protocol (glockd / Node lockd compatible) over TCP and,
//! optionally, a Unix socket, on an in-memory lock table or (feature `etcd`, `--etcd`) on an etcd
//! cluster's, which several servers share. Thin: parses options, sets up logging, and runs
//! `lockd::server`.

use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use lockd::LockManager;
use lockd::server::{Config, Listeners, Server};

/// jemalloc, made for long-running servers. With glibc's malloc, the memory of a million locks
/// taken and released stays cached in the process (130-160 MB); jemalloc's background thread
/// gives pages unused for a second back to the OS (`dirty_decay_ms`), at once unmapped
/// (`muzzy_decay_ms:0`: MADV_FREE'd pages would still count in RSS). Measured by
/// benches/memory_after_release.sh; `_RJEM_MALLOC_CONF` overrides these options at run time.
#[cfg(unix)]
mod allocator {
    #[global_allocator]
    static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

    /// jemalloc's `const char *malloc_conf`, read before `main`.
    #[repr(transparent)]
    struct Conf(*const std::ffi::c_char);

    // SAFETY: it points at a constant string that is never written.
    unsafe impl Sync for Conf {}

    #[unsafe(export_name = "_rjem_malloc_conf")]
    static MALLOC_CONF: Conf =
        Conf(c"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0".as_ptr());
}

/// An in-memory lock server speaking the lockd line protocol (compatible with glockd and the
/// Node lockd clients). A connection is a session: when it ends, every lock it held is released.
///
/// Without `--acl` the protocol has no authentication: lockd listens on 127.0.0.1 unless told
/// otherwise (`--bind 0.0.0.0` exposes it to the network). Every option can also be set by the
/// environment variable shown with it. SIGTERM, SIGINT and SIGHUP all shut down cleanly:
/// nothing more is granted, every client is disconnected and its locks released.
#[derive(Debug, Parser)]
#[command(name = "lockd", version)]
#[cfg_attr(feature = "http", command(group(clap::ArgGroup::new("consul_api").multiple(true))))]
struct Args {
    /// TCP listen address.
    #[arg(long, default_value = "127.0.0.1", env = "LOCKD_BIND")]
    bind: IpAddr,
    /// TCP port; 0 lets the OS choose (the bound address is logged).
    #[arg(long, default_value_t = 9999, env = "LOCKD_PORT")]
    port: u16,
    /// Also listen on this Unix-domain socket. A stale socket file there is replaced; the live
    /// socket of a running server, or any other file, is never replaced.
    #[arg(long, value_name = "PATH", env = "LOCKD_UNIX")]
    unix: Option<PathBuf>,
    /// Turn off `d`, `sd` and `dump` (they answer `0 disabled`).
    #[arg(long, env = "LOCKD_DISABLE_DUMP")]
    disable_dump: bool,
    /// Turn off `iam` and `who`, and registered names in listings.
    #[arg(long, env = "LOCKD_DISABLE_REGISTRY")]
    disable_registry: bool,
    /// Longest accepted request line in bytes; longer lines get `0 Line Too Long`.
    #[arg(long, default_value_t = 65536, env = "LOCKD_MAX_LINE_BYTES",
        value_parser = clap::value_parser!(u64).range(1..))]
    max_line_bytes: u64,
    /// Connections beyond this are closed at once, with nothing sent.
    #[arg(long, default_value_t = 10_000, env = "LOCKD_MAX_CONNECTIONS",
        value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,
    /// Locks (exclusive plus shared) one connection may hold; 0 = no limit.
    #[arg(long, default_value_t = 0, env = "LOCKD_MAX_LOCKS_PER_SESSION")]
    max_locks_per_session: u64,
    /// Dead-peer detection bound: a client whose machine or network vanished is detected, and
    /// its locks released, within this time (TCP keepalive probes every bound/6, 3 probes, and
    /// TCP_USER_TIMEOUT = bound; at least 4s); 0 = off. A bare number counts seconds.
    #[arg(long, default_value = "30s", env = "LOCKD_KEEPALIVE", value_parser = seconds)]
    keepalive: Duration,
    /// Close a connection silent this long, releasing its locks; 0 = off (idle holders are
    /// legitimate). A bare number counts seconds.
    #[arg(long, default_value = "0", env = "LOCKD_IDLE_TIMEOUT", value_parser = seconds)]
    idle_timeout: Duration,
    /// Cap for the waiting extension verbs (`gw`, `sgw`); longer requested waits are cut to it.
    /// A bare number counts milliseconds (`--max-wait-ms` is the older name).
    #[arg(long = "max-wait", visible_alias = "max-wait-ms", default_value = "10m",
        env = "LOCKD_MAX_WAIT_MS", value_parser = millis)]
    max_wait: Duration,
    /// Listen backlog (connections queued by the kernel before they are accepted) of every
    /// listener; the kernel caps it at net.core.somaxconn.
    #[arg(long, default_value_t = 1024, env = "LOCKD_BACKLOG",
        value_parser = clap::value_parser!(u32).range(1..))]
    backlog: u32,
    /// Unsent reply bytes after which a connection is not read from until its replies drain
    /// (a client that never reads is held to this plus one reply).
    #[arg(long, default_value_t = 262_144, env = "LOCKD_MAX_PENDING_OUTPUT",
        value_parser = clap::value_parser!(u64).range(1..))]
    max_pending_output: u64,
    /// Turn authentication on for the lockd protocol: the tokens clients authenticate with
    /// (`auth [USER] TOKEN`), each with the lock names it covers and what it may do (a TOML file
    /// of `[[token]]` tables; see the README's Security section). Until a connection
    /// authenticates, every verb but `auth` and `ext` answers `0 Authentication Required`.
    #[arg(long, value_name = "FILE", env = "LOCKD_ACL")]
    acl: Option<PathBuf>,
    /// Failed `auth` attempts after which a connection is closed.
    #[arg(long, default_value_t = 3, env = "LOCKD_AUTH_MAX_FAILURES",
        value_parser = clap::value_parser!(u32).range(1..))]
    auth_max_failures: u32,
    /// Do not serve the lockd line protocol (for a Consul-API-only server; needs `--http` or
    /// `--https`).
    #[cfg(feature = "http")]
    #[arg(long, env = "LOCKD_NO_TCP", requires = "consul_api")]
    no_tcp: bool,
    #[cfg(feature = "http")]
    #[command(flatten)]
    http: HttpArgs,
    #[cfg(feature = "etcd")]
    #[command(flatten)]
    etcd: EtcdArgs,
    #[cfg(feature = "tls")]
    #[command(flatten)]
    tls: TlsArgs,
    /// Log level filter (error, warn, info, debug, trace, or a tracing directive such as
    /// `lockd=debug`). Without it, RUST_LOG is used, else `info`.
    #[arg(long, env = "LOCKD_LOG")]
    log: Option<String>,
    /// Log format: human-readable text, or one JSON object per line.
    #[arg(long, value_enum, default_value = "text", env = "LOCKD_LOG_FORMAT")]
    log_format: LogFormat,
}

/// The lockd protocol over TLS, on a port of its own.
#[cfg(feature = "tls")]
#[derive(Debug, clap::Args)]
struct TlsArgs {
    /// Also serve the lockd protocol over TLS on this port (same `--bind` address); needs
    /// `--tls-cert` and `--tls-key`. Certificate files that change are read again for new
    /// connections (checked at most once a second), so renewals need no restart.
    #[arg(long, value_name = "PORT", env = "LOCKD_TLS_PORT", requires_all = ["tls_cert", "tls_key"])]
    tls_port: Option<u16>,
    /// The server's certificate chain (PEM, leaf first).
    #[arg(long, value_name = "FILE", env = "LOCKD_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "FILE", env = "LOCKD_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Require client certificates signed by these CAs (PEM) on the TLS listeners (`--tls-port`,
    /// `--https`): mutual TLS; on the lockd protocol the certificate's subject is the
    /// connection's display id.
    #[arg(long, value_name = "FILE", env = "LOCKD_TLS_CLIENT_CA")]
    tls_client_ca: Option<PathBuf>,
    /// Close a connection whose TLS handshake takes longer. A bare number counts seconds.
    #[arg(long, default_value = "10s", env = "LOCKD_TLS_HANDSHAKE_TIMEOUT", value_parser = seconds)]
    tls_handshake_timeout: Duration,
    /// Serve the lockd protocol over TLS only (no plaintext `--port` listener).
    #[arg(long, env = "LOCKD_NO_PLAINTEXT", requires = "tls_port")]
    no_plaintext: bool,
    /// Serve the Consul HTTP API over TLS (HTTPS) on this address, with the same `--tls-cert`,
    /// `--tls-key` and `--tls-client-ca` as `--tls-port`; beside `--http` or instead of it.
    #[cfg(feature = "http")]
    #[arg(long, value_name = "ADDR", env = "LOCKD_HTTPS", requires_all = ["tls_cert", "tls_key"],
        group = "consul_api")]
    https: Option<std::net::SocketAddr>,
}

#[cfg(feature = "tls")]
impl TlsArgs {
    /// The certificate files, if a TLS listener is asked for.
    fn files(&self) -> std::io::Result<Option<lockd::server::TlsFiles>> {
        #[cfg(feature = "http")]
        let https = self.https.is_some();
        #[cfg(not(feature = "http"))]
        let https = false;
        let given =
            self.tls_cert.is_some() || self.tls_key.is_some() || self.tls_client_ca.is_some();
        if self.tls_port.is_none() && !https {
            if given {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "--tls-cert, --tls-key and --tls-client-ca need a TLS listener: --tls-port \
                     or --https",
                ));
            }
            return Ok(None);
        }
        // A TLS listener has both (clap requires them): load them now, before anything binds.
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let mut files = lockd::server::TlsFiles::new(cert, key);
        files.handshake_timeout = self.tls_handshake_timeout;
        if let Some(ca) = &self.tls_client_ca {
            files = files.client_ca(ca);
        }
        files.check()?;
        Ok(Some(files))
    }
}

/// Where the lock table lives when it is not in memory.
#[cfg(feature = "etcd")]
#[derive(Debug, clap::Args)]
struct EtcdArgs {
    /// Serve the lock table of this etcd cluster instead of memory: comma-separated client URLs
    /// (`http://10.0.0.1:2379,http://10.0.0.2:2379,…`). Every lockd server given the same
    /// cluster and prefix serves the same locks; a server that dies frees its clients' locks
    /// when its lease expires.
    #[arg(long, value_name = "URLS", env = "LOCKD_ETCD", value_delimiter = ',')]
    etcd: Vec<String>,
    /// Key prefix of the lock table in etcd: tables with different prefixes are independent.
    #[arg(long, default_value = "lockd", env = "LOCKD_ETCD_PREFIX")]
    etcd_prefix: String,
    /// The server's lease TTL (whole seconds, at least 2): how long after a server vanished its
    /// clients' locks stay held. A bare number counts seconds.
    #[arg(long, default_value = "10s", env = "LOCKD_ETCD_LEASE_TTL", value_parser = seconds)]
    etcd_lease_ttl: Duration,
    /// The most one etcd request may take before the client's request fails (a leader election
    /// takes up to about 7 s on etcd 3.4's defaults). A bare number counts seconds.
    #[arg(long, default_value = "5s", env = "LOCKD_ETCD_REQUEST_TIMEOUT", value_parser = seconds)]
    etcd_request_timeout: Duration,
}

/// A duration option: Go syntax (`15s`, `500ms`, `1m30s`), or a bare number of seconds.
fn seconds(text: &str) -> Result<Duration, String> {
    lockd::parse_duration_or(text, Duration::from_secs(1))
}

/// A duration option: Go syntax, or a bare number of milliseconds.
fn millis(text: &str) -> Result<Duration, String> {
    lockd::parse_duration_or(text, Duration::from_millis(1))
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// The Consul-compatible HTTP API (spec §1.1). Durations in Go syntax: `10s`, `5m`, `1h30m`.
#[cfg(feature = "http")]
#[derive(Debug, clap::Args)]
struct HttpArgs {
    /// Serve the Consul HTTP API subset on this address (e.g. 127.0.0.1:8500); off by default.
    #[arg(long, env = "LOCKD_HTTP", value_name = "ADDR", group = "consul_api")]
    http: Option<std::net::SocketAddr>,
    /// ACL token every HTTP request must carry (X-Consul-Token, ?token= or Bearer), else 403.
    #[arg(long, env = "LOCKD_HTTP_TOKEN", hide_env_values = true)]
    http_token: Option<String>,
    /// The only datacenter `?dc=` accepts.
    #[arg(long, env = "LOCKD_HTTP_DATACENTER", default_value = "dc1")]
    http_datacenter: String,
    /// The node name: sessions' default Node and agent/self Config.NodeName.
    #[arg(long, env = "LOCKD_HTTP_NODE", default_value = "lockd")]
    http_node: String,
    /// Lowest session TTL accepted.
    #[arg(long, env = "LOCKD_HTTP_SESSION_TTL_MIN", default_value = "10s", value_parser = lockd::parse_duration)]
    session_ttl_min: Duration,
    /// Largest KV value in bytes; larger PUTs get 413.
    #[arg(long, env = "LOCKD_HTTP_KV_MAX_VALUE_SIZE", default_value_t = 524_288)]
    kv_max_value_size: usize,
    /// Blocking-query wait when a request names none.
    #[arg(long, env = "LOCKD_HTTP_DEFAULT_QUERY_TIME", default_value = "5m", value_parser = lockd::parse_duration)]
    default_query_time: Duration,
    /// Longest blocking-query wait.
    #[arg(long, env = "LOCKD_HTTP_MAX_QUERY_TIME", default_value = "10m", value_parser = lockd::parse_duration)]
    max_query_time: Duration,
    /// How long deleted keys keep listing indexes from going backwards.
    #[arg(long, env = "LOCKD_HTTP_TOMBSTONE_TTL", default_value = "15m", value_parser = lockd::parse_duration)]
    tombstone_ttl: Duration,
    /// Largest body of a request other than a KV PUT, in bytes; larger ones get 413.
    #[arg(long, env = "LOCKD_HTTP_MAX_BODY_SIZE", default_value_t = 65_536)]
    http_max_body_size: usize,
    /// Time allowed to receive a request's head, and then its body; also how long an idle
    /// keep-alive connection stays open.
    #[arg(long, env = "LOCKD_HTTP_READ_TIMEOUT", default_value = "30s", value_parser = lockd::parse_duration)]
    http_read_timeout: Duration,
    /// Time allowed to send one response; a client that does not read is reset and freed.
    #[arg(long, env = "LOCKD_HTTP_WRITE_TIMEOUT", default_value = "30s", value_parser = lockd::parse_duration)]
    http_write_timeout: Duration,
    /// Longest request head in bytes (request line and header fields); more gets 431.
    #[arg(long, env = "LOCKD_HTTP_MAX_HEAD_SIZE", default_value_t = 65_536)]
    http_max_head_size: usize,
    /// Most header fields in a request; more gets 431.
    #[arg(long, env = "LOCKD_HTTP_MAX_HEADERS", default_value_t = 64)]
    http_max_headers: usize,
    /// Most bytes of chunk extensions in one chunked body, all chunks together; more gets 400.
    #[arg(
        long,
        env = "LOCKD_HTTP_MAX_CHUNK_EXTENSIONS",
        default_value_t = 16_384
    )]
    http_max_chunk_extensions: usize,
    /// Longest trailer section of a chunked body in bytes; more gets 431.
    #[arg(long, env = "LOCKD_HTTP_MAX_TRAILER_SIZE", default_value_t = 16_384)]
    http_max_trailer_size: usize,
    /// Concurrent HTTP connections; more are closed at once.
    #[arg(long, env = "LOCKD_HTTP_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    http_max_connections: u64,
}

#[cfg(feature = "http")]
impl HttpArgs {
    fn config(&self, bind: std::net::SocketAddr, backlog: u32) -> lockd::http::HttpConfig {
        lockd::http::HttpConfig::default()
            .bind(bind)
            .token(self.http_token.clone().filter(|t| !t.is_empty()))
            .datacenter(self.http_datacenter.clone())
            .node(self.http_node.clone())
            .session_ttl_min(self.session_ttl_min)
            .kv_max_value_size(self.kv_max_value_size)
            .default_query_time(self.default_query_time)
            .max_query_time(self.max_query_time)
            .tombstone_ttl(self.tombstone_ttl)
            .max_connections(self.http_max_connections as usize)
            .max_body_size(self.http_max_body_size)
            .read_timeout(self.http_read_timeout)
            .write_timeout(self.http_write_timeout)
            .max_head_size(self.http_max_head_size)
            .max_headers(self.http_max_headers)
            .max_chunk_extensions(self.http_max_chunk_extensions)
            .max_trailer_size(self.http_max_trailer_size)
            .backlog(backlog)
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(&args);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e.to_string()),
    }
}

/// Reports a startup or serving error (Display, not Debug: it says which address and why) and
/// gives the failure exit status.
fn fail(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "lockd: {message}");
    ExitCode::FAILURE
}

/// Logs to stderr. A log line that cannot be written is dropped: a closed or full stderr (a
/// dead log shipper, `lockd 2>&1 | head`) must never stop shutdown or a connection's cleanup.
fn init_logging(args: &Args) {
    use tracing_subscriber::EnvFilter;
    let filter = match &args.log {
        Some(directive) => EnvFilter::new(directive),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LossyStderr)
        .log_internal_errors(false);
    match args.log_format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// stderr, where a failed write counts as written.
struct LossyStderr;

impl std::io::Write for LossyStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn run(args: Args) -> std::io::Result<()> {
    let config = Config::default()
        .bind(args.bind)
        .port(args.port)
        .dump(!args.disable_dump)
        .registry(!args.disable_registry)
        .max_line_bytes(args.max_line_bytes as usize)
        .max_connections(args.max_connections as usize)
        .max_locks_per_session(args.max_locks_per_session as usize)
        .keepalive(nonzero(args.keepalive))
        .idle_timeout(nonzero(args.idle_timeout))
        .max_wait(args.max_wait)
        .backlog(args.backlog)
        .max_pending_output(args.max_pending_output as usize)
        .auth_max_failures(args.auth_max_failures);
    let acl = match &args.acl {
        Some(path) => {
            let acl = lockd::acl::Acl::load(path)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            tracing::info!(
                tokens = acl.len(),
                "authentication on for every listener (--acl)"
            );
            Some(acl)
        }
        None => None,
    };
    #[cfg(feature = "http")]
    if acl.is_some()
        && args
            .http
            .http_token
            .as_deref()
            .is_some_and(|t| !t.is_empty())
    {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "--http-token is the one-token shortcut of --acl: give one or the other",
        ));
    }
    let config = config.acl(acl.clone());
    check_fd_limit(&args);

    let mgr = LockManager::new();
    #[cfg(feature = "etcd")]
    let server = match etcd_server(&args, config.clone()).await? {
        Some(server) => server,
        None => Server::new(mgr.clone(), config),
    };
    #[cfg(not(feature = "etcd"))]
    let server = Server::new(mgr.clone(), config);
    let mut listeners = Listeners::default();
    #[cfg(feature = "tls")]
    let files = args.tls.files()?;
    #[cfg(feature = "http")]
    if let Some(addr) = http_addr(&args) {
        let http = lockd::http::HttpServer::new(
            mgr,
            args.http.config(addr, args.backlog).acl(acl.clone()),
        );
        let plain = match args.http.http {
            Some(_) => {
                let listener = http.bind().await?;
                tracing::info!(addr = %listener.local_addr()?, "lockd HTTP (Consul API) listening");
                Some(listener)
            }
            None => None,
        };
        #[cfg(feature = "tls")]
        if let (Some(addr), Some(files)) = (args.tls.https, &files) {
            let listener = http.bind_addr(addr).await?;
            tracing::info!(mutual = files.client_ca.is_some(), addr = %listener.local_addr()?,
                "lockd HTTPS (Consul API) listening");
            listeners.https = Some((listener, files.clone()));
        }
        listeners.http = Some((http, plain));
    }
    #[cfg(feature = "http")]
    let tcp = !args.no_tcp;
    #[cfg(not(feature = "http"))]
    let tcp = true;
    #[cfg(feature = "tls")]
    let tcp = tcp && !args.tls.no_plaintext;
    #[cfg(feature = "tls")]
    if let (Some(port), Some(files)) = (args.tls.tls_port, &files) {
        let listener = server.bind_port(port).await?;
        tracing::info!(mutual = files.client_ca.is_some(), addr = %listener.local_addr()?,
            "lockd listening (TLS)");
        listeners.tls = Some((listener, files.clone()));
    }
    #[cfg(feature = "tls")]
    if args.tls.tls_client_ca.is_some() && (tcp || has_plain_http(&args)) {
        tracing::warn!(
            "--tls-client-ca checks clients of the TLS listeners only: the plaintext ones \
            (--port, --unix, --http) still take anyone; add --no-plaintext (and leave out --http)"
        );
    }
    if tcp {
        let listener = server.bind().await?;
        #[cfg(unix)]
        if let Some(path) = &args.unix {
            let (unix, guard) = lockd::server::bind_unix(path, args.backlog)?;
            tracing::info!(path = %guard.path().display(), "lockd listening on a Unix socket");
            listeners.unix = Some((unix, guard));
        }
        tracing::info!(addr = %listener.local_addr()?, "lockd listening");
        listeners.tcp = Some(listener);
    }
    lockd::server::run(&server, listeners, shutdown_signal()).await
}

/// Where the Consul API's server is bound first: `--http`, else `--https`.
#[cfg(feature = "http")]
fn http_addr(args: &Args) -> Option<std::net::SocketAddr> {
    #[cfg(feature = "tls")]
    return args.http.http.or(args.tls.https);
    #[cfg(not(feature = "tls"))]
    return args.http.http;
}

/// Whether the Consul API has a plaintext listener.
#[cfg(feature = "tls")]
fn has_plain_http(args: &Args) -> bool {
    #[cfg(feature = "http")]
    return args.http.http.is_some();
    #[cfg(not(feature = "http"))]
    return {
        let _ = args;
        false
    };
}

/// With `--etcd`: a server over the cluster's lock table (connected, or the error says why not).
#[cfg(feature = "etcd")]
async fn etcd_server(args: &Args, config: Config) -> std::io::Result<Option<Server>> {
    let e = &args.etcd;
    if e.etcd.is_empty() {
        return Ok(None);
    }
    #[cfg(feature = "http")]
    if http_addr(args).is_some() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "--http and --https serve the in-memory lock table only; they cannot be combined \
             with --etcd",
        ));
    }
    let etcd_config = lockd::etcd::EtcdConfig {
        endpoints: e.etcd.clone(),
        prefix: e.etcd_prefix.clone(),
        lease_ttl: e.etcd_lease_ttl,
        request_timeout: e.etcd_request_timeout,
        ..lockd::etcd::EtcdConfig::default()
    };
    let mgr = lockd::etcd::EtcdManager::connect(etcd_config)
        .await
        .map_err(|err| {
            std::io::Error::other(format!("connecting to etcd at {}: {err}", e.etcd.join(",")))
        })?;
    tracing::info!(endpoints = %e.etcd.join(","), prefix = %e.etcd_prefix,
        lease_ttl = ?e.etcd_lease_ttl, "lock table: etcd");
    Ok(Some(Server::with_etcd(mgr, config)))
}

/// A zero duration turns a feature off.
fn nonzero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

/// Raises the soft open-files limit to the hard one (as Redis does) and warns when the
/// connection limits do not fit in it.
fn check_fd_limit(args: &Args) {
    #[allow(unused_mut)]
    let mut wanted = args.max_connections;
    #[cfg(feature = "tls")]
    let lockd_tls = args.tls.tls_port.is_some();
    #[cfg(not(feature = "tls"))]
    let lockd_tls = false;
    #[cfg(feature = "http")]
    if args.no_tcp && !lockd_tls {
        wanted = 0; // no lockd listener: only the Consul API's connections count
    }
    let _ = lockd_tls;
    #[cfg(feature = "http")]
    if http_addr(args).is_some() {
        wanted += args.http.http_max_connections;
    }
    match lockd::server::raise_fd_limit() {
        Ok(limit) if limit < wanted + FD_RESERVE => tracing::warn!(
            open_files = limit,
            connections = wanted,
            "the open-files limit is below the connection limits plus {FD_RESERVE}: connections \
             beyond it are closed at once (raise `ulimit -n` or lower --max-connections)"
        ),
        Ok(limit) => tracing::debug!(open_files = limit, "open-files limit"),
        Err(e) => tracing::warn!(error = %e, "cannot read or raise the open-files limit"),
    }
}

/// Descriptors the server needs beside its connections (listeners, runtime, log, spare).
const FD_RESERVE: u64 = 32;

/// SIGINT, SIGTERM or SIGHUP (a lost controlling terminal): each shuts down cleanly.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            tracing::error!("cannot install signal handlers; only Ctrl-C stops lockd cleanly");
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
            _ = hup.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
