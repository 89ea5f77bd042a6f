//! Where a client connects, the timeouts it keeps (spec §11), and how it authenticates and
//! encrypts.

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

/// Timeouts (spec §11), credentials and TLS.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) connect_timeout: Duration,
    pub(crate) reply_timeout: Duration,
    pub(crate) multi_line_idle: Duration,
    pub(crate) auth: Option<Credentials>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<super::tls::ClientTls>,
}

/// What `auth [USER] TOKEN` sends. Its `Debug` never shows the token.
#[derive(Clone)]
pub(crate) struct Credentials {
    pub(crate) user: Option<String>,
    pub(crate) token: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// The `auth` line, or why it cannot be sent (a word with a space, CR or LF in it would
    /// be read as another argument or line).
    pub(crate) fn line(&self) -> Result<Vec<u8>, &'static str> {
        let word = |w: &str| !w.is_empty() && !w.bytes().any(|b| b.is_ascii_whitespace());
        if !word(&self.token) || self.user.as_deref().is_some_and(|u| !word(u)) {
            return Err("a user or token must be one word: not empty, no spaces, CR or LF");
        }
        let mut line = b"auth ".to_vec();
        if let Some(user) = &self.user {
            line.extend_from_slice(user.as_bytes());
            line.push(b' ');
        }
        line.extend_from_slice(self.token.as_bytes());
        line.push(b'\n');
        Ok(line)
    }
}
