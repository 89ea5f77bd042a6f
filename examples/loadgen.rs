//! A load generator for lockd-compatible servers (and, for a same-run baseline, Redis).
//!
//! It speaks only the wire protocol, so it can load any glockd-compatible server. Each of `-c`
//! connections keeps `-p` requests in flight, alternating get and release of its key
//! (`lockd`: `g KEY` / `r KEY`; `redis`: `SET KEY 1 NX` / `DEL KEY`), for `-d` seconds, and the
//! run prints requests/s and p50/p99 latency (send → reply).
//!
//! `--idle N` instead opens N connections that each take one lock and then sit idle until Enter
//! is pressed (or `--hold SECS` passes); then it drops them all at once and reports how long the
//! server took until `q` shows no locks left (for the memory and release-time targets).
//!
//! ```sh
//! cargo run --release --features cli --example loadgen -- -c 50 -p 16 -d 10
//! cargo run --release --features cli --example loadgen -- --mode redis --addr 127.0.0.1:6379
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    Lockd,
    Redis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Keys {
    /// Each connection its own key (no contention).
    Unique,
    /// All connections one key (contended: most gets fail).
    Shared,
}

#[derive(Debug, Parser)]
#[command(about = "Load generator for lockd-compatible servers (and Redis as a baseline)")]
struct Args {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:9999")]
    addr: String,
    /// Protocol to speak.
    #[arg(long, value_enum, default_value = "lockd")]
    mode: Mode,
    /// Connections.
    #[arg(short = 'c', long, default_value_t = 50)]
    connections: usize,
    /// Requests in flight per connection.
    #[arg(short = 'p', long, default_value_t = 16)]
    pipeline: usize,
    /// Seconds to run.
    #[arg(short = 'd', long, default_value_t = 10.0)]
    duration: f64,
    /// Key space.
    #[arg(long, value_enum, default_value = "unique")]
    keys: Keys,
    /// Open this many idle connections holding one lock each instead (lockd mode).
    #[arg(long)]
    idle: Option<usize>,
    /// With --idle: hold this many seconds instead of waiting for Enter.
    #[arg(long)]
    hold: Option<f64>,
    /// Print one machine-readable line: `rps p50_us p99_us`.
    #[arg(long)]
    quiet: bool,
}

fn request(mode: Mode, key: &str, get: bool) -> Vec<u8> {
    match (mode, get) {
        (Mode::Lockd, true) => format!("g {key}\n"),
        (Mode::Lockd, false) => format!("r {key}\n"),
        (Mode::Redis, true) => format!("SET {key} 1 NX\r\n"),
        (Mode::Redis, false) => format!("DEL {key}\r\n"),
    }
    .into_bytes()
}

/// One connection's loop: keeps `depth` requests in flight until `deadline`, then drains.
async fn worker(args: &Args, id: usize, deadline: Instant) -> std::io::Result<(u64, Vec<u32>)> {
    let mut stream = TcpStream::connect(&args.addr).await?;
    stream.set_nodelay(true)?;
    let key = match args.keys {
        Keys::Unique => format!("loadgen-{id}"),
        Keys::Shared => "loadgen".to_string(),
    };
    let reqs = [
        request(args.mode, &key, true),
        request(args.mode, &key, false),
    ];
    let mut sent: VecDeque<Instant> = VecDeque::with_capacity(args.pipeline);
    let mut latencies = Vec::new();
    let mut next = 0usize;
    let mut done = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    loop {
        let now = Instant::now();
        if now < deadline {
            while sent.len() < args.pipeline {
                out.extend_from_slice(&reqs[next % 2]);
                next += 1;
                sent.push_back(now);
            }
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
        if sent.is_empty() {
            return Ok((done, latencies));
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let now = Instant::now();
        for _ in buf[..n].iter().filter(|&&b| b == b'\n') {
            let t = sent.pop_front().expect("a reply answers a request");
            latencies.push(now.duration_since(t).as_micros().min(u32::MAX as u128) as u32);
            done += 1;
        }
    }
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn load(args: Args) -> std::io::Result<()> {
    let args = Box::leak(Box::new(args));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(args.duration);
    let tasks: Vec<_> = (0..args.connections)
        .map(|i| {
            let args: &'static Args = args;
            tokio::spawn(async move { worker(args, i, deadline).await })
        })
        .collect();
    let (mut total, mut lat) = (0u64, Vec::new());
    for t in tasks {
        let (n, l) = t.await.expect("worker")?;
        total += n;
        lat.extend(l);
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let (p50, p99) = (percentile(&lat, 0.50), percentile(&lat, 0.99));
    let rps = total as f64 / secs;
    if args.quiet {
        println!("{rps:.0} {p50} {p99}");
    } else {
        println!(
            "{:?} {} c={} p={} keys={:?}: {total} requests in {secs:.2}s = {rps:.0} req/s; latency p50 {p50} us, p99 {p99} us",
            args.mode, args.addr, args.connections, args.pipeline, args.keys
        );
    }
    Ok(())
}

/// Reads the `locks` counter with `q` on a fresh connection.
async fn locks_held(addr: &str) -> std::io::Result<u64> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(b"q\n").await?;
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while !text.contains("shared_orphans: ") || !text.ends_with('\n') {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("locks: "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX))
}

async fn idle(args: &Args, n: usize) -> std::io::Result<()> {
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = TcpStream::connect(&args.addr).await?;
        s.write_all(format!("g idle-{i}\n").as_bytes()).await?;
        let mut reply = [0u8; 64];
        let got = s.read(&mut reply).await?;
        assert!(reply[..got].starts_with(b"1 "), "lock not granted");
        conns.push(s);
    }
    println!("holding {n} locks on {n} idle connections");
    match args.hold {
        Some(secs) => tokio::time::sleep(Duration::from_secs_f64(secs)).await,
        None => {
            println!("press Enter to drop them");
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        }
    }
    let dropped = Instant::now();
    drop(conns);
    while locks_held(&args.addr).await? != 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "all {n} locks free {:.0} ms after the drop",
        dropped.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    match args.idle {
        Some(n) => idle(&args, n).await,
        None => load(args).await,
    }
}
