//! Core benchmarks. Every group carries its baseline, measured in the same run, and the run ends
//! with a table of ratios (ours ÷ baseline) read back from criterion's estimates:
//!
//! - `exclusive`: uncontended `get` + drop vs. the floor (`parking_lot::Mutex<HashMap<String,
//!   ()>>` insert + remove) and vs. the `lockable` crate's `LockPool::try_lock`.
//! - `shared`: uncontended `get_shared` + drop vs. the same floor.
//! - `scaling`: get + drop on distinct names, one thread vs. two threads (throughput ratio).
//! - memory: heap bytes per held lock beyond its name, counted by a wrapping global allocator.
//!
//! After criterion's groups, the same comparisons are repeated as interleaved pairs (baseline and
//! ours alternating in short batches, median ratio), which is much steadier on shared machines.
//!
//! Run: `cargo bench --bench core`. Smoke run (CI): `cargo bench --bench core -- --test`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::future::Future;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use lockd::LockManager;

/// Counts live heap bytes (requested sizes) while `COUNT` is on, so memory per lock can be
/// measured exactly; off for the timed benches (a shared counter would serialize threads).
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);
static COUNT: AtomicBool = AtomicBool::new(false);

fn count(delta: isize) {
    if COUNT.load(Ordering::Relaxed) {
        LIVE.fetch_add(delta, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches no memory
// it hands out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: the caller's contract is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: `ptr` came from `System` (every allocation goes there) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        // SAFETY: as for `dealloc`; the caller's contract is `System.realloc`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const NAME: &str = "jobs/nightly-0042";

fn floor(c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let map = parking_lot::Mutex::new(HashMap::<String, ()>::new());
    c.bench_function("floor_mutex_hashmap", |b| {
        b.iter(|| {
            map.lock().insert(black_box(NAME).to_string(), ());
            map.lock().remove(black_box(NAME));
        })
    });
}

fn exclusive(c: &mut Criterion) {
    let mut g = c.benchmark_group("exclusive");
    g.throughput(Throughput::Elements(1));
    floor(&mut g);
    let pool = lockable::LockPool::<String>::new();
    g.bench_function("lockable_lockpool", |b| {
        b.iter(|| drop(black_box(pool.try_lock(black_box(NAME).to_string()))))
    });
    let mgr = LockManager::new();
    g.bench_function("lockd_get", |b| {
        b.iter(|| drop(black_box(mgr.get(black_box(NAME)))))
    });
    g.finish();
}

fn shared(c: &mut Criterion) {
    let mut g = c.benchmark_group("shared");
    g.throughput(Throughput::Elements(1));
    floor(&mut g);
    let mgr = LockManager::new();
    g.bench_function("lockd_get_shared", |b| {
        b.iter(|| drop(black_box(mgr.get_shared(black_box(NAME)))))
    });
    let session = mgr.session();
    g.bench_function("lockd_session_get", |b| {
        b.iter(|| drop(black_box(session.get(black_box(NAME)))))
    });
    g.finish();
}

/// Runs `iters` get + drop per thread, on names private to each thread; returns wall time.
fn run_threads(mgr: &LockManager, threads: usize, iters: u64) -> Duration {
    time_threads(
        threads,
        iters,
        || (),
        |(), name| drop(black_box(mgr.get(name))),
    )
}

/// The same on the floor, with a map of its own per thread: nothing is shared, so this is the
/// scaling the machine itself allows.
fn floor_threads(threads: usize, iters: u64) -> Duration {
    time_threads(
        threads,
        iters,
        || parking_lot::Mutex::new(HashMap::<String, ()>::new()),
        |map, name| {
            map.lock().insert(black_box(name).to_string(), ());
            map.lock().remove(black_box(name));
        },
    )
}

/// Starts `threads` threads together, each with its own `state()` and names, and times `iters`
/// calls of `op` per thread (cycling through its names) from the first start to the last end.
fn time_threads<S>(
    threads: usize,
    iters: u64,
    state: impl Fn() -> S + Sync,
    op: impl Fn(&S, &str) + Sync,
) -> Duration {
    let names: Vec<Vec<String>> = (0..threads)
        .map(|t| {
            (0..names_per_thread())
                .map(|i| format!("thread{t}/lock{i}"))
                .collect()
        })
        .collect();
    let barrier = std::sync::Barrier::new(threads);
    let start = std::sync::Mutex::new(None::<Instant>);
    std::thread::scope(|s| {
        for names in &names {
            let (barrier, start, state, op) = (&barrier, &start, &state, &op);
            s.spawn(move || {
                let state = state();
                barrier.wait();
                start.lock().unwrap().get_or_insert_with(Instant::now);
                for i in 0..iters {
                    op(&state, &names[i as usize % names.len()]);
                }
            });
        }
    });
    start.into_inner().unwrap().expect("started").elapsed()
}

fn scaling(c: &mut Criterion) {
    let mut g = c.benchmark_group("scaling");
    let mgr = manager_from_env();
    g.throughput(Throughput::Elements(1));
    g.bench_function("one_thread", |b| b.iter_custom(|n| run_threads(&mgr, 1, n)));
    // Two threads each do n operations in the reported time: throughput is 2n / t.
    g.bench_function("two_threads", |b| {
        b.iter_custom(|n| run_threads(&mgr, 2, n))
    });
    g.finish();
}

/// Heap bytes per held lock, beyond the name's own bytes. Guards live on the stack/in a Vec
/// sized in advance (their size is reported separately); what is counted is the table's growth.
fn memory_per_lock(n: usize) {
    let mgr = LockManager::builder().shards(16).build();
    let names: Vec<String> = (0..n).map(|i| format!("memory/{i:010}")).collect();
    let name_len = names[0].len();
    let mut guards = Vec::with_capacity(n);
    COUNT.store(true, Ordering::SeqCst);
    let before = LIVE.load(Ordering::SeqCst);
    for name in &names {
        guards.push(mgr.get(name).unwrap());
    }
    let after = LIVE.load(Ordering::SeqCst);
    COUNT.store(false, Ordering::SeqCst);
    let per_lock = (after - before) as f64 / n as f64;
    println!(
        "memory: {n} held locks with {name_len}-byte names: {per_lock:.1} heap bytes per lock \
         = {:.1} bytes + the name (table slot, holder, shared name allocation incl. its 16-byte \
         header; hashbrown load factor included); guard size on the caller's side: {} bytes",
        per_lock - name_len as f64,
        std::mem::size_of::<lockd::ExclusiveGuard>()
    );
    drop(guards);
    assert!(mgr.is_empty());
}

/// Reads criterion's mean estimate (ns) for `group/bench` from this run's output.
fn mean_ns(group: &str, bench: &str) -> Option<f64> {
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let path = format!("{dir}/criterion/{group}/{bench}/new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let mean = &text[text.find("\"mean\"")?..];
    let at = mean.find("\"point_estimate\":")? + "\"point_estimate\":".len();
    let rest = &mean[at..];
    let end = rest.find([',', '}'])?;
    rest[..end].trim().parse().ok()
}

/// The peers and baselines of the paired comparisons, over one set of names.
struct Sides {
    names: Vec<String>,
    floor: parking_lot::Mutex<HashMap<String, ()>>,
    lockmap: lockmap::LockMap<String, ()>,
    lockable: lockable::LockPool<String>,
    keyed: keyed_lock::sync::KeyedLock<String>,
    mgr: LockManager,
    session: lockd::Session,
}

/// One measured operation, run on the `i`-th name.
type Op = fn(&Sides, &str);

const OPS: &[(&str, Op)] = &[
    ("floor", |s, n| {
        s.floor.lock().insert(black_box(n).to_string(), ());
        s.floor.lock().remove(black_box(n));
    }),
    ("lockmap", |s, n| {
        drop(black_box(s.lockmap.try_entry_by_ref(black_box(n))))
    }),
    ("lockable", |s, n| {
        drop(black_box(s.lockable.try_lock(black_box(n).to_string())))
    }),
    ("keyed-lock", |s, n| {
        drop(black_box(s.keyed.lock(black_box(n).to_string())))
    }),
    ("get", |s, n| drop(black_box(s.mgr.get(black_box(n))))),
    ("get_shared", |s, n| {
        drop(black_box(s.mgr.get_shared(black_box(n))))
    }),
    ("session get", |s, n| {
        drop(black_box(s.session.get(black_box(n))))
    }),
    ("wait granted", |s, n| {
        drop(black_box(s.mgr.blocking_lock(black_box(n))))
    }),
    ("session get via the contract", |s, n| {
        // The backend contract's `get` is a ready future around the same call: polled once.
        let fut = lockd::backend::LockSession::get(&s.session, black_box(n).as_bytes());
        let mut fut = std::pin::pin!(fut);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(r) => drop(black_box(r)),
            std::task::Poll::Pending => unreachable!("the core's try is ready at once"),
        }
    }),
];

fn op(name: &str) -> Op {
    OPS.iter().find(|(n, _)| *n == name).expect("known op").1
}

/// Times `n` runs of `op`, cycling through the names in order from `*at`.
fn batch_on(sides: &Sides, n: u64, at: &mut usize, op: Op) -> Duration {
    let names = &sides.names;
    let start = Instant::now();
    for _ in 0..n {
        op(sides, &names[*at]);
        *at += 1;
        if *at == names.len() {
            *at = 0;
        }
    }
    start.elapsed()
}

fn paired_report(smoke: bool) {
    let (n, rounds) = if smoke { (200, 3) } else { (20_000, 61) };
    println!(
        "\npaired ratios (median of {rounds} interleaved rounds of {n} operations per side, names \
         cycled in order; time ratios, lower is faster)"
    );
    const ROWS: &[(&str, &str, &str, &str)] = &[
        ("lockd get+drop / lockmap", "get", "lockmap", "<= 1.0x"),
        ("lockd get+drop / floor", "get", "floor", "<= 1.0x"),
        (
            "lockd get_shared+drop / lockmap",
            "get_shared",
            "lockmap",
            "<= 1.0x",
        ),
        (
            "lockd get_shared+drop / floor",
            "get_shared",
            "floor",
            "<= 1.0x",
        ),
        (
            "session get+drop / lockmap",
            "session get",
            "lockmap",
            "<= 1.3x",
        ),
        (
            "session get, backend contract / direct",
            "session get via the contract",
            "session get",
            "<= 1.0x (no cost)",
        ),
        (
            "wait granted at once / lockmap",
            "wait granted",
            "lockmap",
            "informational",
        ),
        (
            "lockable try_lock / lockmap",
            "lockable",
            "lockmap",
            "informational",
        ),
        (
            "keyed-lock lock / lockmap",
            "keyed-lock",
            "lockmap",
            "informational",
        ),
    ];
    let counts = [1usize, 1_024, 100_000];
    let mut ratios = vec![[0.0f64; 3]; ROWS.len()];
    let mut ns = vec![[0.0f64; 3]; OPS.len()];
    for (c, &names) in counts.iter().enumerate() {
        let mgr = manager_from_env();
        let sides = Sides {
            names: (0..names).map(|i| format!("jobs/nightly-{i:06}")).collect(),
            floor: parking_lot::Mutex::new(HashMap::new()),
            lockmap: lockmap::LockMap::new(),
            lockable: lockable::LockPool::new(),
            keyed: keyed_lock::sync::KeyedLock::new(),
            session: mgr.session(),
            mgr,
        };
        let mut at = vec![0usize; OPS.len()];
        let mut per_op: Vec<Vec<f64>> = vec![Vec::new(); OPS.len()];
        for (r, &(_, a, b, _)) in ROWS.iter().enumerate() {
            let (ia, ib) = (
                OPS.iter().position(|o| o.0 == a).unwrap(),
                OPS.iter().position(|o| o.0 == b).unwrap(),
            );
            let mut round = Vec::with_capacity(rounds);
            for i in 0..rounds {
                let (mut at_a, mut at_b) = (at[ia], at[ib]);
                // Alternate which side goes first, so neither always gets the warmer cache.
                let (ta, tb) = if i % 2 == 0 {
                    let ta = batch_on(&sides, n, &mut at_a, op(a));
                    (ta, batch_on(&sides, n, &mut at_b, op(b)))
                } else {
                    let tb = batch_on(&sides, n, &mut at_b, op(b));
                    (batch_on(&sides, n, &mut at_a, op(a)), tb)
                };
                (at[ia], at[ib]) = (at_a, at_b);
                per_op[ia].push(ta.as_secs_f64() * 1e9 / n as f64);
                per_op[ib].push(tb.as_secs_f64() * 1e9 / n as f64);
                round.push(ta.as_secs_f64() / tb.as_secs_f64());
            }
            ratios[r][c] = median(round);
        }
        for (i, v) in per_op.into_iter().enumerate() {
            ns[i][c] = if v.is_empty() { f64::NAN } else { median(v) };
        }
        assert!(sides.mgr.is_empty(), "every lock was released");
    }
    println!(
        "{:<36} {:>8} {:>12} {:>14}   target",
        "", "1 name", "1,024 names", "100,000 names"
    );
    for (r, &(label, _, _, target)) in ROWS.iter().enumerate() {
        let [a, b, c] = ratios[r];
        println!("{label:<36} {a:>7.2}x {b:>11.2}x {c:>13.2}x   {target}");
    }
    println!("ns per operation (median over its rounds; absolute times on a shared VM are noise):");
    for (i, (label, _)) in OPS.iter().enumerate() {
        let [a, b, c] = ns[i];
        println!("  {label:<34} {a:>8.1} {b:>12.1} {c:>14.1}");
    }
    scaling_report(
        if smoke { 3 } else { 31 },
        if smoke { 2_000 } else { 200_000 },
    );
}

/// Two threads on distinct names against one thread, next to the machine's own ceiling (the
/// floor with a map per thread: nothing shared) measured in the same rounds.
fn scaling_report(rounds: usize, iters: u64) {
    let mgr = manager_from_env();
    let mut ours = Vec::new();
    let mut ceiling = Vec::new();
    for _ in 0..rounds {
        let s = 2.0 * run_threads(&mgr, 1, iters).as_secs_f64()
            / run_threads(&mgr, 2, iters).as_secs_f64();
        let c = 2.0 * floor_threads(1, iters).as_secs_f64() / floor_threads(2, iters).as_secs_f64();
        ours.push(s);
        ceiling.push(c);
    }
    let per_round: Vec<f64> = ours.iter().zip(&ceiling).map(|(s, c)| s / c).collect();
    println!(
        "scaling, {rounds} rounds: two threads' throughput / one thread's {:.2}x (ceiling {:.2}x); \
         ours / the ceiling per round: median {:.2} (target >= 0.9), rounds {:?}",
        median(ours),
        median(ceiling),
        median(per_round.clone()),
        per_round
            .iter()
            .map(|r| (r * 100.0).round() / 100.0)
            .collect::<Vec<_>>()
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One line of a ratio table.
fn show(label: &str, ratio: Option<f64>, target: &str) {
    match ratio {
        Some(r) => println!("{label:<58} {r:>6.2}x   (target {target})"),
        None => println!("{label:<58}    n/a"),
    }
}

fn report() {
    let ratio = |g: &str, a: &str, b: &str| Some(mean_ns(g, a)? / mean_ns(g, b)?);
    println!("\nratios from criterion's means (time ratios: lower is faster)");
    show(
        "exclusive get+drop / floor",
        ratio("exclusive", "lockd_get", "floor_mutex_hashmap"),
        "<= 1.5x",
    );
    show(
        "lockable try_lock / exclusive get+drop (speed-up)",
        ratio("exclusive", "lockable_lockpool", "lockd_get"),
        ">= 2x",
    );
    show(
        "shared get+drop / floor",
        ratio("shared", "lockd_get_shared", "floor_mutex_hashmap"),
        "<= 1.5x",
    );
    show(
        "session get+drop / floor",
        ratio("shared", "lockd_session_get", "floor_mutex_hashmap"),
        "informational",
    );
    show(
        "two threads' throughput / one thread's",
        ratio("scaling", "one_thread", "two_threads").map(|r| 2.0 * r),
        ">= 1.7x",
    );
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--test");
    if std::env::var_os("PAIRED_ONLY").is_some() {
        paired_report(smoke);
        return;
    }
    memory_per_lock(if smoke { 1_000 } else { 1_000_000 });
    let mut c = Criterion::default().configure_from_args();
    exclusive(&mut c);
    shared(&mut c);
    scaling(&mut c);
    c.final_summary();
    if !smoke {
        report();
    }
    paired_report(smoke);
}

/// The default manager, or one with env `SHARDS` shards.
fn manager_from_env() -> LockManager {
    match std::env::var("SHARDS").ok().and_then(|v| v.parse().ok()) {
        Some(n) => LockManager::builder().shards(n).build(),
        None => LockManager::new(),
    }
}

/// Names each thread cycles through in the scaling group (env `NAMES_PER_THREAD`, default 64);
/// env `SHARDS` overrides the manager's shard count there.
fn names_per_thread() -> usize {
    std::env::var("NAMES_PER_THREAD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}
