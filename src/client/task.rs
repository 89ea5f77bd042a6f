//! The client's connection task: opens the connection (TCP, TLS on TCP, or a Unix socket),
//! authenticates if it has credentials and the server offers `auth` (found out with `ext`),
//! then serves queued requests one at a time (FIFO), applying the reply rules of spec §11.
//! Every failure is final for the connection.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{OnceCell, mpsc, oneshot};

use super::config::{Settings, Target};
use super::error::Error;
use crate::protocol::reply;

/// The one-line replies that end a multi-line reply at once (§11, §12.1, §15), without their
/// LF.
pub(crate) const DISABLED: &[u8] = reply::DISABLED.split_last().unwrap().1;
pub(crate) const LINE_TOO_LONG: &[u8] = reply::LINE_TOO_LONG.split_last().unwrap().1;
pub(crate) const AUTH_REQUIRED: &[u8] = reply::AUTH_REQUIRED.split_last().unwrap().1;
pub(crate) const PERMISSION_DENIED: &[u8] = b"0 Permission Denied";
pub(crate) const UNAVAILABLE: &[u8] = reply::UNAVAILABLE.split_last().unwrap().1;

/// Whether a first line is a whole (refused) reply to a listing.
pub(crate) fn is_refusal(line: &[u8]) -> bool {
    [
        DISABLED,
        LINE_TOO_LONG,
        AUTH_REQUIRED,
        PERMISSION_DENIED,
        UNAVAILABLE,
    ]
    .contains(&line)
}

/// How a request's reply ends.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape {
    /// One line, within the reply timeout plus `extra`.
    One { extra: Duration },
    /// Zero or more lines, ended by `multi_line_idle` of silence, or at once by a first line
    /// that refuses the request (`0 disabled`, `0 Line Too Long`, …: [`is_refusal`]).
    Many,
    /// `ext` followed by a sentinel request (`DISCOVER`): lines up to the sentinel's reply, each
    /// within the reply timeout. A server without extensions says nothing to `ext`, but every
    /// server answers the sentinel, so no reply is ever taken for another's.
    Discover,
}

/// The name the discovery sentinel inspects (`i NAME`: it changes nothing).
pub(crate) const PROBE_NAME: &[u8] = b"lockd-client:ext-probe";
/// What discovery sends: `ext`, then the sentinel.
pub(crate) const DISCOVER: &[u8] = b"ext\ni lockd-client:ext-probe\n";
/// The most lines a discovery reads before the sentinel's reply (a server answers `ext` with
/// one line or none).
const DISCOVER_MAX_LINES: usize = 8;

pub(crate) struct Call {
    pub(crate) line: Vec<u8>,
    pub(crate) shape: Shape,
    pub(crate) reply: oneshot::Sender<Result<Vec<Vec<u8>>, Error>>,
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

async fn open(target: &Target, settings: &Settings) -> Result<Box<dyn Stream>, Error> {
    let timeout = settings.connect_timeout;
    let connect = async {
        Ok::<Box<dyn Stream>, io::Error>(match target {
            Target::Tcp(addr) => {
                let s = tokio::net::TcpStream::connect(addr.as_str()).await?;
                s.set_nodelay(true)?;
                #[cfg(feature = "tls")]
                if let Some(tls) = &settings.tls {
                    let tls: Box<dyn Stream> = Box::new(tls.connect(addr, s).await?);
                    return Ok(tls);
                }
                Box::new(s)
            }
            #[cfg(unix)]
            Target::Unix(path) => Box::new(tokio::net::UnixStream::connect(path).await?),
        })
    };
    match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(Error::io(format!("connecting to {target}"), e)),
        Err(_) => Err(Error::io(
            format!("connecting to {target}"),
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("timed out after {timeout:?}"),
            ),
        )),
    }
}

/// Runs until the client is dropped or the connection fails; afterwards every queued and
/// later call gets the failure.
pub(crate) async fn run(
    target: Target,
    settings: Settings,
    mut calls: mpsc::UnboundedReceiver<Call>,
    extensions: Arc<OnceCell<bool>>,
) {
    let failure = match open(&target, &settings).await {
        Ok(stream) => serve(stream, &settings, &mut calls, &extensions).await,
        Err(e) => e,
    };
    while let Some(call) = calls.recv().await {
        let _ = call.reply.send(Err(failure.clone()));
    }
}

