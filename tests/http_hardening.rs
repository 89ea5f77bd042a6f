//! The HTTP frontend against hostile and unlucky clients (framing limits, ACL order, half-close, write timeout, wake-up cost, tombstones), over real
//! sockets on 127.0.0.1: every byte of a request's framing counted against a limit, the ACL
//! token checked before any body is read, no input reaching a panic, strict `Content-Length`
//! and `Transfer-Encoding`, answers to requests followed by a FIN, a write timeout for clients
//! that never read, prefix wake-ups for long keys. (One tombstone per key is tested in
//! `src/http/tombstones.rs` and `src/http/store_tests.rs`, where tombstones can be counted.)
#![cfg(feature = "http")]

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lockd::LockManager;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use support::{Api, config, start, start_server, until_parked};

/// Fails a test that hangs; never a timing assertion.
const DEADLINE: Duration = Duration::from_secs(60);

/// One response read off a raw connection.
#[derive(Debug)]
struct Response {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Response {
    fn closes(&self) -> bool {
        self.head.contains("\r\nConnection: close")
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads one response (its head, then a `Content-Length` body) from `s`; bytes past it stay
/// in `pending` for the next call.
async fn read_response(s: &mut (impl AsyncRead + Unpin), pending: &mut Vec<u8>) -> Response {
    loop {
        if let Some(end) = find(pending, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).into_owned();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .map_or(0, |v| v.trim().parse().unwrap());
            if pending.len() >= end + 4 + len {
                let body = pending[end + 4..end + 4 + len].to_vec();
                pending.drain(..end + 4 + len);
                let status = head[9..12].parse().unwrap();
                return Response { status, head, body };
            }
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = timeout(DEADLINE, s.read(&mut chunk))
            .await
            .expect("no answer")
            .unwrap_or_else(|e| panic!("read failed before a whole response: {e}"));
        assert!(
            n > 0,
            "closed before a whole response: {:?}",
            String::from_utf8_lossy(pending)
        );
        pending.extend_from_slice(&chunk[..n]);
    }
}

/// Reads until the server closes (or resets) the connection; the bytes read.
async fn read_to_end(s: &mut (impl AsyncRead + Unpin)) -> usize {
    let mut total = 0;
    let mut chunk = [0u8; 64 * 1024];
    loop {
        match timeout(DEADLINE, s.read(&mut chunk))
            .await
            .expect("the server kept the connection open")
        {
            Ok(0) | Err(_) => return total,
            Ok(n) => total += n,
        }
    }
}

/// Sends `bytes` on a new connection; its first response.
async fn exchange(addr: SocketAddr, bytes: &[u8]) -> (Response, TcpStream) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let r = read_response(&mut s, &mut Vec::new()).await;
    (r, s)
}

/// Sends `bytes`, answered by `status` with `Connection: close`, and then the connection
/// closes.
async fn refused(addr: SocketAddr, bytes: &[u8], status: u16) -> Response {
    let (r, mut s) = exchange(addr, bytes).await;
    assert_eq!(
        r.status,
        status,
        "{:?}: {r:?}",
        String::from_utf8_lossy(bytes)
    );
    assert!(r.closes(), "{r:?}");
    read_to_end(&mut s).await;
    r
}

/// Opens a connection, sends `start`, then `unit` over and over until the server stops
/// taking it. Returns the server's first response and whether the writer hit an error (the
/// server closed) before sending `cap` bytes.
async fn flood(addr: SocketAddr, start: &[u8], unit: &[u8], cap: u64) -> (Response, bool) {
    let (mut rd, mut wr) = TcpStream::connect(addr).await.unwrap().into_split();
    let (start, unit) = (start.to_vec(), unit.repeat((16 * 1024 / unit.len()).max(1)));
    let writer = tokio::spawn(async move {
        wr.write_all(&start).await?;
        let mut sent = 0u64;
        while sent < cap {
            wr.write_all(&unit).await?;
            sent += unit.len() as u64;
        }
        Ok::<u64, std::io::Error>(sent)
    });
    let r = read_response(&mut rd, &mut Vec::new()).await;
    read_to_end(&mut rd).await;
    let stopped = timeout(DEADLINE, writer)
        .await
        .expect("the server kept reading")
        .unwrap()
        .is_err();
    (r, stopped)
}

// Item 8: every byte of framing is counted, before the ACL check too.

#[tokio::test]
async fn endless_chunked_trailers_get_431_at_the_trailer_limit() {
    let (api, _) = start(config().token(Some("s3cret".into()))).await;
    // Authenticated, to reach the trailers at all now that the ACL check comes first.
    let start =
        b"PUT /v1/kv/t?token=s3cret HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n";
    let (r, stopped) = flood(api.addr, start, b"X-Trailer: 0123456789abcdef\r\n", 1 << 30).await;
    assert_eq!(r.status, 431, "{r:?}");
    assert_eq!(r.text(), "Request trailer fields too large");
    assert!(r.closes() && stopped, "the server went on reading trailers");
    let api = api.with_header("X-Consul-Token", "s3cret");
    assert!(api.entry("t").await.is_none());
    // Within the limit, trailers are read and dropped.
    let body = format!("1\r\na\r\n0\r\n{}\r\n", "T: x\r\n".repeat(100));
    let head =
        format!("PUT /v1/kv/t?token=s3cret HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{body}");
    let (r, _) = exchange(api.addr, head.as_bytes()).await;
    assert_eq!((r.status, r.text().as_str()), (200, "true"));
}

#[tokio::test]
async fn chunk_extensions_count_against_their_limit_over_all_chunks() {
    let (api, _) = start(config()).await;
    let start = b"PUT /v1/kv/e HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    // 1 000 bytes of extension per 1-byte chunk.
    let unit = format!("1;{}\r\na\r\n", "e".repeat(999));
    let (r, stopped) = flood(api.addr, start, unit.as_bytes(), 1 << 30).await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.text().contains("chunk extensions too long"), "{r:?}");
    assert!(r.closes() && stopped);
    assert!(api.entry("e").await.is_none());
    // A few short extensions are fine.
    let ok =
        b"PUT /v1/kv/e HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2;a=b\r\nhi\r\n0;c\r\n\r\n";
    assert_eq!(exchange(api.addr, ok).await.0.status, 200);
    assert_eq!(api.get("/v1/kv/e?raw").await.text(), "hi");
}

#[tokio::test]
async fn heads_are_held_to_max_head_size_and_max_headers() {
    let (api, _) = start(config().max_head_size(1024).max_headers(8)).await;
    let head = |filler: usize| {
        format!(
            "GET /v1/kv/h HTTP/1.1\r\nX-Filler: {}\r\n\r\n",
            "f".repeat(filler)
        )
    };
    assert_eq!(exchange(api.addr, head(900).as_bytes()).await.0.status, 404);
    let r = refused(api.addr, head(1100).as_bytes(), 431).await;
    assert_eq!(r.text(), "Request header fields too large");
    // A head that never ends, and blank lines that never end, are cut at the limit too.
    let (r, stopped) = flood(api.addr, b"GET /v1/kv/h HTTP/1.1\r\nX: ", b"a", 1 << 30).await;
    assert!(r.status == 431 && stopped, "{r:?}");
    let (r, stopped) = flood(api.addr, b"", b"\r\n", 1 << 30).await;
    assert!(r.status == 431 && stopped, "{r:?}");
    let nine = format!("GET /v1/kv/h HTTP/1.1\r\n{}\r\n", "A: b\r\n".repeat(9));
    let r = refused(api.addr, nine.as_bytes(), 431).await;
    assert_eq!(r.text(), "Too many request header fields (at most 8)");
}

#[tokio::test]
async fn the_acl_token_is_checked_before_any_body_is_read_or_continue_sent() {
    let (api, _) = start(config().token(Some("s3cret".into()))).await;
    // Bodies announced but not sent: the 403 comes at once, not a 100 Continue, then close.
    for head in [
        &b"PUT /v1/kv/secret HTTP/1.1\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n"[..],
        b"PUT /v1/kv/secret HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
        b"PUT /v1/kv/secret?token=wrong HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"PUT /v1/session/create HTTP/1.1\r\nContent-Length: 10\r\n\r\n",
    ] {
        let r = refused(api.addr, head, 403).await;
        assert_eq!(r.text(), "Permission denied");
    }
    // Without a body, a 403 keeps the connection.
    let mut s = TcpStream::connect(api.addr).await.unwrap();
    let mut pending = Vec::new();
    s.write_all(b"GET /v1/kv/secret HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    let r = read_response(&mut s, &mut pending).await;
    assert!(r.status == 403 && !r.closes(), "{r:?}");
    // With the token, 100 Continue comes before the body is sent.
    s.write_all(
        b"PUT /v1/kv/secret HTTP/1.1\r\nX-Consul-Token: s3cret\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(read_response(&mut s, &mut pending).await.status, 100);
    s.write_all(b"hello").await.unwrap();
    let r = read_response(&mut s, &mut pending).await;
    assert_eq!((r.status, r.text().as_str()), (200, "true"));
    let api = api.with_header("X-Consul-Token", "s3cret");
    assert_eq!(api.get("/v1/kv/secret?raw").await.text(), "hello");
}

// Item 9: chunk-size arithmetic; a decoder that resumes where the last read stopped.

#[tokio::test]
async fn huge_chunk_sizes_are_refused_and_the_server_lives() {
    let (api, _) = start(config()).await;
    let put = "PUT /v1/kv/h HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (body, status) in [
        ("1\r\na\r\nfffffffffffffffe\r\n", 413),
        ("ffffffffffffffff\r\n", 413),
        ("1\r\na\r\nffffffffffffffff;x\r\n", 413),
        ("10000000000000000\r\n", 400),
        ("00000000000000000001\r\n", 400),
    ] {
        let r = refused(api.addr, format!("{put}{body}").as_bytes(), status).await;
        if status == 413 {
            assert!(r.text().contains("too large"), "{r:?}");
        }
    }
    assert!(api.put_bool("/v1/kv/h", "alive").await);
    assert_eq!(api.get("/v1/kv/h?raw").await.text(), "alive");
}

#[tokio::test]
async fn a_chunked_body_that_arrives_a_byte_at_a_time_is_decoded() {
    let (api, _) = start(config()).await;
    let mut s = TcpStream::connect(api.addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let mut request = b"PUT /v1/kv/slow HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let mut expected = Vec::new();
    for i in 0..40u8 {
        let data: Vec<u8> = (0..i % 7 + 1).map(|j| b'a' + (i + j) % 26).collect();
        request.extend_from_slice(format!("{:x};n={i}\r\n", data.len()).as_bytes());
        request.extend_from_slice(&data);
        request.extend_from_slice(b"\r\n");
        expected.extend_from_slice(&data);
    }
    request.extend_from_slice(b"0\r\nEnd: yes\r\n\r\n");
    for byte in &request {
        s.write_all(std::slice::from_ref(byte)).await.unwrap();
    }
    let r = read_response(&mut s, &mut Vec::new()).await;
    assert_eq!((r.status, r.text().as_str()), (200, "true"));
    assert_eq!(api.get("/v1/kv/slow?raw").await.body, expected);
}

// Item 10: strict Content-Length and Transfer-Encoding.

#[tokio::test]
async fn signed_lengths_and_unsupported_codings_are_refused() {
    let (api, _) = start(config()).await;
    for (request, status) in [
        (&b"PUT /v1/kv/s HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello"[..], 400),
        (b"PUT /v1/kv/s HTTP/1.1\r\nContent-Length: -5\r\n\r\nhello", 400),
        (b"PUT /v1/kv/s HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\nhello", 400),
        (b"PUT /v1/kv/s HTTP/1.1\r\nContent-Length: 0x5\r\n\r\nhello", 400),
        (b"PUT /v1/kv/s HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n", 400),
        (b"PUT /v1/kv/s HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 5\r\nhello\r\n0\r\n\r\n", 400),
        (b"PUT /v1/kv/s HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 501),
        (b"PUT /v1/kv/s HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 501),
        (b"PUT /v1/kv/s HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 501),
        (b"PUT /v1/kv/s HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400),
    ] {
        refused(api.addr, request, status).await;
    }
    assert!(api.entry("s").await.is_none(), "a refused body was stored");
    let empty_coding = b"PUT /v1/kv/s HTTP/1.1\r\nTransfer-Encoding:\r\n\r\nhello";
    refused(api.addr, empty_coding, 400).await;
    let ok = b"PUT /v1/kv/s HTTP/1.1\r\nContent-Length: 005\r\n\r\nhello";
    assert_eq!(exchange(api.addr, ok).await.0.status, 200);
    assert_eq!(api.get("/v1/kv/s?raw").await.text(), "hello");
}

// Item 11: a request that arrived whole before the FIN is answered.

/// A blocking client on its own thread, so that its FIN races the server's handling (with
/// the test's single-threaded runtime the FIN would always be in before the server looked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_followed_by_a_fin_is_answered() {
    let (api, _) = start(config()).await;
    let addr = api.addr;
    let unanswered = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut unanswered = Vec::new();
        for i in 0..1000u32 {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(DEADLINE)).unwrap();
            let request = if i % 2 == 0 {
                let value = i.to_string();
                format!(
                    "PUT /v1/kv/fin HTTP/1.1\r\nContent-Length: {}\r\n\r\n{value}",
                    value.len()
                )
            } else {
                "GET /v1/kv/fin?raw HTTP/1.1\r\n\r\n".to_owned()
            };
            s.write_all(request.as_bytes()).unwrap();
            // A gap of 0 to 195 µs before the FIN, so that it lands at every point of the
            // server's handling (a spin, not a wait for anything).
            let gap = Duration::from_micros(u64::from(i % 40) * 5);
            let spin = Instant::now();
            while spin.elapsed() < gap {
                std::hint::spin_loop();
            }
            s.shutdown(std::net::Shutdown::Write).unwrap();
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out);
            let text = String::from_utf8_lossy(&out);
            let expected = if i % 2 == 0 {
                "true".to_owned()
            } else {
                (i - 1).to_string()
            };
            if !(text.starts_with("HTTP/1.1 200 OK\r\n") && text.ends_with(&expected)) {
                unanswered.push((i, text.into_owned()));
            }
        }
        unanswered
    })
    .await
    .unwrap();
    assert!(
        unanswered.is_empty(),
        "{} of 1000 unanswered, first: {:?}",
        unanswered.len(),
        unanswered.first()
    );

    // Pipelined requests before the FIN are all answered, in order.
    let mut s = TcpStream::connect(api.addr).await.unwrap();
    s.write_all(
        b"PUT /v1/kv/p HTTP/1.1\r\nContent-Length: 2\r\n\r\nv1GET /v1/kv/p?raw HTTP/1.1\r\n\r\n",
    )
    .await
    .unwrap();
    s.shutdown().await.unwrap();
    let mut pending = Vec::new();
    assert_eq!(read_response(&mut s, &mut pending).await.text(), "true");
    assert_eq!(read_response(&mut s, &mut pending).await.text(), "v1");
}

#[tokio::test]
async fn a_parked_query_whose_client_half_closes_is_answered_at_once() {
    let (api, server) = start_server(LockManager::new(), config()).await;
    assert!(api.put_bool("/v1/kv/w", "x").await);
    let index = api.get("/v1/kv/w").await.index();
    let mut s = TcpStream::connect(api.addr).await.unwrap();
    let request = format!("GET /v1/kv/w?index={index}&wait=10m HTTP/1.1\r\n\r\n");
    s.write_all(request.as_bytes()).await.unwrap();
    until_parked(&server, 1).await;
    s.shutdown().await.unwrap();
    let r = read_response(&mut s, &mut Vec::new()).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.head.contains(&format!("X-Consul-Index: {index}\r\n")),
        "{r:?}"
    );
    assert_eq!(read_to_end(&mut s).await, 0);
    assert_eq!(server.stats().parked_queries, 0);
}

// Item 12: a write timeout for clients that never read.

/// The most the kernel may buffer for one socket's sends, so a response larger than it must
/// wait for its reader.
fn send_buffer_max() -> usize {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|t| t.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(4 << 20)
}

/// A connection whose receive window stays small, however little it reads.
async fn small_window_connection(addr: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    socket.set_nonblocking(true).unwrap();
    TcpStream::from_std(socket.into()).unwrap()
}

#[tokio::test]
async fn clients_that_never_read_are_reset_after_the_write_timeout() {
    const CLIENTS: usize = 20;
    let value_size = send_buffer_max() + (1 << 20);
    let config = config()
        .write_timeout(Duration::from_millis(500))
        .read_timeout(Duration::from_secs(600)) // only the write timeout may close them
        .kv_max_value_size(value_size);
    let (api, server) = start_server(LockManager::new(), config).await;
    let mut put =
        format!("PUT /v1/kv/big HTTP/1.1\r\nContent-Length: {value_size}\r\n\r\n").into_bytes();
    put.resize(put.len() + value_size, b'v');
    let (r, s) = exchange(api.addr, &put).await;
    assert_eq!(r.status, 200);
    drop(s);

    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let mut s = small_window_connection(api.addr).await;
        // One ordinary exchange first: the server is serving this connection.
        s.write_all(b"GET /v1/status/leader HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(read_response(&mut s, &mut Vec::new()).await.status, 200);
        // Then a large response that it never reads.
        s.write_all(b"GET /v1/kv/big?raw HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        clients.push(s);
    }
    let deadline = Instant::now() + DEADLINE;
    while server.stats().connections > 0 {
        assert!(
            Instant::now() < deadline,
            "connections outlived the write timeout: {:?}",
            server.stats()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The clients still hold their sockets: each finds it cut short.
    for mut s in clients {
        let got = read_to_end(&mut s).await;
        assert!(got < value_size, "a whole response went out: {got} bytes");
    }
    assert_eq!(api.get("/v1/status/leader").await.status, 200);
}

// Item 13: a write's wake-ups cost its key's length; long keys work.

#[tokio::test]
async fn a_parked_prefix_query_wakes_for_writes_under_its_prefix_only() {
    let (api, server) = start_server(LockManager::new(), config()).await;
    assert!(api.put_bool("/v1/kv/pre/a", "1").await);
    let index = api.get("/v1/kv/pre/?recurse").await.index();
    let parked = {
        let api = Api::new(api.addr);
        tokio::spawn(async move {
            api.get(&format!("/v1/kv/pre/?recurse&index={index}&wait=10m"))
                .await
        })
    };
    until_parked(&server, 1).await;
    // Writes elsewhere, on keys that share bytes with the prefix but are not under it.
    for key in ["pr", "pre", "prf/x", "other/pre/x", "PRE/x"] {
        assert!(api.put_bool(&format!("/v1/kv/{key}"), "y").await);
    }
    let before = api.get("/v1/kv/pre?raw").await.index();
    assert!(api.put_bool("/v1/kv/pre/deep/er", "z").await);
    let r = timeout(DEADLINE, parked).await.unwrap().unwrap();
    assert_eq!(r.status, 200);
    assert!(r.index() > before, "woken by a write elsewhere");
    let keys: Vec<_> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Key"].clone())
        .collect();
    assert_eq!(keys, ["pre/a", "pre/deep/er"]);
    assert_eq!(server.stats().parked_queries, 0);
}

#[tokio::test]
async fn a_sixty_kilobyte_key_wakes_the_prefix_queries_above_it() {
    let (api, server) = start_server(LockManager::new(), config()).await;
    let key = format!("long/{}", "k".repeat(60_000));
    let index = api.get("/v1/kv/long/?recurse").await.index();
    let mut parked = Vec::new();
    // Watchers on the key's shortest prefix, one deep inside it, and one beside it.
    for prefix in [
        "long/".to_owned(),
        key[..30_000].to_owned(),
        "long/x".to_owned(),
    ] {
        let api = Api::new(api.addr);
        parked.push(tokio::spawn(async move {
            api.get(&format!("/v1/kv/{prefix}?keys&index={index}&wait=10m"))
                .await
        }));
    }
    until_parked(&server, 3).await;
    assert!(api.put_bool(&format!("/v1/kv/{key}"), "v").await);
    let beside = parked.pop().unwrap();
    for woken in parked {
        let r = timeout(DEADLINE, woken).await.unwrap().unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.json()[0], key.as_str());
    }
    assert_eq!(
        server.stats().parked_queries,
        1,
        "the query beside the key woke"
    );
    assert_eq!(api.get(&format!("/v1/kv/{key}?raw")).await.text(), "v");
    // Deleting it wakes, too.
    assert!(api.put_bool("/v1/kv/long/x", "w").await);
    assert_eq!(
        timeout(DEADLINE, beside).await.unwrap().unwrap().status,
        200
    );
    let r = api.delete(&format!("/v1/kv/{key}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(api.get(&format!("/v1/kv/{key}")).await.status, 404);
}
