//! Socket set-up shared by the network frontends: TCP listeners with a chosen backlog, and
//! I/O errors that say which address failed while keeping their source.

use std::io;
use std::net::SocketAddr;

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
