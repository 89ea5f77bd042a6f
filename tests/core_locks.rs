//! Try forms, shared counting, sessions, re-acquire, release by name, limits, tokens, snapshot.

use lockd::{Contention, Error, LockManager, Mode};

#[test]
fn exclusive_try_lock_and_release_on_drop() {
    let mgr = LockManager::new();
    let g = mgr.get("x").unwrap();
    assert_eq!(g.name(), "x");
    assert!(mgr.inspect("x"));
    match mgr.get("x") {
        Err(Error::WouldBlock { name, mode, reason }) => {
            assert_eq!(name, "x");
            assert_eq!(mode, Mode::Exclusive);
            assert_eq!(reason, Contention::HeldExclusive);
        }
        other => panic!("expected WouldBlock, got {other:?}"),
    }
    let msg = mgr.get("x").unwrap_err().to_string();
    assert!(
        msg.contains("\"x\"") && msg.contains("exclusively"),
        "{msg}"
    );
    drop(g);
    assert!(!mgr.inspect("x"));
    assert!(mgr.is_empty());
    drop(mgr.get("x").unwrap());
}

#[test]
fn two_sessions_contending() {
    let mgr = LockManager::new();
    let (a, b) = (mgr.session(), mgr.session());
    assert_ne!(a.id(), b.id());
    let ga = a.get("job").unwrap();
    assert_eq!(ga.session_id(), Some(a.id()));
    assert!(matches!(b.get("job"), Err(Error::WouldBlock { .. })));
    assert!(matches!(b.get_shared("job"), Err(Error::WouldBlock { .. })));
    assert!(!b.release("job"), "only the holder can release");
    assert!(mgr.inspect("job"));
    drop(ga);
    let gb = b.get("job").unwrap();
    assert!(a.get("job").is_err());
    assert!(b.holds("job") && !a.holds("job"));
    drop(gb);
    assert!(mgr.is_empty());
}

#[test]
fn three_shared_holders_count_one_two_three() {
    let mgr = LockManager::new();
    let sessions: Vec<_> = (0..3).map(|_| mgr.session()).collect();
    let guards: Vec<_> = sessions
        .iter()
        .map(|s| s.get_shared("q").unwrap())
        .collect();
    let counts: Vec<_> = guards.iter().map(|g| g.count()).collect();
    assert_eq!(counts, [1, 2, 3]);
    assert_eq!(mgr.inspect_shared("q"), 3);
    assert!(!mgr.inspect("q"));
    // A shared lock blocks exclusive, and says by how many.
    match mgr.get("q") {
        Err(Error::WouldBlock { reason, .. }) => assert_eq!(reason, Contention::HeldShared(3)),
        other => panic!("{other:?}"),
    }
    drop(guards);
    assert_eq!(mgr.inspect_shared("q"), 0);
    assert!(mgr.is_empty());
}

#[test]
fn manager_guards_are_distinct_owners() {
    let mgr = LockManager::new();
    let a = mgr.get_shared("s").unwrap();
    let b = mgr.get_shared("s").unwrap();
    assert_eq!((a.count(), b.count()), (1, 2));
    assert_ne!(a.token(), b.token());
    assert_eq!(a.session_id(), None);
    let x = mgr.get("e").unwrap();
    assert!(
        mgr.get("e").is_err(),
        "session-less guards never rejoin each other"
    );
    drop((a, b, x));
}

#[test]
fn exclusive_and_shared_exclude_each_other() {
    let mgr = LockManager::new();
    let g = mgr.get("n").unwrap();
    assert!(matches!(
        mgr.get_shared("n"),
        Err(Error::WouldBlock {
            reason: Contention::HeldExclusive,
            ..
        })
    ));
    assert_eq!(mgr.inspect_shared("n"), 0);
    drop(g);
    let s = mgr.get_shared("n").unwrap();
    assert!(!mgr.inspect("n"));
    drop(s);
}

