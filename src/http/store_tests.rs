//! Store-level tests on Tokio's paused clock: TTL expiry at 2 × TTL and renewals, lock-delay
//! arming and its 60 s cap, invalidation under both behaviours, and the index model.

use std::sync::Arc;
use std::time::Duration;

use super::kv::{GetKind, KvAnswer, PutOp};
use super::session_spec::{self, SessionSpec};
use super::sessions::SessionFilter;
use super::store::{KvEntry, Store};
use crate::LockManager;

fn store() -> (LockManager, Arc<Store>) {
    let mgr = LockManager::new();
    let store = Arc::new(Store::new(
        mgr.clone(),
        "lockd".into(),
        Duration::from_secs(900),
    ));
    (mgr, store)
}

fn spec(body: &str) -> SessionSpec {
    session_spec::parse(body.as_bytes(), "lockd", Duration::from_secs(10)).unwrap()
}

fn entry(store: &Store, key: &str) -> Option<KvEntry> {
    match store.kv_get(key, &GetKind::Single).1 {
        Some(KvAnswer::Entries(mut e)) => e.pop(),
        None => None,
        other => panic!("{other:?}"),
    }
}

fn acquire(store: &Store, key: &str, sid: &str) -> bool {
    store
        .kv_put(key, b"v".to_vec(), 0, PutOp::Acquire(sid.into()))
        .unwrap()
}

fn exists(store: &Store, sid: &str) -> bool {
    !store.sessions(SessionFilter::One(sid)).1.is_empty()
}

