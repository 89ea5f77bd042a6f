//! A program that serves the lockd protocol from an etcd cluster and takes locks of the same
//! table itself, in process: where `LockManager` code and a `lockd` server share one in-memory
//! table, here an [`EtcdManager`] and `Server::with_etcd` share the cluster's, with every other
//! server and program that uses the same endpoints and prefix.
//!
//! ```sh
//! bash scripts/etcd-cluster.sh start     # prints the endpoints
//! cargo run --features etcd,tcp-server --example etcd_beside_server -- http://127.0.0.1:23791,http://127.0.0.1:23793,http://127.0.0.1:23795
//! ```

use std::time::Duration;

use lockd::etcd::{EtcdConfig, EtcdManager};
use lockd::server::{Config, Server};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoints = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:2379".into());
    let mgr = EtcdManager::connect(EtcdConfig {
        endpoints: endpoints.split(',').map(str::to_string).collect(),
        prefix: format!("lockd-example-{}", std::process::id()),
        label: "nightly-job (in process)".into(),
        ..EtcdConfig::default()
    })
    .await?;

    // The lockd protocol over the same table, on a port of its own.
    let server = Server::with_etcd(mgr.clone(), Config::default().port(0));
    let listener = server.bind().await?;
    let addr = listener.local_addr()?;
    let handle = server.handle();
    let serving =
        tokio::spawn(async move { server.serve(listener, std::future::pending::<()>()).await });

    // In-process code takes a lock through its own session...
    let session = mgr.session().await?;
    let guard = session.get("reports/nightly").await?;
    println!(
        "in process: holding reports/nightly, token {}",
        guard.token()
    );

    // ...and a lockd client (of this server or of any other over the cluster) sees it held.
    let (r, mut w) = tokio::net::TcpStream::connect(addr).await?.into_split();
    let mut lines = BufReader::new(r).lines();
    w.write_all(b"g reports/nightly\nd reports/nightly\n")
        .await?;
    println!(
        "lockd client: {}",
        lines.next_line().await?.unwrap_or_default()
    );
    println!(
        "lockd client: {}",
        lines.next_line().await?.unwrap_or_default()
    );

    // The client waits for it; the in-process release hands it over.
    w.write_all(b"gw 5000 reports/nightly\n").await?;
    while !mgr
        .snapshot()
        .await?
        .iter()
        .any(|l| l.requests.iter().any(|r| !r.granted))
    {
        tokio::time::sleep(Duration::from_millis(5)).await; // until its request is queued
    }
    guard.release().await?;
    println!(
        "lockd client: {}",
        lines.next_line().await?.unwrap_or_default()
    );

    drop((lines, w));
    session.close().await?;
    handle.destroy();
    serving.await??;
    Ok(())
}
