//! One HTTP/1.1 keep-alive connection: read a head, check its ACL token, then read its body
//! (with the route's size limit and `Expect: 100-continue`), answer, repeat. While a request
//! is handled — a blocking query may park for minutes — the connection holds no read buffer.
//! This is why the API does not sit on hyper: hyper keeps about 12 KiB of buffers per
//! connection, which puts 10,000 parked queries above 100 MB on their own.
//!
//! Every byte a client sends is counted against a limit before it is buffered: the head
//! (`head.rs`), the body by `Content-Length` or as `chunked` framing (`chunked.rs`, decoded as
//! it arrives). Nothing of a body is read, and no `100 Continue` sent, before the ACL check
//! passed. Reads (the head, then the body) and each response's write have their own timeouts;
//! a client that reads too slowly has its connection reset, which frees its buffers.
//!
//! A client that half-closes after a complete request still gets its answer: the end of its
//! stream only ends a blocking wait early, so the query is answered with what it would see now
//! (and a client that has really gone costs nothing past that).
//!
//! The same loop serves TCP and, with feature `tls`, TLS on TCP (`Transport`): every write is
//! flushed (a TLS writer holds the last bytes otherwise), and a client gone without
//! `close_notify` is an ordinary disconnect.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::timeout;

use super::chunked::{ChunkedDecoder, ChunkedError};
use super::handler::Shared;
use super::head::{Head, HeadScanner};
use super::response::{Answer, encode_head};

/// Bodies up to this size go out in the same write as their head.
const COALESCE: usize = 16 * 1024;

/// What an HTTP connection runs over: TCP, or TLS on TCP.
pub(crate) trait Transport: AsyncRead + AsyncWrite + Unpin + Send {
    /// The TCP socket underneath (to reset it).
    fn tcp(&self) -> &TcpStream;
    /// Resolves when the client has closed its side (no more requests can come). Bytes of a
    /// pipelined request that arrive meanwhile stay for later: left in the socket, or (TLS,
    /// where the socket only holds records) put in `spill`; the future then never resolves.
    fn hung_up<'a>(&'a mut self, spill: &'a mut Vec<u8>) -> impl Future<Output = ()> + Send + 'a;
}

impl Transport for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }

    fn hung_up<'a>(&'a mut self, _: &'a mut Vec<u8>) -> impl Future<Output = ()> + Send + 'a {
        hung_up(self)
    }
}

#[cfg(feature = "tls")]
impl Transport for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }

    async fn hung_up<'a>(&'a mut self, spill: &'a mut Vec<u8>) {
        // A read, since TLS cannot be peeked: `close_notify` or a bare FIN (an error to
        // rustls) ends it; data is a pipelined request, kept for the next head. The small
        // buffer keeps a parked query's task small.
        let mut bytes = [0u8; 64];
        match self.read(&mut bytes).await {
            Ok(0) | Err(_) => {}
            Ok(n) => {
                spill.extend_from_slice(&bytes[..n]);
                std::future::pending().await
            }
        }
    }
}

/// Serves `stream` until the client closes, asks to close, or breaks the protocol.
pub(crate) async fn serve<S: Transport>(shared: Arc<Shared>, stream: S, local: SocketAddr) {
    let _open = Open::new(&shared.connections);
    let mut conn = Conn {
        policy: if shared.config.token.is_some() || shared.config.acl.is_some() {
            "deny"
        } else {
            "allow"
        },
        shared: &shared,
        stream,
        buf: Vec::new(),
    };
    conn.run(local).await;
}

/// Counts a connection as open while it lives.
struct Open<'a>(&'a AtomicUsize);

impl<'a> Open<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Open(count)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a request's body could not be read.
enum BodyFailure {
    /// Over the limit: the size declared or reached.
    TooLarge(u64),
    /// Bad framing: the answer to send.
    Refused(Answer),
    /// The client closed before the body ended.
    Closed,
}

