//! `client`: an async client for the lockd line protocol, for lockd and any glockd-compatible
//! server. It follows the rules of spec §11: one request in flight, FIFO; requests may be made
//! before the connection is up (they queue); a single-line reply that does not come in time
//! closes the connection (its locks are then released by the server) and nothing is retried or
//! re-acquired silently.
//!
//! ```no_run
//! # async fn demo() -> Result<(), lockd::client::Error> {
//! use lockd::client::Client;
//!
//! let client = Client::connect("127.0.0.1:9999");       // returns at once; requests queue
//! client.get("jobs/nightly").await?;                     // Err(Error::WouldBlock) if taken
//! assert!(client.inspect("jobs/nightly").await?);
//! let holders = client.get_shared("pool").await?;        // the holder count
//! let token = client.get_wait("deploy", std::time::Duration::from_secs(5)).await?;
//! client.release("jobs/nightly").await?;
//! client.disconnect().await;                             // the server releases the rest
//! # let _ = (holders, token); Ok(()) }
//! ```
//!
//! A server with an ACL (`lockd --acl`) needs a token, and one on a TLS port (`--tls-port`) a
//! [`ClientTls`] (features `client` and `tls`): `Client::builder().tls(tls).auth(token)`. With a
//! token, the client sends `ext` when it connects and, if the server offers `auth`,
//! authenticates before any request; a refused token fails every request with
//! [`Error::AuthFailed`].

mod config;
mod error;
mod task;
#[cfg(feature = "tls")]
mod tls;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::protocol::Verb;
pub use config::Target;
use config::{Credentials, Settings};
pub use error::Error;
use task::{Call, DISABLED, Shape};
#[cfg(feature = "tls")]
pub use tls::ClientTls;

/// Options for a [`Client`].
#[derive(Debug, Clone)]
pub struct Builder {
    settings: Settings,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            settings: Settings {
                connect_timeout: Duration::from_secs(5),
                reply_timeout: Duration::from_secs(5),
                multi_line_idle: Duration::from_millis(100),
                auth: None,
                #[cfg(feature = "tls")]
                tls: None,
            },
        }
    }
}

impl Builder {
    /// How long connecting may take (default 5 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.settings.connect_timeout = d;
        self
    }

    /// How long a single-line reply may take (default 5 s; waiting verbs add their wait).
    pub fn reply_timeout(mut self, d: Duration) -> Self {
        self.settings.reply_timeout = d;
        self
    }

    /// The silence that ends a multi-line reply (default 100 ms, as the Node client).
    pub fn multi_line_idle(mut self, d: Duration) -> Self {
        self.settings.multi_line_idle = d;
        self
    }

    /// Authenticates with `token` (`auth TOKEN`) when the server offers `auth`.
    pub fn auth(mut self, token: impl Into<String>) -> Self {
        self.settings.auth = Some(Credentials {
            user: None,
            token: token.into(),
        });
        self
    }

    /// Authenticates as `user` with `token` (`auth USER TOKEN`) when the server offers `auth`.
    pub fn auth_user(mut self, user: impl Into<String>, token: impl Into<String>) -> Self {
        self.settings.auth = Some(Credentials {
            user: Some(user.into()),
            token: token.into(),
        });
        self
    }

    /// Speaks TLS to TCP targets (features `client` and `tls`); the handshake counts in the
    /// connect timeout.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: ClientTls) -> Self {
        self.settings.tls = Some(tls);
        self
    }

    /// Starts connecting to `target`; returns at once (needs a Tokio runtime).
    pub fn connect(self, target: Target) -> Client {
        let (tx, rx) = mpsc::unbounded_channel();
        let extensions = Arc::new(tokio::sync::OnceCell::new());
        let task = tokio::spawn(task::run(target, self.settings, rx, extensions.clone()));
        Client {
            tx,
            task,
            extensions,
        }
    }

    /// Starts connecting to `host:port`; returns at once.
    pub fn connect_to(self, addr: impl Into<String>) -> Client {
        self.connect(Target::Tcp(addr.into()))
    }
}

/// A connection to a lockd server. Its requests are served one at a time, in call order; the
/// connection is the owner of every lock taken through it.
pub struct Client {
    tx: mpsc::UnboundedSender<Call>,
    task: tokio::task::JoinHandle<()>,
    /// Whether the server answers `ext`: found out by the first extension call, or when
    /// connecting with credentials.
    extensions: Arc<tokio::sync::OnceCell<bool>>,
}

fn check(name: &[u8]) -> Result<(), Error> {
    if name.iter().any(|&b| b == b'\r' || b == b'\n') {
        Err(Error::InvalidName)
    } else {
        Ok(())
    }
}

