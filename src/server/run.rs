//! A whole lockd process's servers over one lock table, run until a shutdown future resolves:
//! the lockd protocol on TCP and on a Unix socket, and (feature `http`) the Consul API. This is
//! what the `lockd` binary calls after parsing its options; an embedding program can call it the
//! same way.

use std::future::Future;
use std::io;

use tokio::net::TcpListener;

use super::Server;
#[cfg(unix)]
use super::listener::UnixSocketGuard;

/// The listeners [`run`] serves; any of them may be left out.
#[derive(Default)]
#[non_exhaustive]
pub struct Listeners {
    /// The lockd protocol over TCP (from [`Server::bind`]).
    pub tcp: Option<TcpListener>,
    /// The lockd protocol over a Unix socket (from [`bind_unix`](super::bind_unix)); the guard
    /// removes the socket file when `run` returns, if it is still this server's.
    #[cfg(unix)]
    pub unix: Option<(tokio::net::UnixListener, UnixSocketGuard)>,
    /// The Consul API server, over the same lock table as `server` (made with a clone of its
    /// manager), and its plaintext listener (from
    /// [`HttpServer::bind`](crate::http::HttpServer::bind)) if it has one.
    #[cfg(feature = "http")]
    pub http: Option<(crate::http::HttpServer, Option<TcpListener>)>,
    /// The Consul API over TLS (features `http` and `tls`), served by the server in `http`,
    /// with its certificate files.
    #[cfg(all(feature = "http", feature = "tls"))]
    pub https: Option<(TcpListener, super::TlsFiles)>,
    /// The lockd protocol over TLS (feature `tls`), with its certificate files.
    #[cfg(feature = "tls")]
    pub tls: Option<(TcpListener, super::TlsFiles)>,
}

/// Serves every listener in `listeners` until `shutdown` resolves; then stops granting, ends
/// every connection (releasing its locks), and returns once all have finished their cleanup.
/// The first listener that fails ends the run with its error, after the others are stopped too.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use lockd::LockManager;
/// use lockd::server::{Config, Listeners, Server, run};
///
/// let server = Server::new(LockManager::new(), Config::default().port(0));
/// let mut listeners = Listeners::default();
/// listeners.tcp = Some(server.bind().await?);
/// run(&server, listeners, tokio::signal::ctrl_c()).await
/// # }
/// ```
pub async fn run(server: &Server, listeners: Listeners, shutdown: impl Future) -> io::Result<()> {
    let handle = server.handle();
    #[cfg(feature = "http")]
    let (http, http_handle) = match listeners.http {
        Some((http, listener)) => {
            let handle = http.handle();
            (Some((http, listener)), Some(handle))
        }
        None => (None, None),
    };
    let stop_all = {
        #[cfg(feature = "http")]
        let http_handle = http_handle.clone();
        let handle = handle.clone();
        move || {
            // First stop granting and disconnect everyone; only then say so (a log line that
            // cannot be written must not hold anything up).
            handle.destroy();
            #[cfg(feature = "http")]
            if let Some(h) = &http_handle {
                h.shutdown();
            }
        }
    };
    let lockd_tcp = async {
        match listeners.tcp {
            Some(l) => server.serve(l, std::future::pending::<()>()).await,
            None => Ok(()),
        }
    };
    #[cfg(unix)]
    let (unix, unix_guard) = match listeners.unix {
        Some((l, guard)) => (Some(l), Some(guard)),
        None => (None, None),
    };
    let lockd_unix = async {
        #[cfg(unix)]
        if let Some(l) = unix {
            return server.serve_unix(l, std::future::pending::<()>()).await;
        }
        Ok(())
    };
    let lockd_tls = async {
        #[cfg(feature = "tls")]
        if let Some((l, files)) = listeners.tls {
            return server
                .serve_tls(l, files, std::future::pending::<()>())
                .await;
        }
        Ok::<(), io::Error>(())
    };
    #[cfg(all(feature = "http", feature = "tls"))]
    let https = listeners.https;
    let consul = async {
        #[cfg(feature = "http")]
        if let Some((http, plain)) = http {
            let http = &http;
            let plain = async {
                match plain {
                    Some(l) => http.serve(l, std::future::pending::<()>()).await,
                    None => Ok(()),
                }
            };
            let tls = async {
                #[cfg(feature = "tls")]
                if let Some((l, files)) = https {
                    return http.serve_tls(l, files, std::future::pending::<()>()).await;
                }
                Ok::<(), io::Error>(())
            };
            // The first to fail stops the other (`serve` ends both on its way out).
            return tokio::try_join!(plain, tls).map(|_| ());
        }
        #[cfg(all(feature = "http", feature = "tls"))]
        if https.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "Listeners::https is served by the HttpServer in Listeners::http, which is None",
            ));
        }
        Ok::<(), io::Error>(())
    };
    let serving = async {
        // Whichever ends first with an error stops the rest.
        let fail_fast = |r: io::Result<()>| {
            if r.is_err() {
                stop_all();
            }
            r
        };
        let (a, b, c, d) = tokio::join!(
            async { fail_fast(lockd_tcp.await) },
            async { fail_fast(lockd_unix.await) },
            async { fail_fast(consul.await) },
            async { fail_fast(lockd_tls.await) },
        );
        a.and(b).and(c).and(d)
    };
    tokio::pin!(serving);
    let result = tokio::select! {
        r = &mut serving => r,
        _ = shutdown => {
            stop_all();
            tracing::info!("shutting down: clients disconnected and their locks released");
            (&mut serving).await
        }
    };
    #[cfg(unix)]
    drop(unix_guard); // removes the socket file if it is still ours
    result
}
