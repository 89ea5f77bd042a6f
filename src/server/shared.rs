//! What every connection of one server shares: the lock table, settings, counters, and the
//! table of live connections with the one cleanup that ends each of them
//! (spec §9), whoever runs it: the connection's own task, another connection that found it gone
//! (see `hangups.rs`), or the shutdown.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::config::Config;
use super::hangups::{Hangups, RawFd, unread};
use super::stats;
use super::table::{Holder, Table};
use crate::lock::sync::Mutex;

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
    /// The connection's session was lost (etcd: the server's lease expired): its locks may be
    /// held by others now, so the client is disconnected, as if its locks had gone with it.
    SessionLost,
    /// Too many failed `auth` attempts.
    AuthFailures,
}

impl EndReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EndReason::Closed => "closed by peer",
            EndReason::Failed => "connection error",
            EndReason::IdleTimeout => "idle timeout",
            EndReason::PeerGone => "peer gone",
            EndReason::Shutdown => "server shutdown",
            EndReason::SessionLost => "session lost",
            EndReason::AuthFailures => "too many failed auth attempts",
        }
    }
}

/// One live protocol connection, as the rest of the server needs to know it.
pub(crate) struct Peer<T: Table> {
    /// Its display id (§1.1).
    pub(crate) id: Arc<[u8]>,
    /// Its session: ending it releases everything the connection holds.
    pub(crate) session: Arc<T::Session>,
    /// Its socket, watched for hang-ups.
    pub(crate) fd: Option<RawFd>,
    /// True while its task waits for input with nothing unprocessed and nothing unsent: only
    /// then may another task end it on its behalf (it has no line left to answer).
    pub(crate) idle: Arc<AtomicBool>,
}

/// State shared by all connections of a server.
pub(crate) struct Shared<T: Table> {
    pub(crate) table: T,
    pub(crate) config: Config,
    pub(crate) counters: stats::Counters,
    /// Set once shutdown begins: nothing is granted after it (§12).
    pub(crate) shutting_down: AtomicBool,
    /// Live connections, by session id.
    peers: Mutex<HashMap<u64, Peer<T>>>,
    /// Connections being ended whose release the table has not confirmed yet (only ever
    /// seen on etcd: in memory an end never waits), each with a receiver that completes when
    /// it is done.
    ending: Mutex<HashMap<u64, tokio::sync::watch::Receiver<()>>>,
    /// Connection ends completed so far.
    ends_completed: std::sync::atomic::AtomicU64,
    /// `max_connections` permits, one per connection on any listener of the server.
    pub(crate) connection_permits: Arc<tokio::sync::Semaphore>,
    hangups: Hangups,
}

impl<T: Table> Shared<T> {
    pub(crate) fn new(table: T, config: Config) -> Shared<T> {
        Shared {
            table,
            counters: Default::default(),
            shutting_down: AtomicBool::new(false),
            peers: Mutex::new(HashMap::new()),
            ending: Mutex::new(HashMap::new()),
            ends_completed: Default::default(),
            connection_permits: Arc::new(tokio::sync::Semaphore::new(config.max_connections)),
            hangups: Hangups::new(),
            config,
        }
    }

    /// Adds a connection that was just accepted (and counted in `connections`).
    pub(crate) fn join(&self, peer: Peer<T>) {
        let session = T::number(&peer.session);
        if let Some(fd) = peer.fd {
            self.hangups.watch(fd, session);
        }
        self.peers.lock().insert(session, peer);
    }

    /// Ends connection `session` (§9 steps 1–5 but the socket's close, which its task does):
    /// cancels its waits, releases its exclusive and shared holdings (counted as orphans),
    /// removes its registration, and uncounts it. Runs once per connection: returns the numbers
    /// of exclusive and shared holdings released, or `None` if it had ended already. In memory
    /// it never waits; on etcd it waits for the cluster to confirm the release.
    pub(crate) async fn end(&self, session: u64, reason: EndReason) -> Option<(usize, usize)> {
        let removed = self.peers.lock().remove(&session);
        let Some(peer) = removed else {
            // Ended by another task (the reaper, the shutdown): its release may still be under
            // way (etcd), and this connection's socket must not close before it is done (§9).
            let ending = self.ending.lock().get(&session).cloned();
            if let Some(mut done) = ending {
                let _ = done.changed().await;
            }
            return None;
        };
        if let Some(fd) = peer.fd {
            self.hangups.unwatch(fd);
        }
        let (exclusive, shared) = T::held_counts(&peer.session);
        let _ending = Ending::new(self, session);
        self.table.end(&peer.session).await;
        self.ends_completed.fetch_add(1, Ordering::SeqCst);
        let counters = &self.counters;
        counters
            .orphans
            .fetch_add(exclusive as u64, Ordering::SeqCst);
        counters
            .shared_orphans
            .fetch_add(shared as u64, Ordering::SeqCst);
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

    /// How many connection ends have completed (their locks released) so far.
    pub(crate) fn ends_completed(&self) -> u64 {
        self.ends_completed.load(Ordering::SeqCst)
    }

    /// Ends every idle connection whose peer has already gone (see `hangups.rs`), so that a
    /// request about to answer "held" sees the state the kernel already knows. Returns whether
    /// it ended any. One non-blocking system call when nobody has gone.
    pub(crate) async fn reap_gone(&self) -> bool {
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
            if due
                && self
                    .end(hangup.session, EndReason::PeerGone)
                    .await
                    .is_some()
            {
                self.counters.reaped.fetch_add(1, Ordering::Relaxed);
                ended = true;
            }
        }
        // Connections their own tasks are ending: their locks are as good as released, so the
        // request waits for the table to confirm it (only ever on etcd: in memory an end never
        // waits, so no other request sees it under way).
        let ending: Vec<_> = self.ending.lock().values().cloned().collect();
        if !ending.is_empty() {
            // Bounded by one request's time: a release the table is slow to confirm is then
            // treated as not done yet.
            let all = async {
                for mut done in ending {
                    let _ = done.changed().await; // completes when the end's sender is dropped
                }
            };
            let _ = tokio::time::timeout(self.table.patience(), all).await;
            ended = true;
        }
        ended
    }

