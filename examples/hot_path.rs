//! The core's uncontended hot paths in a loop, for instruction counts under callgrind (repeatable
//! on noisy machines where timings are not):
//!
//! ```sh
//! cargo build --release --example hot_path
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/hot_path get 100000
//! ```
//!
//! Modes: `get` (exclusive try + drop), `shared` (shared try + drop), `session` (a session's
//! exclusive try + drop). Divide the instruction count by the iterations, after subtracting a run
//! with 0 iterations (start-up).

use std::hint::black_box;

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "get".into());
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let mgr = lockd::LockManager::new();
    let session = mgr.session();
    for _ in 0..n {
        match mode.as_str() {
            "get" => drop(black_box(mgr.get(black_box("jobs/nightly")))),
            "shared" => drop(black_box(mgr.get_shared(black_box("jobs/nightly")))),
            "session" => drop(black_box(session.get(black_box("jobs/nightly")))),
            other => panic!("unknown mode {other:?}: get, shared or session"),
        }
    }
}