#[tokio::test(start_paused = true)]
async fn ttl_session_lives_until_twice_its_ttl_and_renew_resets_the_timer() {
    let (mgr, store) = store();
    let sid = store.create_session(spec(r#"{"TTL":"10s","LockDelay":"0s"}"#));
    assert!(acquire(&store, "job", &sid));
    let before = entry(&store, "job").unwrap().modify_index;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(exists(&store, &sid), "gone at TTL");
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert!(store.renew_session(&sid).is_some());
    tokio::time::sleep(Duration::from_secs(19)).await;
    assert!(exists(&store, &sid), "renew did not reset the timer");
    tokio::time::sleep(Duration::from_millis(1001)).await;
    assert!(!exists(&store, &sid), "alive after 2 x TTL");
    assert!(store.renew_session(&sid).is_none());
    // Release behaviour: the key stays, loses its session, and its ModifyIndex moves.
    let e = entry(&store, "job").unwrap();
    assert_eq!((e.session, e.lock_index), (None, 1));
    assert!(e.modify_index > before);
    assert!(!mgr.inspect("job"), "expiry left the core lock held");
}

#[tokio::test(start_paused = true)]
async fn delete_behaviour_deletes_keys_and_leaves_tombstones() {
    let (_mgr, store) = store();
    let sid = store.create_session(spec(r#"{"TTL":"10s","Behavior":"delete"}"#));
    assert!(acquire(&store, "p/a", &sid));
    store.kv_put("p/b", vec![], 0, PutOp::Plain).unwrap();
    let listing = store.kv_indexes("p/", &GetKind::Recurse).index;
    tokio::time::sleep(Duration::from_secs(21)).await;
    assert!(entry(&store, "p/a").is_none());
    assert!(entry(&store, "p/b").is_some());
    // Deleting the newest key never lowers the listing index.
    assert!(store.kv_indexes("p/", &GetKind::Recurse).index > listing);
}

#[tokio::test(start_paused = true)]
async fn destroy_arms_the_lock_delay_and_release_does_not() {
    let (mgr, store) = store();
    let a = store.create_session(spec(""));
    assert!(acquire(&store, "k", &a));
    store.destroy_session(&a);
    assert!(!mgr.inspect("k"));
    let b = store.create_session(spec(""));
    assert!(
        !acquire(&store, "k", &b),
        "acquire during the 15 s lock-delay"
    );
    // Other users of the core lock are not gated.
    drop(mgr.get("k").unwrap());
    tokio::time::sleep(Duration::from_millis(14_900)).await;
    assert!(!acquire(&store, "k", &b));
    tokio::time::sleep(Duration::from_millis(101)).await;
    assert!(acquire(&store, "k", &b));
    assert_eq!(entry(&store, "k").unwrap().lock_index, 2);

    // Released first, then destroyed: no delay.
    assert!(
        store
            .kv_put("k", vec![], 0, PutOp::Release(b.clone()))
            .unwrap()
    );
    store.destroy_session(&b);
    let c = store.create_session(spec(""));
    assert!(acquire(&store, "k", &c));
}

#[tokio::test(start_paused = true)]
async fn lock_delay_is_capped_at_sixty_seconds_and_zero_means_none() {
    let (_mgr, store) = store();
    let a = store.create_session(spec(r#"{"LockDelay":120}"#));
    let view = store.sessions(SessionFilter::One(&a)).1.remove(0);
    assert_eq!(view.lock_delay, 120_000_000_000, "stored as given");
    assert!(acquire(&store, "k", &a));
    store.destroy_session(&a);
    let b = store.create_session(spec(""));
    tokio::time::sleep(Duration::from_millis(59_999)).await;
    assert!(!acquire(&store, "k", &b));
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert!(acquire(&store, "k", &b));

    let c = store.create_session(spec(r#"{"LockDelay":"0s"}"#));
    assert!(acquire(&store, "z", &c));
    store.destroy_session(&c);
    assert!(
        acquire(&store, "z", &b),
        "0s lock-delay must allow an immediate takeover"
    );
}

#[tokio::test]
async fn writes_take_increasing_indexes_and_no_ops_take_none() {
    let (_mgr, store) = store();
    store.kv_put("a", b"1".to_vec(), 0, PutOp::Plain).unwrap();
    let first = entry(&store, "a").unwrap();
    assert_eq!(first.create_index, first.modify_index);
    store.kv_put("a", b"1".to_vec(), 0, PutOp::Plain).unwrap();
    assert_eq!(
        entry(&store, "a").unwrap(),
        first,
        "identical rewrite changed the entry"
    );
    store.kv_put("a", b"1".to_vec(), 7, PutOp::Plain).unwrap();
    let second = entry(&store, "a").unwrap();
    assert!(second.modify_index > first.modify_index);
    assert_eq!(second.create_index, first.create_index);
    let idx = store.kv_indexes("zz", &GetKind::Single);
    assert_eq!(
        idx.index, second.modify_index,
        "a missing key reports the kv table index"
    );
    assert!(store.kv_delete("missing", false, None));
    assert_eq!(store.kv_indexes("zz", &GetKind::Single), idx);
}

#[tokio::test(start_paused = true)]
async fn a_key_deleted_over_and_over_keeps_one_tombstone() {
    let (_mgr, store) = store();
    for i in 0..10_000u32 {
        store
            .kv_put("churn", i.to_string().into_bytes(), 0, PutOp::Plain)
            .unwrap();
        assert!(store.kv_delete("churn", false, None));
    }
    store.kv_put("p/x", vec![], 0, PutOp::Plain).unwrap();
    assert!(store.kv_delete("p/", true, None));
    {
        let st = store.lock();
        assert_eq!((st.tombstones.len(), st.tombstones.queued()), (2, 2));
    }
    // The newest delete's index is the one kept; a new value drops the tombstone.
    let listing = store.kv_indexes("churn", &GetKind::Recurse).index;
    store
        .kv_put("churn", b"back".to_vec(), 0, PutOp::Plain)
        .unwrap();
    assert!(store.kv_indexes("churn", &GetKind::Recurse).index > listing);
    assert_eq!(store.lock().tombstones.queued(), 1);
    // And the last goes at its TTL.
    tokio::time::sleep(Duration::from_secs(901)).await;
    store.lock().reap_tombstones();
    assert_eq!(store.lock().tombstones.len(), 0);
}