/// Splits `N text` into (N, text).
fn status(line: &[u8]) -> Result<(u64, String), Error> {
    let text = String::from_utf8_lossy(line);
    let (n, rest) = text.split_once(' ').unwrap_or((&text, ""));
    let n = n.parse().map_err(|_| Error::Protocol {
        message: format!("expected a number first in {text:?}"),
    })?;
    Ok((n, rest.to_string()))
}

/// Splits `LEFT: RIGHT` at the first `: `.
fn pair(line: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(line);
    match text.split_once(": ") {
        Some((l, r)) => (l.to_string(), r.to_string()),
        None => (text.into_owned(), String::new()),
    }
}

impl Client {
    /// Connects to `host:port` with default options; returns at once.
    pub fn connect(addr: impl Into<String>) -> Client {
        Builder::default().connect(Target::Tcp(addr.into()))
    }

    /// Options (timeouts) and other targets.
    pub fn builder() -> Builder {
        Builder::default()
    }

    async fn call(&self, verb: Verb, arg: &[u8], shape: Shape) -> Result<Vec<Vec<u8>>, Error> {
        check(arg)?;
        let mut line = verb.as_str().as_bytes().to_vec();
        if !arg.is_empty() {
            line.push(b' ');
            line.extend_from_slice(arg);
        }
        line.push(b'\n');
        self.send_line(line, shape).await
    }

