//! Socket set-up shared by the network frontends: TCP listeners with a chosen backlog, what an
//! accept loop does when accepting fails (a spare descriptor, backoff), and I/O errors that say
//! which address failed while keeping their source.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;

/// Binds `addr` for TCP with `backlog` pending connections. The error names the address.
pub(crate) fn bind_tcp(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let bind = || -> io::Result<std::net::TcpListener> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        #[cfg(unix)]
        socket.set_reuse_address(true)?;
        if addr.is_ipv6() {
            // `::` accepts IPv4 too (dual stack), as the spec's ids assume (§1.1).
            let _ = socket.set_only_v6(false);
        }
        socket.bind(&addr.into())?;
        socket.listen(backlog_arg(backlog))?;
        socket.set_nonblocking(true)?;
        Ok(socket.into())
    };
    let listener = bind().map_err(|e| with_context(e, format!("cannot listen on {addr}")))?;
    TcpListener::from_std(listener)
}

pub(crate) fn backlog_arg(backlog: u32) -> i32 {
    i32::try_from(backlog).unwrap_or(i32::MAX)
}

/// `e` with `what` in front of its message, keeping its kind and its source.
pub(crate) fn with_context(e: io::Error, what: String) -> io::Error {
    #[derive(Debug)]
    struct Context {
        what: String,
        source: io::Error,
    }
    impl std::fmt::Display for Context {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}: {}", self.what, self.source)
        }
    }
    impl std::error::Error for Context {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.source)
        }
    }
    io::Error::new(e.kind(), Context { what, source: e })
}

/// A descriptor held in reserve: when accepting fails for want of descriptors, it is closed so
/// that the waiting client can be accepted and closed at once (it sees the connection end
/// instead of hanging in the backlog), then taken again.
pub(crate) struct Spare(Option<std::fs::File>);

impl Spare {
    pub(crate) fn new() -> Spare {
        Spare(std::fs::File::open("/dev/null").ok())
    }

    /// Whether `e` says the process (or the system) has no descriptor left.
    pub(crate) fn out_of_descriptors(e: &io::Error) -> bool {
        #[cfg(unix)]
        return matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE));
        #[cfg(not(unix))]
        return false;
    }

    /// Frees the spare, accepts one waiting client with `accept` and closes it, and takes the
    /// spare again. Says whether a client was shed.
    pub(crate) async fn shed<T, F: Future<Output = io::Result<T>>>(
        &mut self,
        accept: impl FnOnce() -> F,
    ) -> bool {
        if self.0.take().is_none() {
            *self = Spare::new();
            return false;
        }
        // Polled once: the waiting client is there to be taken now.
        let accepted = tokio::time::timeout(Duration::ZERO, accept()).await;
        let shed = matches!(accepted, Ok(Ok(_)));
        drop(accepted); // closed with nothing sent, before the spare is taken again
        *self = Spare::new();
        shed
    }
}

/// The pause after a failed accept: 5 ms, doubling up to 1 s, back to 5 ms after a success.
pub(crate) struct Backoff(Duration);

impl Backoff {
    const FIRST: Duration = Duration::from_millis(5);
    const MAX: Duration = Duration::from_secs(1);

    pub(crate) fn new() -> Backoff {
        Backoff(Self::FIRST)
    }

    /// Logs `e` and sleeps for the current pause, then doubles it.
    pub(crate) async fn after(&mut self, e: &io::Error, what: &'static str) {
        tracing::warn!(error = %e, backoff = ?self.0, "{what} accept failed; retrying");
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(Self::MAX);
    }

    pub(crate) fn reset(&mut self) {
        self.0 = Self::FIRST;
    }
}
