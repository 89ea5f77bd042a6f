//! The Consul HTTP API over real HTTP on 127.0.0.1: the conformance checklist of
//! `docs/consul-api.md` §12 (items 1–27, 32, 33). TTL and lock-delay timing on the paused clock are
//! in the store's own tests (`src/http/store_tests.rs`).
#![cfg(feature = "http")]

mod support;

use std::time::{Duration, Instant};

use lockd::http::HttpConfig;
use serde_json::json;
use support::{Api, config, start, start_server, until_parked};

#[tokio::test]
async fn routes_methods_and_unknown_paths() {
    let (api, _) = start(config()).await;
    for (method, path, allow) in [
        ("POST", "/v1/kv/x", "OPTIONS,GET,PUT,DELETE"),
        ("GET", "/v1/session/create", "OPTIONS,PUT"),
        ("DELETE", "/v1/session/destroy/x", "OPTIONS,PUT"),
        ("GET", "/v1/session/renew/x", "OPTIONS,PUT"),
        ("PUT", "/v1/session/info/x", "OPTIONS,GET"),
        ("POST", "/v1/session/node/lockd", "OPTIONS,GET"),
        ("PUT", "/v1/session/list", "OPTIONS,GET"),
        ("PUT", "/v1/agent/self", "OPTIONS,GET"),
        ("DELETE", "/v1/status/leader", "OPTIONS,GET"),
        ("POST", "/v1/status/peers", "OPTIONS,GET"),
    ] {
        let r = api.call(method, path, b"").await;
        assert_eq!(r.status, 405, "{method} {path}");
        assert_eq!(r.text(), format!("method {method} not allowed"));
        assert_eq!(r.header("allow"), Some(allow));
        let o = api.call("OPTIONS", path, b"").await;
        assert_eq!((o.status, o.header("allow")), (200, Some(allow)));
        assert!(o.body.is_empty() && o.content_type().is_none());
    }
    let r = api.get("/v1/nope").await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.text(),
        "Invalid URL path: not a recognized HTTP API endpoint\n"
    );
    let r = api.get("/kv/x").await;
    assert_eq!(
        r.text(),
        "Invalid URL path: if attempting to use the HTTP API, ensure the path starts with '/v1/'\n"
    );
    assert_eq!(api.get("/v1/kv/%zz").await.status, 400);
    let r = api.get("/v1/kv/%ff%fe").await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, "Invalid key: not valid UTF-8")
    );
    assert_eq!(api.get("/v1/session/info/").await.text(), "Missing session");
    assert_eq!(
        api.get("/v1/session/node/").await.text(),
        "Missing node name"
    );
    assert_eq!(api.get("/v1/kv/").await.text(), "Missing key name");
    assert_eq!(api.put("/v1/kv/", "x").await.text(), "Missing key name");
    assert_eq!(api.delete("/v1/kv/").await.text(), "Missing key name");
    let r = api.get("/v1/kv/x?dc=dc2").await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (500, "No path to datacenter")
    );
    assert_eq!(api.get("/v1/kv/x?dc=dc1").await.status, 404);
}

#[tokio::test]
async fn keys_are_percent_decoded_and_answers_typed() {
    let (api, _) = start(config()).await;
    let r = api.put("/v1/kv/a%2Fb%2Fc", "v").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type(), Some("application/json"));
    assert_eq!(r.text(), "true");
    let e = api.entry("a/b/c").await.expect("a/b/c stored");
    assert_eq!(e["Key"], "a/b/c");
    assert_eq!(e["Value"], "dg==");
    let r = api.get("/v1/kv/a/b/c?pretty").await;
    assert_eq!(r.content_type(), Some("application/json"));
    assert!(
        r.text().starts_with("[\n    {\n        \"LockIndex\": 0,"),
        "{}",
        r.text()
    );
    assert!(r.text().ends_with("]\n"));
    let r = api.delete("/v1/kv/nothing").await;
    assert_eq!(
        (r.content_type(), r.text().as_str()),
        (Some("application/json"), "true")
    );
    let r = api.put("/v1/session/destroy/unknown", "").await;
    assert_eq!(
        (r.content_type(), r.text().as_str()),
        (Some("application/json"), "true")
    );
    let r = api.get("/v1/kv/a/b/c?cas=x&stale&consistent").await;
    assert_eq!(r.content_type(), Some("text/plain; charset=utf-8"));
    assert_eq!(
        r.text(),
        "Cannot specify ?stale with ?consistent, conflicting semantics."
    );
    // Presence flags: any value counts.
    for q in ["recurse=false", "recurse=", "recurse=1", "keys=True"] {
        let r = api.get(&format!("/v1/kv/a/?{q}")).await;
        assert_eq!(r.status, 200, "{q}");
        assert!(r.json().is_array(), "{q}");
    }
    let r = api.get("/v1/kv/a/b/c?consistent=1").await;
    assert_eq!(
        r.header("x-consul-effective-consistency"),
        Some("consistent")
    );
}

