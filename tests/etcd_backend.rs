//! The etcd backend against a real 3-member cluster (`scripts/etcd-cluster.sh start`; the
//! endpoints come from `LOCKD_ETCD_ENDPOINTS`). Without that variable the tests skip, unless
//! `LOCKD_ETCD_REQUIRED=1` (as in `.ci/run`) makes them fail instead.
#![cfg(feature = "etcd")]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use lockd::Contention;
use lockd::etcd::{Error, EtcdConfig, EtcdManager};

mod etcd_common;
use etcd_common::{assert_empty, endpoints, until_requests};

/// A prefix of this test's own, so tests never see each other's keys.
fn prefix(test: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "lockd-test-{}-{test}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

async fn manager(endpoints: &[String], prefix: &str) -> EtcdManager {
    EtcdManager::connect(EtcdConfig {
        endpoints: endpoints.to_vec(),
        prefix: prefix.into(),
        lease_ttl: Duration::from_secs(2),
        request_timeout: Duration::from_secs(10),
        label: "test".into(),
    })
    .await
    .expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_managers_contend_and_tokens_increase_per_name() {
    let Some(ep) = endpoints() else { return };
    let p = prefix("contend");
    let (a, b) = (manager(&ep, &p).await, manager(&ep, &p).await);
    let (sa, sb) = (a.session().await.unwrap(), b.session().await.unwrap());

    let g = sa.get("job").await.unwrap();
    assert!(b.inspect("job").await.unwrap());
    match sb.get("job").await {
        Err(Error::WouldBlock { reason, .. }) => assert_eq!(reason, Contention::HeldExclusive),
        other => panic!("expected WouldBlock, got {other:?}"),
    }
    match sb.lock_timeout("job", Duration::from_millis(300)).await {
        Err(Error::Timeout { .. }) => {}
        other => panic!("expected Timeout, got {other:?}"),
    }
    // A waiter is granted when the holder releases (a watch, not polling).
    let first = g.token();
    let waiter = tokio::spawn(async move {
        let g = sb.lock("job").await.unwrap();
        (g.token(), sb, g)
    });
    until_requests(&a, "job", 2).await; // the waiter has enqueued
    assert!(!waiter.is_finished(), "granted while held");
    g.release().await.unwrap();
    let (second, sb, g2) = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("granted after the release")
        .unwrap();
    assert!(
        second > first,
        "tokens increase per name: {first} then {second}"
    );
    // Re-acquiring by the holding session rejoins: same token.
    let again = sb.get("job").await.unwrap();
    assert_eq!(again.token(), second);
    drop(again);
    assert!(a.inspect("job").await.unwrap(), "one reference is left");
    g2.release().await.unwrap();
    assert!(!a.inspect("job").await.unwrap());
    sa.close().await.unwrap();
    sb.close().await.unwrap();
    assert_empty(&a, &p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_counts_limits_and_no_overtaking() {
    let Some(ep) = endpoints() else { return };
    let p = prefix("shared");
    let mgr = manager(&ep, &p).await;
    let s: Vec<_> = futures_join(&mgr, 4).await;
    let g1 = s[0].get_shared("quota").await.unwrap();
    let g2 = s[1].get_shared("quota").await.unwrap();
    assert_eq!((g1.count(), g2.count()), (1, 2));
    assert_eq!(mgr.inspect_shared("quota").await.unwrap(), 2);
    match s[2].get_shared_max("quota", 2).await {
        Err(Error::WouldBlock { reason, .. }) => assert_eq!(reason, Contention::AtLimit(2)),
        other => panic!("expected AtLimit, got {other:?}"),
    }
    match s[2].get("quota").await {
        Err(Error::WouldBlock { reason, .. }) => assert_eq!(reason, Contention::HeldShared(2)),
        other => panic!("expected HeldShared, got {other:?}"),
    }
    // An exclusive request queues; a later shared one may not overtake it.
    let mgr2 = mgr.clone();
    let s2 = mgr2.session().await.unwrap();
    let exclusive = tokio::spawn(async move {
        let g = s2.lock("quota").await.unwrap();
        (s2, g)
    });
    until_requests(&mgr, "quota", 3).await; // the exclusive request has enqueued
    match s[3].get_shared("quota").await {
        Err(Error::WouldBlock { .. }) => {}
        other => panic!("a shared request overtook a queued exclusive one: {other:?}"),
    }
    let snapshot = mgr.snapshot().await.unwrap();
    assert_eq!(snapshot.len(), 1);
    let granted: Vec<bool> = snapshot[0].requests.iter().map(|r| r.granted).collect();
    assert_eq!(granted, [true, true, false]);
    drop(g1);
    g2.release().await.unwrap();
    let (s2, g) = tokio::time::timeout(Duration::from_secs(5), exclusive)
        .await
        .expect("the exclusive waiter is granted once the shared holders leave")
        .unwrap();
    assert!(mgr.inspect("quota").await.unwrap());
    g.release().await.unwrap();
    s2.close().await.unwrap();
    for session in &s {
        session.close().await.unwrap();
    }
    assert_empty(&mgr, &p).await;
}

async fn futures_join(mgr: &EtcdManager, n: usize) -> Vec<lockd::etcd::EtcdSession> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(mgr.session_on_shared_lease().await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_wait_leaves_no_key_and_a_late_release_spares_a_newer_holder() {
    let Some(ep) = endpoints() else { return };
    let p = prefix("cancel");
    let mgr = manager(&ep, &p).await;
    let (a, b) = (mgr.session().await.unwrap(), mgr.session().await.unwrap());
    let held = a.get("x").await.unwrap();
    // A wait dropped midway withdraws its request.
    let wait = b.lock("x");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), wait)
            .await
            .is_err()
    );
    // Its withdrawal runs in the background: the holder's key is left alone.
    until_requests(&mgr, "x", 1).await;
    // Release by name, then take it again: the old guard's late drop must not delete the new key.
    assert!(a.release("x").await.unwrap());
    let newer = a.get("x").await.unwrap();
    assert!(newer.token() > held.token());
    held.release().await.unwrap();
    assert!(mgr.inspect("x").await.unwrap(), "the newer holding stays");
    drop(newer);
    a.close().await.unwrap();
    b.close().await.unwrap();
    assert_empty(&mgr, &p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_whose_lease_is_gone_is_never_told_it_holds_the_lock() {
    let Some(ep) = endpoints() else { return };
    let p = prefix("jepsen");
    let mgr = manager(&ep, &p).await;
    let (a, b) = (mgr.session().await.unwrap(), mgr.session().await.unwrap());
    let held = a.get("x").await.unwrap();
    let lease = i64::from_str_radix(b.id().split('.').next().unwrap(), 16).unwrap();
    let b = std::sync::Arc::new(b);
    let waiter = {
        let b = b.clone();
        tokio::spawn(async move { b.lock("x").await.map(|g| g.token()) })
    };
    until_requests(&mgr, "x", 2).await; // the waiter has enqueued
    // The waiter's lease goes (as if it had expired while it waited); then the holder leaves.
    mgr.client().clone().lease_revoke(lease).await.unwrap();
    held.release().await.unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the wait ends")
        .unwrap();
    assert!(
        matches!(outcome, Err(Error::SessionLost { .. })),
        "a waiter without a lease was told {outcome:?}"
    );
    tokio::time::timeout(Duration::from_secs(10), b.lost())
        .await
        .expect("lost() completes");
    assert!(b.is_lost());
    assert!(!mgr.inspect("x").await.unwrap());
    a.close().await.unwrap();
    assert_empty(&mgr, &p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_key_deleted_by_someone_else_loses_the_session() {
    let Some(ep) = endpoints() else { return };
    let p = prefix("deleted");
    let mgr = manager(&ep, &p).await;
    let s = mgr.session_on_shared_lease().await.unwrap();
    let g = s.get("x").await.unwrap();
    assert!(!s.is_lost());
    // An operator deletes the holder's key (the lease is fine).
    mgr.client()
        .clone()
        .delete(
            format!("{p}/"),
            Some(etcd_client::DeleteOptions::new().with_prefix()),
        )
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), s.lost())
        .await
        .expect("lost() completes when a held key is deleted by someone else");
    assert!(s.is_lost());
    assert!(matches!(s.get("y").await, Err(Error::SessionLost { .. })));
    drop(g);
    // The session's own releases never count as someone else's deletion.
    let s2 = mgr.session_on_shared_lease().await.unwrap();
    for _ in 0..5 {
        s2.get("z").await.unwrap().release().await.unwrap();
    }
    drop(s2.get("z").await.unwrap()); // released in the background
    until_requests(&mgr, "z", 0).await;
    // The watcher handles deletions in order: once a later deletion by someone else has lost
    // its own session, it has seen every one of s2's own deletions before it.
    let s3 = mgr.session_on_shared_lease().await.unwrap();
    let w = s3.get("w").await.unwrap();
    mgr.client()
        .clone()
        .delete(
            keys_of(&p, "w"),
            Some(etcd_client::DeleteOptions::new().with_prefix()),
        )
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), s3.lost())
        .await
        .expect("the later deletion is seen");
    drop(w);
    assert!(!s2.is_lost(), "a session's own releases never lose it");
    s2.close().await.unwrap();
    assert_empty(&mgr, &p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_waiters_are_granted_in_arrival_order() {
    let Some(ep) = endpoints() else { return };
    let p = prefix("fifo");
    let mgr = manager(&ep, &p).await;
    let holder = mgr.session().await.unwrap();
    let mut held = Some(holder.get("q").await.unwrap());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for i in 0..5 {
        let s = mgr.session_on_shared_lease().await.unwrap();
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            let g = s.lock("q").await.unwrap();
            tx.send((i, g.token())).unwrap();
            g.release().await.unwrap();
            s.close().await.unwrap();
        }));
        // Each waiter's request is in the queue before the next one starts.
        until_requests(&mgr, "q", i + 2).await;
    }
    held.take().unwrap().release().await.unwrap();
    let mut order = Vec::new();
    for _ in 0..5 {
        order.push(
            tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    assert_eq!(
        order.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );
    assert!(order.windows(2).all(|w| w[0].1 < w[1].1), "{order:?}");
    for t in tasks {
        t.await.unwrap();
    }
    holder.close().await.unwrap();
    assert_empty(&mgr, &p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_ends_waits_and_a_dropped_guard_does_not_refuse_the_next_request() {
    let Some(ep) = endpoints() else { return };
    let p = prefix("close");
    let mgr = manager(&ep, &p).await;
    let holder = mgr.session().await.unwrap();
    let g = holder.get("x").await.unwrap();
    // A wait on a session that closes ends with SessionClosed (as in the core), its key gone.
    let waiter = std::sync::Arc::new(mgr.session_on_shared_lease().await.unwrap());
    let wait = {
        let w = waiter.clone();
        tokio::spawn(async move { w.lock("x").await.map(|g| g.token()) })
    };
    until_requests(&mgr, "x", 2).await; // the waiter has enqueued
    waiter.close().await.unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(5), wait)
        .await
        .expect("the wait ends when its session closes")
        .unwrap();
    assert!(
        matches!(outcome, Err(Error::SessionClosed { .. })),
        "{outcome:?}"
    );
    // Dropping a guard releases in the background; the same session's next request for the
    // name waits for that release instead of being refused.
    for _ in 0..5 {
        drop(g_take(&holder).await);
    }
    let first = g.token();
    drop(g);
    let again = holder
        .get("x")
        .await
        .expect("granted after its own background release");
    assert!(again.token() > first, "a new holding");
    drop(again);
    holder.close().await.unwrap();
    assert_empty(&mgr, &p).await;
}

/// Takes and drops "y" (a guard released in the background), then takes it again at once.
async fn g_take(s: &lockd::etcd::EtcdSession) -> lockd::etcd::EtcdExclusiveGuard {
    drop(s.get("y").await.unwrap());
    s.get("y")
        .await
        .expect("the next request waits for the background release")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sessions_second_wait_for_a_name_queues_behind_its_first_and_rejoins() {
    let Some(ep) = endpoints() else { return };
    let p = prefix("twice");
    let mgr = manager(&ep, &p).await;
    let holder = mgr.session().await.unwrap();
    let g = holder.get("x").await.unwrap();
    let s = std::sync::Arc::new(mgr.session().await.unwrap());
    let waits: Vec<_> = (0..2)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.lock_timeout("x", Duration::from_secs(10)).await })
        })
        .collect();
    until_requests(&mgr, "x", 2).await; // one of the two waits has enqueued
    // A try does not wait behind the session's own request.
    assert!(matches!(
        s.get("x").await,
        Err(Error::WouldBlock {
            reason: Contention::Queued(1),
            ..
        })
    ));
    g.release().await.unwrap();
    let mut tokens = Vec::new();
    let mut guards = Vec::new();
    for w in waits {
        let guard = w.await.unwrap().expect("both waits are granted");
        tokens.push(guard.token());
        guards.push(guard);
    }
    assert_eq!(
        tokens[0], tokens[1],
        "the second rejoined the first's holding"
    );
    drop(guards.pop());
    assert!(mgr.inspect("x").await.unwrap(), "one reference is left");
    guards.pop().unwrap().release().await.unwrap();
    assert!(!mgr.inspect("x").await.unwrap());
    s.close().await.unwrap();
    holder.close().await.unwrap();
    assert_empty(&mgr, &p).await;
}

/// The range of `name`'s request keys under `prefix` (as docs/etcd-backend.md §1 lays them out).
fn keys_of(prefix: &str, name: &str) -> String {
    format!("{prefix}/l/{name}/")
}
