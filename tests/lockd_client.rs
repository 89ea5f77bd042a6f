//! The async client against the lockd server, and against scripted fake servers for the reply
//! rules of spec §11 (CRLF, silence, unexpected data).
#![cfg(all(feature = "client", feature = "tcp-server"))]

use std::time::Duration;

use lockd::LockManager;
use lockd::client::{Client, Error, Target};
use lockd::server::{Config, Server};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

async fn server_with(f: impl FnOnce(&mut Config)) -> (String, LockManager) {
    let mut config = Config::default();
    f(&mut config);
    let mgr = LockManager::new();
    let server = Server::new(mgr.clone(), config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { server.serve(listener, std::future::pending::<()>()).await });
    (addr, mgr)
}

#[tokio::test]
async fn every_operation_against_lockd() {
    let (addr, mgr) = server_with(|_| {}).await;
    let a = Client::connect(addr.clone()); // requests queue until the connection is up
    let b = Client::connect(addr.clone());
    a.get("job").await.unwrap();
    a.get("job").await.unwrap();
    match b.get("job").await {
        Err(Error::WouldBlock { name }) => assert_eq!(name, "job"),
        other => panic!("{other:?}"),
    }
    assert!(b.inspect("job").await.unwrap());
    assert!(b.release("job").await.is_err());
    assert_eq!(a.get_shared("pool").await.unwrap(), 1);
    assert_eq!(b.get_shared("pool").await.unwrap(), 2);
    assert_eq!(b.inspect_shared("pool").await.unwrap(), 2);
    let (a_id, a_name) = a.get_name().await.unwrap();
    assert_eq!(a_id, a_name);
    a.set_name("worker one").await.unwrap();
    assert_eq!(
        a.get_name().await.unwrap(),
        (a_id.clone(), "worker one".into())
    );
    let dump = b.dump(None).await.unwrap();
    assert_eq!(dump.get("job").map(String::as_str), Some("worker one"));
    assert!(b.dump(Some("nothing")).await.unwrap().is_empty());
    let (b_id, _) = b.get_name().await.unwrap();
    let shared = b.dump_shared(Some("pool")).await.unwrap();
    assert_eq!(shared["pool"], ["worker one".to_string(), b_id]);
    assert_eq!(
        b.list_clients(None).await.unwrap(),
        [(a_id, "worker one".into())]
    );
    let stats = b.stats().await.unwrap();
    assert_eq!(stats["connections"], 2);
    assert_eq!(stats["locks"], 1);
    // Extensions: tokens and waits.
    let t = a.get_wait("tok", Duration::ZERO).await.unwrap();
    assert_eq!(a.get_wait("tok", Duration::ZERO).await.unwrap(), t);
    let waiter = tokio::spawn({
        let b = Client::connect(addr.clone());
        async move { b.get_wait("tok", Duration::from_secs(20)).await }
    });
    while mgr.stats().waiting == 0 {
        tokio::task::yield_now().await;
    }
    a.release("tok").await.unwrap();
    assert!(waiter.await.unwrap().unwrap() > t);
    assert!(matches!(
        b.get_wait("job", Duration::from_millis(20)).await,
        Err(Error::Timeout { name, waited }) if name == "job" && waited == Duration::from_millis(20)
    ));
    assert_eq!(
        b.get_shared_wait("sem", 1, Duration::ZERO).await.unwrap(),
        1
    );
    assert!(a.get_shared_wait("sem", 1, Duration::ZERO).await.is_err());
    // Names with CR or LF are refused before sending.
    assert_eq!(a.get("bad\nname").await, Err(Error::InvalidName));
    a.release("job").await.unwrap();
    a.disconnect().await;
    b.release_shared("pool").await.unwrap();
    b.disconnect().await;
}

#[tokio::test]
async fn disabled_features_are_typed_errors() {
    let (addr, _) = server_with(|c| {
        c.dump = false;
        c.registry = false;
    })
    .await;
    let c = Client::connect(addr);
    assert_eq!(c.dump(None).await, Err(Error::Disabled { feature: "dump" }));
    assert_eq!(
        c.dump_shared(None).await,
        Err(Error::Disabled { feature: "dump" })
    );
    assert_eq!(
        c.set_name("x").await,
        Err(Error::Disabled {
            feature: "registry"
        })
    );
    assert_eq!(
        c.list_clients(None).await,
        Err(Error::Disabled {
            feature: "dump and/or registry"
        })
    );
    assert!(c.get("still-works").await.is_ok());
}

#[tokio::test]
async fn connect_failure_fails_every_request() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener); // nothing listens there now
    let c = Client::connect(addr.clone());
    let refused = c.get("x").await.unwrap_err();
    assert_eq!(
        refused.io_kind(),
        Some(std::io::ErrorKind::ConnectionRefused)
    );
    assert!(std::error::Error::source(&refused).is_some());
    assert!(
        refused
            .to_string()
            .contains(&format!("connecting to {addr}")),
        "{refused}"
    );
    assert_eq!(
        c.inspect("x").await.unwrap_err(),
        refused,
        "later requests fail the same way"
    );
}

