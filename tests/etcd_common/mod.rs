//! What the etcd tests share: where the cluster is, and waits on its state (never on time).
#![allow(dead_code)] // each test file uses its own subset

use std::time::Duration;

use lockd::etcd::EtcdManager;

/// The cluster's endpoints from `LOCKD_ETCD_ENDPOINTS`; `None` (skip) when unset, unless
/// `LOCKD_ETCD_REQUIRED=1` (as in `.ci/run`) makes that a failure.
pub fn endpoints() -> Option<Vec<String>> {
    match std::env::var("LOCKD_ETCD_ENDPOINTS") {
        Ok(e) if !e.is_empty() => Some(e.split(',').map(str::to_string).collect()),
        _ => {
            assert!(
                std::env::var("LOCKD_ETCD_REQUIRED").as_deref() != Ok("1"),
                "LOCKD_ETCD_REQUIRED=1 but LOCKD_ETCD_ENDPOINTS is not set"
            );
            eprintln!("skipped: LOCKD_ETCD_ENDPOINTS is not set (scripts/etcd-cluster.sh start)");
            None
        }
    }
}

/// How many requests wait (are not granted), over every name of the table.
pub async fn waiting(mgr: &EtcdManager) -> usize {
    mgr.snapshot()
        .await
        .unwrap()
        .iter()
        .flat_map(|l| &l.requests)
        .filter(|r| !r.granted)
        .count()
}

/// How many names are held (have a granted request).
pub async fn held_names(mgr: &EtcdManager) -> usize {
    mgr.snapshot()
        .await
        .unwrap()
        .iter()
        .filter(|l| l.requests.iter().any(|r| r.granted))
        .count()
}

/// How many request keys (holders and waiters) `name` has in the cluster.
pub async fn requests(mgr: &EtcdManager, name: &str) -> usize {
    mgr.snapshot()
        .await
        .unwrap()
        .iter()
        .find(|l| l.name.as_bytes() == name.as_bytes())
        .map_or(0, |l| l.requests.len())
}

/// Waits until `name` has exactly `n` request keys (a waiter has enqueued, a background
/// withdrawal is done); fails after 10 s.
pub async fn until_requests(mgr: &EtcdManager, name: &str, n: usize) {
    for _ in 0..500 {
        if requests(mgr, name).await == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{name} never had {n} requests: {:?}", mgr.snapshot().await);
}

/// Waits until nothing is left under `prefix` (every request withdrawn or released, also the
/// ones released in the background); fails after 10 s.
pub async fn assert_empty(mgr: &EtcdManager, prefix: &str) {
    let mut c = mgr.client().clone();
    for _ in 0..200 {
        let left = c
            .get(
                format!("{prefix}/"),
                Some(
                    etcd_client::GetOptions::new()
                        .with_prefix()
                        .with_count_only(),
                ),
            )
            .await
            .unwrap()
            .count();
        if left == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("keys left under {prefix}/");
}
