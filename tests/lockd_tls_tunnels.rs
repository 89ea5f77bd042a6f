//! lockd behind and in front of stunnel (Debian's `stunnel4`), the TLS tunnel operators reach
//! for: a plaintext client through a stunnel client-mode tunnel to lockd's TLS port, and
//! `lockd::client` with TLS to a plain lockd behind a stunnel server. (The whole conformance
//! suite also runs through per-client `socat` tunnels: `LOCKD_TEST_TRANSPORT=socat-tls` on
//! tests/lockd_protocol.rs, a step of .ci/run.) Without stunnel the tests skip, unless
//! `LOCKD_TUNNEL_REQUIRED` is set (as .ci/run does, after installing it).
#![cfg(all(feature = "tls", feature = "client"))]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use lockd::LockManager;
use lockd::client::{Client as LockdClient, ClientTls};
use lockd::server::{Config, Server, TlsFiles};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod line_client;
mod tls_common;
use line_client::{Client, Tunnel, free_port, tunnel_command};
use tls_common::{Ca, dir, write};

/// The stunnel binary, or None (the test then skips) unless tunnels are required.
fn stunnel() -> Option<&'static str> {
    for bin in ["stunnel4", "stunnel"] {
        let found = std::process::Command::new(bin)
            .arg("-version")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok();
        if found {
            return Some(bin);
        }
    }
    assert!(
        std::env::var_os("LOCKD_TUNNEL_REQUIRED").is_none(),
        "stunnel is not installed (Debian: stunnel4)"
    );
    eprintln!("stunnel is not installed: skipped");
    None
}

/// Runs stunnel in the foreground with `service` (one `[section]`'s lines) listening on a port
/// of its own; returns that port once it accepts, and the process (stopped when dropped).
async fn start_stunnel(bin: &str, d: &Path, service: &str) -> (SocketAddr, Tunnel) {
    let port = free_port();
    let conf = write(
        d,
        "stunnel.conf",
        &format!("foreground = yes\npid =\n\n[lockd]\naccept = 127.0.0.1:{port}\n{service}\n"),
    );
    let child = tunnel_command(bin)
        .arg(&conf)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut tunnel = Tunnel(child);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    for _ in 0..1000 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return (addr, tunnel);
        }
        assert!(
            tunnel.0.try_wait().unwrap().is_none(),
            "stunnel exited: {}",
            conf.display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("stunnel never listened");
}