#[tokio::test]
async fn missing_keys_answer_404_with_index_headers() {
    let (api, _) = start(config()).await;
    for path in [
        "/v1/kv/missing",
        "/v1/kv/missing?raw",
        "/v1/kv/pre?recurse",
        "/v1/kv/pre?keys",
    ] {
        let r = api.get(path).await;
        assert_eq!(r.status, 404, "{path}");
        assert!(r.body.is_empty() && r.content_type().is_none(), "{path}");
        assert!(r.index() >= 1, "{path}");
        assert_eq!(r.header("x-consul-knownleader"), Some("true"));
        assert_eq!(r.header("x-consul-lastcontact"), Some("0"));
    }
    let r = api.get("/v1/kv/?keys").await;
    assert_eq!((r.status, r.json()), (200, json!([])));
    assert_eq!(api.get("/v1/kv/?recurse").await.status, 404);
}

#[tokio::test]
async fn session_create_fields_defaults_and_errors() {
    let (api, _) = start(HttpConfig::default()).await;
    let sid = api
        .session(r#"{"lockdelay":"0s","behavior":"delete","ttl":"10s"}"#)
        .await;
    let info = api.get(&format!("/v1/session/info/{sid}")).await;
    let s = &info.json()[0];
    assert_eq!(
        (s["LockDelay"].as_u64(), s["Behavior"].as_str()),
        (Some(0), Some("delete"))
    );
    assert_eq!(s["TTL"], "10s");
    let sid2 = api.session("").await;
    let s = api
        .get(&format!("/v1/session/info/{}", sid2.to_uppercase()))
        .await
        .json()[0]
        .clone();
    assert_eq!(s["ID"], sid2.as_str(), "lookups by id are case-insensitive");
    assert_eq!(s["LockDelay"], 15_000_000_000u64);
    assert_eq!(
        (s["Behavior"].as_str(), s["Node"].as_str()),
        (Some("release"), Some("lockd"))
    );
    assert_eq!(s["NodeChecks"], json!(["serfHealth"]));
    assert_eq!(s["ServiceChecks"], json!(null));
    assert_eq!(s["TTL"], "");
    let keys: Vec<String> = s.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys.len(), 10);
    for (body, delay) in [
        (r#"{"LockDelay":5}"#, 5_000_000_000u64),
        (r#"{"LockDelay":"15000ms"}"#, 15_000_000_000),
        (r#"{"LockDelay":120}"#, 120_000_000_000),
    ] {
        let id = api.session(body).await;
        let s = api.get(&format!("/v1/session/info/{id}")).await.json();
        assert_eq!(s[0]["LockDelay"], delay, "{body}");
    }
    for (body, status, text) in [
        (
            r#"{"TTL":"5s"}"#,
            500,
            "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]",
        ),
        (
            r#"{"TTL":"25h"}"#,
            500,
            "Invalid Session TTL '90000000000000', must be between [10s=24h0m0s]",
        ),
        (
            r#"{"TTL":"abc"}"#,
            500,
            "Session TTL 'abc' invalid: time: invalid duration \"abc\"",
        ),
        (
            r#"{"Behavior":"keep"}"#,
            500,
            "Invalid Behavior setting 'keep'",
        ),
        (r#"{"Node":"elsewhere"}"#, 500, "Missing node registration"),
        (
            r#"{"Checks":["web"]}"#,
            500,
            "Missing check 'web' registration",
        ),
        (
            r#"{"Behaviour":"delete"}"#,
            400,
            "Request decode failed: json: unknown field \"Behaviour\"",
        ),
    ] {
        let r = api.put("/v1/session/create", body).await;
        assert_eq!((r.status, r.text().as_str()), (status, text), "{body}");
        assert_eq!(r.content_type(), Some("text/plain; charset=utf-8"));
    }
    let r = api.put("/v1/session/create", "{not json").await;
    assert_eq!(r.status, 400);
    assert!(r.text().starts_with("Request decode failed: "));
    // Nothing was created by the failures.
    assert_eq!(
        api.get("/v1/session/list")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        5
    );
}

#[tokio::test]
async fn session_destroy_renew_info_and_listing() {
    let (api, _) = start(config()).await;
    assert_eq!(api.put("/v1/session/destroy/nope", "").await.text(), "true");
    let r = api.put("/v1/session/renew/nope", "").await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (404, "Session id 'nope' not found")
    );
    let r = api.get("/v1/session/info/nope").await;
    assert_eq!((r.status, r.json()), (200, json!([])));
    assert!(r.index() >= 1);

    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(api.session(r#"{"TTL":"10s"}"#).await);
    }
    let list = api.get("/v1/session/list").await;
    let listed: Vec<&str> = list
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["ID"].as_str().unwrap())
        .map(|s| Box::leak(s.to_owned().into_boxed_str()) as &str)
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(
        listed,
        sorted.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let newest = api
        .get(&format!("/v1/session/info/{}", ids[4]))
        .await
        .json()[0]["CreateIndex"]
        .as_u64()
        .unwrap();
    assert_eq!(list.index(), newest, "the sessions table index");
    let node = api.get("/v1/session/node/LOCKD").await;
    assert_eq!(node.json().as_array().unwrap().len(), 5);
    assert_eq!(api.get("/v1/session/node/other").await.json(), json!([]));
    let r = api.put(&format!("/v1/session/renew/{}", ids[0]), "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()[0]["TTL"], "10s");
    assert_eq!(
        api.put(&format!("/v1/session/destroy/{}", ids[0]), "")
            .await
            .text(),
        "true"
    );
    assert_eq!(
        api.put(&format!("/v1/session/renew/{}", ids[0]), "")
            .await
            .status,
        404
    );
    let after = api.get("/v1/session/list").await;
    assert!(after.index() > list.index());
}

#[tokio::test]
async fn acquire_release_and_their_errors() {
    let (api, mgr) = start(config()).await;
    let a = api.session(r#"{"LockDelay":"0s"}"#).await;
    let b = api.session(r#"{"LockDelay":"0s"}"#).await;
    assert!(
        api.put_bool(&format!("/v1/kv/lock?acquire={a}"), "one")
            .await
    );
    let e = api.entry("lock").await.unwrap();
    assert_eq!(
        (e["LockIndex"].as_u64(), e["Session"].as_str()),
        (Some(1), Some(a.as_str()))
    );
    assert!(mgr.inspect("lock"), "a Consul acquire takes the core lock");
    assert!(
        !api.put_bool(&format!("/v1/kv/lock?acquire={b}"), "two")
            .await
    );
    assert!(
        api.put_bool(&format!("/v1/kv/lock?acquire={a}"), "three")
            .await
    );
    let e = api.entry("lock").await.unwrap();
    assert_eq!(
        (e["LockIndex"].as_u64(), e["Value"].as_str()),
        (Some(1), Some("dGhyZWU="))
    );
    // Release by a non-holder, then by the holder with an empty body.
    assert!(!api.put_bool(&format!("/v1/kv/lock?release={b}"), "").await);
    assert!(!api.put_bool("/v1/kv/lock?release=not-a-session", "").await);
    assert!(api.put_bool(&format!("/v1/kv/lock?release={a}"), "").await);
    let e = api.entry("lock").await.unwrap();
    assert!(e.get("Session").is_none());
    assert_eq!(
        (e["LockIndex"].as_u64(), &e["Value"]),
        (Some(1), &json!(null))
    );
    assert!(!mgr.inspect("lock"));
    assert!(api.put_bool(&format!("/v1/kv/lock?acquire={b}"), "").await);
    assert_eq!(api.entry("lock").await.unwrap()["LockIndex"], 2);

    let r = api.put("/v1/kv/lock?acquire=unknown-id", "").await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (500, "invalid session \"unknown-id\"")
    );
    let r = api.put("/v1/kv/lock?acquire=", "").await;
    assert_eq!((r.status, r.text().as_str()), (500, "missing session"));
    let r = api.put("/v1/kv/lock?release=", "").await;
    assert_eq!((r.status, r.text().as_str()), (500, "missing session"));
    let r = api.put("/v1/kv/lock?cas=0&acquire=x", "").await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, "Conflicting flags: acquire=x&cas=0\n")
    );
    let r = api.delete("/v1/kv/lock?recurse&cas=3").await;
    assert_eq!(r.status, 400);
    assert!(r.text().starts_with("Conflicting flags: "));
    assert_eq!(
        api.put("/v1/kv/lock?flags=x", "").await.text(),
        "Invalid flags: x"
    );
    assert_eq!(
        api.put("/v1/kv/lock?cas=-1", "").await.text(),
        "Invalid cas: -1"
    );
    // None of the failures changed the entry.
    assert_eq!(api.entry("lock").await.unwrap()["Session"], b.as_str());
}

#[tokio::test]
async fn cas_flags_and_plain_writes() {
    let (api, _) = start(config()).await;
    assert!(api.put_bool("/v1/kv/c?cas=0", "first").await);
    assert!(!api.put_bool("/v1/kv/c?cas=0", "again").await);
    let idx = api.entry("c").await.unwrap()["ModifyIndex"]
        .as_u64()
        .unwrap();
    assert!(
        !api.put_bool(&format!("/v1/kv/c?cas={}", idx + 100), "x")
            .await
    );
    assert!(api.put_bool(&format!("/v1/kv/c?cas={idx}"), "second").await);
    assert!(!api.put_bool(&format!("/v1/kv/c?cas={idx}"), "third").await);
    assert!(!api.put_bool("/v1/kv/absent?cas=5", "x").await);
    assert_eq!(api.delete("/v1/kv/absent?cas=5").await.text(), "true");
    let idx = api.entry("c").await.unwrap()["ModifyIndex"]
        .as_u64()
        .unwrap();
    assert_eq!(api.delete("/v1/kv/c?cas=0").await.text(), "false");
    assert_eq!(
        api.delete(&format!("/v1/kv/c?cas={idx}")).await.text(),
        "true"
    );
    assert!(api.entry("c").await.is_none());

    for flags in [
        "16210313421097356768",
        "3304740253564472344",
        "18446744073709551615",
    ] {
        assert!(api.put_bool(&format!("/v1/kv/f?flags={flags}"), "").await);
        let r = api.get("/v1/kv/f").await;
        assert!(
            r.text().contains(&format!("\"Flags\":{flags},")),
            "{}",
            r.text()
        );
    }
    assert!(api.put_bool("/v1/kv/f", "").await);
    assert_eq!(api.entry("f").await.unwrap()["Flags"], 0);
    assert!(api.put_bool("/v1/kv/empty", "").await);
    assert_eq!(api.entry("empty").await.unwrap()["Value"], json!(null));
}

#[tokio::test]
async fn recurse_keys_separator_and_raw() {
    let (api, _) = start(config()).await;
    let s = api.session(r#"{"LockDelay":"0s"}"#).await;
    for k in [
        "web/foo",
        "web/bar",
        "web/sub/x",
        "web/sub/y",
        "webx",
        "other",
    ] {
        assert!(api.put_bool(&format!("/v1/kv/{k}"), k).await);
    }
    assert!(
        api.put_bool(&format!("/v1/kv/web/bar?acquire={s}"), "held")
            .await
    );
    let r = api.get("/v1/kv/web?recurse").await;
    let keys: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        keys,
        ["web/bar", "web/foo", "web/sub/x", "web/sub/y", "webx"]
    );
    assert_eq!(r.json()[0]["Session"], s.as_str());
    let r = api.get("/v1/kv/web/?keys&separator=/").await;
    assert_eq!(r.json(), json!(["web/bar", "web/foo", "web/sub/"]));
    let r = api.get("/v1/kv/web/?keys&seperator=/").await;
    assert_eq!(r.json(), json!(["web/bar", "web/foo", "web/sub/"]));
    assert_eq!(
        api.get("/v1/kv/web/?keys")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        4
    );
    // Deleting the newest key never lowers the listing index.
    let before = api.get("/v1/kv/web/?recurse").await.index();
    assert_eq!(api.delete("/v1/kv/web/sub/y").await.text(), "true");
    let after = api.get("/v1/kv/web/?recurse").await.index();
    assert!(after > before, "{after} <= {before}");

    let binary = b"\x00\xffraw bytes\n";
    assert_eq!(api.call("PUT", "/v1/kv/bin", binary).await.text(), "true");
    let r = api.get("/v1/kv/bin?raw").await;
    assert_eq!(r.body, binary);
    assert_eq!(r.content_type(), Some("text/plain"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("content-security-policy"), Some("sandbox"));
    assert!(r.index() >= 1);
    // Deleting a held key frees its core lock; recurse deletes the prefix.
    assert_eq!(api.delete("/v1/kv/web?recurse").await.text(), "true");
    assert_eq!(api.get("/v1/kv/web?recurse").await.status, 404);
    let other = api.session(r#"{"LockDelay":"0s"}"#).await;
    assert!(
        api.put_bool(&format!("/v1/kv/web/bar?acquire={other}"), "")
            .await
    );
}

#[tokio::test]
async fn invalidation_releases_or_deletes_and_lock_delay_gates_acquires() {
    let (api, mgr) = start(config()).await;
    let keep = api.session(r#"{"LockDelay":"0s"}"#).await;
    let gone = api
        .session(r#"{"LockDelay":"0s","Behavior":"delete"}"#)
        .await;
    assert!(api.put_bool(&format!("/v1/kv/r?acquire={keep}"), "r").await);
    assert!(api.put_bool(&format!("/v1/kv/d?acquire={gone}"), "d").await);
    assert!(
        api.put_bool(&format!("/v1/kv/d2?acquire={gone}"), "d")
            .await
    );
    assert!(
        api.put_bool(&format!("/v1/kv/d2?release={gone}"), "d")
            .await
    );
    let before = api.entry("r").await.unwrap()["ModifyIndex"]
        .as_u64()
        .unwrap();
    api.put(&format!("/v1/session/destroy/{keep}"), "").await;
    api.put(&format!("/v1/session/destroy/{gone}"), "").await;
    let r = api.entry("r").await.unwrap();
    assert!(r.get("Session").is_none());
    assert!(r["ModifyIndex"].as_u64().unwrap() > before);
    assert_eq!(r["Value"], "cg==");
    assert!(
        api.entry("d").await.is_none(),
        "delete behaviour keeps the key"
    );
    assert!(
        api.entry("d2").await.is_some(),
        "a released key must not be deleted"
    );
    assert!(!mgr.inspect("r") && !mgr.inspect("d"));
    let taker = api.session(r#"{"LockDelay":"0s"}"#).await;
    assert!(
        api.put_bool(&format!("/v1/kv/r?acquire={taker}"), "").await,
        "0s: immediate takeover"
    );

    // The default 15 s lock-delay refuses every acquire of the key, from any session.
    let slow = api.session("").await;
    assert!(
        api.put_bool(&format!("/v1/kv/delayed?acquire={slow}"), "")
            .await
    );
    api.put(&format!("/v1/session/destroy/{slow}"), "").await;
    let fresh = api.session("").await;
    assert!(
        !api.put_bool(&format!("/v1/kv/delayed?acquire={fresh}"), "")
            .await
    );
    // Plain writes and other protocols are not gated.
    assert!(api.put_bool("/v1/kv/delayed", "plain").await);
    drop(mgr.get("delayed").unwrap());
}

#[tokio::test]
async fn ttl_expiry_releases_keys_and_wakes_blocked_reads() {
    let (api, mgr) = start(config()).await;
    let sid = api.session(r#"{"TTL":"300ms","LockDelay":"0s"}"#).await;
    assert!(
        api.put_bool(&format!("/v1/kv/ttl?acquire={sid}"), "x")
            .await
    );
    let index = api.get("/v1/kv/ttl").await.index();
    let started = Instant::now();
    let r = api.get(&format!("/v1/kv/ttl?index={index}&wait=30s")).await;
    let waited = started.elapsed();
    assert!(r.index() > index);
    assert!(
        r.json()[0].get("Session").is_none(),
        "expiry must release the key"
    );
    assert!(
        waited >= Duration::from_millis(250),
        "expired before its TTL: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(20),
        "the blocked read was not woken"
    );
    assert!(!mgr.inspect("ttl"));
    assert_eq!(
        api.put(&format!("/v1/session/renew/{sid}"), "")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn blocking_queries_wait_wake_and_validate() {
    let config = config().max_query_time(Duration::from_millis(400));
    let (api, server) = start_server(lockd::LockManager::new(), config).await;
    assert!(api.put_bool("/v1/kv/b", "1").await);
    let index = api.get("/v1/kv/b").await.index();
    // The wait runs out: 200 with unchanged data; wait=20m is cut to the cap (here 400 ms).
    let started = Instant::now();
    let r = api.get(&format!("/v1/kv/b?index={index}&wait=20m")).await;
    let waited = started.elapsed();
    assert_eq!((r.status, r.index()), (200, index));
    assert!(waited >= Duration::from_millis(400), "{waited:?}");
    assert!(waited < Duration::from_secs(60), "not capped: {waited:?}");
    // A write wakes a parked read.
    let waiter = {
        let api = api.clone();
        tokio::spawn(async move { api.get(&format!("/v1/kv/b?index={index}&wait=300s")).await })
    };
    until_parked(&server, 1).await;
    assert!(Api::new(api.addr).put_bool("/v1/kv/b", "2").await);
    let r = waiter.await.unwrap();
    assert!(r.index() > index);
    assert_eq!(r.json()[0]["Value"], "Mg==");
    let r = api.get("/v1/kv/b?index=1&wait=abc").await;
    assert_eq!((r.status, r.text().as_str()), (400, "Invalid wait time"));
    let r = api.get("/v1/kv/b?index=x").await;
    assert_eq!((r.status, r.text().as_str()), (400, "Invalid index"));
}

#[tokio::test]
async fn passed_or_future_indexes_answer_at_once() {
    // Default 10-minute cap: a query that wrongly blocks runs into the client's 60 s timeout.
    let (api, server) = start_server(lockd::LockManager::new(), config()).await;
    assert!(api.put_bool("/v1/kv/b", "1").await);
    let index = api.get("/v1/kv/b").await.index();
    let behind = api
        .get(&format!("/v1/kv/b?index={}&wait=10m", index - 1))
        .await;
    assert_eq!(behind.index(), index);
    let ahead = api.get("/v1/kv/b?index=999999&wait=10m").await;
    assert_eq!((ahead.status, ahead.index()), (200, index));
    assert_eq!(server.stats().parked_queries, 0);
}

#[tokio::test]
async fn blocking_wait_runs_its_time_plus_at_most_a_sixteenth() {
    let (api, _) = start(config()).await;
    let index = api.get("/v1/kv/none").await.index();
    let started = Instant::now();
    let r = api.get(&format!("/v1/kv/none?index={index}&wait=1s")).await;
    let waited = started.elapsed();
    assert_eq!((r.status, r.index()), (404, index));
    assert!(waited >= Duration::from_secs(1), "{waited:?}");
    // 1/16 of jitter; generous slack for a loaded machine.
    assert!(waited < Duration::from_millis(1_062 + 2_000), "{waited:?}");
}

#[tokio::test]
async fn blocked_session_list_wakes_on_create_and_destroy() {
    let (api, server) = start_server(lockd::LockManager::new(), config()).await;
    let index = api.get("/v1/session/list").await.index();
    let watcher = {
        let api = api.clone();
        tokio::spawn(async move { api.get(&format!("/v1/session/list?index={index}")).await })
    };
    until_parked(&server, 1).await;
    let sid = Api::new(api.addr).session("").await;
    let r = watcher.await.unwrap();
    assert!(r.index() > index);
    assert_eq!(r.json()[0]["ID"], sid.as_str());
    let index = r.index();
    let watcher = {
        let (api, sid) = (api.clone(), sid.clone());
        tokio::spawn(async move {
            api.get(&format!("/v1/session/info/{sid}?index={index}"))
                .await
        })
    };
    until_parked(&server, 1).await;
    Api::new(api.addr)
        .put(&format!("/v1/session/destroy/{sid}"), "")
        .await;
    let r = watcher.await.unwrap();
    assert!(r.index() > index);
    assert_eq!(r.json(), json!([]));
}

#[tokio::test]
async fn oversized_bodies_get_413_and_change_nothing() {
    let (api, _) = start(config().kv_max_value_size(1024).max_body_size(256)).await;
    assert!(api.put_bool("/v1/kv/big", "small").await);
    let r = api.call("PUT", "/v1/kv/big", &[b'x'; 1025]).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (
            413,
            "Request body(1025 bytes) too large, max size: 1024 bytes."
        )
    );
    assert!(api.put_bool("/v1/kv/big", &"y".repeat(1024)).await);
    let r = api.call("PUT", "/v1/session/create", &[b' '; 300]).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (413, "Request body too large")
    );
    assert_eq!(
        api.entry("big").await.unwrap()["Value"]
            .as_str()
            .unwrap()
            .len(),
        1368
    );
}

#[tokio::test]
async fn acl_token_is_required_everywhere_when_configured() {
    let (api, _) = start(config().token(Some("s3cret".into()))).await;
    for (method, path) in [
        ("GET", "/v1/kv/x"),
        ("PUT", "/v1/session/create"),
        ("GET", "/v1/status/leader"),
        ("GET", "/v1/agent/self"),
        ("OPTIONS", "/v1/kv/x"),
        ("GET", "/v1/nope"),
    ] {
        let r = api.call(method, path, b"").await;
        assert_eq!(
            (r.status, r.text().as_str()),
            (403, "Permission denied"),
            "{method} {path}"
        );
        assert_eq!(r.header("x-consul-default-acl-policy"), Some("deny"));
    }
    assert_eq!(api.get("/v1/kv/x?token=wrong").await.status, 403);
    assert_eq!(
        api.with_header("X-Consul-Token", "s3cre")
            .get("/v1/kv/x")
            .await
            .status,
        403
    );
    assert_eq!(api.get("/v1/kv/x?token=s3cret").await.status, 404);
    assert_eq!(
        api.with_header("X-Consul-Token", "s3cret")
            .get("/v1/kv/x")
            .await
            .status,
        404
    );
    assert_eq!(
        api.with_header("Authorization", "Bearer s3cret")
            .get("/v1/kv/x")
            .await
            .status,
        404
    );
    assert_eq!(
        api.with_header("Authorization", "bearer s3cret")
            .get("/v1/status/leader")
            .await
            .status,
        200
    );

    let (open, _) = start(config()).await;
    assert_eq!(open.get("/v1/kv/x?token=anything").await.status, 404);
    assert_eq!(
        open.get("/v1/kv/x")
            .await
            .header("x-consul-default-acl-policy"),
        Some("allow")
    );
}

#[tokio::test]
async fn agent_self_and_status() {
    let (api, _) = start(config().node("node-7".into())).await;
    let me = api.get("/v1/agent/self").await;
    assert_eq!(me.content_type(), Some("application/json"));
    let me = me.json();
    assert_eq!(me["Config"]["NodeName"], "node-7");
    assert_eq!(me["Config"]["NodeID"].as_str().unwrap().len(), 36);
    assert!(me.as_object().unwrap().values().all(|v| v.is_object()));
    assert_eq!(
        api.get("/v1/status/leader").await.json(),
        json!("127.0.0.1:8300")
    );
    assert_eq!(
        api.get("/v1/status/peers").await.json(),
        json!(["127.0.0.1:8300"])
    );
    let sid = api.session("").await;
    let s = api.get(&format!("/v1/session/info/{sid}")).await.json();
    assert_eq!(s[0]["Node"], "node-7");
}

#[tokio::test]
async fn thousands_of_parked_queries_each_wake_on_their_key() {
    let (api, server) = start_server(lockd::LockManager::new(), config()).await;
    const N: usize = 2_000;
    let index = api.get("/v1/kv/p/0").await.index();
    let mut parked = Vec::new();
    for i in 0..N {
        let api = Api::new(api.addr);
        parked.push(tokio::spawn(async move {
            api.get(&format!("/v1/kv/p/{i}?index={index}&wait=300s"))
                .await
        }));
    }
    until_parked(&server, N).await;
    let writer = Api::new(api.addr);
    // Each write wakes exactly its own key's query.
    for i in (0..N).rev() {
        assert!(
            writer
                .put_bool(&format!("/v1/kv/p/{i}"), &format!("v{i}"))
                .await
        );
    }
    for (i, task) in parked.into_iter().enumerate() {
        let r = task.await.unwrap();
        assert_eq!(r.status, 200, "query {i}");
        assert_eq!(r.json()[0]["Key"], format!("p/{i}"));
    }
    assert_eq!(server.stats().parked_queries, 0);
}

#[tokio::test]
async fn a_write_wakes_only_the_queries_that_watch_it() {
    let (api, server) = start_server(lockd::LockManager::new(), config()).await;
    assert!(api.put_bool("/v1/kv/q/held", "x").await);
    let index = api.get("/v1/kv/q/held").await.index();
    let prefix_index = api.get("/v1/kv/q/?recurse").await.index();
    let exact = {
        let api = Api::new(api.addr);
        tokio::spawn(async move { api.get(&format!("/v1/kv/q/held?index={index}")).await })
    };
    let prefix = {
        let api = Api::new(api.addr);
        tokio::spawn(async move {
            api.get(&format!("/v1/kv/q/?recurse&index={prefix_index}"))
                .await
        })
    };
    until_parked(&server, 2).await;
    assert!(api.put_bool("/v1/kv/elsewhere", "y").await);
    assert!(api.put_bool("/v1/kv/q/other", "y").await);
    let woken = prefix.await.unwrap();
    assert!(woken.index() > prefix_index);
    assert_eq!(woken.json().as_array().unwrap().len(), 2);
    assert_eq!(
        server.stats().parked_queries,
        1,
        "the exact query woke for another key"
    );
    assert!(api.put_bool("/v1/kv/q/held", "z").await);
    assert!(exact.await.unwrap().index() > index);
}

/// Raw HTTP/1.1 over one TCP connection: sends `bytes`, reads until `answers` responses have
/// arrived or the server closes; returns everything read.
async fn raw(addr: std::net::SocketAddr, bytes: &[u8], answers: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    while String::from_utf8_lossy(&out).matches("HTTP/1.1 ").count() < answers
        || !complete(&String::from_utf8_lossy(&out))
    {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk))
            .await
            .expect("server silent")
            .unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether the last response in `text` has its whole body.
fn complete(text: &str) -> bool {
    let Some(start) = text.rfind("HTTP/1.1 ") else {
        return false;
    };
    let last = &text[start..];
    let Some((head, body)) = last.split_once("\r\n\r\n") else {
        return false;
    };
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map_or(0, |v| v.trim().parse().unwrap());
    body.len() >= len
}

#[tokio::test]
async fn http_framing_pipelining_chunked_and_expect_continue() {
    let (api, _) = start(config()).await;
    // Two pipelined requests on one connection, answered in order.
    let text = raw(
        api.addr,
        b"PUT /v1/kv/pipe HTTP/1.1\r\nContent-Length: 2\r\n\r\nv1GET /v1/kv/pipe?raw HTTP/1.1\r\n\r\n",
        2,
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nv1"), "{text}");
    // A chunked body, with Expect: 100-continue.
    let text = raw(
        api.addr,
        b"PUT /v1/kv/chunked HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        2,
    )
    .await;
    assert!(
        text.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK"),
        "{text}"
    );
    assert_eq!(api.get("/v1/kv/chunked?raw").await.text(), "abcde");
    // HTTP/1.0 closes after its answer.
    let text = raw(api.addr, b"GET /v1/status/leader HTTP/1.0\r\n\r\n", 1).await;
    assert!(text.contains("Connection: close\r\n"), "{text}");
}

#[tokio::test]
async fn malformed_requests_get_4xx_and_nothing_is_lost() {
    let (api, _) = start(config().kv_max_value_size(10)).await;
    let sid = api.session(r#"{"LockDelay":"0s"}"#).await;
    assert!(
        api.put_bool(&format!("/v1/kv/keep?acquire={sid}"), "held")
            .await
    );
    for (bytes, status) in [
        (b"GARBAGE\x01 / HTTP/1.1\r\n\r\n".as_slice(), "400"),
        (b"PUT /v1/kv/x HTTP/1.1\r\nContent-Length: nope\r\n\r\n", "400"),
        (b"PUT /v1/kv/x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "501"),
        (b"PUT /v1/kv/x HTTP/1.1\r\nContent-Length: 11\r\n\r\n01234567890", "413"),
        (b"PUT /v1/kv/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n01234567890\r\n0\r\n\r\n", "413"),
        (b"PUT /v1/kv/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "400"),
    ] {
        let text = raw(api.addr, bytes, 1).await;
        assert!(text.starts_with(&format!("HTTP/1.1 {status} ")), "{text}");
        assert!(text.contains("Connection: close"), "{text}");
    }
    let big = format!("GET /v1/kv/x HTTP/1.1\r\nX: {}\r\n\r\n", "y".repeat(70_000));
    assert!(
        raw(api.addr, big.as_bytes(), 1)
            .await
            .starts_with("HTTP/1.1 431 ")
    );
    // The held key, its session and the server are all still there.
    let e = api.entry("keep").await.unwrap();
    assert_eq!(e["Session"], sid.as_str());
    assert!(api.entry("x").await.is_none());
}

#[tokio::test]
async fn a_client_that_hangs_up_ends_its_parked_query() {
    use tokio::io::AsyncWriteExt;
    let (api, server) = start_server(lockd::LockManager::new(), config()).await;
    let index = api.get("/v1/kv/gone").await.index();
    let mut s = tokio::net::TcpStream::connect(api.addr).await.unwrap();
    let request = format!("GET /v1/kv/gone?index={index}&wait=10m HTTP/1.1\r\n\r\n");
    s.write_all(request.as_bytes()).await.unwrap();
    until_parked(&server, 1).await;
    drop(s);
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.stats().parked_queries > 0 {
        assert!(
            Instant::now() < deadline,
            "the parked query outlived its client"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