async fn serve(
    stream: Box<dyn Stream>,
    settings: &Settings,
    calls: &mut mpsc::UnboundedReceiver<Call>,
    extensions: &OnceCell<bool>,
) -> Error {
    let (rd, mut wr) = tokio::io::split(stream);
    let mut rd = BufReader::new(rd);
    let mut line = Vec::new();
    if let Some(credentials) = &settings.auth {
        if let Err(e) = hello(
            &mut rd,
            &mut wr,
            &mut line,
            settings,
            credentials,
            extensions,
        )
        .await
        {
            return e;
        }
    }
    loop {
        // Idle: a line from the server now would answer no request.
        let call = tokio::select! {
            call = calls.recv() => match call {
                Some(call) => call,
                None => return Error::io("idle", io::Error::new(io::ErrorKind::NotConnected, "the client is closed")),
            },
            r = read_line(&mut rd, &mut line) => {
                return match r {
                    Ok(true) => Error::Protocol {
                        message: format!(
                            "unexpected data with no request pending: {:?}",
                            String::from_utf8_lossy(&line)
                        ),
                    },
                    Ok(false) => Error::io("idle", server_closed()),
                    Err(e) => Error::io("reading", e),
                };
            }
        };
        if let Err(e) = send(&mut wr, &call.line).await {
            let e = Error::io("sending a request", e);
            let _ = call.reply.send(Err(e.clone()));
            return e;
        }
        let result = match call.shape {
            Shape::One { extra } => {
                let limit = settings.reply_timeout + extra;
                match tokio::time::timeout(limit, read_line(&mut rd, &mut line)).await {
                    Ok(Ok(true)) => Ok(vec![line.clone()]),
                    Ok(Ok(false)) => Err(Error::io("awaiting a reply", server_closed())),
                    Ok(Err(e)) => Err(Error::io("awaiting a reply", e)),
                    Err(_) => Err(Error::ReplyTimeout {
                        request: String::from_utf8_lossy(call.line.trim_ascii_end()).into_owned(),
                    }),
                }
            }
            Shape::Many => read_many(&mut rd, &mut line, settings.multi_line_idle).await,
            Shape::Discover => read_discovery(&mut rd, &mut line, settings.reply_timeout).await,
        };
        let fatal = match &result {
            Err(e) if e.is_fatal() => Some(e.clone()),
            _ => None,
        };
        let _ = call.reply.send(result);
        if let Some(e) = fatal {
            return e; // closes the connection: its locks are released by the server
        }
    }
}

/// Writes one request and flushes it (over TLS, the bytes are still in rustls until then).
async fn send<W: AsyncWrite + Unpin>(wr: &mut W, line: &[u8]) -> io::Result<()> {
    wr.write_all(line).await?;
    wr.flush().await
}

/// Before the first request: `ext` (with its sentinel), and if the server offers `auth`,
/// `auth [USER] TOKEN`. A server that does not offer it needs no authentication (§12.1), so
/// nothing more is sent.
async fn hello<R: AsyncBufReadExt + Unpin, W: AsyncWrite + Unpin>(
    rd: &mut R,
    wr: &mut W,
    line: &mut Vec<u8>,
    settings: &Settings,
    credentials: &super::config::Credentials,
    extensions: &OnceCell<bool>,
) -> Result<(), Error> {
    let auth = credentials
        .line()
        .map_err(|why| Error::AuthFailed { reason: why.into() })?;
    send(wr, DISCOVER)
        .await
        .map_err(|e| Error::io("sending ext", e))?;
    // Decided by the sentinel's reply, never by a timeout: a slow link cannot make the client
    // skip `auth`, nor a late `ext` reply pass for another request's.
    let ext = read_discovery(rd, line, settings.reply_timeout).await?;
    let words = ext.first().filter(|l| l.starts_with(b"1 ext"));
    let _ = extensions.set(words.is_some());
    let offered = words.is_some_and(|l| l.split(|&b| b == b' ').any(|w| w == b"auth"));
    if !offered {
        return Ok(());
    }
    send(wr, &auth)
        .await
        .map_err(|e| Error::io("sending auth", e))?;
    match tokio::time::timeout(settings.reply_timeout, read_line(rd, line)).await {
        Ok(Ok(true)) if line.starts_with(b"1 ") => Ok(()),
        Ok(Ok(true)) => Err(Error::AuthFailed {
            reason: String::from_utf8_lossy(line.strip_prefix(b"0 ").unwrap_or(line)).into_owned(),
        }),
        Ok(Ok(false)) => Err(Error::io("awaiting the auth reply", server_closed())),
        Ok(Err(e)) => Err(Error::io("awaiting the auth reply", e)),
        Err(_) => Err(Error::ReplyTimeout {
            request: "auth".into(),
        }),
    }
}