#[test]
fn session_reacquire_rejoins_with_same_token() {
    let mgr = LockManager::new();
    let s = mgr.session();
    let other = mgr.session();
    let g1 = s.get("r").unwrap();
    let g2 = s.get("r").unwrap();
    assert_eq!(g1.token(), g2.token());
    assert_eq!(mgr.stats().grants, 1, "a rejoin is not a new grant");
    drop(g1);
    assert!(
        mgr.inspect("r"),
        "the holding lives while a guard of it lives"
    );
    assert!(other.get("r").is_err());
    drop(g2);
    assert!(!mgr.inspect("r"));

    // Shared: the count does not change on a rejoin (A 1, A 1, B 2, A 2).
    let a1 = s.get_shared("sh").unwrap();
    let a2 = s.get_shared("sh").unwrap();
    let b = other.get_shared("sh").unwrap();
    let a3 = s.get_shared("sh").unwrap();
    assert_eq!(
        [a1.count(), a2.count(), b.count(), a3.count()],
        [1, 1, 2, 2]
    );
    assert_eq!(a1.token(), a3.token());
    drop((a1, a2, a3));
    assert_eq!(mgr.inspect_shared("sh"), 1);
    drop(b);
    assert!(mgr.is_empty());
}

#[test]
fn holding_other_mode_is_contention() {
    let mgr = LockManager::new();
    let s = mgr.session();
    let _sh = s.get_shared("m").unwrap();
    assert!(matches!(
        s.get("m"),
        Err(Error::WouldBlock {
            reason: Contention::HeldShared(1),
            ..
        })
    ));
}

#[test]
fn session_drop_while_guard_alive_releases_and_later_drop_is_noop() {
    let mgr = LockManager::new();
    let s = mgr.session();
    let g = s.get("a").unwrap();
    let sg = s.get_shared("b").unwrap();
    let before = mgr.stats();
    drop(s);
    assert!(!mgr.inspect("a"));
    assert_eq!(mgr.inspect_shared("b"), 0);
    let stats = mgr.stats();
    assert_eq!(stats.orphan_releases - before.orphan_releases, 2);
    // Someone else takes the lock; the stale guard's drop must not release it.
    let newcomer = mgr.get("a").unwrap();
    drop(g);
    drop(sg);
    assert!(mgr.inspect("a"));
    assert!(mgr.get("a").is_err());
    drop(newcomer);
    assert!(mgr.is_empty());
}

#[test]
fn closed_session_refuses_new_acquires() {
    let mgr = LockManager::new();
    let s = mgr.session();
    let _g = s.get("x").unwrap();
    s.close();
    assert!(s.is_closed());
    assert!(!mgr.inspect("x"));
    assert_eq!(
        s.get("y").unwrap_err(),
        Error::SessionClosed { session: s.id() }
    );
    assert_eq!(s.lock_count(), 0);
    s.close(); // idempotent
}

#[test]
fn keep_and_release_by_name() {
    let mgr = LockManager::new();
    let s = mgr.session();
    s.get("k").unwrap().keep().unwrap();
    s.get("k").unwrap().keep().unwrap(); // idempotent holding, two references
    assert!(mgr.inspect("k") && s.holds("k"));
    assert!(
        s.release("k"),
        "one release frees it, whatever the references"
    );
    assert!(!mgr.inspect("k"));
    assert!(!s.release("k"));

    s.get_shared("ks").unwrap().keep().unwrap();
    let live = s.get_shared("ks").unwrap();
    assert!(s.holds_shared("ks"));
    assert!(s.release_shared("ks"));
    assert_eq!(mgr.inspect_shared("ks"), 0);
    drop(live); // no-op

    // A session-less guard cannot be kept: nothing could release it.
    let g = mgr.get("anon").unwrap();
    let g = g.keep().unwrap_err();
    drop(g);
    assert!(mgr.is_empty());

    // Kept locks are released when the session ends.
    s.get("k2").unwrap().keep().unwrap();
    drop(s);
    assert!(mgr.is_empty());
}