    /// Queues one request's bytes (which end with LF) and awaits its reply.
    async fn send_line(&self, line: Vec<u8>, shape: Shape) -> Result<Vec<Vec<u8>>, Error> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Call { line, shape, reply })
            .map_err(|_| Error::io("sending a request", closed("the client is closed")))?;
        rx.await.unwrap_or_else(|_| {
            Err(Error::io(
                "awaiting a reply",
                closed("the connection task ended"),
            ))
        })
    }

    /// One line: (number, text); a 0 becomes its typed error unless `zero_ok`.
    async fn one(
        &self,
        verb: Verb,
        arg: &[u8],
        extra: Duration,
        zero_ok: bool,
    ) -> Result<u64, Error> {
        let lines = self.call(verb, arg, Shape::One { extra }).await?;
        let (n, text) = status(&lines[0])?;
        if n == 0 && !zero_ok {
            return Err(Error::from_refusal(text, extra, "registry"));
        }
        Ok(n)
    }

    async fn many(
        &self,
        verb: Verb,
        arg: &[u8],
        feature: &'static str,
    ) -> Result<Vec<Vec<u8>>, Error> {
        let lines = self.call(verb, arg, Shape::Many).await?;
        match lines.first().map(Vec::as_slice) {
            Some(l) if l == DISABLED => Err(Error::Disabled { feature }),
            Some(l) if task::is_refusal(l) => {
                let (_, text) = status(l)?;
                Err(Error::from_refusal(text, Duration::ZERO, feature))
            }
            _ => Ok(lines),
        }
    }

    /// `g`: takes `name` exclusively, or [`Error::WouldBlock`] if another connection holds it.
    pub async fn get(&self, name: impl AsRef<[u8]>) -> Result<(), Error> {
        self.one(Verb::Get, name.as_ref(), Duration::ZERO, false)
            .await
            .map(drop)
    }

    /// `r`: releases `name`; [`Error::NotHeld`] if this connection does not hold it.
    pub async fn release(&self, name: impl AsRef<[u8]>) -> Result<(), Error> {
        self.one(Verb::Release, name.as_ref(), Duration::ZERO, false)
            .await
            .map(drop)
    }

    /// `i`: whether anyone holds `name`.
    pub async fn inspect(&self, name: impl AsRef<[u8]>) -> Result<bool, Error> {
        Ok(self
            .one(Verb::Inspect, name.as_ref(), Duration::ZERO, true)
            .await?
            != 0)
    }

    /// `sg`: joins the shared lock `name`; returns the holder count.
    pub async fn get_shared(&self, name: impl AsRef<[u8]>) -> Result<u64, Error> {
        self.one(Verb::SharedGet, name.as_ref(), Duration::ZERO, false)
            .await
    }

    /// `sr`: leaves the shared lock `name`.
    pub async fn release_shared(&self, name: impl AsRef<[u8]>) -> Result<(), Error> {
        self.one(Verb::SharedRelease, name.as_ref(), Duration::ZERO, false)
            .await
            .map(drop)
    }

    /// `si`: how many hold the shared lock `name`.
    pub async fn inspect_shared(&self, name: impl AsRef<[u8]>) -> Result<u64, Error> {
        self.one(Verb::SharedInspect, name.as_ref(), Duration::ZERO, true)
            .await
    }

    /// `d`: exclusive locks and their holders (all, or just `name`).
    pub async fn dump(&self, name: Option<&str>) -> Result<BTreeMap<String, String>, Error> {
        let lines = self
            .many(Verb::Dump, name.unwrap_or("").as_bytes(), "dump")
            .await?;
        Ok(lines.iter().map(|l| pair(l)).collect())
    }

    /// `sd`: shared locks and their holders in acquisition order (all, or just `name`).
    pub async fn dump_shared(
        &self,
        name: Option<&str>,
    ) -> Result<BTreeMap<String, Vec<String>>, Error> {
        let lines = self
            .many(Verb::SharedDump, name.unwrap_or("").as_bytes(), "dump")
            .await?;
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (lock, holder) in lines.iter().map(|l| pair(l)) {
            map.entry(lock).or_default().push(holder);
        }
        Ok(map)
    }

    /// `me`: this connection's id (address) and registered name (the id again if none).
    pub async fn get_name(&self) -> Result<(String, String), Error> {
        let lines = self
            .call(
                Verb::Me,
                b"",
                Shape::One {
                    extra: Duration::ZERO,
                },
            )
            .await?;
        let text = String::from_utf8_lossy(&lines[0]).into_owned();
        let mut parts = text.splitn(3, ' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("1"), Some(id), name) => Ok((id.to_string(), name.unwrap_or("").to_string())),
            _ => Err(Error::Protocol {
                message: format!("unexpected `me` reply {text:?}"),
            }),
        }
    }

    /// `iam`: registers a display name (empty: unregisters).
    pub async fn set_name(&self, name: impl AsRef<[u8]>) -> Result<(), Error> {
        self.one(Verb::Iam, name.as_ref(), Duration::ZERO, false)
            .await
            .map(drop)
    }

    /// `who`: registered connections as (id, name), oldest registration first.
    pub async fn list_clients(&self, name: Option<&str>) -> Result<Vec<(String, String)>, Error> {
        let lines = self
            .many(
                Verb::Who,
                name.unwrap_or("").as_bytes(),
                "dump and/or registry",
            )
            .await?;
        Ok(lines.iter().map(|l| pair(l)).collect())
    }

    /// `q`: the server's counters.
    pub async fn stats(&self) -> Result<BTreeMap<String, u64>, Error> {
        let lines = self.many(Verb::Stats, b"", "stats").await?;
        lines
            .iter()
            .map(|l| {
                let (k, v) = pair(l);
                let v = v.parse().map_err(|_| Error::Protocol {
                    message: format!("bad stat line {k}: {v}"),
                })?;
                Ok((k, v))
            })
            .collect()
    }

    async fn extensions(&self) -> Result<(), Error> {
        let supported = self
            .extensions
            .get_or_try_init(|| async {
                let lines = self
                    .send_line(task::DISCOVER.to_vec(), Shape::Discover)
                    .await?;
                Ok::<_, Error>(lines.first().is_some_and(|l| l.starts_with(b"1 ext")))
            })
            .await?;
        if *supported {
            Ok(())
        } else {
            Err(Error::Unsupported)
        }
    }

    /// `gw` (extension): waits up to `wait` for `name`, first come first served; returns the
    /// fencing token. `Duration::ZERO` tries once.
    pub async fn get_wait(&self, name: impl AsRef<[u8]>, wait: Duration) -> Result<u64, Error> {
        self.extensions().await?;
        let arg = [format!("{} ", wait.as_millis()).as_bytes(), name.as_ref()].concat();
        self.one(Verb::GetWait, &arg, wait, false).await
    }

    /// `sgw` (extension): waits up to `wait` until fewer than `limit` hold `name`, joins, and
    /// returns the holder count.
    pub async fn get_shared_wait(
        &self,
        name: impl AsRef<[u8]>,
        limit: u64,
        wait: Duration,
    ) -> Result<u64, Error> {
        self.extensions().await?;
        let arg = [
            format!("{} {limit} ", wait.as_millis()).as_bytes(),
            name.as_ref(),
        ]
        .concat();
        self.one(Verb::SharedGetWait, &arg, wait, false).await
    }

    /// Closes the connection after the requests already made; the server releases everything
    /// it held.
    pub async fn disconnect(self) {
        drop(self.tx);
        let _ = self.task.await;
    }
}

/// The I/O error of a connection that is gone without an OS error.
fn closed(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::NotConnected, what.to_owned())
}
