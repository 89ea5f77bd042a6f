//! The client's error type: what a lockd server answered, or what happened to the connection.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// Everything a [`Client`](super::Client) request can fail with.
///
/// Contention and timeouts are answers, typed as the core's are ([`WouldBlock`](Error::WouldBlock),
/// [`Timeout`](Error::Timeout)); a broken connection is [`Io`](Error::Io), which keeps the
/// `io::Error` (its [`kind`](Error::io_kind) and [`source`](std::error::Error::source)). After
/// `Io` or [`ReplyTimeout`](Error::ReplyTimeout) the connection is closed and every later request
/// fails the same way: the client never reconnects or re-acquires silently, since the server has
/// released every lock the connection held.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// `g`/`sg` (or a wait of 0): another connection holds the lock (`0 Lock Get Failure: NAME`).
    WouldBlock {
        /// The lock asked for.
        name: String,
    },
    /// `gw`/`sgw`: the wait ended without a grant (`0 Lock Get Timeout: NAME`).
    Timeout {
        /// The lock waited for.
        name: String,
        /// The wait that was asked for.
        waited: Duration,
    },
    /// `r`/`sr`: this connection does not hold the lock (`0 Lock Release Failure: NAME`).
    NotHeld {
        /// The lock named.
        name: String,
    },
    /// The server refused the request with another `0` reply; `text` is the reply after the
    /// number (e.g. `Line Too Long`).
    Refused {
        /// The server's text.
        text: String,
    },
    /// The feature a request needs is turned off on the server (`0 disabled`).
    Disabled {
        /// Which: `dump`, `registry`, or `dump and/or registry`.
        feature: &'static str,
    },
    /// The connection could not be made, or broke, or was closed. `what` says when it happened.
    Io {
        /// Where it happened, e.g. `connecting to 127.0.0.1:9999`.
        what: String,
        /// The I/O error (shared: every later request reports the same one).
        source: Arc<io::Error>,
    },
    /// No reply came in time; the client closed the connection (a late reply would be matched
    /// to the wrong request), so the locks it held are gone.
    ReplyTimeout {
        /// The request that got no reply.
        request: String,
    },
    /// A name or argument that cannot be sent: it contains CR or LF.
    InvalidName,
    /// The server does not serve the extension verbs (`gw`, `sgw`).
    Unsupported,
    /// The server refused this client's credentials ([`Builder::auth`](super::Builder::auth))
    /// with `0 Auth Failure`, or they could not be sent; the client closed the connection.
    AuthFailed {
        /// The server's text, or why the credentials could not be sent.
        reason: String,
    },
    /// The server requires authentication (`0 Authentication Required`): give the client a
    /// token with [`Builder::auth`](super::Builder::auth).
    AuthRequired,
    /// The connection's token does not allow this request (`0 Permission Denied[: NAME]`).
    PermissionDenied {
        /// The lock name refused, if the reply named one.
        name: Option<String>,
    },
    /// The server's lock table could not answer (`0 Lock Table Unavailable`, or an inspect
    /// failure: etcd unreachable); nothing changed.
    Unavailable {
        /// The server's text.
        text: String,
    },
    /// The server sent something the protocol does not allow here.
    Protocol {
        /// What was wrong.
        message: String,
    },
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source: Arc::new(source),
        }
    }

    /// The kind of the I/O error behind an [`Io`](Error::Io) error.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            Error::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }

    /// Whether the connection is gone (every later request fails too).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Error::Io { .. } | Error::ReplyTimeout { .. } | Error::AuthFailed { .. }
        )
    }

    /// The typed error for a `0 TEXT` reply to a request that waited `waited`.
    pub(crate) fn from_refusal(text: String, waited: Duration, feature: &'static str) -> Self {
        let after = |prefixes: &[&str]| {
            prefixes.iter().find_map(|p| {
                text.strip_prefix(p)
                    .and_then(|rest| rest.strip_prefix(": "))
                    .map(str::to_owned)
            })
        };
        if let Some(name) = after(&["Lock Get Failure", "Shared Lock Get Failure"]) {
            Error::WouldBlock { name }
        } else if let Some(name) = after(&["Lock Get Timeout", "Shared Lock Get Timeout"]) {
            Error::Timeout { name, waited }
        } else if let Some(name) = after(&["Lock Release Failure", "Shared Lock Release Failure"]) {
            Error::NotHeld { name }
        } else if text == "disabled" {
            Error::Disabled { feature }
        } else if text == "Authentication Required" {
            Error::AuthRequired
        } else if text == "Permission Denied" {
            Error::PermissionDenied { name: None }
        } else if let Some(name) = after(&["Permission Denied"]) {
            Error::PermissionDenied { name: Some(name) }
        } else if text == "Lock Table Unavailable"
            || after(&["Lock Inspect Failure", "Shared Lock Inspect Failure"]).is_some()
        {
            Error::Unavailable { text }
        } else {
            Error::Refused { text }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::WouldBlock { name } => write!(f, "lock {name:?} is held by another client"),
            Error::Timeout { name, waited } => {
                write!(f, "waited {waited:?} for lock {name:?} without a grant")
            }
            Error::NotHeld { name } => write!(f, "this connection does not hold lock {name:?}"),
            Error::Refused { text } => write!(f, "the lockd server refused: {text}"),
            Error::Disabled { feature } => {
                write!(f, "the {feature} feature of the lockd server is disabled")
            }
            Error::Io { what, source } => write!(f, "lockd connection: {what}: {source}"),
            Error::ReplyTimeout { request } => write!(
                f,
                "no reply to {request:?} in time; the connection was closed"
            ),
            Error::InvalidName => f.write_str("lock names and arguments cannot contain CR or LF"),
            Error::Unsupported => {
                f.write_str("the lockd server does not serve the extension verbs (gw, sgw)")
            }
            Error::Protocol { message } => write!(f, "lockd protocol error: {message}"),
            Error::AuthFailed { reason } => {
                write!(
                    f,
                    "the lockd server refused this client's credentials: {reason}"
                )
            }
            Error::AuthRequired => f.write_str(
                "the lockd server requires authentication: give the client a token (auth)",
            ),
            Error::PermissionDenied { name: Some(name) } => {
                write!(
                    f,
                    "this client's token does not allow that on lock {name:?}"
                )
            }
            Error::PermissionDenied { name: None } => {
                f.write_str("this client's token does not allow that request")
            }
            Error::Unavailable { text } => {
                write!(f, "the lockd server's lock table could not answer: {text}")
            }
        }
    }
}

