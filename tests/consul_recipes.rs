//! Re-implementations of the Go `api.Lock` and `api.Semaphore` algorithms (docs/consul-api.md §8.2,
//! §8.3; docs/consul-api.md §12 items 30, 31), run against lockd over real HTTP with 5 contenders each: mutual
//! exclusion holds, the semaphore never exceeds its limit, a monitor notices its session's
//! destruction, and a contender whose session expires frees its slot. Timings are the Go
//! client's except where noted (the 5 s lock-delay retry is shortened to keep the test quick).
#![cfg(feature = "http")]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use support::{Api, config, start};
use tokio::sync::watch;

const LOCK_FLAG: u64 = 0x2ddccbc058a50c18;
const SEMAPHORE_FLAG: u64 = 0xe0f69a2baa414de0;
/// Go waits 5 s after a `false` with no holder (a lock-delay); shortened here.
const RETRY: Duration = Duration::from_millis(100);

fn decode(entry: &Value) -> Vec<u8> {
    entry["Value"]
        .as_str()
        .map(|v| base64::engine::general_purpose::STANDARD.decode(v).unwrap())
        .unwrap_or_default()
}

/// A session with a renewer that renews every TTL/2 and stops on 404, as Go's `RenewPeriodic`.
struct GoSession {
    id: String,
    renewer: Option<tokio::task::JoinHandle<()>>,
}

impl GoSession {
    async fn create(api: &Api, body: Value, ttl: Duration, renew: bool) -> GoSession {
        let id = api.session(&body.to_string()).await;
        let renewer = renew.then(|| {
            let (api, id) = (api.clone(), id.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(ttl / 2).await;
                    if api.put(&format!("/v1/session/renew/{id}"), "").await.status == 404 {
                        return;
                    }
                }
            })
        });
        GoSession { id, renewer }
    }

    async fn destroy(mut self, api: &Api) {
        if let Some(r) = self.renewer.take() {
            r.abort();
        }
        api.put(&format!("/v1/session/destroy/{}", self.id), "")
            .await;
    }
}

/// Go's `api.Lock` on one key.
struct GoLock {
    api: Api,
    key: String,
    value: String,
    session: Option<GoSession>,
}

impl GoLock {
    fn new(api: &Api, key: &str, value: &str) -> GoLock {
        GoLock {
            api: api.clone(),
            key: key.into(),
            value: value.into(),
            session: None,
        }
    }

    /// Blocks until held; returns a receiver that turns `true` when the lock is lost.
    async fn lock(&mut self) -> watch::Receiver<bool> {
        let body = json!({"Name": "Consul API Lock", "TTL": "15s", "LockDelay": "100ms"});
        let session = GoSession::create(&self.api, body, Duration::from_secs(15), true).await;
        let sid = session.id.clone();
        self.session = Some(session);
        let mut index = 0u64;
        loop {
            let path = match index {
                0 => format!("/v1/kv/{}?wait=15000ms", self.key),
                n => format!("/v1/kv/{}?wait=15000ms&index={n}", self.key),
            };
            let r = self.api.get(&path).await;
            if r.status == 200 {
                let e = &r.json()[0];
                assert_eq!(
                    e["Flags"], LOCK_FLAG,
                    "Existing key does not match lock use"
                );
                if e["Session"] == sid.as_str() {
                    break;
                }
                if e.get("Session").is_some() {
                    index = r.index();
                    continue;
                }
            }
            let acquire = format!("/v1/kv/{}?acquire={sid}&flags={LOCK_FLAG}", self.key);
            if self.api.put_bool(&acquire, &self.value).await {
                break;
            }
            // Re-read without an index: a holder means wait; none means a lock-delay.
            index = 0;
            let held = self.api.entry(&self.key).await;
            if held.is_none_or(|e| e.get("Session").is_none()) {
                tokio::time::sleep(RETRY).await;
            }
        }
        self.monitor(sid)
    }

    fn monitor(&self, sid: String) -> watch::Receiver<bool> {
        let (lost, rx) = watch::channel(false);
        let (api, key) = (self.api.clone(), self.key.clone());
        tokio::spawn(async move {
            let mut index = 0;
            loop {
                let r = api
                    .get(&format!("/v1/kv/{key}?consistent=&index={index}"))
                    .await;
                if r.status != 200 || r.json()[0]["Session"] != sid.as_str() {
                    lost.send_replace(true);
                    return;
                }
                index = r.index();
                if lost.is_closed() {
                    return;
                }
            }
        });
        rx
    }

    async fn unlock(&mut self) {
        let session = self.session.take().expect("locked");
        let release = format!(
            "/v1/kv/{}?release={}&flags={LOCK_FLAG}",
            self.key, session.id
        );
        assert!(self.api.put_bool(&release, &self.value).await);
        session.destroy(&self.api).await;
    }

