//! One protocol connection: a [`Connection`] owns the socket and its buffers — reading,
//! framing, the pending replies, flushing and backpressure — and runs each request through the
//! commands in order (spec §3.3). When it ends, for any reason, its cleanup runs (§9).
//!
//! **Bounded.** Input is read only when everything read before has been processed (or, while a
//! waiting request waits, up to the line limit plus one read), and replies are sent as soon as
//! the pending ones reach `max_pending_output` bytes, before the next line is processed. So a
//! peer that writes requests without reading the replies stops being read once that many bytes
//! are unsent: its memory is bounded by the read buffer, the line limit, the output cap and one
//! reply, and the buffers shrink back once they drain.
//!
//! **Endings.** A reset or error ends the connection at once; a half-close (FIN) ends it after
//! every line received before it has been answered (§3.1), and a wait still pending then is
//! answered with its timeout line, never granted (§12). Server shutdown ends it at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use super::commands::{Conn, Wait};
use super::hangups::RawFd;
use super::shared::{EndReason, Peer, Shared};
use super::table::Table;
use crate::backend::LockSession;
use crate::protocol::request::verb_of_start;
use crate::protocol::{Frame, Line, LineDecoder, parse_line, reply};

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 16 * 1024;
/// An idle connection's read goes to a buffer of this size inside its task, so that thousands
/// of idle connections hold no read buffer each; a read that fills it marks the client busy
/// (pipelining), and its next reads go straight to `READ_CHUNK`-sized input again.
const IDLE_READ: usize = 512;
/// How long past its deadline a wait's reply may be late (the table's own last look) before
/// the wait is answered with its timeout line regardless.
const DEADLINE_GRACE: std::time::Duration = std::time::Duration::from_millis(250);
/// How long an orderly close may wait to send its last bytes (TLS: close_notify).
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(1);
/// Buffer capacity kept between requests; more is given back once the buffer drains.
const KEEP_CAPACITY: usize = 64 * 1024;

/// Serves one accepted connection until it ends, then cleans up. `connections` was counted at
/// accept.
pub(crate) async fn serve<S, T>(
    mut stream: S,
    id: Arc<[u8]>,
    fd: Option<RawFd>,
    shared: Arc<Shared<T>>,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
    T: Table,
{
    let limit = shared.config.max_locks_per_session;
    let opened = tokio::select! {
        biased;
        // A session the table is slow to give (etcd granting a lease) never holds up shutdown.
        _ = stop.wait_for(|destroy| *destroy) => Err(super::table::Unavailable("server shutdown".into())),
        opened = shared.table.open(&id, (limit > 0).then_some(limit)) => opened,
    };
    let session = match opened {
        Ok(session) => Arc::new(session),
        Err(e) => {
            // Nothing was asked yet: the client sees the connection closed at once.
            tracing::warn!(backend = T::KIND, peer = %String::from_utf8_lossy(&id), error = %e.0,
                "connection closed: no session for it");
            shared.counters.connections.fetch_sub(1, Ordering::SeqCst);
            let _ = stream.shutdown().await;
            return;
        }
    };
    let idle = Arc::new(AtomicBool::new(false));
    let auth = super::commands::AuthState::default();
    shared.join(Peer {
        id: id.clone(),
        session: session.clone(),
        fd,
        idle: idle.clone(),
    });
    let number = T::number(&session);
    tracing::debug!(peer = %String::from_utf8_lossy(&id), session = number, "connection started");
    let mut connection = Connection {
        stream,
        conn: Conn {
            session: &*session,
            id: &id,
            shared: &shared,
            auth: &auth,
        },
        decoder: LineDecoder::new(shared.config.max_line_bytes),
        input: Vec::new(),
        at: 0,
        eof: false,
        busy: false,
        out: Vec::new(),
        stop,
        idle: &idle,
    };
    let reason = connection.run().await;
    // §9: release, unregister, uncount, and only then close our side of the socket (dropping
    // the stream): a client that waits for the close and asks again at once must see
    // everything released. Nothing happens if another task ended this connection already.
    shared.end(number, reason).await;
    if reason != EndReason::Failed {
        // An orderly close: under TLS, close_notify before the FIN (bounded: a peer that reads
        // nothing cannot hold the task).
        let _ = tokio::time::timeout(CLOSE_GRACE, connection.stream.shutdown()).await;
    }
    if reason == EndReason::AuthFailures {
        // The client may still be sending (pipelined lines after its failed attempts): what it
        // sends is read and dropped for a moment, so that closing with unread input (a reset)
        // does not destroy the replies it has not read yet.
        let mut sink = [0u8; 4096];
        let drain =
            async { while matches!(connection.stream.read(&mut sink).await, Ok(n) if n > 0) {} };
        let _ = tokio::time::timeout(CLOSE_GRACE, drain).await;
    }
    drop(connection);
}

/// A connection's socket, buffers and framing state.
pub(crate) struct Connection<'a, S, T: Table> {
    stream: S,
    conn: Conn<'a, T>,
    decoder: LineDecoder,
    /// Bytes read and not framed yet: `input[at..]`.
    input: Vec<u8>,
    at: usize,
    /// The peer has half-closed: nothing more will be read.
    eof: bool,
    /// The last read was large: the client sends more than one request at a time.
    busy: bool,
    /// Replies not sent yet.
    out: Vec<u8>,
    stop: watch::Receiver<bool>,
    idle: &'a AtomicBool,
}

