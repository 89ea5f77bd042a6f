//! Waiting forms: FIFO hand-off, no writer starvation, cancellation, timeouts, blocking waits,
//! and sessions closing with waits pending. No sleeps are used to order events: futures are
//! polled by hand, and time-dependent tests run on Tokio's paused clock.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use lockd::{Error, LockManager, Mode};

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Polls once with a no-op waker.
fn poll_once<T>(f: &mut BoxFut<'_, T>) -> Poll<T> {
    f.as_mut().poll(&mut Context::from_waker(Waker::noop()))
}

fn ready<T>(f: &mut BoxFut<'_, T>) -> T {
    match poll_once(f) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("future should be ready"),
    }
}

#[test]
fn fifo_order_of_100_waiters() {
    let mgr = LockManager::new();
    let holder = mgr.get("x").unwrap();
    let mut waiters: Vec<BoxFut<'_, Result<lockd::ExclusiveGuard, Error>>> =
        (0..100).map(|_| Box::pin(mgr.lock("x")) as _).collect();
    for w in &mut waiters {
        assert!(poll_once(w).is_pending());
    }
    assert_eq!(mgr.stats().waiting, 100);
    drop(holder);
    let mut order = Vec::new();
    let mut done = [false; 100];
    while order.len() < 100 {
        let mut progressed = false;
        // Poll newest first: only the oldest queued waiter can have been handed the lock.
        for i in (0..100).rev() {
            if done[i] {
                continue;
            }
            if let Poll::Ready(g) = poll_once(&mut waiters[i]) {
                let g = g.unwrap();
                assert!(mgr.get("x").is_err(), "held while the guard lives");
                order.push(i);
                done[i] = true;
                progressed = true;
                drop(g);
            }
        }
        assert!(progressed, "a released lock must pass to the next waiter");
    }
    assert_eq!(order, (0..100).collect::<Vec<_>>());
    assert!(mgr.is_empty());
}

#[test]
fn exclusive_waiter_is_not_starved_by_shared_requests() {
    let mgr = LockManager::new();
    let reader = mgr.get_shared("db").unwrap();
    let mut writer: BoxFut<'_, _> = Box::pin(mgr.lock("db"));
    assert!(poll_once(&mut writer).is_pending());
    // New shared tries fail while the writer is queued, saying why...
    match mgr.get_shared("db") {
        Err(Error::WouldBlock { reason, .. }) => assert_eq!(reason, lockd::Contention::Queued(1)),
        other => panic!("{other:?}"),
    }
    // ...and shared waiters queue behind it.
    let mut readers: Vec<BoxFut<'_, Result<lockd::SharedGuard, Error>>> = (0..3)
        .map(|_| Box::pin(mgr.lock_shared("db")) as _)
        .collect();
    for r in &mut readers {
        assert!(poll_once(r).is_pending());
    }
    drop(reader);
    let w = ready(&mut writer).unwrap();
    for r in &mut readers {
        assert!(poll_once(r).is_pending(), "readers wait for the writer");
    }
    drop(w);
    // The three queued readers are granted together, counting 1, 2, 3.
    let counts: Vec<_> = readers
        .iter_mut()
        .map(|r| ready(r).unwrap().count())
        .collect();
    assert_eq!(counts, [1, 2, 3]);
}

#[test]
fn dropped_waiter_leaves_the_queue_and_unblocks_followers() {
    let mgr = LockManager::new();
    let shared = mgr.get_shared("q").unwrap();
    let mut writer: BoxFut<'_, _> = Box::pin(mgr.lock("q"));
    assert!(poll_once(&mut writer).is_pending());
    let s = mgr.session();
    let mut reader: BoxFut<'_, _> = Box::pin(s.lock_shared("q"));
    assert!(poll_once(&mut reader).is_pending());
    // The snapshot shows the queue, oldest first, with the waiting sessions.
    let snap = mgr.snapshot();
    let q = snap.get("q").unwrap();
    assert_eq!((q.exclusive_waiters, q.shared_waiters), (1, 1));
    let who: Vec<_> = q.waiters.iter().map(|w| (w.session, w.mode)).collect();
    assert_eq!(who, [(None, Mode::Exclusive), (Some(s.id()), Mode::Shared)]);
    drop(writer); // cancelled: the reader behind it may now join the shared holder
    assert_eq!(ready(&mut reader).unwrap().count(), 2);
    drop(shared);
    assert!(mgr.is_empty());
    assert_eq!(mgr.stats().cancelled_waits, 1);
}

