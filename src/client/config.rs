//! Where a client connects and the timeouts it keeps (spec §11).

use std::fmt;
#[cfg(unix)]
use std::path::PathBuf;
use std::time::Duration;

/// Where to connect.
#[derive(Debug, Clone)]
pub enum Target {
    /// `host:port`.
    Tcp(String),
    /// A Unix-domain socket path.
    #[cfg(unix)]
    Unix(PathBuf),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Tcp(a) => f.write_str(a),
            #[cfg(unix)]
            Target::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// Timeouts (spec §11).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) connect_timeout: Duration,
    pub(crate) reply_timeout: Duration,
    pub(crate) multi_line_idle: Duration,
}
