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
    /// Log level filter (error, warn, info, debug, trace, or a tracing directive).
    #[arg(long, default_value = "info", env = "LOCKD_LOG")]
    log: String,
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

    let server = Server::new(LockManager::new(), config);
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