#[test]
fn waiter_cancelled_while_the_holder_releases() {
    // Race a future's drop against the release that hands it the lock, on two threads.
    let mgr = LockManager::new();
    for _ in 0..2000 {
        let holder = mgr.get("r").unwrap();
        let mut waiter: BoxFut<'_, _> = Box::pin(mgr.lock("r"));
        assert!(poll_once(&mut waiter).is_pending());
        let barrier = Barrier::new(2);
        std::thread::scope(|s| {
            s.spawn(|| {
                barrier.wait();
                drop(holder);
            });
            barrier.wait();
            drop(waiter);
        });
        assert!(
            mgr.is_empty(),
            "neither the entry nor a grant may be stranded"
        );
        drop(mgr.get("r").expect("the lock is free again"));
    }
    let st = mgr.stats();
    assert_eq!(st.grants, st.releases);
}

#[tokio::test(start_paused = true)]
async fn timeout_expires_and_leaves_the_queue() {
    let mgr = LockManager::new();
    let _held = mgr.get("t").unwrap();
    let err = mgr
        .lock_timeout("t", Duration::from_millis(50))
        .await
        .unwrap_err();
    match err {
        Error::Timeout { name, mode, waited } => {
            assert_eq!(name, "t");
            assert_eq!(mode, Mode::Exclusive);
            assert!(waited >= Duration::from_millis(50));
        }
        other => panic!("{other:?}"),
    }
    let err = mgr
        .lock_shared_timeout("t", Duration::from_millis(5))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Timeout {
            mode: Mode::Shared,
            ..
        }
    ));
    let st = mgr.stats();
    assert_eq!((st.timeouts, st.waiting, st.held_locks), (2, 0, 1));
}

#[tokio::test(start_paused = true)]
async fn waiting_forms_get_the_lock_when_released() {
    let mgr = LockManager::new();
    let held = mgr.get("w").unwrap();
    let m2 = mgr.clone();
    let task = tokio::spawn(async move {
        let g = m2.lock_timeout("w", Duration::from_secs(10)).await.unwrap();
        g.token()
    });
    while mgr.stats().waiting == 0 {
        tokio::task::yield_now().await;
    }
    let old = held.token();
    drop(held);
    let token = task.await.unwrap();
    assert!(token > old);
    assert!(mgr.is_empty());
    // Free: the waiting forms return at once.
    drop(mgr.lock("w").await.unwrap());
    assert_eq!(mgr.lock_shared("w").await.unwrap().count(), 1);
}

#[tokio::test(start_paused = true)]
async fn timeout_firing_while_a_grant_arrives() {
    // The release and the deadline happen at the same instant of the paused clock: whichever
    // wins, the outcome is consistent and nothing is stranded.
    for delay in [9, 10, 11] {
        let mgr = LockManager::new();
        let held = mgr.get("t").unwrap();
        let m2 = mgr.clone();
        let task = tokio::spawn(async move {
            m2.lock_timeout("t", Duration::from_millis(10))
                .await
                .map(|g| g.token())
        });
        let releaser = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            drop(held);
        });
        let got = task.await.unwrap();
        releaser.await.unwrap();
        match got {
            Ok(_) => assert_eq!(mgr.stats().timeouts, 0),
            Err(Error::Timeout { .. }) => assert_eq!(mgr.stats().timeouts, 1),
            Err(e) => panic!("{e}"),
        }
        assert!(mgr.is_empty(), "delay {delay}: table must be empty");
        assert_eq!(mgr.stats().grants, mgr.stats().releases);
    }
}