/// The replies to `DISCOVER`: the `1 ext …` line if the server sent one (else nothing), once
/// the sentinel's reply has come. A reply that does not come within `limit` ends the
/// connection, as any late reply does (§11).
async fn read_discovery<R: AsyncBufReadExt + Unpin>(
    rd: &mut R,
    line: &mut Vec<u8>,
    limit: Duration,
) -> Result<Vec<Vec<u8>>, Error> {
    let mut ext = Vec::new();
    for _ in 0..DISCOVER_MAX_LINES {
        match tokio::time::timeout(limit, read_line(rd, line)).await {
            Ok(Ok(true)) if is_sentinel_reply(line) => return Ok(ext),
            Ok(Ok(true)) => {
                if line.starts_with(b"1 ext") {
                    ext = vec![line.clone()];
                }
            }
            Ok(Ok(false)) => return Err(Error::io("awaiting the ext reply", server_closed())),
            Ok(Err(e)) => return Err(Error::io("awaiting the ext reply", e)),
            Err(_) => {
                return Err(Error::ReplyTimeout {
                    request: "ext".into(),
                });
            }
        }
    }
    Err(Error::Protocol {
        message: format!("more than {DISCOVER_MAX_LINES} lines answered `ext`"),
    })
}

/// Whether `line` answers the discovery sentinel `i PROBE_NAME`: a lock reply naming it
/// (`… : lockd-client:ext-probe`, a refusal naming it too), or the refusal of a connection that
/// has not authenticated.
fn is_sentinel_reply(line: &[u8]) -> bool {
    line == AUTH_REQUIRED
        || line
            .strip_suffix(PROBE_NAME)
            .is_some_and(|head| head.ends_with(b": "))
}

/// Lines until `idle` passes with nothing more; ends at once after a first line that refuses
/// the request ([`is_refusal`]).
async fn read_many<R: AsyncBufReadExt + Unpin>(
    rd: &mut R,
    line: &mut Vec<u8>,
    idle: Duration,
) -> Result<Vec<Vec<u8>>, Error> {
    let mut lines = Vec::new();
    loop {
        match tokio::time::timeout(idle, read_line(rd, line)).await {
            Err(_) => return Ok(lines),
            Ok(Ok(true)) => {
                let first_is_final = lines.is_empty() && is_refusal(line);
                lines.push(line.clone());
                if first_is_final {
                    return Ok(lines);
                }
            }
            Ok(Ok(false)) => return Ok(lines),
            Ok(Err(e)) => {
                return Err(Error::io("reading a multi-line reply", e));
            }
        }
    }
}

/// Reads the next non-blank line into `line` (without LF or CRLF). False at EOF.
///
/// Cancel safe enough for its use: when idle, a partially read line is only ever followed by a
/// protocol error.
async fn read_line<R: AsyncBufReadExt + Unpin>(rd: &mut R, line: &mut Vec<u8>) -> io::Result<bool> {
    loop {
        line.clear();
        if rd.read_until(b'\n', line).await? == 0 {
            return Ok(false);
        }
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        if !line.is_empty() {
            return Ok(true);
        }
    }
}

/// The server ended the connection (EOF).
fn server_closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the server closed the connection",
    )
}