    /// Go's `Lock.Destroy`: deletes the key when nobody holds it.
    async fn destroy(&self) -> Result<(), &'static str> {
        let Some(e) = self.api.entry(&self.key).await else {
            return Ok(());
        };
        if e["Flags"] != LOCK_FLAG {
            return Err("Existing key does not match lock use");
        }
        if e.get("Session").is_some() {
            return Err("Lock in use");
        }
        let cas = e["ModifyIndex"].as_u64().unwrap();
        let r = self
            .api
            .delete(&format!("/v1/kv/{}?cas={cas}", self.key))
            .await;
        if r.json() == json!(true) {
            Ok(())
        } else {
            Err("Lock in use")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_lock_keeps_mutual_exclusion_among_five_contenders() {
    let (api, mgr) = start(config()).await;
    let inside = Arc::new(AtomicUsize::new(0));
    let entries = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for c in 0..5 {
        let (api, inside, entries) = (Api::new(api.addr), inside.clone(), entries.clone());
        tasks.push(tokio::spawn(async move {
            for round in 0..3 {
                let mut lock = GoLock::new(&api, "service/leader", &format!("c{c} r{round}"));
                let lost = lock.lock().await;
                assert_eq!(
                    inside.fetch_add(1, Ordering::SeqCst),
                    0,
                    "two holders at once"
                );
                entries.fetch_add(1, Ordering::SeqCst);
                let e = api.entry("service/leader").await.unwrap();
                assert_eq!(decode(&e), format!("c{c} r{round}").as_bytes());
                tokio::time::sleep(Duration::from_millis(10)).await;
                assert!(!*lost.borrow(), "lost the lock while holding it");
                inside.fetch_sub(1, Ordering::SeqCst);
                lock.unlock().await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(entries.load(Ordering::SeqCst), 15);
    // Unlock then Destroy deletes the key via CAS; the core lock is free.
    let lock = GoLock::new(&api, "service/leader", "");
    assert_eq!(lock.destroy().await, Ok(()));
    assert!(api.entry("service/leader").await.is_none());
    assert!(!mgr.inspect("service/leader"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_lock_monitor_notices_a_destroyed_session() {
    let (api, _) = start(config()).await;
    let mut holder = GoLock::new(&api, "m/lock", "x");
    let mut lost = holder.lock().await;
    assert_eq!(holder.destroy().await, Err("Lock in use"));
    let sid = holder.session.as_ref().unwrap().id.clone();
    api.put(&format!("/v1/session/destroy/{sid}"), "").await;
    tokio::time::timeout(Duration::from_secs(10), lost.wait_for(|l| *l))
        .await
        .expect("the monitor did not notice")
        .unwrap();
    // Another contender gets it after the 100 ms lock-delay.
    let mut next = GoLock::new(&api, "m/lock", "y");
    let _lost = next.lock().await;
    next.unlock().await;
}

/// Go's `api.Semaphore` under one prefix.
struct GoSemaphore {
    api: Api,
    prefix: String,
    limit: usize,
    session: Option<GoSession>,
}

/// The `.lock` document and its ModifyIndex (0 when absent), with holders pruned to the
/// sessions of the listed contender entries.
fn read_lock(listing: &Value, prefix: &str, limit: usize) -> (BTreeMap<String, bool>, u64) {
    let entries = listing.as_array().cloned().unwrap_or_default();
    let live: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["Session"].as_str())
        .collect();
    let lock_key = format!("{prefix}/.lock");
    let Some(doc) = entries.iter().find(|e| e["Key"] == lock_key.as_str()) else {
        return (BTreeMap::new(), 0);
    };
    let parsed: Value = serde_json::from_slice(&decode(doc)).unwrap();
    assert_eq!(parsed["Limit"], limit, "semaphore limit conflict");
    assert_eq!(doc["Flags"], SEMAPHORE_FLAG);
    let holders = parsed["Holders"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|h| live.contains(&h.as_str()))
        .map(|h| (h.clone(), true))
        .collect();
    (holders, doc["ModifyIndex"].as_u64().unwrap())
}

impl GoSemaphore {
    fn new(api: &Api, prefix: &str, limit: usize) -> GoSemaphore {
        GoSemaphore {
            api: api.clone(),
            prefix: prefix.into(),
            limit,
            session: None,
        }
    }

    fn cas_body(&self, holders: &BTreeMap<String, bool>) -> String {
        json!({"Limit": self.limit, "Holders": holders}).to_string()
    }

    /// Blocks until a slot is held. `ttl`/`renew` choose the session's TTL and whether it is
    /// renewed (a contender that never renews expires, as a crashed one does).
    async fn acquire(&mut self, ttl: &str, renew: bool) {
        let body = json!({"Name": "Consul API Semaphore", "TTL": ttl, "Behavior": "delete"});
        let ttl_dur = lockd::http::parse_duration(ttl).unwrap();
        let session = GoSession::create(&self.api, body, ttl_dur, renew).await;
        let sid = session.id.clone();
        self.session = Some(session);
        let contender = format!(
            "/v1/kv/{}/{sid}?acquire={sid}&flags={SEMAPHORE_FLAG}",
            self.prefix
        );
        assert!(
            self.api.put_bool(&contender, "").await,
            "contender entry refused"
        );
        let mut index = 0;
        loop {
            let r = self
                .api
                .get(&format!(
                    "/v1/kv/{}?recurse=&wait=15000ms&index={index}",
                    self.prefix
                ))
                .await;
            let listing = if r.status == 200 { r.json() } else { json!([]) };
            let (mut holders, modify) = read_lock(&listing, &self.prefix, self.limit);
            if holders.len() >= self.limit {
                index = r.index();
                continue;
            }
            holders.insert(sid.clone(), true);
            let cas = format!(
                "/v1/kv/{}/.lock?cas={modify}&flags={SEMAPHORE_FLAG}",
                self.prefix
            );
            if self.api.put_bool(&cas, &self.cas_body(&holders)).await {
                return;
            }
            index = 0;
        }
    }

    async fn release(&mut self) {
        let session = self.session.take().expect("acquired");
        loop {
            let r = self
                .api
                .get(&format!("/v1/kv/{}?recurse=", self.prefix))
                .await;
            let (mut holders, modify) = read_lock(&r.json(), &self.prefix, self.limit);
            holders.remove(&session.id);
            let cas = format!(
                "/v1/kv/{}/.lock?cas={modify}&flags={SEMAPHORE_FLAG}",
                self.prefix
            );
            if self.api.put_bool(&cas, &self.cas_body(&holders)).await {
                break;
            }
        }
        self.api
            .delete(&format!("/v1/kv/{}/{}", self.prefix, session.id))
            .await;
        session.destroy(&self.api).await;
    }

    /// Live holders right now, per the `.lock` document.
    async fn live_holders(api: &Api, prefix: &str, limit: usize) -> usize {
        let r = api.get(&format!("/v1/kv/{prefix}?recurse=")).await;
        if r.status != 200 {
            return 0;
        }
        read_lock(&r.json(), prefix, limit).0.len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_semaphore_never_exceeds_its_limit_with_five_contenders() {
    let (api, _) = start(config()).await;
    let inside = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let (api, inside, peak) = (Api::new(api.addr), inside.clone(), peak.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..3 {
                let mut sem = GoSemaphore::new(&api, "service/workers", 2);
                sem.acquire("15s", true).await;
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                assert!(now <= 2, "{now} holders of a 2-slot semaphore");
                assert!(GoSemaphore::live_holders(&api, "service/workers", 2).await <= 2);
                tokio::time::sleep(Duration::from_millis(10)).await;
                inside.fetch_sub(1, Ordering::SeqCst);
                sem.release().await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        peak.load(Ordering::SeqCst),
        2,
        "the slots were never both used"
    );
    // Destroy: no live holders left, so the .lock document can be deleted by CAS.
    let r = api.get("/v1/kv/service/workers?recurse=").await;
    let (holders, modify) = read_lock(&r.json(), "service/workers", 2);
    assert!(holders.is_empty());
    let r = api
        .delete(&format!("/v1/kv/service/workers/.lock?cas={modify}"))
        .await;
    assert_eq!(r.json(), json!(true));
    assert_eq!(api.get("/v1/kv/service/workers?recurse").await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_semaphore_contender_frees_its_slot() {
    let (api, _) = start(config()).await;
    // A contender that crashes while holding a slot: its session is never renewed.
    let mut crashed = GoSemaphore::new(&api, "jobs", 2);
    crashed.acquire("200ms", false).await;
    let mut steady = GoSemaphore::new(&api, "jobs", 2);
    steady.acquire("15s", true).await;
    assert_eq!(GoSemaphore::live_holders(&api, "jobs", 2).await, 2);
    // Three more contend for the one slot the crashed contender's expiry frees.
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let api = Api::new(api.addr);
        tasks.push(tokio::spawn(async move {
            let mut sem = GoSemaphore::new(&api, "jobs", 2);
            sem.acquire("15s", true).await;
            assert!(GoSemaphore::live_holders(&api, "jobs", 2).await <= 2);
            sem.release().await;
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(30), t)
            .await
            .expect("the expired contender's slot was never freed")
            .unwrap();
    }
    let crashed_id = crashed.session.as_ref().unwrap().id.clone();
    assert_eq!(
        api.get(&format!("/v1/session/info/{crashed_id}"))
            .await
            .json(),
        json!([])
    );
    assert!(
        api.entry(&format!("jobs/{crashed_id}")).await.is_none(),
        "delete behaviour"
    );
    steady.release().await;
}