#[test]
fn blocking_forms_and_timeouts_race_releases() {
    let mgr = LockManager::new();
    // Free: immediate.
    drop(mgr.blocking_lock("b").unwrap());
    drop(mgr.blocking_lock_shared("b").unwrap());
    drop(mgr.blocking_lock_timeout("b", Duration::ZERO).unwrap());
    // Held: zero timeout fails at once.
    let held = mgr.get("b").unwrap();
    assert!(matches!(
        mgr.blocking_lock_shared_timeout("b", Duration::ZERO),
        Err(Error::Timeout {
            mode: Mode::Shared,
            ..
        })
    ));
    // A blocked thread is handed the lock on release.
    std::thread::scope(|s| {
        let t = s.spawn(|| mgr.blocking_lock("b").map(|g| g.token()));
        while mgr.stats().waiting == 0 {
            std::thread::yield_now();
        }
        drop(held);
        assert!(t.join().unwrap().is_ok());
    });
    // Timeout vs grant race, many times: always consistent, never stranded.
    for _ in 0..200 {
        let held = mgr.get("c").unwrap();
        std::thread::scope(|s| {
            let t = s.spawn(|| {
                mgr.blocking_lock_timeout("c", Duration::from_micros(50))
                    .is_ok()
            });
            drop(held);
            t.join().unwrap();
        });
        assert!(mgr.is_empty());
    }
}

#[test]
fn async_and_blocking_waiters_share_one_fifo_queue() {
    let mgr = LockManager::new();
    let held = mgr.get("mix").unwrap();
    let order = Mutex::new(Vec::new());
    let mut first: BoxFut<'_, _> = Box::pin(mgr.lock("mix"));
    assert!(poll_once(&mut first).is_pending());
    std::thread::scope(|s| {
        let t = s.spawn(|| {
            let g = mgr.blocking_lock("mix").unwrap();
            order.lock().unwrap().push("blocking");
            drop(g);
        });
        while mgr.stats().waiting < 2 {
            std::thread::yield_now();
        }
        drop(held);
        let g = ready(&mut first).unwrap(); // the async waiter queued first gets it first
        order.lock().unwrap().push("async");
        drop(g);
        t.join().unwrap();
    });
    assert_eq!(*order.lock().unwrap(), ["async", "blocking"]);
}

#[test]
fn closing_a_session_cancels_its_pending_waits() {
    let mgr = LockManager::new();
    let holder = mgr.session();
    let _h = holder.get("p").unwrap();
    let waiter = Arc::new(mgr.session());
    let mut fut: BoxFut<'_, _> = Box::pin(waiter.lock("p"));
    assert!(poll_once(&mut fut).is_pending());
    assert_eq!(mgr.stats().waiting, 1);
    waiter.close();
    assert_eq!(mgr.stats().waiting, 0);
    assert_eq!(
        ready(&mut fut).unwrap_err(),
        Error::SessionClosed {
            session: waiter.id()
        }
    );

    // A blocked thread of a session is woken by close too.
    let w2 = mgr.session();
    std::thread::scope(|s| {
        let t = s.spawn(|| w2.blocking_lock("p"));
        while mgr.stats().waiting == 0 {
            std::thread::yield_now();
        }
        w2.close();
        assert!(matches!(
            t.join().unwrap(),
            Err(Error::SessionClosed { .. })
        ));
    });
    drop(holder);
    assert!(mgr.is_empty());
}

#[test]
fn session_closing_after_its_grant_arrived_gives_it_back() {
    // The lock is handed to the session's waiter, but the session closes before the waiter
    // polls: the grant must be released, not leaked.
    let mgr = LockManager::new();
    let held = mgr.get("g").unwrap();
    let s = mgr.session();
    let mut fut: BoxFut<'_, _> = Box::pin(s.lock("g"));
    assert!(poll_once(&mut fut).is_pending());
    drop(held); // handed over to s
    assert!(mgr.inspect("g"));
    s.close();
    assert!(!mgr.inspect("g"));
    assert!(matches!(ready(&mut fut), Err(Error::SessionClosed { .. })));
    assert!(mgr.is_empty());
}

