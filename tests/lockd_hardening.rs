//! The lockd server under faults and hostile clients, over real sockets: shutdown grants
//! nothing, one client's unread replies stay bounded, a departed holder's locks are free for
//! the very next request, Unix sockets are never stolen, the connection limit spans listeners,
//! and the listen backlog is the configured one.
#![cfg(all(feature = "tcp-server", unix))]

use std::time::Duration;

use lockd::LockManager;
use lockd::server::{Config, Handle, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct TestServer {
    mgr: LockManager,
    addr: std::net::SocketAddr,
    handle: Handle,
    server: std::sync::Arc<Server>,
}

async fn start(config: Config) -> TestServer {
    let mgr = LockManager::new();
    let server = std::sync::Arc::new(Server::new(mgr.clone(), config.port(0)));
    let listener = server.bind().await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = server.handle();
    let serving = server.clone();
    tokio::spawn(async move { serving.serve(listener, std::future::pending::<()>()).await });
    TestServer {
        mgr,
        addr,
        handle,
        server,
    }
}

async fn ask(stream: &mut TcpStream, request: &str, expected: &str) {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut got = vec![0; expected.len()];
    stream.read_exact(&mut got).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        expected,
        "reply to {request:?}"
    );
}

async fn until(mut condition: impl FnMut() -> bool) {
    tokio::time::timeout(Duration::from_secs(60), async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("condition reached within 60 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_grants_nothing_to_queued_waiters() {
    const WAITERS: u64 = 2000;
    let s = start(Config::default()).await;
    let mut holder = TcpStream::connect(s.addr).await.unwrap();
    ask(
        &mut holder,
        "g contended\n",
        "1 Lock Get Success: contended\n",
    )
    .await;
    let mut waiters = Vec::new();
    for _ in 0..WAITERS {
        let mut w = TcpStream::connect(s.addr).await.unwrap();
        w.write_all(b"gw 600000 contended\n").await.unwrap();
        waiters.push(w);
    }
    let mgr = s.mgr.clone();
    until(|| mgr.stats().waiting == WAITERS).await;
    s.handle.destroy();
    let mut granted = 0;
    for mut w in waiters {
        let mut rest = Vec::new();
        let _ = w.read_to_end(&mut rest).await; // EOF, or a reset: either way no grant
        let text = String::from_utf8_lossy(&rest);
        assert!(
            !text.contains("Success"),
            "a waiter was granted during shutdown: {text}"
        );
        granted += text.matches("Success").count();
    }
    assert_eq!(granted, 0);
    let mut rest = Vec::new();
    let _ = holder.read_to_end(&mut rest).await;
    until(|| mgr.is_empty()).await;
}

#[tokio::test]
async fn unread_replies_stay_bounded_by_the_output_cap() {
    const CAP: usize = 64 * 1024;
    let s = start(Config::default().max_pending_output(CAP)).await;
    let mut holder = TcpStream::connect(s.addr).await.unwrap();
    let mut batch = String::new();
    for i in 0..100 {
        batch.push_str(&format!("g lock-{i:04}\n"));
    }
    holder.write_all(batch.as_bytes()).await.unwrap();
    let mut replies = vec![0; 100 * "1 Lock Get Success: lock-0000\n".len()];
    holder.read_exact(&mut replies).await.unwrap();

    // One `d` answers 100 lines; 8192 of them in one write is about 30 MB of replies.
    let mut flood = TcpStream::connect(s.addr).await.unwrap();
    let one = {
        let mut probe = TcpStream::connect(s.addr).await.unwrap();
        probe.write_all(b"d lock-0000\n").await.unwrap();
        let mut line = vec![0; 64];
        let n = probe.read(&mut line).await.unwrap();
        assert!(n > 0);
        // Every line of a full `d` has the same length here (same-length names, one holder).
        n * 100
    };
    flood.write_all(&b"d\n".repeat(8192)).await.unwrap();
    // While `flood` reads nothing, the others are served.
    let mut other = TcpStream::connect(s.addr).await.unwrap();
    ask(&mut other, "i lock-0001\n", "1 Lock Is Locked: lock-0001\n").await;
    let mut total = 0usize;
    let mut buf = vec![0; 1 << 16];
    while total < 8192 * one {
        let n = flood.read(&mut buf).await.unwrap();
        assert!(n > 0, "the flood's replies ended early after {total} bytes");
        total += n;
    }
    assert_eq!(total, 8192 * one);
    let high = s.server.stats().output_high_water as usize;
    assert!(
        high < CAP + one,
        "a connection buffered {high} bytes of replies; the cap is {CAP} plus one reply ({one})"
    );
}

#[tokio::test]
async fn a_departed_holders_locks_are_free_for_the_next_request() {
    let s = start(Config::default()).await;
    let mut asker = TcpStream::connect(s.addr).await.unwrap();
    for round in 0..200 {
        let mut holder = TcpStream::connect(s.addr).await.unwrap();
        ask(&mut holder, "g k\n", "1 Lock Get Success: k\n").await;
        drop(holder); // FIN; its task may run after the next request
        ask(&mut asker, "g k\n", "1 Lock Get Success: k\n").await;
        ask(&mut asker, "r k\n", "1 Lock Release Success: k\n").await;
        let _ = round;
    }
    // The same for counted shared holders: `si` sees the count without the one that left.
    let mut holders = Vec::new();
    for _ in 0..50 {
        let mut h = TcpStream::connect(s.addr).await.unwrap();
        h.write_all(b"sg x\n").await.unwrap();
        let mut line = vec![0; 64];
        assert!(h.read(&mut line).await.unwrap() > 0);
        holders.push(h);
    }
    for left in (40..50).rev() {
        drop(holders.pop());
        let want = format!("{left} Shared Lock Is Locked: x\n");
        ask(&mut asker, "si x\n", &want).await;
    }
}

#[tokio::test]
async fn unix_sockets_are_never_taken_from_a_live_server() {
    let dir = std::env::temp_dir().join(format!("lockd-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.sock");
    let _ = std::fs::remove_file(&path);
    let (live, guard) = lockd::server::bind_unix(&path, 16).unwrap();
    // A second server refuses the live socket, and says why.
    let err = lockd::server::bind_unix(&path, 16).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    assert!(err.to_string().contains("running server"), "{err}");
    // The first server's guard does not remove a file that is no longer its own.
    std::fs::remove_file(&path).unwrap();
    drop(live);
    let (second, second_guard) = lockd::server::bind_unix(&path, 16).unwrap();
    drop(guard);
    assert!(
        path.exists(),
        "the first server removed the second's socket"
    );
    // A stale socket (nobody accepts) is replaced.
    drop(second);
    std::mem::forget(second_guard); // leaves the stale file behind, as a crash would
    let (_third, third_guard) = lockd::server::bind_unix(&path, 16).unwrap();
    drop(third_guard);
    assert!(!path.exists());
    // Any other kind of file is never replaced.
    std::fs::write(&path, b"data").unwrap();
    let err = lockd::server::bind_unix(&path, 16).unwrap_err();
    assert!(err.to_string().contains("not a socket"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_connection_limit_spans_tcp_and_unix_listeners() {
    let s = start(Config::default().max_connections(2)).await;
    let dir = std::env::temp_dir().join(format!("lockd-limit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.sock");
    let _ = std::fs::remove_file(&path);
    let (unix, _guard) = lockd::server::bind_unix(&path, 16).unwrap();
    let serving = s.server.clone();
    tokio::spawn(async move { serving.serve_unix(unix, std::future::pending::<()>()).await });
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    ask(&mut tcp, "g a\n", "1 Lock Get Success: a\n").await;
    let mut local = tokio::net::UnixStream::connect(&path).await.unwrap();
    local.write_all(b"g b\n").await.unwrap();
    let mut reply = vec![0; "1 Lock Get Success: b\n".len()];
    local.read_exact(&mut reply).await.unwrap();
    // A third connection, on either listener, is closed at once with nothing sent.
    let mut third = TcpStream::connect(s.addr).await.unwrap();
    let _ = third.write_all(b"g c\n").await;
    let mut rest = Vec::new();
    let _ = third.read_to_end(&mut rest).await;
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    assert!(s.server.stats().refused >= 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_listen_backlog_is_the_configured_one() {
    let s = start(Config::default().backlog(777)).await;
    // `ss` shows a listener's backlog in its Send-Q column.
    let Ok(out) = std::process::Command::new("ss")
        .args(["-Hltn", &format!("sport = :{}", s.addr.port())])
        .output()
    else {
        eprintln!("skipped: `ss` (iproute2) is not installed");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let send_q: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(send_q.get(2), Some(&"777"), "ss says: {text}");
}
