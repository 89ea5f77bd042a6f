//! The etcd backend's uncontended try + release cycles next to raw etcd put + delete pairs, with
//! the same client and the same concurrency, in interleaved rounds of one run (the physical
//! limit: a lock is at least one write and one delete). Run by `benches/etcd_vs_raw.sh`, or:
//!
//! ```sh
//! cargo run --release --features etcd --example etcd_bench -- http://127.0.0.1:23791,... [SECONDS] [ROUNDS]
//! ```
//!
//! Prints, per concurrency (1 task; 32 tasks on distinct names): cycles/s of each side, their
//! ratio (median over rounds), and p50/p99 latency of one cycle.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lockd::etcd::{EtcdConfig, EtcdManager};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let endpoints: Vec<String> = args
        .next()
        .expect("usage: etcd_bench ENDPOINTS [SECONDS] [ROUNDS]")
        .split(',')
        .map(str::to_string)
        .collect();
    let seconds: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2.0);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let prefix = format!("lockd-bench-{}", std::process::id());
    let mgr = EtcdManager::connect(EtcdConfig {
        endpoints,
        prefix: prefix.clone(),
        lease_ttl: Duration::from_secs(10),
        ..EtcdConfig::default()
    })
    .await
    .expect("connect");
    let slice = Duration::from_secs_f64(seconds);
    println!(
        "etcd backend vs raw etcd, same client, {rounds} interleaved rounds of {seconds} s per side"
    );
    for tasks in [1usize, 32] {
        let sessions: Arc<Vec<_>> = Arc::new({
            let mut v = Vec::new();
            for _ in 0..tasks {
                v.push(mgr.session_on_shared_lease().await.expect("session"));
            }
            v
        });
        let (mut ours, mut raw, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        let (mut fenced, mut fenced_ratios) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            // Alternate which side goes first.
            let (r, o) = if round % 2 == 0 {
                let r = run(tasks, slice, raw_cycle(&mgr, &prefix)).await;
                (r, run(tasks, slice, lock_cycle(&sessions)).await)
            } else {
                let o = run(tasks, slice, lock_cycle(&sessions)).await;
                (run(tasks, slice, raw_cycle(&mgr, &prefix)).await, o)
            };
            let f = run(tasks, slice, fenced_cycle(&mgr, &prefix)).await;
            ratios.push(o.rate / r.rate);
            fenced_ratios.push(o.rate / f.rate);
            ours.push(o);
            raw.push(r);
            fenced.push(f);
        }
        let rate = |v: &[Run]| median(v.iter().map(|r| r.rate).collect());
        let lat = |v: &[Run], q: f64| {
            let mut all: Vec<Duration> = v.iter().flat_map(|r| r.latencies.clone()).collect();
            all.sort();
            all[((all.len() - 1) as f64 * q) as usize]
        };
        println!(
            "{tasks:>2} task(s): lockd try+release {:>7.0}/s (p50 {:?}, p99 {:?}); raw put+delete \
             {:>7.0}/s (p50 {:?}, p99 {:?}); ratio median {:.2}x (target >= 0.8x), rounds {:?}",
            rate(&ours),
            lat(&ours, 0.5),
            lat(&ours, 0.99),
            rate(&raw),
            lat(&raw, 0.5),
            lat(&raw, 0.99),
            median(ratios.clone()),
            ratios
                .iter()
                .map(|r| (r * 100.0).round() / 100.0)
                .collect::<Vec<_>>()
        );
        println!(
            "{tasks:>2} task(s): raw fenced put-if-absent + delete-if-same Txns {:>7.0}/s (p50 {:?}); \
             lockd / that: median {:.2}x (informational)",
            rate(&fenced),
            lat(&fenced, 0.5),
            median(fenced_ratios)
        );
        for s in sessions.iter() {
            s.close().await.expect("close");
        }
    }
}

struct Run {
    rate: f64,
    latencies: Vec<Duration>,
}

type Cycle = Arc<dyn Fn(usize) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// One lock cycle on task `i`'s own name: try, then release (both confirmed by the cluster).
fn lock_cycle(sessions: &Arc<Vec<lockd::etcd::EtcdSession>>) -> Cycle {
    let sessions = sessions.clone();
    Arc::new(move |i| {
        let sessions = sessions.clone();
        Box::pin(async move {
            let name = format!("bench-{i}");
            let g = sessions[i].get(&name).await.expect("uncontended try");
            g.release().await.expect("release");
        })
    })
}

/// One raw cycle on task `i`'s own key: put, then delete.
fn raw_cycle(mgr: &EtcdManager, prefix: &str) -> Cycle {
    let client = mgr.client().clone();
    let prefix = prefix.to_string();
    Arc::new(move |i| {
        let mut c = client.clone();
        let key = format!("{prefix}/raw/{i}");
        Box::pin(async move {
            c.put(key.clone(), "x", None).await.expect("put");
            c.delete(key, None).await.expect("delete");
        })
    })
}

/// One raw fenced cycle on task `i`'s own key: put if absent, then delete if still that put
/// (the least a recipe with fencing tokens can do: two conditional writes).
fn fenced_cycle(mgr: &EtcdManager, prefix: &str) -> Cycle {
    use etcd_client::{Compare, CompareOp, Txn, TxnOp};
    let client = mgr.client().clone();
    let prefix = prefix.to_string();
    Arc::new(move |i| {
        let mut c = client.clone();
        let key = format!("{prefix}/fenced/{i}");
        Box::pin(async move {
            let put = Txn::new()
                .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
                .and_then([TxnOp::put(key.clone(), "x", None)]);
            let r = c.txn(put).await.expect("put txn");
            let rev = r.header().expect("header").revision();
            let del = Txn::new()
                .when([Compare::create_revision(key.clone(), CompareOp::Equal, rev)])
                .and_then([TxnOp::delete(key, None)]);
            c.txn(del).await.expect("delete txn");
        })
    })
}

/// `tasks` tasks each running `cycle` for `slice`.
async fn run(tasks: usize, slice: Duration, cycle: Cycle) -> Run {
    let start = Instant::now();
    let mut handles = Vec::new();
    for i in 0..tasks {
        let cycle = cycle.clone();
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while start.elapsed() < slice {
                let t = Instant::now();
                cycle(i).await;
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for h in handles {
        latencies.extend(h.await.expect("task"));
    }
    Run {
        rate: latencies.len() as f64 / start.elapsed().as_secs_f64(),
        latencies,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
