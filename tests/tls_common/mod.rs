//! Certificates made by the tests themselves (rcgen), for the TLS tests of both frontends and
//! the client: a CA and the leaves it signs (expired ones on request), the files they go in, and
//! a rustls client configuration that trusts a CA.
#![allow(dead_code)] // each test file uses its own part

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use tokio_rustls::rustls;

/// A CA, and certificates it signs.
pub struct Ca {
    pub cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    /// A leaf for `names` (DNS names or IP addresses) with common name `cn` (expired if
    /// `expired`), and its key: (certificate PEM, key PEM).
    pub fn leaf(&self, cn: &str, names: &[&str], expired: bool) -> (String, String) {
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// A fresh directory for one test's files.
pub fn dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lockd-tls-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A rustls client configuration trusting `ca`, presenting `client` (cert, key PEM) if given.
pub fn client_config(ca: &Ca, client: Option<&(String, String)>) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert.der().clone()).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    Arc::new(match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let certs = rustls_pemfile::certs(&mut cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = rustls_pemfile::private_key(&mut key.as_bytes())
                .unwrap()
                .unwrap();
            builder.with_client_auth_cert(certs, key).unwrap()
        }
    })
}

pub type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// A TLS connection to `addr` as `localhost`, trusting `ca`, presenting `client` if given.
pub async fn connect(
    addr: std::net::SocketAddr,
    ca: &Ca,
    client: Option<&(String, String)>,
) -> std::io::Result<Tls> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    tokio_rustls::TlsConnector::from(client_config(ca, client))
        .connect(name, tcp)
        .await
}

/// A lockd server (`Server::serve_tls`) over a new manager, with `config`, on a TLS port of
/// 127.0.0.1: its address and the manager.
pub async fn lockd_tls(
    config: lockd::server::Config,
    files: lockd::server::TlsFiles,
) -> (std::net::SocketAddr, lockd::LockManager) {
    let mgr = lockd::LockManager::new();
    let server = lockd::server::Server::new(mgr.clone(), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        server
            .serve_tls(listener, files, std::future::pending::<()>())
            .await
    });
    (addr, mgr)
}
