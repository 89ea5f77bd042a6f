//! Cross-protocol contention (docs/consul-api.md §12 item 32): a Consul `?acquire=`, a lockd-protocol `g` and an
//! in-process `get` of one name are the same core lock, over one `LockManager`.
#![cfg(all(feature = "http", feature = "tcp-server"))]

mod support;

use lockd::LockManager;
use lockd::server::{Config, Server};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

struct Line {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Line {
    async fn connect(addr: std::net::SocketAddr) -> Line {
        let (r, w) = TcpStream::connect(addr).await.unwrap().into_split();
        Line {
            reader: BufReader::new(r),
            writer: w,
        }
    }

    async fn ask(&mut self, request: &str) -> String {
        self.writer.write_all(request.as_bytes()).await.unwrap();
        let mut line = String::new();
        self.reader.read_line(&mut line).await.unwrap();
        line
    }
}

#[tokio::test]
async fn consul_lockd_and_in_process_users_contend_for_one_lock() {
    let mgr = LockManager::new();
    let api = support::start_over(mgr.clone(), support::config()).await;
    let server = Server::new(mgr.clone(), Config::default().port(0));
    let listener = server.bind().await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { server.serve(listener, std::future::pending::<()>()).await });
    let mut lockd = Line::connect(addr).await;

    // A lockd client holds jobs/nightly: a Consul acquire answers false, the entry shows no
    // Session.
    let sid = api.session(r#"{"LockDelay":"0s"}"#).await;
    assert_eq!(
        lockd.ask("g jobs/nightly\n").await,
        "1 Lock Get Success: jobs/nightly\n"
    );
    assert!(
        !api.put_bool(&format!("/v1/kv/jobs/nightly?acquire={sid}"), "")
            .await
    );
    assert!(
        api.put_bool("/v1/kv/jobs/nightly", "plain writes are advisory")
            .await
    );
    assert!(
        api.entry("jobs/nightly")
            .await
            .unwrap()
            .get("Session")
            .is_none()
    );
    assert_eq!(
        lockd.ask("r jobs/nightly\n").await,
        "1 Lock Release Success: jobs/nightly\n"
    );
    assert!(
        api.put_bool(&format!("/v1/kv/jobs/nightly?acquire={sid}"), "")
            .await
    );

    // A Consul holder: lockd's g fails, d shows consul:<id>, in-process get fails.
    assert_eq!(
        lockd.ask("g jobs/nightly\n").await,
        "0 Lock Get Failure: jobs/nightly\n"
    );
    assert_eq!(
        lockd.ask("d jobs/nightly\n").await,
        format!("jobs/nightly: consul:{sid}\n")
    );
    assert!(mgr.get("jobs/nightly").is_err());

    // Deleting the held key frees the core lock.
    assert_eq!(api.delete("/v1/kv/jobs/nightly").await.text(), "true");
    assert!(!mgr.inspect("jobs/nightly"));
    assert_eq!(
        lockd.ask("g jobs/nightly\n").await,
        "1 Lock Get Success: jobs/nightly\n"
    );

    // An in-process holder blocks Consul too; the lock-delay never gates other protocols.
    let guard = mgr.get("batch").unwrap();
    assert!(
        !api.put_bool(&format!("/v1/kv/batch?acquire={sid}"), "")
            .await
    );
    drop(guard);
    assert!(
        api.put_bool(&format!("/v1/kv/batch?acquire={sid}"), "")
            .await
    );
    let delayed = api.session("").await; // default 15 s lock-delay
    assert!(
        api.put_bool(&format!("/v1/kv/held?acquire={delayed}"), "")
            .await
    );
    api.put(&format!("/v1/session/destroy/{delayed}"), "").await;
    assert_eq!(lockd.ask("g held\n").await, "1 Lock Get Success: held\n");
    // An in-process session that merely names itself like a Consul session is not one.
    let impostor = mgr.session();
    impostor.set_name(format!("consul:{sid}"));
    let _held = impostor.get("spoofed").unwrap();
    assert!(api.put_bool("/v1/kv/spoofed", "").await);
    assert!(api.entry("spoofed").await.unwrap().get("Session").is_none());
    assert!(
        !api.put_bool(&format!("/v1/kv/spoofed?release={sid}"), "")
            .await
    );
    assert!(mgr.inspect("spoofed"));
    // The lockd protocol's shared namespace (core names starting with LF) is out of reach.
    let r = api
        .put(&format!("/v1/kv/%0Ashared?acquire={sid}"), "")
        .await;
    assert_eq!(r.status, 400);
}
