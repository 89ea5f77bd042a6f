//! The etcd backend when machines fail, against the 3-member cluster of
//! `scripts/etcd-cluster.sh` (its environment, `ETCD_BASE_PORT` and `ETCD_CLUSTER_DIR`, is passed
//! on to the script): a holder process killed with SIGKILL, and the etcd leader killed while
//! locks are held and waited for. Skipped without `LOCKD_ETCD_ENDPOINTS`, unless
//! `LOCKD_ETCD_REQUIRED=1`. The tests of this file run one at a time (one kills a cluster member).
#![cfg(feature = "etcd")]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lockd::etcd::{Error, EtcdConfig, EtcdManager};

mod etcd_common;
use etcd_common::{endpoints, until_requests};

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn manager(endpoints: &[String], prefix: &str, ttl: u64) -> EtcdManager {
    EtcdManager::connect(EtcdConfig {
        endpoints: endpoints.to_vec(),
        prefix: prefix.into(),
        lease_ttl: Duration::from_secs(ttl),
        request_timeout: Duration::from_secs(10),
        label: "failover-test".into(),
    })
    .await
    .expect("connect")
}

fn cluster_script(args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/etcd-cluster.sh"
        ))
        .args(args)
        .output()
        .expect("run scripts/etcd-cluster.sh");
    assert!(
        out.status.success(),
        "etcd-cluster.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Not a test of its own: the holder process of `a_killed_holder_frees_its_locks_after_the_ttl`,
/// which runs this binary again with this test selected.
#[tokio::test]
#[ignore = "run as a child process by a_killed_holder_frees_its_locks_after_the_ttl"]
async fn child_holds_a_lock_until_killed() {
    let (Some(ep), Ok(prefix)) = (endpoints(), std::env::var("LOCKD_TEST_CHILD_PREFIX")) else {
        return;
    };
    let mgr = manager(&ep, &prefix, 2).await;
    let session = mgr.session().await.unwrap();
    let guard = session.get("x").await.unwrap();
    println!("HELD {}", guard.token());
    std::future::pending::<()>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_holder_frees_its_locks_after_the_ttl() {
    let Some(ep) = endpoints() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    let prefix = format!("lockd-test-{}-sigkill", std::process::id());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_holds_a_lock_until_killed",
            "--ignored",
            "--nocapture",
        ])
        .env("LOCKD_TEST_CHILD_PREFIX", &prefix)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let token: u64 = loop {
        let line = lines.next().expect("the child says HELD").unwrap();
        if let Some(t) = line.strip_prefix("HELD ") {
            break t.parse().unwrap();
        }
    };
    let mgr = manager(&ep, &prefix, 2).await;
    let session = mgr.session().await.unwrap();
    assert!(matches!(
        session.get("x").await,
        Err(Error::WouldBlock { .. })
    ));
    // SIGKILL: no release, no revoke; only the lease TTL (2 s) frees the lock.
    let killed = Instant::now();
    child.kill().unwrap();
    child.wait().unwrap();
    let guard = session
        .lock_timeout("x", Duration::from_secs(30))
        .await
        .expect("granted once the dead holder's lease expires");
    let after = killed.elapsed();
    assert!(guard.token() > token);
    eprintln!("granted {after:?} after the holder's SIGKILL (lease TTL 2 s)");
    guard.release().await.unwrap();
    session.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_killed_while_locks_are_held_and_waited_for() {
    let Some(ep) = endpoints() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    let prefix = format!("lockd-test-{}-leader", std::process::id());
    // All three members up (an earlier run may have left one down), so a kill leaves a quorum.
    cluster_script(&["heal"]);
    // A TTL longer than an election (election timeout 1 s in the cluster script).
    let mgr = manager(&ep, &prefix, 6).await;
    let (a, b, c) = (
        mgr.session().await.unwrap(),
        mgr.session().await.unwrap(),
        mgr.session().await.unwrap(),
    );
    let held = a.get("x").await.unwrap();
    let shared = c.get_shared("s").await.unwrap();
    let waiter = tokio::spawn(async move {
        let g = b.lock_timeout("x", Duration::from_secs(60)).await;
        (b, g, Instant::now())
    });
    until_requests(&mgr, "x", 2).await; // the waiter has enqueued
    assert!(!waiter.is_finished());

    let member = Restart(cluster_script(&["kill-leader"]));
    let killed = Instant::now();
    // Service comes back after the election: a new request succeeds.
    let probe = mgr.session().await.expect("a session after the election");
    let fresh = probe
        .get("after-election")
        .await
        .expect("a try after the election");
    eprintln!(
        "first request after killing the leader: {:?}",
        killed.elapsed()
    );
    drop(fresh);
    // Nothing was lost: the holder still holds, the shared holder too, the waiter waits.
    assert!(mgr.inspect("x").await.unwrap());
    assert_eq!(mgr.inspect_shared("s").await.unwrap(), 1);
    assert!(!waiter.is_finished(), "granted while the lock was held");
    assert!(!a.is_lost() && !c.is_lost());
    // Nothing is granted twice: the waiter gets the lock only after the holder's release.
    let released = Instant::now();
    held.release().await.unwrap();
    let (b, granted, at) = tokio::time::timeout(Duration::from_secs(30), waiter)
        .await
        .expect("the waiter is granted")
        .unwrap();
    let granted = granted.expect("granted, not timed out");
    assert!(at >= released);
    assert!(granted.token() > 0);
    granted.release().await.unwrap();
    shared.release().await.unwrap();
    for s in [a, b, c, probe] {
        s.close().await.unwrap();
    }
    drop(member);
}

/// Two lockd servers over the cluster: the leader is killed while a client of one server holds
/// a lock and a client of the other waits for it. Requests stall for the election, then go on;
/// nothing is lost and nothing is granted twice.
#[cfg(feature = "tcp-server")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_killed_under_two_lockd_servers() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let Some(ep) = endpoints() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    let prefix = format!("lockd-test-{}-servers-leader", std::process::id());
    cluster_script(&["heal"]);
    let mut addrs = Vec::new();
    let mut handles = Vec::new();
    let mgr = manager(&ep, &prefix, 6).await;
    for _ in 0..2 {
        let server = lockd::server::Server::with_etcd(
            manager(&ep, &prefix, 6).await,
            lockd::server::Config::default(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        addrs.push(listener.local_addr().unwrap());
        handles.push(server.handle());
        tokio::spawn(async move { server.serve(listener, std::future::pending::<()>()).await });
    }
    let connect = |addr| async move {
        let (r, w) = tokio::net::TcpStream::connect(addr)
            .await
            .unwrap()
            .into_split();
        (BufReader::new(r).lines(), w)
    };
    let (mut holder_in, mut holder) = connect(addrs[0]).await;
    let (mut waiter_in, mut waiter) = connect(addrs[1]).await;
    let (mut probe_in, mut probe) = connect(addrs[1]).await;
    holder
        .write_all(
            b"gw 0 x
sg s
",
        )
        .await
        .unwrap();
    let t1: u64 = holder_in
        .next_line()
        .await
        .unwrap()
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        holder_in.next_line().await.unwrap().unwrap(),
        "1 Shared Lock Get Success: s"
    );
    waiter
        .write_all(
            b"gw 60000 x
",
        )
        .await
        .unwrap();
    until_requests(&mgr, "x", 2).await; // the waiter has enqueued

    let member = Restart(cluster_script(&["kill-leader"]));
    let killed = Instant::now();
    // Service comes back after the election; a request through a server waits it out or fails
    // with a `0` line, and succeeds once there is a leader again.
    let after = loop {
        probe
            .write_all(
                b"g after-election
",
            )
            .await
            .unwrap();
        let line = probe_in.next_line().await.unwrap().unwrap();
        if line == "1 Lock Get Success: after-election" {
            break killed.elapsed();
        }
        assert_eq!(line, "0 Lock Get Failure: after-election");
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "no service 30 s after the kill"
        );
    };
    eprintln!("first lockd request granted {after:?} after killing the etcd leader");
    // Nothing was lost, nothing granted twice: the holder still holds; the waiter waits.
    probe
        .write_all(
            b"i x
si s
",
        )
        .await
        .unwrap();
    assert_eq!(
        probe_in.next_line().await.unwrap().unwrap(),
        "1 Lock Is Locked: x"
    );
    assert_eq!(
        probe_in.next_line().await.unwrap().unwrap(),
        "1 Shared Lock Is Locked: s"
    );
    let released = Instant::now();
    holder
        .write_all(
            b"r x
",
        )
        .await
        .unwrap();
    assert_eq!(
        holder_in.next_line().await.unwrap().unwrap(),
        "1 Lock Release Success: x"
    );
    let line = tokio::time::timeout(Duration::from_secs(30), waiter_in.next_line())
        .await
        .expect("the waiter is granted")
        .unwrap()
        .unwrap();
    let (t2, rest) = line.split_once(' ').unwrap();
    assert_eq!(rest, "Lock Get Success: x");
    assert!(t2.parse::<u64>().unwrap() > t1);
    eprintln!(
        "hand-off across servers after the election: {:?}",
        released.elapsed()
    );
    drop((holder, waiter, probe));
    for h in handles {
        h.destroy();
    }
    drop(member);
}

/// Starts the killed member again when dropped, also when the test fails.
struct Restart(String);

impl Drop for Restart {
    fn drop(&mut self) {
        cluster_script(&["restart", &self.0]);
    }
}
