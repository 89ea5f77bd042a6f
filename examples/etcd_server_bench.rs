//! lockd in etcd mode against raw etcd, in one run: two lockd servers (`Server::with_etcd`, in
//! this process) over one cluster, 50 clients split between them doing `g NAME` + `r NAME`
//! cycles on names of their own (one request at a time, then pipelined: 8 cycles per write),
//! next to 50 tasks doing raw etcd put + delete pairs, in interleaved rounds. Then the hand-off
//! latency: from a client's `r` on one server to the grant of a `gw` waiting on the other. Run by
//! `benches/etcd_server_vs_raw.sh`, or:
//!
//! ```sh
//! cargo run --release --features etcd,tcp-server --example etcd_server_bench -- ENDPOINTS [SECONDS] [ROUNDS]
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lockd::etcd::{EtcdConfig, EtcdManager};
use lockd::server::{Config, Server};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Clients (and raw tasks) at once.
const C: usize = 50;
/// Cycles per write in the pipelined run.
const PIPELINE: usize = 8;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let endpoints: Vec<String> = args
        .next()
        .expect("usage: etcd_server_bench ENDPOINTS [SECONDS] [ROUNDS]")
        .split(',')
        .map(str::to_string)
        .collect();
    let seconds: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2.0);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let prefix = format!("lockd-server-bench-{}", std::process::id());
    let connect = || {
        EtcdManager::connect(EtcdConfig {
            endpoints: endpoints.clone(),
            prefix: prefix.clone(),
            ..EtcdConfig::default()
        })
    };
    let mut servers = Vec::new();
    let mut addrs = Vec::new();
    for _ in 0..2 {
        let server = Server::with_etcd(connect().await.expect("connect"), Config::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        addrs.push(listener.local_addr().unwrap());
        servers.push(server.handle());
        tokio::spawn(async move { server.serve(listener, std::future::pending::<()>()).await });
    }
    let raw = connect().await.expect("connect");
    let slice = Duration::from_secs_f64(seconds);
    println!(
        "lockd in etcd mode (2 servers) vs raw etcd put+delete, C={C}, {rounds} interleaved \
         rounds of {seconds} s per side"
    );
    for pipeline in [1, PIPELINE] {
        let mut clients = Vec::new();
        for i in 0..C {
            clients.push(LineClient::connect(addrs[i % 2]).await);
        }
        let clients = Arc::new(tokio::sync::Mutex::new(clients));
        let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        let (mut floor, mut floor_ratios) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            let (o, r) = if round % 2 == 0 {
                let o = lockd_side(&clients, slice, pipeline).await;
                (o, raw_side(&raw, &prefix, slice, false).await)
            } else {
                let r = raw_side(&raw, &prefix, slice, false).await;
                (lockd_side(&clients, slice, pipeline).await, r)
            };
            let f = raw_side(&raw, &prefix, slice, true).await;
            ratios.push(o / r);
            floor_ratios.push(o / f);
            ours.push(o);
            theirs.push(r);
            floor.push(f);
        }
        let rounded = |v: &[f64]| {
            v.iter()
                .map(|r| (r * 100.0).round() / 100.0)
                .collect::<Vec<_>>()
        };
        println!(
            "P={pipeline}: lockd g+r {:>6.0} cycles/s; raw put+delete {:>6.0} pairs/s; ratio \
             median {:.2}x (target >= 0.7x), rounds {:?}",
            median(ours),
            median(theirs),
            median(ratios.clone()),
            rounded(&ratios)
        );
        println!(
            "P={pipeline}: raw fenced put-if-absent + delete-if-same Txns {:>6.0}/s; lockd / that: \
             median {:.2}x, rounds {:?} (informational)",
            median(floor),
            median(floor_ratios.clone()),
            rounded(&floor_ratios)
        );
    }
    // Hand-off latency: A's client releases, B's waiting client is granted.
    let (mut holder, mut waiter) = (
        LineClient::connect(addrs[0]).await,
        LineClient::connect(addrs[1]).await,
    );
    let mut samples = Vec::new();
    for _ in 0..50 {
        holder.ask("g handoff\n").await;
        waiter.send("gw 10000 handoff\n").await;
        // The waiter has enqueued: its request shows in the table.
        while waiting(&raw).await == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let released = Instant::now();
        holder.send("r handoff\n").await;
        let granted = waiter.line().await;
        samples.push(released.elapsed());
        assert!(granted.ends_with("Lock Get Success: handoff"), "{granted}");
        holder.line().await; // the release's reply
        waiter.ask("r handoff\n").await;
    }
    samples.sort();
    println!(
        "hand-off from one server's release to the other server's waiter: p50 {:?}, p99 {:?} \
         ({} samples)",
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
        samples.len()
    );
    for h in servers {
        h.destroy();
    }
}

