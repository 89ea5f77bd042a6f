//! `tcp-server`: the lockd line-protocol server, wire-compatible with glockd and the Node
//! lockd port (see `../shared/spec/lockd-protocol.md`).
//!
//! In the manner of mini-redis: an accept loop that never waits on connection work, a
//! connection-limit semaphore whose permit moves into each connection task, a watch channel that
//! tells every connection to end at once (destroy), and a drop-tracker channel to wait until all
//! of them have cleaned up. Each connection is a core [`Session`](crate::Session); the commands
//! translate requests into session calls (`commands.rs`).
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
mod registry;
mod stats;

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};

pub use commands::SHARED_NAMESPACE_PREFIX;
pub use config::Config;

use crate::LockManager;
use crate::sync::Mutex;

/// What every connection of one server shares.
pub(crate) struct Shared {
    pub(crate) mgr: LockManager,
    pub(crate) config: Config,
    pub(crate) counters: stats::Counters,
    pub(crate) registry: registry::Registry,
    /// Display ids of this server's connections, by session id.
    pub(crate) ids: Mutex<HashMap<u64, Arc<[u8]>>>,
}

/// `unix:N` ids count from 1 per process, across all Unix listeners, never reused (§1.1).
#[cfg(unix)]
static UNIX_SEQ: AtomicU64 = AtomicU64::new(0);

impl Shared {
    /// A holder's display id (§1.1): the connection's id, else `local:N` for an in-process
    /// session N (`local:0` for a session-less in-process guard).
    pub(crate) fn display_id(&self, session: Option<u64>) -> Vec<u8> {
        if let Some(id) = session.and_then(|s| self.ids.lock().get(&s).cloned()) {
            return id.to_vec();
        }
        format!("local:{}", session.unwrap_or(0)).into_bytes()
    }
}

/// The id of a TCP peer (§1.1): IPv4 (also when IPv4-mapped) as `a.b.c.d:PORT`, IPv6 as
/// `[addr]:PORT`.
pub fn tcp_peer_id(peer: SocketAddr) -> String {
    match peer {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => format!("{v4}:{}", v6.port()),
            None => format!("[{}]:{}", v6.ip(), v6.port()),
        },
        SocketAddr::V4(v4) => v4.to_string(),
    }
}

/// A lockd server over a [`LockManager`] the program may also use in-process.
pub struct Server {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    closing: watch::Sender<bool>,
}

/// Stops a running [`Server`] from elsewhere.
#[derive(Clone)]
pub struct Handle {
    stop: watch::Sender<bool>,
    closing: watch::Sender<bool>,
}

impl Handle {
    /// Stops accepting; [`Server::serve`] returns once every client has left on its own.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Stops accepting and disconnects everyone now, releasing their locks.
    pub fn destroy(&self) {
        self.closing.send_replace(true);
        self.stop.send_replace(true);
    }
}

/// A listener that yields connections with their display ids (§1.1).
trait Acceptor {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, Vec<u8>)>> + Send;
}

struct TcpAcceptor {
    listener: TcpListener,
    keepalive: Option<Duration>,
}

impl Acceptor for TcpAcceptor {
    type Stream = tokio::net::TcpStream;
    async fn accept(&self) -> io::Result<(Self::Stream, Vec<u8>)> {
        let (stream, peer) = self.listener.accept().await?;
        let _ = stream.set_nodelay(true);
        if let Some(idle) = self.keepalive {
            // Dead peers are detected and their locks released (§2).
            let ka = socket2::TcpKeepalive::new().with_time(idle);
            let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&ka);
        }
        Ok((stream, tcp_peer_id(peer).into_bytes()))
    }
}

#[cfg(unix)]
struct UnixAcceptor {
    listener: tokio::net::UnixListener,
}

#[cfg(unix)]
impl Acceptor for UnixAcceptor {
    type Stream = tokio::net::UnixStream;
    async fn accept(&self) -> io::Result<(Self::Stream, Vec<u8>)> {
        let (stream, _) = self.listener.accept().await?;
        // `unix:N`: counted from 1 per process across all Unix listeners, never reused.
        let n = UNIX_SEQ.fetch_add(1, Ordering::SeqCst) + 1;
        Ok((stream, format!("unix:{n}").into_bytes()))
    }
}

impl Server {
    /// A server with `config` over `mgr`.
    pub fn new(mgr: LockManager, config: Config) -> Self {
        Server {
            shared: Arc::new(Shared {
                mgr,
                config,
                counters: Default::default(),
                registry: Default::default(),
                ids: Mutex::new(HashMap::new()),
            }),
            stop: watch::channel(false).0,
            closing: watch::channel(false).0,
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// A handle to close or destroy the server while it serves.
    pub fn handle(&self) -> Handle {
        Handle {
            stop: self.stop.clone(),
            closing: self.closing.clone(),
        }
    }

    /// Binds the configured TCP address and port.
    pub async fn bind(&self) -> io::Result<TcpListener> {
        TcpListener::bind((self.shared.config.bind, self.shared.config.port)).await
    }

    /// Serves `listener` until `shutdown` resolves (then every client is disconnected and its
    /// locks released, as [`Handle::destroy`]) or the server is closed or destroyed through a
    /// [`Handle`]. Returns once every connection has finished its cleanup.
    pub async fn serve(&self, listener: TcpListener, shutdown: impl Future) -> io::Result<()> {
        let acceptor = TcpAcceptor {
            listener,
            keepalive: self.shared.config.keepalive,
        };
        self.accept_loop(&acceptor, shutdown).await
    }

    /// Serves a Unix-domain listener, as [`serve`](Self::serve); peers get `unix:N` ids.
    #[cfg(unix)]
    pub async fn serve_unix(
        &self,
        listener: tokio::net::UnixListener,
        shutdown: impl Future,
    ) -> io::Result<()> {
        let acceptor = UnixAcceptor { listener };
        self.accept_loop(&acceptor, shutdown).await
    }

    async fn accept_loop<A: Acceptor>(
        &self,
        acceptor: &A,
        shutdown: impl Future,
    ) -> io::Result<()> {
        let limit = Arc::new(Semaphore::new(self.shared.config.max_connections));
        let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
        let mut closing = self.closing.subscribe();
        tokio::pin!(shutdown);
        let mut backoff = Duration::from_millis(5);
        loop {
            let accepted = tokio::select! {
                r = acceptor.accept() => r,
                _ = &mut shutdown => {
                    self.handle().destroy();
                    break;
                }
                _ = closing.wait_for(|c| *c) => break,
            };
            let (stream, id) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    // E.g. out of file descriptors: retry with backoff, never fatal.
                    tracing::warn!(error = %e, ?backoff, "accept failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            backoff = Duration::from_millis(5);
            let Ok(permit) = limit.clone().try_acquire_owned() else {
                drop(stream); // over --max-connections: closed at once, nothing sent, not counted
                continue;
            };
            self.shared
                .counters
                .connections
                .fetch_add(1, Ordering::SeqCst);
            let (shared, stop, done) =
                (self.shared.clone(), self.stop.subscribe(), done_tx.clone());
            tokio::spawn(async move {
                connection::serve(stream, Arc::from(id), shared, stop).await;
                drop(permit);
                drop(done);
            });
        }
        drop(done_tx);
        let _ = done_rx.recv().await; // every connection task has finished its cleanup
        Ok(())
    }
}
