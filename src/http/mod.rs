//! `http`: the subset of Consul's HTTP API that lock users rely on (see
//! `docs/consul-api.md`): sessions with TTL and lock-delay, KV with
//! acquire/release/CAS, blocking queries, and the agent and status endpoints, so that Consul
//! clients, the Go api `Lock`/`Semaphore` and `consul lock` work against lockd unchanged.
//!
//! A Consul session is a core [`Session`](crate::Session), and `?acquire=` of key K takes the
//! core exclusive lock K: a lockd-protocol `g K`, an in-process `get(K)` and a Consul acquire
//! all contend. This frontend keeps only what Consul has and the core does not (values, flags,
//! indexes, tombstones, the session table, lock-delays); who holds what is asked of the core.
//!
//! The server shape is that of [`server::Server`](crate::server::Server) where both exist:
//! `new`, `bind`, `serve(listener, shutdown)`, `handle`. HTTP/1.1 with keep-alive on the
//! caller's Tokio runtime; a lean connection loop of its own (`conn.rs`, `head.rs`, with
//! `httparse` for heads) rather than hyper, so that a parked blocking query costs little memory.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use lockd::LockManager;
//! use lockd::http::{HttpConfig, HttpServer};
//!
//! let mgr = LockManager::new();                 // the same locks as in-process users
//! let server = HttpServer::new(mgr.clone(), HttpConfig::default());
//! let listener = server.bind().await?;          // 127.0.0.1:8500 by default
//! server.serve(listener, tokio::signal::ctrl_c()).await
//! # }
//! ```
//!
//! Every connection is held to limits (see [`HttpConfig`]): the sizes of a request's head,
//! body, chunk extensions and trailers are counted as the bytes arrive, the ACL token is
//! checked on the head before any body is read (or `100 Continue` sent), and reads and
//! writes have timeouts. No input panics the server.
//!
//! Files: `conn.rs` (one connection), `head.rs` (HTTP/1.1 request heads), `chunked.rs`
//! (chunked bodies), `route.rs` (paths, methods, query decoding), `handler.rs` (one
//! request), `response.rs` (headers, JSON, response bytes), `session_spec.rs`
//! (session-create bodies), `store.rs`, `kv.rs`, `sessions.rs` (state and its operations),
//! `tombstones.rs` (deleted keys), `key_watch.rs` and `prefix_trie.rs` (blocking queries'
//! change signals), `duration.rs` (Go durations), `config.rs`.

mod chunked;
mod config;
mod conn;
mod handler;
mod head;
mod key_watch;
mod kv;
mod prefix_trie;
mod response;
mod route;
mod session_spec;
mod sessions;
mod store;
#[cfg(test)]
mod store_tests;
mod tombstones;

use std::future::Future;
use std::io;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

#[cfg(feature = "tls")]
pub use crate::tls::TlsFiles;
pub use config::HttpConfig;

use crate::LockManager;

/// Fuzzing entry point for the HTTP layer's parsers: the first line of `data` is
/// `METHOD PATH?QUERY`, the rest a request body. Routing, query decoding, Go durations and
/// session-create bodies never panic, and what they accept is consistent: an encoded query
/// parses back to itself, a formatted duration parses back to its value.
#[doc(hidden)]
pub fn fuzz_http_request(data: &[u8]) {
    let (line, body) = match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let line = String::from_utf8_lossy(line);
    let (method, target) = line.split_once(' ').unwrap_or(("GET", &line));
    let (path, raw_query) = target.split_once('?').unwrap_or((target, ""));
    let _ = route::route(method, path);
    let query = route::Query::parse(raw_query);
    assert_eq!(
        route::Query::parse(&query.encode()).encode(),
        query.encode(),
        "re-encoding changed the query"
    );
    for name in ["wait", "index", "flags", "cas"] {
        if let Some(v) = query.get(name) {
            if let Ok(ns) = crate::duration::parse(v) {
                assert_eq!(
                    crate::duration::parse(&crate::duration::format(ns)),
                    Ok(ns),
                    "{v}"
                );
            }
        }
    }
    let _ = session_spec::parse(body, "lockd", std::time::Duration::from_secs(10));
    // The same bytes as an HTTP/1.1 stream: head, then a chunked body. The head scanner, fed
    // the bytes as reads would bring them, agrees with a parse of the whole; the chunked
    // decoder gives the same result however its input is cut.
    let limits = head::HeadLimits::default();
    let parsed = head::parse_head(data, limits);
    let mut scanner = head::HeadScanner::default();
    for end in (0..data.len()).step_by(7).chain([data.len()]) {
        match scanner.poll(&data[..end], limits) {
            Ok(None) => {}
            Ok(Some(found)) => {
                assert_eq!(parsed, Ok(Some(found)), "the scanner and the parser differ");
                break;
            }
            Err(_) => break,
        }
    }
    if let Ok(Some((head, taken))) = parsed {
        assert!(taken <= data.len());
        let _ = head.path();
        let rest = &data[taken..];
        let limits = chunked::ChunkedLimits {
            body: 1 << 16,
            extensions: 1 << 10,
            trailers: 1 << 10,
        };
        let whole = chunked::decode(rest, limits);
        if let Ok(Some((decoded, used))) = &whole {
            assert!(*used <= rest.len() && decoded.len() <= *used);
        }
        let mut decoder = chunked::ChunkedDecoder::new(limits);
        let mut body = Vec::new();
        let mut used = 0;
        let mut piecewise = Ok(None);
        for piece in rest.chunks(3) {
            match decoder.feed(piece, &mut body) {
                Err(e) => {
                    piecewise = Err(e);
                    break;
                }
                Ok(n) => used += n,
            }
            if decoder.is_done() {
                piecewise = Ok(Some((body, used)));
                break;
            }
        }
        assert_eq!(
            piecewise, whole,
            "the chunked decoder depends on how its input is cut"
        );
    }
}