/// Equal when of the same variant with equal fields; `Io` errors compare `what` and the error's
/// kind (an `io::Error` itself has no equality).
impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        use Error::*;
        match (self, other) {
            (WouldBlock { name: a }, WouldBlock { name: b }) => a == b,
            (Timeout { name: a, waited: x }, Timeout { name: b, waited: y }) => a == b && x == y,
            (NotHeld { name: a }, NotHeld { name: b }) => a == b,
            (Refused { text: a }, Refused { text: b }) => a == b,
            (Disabled { feature: a }, Disabled { feature: b }) => a == b,
            (Io { what: a, source: x }, Io { what: b, source: y }) => {
                a == b && x.kind() == y.kind()
            }
            (ReplyTimeout { request: a }, ReplyTimeout { request: b }) => a == b,
            (InvalidName, InvalidName) | (Unsupported, Unsupported) => true,
            (Protocol { message: a }, Protocol { message: b }) => a == b,
            (AuthFailed { reason: a }, AuthFailed { reason: b }) => a == b,
            (AuthRequired, AuthRequired) => true,
            (PermissionDenied { name: a }, PermissionDenied { name: b }) => a == b,
            (Unavailable { text: a }, Unavailable { text: b }) => a == b,
            _ => false,
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(&**source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_typed_by_their_reply_text() {
        let w = Duration::from_secs(1);
        let typed = |t: &str| Error::from_refusal(t.into(), w, "dump");
        assert!(
            matches!(typed("Lock Get Failure: a b"), Error::WouldBlock { name } if name == "a b")
        );
        assert!(
            matches!(typed("Shared Lock Get Timeout: q"), Error::Timeout { name, waited } if name == "q" && waited == w)
        );
        assert!(matches!(typed("Lock Release Failure: x"), Error::NotHeld { name } if name == "x"));
        assert!(matches!(
            typed("disabled"),
            Error::Disabled { feature: "dump" }
        ));
        assert!(
            matches!(typed("Line Too Long"), Error::Refused { text } if text == "Line Too Long")
        );
        assert_eq!(typed("Authentication Required"), Error::AuthRequired);
        assert_eq!(
            typed("Permission Denied: jobs/x"),
            Error::PermissionDenied {
                name: Some("jobs/x".into())
            }
        );
        assert_eq!(
            typed("Permission Denied"),
            Error::PermissionDenied { name: None }
        );
        assert!(matches!(
            typed("Lock Inspect Failure: a"),
            Error::Unavailable { .. }
        ));
        assert!(!typed("Permission Denied: x").is_fatal());
    }

    #[test]
    fn io_errors_keep_their_kind_and_source() {
        let e = Error::io(
            "connecting to x",
            io::Error::from(io::ErrorKind::ConnectionRefused),
        );
        assert_eq!(e.io_kind(), Some(io::ErrorKind::ConnectionRefused));
        assert!(std::error::Error::source(&e).is_some() && e.is_fatal());
        assert!(
            e.to_string()
                .starts_with("lockd connection: connecting to x: ")
        );
    }
}
