//! What every connection of one server shares: the lock manager, settings, counters, the
//! registry, and the table of live connections with the one cleanup that ends each of them
//! (spec §9), whoever runs it: the connection's own task, another connection that found it gone
//! (see `hangups.rs`), or the shutdown.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::config::Config;
use super::hangups::{Hangups, RawFd, unread};
use super::{registry, stats};
use crate::lock::sync::Mutex;
use crate::{LockManager, Session};

/// Why a connection ended, for its log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndReason {
    /// The peer closed its side (FIN) and everything it sent was answered.
    Closed,
    /// A read or write failed (reset, keepalive or user timeout, broken pipe).
    Failed,
    /// `--idle-timeout` passed with nothing received.
    IdleTimeout,
    /// Another connection's request found the peer gone first and ended it.
    PeerGone,
    /// The server is shutting down.
    Shutdown,
}

impl EndReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EndReason::Closed => "closed by peer",
            EndReason::Failed => "connection error",
            EndReason::IdleTimeout => "idle timeout",
            EndReason::PeerGone => "peer gone",
            EndReason::Shutdown => "server shutdown",
        }
    }
}

/// One live protocol connection, as the rest of the server needs to know it.
pub(crate) struct Peer {
    /// Its display id (§1.1).
    pub(crate) id: Arc<[u8]>,
    /// Its core session: closing it releases everything the connection holds.
    pub(crate) session: Arc<Session>,
    /// Its socket, watched for hang-ups.
    pub(crate) fd: Option<RawFd>,
    /// True while its task waits for input with nothing unprocessed and nothing unsent: only
    /// then may another task end it on its behalf (it has no line left to answer).
    pub(crate) idle: Arc<AtomicBool>,
}

/// State shared by all connections of a server.
pub(crate) struct Shared {
    pub(crate) mgr: LockManager,
    pub(crate) config: Config,
    pub(crate) counters: stats::Counters,
    pub(crate) registry: registry::Registry,
    /// Set once shutdown begins: nothing is granted after it (§12).
    pub(crate) shutting_down: AtomicBool,
    /// Live connections, by session id.
    peers: Mutex<HashMap<u64, Peer>>,
    /// `max_connections` permits, one per connection on any listener of the server.
    pub(crate) connection_permits: Arc<tokio::sync::Semaphore>,
    hangups: Hangups,
}

impl Shared {
    pub(crate) fn new(mgr: LockManager, config: Config) -> Shared {
        Shared {
            mgr,
            counters: Default::default(),
            registry: Default::default(),
            shutting_down: AtomicBool::new(false),
            peers: Mutex::new(HashMap::new()),
            connection_permits: Arc::new(tokio::sync::Semaphore::new(config.max_connections)),
            hangups: Hangups::new(),
            config,
        }
    }

    /// Adds a connection that was just accepted (and counted in `connections`).
    pub(crate) fn join(&self, peer: Peer) {
        let session = peer.session.id();
        if let Some(fd) = peer.fd {
            self.hangups.watch(fd, session);
        }
        self.peers.lock().insert(session, peer);
    }

    /// Ends connection `session` (§9 steps 1–5 but the socket's close, which its task does):
    /// cancels its waits, releases its exclusive and shared holdings (counted as orphans),
    /// removes its registration, and uncounts it. Runs once per connection: returns the numbers
    /// of exclusive and shared holdings released, or `None` if it had ended already.
    pub(crate) fn end(&self, session: u64, reason: EndReason) -> Option<(usize, usize)> {
        let peer = self.peers.lock().remove(&session)?;
        if let Some(fd) = peer.fd {
            self.hangups.unwatch(fd);
        }
        let (exclusive, shared) = peer.session.held_counts();
        peer.session.close();
        let counters = &self.counters;
        counters
            .orphans
            .fetch_add(exclusive as u64, Ordering::SeqCst);
        counters
            .shared_orphans
            .fetch_add(shared as u64, Ordering::SeqCst);
        self.registry.remove(session);
        counters.connections.fetch_sub(1, Ordering::SeqCst);
        tracing::debug!(
            peer = %String::from_utf8_lossy(&peer.id),
            session,
            reason = reason.as_str(),
            released = exclusive + shared,
            "connection ended"
        );
        Some((exclusive, shared))
    }

    /// Ends every idle connection whose peer has already gone (see `hangups.rs`), so that a
    /// request about to answer "held" sees the state the kernel already knows. Returns whether
    /// it ended any. One non-blocking system call when nobody has gone.
    pub(crate) fn reap_gone(&self) -> bool {
        let mut ended = false;
        for hangup in self.hangups.gone() {
            let due = {
                let peers = self.peers.lock();
                peers.get(&hangup.session).is_some_and(|p| {
                    // A FIN with lines still unread is the connection's own business: they
                    // are answered first (§3.1).
                    p.idle.load(Ordering::SeqCst)
                        && (hangup.failed || p.fd.is_none_or(|fd| unread(fd) == 0))
                })
            };
            if due && self.end(hangup.session, EndReason::PeerGone).is_some() {
                self.counters.reaped.fetch_add(1, Ordering::Relaxed);
                ended = true;
            }
        }
        ended
    }

    /// Begins shutdown: from now on nothing is granted. Every pending wait of every connection
    /// is cancelled first, and only then is any connection ended, so that no lock released by
    /// the shutdown passes to a waiter that is about to be disconnected (§12). Must run on the
    /// event loop, so that no request is processed in between.
    pub(crate) fn shut_down(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        let sessions: Vec<(u64, Arc<Session>)> = self
            .peers
            .lock()
            .iter()
            .map(|(id, p)| (*id, p.session.clone()))
            .collect();
        for (_, session) in &sessions {
            session.cancel_waits();
        }
        for (id, _) in &sessions {
            self.end(*id, EndReason::Shutdown);
        }
    }

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
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;

    /// A connection whose peer has gone is ended by whoever asks, though its own task never
    /// runs; one that is busy, or has unread input, is left to its task.
    #[test]
    fn a_gone_idle_peer_is_ended_by_the_next_request_not_a_busy_one() {
        let shared = Shared::new(LockManager::new(), Config::default());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let join = |idle: bool, name: &str| {
            let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (server_side, _) = listener.accept().unwrap();
            let session = Arc::new(shared.mgr.session());
            let _ = session.get(name).unwrap().keep();
            shared.counters.connections.fetch_add(1, Ordering::SeqCst);
            shared.join(Peer {
                id: Arc::from(&b"test"[..]),
                session: session.clone(),
                fd: Some(server_side.as_raw_fd()),
                idle: Arc::new(AtomicBool::new(idle)),
            });
            (client, server_side, session)
        };
        let (idle_client, _idle_server, idle_session) = join(true, "a");
        let (busy_client, _busy_server, busy_session) = join(false, "b");
        let (unread_client, _unread_server, unread_session) = join(true, "c");
        assert!(!shared.reap_gone(), "nobody has gone yet");
        drop((idle_client, busy_client));
        std::io::Write::write_all(&mut &unread_client, b"r c\n").unwrap();
        drop(unread_client);
        assert!(shared.reap_gone());
        assert!(idle_session.is_closed() && !shared.mgr.inspect("a"));
        assert_eq!(shared.counters.orphans.load(Ordering::SeqCst), 1);
        // Still mid-request, or with a line still to answer: its own task ends it.
        assert!(!busy_session.is_closed() && shared.mgr.inspect("b"));
        assert!(!unread_session.is_closed() && shared.mgr.inspect("c"));
        assert!(!shared.reap_gone());
        assert_eq!(shared.counters.connections.load(Ordering::SeqCst), 2);
    }
}
