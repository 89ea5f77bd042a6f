//! One protocol connection: read, frame, apply in order, write back; on any ending (EOF, error,
//! reset, idle timeout, server destroy) release everything it held (spec §9).
//!
//! Lines are processed one at a time and replies are written before more input is read, so a
//! peer that does not read its replies stops being read (backpressure): memory per connection is
//! bounded by the read buffer, the line limit and one batch of replies. While a waiting extension
//! request (`gw`, `sgw`) waits, later lines wait behind it; input that arrives meanwhile is
//! buffered up to the same bound, and a reset or a server destroy cancels the wait.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use super::commands::{Conn, Wait};
use super::{Peer, Shared};
use crate::protocol::request::verb_of_start;
use crate::protocol::{Frame, Line, LineDecoder, parse_line, reply};

const READ_BUFFER: usize = 16 * 1024;

/// Serves one connection until it ends, then cleans up. `connections` was counted at accept.
pub(crate) async fn serve<S>(
    mut stream: S,
    peer: Peer,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let session = shared.mgr.session();
    let limit = shared.config.max_locks_per_session;
    session.set_lock_limit((limit > 0).then_some(limit));
    let id = peer.id.clone();
    shared.peers.lock().insert(session.id(), peer);
    let conn = Conn {
        session: &session,
        id: &id,
        shared: &shared,
    };
    run(&mut stream, &conn, stop).await;

    // §9: release exclusive and shared holdings, cancel waits, unregister, uncount, and only
    // then close our side of the socket: a client that waits for the close (the Node client
    // does) and asks again at once must see everything released.
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
    shared.peers.lock().remove(&session.id());
    counters.connections.fetch_sub(1, Ordering::SeqCst);
    drop(stream);
}

async fn run<S>(stream: &mut S, conn: &Conn<'_>, mut stop: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let idle = conn.shared.config.idle_timeout;
    let mut decoder = LineDecoder::new(conn.shared.config.max_line_bytes);
    let mut input = Input {
        bytes: Vec::new(),
        eof: false,
        cap: READ_BUFFER + conn.shared.config.max_line_bytes,
    };
    let mut out = Vec::new();
    loop {
        if input.bytes.is_empty() && !input.eof {
            let read = async {
                match idle {
                    Some(limit) => tokio::time::timeout(limit, input.read(&mut rd))
                        .await
                        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into())),
                    None => input.read(&mut rd).await,
                }
            };
            tokio::select! {
                r = read => if r.is_err() { return }, // reset, error, idle timeout
                _ = stop.wait_for(|destroy| *destroy) => return,
            }
        }
        // Bytes that arrive while a line waits land in `input` and are framed next round.
        let mut chunk = std::mem::take(&mut input.bytes);
        let mut at = 0;
        while at < chunk.len() {
            let (used, frame) = decoder.decode(&chunk[at..]);
            at += used;
            if let Some(frame) = frame {
                if !process(
                    conn, frame, &mut out, &mut rd, &mut wr, &mut input, &mut stop,
                )
                .await
                {
                    return;
                }
            }
        }
        if input.bytes.is_empty() {
            chunk.clear();
            input.bytes = chunk; // reuse the allocation
        }
        if input.eof && input.bytes.is_empty() {
            // Half-close: the last, unterminated line is still answered (§3.1).
            if let Some(frame) = decoder.decode_eof() {
                if !process(
                    conn, frame, &mut out, &mut rd, &mut wr, &mut input, &mut stop,
                )
                .await
                {
                    return;
                }
            }
            let _ = write(&mut wr, &out, &mut stop).await;
            return;
        }
        if !write(&mut wr, &out, &mut stop).await {
            return;
        }
        out.clear();
    }
}

/// Input read from the peer but not framed yet.
struct Input {
    bytes: Vec<u8>,
    eof: bool,
    /// Stop reading beyond this while a line waits (backpressure).
    cap: usize,
}

impl Input {
    /// Appends one read; `Ok` also at EOF (recorded in `eof`).
    ///
    /// Cancel safe (`read_buf` appends only what it read), which matters: while a line waits,
    /// this read races the wait and is dropped when the wait ends first.
    async fn read<R: AsyncRead + Unpin>(&mut self, rd: &mut R) -> std::io::Result<()> {
        self.bytes.reserve(READ_BUFFER);
        if rd.read_buf(&mut self.bytes).await? == 0 {
            self.eof = true;
        }
        Ok(())
    }
}

/// Handles one frame; a waiting extension request is run here, watching the peer and the
/// server meanwhile. Returns false if the connection must end.
async fn process<R, W>(
    conn: &Conn<'_>,
    frame: Frame,
    out: &mut Vec<u8>,
    rd: &mut R,
    wr: &mut W,
    input: &mut Input,
    stop: &mut watch::Receiver<bool>,
) -> bool
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let Some(wait) = handle(conn, frame, out) else {
        return true;
    };
    if let Wait::Recheck { verb, arg } = wait {
        // A holder's peer is gone but its cleanup has not run: let it run, then answer.
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
        conn.apply(verb, &arg, out, false);
        return true;
    }
    // Earlier replies go out before the wait starts.
    if !write(wr, out, stop).await {
        return false;
    }
    out.clear();
    let waiting = conn.wait(wait, out);
    tokio::pin!(waiting);
    loop {
        let can_read = !input.eof && input.bytes.len() < input.cap;
        tokio::select! {
            () = &mut waiting => return true,
            r = input.read(rd), if can_read => {
                // A reset cancels the wait (nothing granted, nothing orphaned); a half-close
                // does not: the line is still answered.
                if r.is_err() {
                    return false;
                }
            }
            _ = stop.wait_for(|destroy| *destroy) => return false,
        }
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

/// Applies one frame, appending its reply to `out`, or returns the wait that will answer it.
fn handle(conn: &Conn<'_>, frame: Frame, out: &mut Vec<u8>) -> Option<Wait> {
    let counters = &conn.shared.counters;
    match frame {
        Frame::Line(line) => match parse_line(&line) {
            Line::Request { verb, arg } => return conn.apply(verb, &arg, out, true),
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
    None
}
