//! The ACL file on the Consul API (`HttpConfig::acl`, the same `--acl` as the lockd protocol):
//! KV keys are lock names, each endpoint with each token, listings filtered, and a lock taken
//! under one token through one frontend protected against other tokens through both.
#![cfg(all(feature = "http", feature = "tcp-server"))]

mod line_client;
mod support;

use lockd::LockManager;
use lockd::acl::Acl;
use lockd::server::{Config, Server};
use support::{Api, config, start_over};

const ACL: &str = r#"
[[token]]
secret = "admin-token"
names = ["*"]
allow = ["lock", "read", "admin"]

[[token]]
secret = "jobs-token"
names = ["jobs/"]
allow = ["lock", "read"]

[[token]]
secret = "ops-token"
names = ["jobs/"]
allow = ["lock", "read"]

[[token]]
secret = "reader-token"
names = ["jobs/"]
allow = ["read"]
"#;

fn acl() -> Acl {
    Acl::from_toml(ACL).unwrap()
}

async fn api(mgr: LockManager) -> Api {
    start_over(mgr, config().acl(Some(acl()))).await
}

#[tokio::test]
async fn every_request_needs_one_of_the_tokens() {
    let plain = api(LockManager::new()).await;
    for (method, path) in [
        ("GET", "/v1/kv/jobs/a"),
        ("PUT", "/v1/kv/jobs/a"),
        ("PUT", "/v1/session/create"),
        ("GET", "/v1/session/list"),
        ("GET", "/v1/agent/self"),
    ] {
        let r = plain.call(method, path, b"").await;
        assert_eq!(
            (r.status, r.text()),
            (403, "Permission denied".into()),
            "{method} {path}"
        );
        let wrong = plain.with_header("X-Consul-Token", "nope");
        assert_eq!(
            wrong.call(method, path, b"").await.status,
            403,
            "{method} {path}"
        );
    }
    let admin = plain.with_header("X-Consul-Token", "admin-token");
    assert_eq!(admin.get("/v1/agent/self").await.status, 200);
    // `?token=` and `Authorization: Bearer` work as in Consul.
    assert_eq!(plain.get("/v1/kv/x?token=admin-token").await.status, 404);
    let bearer = plain.with_header("Authorization", "Bearer admin-token");
    assert_eq!(bearer.get("/v1/kv/x").await.status, 404);
}

#[tokio::test]
async fn kv_keys_are_names_and_listings_leave_out_what_a_token_does_not_cover() {
    let plain = api(LockManager::new()).await;
    let admin = plain.with_header("X-Consul-Token", "admin-token");
    let jobs = plain.with_header("X-Consul-Token", "jobs-token");
    let reader = plain.with_header("X-Consul-Token", "reader-token");
    assert!(admin.put_bool("/v1/kv/billing/secret", "x").await);
    assert!(jobs.put_bool("/v1/kv/jobs/a", "1").await);
    // Outside its names: 403, for reads and writes.
    assert_eq!(jobs.put("/v1/kv/billing/x", "1").await.status, 403);
    assert_eq!(jobs.get("/v1/kv/billing/secret").await.status, 403);
    assert_eq!(jobs.delete("/v1/kv/billing/secret").await.status, 403);
    assert_eq!(jobs.delete("/v1/kv/?recurse").await.status, 403);
    // A read-only token reads, never writes or locks.
    assert_eq!(reader.get("/v1/kv/jobs/a").await.status, 200);
    assert_eq!(reader.put("/v1/kv/jobs/b", "1").await.status, 403);
    assert_eq!(
        reader.call("PUT", "/v1/session/create", b"{}").await.status,
        403
    );
    assert_eq!(reader.get("/v1/session/list").await.status, 200);
    // Listings need read on their prefix (their index would tell of other keys), and show
    // only covered keys.
    let keys = jobs.get("/v1/kv/jobs/?keys").await.json();
    assert_eq!(keys, serde_json::json!(["jobs/a"]));
    let all = admin.get("/v1/kv/?keys").await.json();
    assert_eq!(all, serde_json::json!(["billing/secret", "jobs/a"]));
    let entries = jobs.get("/v1/kv/jobs/?recurse").await.json();
    assert_eq!(entries.as_array().unwrap().len(), 1);
    assert_eq!(jobs.get("/v1/kv/?recurse").await.status, 403);
    assert_eq!(jobs.get("/v1/kv/billing/?recurse").await.status, 403);
    assert_eq!(jobs.get("/v1/kv/b?keys").await.status, 403);
}