#[test]
fn a_stale_guard_never_releases_a_later_holding_of_its_name() {
    let mgr = LockManager::new();
    let s = mgr.session();
    for mode in ["exclusive", "shared"] {
        let (stale, token) = match mode {
            "exclusive" => {
                let g = s.get("k").unwrap();
                let t = g.token();
                assert!(s.release("k"));
                (Box::new(g) as Box<dyn std::any::Any>, t)
            }
            _ => {
                let g = s.get_shared("k").unwrap();
                let t = g.token();
                assert!(s.release_shared("k"));
                (Box::new(g) as Box<dyn std::any::Any>, t)
            }
        };
        // Other names come and go (entries are reused), then the session takes "k" again.
        for i in 0..100 {
            drop(s.get(format!("other-{i}")).unwrap());
        }
        let again = s.get("k").unwrap();
        assert!(again.token() > token, "{mode}: a new holding");
        drop(stale); // its holding ended: a no-op
        assert!(
            mgr.inspect("k") && s.holds("k"),
            "{mode}: the later holding stays"
        );
        drop(again);
        assert!(!mgr.inspect("k") && !s.holds("k"));
    }
}

#[test]
fn lock_limit_per_session() {
    let mgr = LockManager::new();
    let s = mgr.session();
    s.set_lock_limit(Some(2));
    let _a = s.get("a").unwrap();
    let _b = s.get_shared("b").unwrap();
    assert_eq!(
        s.get("c").unwrap_err(),
        Error::LockLimit {
            name: Box::from(lockd::Name::new("c")),
            limit: 2
        }
    );
    assert!(s.get_shared("c").is_err());
    let _again = s.get("a").unwrap(); // re-gets of held locks still work
    let _again_b = s.get_shared("b").unwrap();
    s.set_lock_limit(None);
    let _c = s.get("c").unwrap();
    assert_eq!(s.lock_count(), 3);
}

#[test]
fn byte_string_names() {
    let mgr = LockManager::new();
    let g = mgr.get(b"a\x00\xff".as_slice()).unwrap();
    assert_eq!(g.name().as_bytes(), b"a\x00\xff");
    assert!(mgr.inspect(b"a\x00\xff"));
    assert!(!mgr.inspect(b"a\x00"));
    assert!(mgr.get(vec![b'a', 0, 0xff]).is_err());
    let empty = mgr.get("").unwrap();
    assert!(mgr.inspect(""));
    drop((g, empty));
}

#[test]
fn fencing_tokens_strictly_increase_and_start_from_the_clock() {
    let mgr = LockManager::new();
    let micros_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    let first = mgr.get("t").unwrap().token();
    assert!(
        first <= micros_now && first > micros_now - 60_000_000,
        "{first} vs {micros_now}"
    );
    assert!(first < 1 << 53);
    // Per name: every new holding of a name gets a larger token than the one before, whatever
    // other names are granted in between (tokens of different names are not ordered).
    let mut last = std::collections::HashMap::new();
    last.insert("t".to_string(), first);
    let mut highest = first;
    for i in 0..1000 {
        let name = if i % 3 == 0 {
            "t".to_string()
        } else {
            format!("t{}", i % 7)
        };
        let t = if i % 2 == 0 {
            mgr.get(&name).unwrap().token()
        } else {
            mgr.get_shared(&name).unwrap().token()
        };
        if let Some(before) = last.insert(name.clone(), t) {
            assert!(t > before, "{name}: {t} after {before}");
        }
        highest = highest.max(t);
    }
    assert!(mgr.next_token() > highest);
    // A manager started later (a "restart") issues larger tokens than this one did.
    let restarted = LockManager::new();
    assert!(restarted.get("t").unwrap().token() > first);
}

