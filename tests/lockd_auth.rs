//! Authentication and ACLs of the lockd protocol (`auth [USER] TOKEN`, `Config::acl`), over
//! real sockets: every verb unauthenticated, wrongly authenticated and with a token outside its
//! names; no listing shows a name the token does not cover; old clients are unaffected when no
//! ACL is configured.
#![cfg(feature = "tcp-server")]

use std::net::SocketAddr;

use lockd::LockManager;
use lockd::acl::Acl;
use lockd::server::{Config, Server};
use tokio::net::TcpListener;

mod line_client;
use line_client::Client;

const ACL: &str = r#"
[[token]]
secret = "s3cret-admin"
names = ["*"]
allow = ["lock", "read", "admin"]

[[token]]
user = "jobs"
secret = "s3cret-jobs"
names = ["jobs/"]
allow = ["lock", "read"]

[[token]]
secret = "s3cret-watcher"
names = ["jobs/"]
allow = ["read"]
"#;

async fn server(acl: Option<&str>) -> (SocketAddr, LockManager) {
    let mgr = LockManager::new();
    let config = Config::default().acl(acl.map(|a| Acl::from_toml(a).unwrap()));
    let server = Server::new(mgr.clone(), config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { server.serve(listener, std::future::pending::<()>()).await });
    (addr, mgr)
}

#[tokio::test]
async fn without_an_acl_nothing_changes_and_auth_always_succeeds() {
    let (addr, _) = server(None).await;
    let mut c = Client::connect(&addr).await;
    c.ask("g x\n", "1 Lock Get Success: x\n").await;
    c.ask("ext\n", "1 ext gw sgw auth\n").await;
    c.ask("auth anything\n", "1 Auth Success\n").await;
    c.ask("auth user pass\n", "1 Auth Success\n").await;
    assert_eq!(line_client::stat(&c.stats().await, "command_g"), 1); // `auth` is not counted
}

#[tokio::test]
async fn unauthenticated_connections_get_nothing_but_auth_and_ext() {
    let (addr, mgr) = server(Some(ACL)).await;
    let _held = mgr.get("jobs/nightly").unwrap(); // something a listing could leak
    let mut c = Client::connect(&addr).await;
    for verb in [
        "g jobs/a",
        "r jobs/a",
        "i jobs/nightly",
        "sg jobs/a",
        "sr jobs/a",
        "si jobs/a",
        "d",
        "d jobs/nightly",
        "sd",
        "dump",
        "dump shared",
        "me",
        "iam x",
        "who",
        "q",
        "gw 0 jobs/a",
        "sgw 0 1 jobs/a",
    ] {
        c.ask(&format!("{verb}\n"), "0 Authentication Required\n")
            .await;
    }
    c.ask("ext\n", "1 ext gw sgw auth\n").await;
    assert!(!mgr.inspect("jobs/a"), "nothing was taken");
}

#[tokio::test]
async fn a_token_may_do_what_it_allows_on_the_names_it_covers_only() {
    let (addr, mgr) = server(Some(ACL)).await;
    let _held = mgr.get("billing/run").unwrap();
    let mut jobs = Client::connect(&addr).await;
    jobs.ask("auth jobs s3cret-jobs\n", "1 Auth Success\n")
        .await;
    jobs.ask("g jobs/a\n", "1 Lock Get Success: jobs/a\n").await;
    jobs.ask("sg jobs/pool\n", "1 Shared Lock Get Success: jobs/pool\n")
        .await;
    jobs.ask("g billing/x\n", "0 Permission Denied: billing/x\n")
        .await;
    jobs.ask("sg billing/x\n", "0 Permission Denied: billing/x\n")
        .await;
    jobs.ask("gw 0 billing/x\n", "0 Permission Denied: billing/x\n")
        .await;
    jobs.ask("sgw 0 2 billing/x\n", "0 Permission Denied: billing/x\n")
        .await;
    jobs.ask("i billing/run\n", "0 Permission Denied: billing/run\n")
        .await;
    jobs.ask("r billing/run\n", "0 Permission Denied: billing/run\n")
        .await;
    jobs.ask("gw x y\n", "0 Invalid Arguments: x y\n").await; // malformed: said as such
    jobs.ask("q\n", "0 Permission Denied\n").await; // no admin
    // Listings show only the names it covers: billing/run (held in process) is left out.
    jobs.ask("d billing/run\n", "").await;
    jobs.ask("dump\n", &format!("{{\"jobs/a\":\"{}\"}}\n", jobs.id))
        .await;
    jobs.ask("d\n", &format!("jobs/a: {}\n", jobs.id)).await;
    jobs.ask("iam worker\n", "1 ok\n").await;
    // A read-only token sees but cannot take.
    let mut watcher = Client::connect(&addr).await;
    watcher
        .ask("auth s3cret-watcher\n", "1 Auth Success\n")
        .await;
    watcher
        .ask("i jobs/a\n", "1 Lock Is Locked: jobs/a\n")
        .await;
    watcher
        .ask("g jobs/b\n", "0 Permission Denied: jobs/b\n")
        .await;
    watcher.ask("iam w\n", "0 Permission Denied\n").await;
    watcher.ask("sd jobs/pool\n", "jobs/pool: worker\n").await;
    // The admin token sees everything and may ask for statistics.
    let mut admin = Client::connect(&addr).await;
    admin.ask("auth s3cret-admin\n", "1 Auth Success\n").await;
    admin.ask("d billing/run\n", "billing/run: local:0\n").await;
    let stats = admin.stats().await;
    assert_eq!(
        line_client::stat(&stats, "command_d"),
        3,
        "refused lines are counted too"
    );
    // A lock taken under one token is protected against the others.
    admin
        .ask("g jobs/a\n", "0 Lock Get Failure: jobs/a\n")
        .await;
    admin
        .ask("r jobs/a\n", "0 Lock Release Failure: jobs/a\n")
        .await;
}

#[tokio::test]
async fn wrong_tokens_fail_and_too_many_failures_close_the_connection() {
    let (addr, _) = server(Some(ACL)).await;
    let mut c = Client::connect(&addr).await;
    c.ask("auth nope\n", "0 Auth Failure\n").await;
    c.ask("auth jobs s3cret-admin\n", "0 Auth Failure\n").await; // user and secret must match
    c.ask("g jobs/a\n", "0 Authentication Required\n").await;
    c.ask("auth still-wrong\n", "0 Auth Failure\n").await; // the third: closed after its reply
    let mut rest = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut c.stream, &mut rest)
        .await
        .unwrap();
    assert!(rest.is_empty(), "{rest:?}");
    // Pipelined past the limit: the failures are all answered, nothing after them is, and the
    // replies are not lost to a reset however much more the client sends.
    let mut p = Client::connect(&addr).await;
    let mut burst = String::from("auth a1234567\nauth b1234567\nauth c1234567\n");
    burst.push_str(&"g jobs/x\n".repeat(2000));
    p.send(burst.as_bytes()).await;
    let mut rest = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut p.stream, &mut rest)
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&rest), "0 Auth Failure\n".repeat(3));
    // A success keeps the connection's token; a later failure does not take it away.
    let mut d = Client::connect(&addr).await;
    d.ask("auth s3cret-jobs\n", "1 Auth Success\n").await; // `auth TOKEN` without the user
    d.ask("auth wrong\n", "0 Auth Failure\n").await;
    d.ask("g jobs/a\n", "1 Lock Get Success: jobs/a\n").await;
}
