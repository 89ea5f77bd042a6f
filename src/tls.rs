//! TLS for both frontends (feature `tls`): the lockd protocol (`Server::serve_tls`) and the
//! Consul API (`HttpServer::serve_tls`). rustls with the ring provider, a certificate and key
//! from PEM files, and optionally client certificates verified against a CA file (mutual TLS:
//! on the lockd protocol the certificate's subject is then the connection's display id). The
//! files are read again when they change (looked at, at most once a second, as connections
//! arrive), so certificates are renewed without a restart; a renewal that fails to load keeps
//! the last good ones.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Where a TLS listener's certificates come from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TlsFiles {
    /// The server's certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// With it, clients must present a certificate signed by one of these CAs (PEM).
    pub client_ca: Option<PathBuf>,
    /// The most a TLS handshake may take before the connection is closed (default 10 s).
    pub handshake_timeout: Duration,
}

impl TlsFiles {
    /// A certificate and key, no client certificates, the default handshake timeout.
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> TlsFiles {
        TlsFiles {
            cert: cert.into(),
            key: key.into(),
            client_ca: None,
            handshake_timeout: Duration::from_secs(10),
        }
    }

    /// Requires client certificates signed by the CAs in `path`.
    pub fn client_ca(mut self, path: impl Into<PathBuf>) -> TlsFiles {
        self.client_ca = Some(path.into());
        self
    }

    /// Loads the files once, as a server does before its first connection; the error says
    /// which file and why. (Serving checks them anyway: this is for failing before binding.)
    pub fn check(&self) -> io::Result<()> {
        load(self).map(drop)
    }

    fn paths(&self) -> impl Iterator<Item = &Path> {
        [Some(&self.cert), Some(&self.key), self.client_ca.as_ref()]
            .into_iter()
            .flatten()
            .map(PathBuf::as_path)
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn read(path: &Path) -> io::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// An error about the file at `path`.
pub(crate) fn invalid(path: &Path, why: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {why}", path.display()),
    )
}

/// A certificate chain from a PEM file: at least one certificate, leaf first.
pub(crate) fn pem_certs(path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    certs_or(path, "no certificate in it")
}

fn certs_or(path: &Path, none: &str) -> io::Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<_> = rustls_pemfile::certs(&mut read(path)?.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(path, e))?;
    if certs.is_empty() {
        return Err(invalid(path, none));
    }
    Ok(certs)
}

/// The first private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
pub(crate) fn pem_key(path: &Path) -> io::Result<PrivateKeyDer<'static>> {
    rustls_pemfile::private_key(&mut read(path)?.as_slice())
        .map_err(|e| invalid(path, e))?
        .ok_or_else(|| invalid(path, "no private key in it"))
}

/// The CA certificates of a PEM file, as trust roots: at least one.
pub(crate) fn pem_roots(path: &Path) -> io::Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs_or(path, "no CA certificate in it")? {
        roots.add(cert).map_err(|e| invalid(path, e))?;
    }
    Ok(roots)
}

/// Builds a rustls server configuration from the files.
fn load(files: &TlsFiles) -> io::Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = pem_certs(&files.cert)?;
    let key = pem_key(&files.key)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let roots = pem_roots(ca)?;
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .map_err(|e| invalid(ca, e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| invalid(&files.key, e))?;
    Ok(Arc::new(config))
}

/// `CN=NAME` for a client certificate's common name, if it can be an id (§1.1): printable
/// ASCII without spaces or `: `, so that it can never break a listing line; otherwise the
/// connection keeps its address as id.
fn display_id(cn: &str) -> Option<Vec<u8>> {
    let clean = !cn.is_empty()
        && cn.len() <= 256
        && cn.bytes().all(|b| b.is_ascii_graphic())
        && !cn.contains(": ");
    clean.then(|| format!("CN={cn}").into_bytes())
}

/// A TLS acceptor whose configuration follows its files.
pub(crate) struct Tls {
    files: TlsFiles,
    state: Mutex<State>,
}

struct State {
    config: Arc<rustls::ServerConfig>,
    stamps: Vec<Option<SystemTime>>,
    looked: Instant,
}

impl Tls {
    /// Loads the files; an error says which file and why.
    pub(crate) fn new(files: TlsFiles) -> io::Result<Tls> {
        let config = load(&files)?;
        let stamps = files.paths().map(modified).collect();
        Ok(Tls {
            files,
            state: Mutex::new(State {
                config,
                stamps,
                looked: Instant::now(),
            }),
        })
    }

    /// The configuration for a new connection: reloaded first if a file changed.
    fn config(&self) -> Arc<rustls::ServerConfig> {
        let mut state = self.state.lock().unwrap();
        if state.looked.elapsed() >= Duration::from_secs(1) {
            state.looked = Instant::now();
            let stamps: Vec<_> = self.files.paths().map(modified).collect();
            if stamps != state.stamps {
                state.stamps = stamps;
                match load(&self.files) {
                    Ok(config) => {
                        tracing::info!("TLS certificates reloaded");
                        state.config = config;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "TLS certificates not reloaded; the last good ones stay")
                    }
                }
            }
        }
        state.config.clone()
    }

    /// The TLS handshake of one accepted connection, within the handshake timeout; with client
    /// certificates, the subject of the client's certificate as its display id.
    pub(crate) fn handshake<S>(
        &self,
        stream: S,
    ) -> impl std::future::Future<
        Output = io::Result<(tokio_rustls::server::TlsStream<S>, Option<Vec<u8>>)>,
    > + Send
    + 'static
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.config());
        let limit = self.files.handshake_timeout;
        async move {
            let tls = tokio::time::timeout(limit, acceptor.accept(stream))
                .await
                .map_err(|_| {
                    io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")
                })??;
            let subject = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|certs| certs.first())
                .and_then(|leaf| {
                    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
                    let cn = cert.subject().iter_common_name().next()?.as_str().ok()?;
                    display_id(cn)
                });
            Ok((tls, subject))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_common_name_is_an_id_only_if_it_cannot_break_a_line() {
        assert_eq!(super::display_id("worker-7"), Some(b"CN=worker-7".to_vec()));
        for bad in ["", "two words", "a: b", "line\nbreak", "tab\t", "caf\u{e9}"] {
            assert_eq!(super::display_id(bad), None, "{bad:?}");
        }
    }
}