#[tokio::test]
async fn a_plaintext_client_through_a_stunnel_client_tunnel_to_the_tls_port() {
    let Some(bin) = stunnel() else { return };
    let ca = Ca::new("lockd tunnel CA");
    let (cert, key) = ca.leaf("localhost", &["localhost"], false);
    let d = dir("stunnel-client");
    let files = TlsFiles::new(write(&d, "cert.pem", &cert), write(&d, "key.pem", &key));
    let ca_file = write(&d, "ca.pem", &ca.cert.pem());
    let (tls, mgr) = tls_common::lockd_tls(Config::default(), files).await;
    let service = format!(
        "client = yes\nconnect = {tls}\nCAfile = {}\nverifyChain = yes\ncheckHost = localhost\n",
        ca_file.display()
    );
    let (tunnel, _stunnel) = start_stunnel(bin, &d, &service).await;

    // The Node suite's exclusive and shared sequences, across two clients.
    let mut a = Client::connect(&tunnel).await;
    let mut b = Client::connect(&tunnel).await;
    a.ask("i x\n", "0 Lock Not Locked: x\n").await;
    a.ask("g x\n", "1 Lock Get Success: x\n").await;
    b.ask("g x\n", "0 Lock Get Failure: x\n").await;
    b.ask("i x\n", "1 Lock Is Locked: x\n").await;
    b.ask("r x\n", "0 Lock Release Failure: x\n").await;
    a.ask("r x\n", "1 Lock Release Success: x\n").await;
    a.ask("sg s\n", "1 Shared Lock Get Success: s\n").await;
    b.ask("sg s\n", "2 Shared Lock Get Success: s\n").await;
    a.ask("si s\n", "2 Shared Lock Is Locked: s\n").await;
    b.ask("sr s\n", "1 Shared Lock Release Success: s\n").await;
    b.ask("sr s\n", "0 Shared Lock Release Failure: s\n").await;
    a.ask("ext\n", "1 ext gw sgw auth\n").await;
    // 200 pipelined lines in one write: every reply, in order.
    let batch: String = (0..100).map(|i| format!("g p{i}\nr p{i}\n")).collect();
    let expected: String = (0..100)
        .map(|i| format!("1 Lock Get Success: p{i}\n1 Lock Release Success: p{i}\n"))
        .collect();
    a.ask(&batch, &expected).await;
    // A half-close: the last line is answered before the tunnel closes.
    b.ask("g h\n", "1 Lock Get Success: h\n").await;
    b.send(b"i h\n").await;
    b.stream.shutdown().await.unwrap();
    let mut rest = String::new();
    tokio::time::timeout(Duration::from_secs(10), b.stream.read_to_string(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rest, "1 Lock Is Locked: h\n");
    // A client that goes: its locks are released.
    a.ask("g gone\n", "1 Lock Get Success: gone\n").await;
    drop(a);
    for _ in 0..1000 {
        if !mgr.inspect("gone") && !mgr.inspect("h") && mgr.inspect_shared("s") == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!mgr.inspect("gone") && !mgr.inspect("h"));
    assert_eq!(mgr.inspect_shared("s"), 0);
    std::fs::remove_dir_all(d).unwrap();
}

#[tokio::test]
async fn the_client_with_tls_through_a_stunnel_server_to_a_plain_lockd() {
    let Some(bin) = stunnel() else { return };
    let ca = Ca::new("lockd tunnel CA");
    let (cert, key) = ca.leaf("localhost", &["localhost"], false);
    let d = dir("stunnel-server");
    let cert = write(&d, "cert.pem", &cert);
    let key = write(&d, "key.pem", &key);
    let ca_file = write(&d, "ca.pem", &ca.cert.pem());
    let mgr = LockManager::new();
    let server = Server::new(mgr.clone(), Config::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain = listener.local_addr().unwrap();
    tokio::spawn(async move { server.serve(listener, std::future::pending::<()>()).await });
    let service = format!(
        "connect = {plain}\ncert = {}\nkey = {}\n",
        cert.display(),
        key.display()
    );
    let (tunnel, _stunnel) = start_stunnel(bin, &d, &service).await;
    let tls = ClientTls::ca_file(&ca_file)
        .unwrap()
        .server_name("localhost")
        .unwrap();
    let c = LockdClient::builder()
        .tls(tls.clone())
        .auth("no-acl-here")
        .connect_to(tunnel.to_string());
    c.get("x").await.unwrap();
    assert!(c.inspect("x").await.unwrap());
    assert_eq!(c.get_shared("s").await.unwrap(), 1);
    assert!(c.get_wait("w", Duration::from_millis(100)).await.unwrap() > 0);
    assert_eq!(c.dump(None).await.unwrap().len(), 2);
    c.release("x").await.unwrap();
    c.disconnect().await;
    for _ in 0..1000 {
        if mgr.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(mgr.is_empty(), "released when the client left");
    // The same tunnel, a client that trusts another CA: refused.
    let other = Ca::new("another CA");
    let wrong = ClientTls::ca_file(write(&d, "other.pem", &other.cert.pem()))
        .unwrap()
        .server_name("localhost")
        .unwrap();
    let c = LockdClient::builder()
        .tls(wrong)
        .connect_to(tunnel.to_string());
    assert!(c.get("x").await.unwrap_err().is_fatal());
    std::fs::remove_dir_all(d).unwrap();
}
