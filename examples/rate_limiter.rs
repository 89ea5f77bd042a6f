//! A concurrency limiter built on shared-lock counts: at most `LIMIT` requests per API key run at
//! once. Each request joins the shared lock named after its key; the count it gets back says how
//! many are in flight, itself included, and a request over the limit backs off at once.
//!
//! Run: `cargo run --example rate_limiter`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lockd::LockManager;

const LIMIT: usize = 3;

/// Admits a request if fewer than `LIMIT` are running for `key`; the guard is the admission.
/// (A rejected request holds its share for an instant before leaving, which can make a racing
/// request see one too many and back off too: this limiter errs on the safe side.)
fn admit(mgr: &LockManager, key: &str) -> Option<lockd::SharedGuard> {
    let guard = mgr.get_shared(format!("ratelimit/{key}")).ok()?;
    (guard.count() <= LIMIT).then_some(guard) // over the limit: dropping the guard leaves
}

#[tokio::main]
async fn main() {
    let mgr = LockManager::new();
    let (admitted, rejected) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let peak = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (mgr, admitted, rejected, peak) = (
            mgr.clone(),
            admitted.clone(),
            rejected.clone(),
            peak.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let key = if i % 2 == 0 { "alice" } else { "bob" };
            match admit(&mgr, key) {
                Some(slot) => {
                    admitted.fetch_add(1, Ordering::SeqCst);
                    peak.fetch_max(slot.count(), Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await; // the request's work
                }
                None => {
                    rejected.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    println!(
        "admitted {}, rejected {}, peak concurrency per key {} (limit {LIMIT})",
        admitted.load(Ordering::SeqCst),
        rejected.load(Ordering::SeqCst),
        peak.load(Ordering::SeqCst)
    );
    assert!(peak.load(Ordering::SeqCst) <= LIMIT);
    assert!(mgr.is_empty());
}
