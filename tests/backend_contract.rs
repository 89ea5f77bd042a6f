//! One scenario, written once against the backend contract (`lockd::backend`), run on the
//! in-memory core and (feature `etcd`, with `LOCKD_ETCD_ENDPOINTS` set) on an etcd cluster: both
//! backends must give the same answers.

use std::time::Duration;

use lockd::Contention;
#[cfg(feature = "etcd")]
mod etcd_common;

use lockd::backend::{ErrorKind, LockBackend, LockError, LockGuard, LockSession, SharedLockGuard};

fn kind<T>(r: Result<T, impl LockError>) -> ErrorKind {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.kind(),
    }
}

async fn scenario<B: LockBackend>(backend: &B) {
    let a = backend.session().await.unwrap();
    let b = backend.session().await.unwrap();

    // Exclusive excludes; a try says why; a timed wait times out.
    let g = a.get(b"job").await.unwrap();
    let first = g.token();
    assert!(backend.inspect(b"job").await.unwrap());
    assert_eq!(
        kind(b.get(b"job").await),
        ErrorKind::WouldBlock(Contention::HeldExclusive)
    );
    assert_eq!(
        kind(b.lock_timeout(b"job", Duration::from_millis(100)).await),
        ErrorKind::Timeout
    );
    // The holder's session rejoins with the same token.
    let again = a.get(b"job").await.unwrap();
    assert_eq!(again.token(), first);
    drop(again);
    drop(g);
    // Released (in the background for etcd): a wait gets it, with a greater token.
    let g = b
        .lock_timeout(b"job", Duration::from_secs(5))
        .await
        .unwrap();
    assert!(g.token() > first, "tokens increase per name");
    assert!(b.release(b"job").await.unwrap(), "release by name");
    assert!(!b.release(b"job").await.unwrap());
    drop(g); // its holding already ended: a no-op

    // Shared: counts, limits, and exclusive waits for every holder.
    let s1 = a.get_shared(b"quota").await.unwrap();
    let s2 = b.get_shared(b"quota").await.unwrap();
    assert_eq!((s1.count(), s2.count()), (1, 2));
    assert_eq!(backend.inspect_shared(b"quota").await.unwrap(), 2);
    let c = backend.session().await.unwrap();
    assert_eq!(
        kind(c.get_shared_max(b"quota", 2).await),
        ErrorKind::WouldBlock(Contention::AtLimit(2))
    );
    assert_eq!(
        kind(c.get(b"quota").await),
        ErrorKind::WouldBlock(Contention::HeldShared(2))
    );
    let s3 = c.get_shared_max(b"quota", 3).await.unwrap();
    assert_eq!(s3.count(), 3);
    assert!(!a.is_lost());

    // Closing a session ends everything it holds.
    a.close().await.unwrap();
    b.close().await.unwrap();
    for _ in 0..100 {
        if backend.inspect_shared(b"quota").await.unwrap() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(backend.inspect_shared(b"quota").await.unwrap(), 1);
    assert_eq!(
        kind(a.get(b"other").await),
        ErrorKind::SessionClosed,
        "a closed session refuses"
    );
    drop(s1);
    drop(s2);
    drop(s3);
    c.close().await.unwrap();
}

#[tokio::test]
async fn the_in_memory_core_keeps_the_contract() {
    let mgr = lockd::LockManager::new();
    scenario(&mgr).await;
    assert!(mgr.is_empty());
}

#[cfg(feature = "etcd")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_etcd_backend_keeps_the_contract() {
    let Some(endpoints) = etcd_common::endpoints() else {
        return;
    };
    let prefix = format!("lockd-test-{}-contract", std::process::id());
    let mgr = lockd::etcd::EtcdManager::connect(lockd::etcd::EtcdConfig {
        endpoints,
        prefix: prefix.clone(),
        lease_ttl: Duration::from_secs(2),
        ..Default::default()
    })
    .await
    .unwrap();
    scenario(&mgr).await;
    etcd_common::assert_empty(&mgr, &prefix).await;
}
