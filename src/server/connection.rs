//! One protocol connection: read, frame, apply in order, write back; on any ending (EOF, error,
//! reset, idle timeout, server destroy) release everything it held (spec §9).
//!
//! Lines are processed one at a time and replies are written before more input is read, so a
//! peer that does not read its replies stops being read (backpressure): memory per connection is
//! bounded by the read buffer, the line limit and one batch of replies.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use super::Shared;
use super::commands::Conn;
use crate::protocol::request::verb_of_start;
use crate::protocol::{Frame, Line, LineDecoder, parse_line, reply};

const READ_BUFFER: usize = 16 * 1024;

/// Serves one connection until it ends, then cleans up. `connections` was counted at accept.
pub(crate) async fn serve<S>(
    stream: S,
    id: Arc<[u8]>,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let session = shared.mgr.session();
    let limit = shared.config.max_locks_per_session;
    session.set_lock_limit((limit > 0).then_some(limit));
    shared.ids.lock().insert(session.id(), id.clone());
    let conn = Conn {
        session: &session,
        id: &id,
        shared: &shared,
    };
    run(stream, &conn, stop).await;

    // §9: release exclusive and shared holdings, cancel waits, unregister, then uncount.
    let (exclusive, shared_held) = session.held_counts();
    session.close();
    let counters = &shared.counters;
    counters
        .orphans
        .fetch_add(exclusive as u64, Ordering::SeqCst);
    counters
        .shared_orphans
        .fetch_add(shared_held as u64, Ordering::SeqCst);
    shared.registry.remove(session.id());
    shared.ids.lock().remove(&session.id());
    counters.connections.fetch_sub(1, Ordering::SeqCst);
}

async fn run<S>(stream: S, conn: &Conn<'_>, mut stop: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let idle = conn.shared.config.idle_timeout;
    let mut decoder = LineDecoder::new(conn.shared.config.max_line_bytes);
    let mut buf = vec![0u8; READ_BUFFER];
    let mut out = Vec::new();
    loop {
        let read = async {
            match idle {
                Some(limit) => tokio::time::timeout(limit, rd.read(&mut buf))
                    .await
                    .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into())),
                None => rd.read(&mut buf).await,
            }
        };
        let n = tokio::select! {
            r = read => match r {
                Ok(n) => n,
                Err(_) => return, // reset, error, idle timeout
            },
            _ = stop.wait_for(|destroy| *destroy) => return,
        };
        if n == 0 {
            // Half-close: the last, unterminated line is still answered (§3.1).
            if let Some(frame) = decoder.decode_eof() {
                handle(conn, frame, &mut out);
            }
            let _ = write(&mut wr, &out, &mut stop).await;
            return;
        }
        let mut at = 0;
        while at < n {
            let (used, frame) = decoder.decode(&buf[at..n]);
            at += used;
            if let Some(frame) = frame {
                handle(conn, frame, &mut out);
            }
        }
        if !write(&mut wr, &out, &mut stop).await {
            return;
        }
        out.clear();
    }
}

/// Writes `out` unless the server is destroyed meanwhile; false if the connection should end.
async fn write<W: AsyncWrite + Unpin>(
    wr: &mut W,
    out: &[u8],
    stop: &mut watch::Receiver<bool>,
) -> bool {
    if out.is_empty() {
        return true;
    }
    tokio::select! {
        r = wr.write_all(out) => r.is_ok(),
        _ = stop.wait_for(|destroy| *destroy) => false,
    }
}

fn handle(conn: &Conn<'_>, frame: Frame, out: &mut Vec<u8>) {
    let counters = &conn.shared.counters;
    match frame {
        Frame::Line(line) => match parse_line(&line) {
            Line::Request { verb, arg } => conn.apply(verb, &arg, out),
            Line::Empty | Line::Invalid => {
                counters.invalid.fetch_add(1, Ordering::SeqCst); // no reply (§6.5)
            }
        },
        Frame::TooLong { start } => {
            // §3.3: counted invalid; answered only if the verb is valid; nothing executed.
            counters.invalid.fetch_add(1, Ordering::SeqCst);
            if verb_of_start(&start).is_some() {
                out.extend_from_slice(reply::LINE_TOO_LONG);
            }
        }
    }
}