/// Requests waiting in the table.
async fn waiting(mgr: &EtcdManager) -> usize {
    mgr.snapshot()
        .await
        .map(|locks| {
            locks
                .iter()
                .flat_map(|l| &l.requests)
                .filter(|r| !r.granted)
                .count()
        })
        .unwrap_or(0)
}

/// Every client cycles `g bench-I` + `r bench-I` for `slice`, `pipeline` cycles per write.
async fn lockd_side(
    clients: &Arc<tokio::sync::Mutex<Vec<LineClient>>>,
    slice: Duration,
    pipeline: usize,
) -> f64 {
    let mut all = std::mem::take(&mut *clients.lock().await);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (i, mut c) in all.drain(..).enumerate() {
        tasks.push(tokio::spawn(async move {
            let batch: String = (0..pipeline)
                .map(|_| format!("g bench-{i}\nr bench-{i}\n"))
                .collect();
            let mut cycles = 0usize;
            while start.elapsed() < slice {
                c.send(&batch).await;
                for _ in 0..pipeline {
                    let got = c.line().await;
                    assert!(got.starts_with("1 Lock Get Success"), "{got}");
                    let got = c.line().await;
                    assert!(got.starts_with("1 Lock Release Success"), "{got}");
                }
                cycles += pipeline;
            }
            (c, cycles)
        }));
    }
    let mut total = 0;
    for t in tasks {
        let (c, n) = t.await.expect("client task");
        all.push(c);
        total += n;
    }
    let rate = total as f64 / start.elapsed().as_secs_f64();
    *clients.lock().await = all;
    rate
}

/// `C` tasks each doing raw put + delete pairs on keys of their own for `slice`; `fenced`:
/// put-if-absent and delete-if-same Txns instead (the least a recipe with fencing tokens can do).
async fn raw_side(mgr: &EtcdManager, prefix: &str, slice: Duration, fenced: bool) -> f64 {
    use etcd_client::{Compare, CompareOp, Txn, TxnOp};
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..C {
        let mut c = mgr.client().clone();
        let key = format!("{prefix}/raw/{i}");
        tasks.push(tokio::spawn(async move {
            let mut pairs = 0usize;
            while start.elapsed() < slice {
                if fenced {
                    let put = Txn::new()
                        .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
                        .and_then([TxnOp::put(key.clone(), "x", None)]);
                    let rev = c
                        .txn(put)
                        .await
                        .expect("put txn")
                        .header()
                        .expect("header")
                        .revision();
                    let del = Txn::new()
                        .when([Compare::create_revision(key.clone(), CompareOp::Equal, rev)])
                        .and_then([TxnOp::delete(key.clone(), None)]);
                    c.txn(del).await.expect("delete txn");
                } else {
                    c.put(key.clone(), "x", None).await.expect("put");
                    c.delete(key.clone(), None).await.expect("delete");
                }
                pairs += 1;
            }
            pairs
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("raw task");
    }
    total as f64 / start.elapsed().as_secs_f64()
}

struct LineClient {
    lines: tokio::io::Lines<BufReader<tokio::net::tcp::OwnedReadHalf>>,
    out: tokio::net::tcp::OwnedWriteHalf,
}

impl LineClient {
    async fn connect(addr: SocketAddr) -> LineClient {
        let (r, w) = TcpStream::connect(addr)
            .await
            .expect("connect")
            .into_split();
        LineClient {
            lines: BufReader::new(r).lines(),
            out: w,
        }
    }

    async fn send(&mut self, text: &str) {
        self.out.write_all(text.as_bytes()).await.expect("write");
    }

    async fn line(&mut self) -> String {
        self.lines.next_line().await.expect("read").expect("a line")
    }

    async fn ask(&mut self, request: &str) -> String {
        self.send(request).await;
        self.line().await
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