#[cfg(test)]
mod fuzz_sweep {
    /// A deterministic pseudo-random sweep through the fuzz target, biased towards the bytes
    /// HTTP framing cares about: a cheap stand-in for a fuzz run in every test run.
    #[test]
    fn random_requests_never_panic() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let pieces: [&[u8]; 12] = [
            b"PUT /v1/kv/a HTTP/1.1\r\n",
            b"Transfer-Encoding: chunked\r\n",
            b"Content-Length: 5\r\n",
            b"\r\n",
            b"\n",
            b"fffffffffffffffe",
            b"0",
            b";ext=1",
            b"abc",
            b"T: x\r\n",
            b" ",
            b"+",
        ];
        for _ in 0..20_000 {
            let mut data = Vec::new();
            for _ in 0..(x % 12) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                data.extend_from_slice(pieces[(x % 12) as usize]);
            }
            super::fuzz_http_request(&data);
        }
    }
}

/// Parses a Go-syntax duration, as the API and the `lockd` options take them (the same as
/// [`lockd::parse_duration`](crate::parse_duration)).
pub use crate::duration::parse_duration;

/// The Consul-compatible HTTP API server over a [`LockManager`].
pub struct HttpServer {
    shared: Arc<handler::Shared>,
    stop: watch::Sender<bool>,
    /// `max_connections`, across all the listeners it serves.
    permits: Arc<Semaphore>,
}

/// Counts from [`HttpServer::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpStats {
    /// Live Consul sessions.
    pub sessions: usize,
    /// Stored KV entries.
    pub keys: usize,
    /// Tombstones of deleted keys not yet reaped.
    pub tombstones: usize,
    /// Blocking queries parked now.
    pub parked_queries: usize,
    /// Open HTTP connections.
    pub connections: usize,
    /// The global index.
    pub index: u64,
}

/// Stops a running [`HttpServer`] from elsewhere.
#[derive(Clone)]
pub struct HttpHandle {
    stop: watch::Sender<bool>,
}

impl HttpHandle {
    /// Stops accepting and closes every connection now (parked blocking queries included).
    /// Sessions and keys stay in the server until it is dropped.
    pub fn shutdown(&self) {
        self.stop.send_replace(true);
    }
}

impl HttpServer {
    /// A server with `config` over `mgr`.
    pub fn new(mgr: LockManager, config: HttpConfig) -> Self {
        let store = store::Store::new(mgr, config.node.clone(), config.tombstone_ttl);
        let config_limit = config.max_connections;
        HttpServer {
            shared: Arc::new(handler::Shared {
                store: Arc::new(store),
                parked: Default::default(),
                connections: Default::default(),
                config,
                node_id: session_spec::new_uuid(),
            }),
            stop: watch::channel(false).0,
            permits: Arc::new(Semaphore::new(config_limit)),
        }
    }

    /// The settings.
    pub fn config(&self) -> &HttpConfig {
        &self.shared.config
    }

    /// What the server holds right now.
    ///
    /// ```
    /// use lockd::{LockManager, http::{HttpConfig, HttpServer}};
    ///
    /// let server = HttpServer::new(LockManager::new(), HttpConfig::default());
    /// assert_eq!(server.stats().sessions, 0);
    /// ```
    pub fn stats(&self) -> HttpStats {
        let st = self.shared.store.lock();
        HttpStats {
            sessions: st.sessions.len(),
            keys: st.kv.len(),
            tombstones: st.tombstones.len(),
            parked_queries: self
                .shared
                .parked
                .load(std::sync::atomic::Ordering::Relaxed),
            connections: self
                .shared
                .connections
                .load(std::sync::atomic::Ordering::Relaxed),
            index: st.index,
        }
    }