/// What ended the connection's loop early.
type Ended = EndReason;

impl<'a, S: AsyncRead + AsyncWrite + Unpin, T: Table> Connection<'a, S, T> {
    fn shared(&self) -> &'a Shared<T> {
        self.conn.shared
    }

    /// Processes requests until the connection ends; returns why.
    async fn run(&mut self) -> EndReason {
        loop {
            while let Some(frame) = self.next_frame() {
                if let Err(end) = self.process(frame).await {
                    return end;
                }
                if T::is_closed(self.conn.session) {
                    return EndReason::PeerGone; // ended on our behalf (hang-up or shutdown)
                }
                if self.conn.session.is_lost() {
                    return EndReason::SessionLost;
                }
                if self.conn.auth.close.load(Ordering::SeqCst) {
                    // Its last reply (`0 Auth Failure`) goes out first.
                    return match self.flush().await {
                        Ok(()) => EndReason::AuthFailures,
                        Err(end) => end,
                    };
                }
            }
            if self.eof {
                // Half-close: the last, unterminated line is still answered (§3.1).
                if let Some(frame) = self.decoder.decode_eof() {
                    if let Err(end) = self.process(frame).await {
                        return end;
                    }
                }
                return match self.flush().await {
                    Ok(()) => EndReason::Closed,
                    Err(end) => end,
                };
            }
            if let Err(end) = self.flush().await {
                return end;
            }
            self.shrink();
            if let Err(end) = self.read_idle().await {
                return end;
            }
        }
    }

    /// The next complete frame of the input read so far.
    fn next_frame(&mut self) -> Option<Frame> {
        while self.at < self.input.len() {
            let (used, frame) = self.decoder.decode(&self.input[self.at..]);
            self.at += used;
            if self.at == self.input.len() {
                self.input.clear();
                self.at = 0;
            }
            if frame.is_some() {
                return frame;
            }
        }
        None
    }

    /// Waits for more input with nothing else to do: only here may another connection end this
    /// one on its behalf (see `Shared::reap_gone`), and here the idle timeout applies.
    async fn read_idle(&mut self) -> Result<(), Ended> {
        self.idle.store(true, Ordering::SeqCst);
        let timeout = self.shared().config.idle_timeout;
        let (stream, input, eof, stop, session) = (
            &mut self.stream,
            &mut self.input,
            &mut self.eof,
            &mut self.stop,
            self.conn.session,
        );
        let small = input.is_empty() && !self.busy;
        let read = async {
            let read = async {
                if small {
                    read_small(stream, input, eof).await
                } else {
                    read_some(stream, input, eof).await
                }
            };
            match timeout {
                Some(limit) => tokio::time::timeout(limit, read)
                    .await
                    .unwrap_or(Err(EndReason::IdleTimeout)),
                None => read.await,
            }
        };
        let r = tokio::select! {
            biased;
            _ = stop.wait_for(|destroy| *destroy) => Err(EndReason::Shutdown),
            // Its locks may be someone else's now: the client is told by the disconnect.
            () = session.lost() => Err(EndReason::SessionLost),
            r = read => r,
        };
        self.idle.store(false, Ordering::SeqCst);
        let n = r?;
        self.busy = n >= IDLE_READ;
        Ok(())
    }

    /// Handles one frame: its reply goes to the pending output (sent once it reaches the cap);
    /// a waiting request is run here, reading more input meanwhile.
    async fn process(&mut self, frame: Frame) -> Result<(), Ended> {
        let counters = &self.shared().counters;
        let wait = match frame {
            Frame::Line(line) => match parse_line(&line) {
                Line::Request { verb, arg } => self.conn.apply(verb, &arg, &mut self.out).await,
                Line::Empty | Line::Invalid => {
                    counters.invalid.fetch_add(1, Ordering::SeqCst); // no reply (§6.5)
                    None
                }
            },
            Frame::TooLong { start } => {
                // §3.3: counted invalid; answered only if the verb is valid; nothing executed.
                counters.invalid.fetch_add(1, Ordering::SeqCst);
                if verb_of_start(&start).is_some() {
                    self.out.extend_from_slice(reply::LINE_TOO_LONG);
                }
                None
            }
        };
        if let Some(wait) = wait {
            // Earlier replies go out before the wait starts.
            self.flush().await?;
            self.run_wait(wait).await?;
        }
        let high = &counters.output_high_water;
        high.fetch_max(self.out.len() as u64, Ordering::Relaxed);
        if self.out.len() >= self.shared().config.max_pending_output {
            self.flush().await?; // backpressure: nothing more is read or processed meanwhile
        }
        Ok(())
    }

    /// Runs a waiting request, reading input meanwhile (up to the line limit plus one read) so
    /// that a reset, a half-close or a shutdown is noticed. A wait still pending when the input
    /// ends is answered with its timeout line and never granted (§12).
    async fn run_wait(&mut self, wait: Wait) -> Result<(), Ended> {
        if self.eof {
            wait.timed_out(&mut self.out); // the input has ended already
            return Ok(());
        }
        // The wait's reply is due by its deadline, however slow the table is (etcd
        // unreachable): then it times out, and dropping the request withdraws it.
        let deadline = tokio::time::Instant::now() + wait.duration();
        let hard_stop = deadline + DEADLINE_GRACE;
        // A wait granted at once is granted, however long the table takes to say so (etcd):
        // only a request that has to wait is ended by the input's end.
        let tried = {
            let (conn, out, stop) = (&self.conn, &mut self.out, &mut self.stop);
            tokio::select! {
                biased;
                _ = stop.wait_for(|destroy| *destroy) => return Err(EndReason::Shutdown),
                answered = conn.try_first(&wait, out) => answered,
                () = tokio::time::sleep_until(hard_stop) => {
                    wait.timed_out(out);
                    true
                }
            }
        };
        if tried {
            return Ok(());
        }
        let cap = READ_CHUNK + self.shared().config.max_line_bytes;
        let Connection {
            stream,
            conn,
            input,
            at,
            eof,
            out,
            stop,
            ..
        } = self;
        let mut answer = Vec::new();
        let timed_out = {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let waiting = conn.wait(&wait, left, &mut answer);
            tokio::pin!(waiting);
            loop {
                let can_read = input.len() - *at < cap;
                tokio::select! {
                    biased;
                    _ = stop.wait_for(|destroy| *destroy) => return Err(EndReason::Shutdown),
                    () = &mut waiting => break false,
                    () = tokio::time::sleep_until(hard_stop) => break true,
                    r = read_some(stream, input, eof), if can_read => {
                        r?; // a reset cancels the wait: nothing granted, nothing orphaned
                        if *eof {
                            break true; // dropping `waiting` leaves the queue
                        }
                    }
                }
            }
        };
        if timed_out {
            wait.timed_out(out);
        } else {
            out.extend_from_slice(&answer);
        }
        Ok(())
    }

    /// Sends the pending replies, unless the server shuts down meanwhile.
    async fn flush(&mut self) -> Result<(), Ended> {
        if self.out.is_empty() {
            return Ok(());
        }
        let (stream, out, stop) = (&mut self.stream, &self.out, &mut self.stop);
        let r = tokio::select! {
            biased;
            _ = stop.wait_for(|destroy| *destroy) => Err(EndReason::Shutdown),
            // The flush matters under TLS: its records go out only then.
            r = async { stream.write_all(out).await?; stream.flush().await } => r.map_err(|_| EndReason::Failed),
        };
        self.out.clear();
        r
    }

    /// Gives back buffer memory beyond what an ordinary request needs, once drained; a client
    /// that is not busy keeps no read-sized input buffer while it idles.
    fn shrink(&mut self) {
        if self.out.capacity() > KEEP_CAPACITY {
            self.out = Vec::new();
        }
        let keep = if self.busy { KEEP_CAPACITY } else { IDLE_READ };
        if self.input.is_empty() && self.input.capacity() > keep {
            self.input = Vec::new();
        }
    }
}