    /// Begins shutdown: from now on nothing is granted. Every pending wait of every connection
    /// is cancelled first, and only then is any connection ended, so that no lock released by
    /// the shutdown passes to a waiter that is about to be disconnected (§12). Must run on the
    /// event loop, so that no request is processed in between (in memory, where ending a
    /// connection never waits; on etcd a grant that comes meanwhile is given back).
    pub(crate) async fn shut_down(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        let sessions: Vec<(u64, Arc<T::Session>)> = self
            .peers
            .lock()
            .iter()
            .map(|(id, p)| (*id, p.session.clone()))
            .collect();
        for (_, session) in &sessions {
            T::cancel_waits(session);
        }
        if !T::ENDS_AT_ONCE {
            // Ends that wait for the table (etcd) run in each connection's own task, all at
            // once, when the caller tells them to stop; meanwhile nothing is granted.
            return;
        }
        for (id, _) in &sessions {
            self.end(*id, EndReason::Shutdown).await;
        }
    }

    /// A holder's display id (§1.1): its connection's id, else the one the table knows (a
    /// Consul session's `consul:UUID`, an etcd holder's as its own server saw it), else
    /// `local:N` for an in-process session N (`local:0` for a session-less in-process guard).
    pub(crate) fn display_id(&self, holder: &Holder) -> Vec<u8> {
        let session = holder.session;
        if let Some(id) = session.and_then(|s| self.peers.lock().get(&s).map(|p| p.id.clone())) {
            return id.to_vec();
        }
        if let Some(label) = &holder.label {
            return label.clone();
        }
        format!("local:{}", session.unwrap_or(0)).into_bytes()
    }
}

/// A connection's end under way, listed in `Shared::ending` while it lasts (also if the task
/// ending it is dropped midway).
struct Ending<'a, T: Table> {
    shared: &'a Shared<T>,
    session: u64,
    _done: tokio::sync::watch::Sender<()>,
}

impl<'a, T: Table> Ending<'a, T> {
    fn new(shared: &'a Shared<T>, session: u64) -> Self {
        let (done, rx) = tokio::sync::watch::channel(());
        shared.ending.lock().insert(session, rx);
        Ending {
            shared,
            session,
            _done: done,
        }
    }
}

impl<T: Table> Drop for Ending<'_, T> {
    fn drop(&mut self) {
        self.shared.ending.lock().remove(&self.session);
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::LockManager;
    use crate::server::table::Memory;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;

    /// A connection whose peer has gone is ended by whoever asks, though its own task never
    /// runs; one that is busy, or has unread input, is left to its task.
    #[test]
    fn a_gone_idle_peer_is_ended_by_the_next_request_not_a_busy_one() {
        let mgr = LockManager::new();
        let shared = Shared::new(Memory::new(mgr.clone()), Config::default());
        let reap = || futures_ready(shared.reap_gone());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let join = |idle: bool, name: &str| {
            let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (server_side, _) = listener.accept().unwrap();
            let session = Arc::new(mgr.session());
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
        assert!(!reap(), "nobody has gone yet");
        drop((idle_client, busy_client));
        std::io::Write::write_all(&mut &unread_client, b"r c\n").unwrap();
        drop(unread_client);
        assert!(reap());
        assert!(idle_session.is_closed() && !mgr.inspect("a"));
        assert_eq!(shared.counters.orphans.load(Ordering::SeqCst), 1);
        // Still mid-request, or with a line still to answer: its own task ends it.
        assert!(!busy_session.is_closed() && mgr.inspect("b"));
        assert!(!unread_session.is_closed() && mgr.inspect("c"));
        assert!(!reap());
        assert_eq!(shared.counters.connections.load(Ordering::SeqCst), 2);
    }

    /// Runs a future that never waits (the in-memory table's) to its end.
    fn futures_ready<F: std::future::Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("an in-memory table call waited"),
        }
    }
}
