//! `lockd::client` with TLS and tokens (features `client` and `tls`), against a real server:
//! authentication found through `ext` and done before the first request; refused, missing and
//! narrow tokens as typed errors; a server without an ACL, or without `ext` at all, still
//! served; the server's certificate checked (an expired one, one for another name, one from an
//! unknown CA refused); a client certificate for mutual TLS.
#![cfg(all(feature = "client", feature = "tls"))]

use std::net::SocketAddr;
use std::time::Duration;

use lockd::acl::Acl;
use lockd::client::{Client, ClientTls, Error};
use lockd::server::{Config, TlsFiles};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

mod tls_common;
use tls_common::{Ca, dir, write};

const ACL: &str = r#"
[[token]]
user = "jobs"
secret = "s3cret-jobs"
names = ["jobs/"]
allow = ["lock", "read"]
"#;

/// A server on a TLS port (with `acl` if given), its certificate for `names`.
async fn tls_server(
    test: &str,
    ca: &Ca,
    names: &[&str],
    expired: bool,
    acl: Option<&str>,
    client_ca: Option<&Ca>,
) -> (SocketAddr, std::path::PathBuf) {
    let d = dir(test);
    let (cert, key) = ca.leaf("lockd", names, expired);
    let mut files = TlsFiles::new(write(&d, "cert.pem", &cert), write(&d, "key.pem", &key));
    if let Some(clients) = client_ca {
        files = files.client_ca(write(&d, "clients.pem", &clients.cert.pem()));
    }
    write(&d, "ca.pem", &ca.cert.pem());
    let config = Config::default().acl(acl.map(|a| Acl::from_toml(a).unwrap()));
    let (addr, _) = tls_common::lockd_tls(config, files).await;
    (addr, d)
}

fn trust(d: &std::path::Path) -> ClientTls {
    ClientTls::ca_file(d.join("ca.pem")).unwrap()
}

#[tokio::test]
async fn a_token_over_tls_is_sent_once_and_its_names_bound_every_request() {
    let ca = Ca::new("lockd test CA");
    let (addr, d) = tls_server("client-acl", &ca, &["localhost"], false, Some(ACL), None).await;
    let target = format!("localhost:{}", addr.port());
    let c = Client::builder()
        .tls(trust(&d))
        .auth_user("jobs", "s3cret-jobs")
        .connect_to(target.clone());
    c.get("jobs/a").await.unwrap();
    assert_eq!(
        c.get_wait("jobs/b", Duration::ZERO).await.map(|_| ()),
        Ok(())
    );
    assert_eq!(
        c.get("other").await,
        Err(Error::PermissionDenied {
            name: Some("other".into())
        })
    );
    assert_eq!(
        c.stats().await,
        Err(Error::PermissionDenied { name: None }),
        "q needs admin; refused at once, not as a listing"
    );
    let held = c.dump(None).await.unwrap();
    assert_eq!(held.keys().collect::<Vec<_>>(), ["jobs/a", "jobs/b"]);

    // A wrong token: the connection is closed and every request says why.
    let wrong = Client::builder()
        .tls(trust(&d))
        .auth_user("jobs", "not-the-secret")
        .connect_to(target.clone());
    let e = wrong.get("jobs/c").await.unwrap_err();
    assert_eq!(
        e,
        Error::AuthFailed {
            reason: "Auth Failure".into()
        }
    );
    assert!(e.is_fatal());
    assert_eq!(wrong.inspect("jobs/a").await.unwrap_err(), e);
    // No token: each request is refused at once, listings too.
    let anonymous = Client::builder().tls(trust(&d)).connect_to(target.clone());
    assert_eq!(anonymous.get("jobs/c").await, Err(Error::AuthRequired));
    assert_eq!(anonymous.dump(None).await, Err(Error::AuthRequired));
    // A token that cannot be one word is never sent.
    let spaced = Client::builder()
        .tls(trust(&d))
        .auth("two words")
        .connect_to(target);
    assert!(matches!(
        spaced.get("jobs/c").await,
        Err(Error::AuthFailed { .. })
    ));
    std::fs::remove_dir_all(d).unwrap();
}