struct Conn<'a, S> {
    shared: &'a Shared,
    policy: &'static str,
    stream: S,
    /// Bytes read and not yet used: part of a head, of a body, or pipelined requests.
    buf: Vec<u8>,
}

/// What to do after a request.
enum Next {
    KeepAlive,
    Close,
}

impl<S: Transport> Conn<'_, S> {
    async fn run(&mut self, local: SocketAddr) {
        while let Next::KeepAlive = self.request(local).await {}
    }

    /// Reads, checks and answers one request.
    async fn request(&mut self, local: SocketAddr) -> Next {
        let shared = self.shared;
        let config = &shared.config;
        let head = match timeout(config.read_timeout, self.read_head()).await {
            Ok(Ok(Some(head))) => head,
            Ok(Ok(None)) | Err(_) => return Next::Close, // closed, or silent too long
            Ok(Err(answer)) => return self.fail(answer).await,
        };

        // The ACL token first, on the head alone: nothing of the body is read before it.
        let grant = match shared.admit(&head) {
            Ok(grant) => grant,
            Err(answer) => {
                if head.has_body() {
                    return self.fail(answer).await; // its body stays unread: close
                }
                return self.answer(&answer, head.close).await;
            }
        };
        let (limit, kv) = shared.body_limit(&head);
        if let Some(n) = head.content_length.filter(|n| *n > limit as u64) {
            return self.fail(shared.too_large(n, limit, kv)).await;
        }
        if head.expect_continue && head.http11 && head.has_body() {
            let sent = self.write(b"HTTP/1.1 100 Continue\r\n\r\n", &[]).await;
            if !sent {
                return Next::Close;
            }
        }
        let body = match timeout(config.read_timeout, self.read_body(&head, limit)).await {
            Ok(Ok(body)) => body,
            Ok(Err(BodyFailure::TooLarge(n))) => {
                return self.fail(shared.too_large(n, limit, kv)).await;
            }
            Ok(Err(BodyFailure::Refused(answer))) => return self.fail(answer).await,
            Ok(Err(BodyFailure::Closed)) => return Next::Close,
            Err(_) => {
                let answer = Answer::text(408, "Request body read timed out");
                return self.fail(answer).await;
            }
        };
        if self.buf.is_empty() {
            self.buf = Vec::new(); // nothing pipelined: hold no buffer while the request runs
        }

        // Handled first (biased): an answer that is ready is sent even if the client has
        // half-closed meanwhile. If it has, a blocking wait ends now and answers.
        let gone = Notify::new();
        let handling = shared.handle(&head, body, local, &gone, grant.as_ref());
        tokio::pin!(handling);
        let idle = self.buf.is_empty();
        let ready = tokio::select! {
            biased;
            answer = &mut handling => Some(answer),
            _ = self.stream.hung_up(&mut self.buf), if idle => None,
        };
        let (answer, close) = match ready {
            Some(answer) => (answer, head.close),
            None => {
                gone.notify_one();
                (handling.await, true) // nothing can follow the end of its stream
            }
        };
        self.answer(&answer, close).await
    }

    /// Reads until a complete head is in `buf`, and takes it out. `Ok(None)`: the client
    /// closed; `Err`: the answer to close with.
    async fn read_head(&mut self) -> Result<Option<Head>, Answer> {
        let limits = self.shared.config.head_limits();
        let mut scanner = HeadScanner::default();
        loop {
            // Requests may arrive pipelined, so `buf` can already hold one.
            if let Some((head, taken)) = scanner.poll(&self.buf, limits)? {
                self.buf.drain(..taken);
                return Ok(Some(head));
            }
            if self.fill().await == 0 {
                return Ok(None);
            }
        }
    }

    /// The body by `Content-Length` or `chunked`, within `limit` data bytes.
    async fn read_body(&mut self, head: &Head, limit: usize) -> Result<Vec<u8>, BodyFailure> {
        if head.chunked {
            return self.read_chunked(limit).await;
        }
        // Checked against the limit already, so it fits in memory.
        let want = head.content_length.unwrap_or(0) as usize;
        self.buf.reserve(want.saturating_sub(self.buf.len()));
        while self.buf.len() < want {
            if self.fill().await == 0 {
                return Err(BodyFailure::Closed);
            }
        }
        if self.buf.len() == want {
            return Ok(std::mem::take(&mut self.buf)); // the usual case: the body is all read
        }
        Ok(self.buf.drain(..want).collect())
    }

    /// A chunked body, decoded as it arrives: every byte is fed to the decoder once.
    async fn read_chunked(&mut self, limit: usize) -> Result<Vec<u8>, BodyFailure> {
        let mut decoder = ChunkedDecoder::new(self.shared.config.chunked_limits(limit));
        let mut body = Vec::new();
        loop {
            let used = decoder.feed(&self.buf, &mut body).map_err(refusal)?;
            self.buf.drain(..used);
            if decoder.is_done() {
                return Ok(body);
            }
            if self.fill().await == 0 {
                return Err(BodyFailure::Closed);
            }
        }
    }

    /// Reads more bytes into `buf`; 0 on end of stream or error.
    async fn fill(&mut self) -> usize {
        self.buf.reserve(4096);
        self.stream.read_buf(&mut self.buf).await.unwrap_or(0)
    }

    /// Sends `answer`; then goes on unless `close` or the write failed.
    async fn answer(&mut self, answer: &Answer, close: bool) -> Next {
        let head = encode_head(answer, self.policy, close);
        if !self.write(&head, &answer.body).await {
            return Next::Close;
        }
        if close {
            // A FIN after the answer (TLS: close_notify first), within the write timeout: a
            // client that reads nothing cannot hold its connection open this way.
            let limit = self.shared.config.write_timeout;
            if timeout(limit, self.stream.shutdown()).await.is_err() {
                let _ = self.stream.tcp().set_zero_linger();
            }
            return Next::Close;
        }
        Next::KeepAlive
    }

    /// Answers a request the connection cannot go on after, then closes.
    async fn fail(&mut self, answer: Answer) -> Next {
        self.answer(&answer, true).await;
        Next::Close
    }

    /// Writes `head` and `body` within the write timeout; `false` if the client is gone or
    /// too slow, whose connection is then reset (unsent bytes dropped, buffers freed).
    async fn write(&mut self, head: &[u8], body: &[u8]) -> bool {
        let stream = &mut self.stream;
        let write = async {
            if body.len() <= COALESCE {
                stream.write_all(&[head, body].concat()).await?;
            } else {
                stream.write_all(head).await?;
                stream.write_all(body).await?;
            }
            stream.flush().await // TLS: sends the records rustls still holds
        };
        match timeout(self.shared.config.write_timeout, write).await {
            Ok(Ok(())) => true,
            Ok(Err(_)) => false,
            Err(_) => {
                tracing::debug!("http write timed out: resetting the connection");
                let _ = self.stream.tcp().set_zero_linger();
                false
            }
        }
    }
}

/// The answer for a chunked body the decoder refused.
fn refusal(e: ChunkedError) -> BodyFailure {
    BodyFailure::Refused(match e {
        ChunkedError::TooLarge(n) => return BodyFailure::TooLarge(n),
        ChunkedError::ExtensionsTooLong => {
            Answer::text(400, "Malformed HTTP request: chunk extensions too long")
        }
        ChunkedError::TrailersTooLarge => Answer::text(431, "Request trailer fields too large"),
        ChunkedError::Malformed(what) => Answer::text(
            400,
            format!("Malformed HTTP request: bad chunked body framing: {what}"),
        ),
    })
}

/// Resolves when the client has closed its side (no more requests can come). Data from a
/// pipelining client is left for later.
async fn hung_up(stream: &TcpStream) {
    let mut byte = [0u8; 1];
    match stream.peek(&mut byte).await {
        Ok(0) | Err(_) => {}
        Ok(_) => std::future::pending().await,
    }
}
