//! `tcp-server`: the lockd line-protocol server, wire-compatible with glockd and the Node
//! lockd port (see `docs/protocol.md`).
//!
//! **One event loop.** Every connection of a server is processed on one thread of its own (a
//! current-thread Tokio runtime, started with the server), in the order the kernel reports
//! events, like the Node port's event loop. This is what makes "a client that disconnects and
//! then at once asks on another connection sees its locks released" (spec §9, §13) hold: the
//! closed connection's cleanup runs before a request that arrived after its FIN. (On a
//! work-stealing runtime the newest woken task often runs first, and a measured third of such
//! requests still saw the orphaned lock held.) It also works from any runtime the program uses.
//!
//! In the manner of mini-redis: an accept loop that never waits on connection work, a
//! connection-limit semaphore whose permit moves into each connection task, a watch channel that
//! tells every connection to end at once (destroy), and a drop-tracker channel to wait until all
//! of them have cleaned up. Each connection is a session of the table the server serves: a core
//! [`Session`](crate::Session) in memory, or (feature `etcd`, [`Server::with_etcd`]) an etcd
//! session on the server's one lease; the commands translate requests into session calls
//! through the backend contract (`commands/`, `table/`); a `Connection` owns each socket's
//! buffers and backpressure (`connection.rs`); `shared.rs` holds the table of live connections
//! and the one cleanup that ends each of them.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use lockd::{LockManager, server::{Config, Server}};
//!
//! let mgr = LockManager::new();              // also usable in-process, same locks
//! let server = Server::new(mgr.clone(), Config::default());
//! let listener = server.bind().await?;       // 127.0.0.1:9999 by default
//! server.serve(listener, tokio::signal::ctrl_c()).await
//! # }
//! ```

mod commands;
mod config;
mod connection;
mod hangups;
mod listener;
mod registry;
mod run;
mod shared;
mod stats;
mod table;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

#[cfg(feature = "tls")]
pub use crate::tls::TlsFiles;
pub use commands::SHARED_NAMESPACE_PREFIX;
pub use config::{Config, KeepaliveProbes};
#[cfg(unix)]
pub use listener::{UnixSocketGuard, bind_unix, raise_fd_limit, tcp_peer_id};
pub use run::{Listeners, run};
pub use stats::ServerStats;

use crate::LockManager;
use listener::{Acceptor, TcpAcceptor, accept_loop};
use shared::Shared;

/// The lock table a server serves, with everything its connections share.
#[derive(Clone)]
enum Tables {
    Memory(Arc<Shared<table::Memory>>),
    #[cfg(feature = "etcd")]
    Etcd(Arc<Shared<table::Etcd>>),
}

/// Runs `$body` with `$s` bound to the server's `Arc<Shared<_>>`, whichever table it serves.
macro_rules! on_table {
    ($tables:expr, $s:ident => $body:expr) => {
        match $tables {
            Tables::Memory($s) => $body,
            #[cfg(feature = "etcd")]
            Tables::Etcd($s) => $body,
        }
    };
}

/// A lockd server over a [`LockManager`] the program may also use in-process, or (feature
/// `etcd`, [`Server::with_etcd`]) over an etcd cluster's lock table, which every server and
/// program connected to the cluster shares.
pub struct Server {
    shared: Tables,
    stop: watch::Sender<bool>,
    closing: watch::Sender<bool>,
    event_loop: EventLoop,
}

/// The server's own thread and current-thread runtime; stopped when the server is dropped.
struct EventLoop {
    handle: tokio::runtime::Handle,
    quit: Option<tokio::sync::oneshot::Sender<()>>,
}

impl EventLoop {
    fn start() -> io::Result<EventLoop> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (quit, quit_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("lockd-event-loop".into())
            .spawn(move || {
                // Drives every task spawned on `handle` until the server is dropped.
                runtime.block_on(async {
                    let _ = quit_rx.await;
                });
            })?;
        Ok(EventLoop {
            handle,
            quit: Some(quit),
        })
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        if let Some(quit) = self.quit.take() {
            let _ = quit.send(());
        }
    }
}

/// Stops a running [`Server`] from elsewhere.
#[derive(Clone)]
pub struct Handle {
    stop: watch::Sender<bool>,
    closing: watch::Sender<bool>,
    shared: Tables,
    event_loop: tokio::runtime::Handle,
}

impl Handle {
    /// Stops accepting; [`Server::serve`] returns once every client has left on its own.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Stops accepting and disconnects everyone now, releasing their locks. From the moment
    /// it is called nothing is granted: every pending wait ends without a grant before any
    /// connection's locks are released, so none of them passes to a client that is about to
    /// be disconnected.
    pub fn destroy(&self) {
        self.closing.send_replace(true);
        let (shared, stop) = (self.shared.clone(), self.stop.clone());
        // On the event loop, so that no request runs between cancelling the waits and ending
        // the connections. If the event loop has stopped there is nobody left to end.
        drop(self.event_loop.spawn(async move {
            on_table!(&shared, s => s.shut_down().await);
            stop.send_replace(true);
        }));
    }
}

impl Server {
    /// A server with `config` over `mgr`. Starts the server's event-loop thread.
    ///
    /// # Panics
    /// If the operating system refuses to start a thread or create its runtime.
    pub fn new(mgr: LockManager, config: Config) -> Self {
        Self::over(Tables::Memory(Arc::new(Shared::new(
            table::Memory::new(mgr),
            config,
        ))))
    }

