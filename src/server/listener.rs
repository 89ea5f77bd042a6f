//! Listening: binding TCP and Unix sockets (with the configured backlog, and without ever
//! taking over another live server's socket), accepting with keepalive probes set, and the
//! accept loop, which never waits on connection work and never leaves a client hanging when
//! file descriptors run out.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use super::config::KeepaliveProbes;
use super::connection;
use super::hangups::RawFd;
use super::shared::Shared;
use super::table::Table;
use crate::net::{Backoff, Spare, backlog_arg, with_context};

/// Removes a Unix socket file when dropped, if the file is still the one this server bound
/// (another server may have replaced it since).
#[cfg(unix)]
#[derive(Debug)]
pub struct UnixSocketGuard {
    path: std::path::PathBuf,
    /// (device, inode, change time) of the socket file we created: an inode number alone may
    /// be reused by a file created after ours was removed.
    ours: (u64, u64, i64, i64),
}

#[cfg(unix)]
impl UnixSocketGuard {
    /// The socket file's path.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

#[cfg(unix)]
impl Drop for UnixSocketGuard {
    fn drop(&mut self) {
        if let Ok(meta) = std::fs::symlink_metadata(&self.path) {
            if identity(&meta) == self.ours {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> (u64, u64, i64, i64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec())
}

/// Binds a Unix-domain socket at `path` with `backlog` pending connections. An existing
/// socket file there is replaced only if it is stale (nothing accepts on it: connecting is
/// refused); a live one, or any other kind of file, is an error that says so. The guard
/// removes the file when dropped, if it is still ours.
#[cfg(unix)]
pub fn bind_unix(
    path: &std::path::Path,
    backlog: u32,
) -> io::Result<(tokio::net::UnixListener, UnixSocketGuard)> {
    use std::os::unix::fs::FileTypeExt;
    let named = |e: io::Error, why: &str| with_context(e, format!("{}: {why}", path.display()));
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a socket; refusing to replace it",
                    path.display()
                ),
            ));
        }
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "{} is the socket of a running server (it accepts connections); \
                         refusing to replace it",
                        path.display()
                    ),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                std::fs::remove_file(path).map_err(|e| named(e, "removing a stale socket"))?;
            }
            Err(e) => return Err(named(e, "cannot tell whether the existing socket is stale")),
        }
    }
    let bind = || -> io::Result<std::os::unix::net::UnixListener> {
        use socket2::{Domain, SockAddr, Socket, Type};
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        socket.bind(&SockAddr::unix(path)?)?;
        socket.listen(backlog_arg(backlog))?;
        socket.set_nonblocking(true)?;
        Ok(socket.into())
    };
    let listener = bind().map_err(|e| named(e, "cannot listen"))?;
    let meta = std::fs::symlink_metadata(path).map_err(|e| named(e, "bound, but"))?;
    let guard = UnixSocketGuard {
        path: path.to_owned(),
        ours: identity(&meta),
    };
    Ok((tokio::net::UnixListener::from_std(listener)?, guard))
}

/// A listener that yields connections with their display ids (§1.1).
pub(crate) trait Acceptor {
    /// An accepted socket.
    type Raw: Send + 'static;
    /// What the protocol runs over.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Raw, Vec<u8>)>> + Send;
    /// The socket's descriptor, watched for hang-ups.
    fn fd(raw: &Self::Raw) -> Option<RawFd>;
    /// Turns an accepted socket into the protocol's stream (TLS: the handshake), in the
    /// connection's own task; with a display id that replaces the socket's (a client
    /// certificate's subject).
    fn upgrade(
        &self,
        raw: Self::Raw,
    ) -> impl Future<Output = io::Result<(Self::Stream, Option<Vec<u8>>)>> + Send + 'static;
}

pub(crate) struct TcpAcceptor {
    listener: TcpListener,
    keepalive: Option<KeepaliveProbes>,
}

impl TcpAcceptor {
    pub(crate) fn new(listener: TcpListener, keepalive: Option<KeepaliveProbes>) -> Self {
        TcpAcceptor {
            listener,
            keepalive,
        }
    }
}

impl Acceptor for TcpAcceptor {
    type Raw = tokio::net::TcpStream;
    type Stream = tokio::net::TcpStream;
    async fn accept(&self) -> io::Result<(Self::Stream, Vec<u8>)> {
        let (stream, peer) = self.listener.accept().await?;
        let _ = stream.set_nodelay(true);
        if let Some(probes) = &self.keepalive {
            // A peer that vanished is detected within the configured bound, and its locks
            // released (§2).
            if let Err(e) = probes.apply(&socket2::SockRef::from(&stream)) {
                tracing::debug!(error = %e, "setting keepalive probes failed");
            }
        }
        Ok((stream, tcp_peer_id(peer).into_bytes()))
    }

    fn fd(stream: &Self::Raw) -> Option<RawFd> {
        #[cfg(unix)]
        return Some(std::os::fd::AsRawFd::as_raw_fd(stream));
        #[cfg(not(unix))]
        return None;
    }

    fn upgrade(
        &self,
        raw: Self::Raw,
    ) -> impl Future<Output = io::Result<(Self::Stream, Option<Vec<u8>>)>> + Send + 'static {
        std::future::ready(Ok((raw, None)))
    }
}

