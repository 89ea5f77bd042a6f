//! TLS for the client (features `client` and `tls`): which certificate authorities it trusts
//! (a CA file, or the system's roots), an optional client certificate for mutual TLS, and the
//! name the server's certificate must carry (by default the target's host).

use std::io;
use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::ServerName;

/// How a [`Client`](super::Client) speaks TLS: give it to [`Builder::tls`](super::Builder::tls).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use lockd::client::{Client, ClientTls};
///
/// let tls = ClientTls::ca_file("/etc/lockd/ca.pem")?            // or ClientTls::system_roots()?
///     .client_cert("/etc/lockd/worker.pem", "/etc/lockd/worker.key")?; // mutual TLS, if asked
/// let client = Client::builder().tls(tls).auth_user("jobs", "s3cret-jobs")
///     .connect_to("lockd.internal:9998");
/// client.get("jobs/nightly").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientTls {
    roots: Arc<rustls::RootCertStore>,
    config: Arc<rustls::ClientConfig>,
    server_name: Option<ServerName<'static>>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("roots", &self.roots.len())
            .field(
                "client_cert",
                &self.config.client_auth_cert_resolver.has_certs(),
            )
            .field("server_name", &self.server_name)
            .finish()
    }
}

fn builder() -> rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier> {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default protocol versions")
}

impl ClientTls {
    /// Trusts the CA certificates in the PEM file at `path` (and no others).
    pub fn ca_file(path: impl AsRef<Path>) -> io::Result<ClientTls> {
        Ok(ClientTls::with_roots(crate::tls::pem_roots(path.as_ref())?))
    }

    /// Trusts the operating system's CA certificates (on Linux, the bundle under `/etc/ssl`;
    /// `SSL_CERT_FILE` and `SSL_CERT_DIR` are honoured). Certificates that fail to parse are
    /// skipped; none at all is an error.
    pub fn system_roots() -> io::Result<ClientTls> {
        let found = rustls_native_certs::load_native_certs();
        let mut roots = rustls::RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            let why = found
                .errors
                .first()
                .map_or_else(|| "none found".to_string(), |e| e.to_string());
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no usable system CA certificates: {why}"),
            ));
        }
        Ok(ClientTls::with_roots(roots))
    }

    fn with_roots(roots: rustls::RootCertStore) -> ClientTls {
        let roots = Arc::new(roots);
        let config = builder()
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        ClientTls {
            roots,
            config: Arc::new(config),
            server_name: None,
        }
    }

    /// Presents the certificate chain in `cert` (PEM, leaf first) with its key `key` (PEM), for
    /// a server that asks for client certificates (`lockd --tls-client-ca`).
    pub fn client_cert(
        mut self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> io::Result<Self> {
        let certs = crate::tls::pem_certs(cert.as_ref())?;
        let key = crate::tls::pem_key(key.as_ref())?;
        let config = builder()
            .with_root_certificates(self.roots.clone())
            .with_client_auth_cert(certs, key)
            .map_err(|e| crate::tls::invalid(cert.as_ref(), e))?;
        self.config = Arc::new(config);
        Ok(self)
    }

    /// The name (DNS name or IP address) the server's certificate must be valid for; by
    /// default the host of the address connected to.
    pub fn server_name(mut self, name: &str) -> io::Result<Self> {
        self.server_name = Some(parse_name(name)?);
        Ok(self)
    }

    /// The TLS handshake over `tcp` with the server at `addr` (`host:port`).
    pub(crate) async fn connect(
        &self,
        addr: &str,
        tcp: tokio::net::TcpStream,
    ) -> io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => parse_name(host(addr))?,
        };
        tokio_rustls::TlsConnector::from(self.config.clone())
            .connect(name, tcp)
            .await
    }
}

fn parse_name(name: &str) -> io::Result<ServerName<'static>> {
    ServerName::try_from(name.to_string()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} is neither a DNS name nor an IP address"),
        )
    })
}

/// The host of `host:port` or `[v6]:port`.
fn host(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    addr.rsplit_once(':').map_or(addr, |(host, _)| host)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_host_of_an_address() {
        assert_eq!(super::host("lockd.internal:9998"), "lockd.internal");
        assert_eq!(super::host("127.0.0.1:9998"), "127.0.0.1");
        assert_eq!(super::host("[::1]:9998"), "::1");
        assert_eq!(super::host("bare"), "bare");
        assert!(super::parse_name("::1").is_ok() && super::parse_name("no spaces").is_err());
    }
}
