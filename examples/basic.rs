//! Basic use: exclusive locks, counted shared locks, sessions, fencing tokens and a snapshot.
//!
//! Run: `cargo run --example basic`

use lockd::{Error, LockManager};

fn main() -> Result<(), Error> {
    let mgr = LockManager::new();

    // Exclusive: one holder at a time; a second try fails at once and says why.
    let report = mgr.get("reports/daily")?;
    match mgr.get("reports/daily") {
        Err(e) => println!("second get: {e}"),
        Ok(_) => unreachable!(),
    }
    println!(
        "holding {} with fencing token {}",
        report.name(),
        report.token()
    );
    drop(report); // released

    // Shared: any number of holders, each told how many hold it.
    let readers: Vec<_> = (0..3)
        .map(|_| mgr.get_shared("db/replica"))
        .collect::<Result<_, _>>()?;
    for r in &readers {
        println!("shared holder #{} of {}", r.count(), r.name());
    }
    drop(readers);

    // Sessions own locks; dropping one releases everything it held, like a client disconnect.
    let worker = mgr.session();
    worker.set_name("worker-1");
    worker
        .get("jobs/nightly")?
        .keep()
        .expect("session guards can be kept");
    worker
        .get_shared("quota/api")?
        .keep()
        .expect("session guards can be kept");
    for lock in mgr.snapshot().locks {
        let h = &lock.holders[0];
        println!(
            "{} held {} by session {:?} ({:?}), token {}",
            lock.name, lock.mode, h.session, h.session_name, h.token
        );
    }
    drop(worker);
    println!("after the session ended: {} locks held", mgr.len());
    println!("stats: {:?}", mgr.stats());
    Ok(())
}