    /// A handle to stop the server while it serves.
    pub fn handle(&self) -> HttpHandle {
        HttpHandle {
            stop: self.stop.clone(),
        }
    }

    /// Binds the configured address.
    pub async fn bind(&self) -> io::Result<TcpListener> {
        let config = &self.shared.config;
        crate::net::bind_tcp(config.bind, config.backlog)
    }

    /// Serves `listener` until `shutdown` resolves or [`HttpHandle::shutdown`] is called; then
    /// closes every connection. Sessions and their locks live until the server is dropped
    /// (or destroyed, or expired, through the API).
    pub async fn serve(&self, listener: TcpListener, shutdown: impl Future) -> io::Result<()> {
        self.serve_with(listener, None, shutdown).await
    }

    /// Binds `addr` with the configured backlog: for a second listener, such as the HTTPS one
    /// beside [`bind`](Self::bind)'s.
    pub async fn bind_addr(&self, addr: std::net::SocketAddr) -> io::Result<TcpListener> {
        crate::net::bind_tcp(addr, self.shared.config.backlog)
    }

    /// Serves `listener` with TLS (feature `tls`; HTTPS), as [`serve`](Self::serve): the
    /// handshake runs in each connection's own task within `files.handshake_timeout`, and with
    /// `files.client_ca` a client needs a certificate signed by one of those CAs. Certificate
    /// files that change are read again for new connections (checked at most once a second).
    /// The same server may serve plaintext and TLS listeners at once: one store behind both.
    #[cfg(feature = "tls")]
    pub async fn serve_tls(
        &self,
        listener: TcpListener,
        files: TlsFiles,
        shutdown: impl Future,
    ) -> io::Result<()> {
        let tls = Arc::new(crate::tls::Tls::new(files)?);
        self.serve_with(listener, Some(tls), shutdown).await
    }

    async fn serve_with(
        &self,
        listener: TcpListener,
        #[cfg(feature = "tls")] tls: Option<Arc<crate::tls::Tls>>,
        #[cfg(not(feature = "tls"))] _tls: Option<std::convert::Infallible>,
        shutdown: impl Future,
    ) -> io::Result<()> {
        let local = listener.local_addr()?;
        let mut stop = self.stop.subscribe();
        let mut spare = crate::net::Spare::new();
        let mut backoff = crate::net::Backoff::new();
        let mut shed = 0u64;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, _) = match accepted {
                        Ok(conn) => conn,
                        Err(e) => {
                            // Out of descriptors: the waiting client is closed rather than left
                            // in the backlog; other failures back off. The others keep being
                            // served either way.
                            if crate::net::Spare::out_of_descriptors(&e)
                                && spare.shed(|| listener.accept()).await
                            {
                                shed += 1;
                                if shed.is_power_of_two() {
                                    tracing::warn!(error = %e, refused = shed,
                                        "http: out of file descriptors: connections are closed at once");
                                }
                            } else {
                                backoff.after(&e, "http").await;
                            }
                            continue;
                        }
                    };
                    backoff.reset();
                    let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                        continue; // over the connection limit: closed at once
                    };
                    let _ = stream.set_nodelay(true);
                    let shared = self.shared.clone();
                    let mut stop = self.stop.subscribe();
                    #[cfg(feature = "tls")]
                    let tls = tls.clone();
                    tokio::spawn(async move {
                        let serving = async {
                            #[cfg(feature = "tls")]
                            if let Some(tls) = tls {
                                // Boxed: a TLS connection's state is larger, and a plaintext
                                // connection's task must not reserve room for it.
                                return Box::pin(serve_tls_conn(tls, shared, stream, local)).await;
                            }
                            conn::serve(shared, stream, local).await
                        };
                        tokio::select! {
                            _ = serving => {}
                            _ = stopped(&mut stop) => {}
                        }
                        drop(permit);
                    });
                }
                _ = &mut shutdown => break,
                _ = stopped(&mut stop) => break,
            }
        }
        self.stop.send_replace(true);
        Ok(())
    }
}

/// One HTTPS connection: the TLS handshake, then requests.
#[cfg(feature = "tls")]
async fn serve_tls_conn(
    tls: Arc<crate::tls::Tls>,
    shared: Arc<handler::Shared>,
    stream: tokio::net::TcpStream,
    local: std::net::SocketAddr,
) {
    match tls.handshake(stream).await {
        Ok((stream, _)) => conn::serve(shared, stream, local).await,
        Err(e) => tracing::debug!(error = %e, "https: connection closed before its first request"),
    }
}

/// Resolves once the server is told to stop.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}