/// Appends one read to `input`; the bytes read, 0 at EOF (recorded in `eof`). Cancel safe
/// (`read_buf` appends only what it read), which matters: while a line waits, this read races
/// the wait and is dropped when the wait ends first.
async fn read_some<R: AsyncRead + Unpin>(
    rd: &mut R,
    input: &mut Vec<u8>,
    eof: &mut bool,
) -> Result<usize, Ended> {
    input.reserve(READ_CHUNK);
    match rd.read_buf(input).await {
        Ok(0) => {
            *eof = true;
            Ok(0)
        }
        Ok(n) => Ok(n),
        Err(_) => Err(EndReason::Failed),
    }
}

/// As `read_some`, for an idle connection: at most `IDLE_READ` bytes, read into the task's own
/// buffer and then appended, so that waiting for them holds no heap buffer. Cancel safe too.
async fn read_small<R: AsyncRead + Unpin>(
    rd: &mut R,
    input: &mut Vec<u8>,
    eof: &mut bool,
) -> Result<usize, Ended> {
    let mut small = [0u8; IDLE_READ];
    match rd.read(&mut small).await {
        Ok(0) => {
            *eof = true;
            Ok(0)
        }
        Ok(n) => {
            input.reserve_exact(n); // no more than it needs: `shrink` would free the rest
            input.extend_from_slice(&small[..n]);
            Ok(n)
        }
        Err(_) => Err(EndReason::Failed),
    }
}