/// TCP with TLS on top (feature `tls`).
#[cfg(feature = "tls")]
pub(crate) struct TlsAcceptor {
    pub(crate) tcp: TcpAcceptor,
    pub(crate) tls: crate::tls::Tls,
}

#[cfg(feature = "tls")]
impl Acceptor for TlsAcceptor {
    type Raw = tokio::net::TcpStream;
    type Stream = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;

    fn accept(&self) -> impl Future<Output = io::Result<(Self::Raw, Vec<u8>)>> + Send {
        self.tcp.accept()
    }

    fn fd(raw: &Self::Raw) -> Option<RawFd> {
        TcpAcceptor::fd(raw)
    }

    fn upgrade(
        &self,
        raw: Self::Raw,
    ) -> impl Future<Output = io::Result<(Self::Stream, Option<Vec<u8>>)>> + Send + 'static {
        self.tls.handshake(raw)
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

/// `unix:N` ids count from 1 per process, across all Unix listeners, never reused (§1.1).
#[cfg(unix)]
static UNIX_SEQ: AtomicU64 = AtomicU64::new(0);

#[cfg(unix)]
pub(crate) struct UnixAcceptor {
    listener: tokio::net::UnixListener,
}

#[cfg(unix)]
impl UnixAcceptor {
    pub(crate) fn new(listener: tokio::net::UnixListener) -> Self {
        UnixAcceptor { listener }
    }
}

#[cfg(unix)]
impl Acceptor for UnixAcceptor {
    type Raw = tokio::net::UnixStream;
    type Stream = tokio::net::UnixStream;
    async fn accept(&self) -> io::Result<(Self::Stream, Vec<u8>)> {
        let (stream, _) = self.listener.accept().await?;
        // `unix:N`: counted from 1 per process across all Unix listeners, never reused.
        let n = UNIX_SEQ.fetch_add(1, Ordering::SeqCst) + 1;
        Ok((stream, format!("unix:{n}").into_bytes()))
    }

    fn fd(stream: &Self::Raw) -> Option<RawFd> {
        Some(std::os::fd::AsRawFd::as_raw_fd(stream))
    }

    fn upgrade(
        &self,
        raw: Self::Raw,
    ) -> impl Future<Output = io::Result<(Self::Stream, Option<Vec<u8>>)>> + Send + 'static {
        std::future::ready(Ok((raw, None)))
    }
}

/// Accepts connections until the server is closed or destroyed, then waits until every
/// connection has finished its cleanup. Runs on the event loop.
pub(crate) async fn accept_loop<A: Acceptor, T: Table>(
    acceptor: &A,
    shared: Arc<Shared<T>>,
    stop: watch::Sender<bool>,
    closing: watch::Sender<bool>,
) -> io::Result<()> {
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let mut closing = closing.subscribe();
    let mut spare = Spare::new();
    let mut backoff = Backoff::new();
    loop {
        let accepted = tokio::select! {
            biased;
            _ = closing.wait_for(|c| *c) => break,
            r = acceptor.accept() => r,
        };
        let (stream, id) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors: the waiting client is closed rather than left in the
                // backlog, and the loop goes on.
                if Spare::out_of_descriptors(&e) && spare.shed(|| acceptor.accept()).await {
                    let refused = shared.counters.refused.fetch_add(1, Ordering::Relaxed);
                    if refused.is_power_of_two() || refused == 0 {
                        tracing::warn!(error = %e, refused = refused + 1,
                            "out of file descriptors: connections are closed at once");
                    }
                } else {
                    backoff.after(&e, "lockd").await;
                }
                continue;
            }
        };
        backoff.reset();
        let Ok(permit) = shared.connection_permits.clone().try_acquire_owned() else {
            // Over --max-connections: closed at once, nothing sent, not counted.
            shared.counters.refused.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                peer = %String::from_utf8_lossy(&id),
                limit = shared.config.max_connections,
                "connection refused: at the connection limit"
            );
            drop(stream);
            continue;
        };
        shared.counters.connections.fetch_add(1, Ordering::SeqCst);
        let (shared, mut stop, done) = (shared.clone(), stop.subscribe(), done_tx.clone());
        let fd = A::fd(&stream);
        let upgrade = acceptor.upgrade(stream);
        tokio::spawn(async move {
            let upgraded = tokio::select! {
                biased;
                _ = stop.wait_for(|destroy| *destroy) => Err(io::Error::other("server shutdown")),
                r = upgrade => r,
            };
            match upgraded {
                Ok((stream, better_id)) => {
                    let id = better_id.unwrap_or(id);
                    connection::serve(stream, Arc::from(id), fd, shared, stop).await;
                }
                Err(e) => {
                    // A failed handshake: the client is closed, nothing else happens.
                    tracing::debug!(peer = %String::from_utf8_lossy(&id), error = %e, "connection closed before the protocol began");
                    shared.counters.connections.fetch_sub(1, Ordering::SeqCst);
                }
            }
            drop(permit);
            drop(done);
        });
    }
    drop(done_tx);
    let _ = done_rx.recv().await; // every connection task has finished its cleanup
    Ok(())
}

/// Raises this process's soft limit on open files to its hard limit (as Redis does at start),
/// and returns the soft limit now in force. Every connection needs a descriptor.
#[cfg(unix)]
pub fn raise_fd_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid `rlimit` for the call to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: `raised` is a valid `rlimit`; raising the soft limit up to the hard one needs
        // no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 everywhere
    Ok(limit.rlim_cur as u64)
}
