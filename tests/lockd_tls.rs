//! The lockd protocol over TLS (feature `tls`, `Server::serve_tls`), with certificates the test
//! makes itself (rcgen): round trips, pipelining and half-close over TLS, a peer that vanishes
//! without `close_notify`, client certificates (the subject as display id; missing, foreign or
//! expired ones refused), and certificates replaced on disk while the server runs.
#![cfg(feature = "tls")]

use std::net::SocketAddr;
use std::time::Duration;

use lockd::LockManager;
use lockd::server::{Config, TlsFiles};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

mod tls_common;
use tls_common::{Ca, Tls, connect, dir, write};

async fn tls_server(files: TlsFiles) -> (SocketAddr, LockManager) {
    tls_common::lockd_tls(Config::default(), files).await
}

/// Sends `request`, reads one line.
async fn ask(tls: &mut BufReader<Tls>, request: &str) -> std::io::Result<String> {
    tls.get_mut().write_all(request.as_bytes()).await?;
    tls.get_mut().flush().await?;
    let mut line = String::new();
    tls.read_line(&mut line).await?;
    Ok(line)
}

#[tokio::test]
async fn round_trips_pipelining_half_close_and_a_vanished_peer() {
    let ca = Ca::new("lockd test CA");
    let (cert, key) = ca.leaf("localhost", &["localhost"], false);
    let d = dir("basic");
    let files = TlsFiles::new(write(&d, "cert.pem", &cert), write(&d, "key.pem", &key));
    let (addr, mgr) = tls_server(files).await;
    let mut a = BufReader::new(connect(addr, &ca, None).await.unwrap());
    assert_eq!(
        ask(&mut a, "g x\n").await.unwrap(),
        "1 Lock Get Success: x\n"
    );
    assert_eq!(ask(&mut a, "ext\n").await.unwrap(), "1 ext gw sgw auth\n");
    // 200 pipelined lines in one write: every reply, in order (each flushed as over TCP).
    let batch: String = (0..100).map(|i| format!("g p{i}\nr p{i}\n")).collect();
    a.get_mut().write_all(batch.as_bytes()).await.unwrap();
    a.get_mut().flush().await.unwrap();
    for i in 0..100 {
        let mut line = String::new();
        a.read_line(&mut line).await.unwrap();
        assert_eq!(line, format!("1 Lock Get Success: p{i}\n"));
        line.clear();
        a.read_line(&mut line).await.unwrap();
        assert_eq!(line, format!("1 Lock Release Success: p{i}\n"));
    }
    // Half-close (close_notify, then FIN): the last lines are answered, then the server closes
    // after releasing everything.
    let mut b = connect(addr, &ca, None).await.unwrap();
    b.write_all(b"g h\ni h").await.unwrap();
    b.shutdown().await.unwrap();
    let mut rest = String::new();
    b.read_to_string(&mut rest).await.unwrap();
    assert_eq!(rest, "1 Lock Get Success: h\n1 Lock Is Locked: h\n");
    assert!(!mgr.inspect("h"), "released before the server closed");
    // A peer that goes without close_notify (its TCP connection simply reset): an ordinary
    // disconnect, its locks released.
    let mut c = BufReader::new(connect(addr, &ca, None).await.unwrap());
    assert_eq!(
        ask(&mut c, "g gone\n").await.unwrap(),
        "1 Lock Get Success: gone\n"
    );
    let tcp = c.into_inner().into_inner().0;
    socket2::SockRef::from(&tcp)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(tcp);
    for _ in 0..500 {
        if !mgr.inspect("gone") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!mgr.inspect("gone"));
    // A client that speaks plaintext to the TLS port gets nothing and is closed.
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    plain.write_all(b"g x\n").await.unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), plain.read_to_end(&mut got)).await;
    assert!(!String::from_utf8_lossy(&got).contains("Lock"), "{got:?}");
    std::fs::remove_dir_all(d).unwrap();
}

#[tokio::test]
async fn client_certificates_name_the_connection_and_bad_ones_are_refused() {
    let ca = Ca::new("lockd test CA");
    let clients = Ca::new("lockd client CA");
    let stranger = Ca::new("someone else's CA");
    let (cert, key) = ca.leaf("localhost", &["localhost"], false);
    let d = dir("mtls");
    let files = TlsFiles::new(write(&d, "cert.pem", &cert), write(&d, "key.pem", &key))
        .client_ca(write(&d, "clients.pem", &clients.cert.pem()));
    let (addr, _) = tls_server(files).await;
    let good = clients.leaf("worker-7", &[], false);
    let mut a = BufReader::new(connect(addr, &ca, Some(&good)).await.unwrap());
    assert_eq!(
        ask(&mut a, "me\n").await.unwrap(),
        "1 CN=worker-7 CN=worker-7\n"
    );
    assert_eq!(
        ask(&mut a, "g x\n").await.unwrap(),
        "1 Lock Get Success: x\n"
    );
    assert_eq!(ask(&mut a, "d\n").await.unwrap(), "x: CN=worker-7\n");
    // No certificate, one from another CA, an expired one: no protocol at all.
    let foreign = stranger.leaf("intruder", &[], false);
    let expired = clients.leaf("old-worker", &[], true);
    for (what, client) in [
        ("none", None),
        ("foreign", Some(&foreign)),
        ("expired", Some(&expired)),
    ] {
        let refused = async {
            let mut s = BufReader::new(connect(addr, &ca, client).await?);
            ask(&mut s, "g x\n").await
        };
        // The handshake or the first read fails, or the connection closes with nothing said.
        if let Ok(line) = refused.await {
            assert!(line.is_empty(), "{what}: served {line:?}");
        }
    }
    std::fs::remove_dir_all(d).unwrap();
}

#[tokio::test]
async fn certificates_replaced_on_disk_serve_later_connections() {
    let old_ca = Ca::new("old CA");
    let new_ca = Ca::new("new CA");
    let d = dir("reload");
    let (cert, key) = old_ca.leaf("localhost", &["localhost"], false);
    let files = TlsFiles::new(write(&d, "cert.pem", &cert), write(&d, "key.pem", &key));
    let (addr, _) = tls_server(files).await;
    assert!(connect(addr, &old_ca, None).await.is_ok());
    assert!(
        connect(addr, &new_ca, None).await.is_err(),
        "not yet the new certificate"
    );
    // Renewed: a new certificate (from another CA) written over the files.
    tokio::time::sleep(Duration::from_millis(1100)).await; // a new modification time
    let (cert, key) = new_ca.leaf("localhost", &["localhost"], false);
    write(&d, "key.pem", &key);
    write(&d, "cert.pem", &cert);
    let mut served = false;
    for _ in 0..30 {
        if connect(addr, &new_ca, None).await.is_ok() {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(served, "the renewed certificate was never served");
    // A broken renewal keeps the last good certificate.
    write(&d, "cert.pem", "not a certificate");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(connect(addr, &new_ca, None).await.is_ok());
    std::fs::remove_dir_all(d).unwrap();
}