#[tokio::test]
async fn a_token_for_a_server_without_an_acl_or_without_ext_is_harmless() {
    // No ACL: `auth` succeeds whatever it is given.
    let ca = Ca::new("lockd test CA");
    let (addr, d) = tls_server("client-open", &ca, &["localhost"], false, None, None).await;
    let c = Client::builder()
        .tls(trust(&d))
        .auth("anything-at-all")
        .connect_to(format!("localhost:{}", addr.port()));
    c.get("x").await.unwrap();
    std::fs::remove_dir_all(d).unwrap();

    // A glockd-like server that answers nothing to `ext` (or to `auth`): the client sends no
    // `auth` and its requests are served.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        let (rd, mut wr) = s.into_split();
        let mut lines = BufReader::new(rd).lines();
        let mut seen = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            if line == "g x" {
                wr.write_all(b"1 Lock Get Success: x\n").await.unwrap();
            } else if let Some(name) = line.strip_prefix("i ") {
                wr.write_all(format!("0 Lock Not Locked: {name}\n").as_bytes())
                    .await
                    .unwrap();
            }
            seen.push(line);
        }
        seen
    });
    let c = Client::builder()
        .auth("s3cret-token")
        .connect_to(addr.to_string());
    c.get("x").await.unwrap();
    c.disconnect().await;
    assert_eq!(
        seen.await.unwrap(),
        ["ext", "i lockd-client:ext-probe", "g x"],
        "no auth line was sent"
    );
}

#[tokio::test]
async fn the_servers_certificate_is_checked() {
    let ca = Ca::new("lockd test CA");
    // Expired: refused at the handshake, with rustls's reason.
    let (addr, d) = tls_server("client-expired", &ca, &["localhost"], true, None, None).await;
    let c = Client::builder()
        .tls(trust(&d))
        .connect_to(format!("localhost:{}", addr.port()));
    let e = c.get("x").await.unwrap_err();
    assert!(e.is_fatal() && e.to_string().contains("xpired"), "{e}");
    std::fs::remove_dir_all(d).unwrap();

    // For another name: refused unless the client is told the name to expect.
    let (addr, d) = tls_server("client-name", &ca, &["lockd.internal"], false, None, None).await;
    let c = Client::builder()
        .tls(trust(&d))
        .connect_to(addr.to_string());
    let e = c.get("x").await.unwrap_err();
    assert!(e.is_fatal() && e.to_string().contains("certificate"), "{e}");
    let named = trust(&d).server_name("lockd.internal").unwrap();
    let c = Client::builder().tls(named).connect_to(addr.to_string());
    c.get("x").await.unwrap();

    // From a CA the client does not trust: the system's roots do not include the test's CA.
    let system = ClientTls::system_roots().expect("Debian's CA bundle (ca-certificates)");
    let c = Client::builder()
        .tls(system.server_name("lockd.internal").unwrap())
        .connect_to(addr.to_string());
    let e = c.get("x").await.unwrap_err();
    assert!(e.is_fatal() && e.to_string().contains("certificate"), "{e}");
    let other = Ca::new("another CA");
    write(&d, "other.pem", &other.cert.pem());
    let c = Client::builder()
        .tls(
            ClientTls::ca_file(d.join("other.pem"))
                .unwrap()
                .server_name("lockd.internal")
                .unwrap(),
        )
        .connect_to(addr.to_string());
    let e = c.get("x").await.unwrap_err();
    assert!(e.to_string().contains("certificate"), "{e}");
    // Files that hold no CA, or do not exist: errors that name the file.
    let empty = write(&d, "empty.pem", "");
    let e = ClientTls::ca_file(&empty).unwrap_err();
    assert!(e.to_string().contains("empty.pem"), "{e}");
    assert!(ClientTls::ca_file(d.join("missing.pem")).is_err());
    std::fs::remove_dir_all(d).unwrap();
}

#[tokio::test]
async fn a_client_certificate_for_mutual_tls() {
    let ca = Ca::new("lockd test CA");
    let clients = Ca::new("lockd client CA");
    let (addr, d) = tls_server(
        "client-mtls",
        &ca,
        &["localhost"],
        false,
        None,
        Some(&clients),
    )
    .await;
    let (cert, key) = clients.leaf("worker-7", &[], false);
    let tls = trust(&d)
        .client_cert(write(&d, "w.pem", &cert), write(&d, "w.key", &key))
        .unwrap();
    let target = format!("localhost:{}", addr.port());
    let c = Client::builder().tls(tls).connect_to(target.clone());
    assert_eq!(
        c.get_name().await.unwrap(),
        ("CN=worker-7".into(), "CN=worker-7".into())
    );
    // Without one: refused.
    let c = Client::builder().tls(trust(&d)).connect_to(target);
    assert!(c.get("x").await.unwrap_err().is_fatal());
    std::fs::remove_dir_all(d).unwrap();
}
