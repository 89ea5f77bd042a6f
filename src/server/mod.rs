//! `tcp-server`: the lockd line-protocol server, wire-compatible with glockd and the Node
//! lockd port (see `../shared/spec/lockd-protocol.md`).
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
    /// This server's connections, by session id.
    pub(crate) peers: Mutex<HashMap<u64, Peer>>,
}

/// `unix:N` ids count from 1 per process, across all Unix listeners, never reused (§1.1).
#[cfg(unix)]
static UNIX_SEQ: AtomicU64 = AtomicU64::new(0);

/// One protocol connection, as other connections need to know it.
pub(crate) struct Peer {
    /// Its display id (§1.1).
    pub(crate) id: Arc<[u8]>,
    /// Its socket, to check whether the peer has gone (see [`Shared::peer_gone`]).
    pub(crate) fd: Option<i32>,
}

impl Shared {
    /// A holder's display id (§1.1): the connection's id, `consul:UUID` for a Consul session
    /// of the HTTP API, else `local:N` for an in-process session N (`local:0` for a
    /// session-less in-process guard).
    pub(crate) fn display_id(&self, session: Option<u64>) -> Vec<u8> {
        if let Some(id) = session.and_then(|s| self.peers.lock().get(&s).map(|p| p.id.clone())) {
            return id.to_vec();
        }
        // A Consul session's core session carries its display id as its name.
        if let Some(name) = session.and_then(|s| self.mgr.session_name(s)) {
            if name.as_bytes().starts_with(b"consul:") {
                return name.as_bytes().to_vec();
            }
        }
        format!("local:{}", session.unwrap_or(0)).into_bytes()
    }

    /// Whether `session` is one of this server's connections whose peer has closed or reset
    /// the socket, so that its cleanup is due but has not run yet (its FIN was reported after a
    /// later request). A non-blocking `MSG_PEEK`: 0 bytes means EOF with nothing left unread.
    pub(crate) fn peer_gone(&self, session: u64) -> bool {
        let peers = self.peers.lock();
        // The connection removes itself from `peers` before its socket is closed, and all
        // connections run on the one event-loop thread: the descriptor is still its own here.
        let Some(fd) = peers.get(&session).and_then(|p| p.fd) else {
            return false;
        };
        peek_gone(fd)
    }

    /// Whether any holder of the core lock `name` is a connection of ours that has gone.
    pub(crate) fn holder_gone(&self, name: &[u8]) -> bool {
        self.mgr
            .holder_sessions(name)
            .into_iter()
            .any(|s| s != 0 && self.peer_gone(s))
    }
}

#[cfg(target_os = "linux")]
fn peek_gone(fd: i32) -> bool {
    let mut byte = 0u8;
    // SAFETY: `fd` is an open socket (see `peer_gone`); the buffer is one valid byte.
    let n = unsafe {
        libc::recv(
            fd,
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    match n {
        0 => true,
        n if n > 0 => false,
        _ => !matches!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EAGAIN | libc::EINTR)
        ),
    }
}

#[cfg(not(target_os = "linux"))]
fn peek_gone(_fd: i32) -> bool {
    false
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
    /// The stream's socket descriptor, for [`Shared::peer_gone`].
    fn fd(stream: &Self::Stream) -> Option<i32>;
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

    fn fd(stream: &Self::Stream) -> Option<i32> {
        #[cfg(unix)]
        return Some(std::os::fd::AsRawFd::as_raw_fd(stream));
        #[cfg(not(unix))]
        return None;
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

    fn fd(stream: &Self::Stream) -> Option<i32> {
        Some(std::os::fd::AsRawFd::as_raw_fd(stream))
    }
}

impl Server {
    /// A server with `config` over `mgr`. Starts the server's event-loop thread.
    ///
    /// # Panics
    /// If the operating system refuses to start a thread or create its runtime.
    pub fn new(mgr: LockManager, config: Config) -> Self {
        Server {
            event_loop: EventLoop::start().expect("starting the lockd event-loop thread"),
            shared: Arc::new(Shared {
                mgr,
                config,
                counters: Default::default(),
                registry: Default::default(),
                peers: Mutex::new(HashMap::new()),
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
        let listener = listener.into_std()?;
        let keepalive = self.shared.config.keepalive;
        self.on_event_loop(shutdown, move || {
            Ok(TcpAcceptor {
                listener: TcpListener::from_std(listener)?,
                keepalive,
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
            Ok(UnixAcceptor {
                listener: tokio::net::UnixListener::from_std(listener)?,
            })
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
            accept_loop(&acceptor, shared, stop, closing).await
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

/// Accepts connections until the server is closed or destroyed, then waits until every
/// connection has finished its cleanup. Runs on the event loop.
async fn accept_loop<A: Acceptor>(
    acceptor: &A,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    closing: watch::Sender<bool>,
) -> io::Result<()> {
    let limit = Arc::new(Semaphore::new(shared.config.max_connections));
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let mut closing = closing.subscribe();
    let mut backoff = Duration::from_millis(5);
    loop {
        let accepted = tokio::select! {
            r = acceptor.accept() => r,
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
        shared.counters.connections.fetch_add(1, Ordering::SeqCst);
        let (shared, stop, done) = (shared.clone(), stop.subscribe(), done_tx.clone());
        let fd = A::fd(&stream);
        tokio::spawn(async move {
            connection::serve(
                stream,
                Peer {
                    id: Arc::from(id),
                    fd,
                },
                shared,
                stop,
            )
            .await;
            drop(permit);
            drop(done);
        });
    }
    drop(done_tx);
    let _ = done_rx.recv().await; // every connection task has finished its cleanup
    Ok(())
}
