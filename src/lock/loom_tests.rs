//! loom models of the core's state machine. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --lib loom`.
//!
//! Each model runs 2–3 loom threads over one manager and asserts an invariant of
//! the README's Design section: mutual exclusion, counting, no stranded entry or grant.

use std::future::Future;
use std::task::{Context, Poll, Waker};

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use crate::LockManager;

fn manager() -> LockManager {
    LockManager::builder()
        .shards(2)
        .fencing_token_start(1)
        .build()
}

fn poll_once<F: Future>(f: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn loom_try_vs_try() {
    loom::model(|| {
        let mgr = manager();
        let inside = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (mgr, inside) = (mgr.clone(), inside.clone());
                thread::spawn(move || {
                    if let Ok(g) = mgr.get("x") {
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                        inside.fetch_sub(1, Ordering::SeqCst);
                        drop(g);
                        true
                    } else {
                        false
                    }
                })
            })
            .collect();
        let wins: usize = handles
            .into_iter()
            .map(|h| h.join().unwrap() as usize)
            .sum();
        assert!(wins >= 1, "a free lock is never refused to both");
        assert!(mgr.is_empty());
    });
}

#[test]
fn loom_shared_counting() {
    loom::model(|| {
        let mgr = manager();
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let mgr = mgr.clone();
                thread::spawn(move || {
                    let g = mgr.get_shared("s").unwrap();
                    (g.count(), g)
                })
            })
            .collect();
        let mut results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let mut counts: Vec<_> = results.iter().map(|(c, _)| *c).collect();
        counts.sort();
        assert_eq!(counts, [1, 2]);
        assert_eq!(mgr.inspect_shared("s"), 2);
        results.clear();
        assert!(mgr.is_empty());
    });
}

#[test]
fn loom_release_vs_waiter_cancel() {
    loom::model(|| {
        let mgr = manager();
        let holder = mgr.get("r").unwrap();
        let waiter = {
            let mgr = mgr.clone();
            let mut fut = Box::pin(async move { mgr.lock("r").await.map(drop) });
            assert!(poll_once(fut.as_mut()).is_pending());
            fut
        };
        let t1 = thread::spawn(move || drop(holder));
        let t2 = thread::spawn(move || drop(waiter));
        t1.join().unwrap();
        t2.join().unwrap();
        assert!(mgr.is_empty(), "no stranded entry or grant");
        assert!(mgr.get("r").is_ok());
    });
}

#[test]
fn loom_release_hands_off_to_async_waiter() {
    loom::model(|| {
        let mgr = manager();
        let holder = mgr.get("h").unwrap();
        let m2 = mgr.clone();
        let t = thread::spawn(move || {
            loom::future::block_on(async {
                let g = m2.lock("h").await.unwrap();
                g.token()
            })
        });
        let first = holder.token();
        drop(holder);
        let second = t.join().unwrap();
        assert!(second > first);
        assert!(mgr.is_empty());
    });
}

#[test]
fn loom_session_drop_vs_guard_drop() {
    loom::model(|| {
        let mgr = manager();
        let session = mgr.session();
        let guard = session.get("g").unwrap();
        let shared = session.get_shared("g2").unwrap();
        let t1 = thread::spawn(move || drop(session));
        let t2 = thread::spawn(move || drop((guard, shared)));
        t1.join().unwrap();
        t2.join().unwrap();
        assert!(mgr.is_empty());
        let st = mgr.stats();
        assert_eq!(
            (st.grants, st.releases),
            (2, 2),
            "each holding released exactly once"
        );
    });
}

#[test]
fn loom_session_close_vs_granted_waiter() {
    loom::model(|| {
        let mgr = manager();
        let holder = mgr.get("w").unwrap();
        let session = Arc::new(mgr.session());
        // Queue the session's wait first, then race: release (hands the lock to the waiter),
        // session close, and the waiting task finishing.
        let mut fut = {
            let session = session.clone();
            Box::pin(async move { session.lock("w").await.map(drop).is_ok() })
        };
        assert!(poll_once(fut.as_mut()).is_pending());
        let waiter = thread::spawn(move || loom::future::block_on(fut));
        let closer = thread::spawn(move || session.close());
        drop(holder);
        closer.join().unwrap();
        let _granted_before_close = waiter.join().unwrap();
        assert!(mgr.is_empty(), "a grant to a closing session is given back");
    });
}

#[test]
fn loom_entry_removal_vs_new_acquire() {
    loom::model(|| {
        let mgr = manager();
        let guard = mgr.get("e").unwrap();
        let m2 = mgr.clone();
        let t = thread::spawn(move || m2.get("e").map(|g| g.token()).ok());
        drop(guard);
        let got = t.join().unwrap();
        if let Some(token) = got {
            assert!(token > 1);
        }
        assert!(
            mgr.is_empty(),
            "removal and re-insert never leave a dead entry"
        );
        assert!(mgr.get("e").is_ok());
    });
}

#[test]
fn loom_limited_shared_waiter_vs_release() {
    loom::model(|| {
        let mgr = manager();
        let h1 = mgr.get_shared("l").unwrap();
        let h2 = mgr.get_shared("l").unwrap();
        // Waits until fewer than 2 hold it; queued now (2 holders).
        let mut waiter = {
            let mgr = mgr.clone();
            Box::pin(async move { mgr.lock_shared_max("l", 2).await.map(|g| g.count()) })
        };
        assert!(poll_once(waiter.as_mut()).is_pending());
        let t1 = thread::spawn(move || drop(h1));
        let t2 = thread::spawn(move || {
            // Either it was granted as the second holder, or it is still pending and then
            // cancelled by the drop below.
            if let Poll::Ready(r) = poll_once(waiter.as_mut()) {
                assert_eq!(r.unwrap(), 2);
            }
        });
        t1.join().unwrap();
        t2.join().unwrap();
        assert_eq!(mgr.inspect_shared("l"), 1, "only h2 is left");
        drop(h2);
        assert!(mgr.is_empty(), "no stranded entry, grant or waiter");
    });
}

#[test]
fn loom_manager_drop_vs_guard_drop() {
    // Guards of no session may outlive every manager handle: the last handle's drop orphans
    // the shards they hold locks in, and whichever of the two goes last frees each shard.
    loom::model(|| {
        let mgr = manager();
        let a = mgr.get("a").unwrap();
        let b = mgr.get_shared("b").unwrap();
        let t = thread::spawn(move || drop(a));
        drop(mgr);
        drop(b);
        t.join().unwrap();
    });
}
