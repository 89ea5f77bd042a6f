//! A pool of workers sharing jobs through waiting locks with timeouts: every worker tries to run
//! every job, but a job's lock admits one worker at a time (first come, first served). A worker
//! that cannot get a job's lock within its patience moves on; each worker is a session, so a
//! worker that dies mid-job (here: worker 0, on its first job) releases its locks at once.
//!
//! Run: `cargo run --example worker_pool`

use std::sync::Arc;
use std::time::Duration;

use lockd::{Error, LockManager};
use tokio::sync::Mutex;

#[tokio::main]
async fn main() {
    let mgr = LockManager::new();
    let done = Arc::new(Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for w in 0..4 {
        let (mgr, done) = (mgr.clone(), done.clone());
        workers.push(tokio::spawn(async move {
            let session = mgr.session();
            session.set_name(format!("worker-{w}"));
            for job in 0..6 {
                let name = format!("jobs/{job}");
                match session.lock_timeout(&name, Duration::from_millis(30)).await {
                    Ok(guard) => {
                        if done.lock().await.contains(&job) {
                            continue; // someone finished it while we waited
                        }
                        if w == 0 && job == 0 {
                            // Hand the lock to the session (as a network connection holds it)
                            // and die: dropping the session releases it as an orphan.
                            guard.keep().expect("a session guard");
                            println!("worker-0 crashes while holding {name}");
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await; // the work
                        done.lock().await.push(job);
                        println!("worker-{w} finished {name} (token {})", guard.token());
                    }
                    Err(Error::Timeout { waited, .. }) => {
                        println!("worker-{w} gave up on {name} after {waited:?}");
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    let mut finished = done.lock().await.clone();
    finished.sort();
    println!("finished jobs: {finished:?}; stats: {:?}", mgr.stats());
    assert!(mgr.is_empty());
}