#[test]
fn two_waits_of_one_session_join_one_holding() {
    let mgr = LockManager::new();
    let blocker = mgr.get("j").unwrap();
    let s = mgr.session();
    let mut a: BoxFut<'_, _> = Box::pin(s.lock_shared("j"));
    let mut b: BoxFut<'_, _> = Box::pin(s.lock_shared("j"));
    assert!(poll_once(&mut a).is_pending());
    assert!(poll_once(&mut b).is_pending());
    drop(blocker);
    let ga = ready(&mut a).unwrap();
    let gb = ready(&mut b).unwrap();
    assert_eq!(ga.token(), gb.token());
    assert_eq!((ga.count(), gb.count()), (1, 1));
    drop(ga);
    assert_eq!(
        mgr.inspect_shared("j"),
        1,
        "still held through the second guard"
    );
    assert!(s.holds_shared("j"));
    drop(gb);
    assert!(!s.holds_shared("j"));
    assert!(mgr.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_contending_keep_mutual_exclusion() {
    let mgr = LockManager::new();
    let inside = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..32 {
        let (mgr, inside) = (mgr.clone(), inside.clone());
        tasks.push(tokio::spawn(async move {
            let s = mgr.session();
            for _ in 0..200 {
                let g = if i % 3 == 0 {
                    s.lock_timeout("hot", Duration::from_secs(30))
                        .await
                        .unwrap()
                } else {
                    s.lock("hot").await.unwrap()
                };
                assert_eq!(inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst), 0);
                tokio::task::yield_now().await;
                inside.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                drop(g);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert!(mgr.is_empty());
    let st = mgr.stats();
    assert_eq!(st.grants, 32 * 200);
    assert_eq!(st.releases, st.grants);
}

#[test]
fn shared_with_a_holder_limit_is_a_semaphore() {
    let mgr = LockManager::new();
    let s: Vec<_> = (0..4).map(|_| mgr.session()).collect();
    let a = s[0].get_shared_max("sem", 2).unwrap();
    let b = s[1].get_shared_max("sem", 2).unwrap();
    assert_eq!((a.count(), b.count()), (1, 2));
    match s[2].get_shared_max("sem", 2) {
        Err(Error::WouldBlock { reason, .. }) => assert_eq!(reason, lockd::Contention::AtLimit(2)),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s[0].get_shared_max("sem", 1).unwrap().count(),
        2,
        "a holder always rejoins"
    );
    // A waiter for limit 2 queues; a later request with a higher limit is not held back by it.
    let mut low: BoxFut<'_, _> = Box::pin(s[2].lock_shared_max("sem", 2));
    assert!(poll_once(&mut low).is_pending());
    let c = s[3].get_shared_max("sem", 3).unwrap();
    assert_eq!(c.count(), 3);
    let anon = mgr.get_shared("sem").unwrap();
    assert_eq!(anon.count(), 4, "unlimited shared is not held back");
    drop(a);
    assert!(
        poll_once(&mut low).is_pending(),
        "still 3 holders: not below 2"
    );
    drop((c, anon));
    assert_eq!(
        ready(&mut low).unwrap().count(),
        2,
        "granted once below its limit"
    );
}

#[test]
fn limited_waiters_are_served_oldest_eligible_first() {
    let mgr = LockManager::new();
    let h1 = mgr.get_shared("e").unwrap();
    let h2 = mgr.get_shared("e").unwrap();
    let mut w_low: BoxFut<'_, Result<lockd::SharedGuard, Error>> =
        Box::pin(mgr.lock_shared_max("e", 1));
    let mut w_mid: BoxFut<'_, Result<lockd::SharedGuard, Error>> =
        Box::pin(mgr.lock_shared_max("e", 2));
    assert!(poll_once(&mut w_low).is_pending());
    assert!(poll_once(&mut w_mid).is_pending());
    drop(h1); // one holder left: the limit-2 waiter is eligible, the limit-1 one is not
    assert!(poll_once(&mut w_low).is_pending());
    let mid = ready(&mut w_mid).unwrap();
    assert_eq!(mid.count(), 2);
    drop((h2, mid));
    assert_eq!(ready(&mut w_low).unwrap().count(), 1);
}

#[test]
fn a_queued_exclusive_request_still_holds_back_limited_shared_ones() {
    let mgr = LockManager::new();
    let r = mgr.get_shared("x").unwrap();
    let mut w: BoxFut<'_, Result<lockd::ExclusiveGuard, Error>> = Box::pin(mgr.lock("x"));
    assert!(poll_once(&mut w).is_pending());
    assert!(matches!(
        mgr.get_shared_max("x", 10),
        Err(Error::WouldBlock {
            reason: lockd::Contention::Queued(1),
            ..
        })
    ));
    drop(r);
    assert!(ready(&mut w).is_ok());
}
