//! The core's uncontended hot paths in a loop, for instruction counts under callgrind (repeatable
//! on noisy machines where timings are not):
//!
//! ```sh
//! cargo build --release --example hot_path
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/hot_path get 100000 1024
//! ```
//!
//! Modes: `get` (exclusive try + drop), `shared` (shared try + drop), `session` (a session's
//! exclusive try + drop), `contract` (the same through the backend contract, `lockd::backend`),
//! and `lockmap` (lockmap 0.2's `try_entry_by_ref` + drop, the peer the
//! core benchmark compares against). The third argument is how many names to cycle through
//! (default 1). Divide the instruction count by the iterations, after subtracting a run with 0
//! iterations (start-up).

use std::hint::black_box;

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "get".into());
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let names: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let names: Vec<String> = (0..names.max(1))
        .map(|i| format!("jobs/nightly-{i:06}"))
        .collect();
    let shards: usize = std::env::var("SHARDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mgr = if shards > 0 {
        lockd::LockManager::builder().shards(shards).build()
    } else {
        lockd::LockManager::new()
    };
    let session = mgr.session();
    let peer = lockmap::LockMap::<String, ()>::new();
    for i in 0..n {
        let name = names[i % names.len()].as_str();
        match mode.as_str() {
            "get" => drop(black_box(mgr.get(black_box(name)))),
            "shared" => drop(black_box(mgr.get_shared(black_box(name)))),
            "session" => drop(black_box(session.get(black_box(name)))),
            "lockmap" => drop(black_box(peer.try_entry_by_ref(black_box(name)))),
            "contract" => {
                // The session's get through the backend contract: a ready future, polled once.
                let fut = lockd::backend::LockSession::get(&session, black_box(name).as_bytes());
                let mut fut = std::pin::pin!(fut);
                let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                match std::future::Future::poll(fut.as_mut(), &mut cx) {
                    std::task::Poll::Ready(r) => drop(black_box(r)),
                    std::task::Poll::Pending => unreachable!("ready at once"),
                }
            }
            other => panic!("unknown mode {other:?}: get, shared, session, contract or lockmap"),
        }
    }
}
