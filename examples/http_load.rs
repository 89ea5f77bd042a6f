//! A load generator for the Consul HTTP API, and the bare hyper server that is its same-run
//! ceiling (`benches/http_vs_hyper.sh` runs both and prints the ratios).
//!
//! - `--addr A -c 50 -d 10`: each of `-c` keep-alive connections creates a session, then
//!   alternates `PUT /v1/kv/load/<n>?acquire=<sid>` and `?release=<sid>` for `-d` seconds;
//!   prints requests/s and p50/p99 latency in µs. `--bare` sends the same requests with a fixed
//!   session id, for a server that answers everything with 200 (the ceiling).
//! - `--parked N --addr A`: opens N connections, each parking a blocking GET on its own key
//!   (`index=<current>&wait=10m`); prints `parked` and waits for Enter; then writes one of the
//!   keys and checks that its query answers at once.
//! - `--serve-bare ADDR`: the ceiling: hyper answering every request `200 OK` with `true`.
//!
//! ```sh
//! cargo run --release --features cli,http --example http_load -- --serve-bare 127.0.0.1:18600 &
//! cargo run --release --features cli,http --example http_load -- --addr 127.0.0.1:18600 --bare
//! ```

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[derive(Debug, Parser)]
#[command(about = "Load generator for lockd's Consul HTTP API, and its bare-hyper ceiling")]
struct Args {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:8500")]
    addr: String,
    /// Connections.
    #[arg(short, default_value_t = 50)]
    c: usize,
    /// Seconds of load.
    #[arg(short, default_value_t = 10)]
    d: u64,
    /// The server is the bare ceiling: do not create sessions.
    #[arg(long)]
    bare: bool,
    /// Park this many blocking queries instead of generating load.
    #[arg(long)]
    parked: Option<usize>,
    /// Serve the bare hyper ceiling on this address instead.
    #[arg(long)]
    serve_bare: Option<String>,
}

/// One keep-alive HTTP/1.1 connection with a minimal request/response codec.
struct Conn {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Conn {
    async fn open(addr: &str) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (r, w) = stream.into_split();
        Ok(Conn {
            reader: BufReader::new(r),
            writer: w,
        })
    }

    /// Sends one request, returns (status, X-Consul-Index, body).
    async fn call(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> std::io::Result<(u16, u64, Vec<u8>)> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: lockd\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        self.writer.write_all(&request).await?;
        let mut line = String::new();
        self.reader.read_line(&mut line).await?;
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let (mut length, mut index) = (0usize, 0u64);
        loop {
            line.clear();
            if self.reader.read_line(&mut line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let l = line.trim_end();
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
        self.reader.read_exact(&mut body).await?;
        Ok((status, index, body))
    }
}

async fn worker(args: &Args, n: usize, deadline: Instant) -> std::io::Result<Vec<u32>> {
    let mut conn = Conn::open(&args.addr).await?;
    let sid = if args.bare {
        "00000000-0000-4000-8000-000000000000".to_string()
    } else {
        let (_, _, body) = conn
            .call("PUT", "/v1/session/create", br#"{"LockDelay":"0s"}"#)
            .await?;
        let text = String::from_utf8_lossy(&body).into_owned();
        text.split('"').nth(3).expect("session ID").to_string()
    };
    let acquire = format!("/v1/kv/load/{n}?acquire={sid}");
    let release = format!("/v1/kv/load/{n}?release={sid}");
    let mut latencies = Vec::new();
    while Instant::now() < deadline {
        for path in [&acquire, &release] {
            let started = Instant::now();
            let (status, _, body) = conn.call("PUT", path, b"v").await?;
            assert!(
                status == 200 && body == b"true",
                "{status} {:?}",
                String::from_utf8_lossy(&body)
            );
            latencies.push(started.elapsed().as_micros() as u32);
        }
    }
    if !args.bare {
        conn.call("PUT", &format!("/v1/session/destroy/{sid}"), b"")
            .await?;
    }
    Ok(latencies)
}

async fn load(args: Args) -> std::io::Result<()> {
    let args = std::sync::Arc::new(args);
    let deadline = Instant::now() + Duration::from_secs(args.d);
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.c)
        .map(|n| {
            let args = args.clone();
            tokio::spawn(async move { worker(&args, n, deadline).await })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("worker panicked")?);
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0)
    };
    println!("{:.0} {} {}", all.len() as f64 / secs, pct(0.5), pct(0.99));
    Ok(())
}

async fn parked(args: &Args, n: usize) -> std::io::Result<()> {
    let mut probe = Conn::open(&args.addr).await?;
    let (_, index, _) = probe.call("GET", "/v1/kv/parked/0", b"").await?;
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut c = Conn::open(&args.addr).await?;
        let request =
            format!("GET /v1/kv/parked/{i}?index={index}&wait=10m HTTP/1.1\r\nHost: lockd\r\n\r\n");
        c.writer.write_all(request.as_bytes()).await?;
        conns.push(c);
    }
    // Every query has been sent; give the server a moment to read them all.
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!("parked {n}");
    let _ = tokio::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new())).await;
    let started = Instant::now();
    let (status, _, _) = probe
        .call("PUT", &format!("/v1/kv/parked/{}", n / 2), b"wake")
        .await?;
    assert_eq!(status, 200);
    let mut reply = String::new();
    conns[n / 2].reader.read_line(&mut reply).await?;
    assert!(
        reply.contains(" 200 "),
        "the woken query answered {reply:?}"
    );
    println!("woken in {} µs", started.elapsed().as_micros());
    Ok(())
}

async fn serve_bare(addr: &str) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|_req| async {
                let mut r = hyper::Response::new(Full::new(Bytes::from_static(b"true")));
                r.headers_mut()
                    .insert("content-type", "application/json".parse().unwrap());
                Ok::<_, Infallible>(r)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    if let Some(addr) = &args.serve_bare {
        // Like the lockd binary: a multi-threaded runtime, one worker per core.
        return tokio::runtime::Runtime::new()?.block_on(serve_bare(addr));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match args.parked {
        Some(n) => rt.block_on(parked(&args, n)),
        None => rt.block_on(load(args)),
    }
}
