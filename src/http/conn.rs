//! One HTTP/1.1 keep-alive connection: read a head, then its body (with the route's size limit
//! and `Expect: 100-continue`), answer, repeat. While a request is handled — a blocking query
//! may park for minutes — the connection holds no read buffer, and a client that hangs up ends
//! the request at once. This is why the API does not sit on hyper: hyper keeps about 12 KiB of
//! buffers per connection, which puts 10,000 parked queries above 100 MB on their own.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::framing::{self, Head};
use super::handler::Shared;
use super::response::Answer;

/// Serves `stream` until the client closes, asks to close, or breaks the protocol.
pub(crate) async fn serve(shared: Arc<Shared>, mut stream: TcpStream, local: SocketAddr) {
    let policy = if shared.config.token.is_some() {
        "deny"
    } else {
        "allow"
    };
    let timeout = shared.config.read_timeout;
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // The head: requests may arrive pipelined, so `buf` can already hold one.
        let parsed = tokio::time::timeout(timeout, async {
            loop {
                match framing::parse_head(&buf) {
                    Ok(Some(done)) => return Ok(Some(done)),
                    Ok(None) => {}
                    Err(reject) => return Err(reject),
                }
                if fill(&mut stream, &mut buf).await == 0 {
                    return Ok(None);
                }
            }
        })
        .await;
        let (head, taken) = match parsed {
            Ok(Ok(Some(done))) => done,
            Ok(Ok(None)) | Err(_) => return, // closed, or silent too long
            Ok(Err(reject)) => return fail(&mut stream, reject.into(), policy).await,
        };
        buf.drain(..taken);

        let (limit, kv) = shared.body_limit(&head);
        if let Some(n) = head.content_length.filter(|n| *n > limit as u64) {
            return fail(&mut stream, shared.too_large(n, limit, kv), policy).await;
        }
        if head.expect_continue
            && stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .is_err()
        {
            return;
        }
        let body =
            match tokio::time::timeout(timeout, read_body(&mut stream, &mut buf, &head, limit))
                .await
            {
                Ok(Ok(body)) => body,
                Ok(Err(Some(n))) => {
                    return fail(&mut stream, shared.too_large(n, limit, kv), policy).await;
                }
                Ok(Err(None)) => {
                    let answer = Answer::text(400, "Malformed HTTP request: bad body framing");
                    return fail(&mut stream, answer, policy).await;
                }
                Err(_) => {
                    return fail(
                        &mut stream,
                        Answer::text(408, "Request body read timed out"),
                        policy,
                    )
                    .await;
                }
            };
        if buf.is_empty() {
            buf = Vec::new(); // nothing pipelined: hold no buffer while the request runs
        }

        let answer = tokio::select! {
            answer = shared.handle(&head, body, local) => answer,
            _ = hung_up(&stream), if buf.is_empty() => return,
        };
        let close = head.close;
        if stream
            .write_all(&framing::encode(&answer, policy, close))
            .await
            .is_err()
            || close
        {
            return;
        }
    }
}

/// Reads more bytes into `buf`; 0 on end of stream or error.
async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> usize {
    buf.reserve(4096);
    stream.read_buf(buf).await.unwrap_or(0)
}

/// The body by `Content-Length` or `chunked`; `Err(Some(n))` when over `limit`, `Err(None)` on
/// bad framing or a connection that ends early.
async fn read_body(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    head: &Head,
    limit: usize,
) -> Result<Vec<u8>, Option<u64>> {
    if head.chunked {
        loop {
            if let Some((body, taken)) = framing::decode_chunked(buf, limit)? {
                buf.drain(..taken);
                return Ok(body);
            }
            if fill(stream, buf).await == 0 {
                return Err(None);
            }
        }
    }
    let want = head.content_length.unwrap_or(0) as usize; // checked against the limit
    while buf.len() < want {
        if fill(stream, buf).await == 0 {
            return Err(None);
        }
    }
    if buf.len() == want {
        return Ok(std::mem::take(buf)); // the usual case: the body is all that was read
    }
    Ok(buf.drain(..want).collect())
}

/// Resolves when the client closes its side (a parked request for nobody is dropped). Data
/// from a pipelining client is left for later.
async fn hung_up(stream: &TcpStream) {
    let mut byte = [0u8; 1];
    match stream.peek(&mut byte).await {
        Ok(0) | Err(_) => {}
        Ok(_) => std::future::pending().await,
    }
}

/// Answers a request the connection cannot go on after, then closes.
async fn fail(stream: &mut TcpStream, answer: Answer, policy: &str) {
    let _ = stream
        .write_all(&framing::encode(&answer, policy, true))
        .await;
    let _ = stream.shutdown().await;
}