    /// A server with `config` over the lock table of the etcd cluster `mgr` is connected to:
    /// every server with the same cluster and prefix serves the same locks. All its connections
    /// are sessions on one lease (the manager's shared lease); when that lease is lost, the
    /// connections that held or waited on it are closed. Starts the event-loop thread.
    ///
    /// # Panics
    /// As [`Server::new`].
    #[cfg(feature = "etcd")]
    pub fn with_etcd(mgr: crate::etcd::EtcdManager, config: Config) -> Self {
        Self::over(Tables::Etcd(Arc::new(Shared::new(
            table::Etcd { mgr },
            config,
        ))))
    }

    fn over(shared: Tables) -> Self {
        Server {
            event_loop: EventLoop::start().expect("starting the lockd event-loop thread"),
            shared,
            stop: watch::channel(false).0,
            closing: watch::channel(false).0,
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        on_table!(&self.shared, s => &s.config)
    }

    /// The server's own metrics (not part of the protocol's `q`).
    pub fn stats(&self) -> ServerStats {
        on_table!(&self.shared, s => s.counters.server_stats())
    }

    /// A handle to close or destroy the server while it serves.
    pub fn handle(&self) -> Handle {
        Handle {
            stop: self.stop.clone(),
            closing: self.closing.clone(),
            shared: self.shared.clone(),
            event_loop: self.event_loop.handle.clone(),
        }
    }

    /// Binds the configured TCP address and port, with the configured listen backlog. The
    /// error says which address could not be bound.
    pub async fn bind(&self) -> io::Result<TcpListener> {
        let config = self.config();
        crate::net::bind_tcp(SocketAddr::new(config.bind, config.port), config.backlog)
    }

    /// Binds the configured address on another port (a TLS listener's), with the configured
    /// backlog.
    pub async fn bind_port(&self, port: u16) -> io::Result<TcpListener> {
        let config = self.config();
        crate::net::bind_tcp(SocketAddr::new(config.bind, port), config.backlog)
    }

    /// Serves `listener` until `shutdown` resolves (then every client is disconnected and its
    /// locks released, as [`Handle::destroy`]) or the server is closed or destroyed through a
    /// [`Handle`]. Returns once every connection has finished its cleanup.
    pub async fn serve(&self, listener: TcpListener, shutdown: impl Future) -> io::Result<()> {
        let listener = listener.into_std()?;
        let keepalive = self.config().keepalive.map(KeepaliveProbes::for_bound);
        self.on_event_loop(shutdown, move || {
            Ok(TcpAcceptor::new(
                TcpListener::from_std(listener)?,
                keepalive,
            ))
        })
        .await
    }

    /// Serves `listener` with TLS (feature `tls`), as [`serve`](Self::serve): the handshake runs
    /// in each connection's own task, within `files.handshake_timeout`; with
    /// `files.client_ca`, clients must present a certificate it signed, and its subject is the
    /// connection's display id. Certificate files that change are read again for later
    /// connections. Fails at once if the files cannot be loaded.
    #[cfg(feature = "tls")]
    pub async fn serve_tls(
        &self,
        listener: TcpListener,
        files: TlsFiles,
        shutdown: impl Future,
    ) -> io::Result<()> {
        let tls = crate::tls::Tls::new(files)?;
        let listener = listener.into_std()?;
        let keepalive = self.config().keepalive.map(KeepaliveProbes::for_bound);
        self.on_event_loop(shutdown, move || {
            Ok(listener::TlsAcceptor {
                tcp: TcpAcceptor::new(TcpListener::from_std(listener)?, keepalive),
                tls,
            })
        })
        .await
    }

    /// Serves a Unix-domain listener, as [`serve`](Self::serve); peers get `unix:N` ids.
    #[cfg(unix)]
    pub async fn serve_unix(
        &self,
        listener: tokio::net::UnixListener,
        shutdown: impl Future,
    ) -> io::Result<()> {
        let listener = listener.into_std()?;
        self.on_event_loop(shutdown, move || {
            Ok(listener::UnixAcceptor::new(
                tokio::net::UnixListener::from_std(listener)?,
            ))
        })
        .await
    }

    /// Runs an accept loop on the server's event loop until it ends; `shutdown` (polled here,
    /// on the caller's runtime) destroys the server.
    async fn on_event_loop<A, F>(&self, shutdown: impl Future, make: F) -> io::Result<()>
    where
        A: Acceptor + Send + Sync + 'static,
        F: FnOnce() -> io::Result<A> + Send + 'static,
    {
        let shared = self.shared.clone();
        let (stop, closing) = (self.stop.clone(), self.closing.clone());
        let task = self.event_loop.handle.spawn(async move {
            let acceptor = make()?; // registers the listener with the event loop's reactor
            on_table!(shared, s => accept_loop(&acceptor, s, stop, closing).await)
        });
        let handle = self.handle();
        tokio::pin!(task);
        tokio::select! {
            r = &mut task => return r.unwrap_or_else(|e| Err(io::Error::other(e))),
            _ = shutdown => handle.destroy(),
        }
        task.await.unwrap_or_else(|e| Err(io::Error::other(e)))
    }
}
