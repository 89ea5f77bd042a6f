//! The `lockd` server: the lockd line protocol (glockd / Node lockd compatible) over TCP and,
//! optionally, a Unix socket, on an in-memory lock table. Thin: parses options, sets up logging,
//! and runs `lockd::server`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use lockd::LockManager;
use lockd::server::{Config, Server};

/// An in-memory lock server speaking the lockd line protocol (compatible with glockd and the
/// Node lockd clients). A connection is a session: when it ends, every lock it held is released.
///
/// The protocol has no authentication: lockd listens on 127.0.0.1 unless told otherwise
/// (`--bind 0.0.0.0` exposes it to the network).
#[derive(Debug, Parser)]
#[command(name = "lockd", version)]
struct Args {
    /// TCP listen address.
    #[arg(long, default_value = "127.0.0.1", env = "LOCKD_BIND")]
    bind: IpAddr,
    /// TCP port; 0 lets the OS choose (the bound address is logged).
    #[arg(long, default_value_t = 9999, env = "LOCKD_PORT")]
    port: u16,
    /// Also listen on this Unix-domain socket (a stale socket file there is replaced).
    #[arg(long, value_name = "PATH")]
    unix: Option<PathBuf>,
    /// Turn off `d`, `sd` and `dump` (they answer `0 disabled`).
    #[arg(long)]
    disable_dump: bool,
    /// Turn off `iam` and `who`, and registered names in listings.
    #[arg(long)]
    disable_registry: bool,
    /// Longest accepted request line in bytes; longer lines get `0 Line Too Long`.
    #[arg(long, default_value_t = 65536, value_parser = clap::value_parser!(u64).range(1..))]
    max_line_bytes: u64,
    /// Connections beyond this are closed at once, with nothing sent.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,
    /// Locks (exclusive plus shared) one connection may hold; 0 = no limit.
    #[arg(long, default_value_t = 0)]
    max_locks_per_session: u64,
    /// TCP keepalive idle time in seconds, so dead peers are detected and their locks released;
    /// 0 = off.
    #[arg(long, default_value_t = 60)]
    keepalive: u64,
    /// Close a connection silent this many seconds, releasing its locks; 0 = off (idle holders
    /// are legitimate).
    #[arg(long, default_value_t = 0)]
    idle_timeout: u64,
    /// Cap in milliseconds for the waiting extension verbs (`gw`, `sgw`); longer requested
    /// waits are cut to it.
    #[arg(long, default_value_t = 600_000)]
    max_wait_ms: u64,
    /// Do not serve the lockd line protocol (for a Consul-API-only server with `--http`).
    #[cfg(feature = "http")]
    #[arg(long)]
    no_tcp: bool,
    #[cfg(feature = "http")]
    #[command(flatten)]
    http: HttpArgs,
    /// Log level filter (error, warn, info, debug, trace, or a tracing directive).
    #[arg(long, default_value = "info", env = "LOCKD_LOG")]
    log: String,
}

/// The Consul-compatible HTTP API (spec §1.1). Durations in Go syntax: `10s`, `5m`, `1h30m`.
#[cfg(feature = "http")]
#[derive(Debug, clap::Args)]
struct HttpArgs {
    /// Serve the Consul HTTP API subset on this address (e.g. 127.0.0.1:8500); off by default.
    #[arg(long, value_name = "ADDR")]
    http: Option<std::net::SocketAddr>,
    /// ACL token every HTTP request must carry (X-Consul-Token, ?token= or Bearer), else 403.
    #[arg(long, env = "LOCKD_HTTP_TOKEN", hide_env_values = true)]
    http_token: Option<String>,
    /// The only datacenter `?dc=` accepts.
    #[arg(long, default_value = "dc1")]
    http_datacenter: String,
    /// The node name: sessions' default Node and agent/self Config.NodeName.
    #[arg(long, default_value = "lockd")]
    http_node: String,
    /// Lowest session TTL accepted.
    #[arg(long, default_value = "10s", value_parser = lockd::http::parse_duration)]
    session_ttl_min: Duration,
    /// Largest KV value in bytes; larger PUTs get 413.
    #[arg(long, default_value_t = 524_288)]
    kv_max_value_size: usize,
    /// Blocking-query wait when a request names none.
    #[arg(long, default_value = "5m", value_parser = lockd::http::parse_duration)]
    default_query_time: Duration,
    /// Longest blocking-query wait.
    #[arg(long, default_value = "10m", value_parser = lockd::http::parse_duration)]
    max_query_time: Duration,
    /// How long deleted keys keep listing indexes from going backwards.
    #[arg(long, default_value = "15m", value_parser = lockd::http::parse_duration)]
    tombstone_ttl: Duration,
    /// Concurrent HTTP connections; more are closed at once.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    http_max_connections: u64,
}

#[cfg(feature = "http")]
impl HttpArgs {
    fn config(&self, bind: std::net::SocketAddr) -> lockd::http::HttpConfig {
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
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&args.log))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let secs = |s: u64| (s > 0).then(|| Duration::from_secs(s));
    let mut config = Config::default();
    config.bind = args.bind;
    config.port = args.port;
    config.unix = args.unix.clone();
    config.dump = !args.disable_dump;
    config.registry = !args.disable_registry;
    config.max_line_bytes = args.max_line_bytes as usize;
    config.max_connections = args.max_connections as usize;
    config.max_locks_per_session = args.max_locks_per_session as usize;
    config.keepalive = secs(args.keepalive);
    config.idle_timeout = secs(args.idle_timeout);
    config.max_wait = Duration::from_millis(args.max_wait_ms);

    let mgr = LockManager::new();
    #[cfg(feature = "http")]
    if let Some(addr) = args.http.http {
        let http = lockd::http::HttpServer::new(mgr.clone(), args.http.config(addr));
        let listener = http.bind().await?;
        tracing::info!(addr = %listener.local_addr()?, "lockd HTTP (Consul API) listening");
        if args.no_tcp {
            return http.serve(listener, shutdown_signal()).await;
        }
        let handle = http.handle();
        tokio::spawn(async move {
            shutdown_signal().await;
            handle.shutdown();
        });
        tokio::spawn(async move {
            if let Err(e) = http.serve(listener, std::future::pending::<()>()).await {
                tracing::error!(error = %e, "HTTP server failed");
            }
        });
    }
    serve_lockd(mgr, config, &args).await
}

/// Runs the lockd line-protocol listeners until a signal.
async fn serve_lockd(mgr: LockManager, config: Config, args: &Args) -> std::io::Result<()> {
    let server = Server::new(mgr, config);
    let listener = server.bind().await?;
    tracing::info!(addr = %listener.local_addr()?, "lockd listening");
    let handle = server.handle();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: disconnecting clients and releasing their locks");
        handle.destroy();
    });

    #[cfg(unix)]
    if let Some(path) = &args.unix {
        let unix = bind_unix(path)?;
        tracing::info!(path = %path.display(), "lockd listening on a Unix socket");
        let result = tokio::join!(
            server.serve(listener, std::future::pending::<()>()),
            server.serve_unix(unix, std::future::pending::<()>()),
        );
        let _ = std::fs::remove_file(path);
        result.0?;
        return result.1;
    }
    server.serve(listener, std::future::pending::<()>()).await
}

/// Binds a Unix socket, replacing a stale socket file but never another kind of file.
#[cfg(unix)]
fn bind_unix(path: &std::path::Path) -> std::io::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a socket; refusing to replace it",
                    path.display()
                ),
            ));
        }
        std::fs::remove_file(path)?;
    }
    tokio::net::UnixListener::bind(path)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