#[test]
fn builder_options() {
    let mgr = LockManager::builder()
        .shards(3)
        .fencing_token_start(7)
        .build();
    assert_eq!(mgr.shard_count(), 4);
    assert_eq!(mgr.get("a").unwrap().token(), 7);
    assert_eq!(mgr.get("a").unwrap().token(), 8);
    let default = LockManager::default();
    assert!(default.shard_count() >= 256 && default.shard_count().is_power_of_two());
    // Clones share one table.
    let clone = mgr.clone();
    let _g = mgr.get("shared-table").unwrap();
    assert!(clone.inspect("shared-table"));
}

#[test]
fn session_names_and_registry() {
    let mgr = LockManager::new();
    let s = mgr.session();
    assert_eq!(s.name(), None);
    s.set_name("worker 1");
    assert_eq!(s.name().as_deref().unwrap(), "worker 1");
    let t = mgr.session();
    assert_eq!(
        mgr.sessions().iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        [s.id(), t.id()]
    );
    s.clear_name();
    assert_eq!(s.name(), None);
    drop(s);
    assert_eq!(mgr.sessions().len(), 1);
}

#[test]
fn snapshot_lists_holders_modes_tokens_and_waiters() {
    let mgr = LockManager::new();
    let a = mgr.session();
    a.set_name("alpha");
    let b = mgr.session();
    let ex = a.get("e").unwrap();
    let s1 = a.get_shared("s").unwrap();
    let s2 = b.get_shared("s").unwrap();
    let anon = mgr.get("z").unwrap();
    let snap = mgr.snapshot();
    let names: Vec<_> = snap.locks.iter().map(|l| l.name.to_string()).collect();
    assert_eq!(names, ["e", "s", "z"]);
    let e = snap.get("e").unwrap();
    assert_eq!(e.mode, Mode::Exclusive);
    assert_eq!(e.holders.len(), 1);
    assert_eq!(e.holders[0].session, Some(a.id()));
    assert_eq!(e.holders[0].session_name.as_deref().unwrap(), "alpha");
    assert_eq!(e.holders[0].token, ex.token());
    assert!(e.holders[0].since <= snap.taken_at);
    let s = snap.get("s").unwrap();
    assert_eq!(s.mode, Mode::Shared);
    let order: Vec<_> = s.holders.iter().map(|h| h.session).collect();
    assert_eq!(order, [Some(a.id()), Some(b.id())], "acquisition order");
    assert_eq!(s.holders[1].token, s2.token());
    assert_eq!(snap.get("z").unwrap().holders[0].session, None);
    assert!(snap.get("nope").is_none());
    assert_eq!(snap.stats.held_locks, 3);
    assert_eq!(snap.stats.holdings, 4);
    drop((ex, s1, s2, anon));
    assert!(mgr.snapshot().locks.is_empty());
}

#[test]
fn counters() {
    let mgr = LockManager::new();
    let s = mgr.session();
    let g = mgr.get("a").unwrap();
    let _ = mgr.get("a");
    drop(g);
    let _kept = s.get("b").unwrap();
    let _shared = s.get_shared("c").unwrap();
    drop(s);
    let st = mgr.stats();
    assert_eq!(st.grants, 3);
    assert_eq!(st.releases, 3);
    assert_eq!(st.orphan_releases, 2);
    assert_eq!(
        (
            st.waits,
            st.timeouts,
            st.held_locks,
            st.holdings,
            st.waiting
        ),
        (0, 0, 0, 0, 0)
    );
}

#[test]
fn lock_info_for_one_name() {
    let mgr = LockManager::new();
    assert!(mgr.lock_info("x").is_none());
    let s = mgr.session();
    s.set_name("n");
    let g = s.get_shared("x").unwrap();
    let info = mgr.lock_info("x").unwrap();
    assert_eq!(info.mode, Mode::Shared);
    assert_eq!(info.holders[0].session, Some(s.id()));
    assert_eq!(info.holders[0].session_name.as_deref().unwrap(), "n");
    assert_eq!(info.holders[0].token, g.token());
}
