//! Many idle clients, in plaintext or over TLS, for the memory figures of
//! `benches/idle_memory.sh`: `--lockd ADDR --n N` opens N lockd connections that each take one
//! lock and sit idle; `--http ADDR --n N` opens N Consul API connections that each park a
//! blocking query on a key of its own. With `--ca FILE` every connection is TLS (the server's
//! certificate checked against that CA, as `localhost`). Prints `ready N`, waits for Enter,
//! then measures what follows: the time until every lock is free after the connections drop
//! (lockd), or the time one write takes to answer its parked query (HTTP).
//!
//! ```sh
//! cargo run --release --features cli,http,tls --example idle_memory -- --lockd 127.0.0.1:9999 --n 1000
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio_rustls::rustls;

#[derive(Debug, Parser)]
#[command(about = "Idle lockd or Consul API clients, plaintext or TLS, for memory figures")]
struct Args {
    /// A lockd server: each connection takes one lock.
    #[arg(long, conflicts_with = "http")]
    lockd: Option<String>,
    /// A Consul API server: each connection parks one blocking query.
    #[arg(long)]
    http: Option<String>,
    /// Connections.
    #[arg(long, default_value_t = 10_000)]
    n: usize,
    /// Speak TLS, trusting the CA certificates in this PEM file.
    #[arg(long)]
    ca: Option<std::path::PathBuf>,
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

type Conn = BufReader<Box<dyn Stream>>;

struct Dialer {
    addr: String,
    tls: Option<tokio_rustls::TlsConnector>,
}

impl Dialer {
    fn new(addr: &str, ca: Option<&std::path::Path>) -> std::io::Result<Dialer> {
        let tls = match ca {
            None => None,
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in rustls_pemfile::certs(&mut std::fs::read(ca)?.as_slice()) {
                    roots.add(cert?).map_err(std::io::Error::other)?;
                }
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(std::io::Error::other)?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                Some(tokio_rustls::TlsConnector::from(Arc::new(config)))
            }
        };
        Ok(Dialer {
            addr: addr.to_string(),
            tls,
        })
    }

    async fn open(&self) -> std::io::Result<Conn> {
        let tcp = tokio::net::TcpStream::connect(&self.addr).await?;
        tcp.set_nodelay(true)?;
        let stream: Box<dyn Stream> = match &self.tls {
            None => Box::new(tcp),
            Some(tls) => {
                let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
                Box::new(tls.connect(name, tcp).await?)
            }
        };
        Ok(BufReader::new(stream))
    }
}

async fn send(conn: &mut Conn, bytes: &[u8]) -> std::io::Result<()> {
    conn.get_mut().write_all(bytes).await?;
    conn.get_mut().flush().await
}

async fn line(conn: &mut Conn) -> std::io::Result<String> {
    let mut line = String::new();
    if conn.read_line(&mut line).await? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(line)
}

/// Waits for Enter on stdin.
async fn enter() {
    let _ = tokio::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new())).await;
}

async fn lockd(dialer: Dialer, n: usize) -> std::io::Result<()> {
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut c = dialer.open().await?;
        send(&mut c, format!("g idle-{i}\n").as_bytes()).await?;
        let reply = line(&mut c).await?;
        assert!(reply.starts_with("1 "), "lock not granted: {reply:?}");
        conns.push(c);
    }
    println!("ready {n}");
    enter().await;
    let dropped = Instant::now();
    drop(conns);
    let mut probe = dialer.open().await?;
    loop {
        send(&mut probe, b"i idle-0\n").await?;
        let first = line(&mut probe).await?;
        send(&mut probe, format!("i idle-{}\n", n - 1).as_bytes()).await?;
        let last = line(&mut probe).await?;
        if first.starts_with("0 ") && last.starts_with("0 ") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The first and last are free; every lock is once `q` says none is held.
    loop {
        send(&mut probe, b"q\n").await?;
        let mut held = None;
        while held.is_none() {
            let l = line(&mut probe).await?;
            held = l
                .strip_prefix("locks: ")
                .map(|v| v.trim().parse::<u64>().unwrap());
        }
        // The rest of `q` ends with `shared_orphans`.
        while !line(&mut probe).await?.starts_with("shared_orphans") {}
        if held == Some(0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "all {n} locks free {:.0} ms after the drop",
        dropped.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

/// One HTTP/1.1 response: (status, X-Consul-Index).
async fn response(conn: &mut Conn) -> std::io::Result<(u16, u64)> {
    let status_line = line(conn).await?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (mut length, mut index) = (0usize, 0u64);
    loop {
        let l = line(conn).await?;
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        let (name, value) = l.split_once(':').unwrap_or((l, ""));
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().unwrap_or(0);
        } else if name.eq_ignore_ascii_case("x-consul-index") {
            index = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    conn.read_exact(&mut body).await?;
    Ok((status, index))
}

async fn http(dialer: Dialer, n: usize) -> std::io::Result<()> {
    let mut probe = dialer.open().await?;
    send(
        &mut probe,
        b"GET /v1/kv/parked/0 HTTP/1.1\r\nHost: lockd\r\n\r\n",
    )
    .await?;
    let (_, index) = response(&mut probe).await?;
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut c = dialer.open().await?;
        let request =
            format!("GET /v1/kv/parked/{i}?index={index}&wait=10m HTTP/1.1\r\nHost: lockd\r\n\r\n");
        send(&mut c, request.as_bytes()).await?;
        conns.push(c);
    }
    // Every query has been sent; give the server a moment to read them all.
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!("ready {n}");
    enter().await;
    let started = Instant::now();
    let wake = format!(
        "PUT /v1/kv/parked/{} HTTP/1.1\r\nHost: lockd\r\nContent-Length: 4\r\n\r\nwake",
        n / 2
    );
    send(&mut probe, wake.as_bytes()).await?;
    assert_eq!(response(&mut probe).await?.0, 200);
    let (status, _) = response(&mut conns[n / 2]).await?;
    assert_eq!(status, 200, "the woken query");
    println!("woken in {} µs", started.elapsed().as_micros());
    Ok(())
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        match (&args.lockd, &args.http) {
            (Some(addr), _) => lockd(Dialer::new(addr, args.ca.as_deref())?, args.n).await,
            (None, Some(addr)) => http(Dialer::new(addr, args.ca.as_deref())?, args.n).await,
            (None, None) => Err(std::io::Error::other("give --lockd ADDR or --http ADDR")),
        }
    })
}