#[tokio::test]
async fn a_lock_taken_under_one_token_is_protected_against_the_others_on_both_frontends() {
    let mgr = LockManager::new();
    let http = api(mgr.clone()).await;
    let server = Server::new(mgr.clone(), Config::default().acl(Some(acl())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { server.serve(listener, std::future::pending::<()>()).await });
    // A Consul session of the jobs token holds jobs/nightly.
    let jobs = http.with_header("X-Consul-Token", "jobs-token");
    let session = jobs.session(r#"{"LockDelay":"0s"}"#).await;
    assert!(
        jobs.put_bool(&format!("/v1/kv/jobs/nightly?acquire={session}"), "w1")
            .await
    );
    // The admin token, on the lockd protocol, cannot take or release it...
    let mut admin = line_client::Client::connect(&addr).await;
    admin.ask("auth admin-token\n", "1 Auth Success\n").await;
    admin
        .ask("g jobs/nightly\n", "0 Lock Get Failure: jobs/nightly\n")
        .await;
    admin
        .ask("r jobs/nightly\n", "0 Lock Release Failure: jobs/nightly\n")
        .await;
    // ...nor another session through the Consul API; a token without lock cannot even try.
    let admin_http = http.with_header("X-Consul-Token", "admin-token");
    let other = admin_http.session(r#"{"LockDelay":"0s"}"#).await;
    assert!(
        !admin_http
            .put_bool(&format!("/v1/kv/jobs/nightly?acquire={other}"), "w2")
            .await
    );
    let reader = http.with_header("X-Consul-Token", "reader-token");
    assert_eq!(
        reader.put("/v1/kv/jobs/nightly?release=x", "").await.status,
        403
    );
    // Its holder releases it: then it is free for the others.
    assert!(
        jobs.put_bool(&format!("/v1/kv/jobs/nightly?release={session}"), "")
            .await
    );
    admin
        .ask("g jobs/nightly\n", "1 Lock Get Success: jobs/nightly\n")
        .await;
}

#[tokio::test]
async fn a_session_belongs_to_the_token_that_made_it() {
    let plain = api(LockManager::new()).await;
    let jobs = plain.with_header("X-Consul-Token", "jobs-token");
    let ops = plain.with_header("X-Consul-Token", "ops-token");
    let admin = plain.with_header("X-Consul-Token", "admin-token");
    let sid = jobs
        .session(r#"{"Name":"jobs/nightly lock","LockDelay":"0s"}"#)
        .await;
    assert!(
        jobs.put_bool(&format!("/v1/kv/jobs/nightly?acquire={sid}"), "w")
            .await
    );
    let theirs = ops.session(r#"{"LockDelay":"0s"}"#).await;
    // Another token with the same names cannot use, see, renew or end jobs' session...
    for (method, path) in [
        ("PUT", format!("/v1/session/destroy/{sid}")),
        ("PUT", format!("/v1/session/renew/{sid}")),
        ("GET", format!("/v1/session/info/{sid}")),
        ("PUT", format!("/v1/kv/jobs/nightly?release={sid}")),
        ("PUT", format!("/v1/kv/jobs/other?acquire={sid}")),
        ("DELETE", "/v1/kv/jobs/nightly".to_string()),
        ("DELETE", "/v1/kv/jobs/?recurse".to_string()),
    ] {
        let r = ops.call(method, &path, b"").await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.text());
    }
    // ...nor list it: it sees its own sessions only.
    let listed = ops.get("/v1/session/list").await.json();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["ID"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [theirs.as_str()]);
    assert!(
        jobs.get("/v1/kv/jobs/nightly").await.status == 200,
        "still held"
    );
    assert_eq!(
        jobs.get("/v1/kv/jobs/nightly").await.json()[0]["Session"],
        serde_json::json!(sid)
    );
    // The admin token may (as Consul's management token).
    assert_eq!(
        admin
            .get("/v1/session/list")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(
        admin
            .put_bool(&format!("/v1/session/destroy/{sid}"), "")
            .await
    );
}