/// A fake server: answers each request line with `answer(line)` (None: stay silent).
async fn fake(answer: fn(&str) -> Option<&'static str>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (rd, mut wr) = stream.into_split();
                let mut lines = BufReader::new(rd).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(reply) = answer(&line) {
                        if wr.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn glockd_style_crlf_replies_and_no_extensions() {
    let addr = fake(|line| match line {
        "g a" => Some("1 Lock Get Success: a\r\n"),
        "i a" => Some("\r\n1 Lock Is Locked: a\r\n"), // blank lines are ignored
        "d" => Some("a: 10.0.0.1:5\r\nb: 10.0.0.2:6\r\n"),
        // The discovery sentinel after `ext`, answered as any `i`.
        "i lockd-client:ext-probe" => Some("0 Lock Not Locked: lockd-client:ext-probe\r\n"),
        _ => None, // like an old server: silence on ext
    })
    .await;
    let c = Client::builder()
        .multi_line_idle(Duration::from_millis(50))
        .connect(Target::Tcp(addr));
    c.get("a").await.unwrap();
    assert!(c.inspect("a").await.unwrap());
    let d = c.dump(None).await.unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(d["b"], "10.0.0.2:6");
    assert_eq!(
        c.get_wait("a", Duration::ZERO).await,
        Err(Error::Unsupported)
    );
}

/// A fake lockd that answers `ext` only after `delay` (a slow link), offers `auth`, and
/// records every line it gets.
async fn slow_ext(delay: Duration) -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (seen, lines_seen) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (rd, mut wr) = stream.into_split();
        let mut lines = BufReader::new(rd).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let reply = match line.as_str() {
                "ext" => {
                    tokio::time::sleep(delay).await;
                    "1 ext gw sgw auth\n".to_string()
                }
                "auth s3cret-token" => "1 Auth Success\n".to_string(),
                l if l.starts_with("i ") => format!("0 Lock Not Locked: {}\n", &l[2..]),
                l if l.starts_with("gw 0 ") => format!("7 Lock Get Success: {}\n", &l[5..]),
                l if l.starts_with("g ") => format!("1 Lock Get Success: {}\n", &l[2..]),
                _ => continue,
            };
            let _ = seen.send(line);
            if wr.write_all(reply.as_bytes()).await.is_err() {
                return;
            }
        }
    });
    (addr, lines_seen)
}

#[tokio::test]
async fn a_slow_ext_reply_is_still_taken_for_ext_and_auth_is_sent() {
    // `ext` answered after 300 ms, past the 50 ms multi-line idle: the client waits for the
    // sentinel's reply, so it authenticates, and no reply is taken for another request's.
    let (addr, mut seen) = slow_ext(Duration::from_millis(300)).await;
    let c = Client::builder()
        .multi_line_idle(Duration::from_millis(50))
        .auth("s3cret-token")
        .connect(Target::Tcp(addr));
    c.get("x").await.unwrap();
    let mut lines = Vec::new();
    while lines.len() < 4 {
        lines.push(seen.recv().await.unwrap());
    }
    assert_eq!(
        lines,
        [
            "ext",
            "i lockd-client:ext-probe",
            "auth s3cret-token",
            "g x"
        ]
    );
    // Without a token, an extension call discovers the same way.
    let (addr, _seen) = slow_ext(Duration::from_millis(300)).await;
    let c = Client::builder()
        .multi_line_idle(Duration::from_millis(50))
        .connect(Target::Tcp(addr));
    assert_eq!(c.get_wait("y", Duration::ZERO).await, Ok(7));
    assert!(
        c.inspect("y").await.is_ok(),
        "replies still match their requests"
    );
}

#[tokio::test]
async fn a_reply_timeout_closes_the_connection() {
    let addr = fake(|_| None).await;
    let c = Client::builder()
        .reply_timeout(Duration::from_millis(50))
        .connect(Target::Tcp(addr));
    assert!(matches!(c.get("x").await, Err(Error::ReplyTimeout { request }) if request == "g x"));
    assert!(
        matches!(c.get("y").await, Err(Error::ReplyTimeout { .. })),
        "final for the connection"
    );
}

#[tokio::test]
async fn unexpected_data_is_a_protocol_error() {
    let addr = fake(|line| match line {
        "g a" => Some("1 Lock Get Success: a\n1 Lock Get Success: a\n"), // one line too many
        _ => Some("1 ok\n"),
    })
    .await;
    let c = Client::connect(addr);
    c.get("a").await.unwrap();
    // The stray line arrives while idle: the connection is closed as a protocol error.
    let mut last = Ok(());
    for _ in 0..100 {
        last = c.set_name("n").await;
        if last.is_err() {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(matches!(last, Err(Error::Protocol { .. })), "{last:?}");
}
