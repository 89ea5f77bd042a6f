//! The Consul API over TLS (features `http` and `tls`, `HttpServer::serve_tls`, `lockd
//! --https`), with certificates the test makes itself: one server on a plaintext and a TLS
//! listener shares one store; keep-alive and pipelined requests; a parked blocking query ends
//! when its client closes, with `close_notify` or without; client certificates required and
//! checked; plaintext to the TLS port is never answered.
#![cfg(all(feature = "http", feature = "tls"))]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use lockd::LockManager;
use lockd::http::{HttpConfig, HttpServer, TlsFiles};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod support;
mod tls_common;
use support::{Api, until_parked, until_unparked};
use tls_common::{Ca, connect, dir, write};

/// One server, two listeners: (plaintext address, TLS address, the server).
async fn https_server(files: TlsFiles) -> (SocketAddr, SocketAddr, Arc<HttpServer>) {
    let config = HttpConfig::default().bind("127.0.0.1:0".parse().unwrap());
    let server = Arc::new(HttpServer::new(LockManager::new(), config));
    let plain = server.bind().await.unwrap();
    let tls = server
        .bind_addr("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addrs = (plain.local_addr().unwrap(), tls.local_addr().unwrap());
    let s = server.clone();
    tokio::spawn(async move { s.serve(plain, std::future::pending::<()>()).await });
    let s = server.clone();
    tokio::spawn(async move {
        s.serve_tls(tls, files, std::future::pending::<()>())
            .await
            .unwrap()
    });
    (addrs.0, addrs.1, server)
}

/// A keep-alive HTTPS connection, driven by hyper's client.
struct Https(hyper::client::conn::http1::SendRequest<Full<Bytes>>);

impl Https {
    async fn open(addr: SocketAddr, ca: &Ca, client: Option<&(String, String)>) -> Https {
        let tls = connect(addr, ca, client).await.unwrap();
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .unwrap();
        tokio::spawn(conn);
        Https(send)
    }

    async fn call(&mut self, method: &str, path: &str, body: &str) -> (u16, String) {
        let request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost")
            .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
            .unwrap();
        let response = self.0.send_request(request).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }
}

fn files(test: &str, ca: &Ca) -> (std::path::PathBuf, TlsFiles) {
    let (cert, key) = ca.leaf("localhost", &["localhost"], false);
    let d = dir(test);
    let files = TlsFiles::new(write(&d, "cert.pem", &cert), write(&d, "key.pem", &key));
    (d, files)
}

#[tokio::test]
async fn the_api_over_https_shares_one_store_with_plain_http() {
    let ca = Ca::new("lockd test CA");
    let (d, files) = files("consul", &ca);
    let (plain, tls, server) = https_server(files).await;
    let plain = Api::new(plain);

    // A session and a lock over HTTPS, on one keep-alive connection; seen over plain HTTP.
    let mut h = Https::open(tls, &ca, None).await;
    let (status, body) = h.call("PUT", "/v1/session/create", "{}").await;
    assert_eq!(status, 200, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["ID"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = h
        .call("PUT", &format!("/v1/kv/jobs/a?acquire={id}"), "me")
        .await;
    assert_eq!((status, body.as_str()), (200, "true"));
    let seen = plain.get("/v1/kv/jobs/a").await;
    assert_eq!(seen.json()[0]["Session"], id.as_str());
    assert_eq!(
        plain.put("/v1/kv/jobs/a?acquire=x", "").await.status,
        500,
        "a session that does not exist"
    );
    for _ in 0..50 {
        assert_eq!(h.call("GET", "/v1/status/leader", "").await.0, 200);
    }

    // A blocking query over HTTPS, woken by a write over plain HTTP.
    let index = seen.index();
    let parked = tokio::spawn(async move {
        h.call("GET", &format!("/v1/kv/jobs/b?index={index}&wait=60s"), "")
            .await
    });
    until_parked(&server, 1).await;
    assert_eq!(plain.put("/v1/kv/jobs/b", "v").await.status, 200);
    let (status, body) = parked.await.unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("\"Key\":\"jobs/b\""), "{body}");

    // Two requests in one write: both answered, in order.
    let mut raw = connect(tls, &ca, None).await.unwrap();
    raw.write_all(
        b"GET /v1/kv/jobs/b?raw HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /v1/kv/jobs/a?raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    raw.flush().await.unwrap();
    let mut got = String::new();
    raw.read_to_string(&mut got).await.unwrap();
    assert_eq!(got.matches("HTTP/1.1 200 OK").count(), 2, "{got}");
    assert!(got.find("\r\n\r\nv").unwrap() < got.find("\r\n\r\nme").unwrap());

    // Plaintext HTTP sent to the TLS port gets no HTTP answer.
    let mut wrong = tokio::net::TcpStream::connect(tls).await.unwrap();
    wrong
        .write_all(b"GET /v1/status/leader HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), wrong.read_to_end(&mut got)).await;
    assert!(
        !String::from_utf8_lossy(&got).contains("HTTP/1.1"),
        "{got:?}"
    );
    std::fs::remove_dir_all(d).unwrap();
}

#[tokio::test]
async fn a_parked_query_ends_when_its_tls_client_closes_with_or_without_close_notify() {
    let ca = Ca::new("lockd test CA");
    let (d, files) = files("parked", &ca);
    let (plain, tls, server) = https_server(files).await;
    let query = b"GET /v1/kv/k?index=1&wait=10m HTTP/1.1\r\nHost: x\r\n\r\n";
    // Half-closed (close_notify, then FIN): answered at once with what there is, then closed.
    let mut a = connect(tls, &ca, None).await.unwrap();
    a.write_all(query).await.unwrap();
    a.flush().await.unwrap();
    until_parked(&server, 1).await;
    a.shutdown().await.unwrap();
    let mut got = String::new();
    tokio::time::timeout(Duration::from_secs(30), a.read_to_string(&mut got))
        .await
        .expect("the half-closed query was never answered")
        .unwrap();
    assert!(got.starts_with("HTTP/1.1 404"), "{got}");
    until_unparked(&server).await;
    // Gone without close_notify (a reset): the query is no longer parked.
    let mut b = connect(tls, &ca, None).await.unwrap();
    b.write_all(query).await.unwrap();
    b.flush().await.unwrap();
    until_parked(&server, 1).await;
    let tcp = b.into_inner().0;
    socket2::SockRef::from(&tcp)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(tcp);
    until_unparked(&server).await;
    // Gone with a bare FIN, no close_notify (rustls: an unexpected end of file): no longer
    // parked either.
    let mut c = connect(tls, &ca, None).await.unwrap();
    c.write_all(query).await.unwrap();
    c.flush().await.unwrap();
    until_parked(&server, 1).await;
    let mut tcp = c.into_inner().0;
    tcp.shutdown().await.unwrap();
    until_unparked(&server).await;
    drop(tcp);

    // A request pipelined behind a parked query on the same connection (it arrives while the
    // query waits, so the server reads it then): kept, and answered after the query.
    let mut p = connect(tls, &ca, None).await.unwrap();
    p.write_all(b"GET /v1/kv/p?index=1&wait=10m HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    p.flush().await.unwrap();
    until_parked(&server, 1).await;
    p.write_all(b"GET /v1/kv/p?raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    p.flush().await.unwrap();
    // The write wakes the parked query; then the pipelined one reads the value.
    let plain = Api::new(plain);
    assert_eq!(plain.put("/v1/kv/p", "woken").await.status, 200);
    let mut got = String::new();
    tokio::time::timeout(Duration::from_secs(30), p.read_to_string(&mut got))
        .await
        .expect("both answers")
        .unwrap();
    assert_eq!(got.matches("HTTP/1.1 200 OK").count(), 2, "{got}");
    let (first, second) = got.split_at(got.rfind("HTTP/1.1 200 OK").unwrap());
    assert!(
        first.contains("\"Key\":\"p\""),
        "the parked query first: {got}"
    );
    assert!(
        second.ends_with("\r\n\r\nwoken"),
        "then the raw read: {got}"
    );
    std::fs::remove_dir_all(d).unwrap();
}

#[tokio::test]
async fn https_with_client_certificates_refuses_missing_foreign_and_expired_ones() {
    let ca = Ca::new("lockd test CA");
    let clients = Ca::new("lockd client CA");
    let stranger = Ca::new("someone else's CA");
    let (d, files) = files("mtls", &ca);
    let files = files.client_ca(write(&d, "clients.pem", &clients.cert.pem()));
    let (_, tls, _) = https_server(files).await;
    let good = clients.leaf("worker-7", &[], false);
    let mut h = Https::open(tls, &ca, Some(&good)).await;
    assert_eq!(h.call("GET", "/v1/status/leader", "").await.0, 200);
    let foreign = stranger.leaf("intruder", &[], false);
    let expired = clients.leaf("old-worker", &[], true);
    for (what, client) in [
        ("none", None),
        ("foreign", Some(&foreign)),
        ("expired", Some(&expired)),
    ] {
        let refused = async {
            let mut s = connect(tls, &ca, client).await?;
            s.write_all(b"GET /v1/status/leader HTTP/1.1\r\nHost: x\r\n\r\n")
                .await?;
            s.flush().await?;
            let mut got = Vec::new();
            tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut got))
                .await
                .map_err(|_| std::io::Error::other("a refused connection stayed open"))??;
            Ok::<_, std::io::Error>(got)
        };
        // The handshake or the first read fails, or the connection closes with nothing said.
        if let Ok(got) = refused.await {
            assert!(
                got.is_empty(),
                "{what}: served {:?}",
                String::from_utf8_lossy(&got)
            );
        }
    }
    std::fs::remove_dir_all(d).unwrap();
}
