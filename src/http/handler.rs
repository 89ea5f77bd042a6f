//! One request, start to end: the ACL check (made on the head alone, before any of the body
//! is read), routing, parameter checks, the body limits, the store call, blocking waits, and
//! the answer (spec §1–§7).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::HttpConfig;
use super::head::Head;
use super::kv::{GetKind, KvAnswer, PutOp};
use super::response::Answer;
use super::route::{Endpoint, Method, Query, Reject, Routed, route};
use super::session_spec;
use super::sessions::SessionFilter;
use super::store::{Indexes, Store};
use crate::acl::{Grant, Permission};
use crate::duration;

/// What every connection of one HTTP server shares.
pub(crate) struct Shared {
    pub store: Arc<Store>,
    /// Blocking queries parked right now.
    pub parked: AtomicUsize,
    /// Open connections.
    pub connections: AtomicUsize,
    pub config: HttpConfig,
    /// `Config.NodeID` of `/v1/agent/self`, made at start.
    pub node_id: String,
}

/// One request's parts that the handlers read.
pub(crate) struct Call<'a> {
    pub method: Method,
    pub query: &'a Query,
    /// The listener's address, for `/v1/status/leader`.
    pub local: SocketAddr,
    /// Notified when the client has gone: a blocking wait ends then, answering at once.
    pub gone: &'a Notify,
    /// The request's ACL token (`HttpConfig::acl`): listings leave out what it does not cover.
    pub grant: Option<&'a Grant>,
}

/// Whether an ACL token may call `endpoint` (KV keys are lock names; see `HttpConfig::acl`).
fn permitted(grant: &Grant, method: &Method, endpoint: &Endpoint, q: &Query) -> bool {
    match endpoint {
        Endpoint::Kv(key) => match method {
            // A listing needs `read` on its prefix (its index would otherwise tell of keys the
            // token cannot see); what it shows is filtered all the same.
            Method::Get if q.has("recurse") || q.has("keys") => {
                grant.permits(Permission::Read, key.as_bytes())
            }
            Method::Get => grant.permits(Permission::Read, key.as_bytes()),
            Method::Put | Method::Delete => grant.permits(Permission::Lock, key.as_bytes()),
        },
        Endpoint::SessionCreate | Endpoint::SessionDestroy(_) | Endpoint::SessionRenew(_) => {
            grant.allows(Permission::Lock)
        }
        Endpoint::SessionInfo(_) | Endpoint::SessionNode(_) | Endpoint::SessionList => {
            grant.allows(Permission::Read)
        }
        Endpoint::AgentSelf | Endpoint::StatusLeader | Endpoint::StatusPeers => true,
    }
}

impl Shared {
    /// The ACL check, on the head alone: `Err` is the 403 to answer instead of reading the
    /// request's body; `Ok(Some)` the ACL token the request carries, whose permissions the
    /// endpoint checks.
    pub fn admit(&self, head: &Head) -> Result<Option<Grant>, Answer> {
        let query = Query::parse(head.query());
        let given = token(&query, head).unwrap_or("");
        let denied = || {
            tracing::debug!(method = %head.method, path = head.path(), "http request denied: ACL token");
            Err(Answer::text(403, "Permission denied"))
        };
        if let Some(acl) = &self.config.acl {
            let Some(grant) = acl.authenticate(None, given.as_bytes()) else {
                return denied();
            };
            return match route(&head.method, head.path()) {
                Ok(Routed::Call(method, endpoint))
                    if !permitted(grant, &method, &endpoint, &query) =>
                {
                    denied()
                }
                _ => Ok(Some(grant.clone())),
            };
        }
        let Some(expected) = &self.config.token else {
            return Ok(None);
        };
        if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            Ok(None)
        } else {
            denied()
        }
    }

    /// Answers one admitted request ([`admit`](Self::admit)) whose body has been read. A
    /// blocking query ends its wait early, with the current answer, once `gone` is notified.
    pub async fn handle(
        &self,
        head: &Head,
        body: Vec<u8>,
        local: SocketAddr,
        gone: &Notify,
        grant: Option<&Grant>,
    ) -> Answer {
        let query = Query::parse(head.query());
        tracing::debug!(method = %head.method, path = head.path(), query = %query.redacted(), "http request");
        let (method, endpoint) = match route(&head.method, head.path()) {
            Ok(Routed::Call(m, e)) => (m, e),
            Ok(Routed::Options(allow)) => return Answer::empty(200).header("Allow", allow),
            Err(reject) => return reject.into(),
        };
        if let Some(dc) = query.value("dc") {
            if dc != self.config.datacenter {
                return Answer::text(500, "No path to datacenter");
            }
        }
        let call = Call {
            method,
            query: &query,
            local,
            gone,
            grant,
        };
        match self.dispatch(&call, endpoint, body).await {
            Ok(answer) | Err(answer) => answer,
        }
    }

    /// The body limit of a request: KV PUTs get `kv_max_value_size`, everything else
    /// `max_body_size`; `true` marks the KV limit (its 413 text differs).
    pub fn body_limit(&self, head: &Head) -> (usize, bool) {
        if head.method == "PUT" && head.path().starts_with("/v1/kv/") {
            (self.config.kv_max_value_size, true)
        } else {
            (self.config.max_body_size, false)
        }
    }

    /// The 413 answer for a body of `n` bytes (declared or read so far) over `limit`.
    pub fn too_large(&self, n: u64, limit: usize, kv: bool) -> Answer {
        if kv {
            Answer::text(
                413,
                format!("Request body({n} bytes) too large, max size: {limit} bytes."),
            )
        } else {
            Answer::text(413, "Request body too large")
        }
    }

    async fn dispatch(
        &self,
        call: &Call<'_>,
        endpoint: Endpoint,
        body: Vec<u8>,
    ) -> Result<Answer, Answer> {
        let q = call.query;
        let pretty = q.has("pretty");
        let store = &self.store;
        // Sessions belong to the ACL token that made them: other tokens (but `admin` ones)
        // cannot read, renew or destroy them, lock or unlock with them, or delete their keys.
        if !self.owned(call, &endpoint) {
            tracing::debug!(?endpoint, "http request denied: another token's session");
            return Err(Answer::text(403, "Permission denied"));
        }
        Ok(match endpoint {
            Endpoint::Kv(key) => match call.method {
                Method::Get => self.kv_get(q, &key, call.gone, call.grant).await?,
                Method::Put => self.kv_put(call, &key, body)?,
                Method::Delete => self.kv_delete(q, &key)?,
            },
            Endpoint::SessionCreate => {
                let mut spec =
                    session_spec::parse(&body, &self.config.node, self.config.session_ttl_min)?;
                spec.owner = call.grant.map(Grant::id);
                let id = store.create_session(spec);
                Answer::json(&serde_json::json!({ "ID": id }), pretty)
            }
            Endpoint::SessionDestroy(id) => {
                store.destroy_session(&id);
                Answer::json(&true, pretty)
            }
            Endpoint::SessionRenew(id) => match store.renew_session(&id) {
                Some(view) => Answer::json(&[view], pretty),
                None => Answer::text(404, format!("Session id '{id}' not found")),
            },
            Endpoint::SessionInfo(id) => self.session_read(call, SessionFilter::One(&id)).await?,
            Endpoint::SessionNode(node) => {
                self.session_read(call, SessionFilter::Node(&node)).await?
            }
            Endpoint::SessionList => self.session_read(call, SessionFilter::All).await?,
            Endpoint::AgentSelf => Answer::json(&self.agent_self(call.local), pretty),
            Endpoint::StatusLeader => Answer::json(&server_addr(call.local), pretty),
            Endpoint::StatusPeers => Answer::json(&[server_addr(call.local)], pretty),
        })
    }

    /// Whether the request's token may use the sessions `endpoint` names (see `dispatch`).
    fn owned(&self, call: &Call<'_>, endpoint: &Endpoint) -> bool {
        let Some(grant) = call.grant.filter(|g| !g.allows(Permission::Admin)) else {
            return true;
        };
        // An unknown session passes: the endpoint answers as for any unknown session.
        let mine = |sid: &str| {
            self.store
                .session_owner(sid)
                .is_none_or(|owner| owner == Some(grant.id()))
        };
        let q = call.query;
        match endpoint {
            Endpoint::SessionDestroy(id)
            | Endpoint::SessionRenew(id)
            | Endpoint::SessionInfo(id) => mine(id),
            Endpoint::Kv(_) if call.method == Method::Put => [q.get("acquire"), q.get("release")]
                .into_iter()
                .flatten()
                .all(mine),
            Endpoint::Kv(key) if call.method == Method::Delete => self
                .store
                .holders_of(key, q.has("recurse"))
                .iter()
                .all(|sid| mine(sid)),
            _ => true,
        }
    }

    async fn kv_get(
        &self,
        q: &Query,
        key: &str,
        gone: &Notify,
        grant: Option<&Grant>,
    ) -> Result<Answer, Reject> {
        let consistency = consistency(q)?;
        let kind = if q.has("keys") {
            let separator = q.get("separator").or(q.get("seperator"));
            GetKind::Keys(separator.map(str::to_owned))
        } else if q.has("recurse") {
            GetKind::Recurse
        } else if q.has("raw") {
            GetKind::Raw
        } else {
            GetKind::Single
        };
        if key.is_empty() && matches!(kind, GetKind::Single | GetKind::Raw) {
            return Err(Reject::new(400, "Missing key name"));
        }
        if let Some((min, deadline)) = self.blocking(q)? {
            let store = &self.store;
            let prefix = matches!(kind, GetKind::Recurse | GetKind::Keys(_));
            let mut watch = store.watch_key(key, prefix);
            let _parked = Parked::new(&self.parked);
            wait_for_change(&mut watch.changed, min, deadline, gone, || {
                store.kv_indexes(key, &kind)
            })
            .await;
        }
        let (indexes, mut answer) = self.store.kv_get(key, &kind);
        if let Some(grant) = grant {
            // Keys the token does not cover are left out, as if they did not exist.
            let covered = |k: &str| grant.covers(k.as_bytes());
            answer = match answer {
                Some(KvAnswer::Entries(mut e)) => {
                    e.retain(|e| covered(&e.key));
                    (!e.is_empty()).then_some(KvAnswer::Entries(e))
                }
                Some(KvAnswer::Keys(mut k)) => {
                    k.retain(|k| covered(k));
                    (!k.is_empty() || key.is_empty()).then_some(KvAnswer::Keys(k))
                }
                other => other,
            };
        }
        let pretty = q.has("pretty");
        let answer = match answer {
            None => Answer::empty(404),
            Some(KvAnswer::Entries(entries)) => Answer::json(&entries, pretty),
            Some(KvAnswer::Keys(keys)) => Answer::json(&keys, pretty),
            Some(KvAnswer::Raw(value)) => Answer {
                status: 200,
                body: value,
                content_type: Some("text/plain"),
                headers: Vec::new(),
            }
            .header("X-Content-Type-Options", "nosniff")
            .header("Content-Security-Policy", "sandbox"),
        };
        Ok(answer.read_headers(indexes, consistency))
    }

    fn kv_put(&self, call: &Call<'_>, key: &str, body: Vec<u8>) -> Result<Answer, Answer> {
        let q = call.query;
        if key.is_empty() {
            return Err(Reject::new(400, "Missing key name").into());
        }
        let ops = ["cas", "acquire", "release"]
            .iter()
            .filter(|p| q.has(p))
            .count();
        if ops > 1 {
            return Err(conflicting(q).into());
        }
        let flags = number(q, "flags", "Invalid flags")?.unwrap_or(0);
        let op = if let Some(cas) = number(q, "cas", "Invalid cas")? {
            PutOp::Cas(cas)
        } else if let Some(sid) = q.get("acquire") {
            PutOp::Acquire(sid.to_owned())
        } else if let Some(sid) = q.get("release") {
            PutOp::Release(sid.to_owned())
        } else {
            PutOp::Plain
        };
        let done = self.store.kv_put(key, body, flags, op)?;
        Ok(Answer::json(&done, q.has("pretty")))
    }

    fn kv_delete(&self, q: &Query, key: &str) -> Result<Answer, Reject> {
        let recurse = q.has("recurse");
        if key.is_empty() && !recurse {
            return Err(Reject::new(400, "Missing key name"));
        }
        if recurse && q.has("cas") {
            return Err(conflicting(q));
        }
        let cas = number(q, "cas", "Invalid cas")?;
        let done = self.store.kv_delete(key, recurse, cas);
        Ok(Answer::json(&done, q.has("pretty")))
    }

    async fn session_read(
        &self,
        call: &Call<'_>,
        filter: SessionFilter<'_>,
    ) -> Result<Answer, Reject> {
        let q = call.query;
        let consistency = consistency(q)?;
        if let Some((min, deadline)) = self.blocking(q)? {
            let store = &self.store;
            let mut changed = store.watch_sessions();
            let _parked = Parked::new(&self.parked);
            wait_for_change(&mut changed, min, deadline, call.gone, || {
                store.sessions_indexes(&store.lock())
            })
            .await;
        }
        let (indexes, mut views) = self.store.sessions(filter);
        if let Some(grant) = call.grant.filter(|g| !g.allows(Permission::Admin)) {
            // Only its own sessions: others' ids and names are not its business.
            views.retain(|v| self.store.session_owner(&v.id) == Some(Some(grant.id())));
        }
        Ok(Answer::json(&views, q.has("pretty")).read_headers(indexes, consistency))
    }

    /// `index` and `wait` (§6): `Some((index, deadline))` when the read should block.
    fn blocking(&self, q: &Query) -> Result<Option<(u64, Instant)>, Reject> {
        let index = match q.value("index") {
            None => return Ok(None),
            Some(v) => v
                .parse::<u64>()
                .map_err(|_| Reject::new(400, "Invalid index"))?,
        };
        let wait = match q.value("wait") {
            None => self.config.default_query_time,
            Some(v) => match duration::parse(v) {
                Ok(ns) if ns >= 0 => Duration::from_nanos(ns as u64),
                _ => return Err(Reject::new(400, "Invalid wait time")),
            },
        };
        if index == 0 {
            return Ok(None);
        }
        let wait = wait.min(self.config.max_query_time);
        let wait = if wait.is_zero() {
            self.config.default_query_time
        } else {
            wait
        };
        // Saturating: a `max_query_time` near `Duration::MAX` must not overflow the clock.
        let wait = wait.saturating_add(jitter(wait / 16));
        let now = Instant::now();
        let deadline = now
            .checked_add(wait)
            .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400));
        Ok(Some((index, deadline)))
    }

    fn agent_self(&self, local: SocketAddr) -> serde_json::Value {
        let c = &self.config;
        serde_json::json!({
            "Config": {
                "Datacenter": c.datacenter,
                "NodeName": c.node,
                "NodeID": self.node_id,
                "Server": true,
                "Revision": "lockd",
                "Version": "1.22.0",
            },
            "Member": {
                "Name": c.node,
                "Addr": leader_ip(local),
                "Port": 8301,
                "Tags": { "dc": c.datacenter, "role": "consul" },
                "Status": 1,
            },
        })
    }
}

/// Parks until the watched index passes `min` (or `min` is above the global index, as after a
/// restart), the deadline passes, or the client goes (`gone`). Costs no CPU while parked: it
/// sleeps on its change signal (subscribed before the first check, so no change is missed),
/// one timer and `gone`.
async fn wait_for_change(
    changed: &mut tokio::sync::watch::Receiver<()>,
    min: u64,
    deadline: Instant,
    gone: &Notify,
    current: impl Fn() -> Indexes,
) {
    loop {
        let now = current();
        if now.index > min || min > now.global {
            return;
        }
        tokio::select! {
            result = changed.changed() => if result.is_err() { return },
            _ = tokio::time::sleep_until(deadline) => return,
            _ = gone.notified() => return,
        }
    }
}

/// Counts a blocking query as parked while it lives.
struct Parked<'a>(&'a AtomicUsize);

impl<'a> Parked<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Parked(count)
    }
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The consistency mode a read reports; `stale` with `consistent` is an error.
fn consistency(q: &Query) -> Result<&'static str, Reject> {
    match (q.has("consistent"), q.has("stale")) {
        (true, true) => Err(Reject::new(
            400,
            "Cannot specify ?stale with ?consistent, conflicting semantics.",
        )),
        (true, false) => Ok("consistent"),
        (false, true) => Ok("stale"),
        (false, false) => Ok("leader"),
    }
}

fn conflicting(q: &Query) -> Reject {
    Reject::new(400, format!("Conflicting flags: {}\n", q.encode()))
}

/// A u64 parameter: absent or empty is `None`; anything else must parse.
fn number(q: &Query, name: &str, error: &str) -> Result<Option<u64>, Reject> {
    q.value(name)
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| Reject::new(400, format!("{error}: {v}")))
        })
        .transpose()
}

/// The request's token: `?token=`, then `X-Consul-Token`, then `Authorization: Bearer`.
fn token<'a>(q: &'a Query, head: &'a Head) -> Option<&'a str> {
    q.value("token")
        .or_else(|| head.consul_token.as_deref().filter(|v| !v.is_empty()))
        .or_else(|| {
            let (scheme, rest) = head.authorization.as_deref()?.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim())
                .filter(|t| !t.is_empty())
        })
}

/// Compares without an early exit, so timing does not tell how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
    for (i, y) in b.iter().enumerate() {
        let x = a.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    diff == 0
}

/// A random duration in `[0, max)`.
fn jitter(max: Duration) -> Duration {
    let nanos = max.as_nanos() as u64;
    if nanos == 0 {
        return Duration::ZERO;
    }
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    Duration::from_nanos(u64::from_le_bytes(b) % nanos)
}

fn leader_ip(local: SocketAddr) -> String {
    if local.ip().is_unspecified() {
        "127.0.0.1".into()
    } else {
        local.ip().to_string()
    }
}

fn server_addr(local: SocketAddr) -> String {
    match local.ip() {
        std::net::IpAddr::V6(ip) if !ip.is_unspecified() => format!("[{ip}]:8300"),
        _ => format!("{}:8300", leader_ip(local)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abd", b"abc"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"abcd", b"abc"));
        assert!(!constant_time_eq(b"", b"abc"));
    }

    #[test]
    fn tokens_come_from_query_header_or_bearer() {
        let mut h = Head::default();
        assert_eq!(token(&Query::parse("token=q"), &h), Some("q"));
        h.authorization = Some("bearer b".into());
        assert_eq!(token(&Query::parse(""), &h), Some("b"));
        h.consul_token = Some("x".into());
        assert_eq!(token(&Query::parse("token="), &h), Some("x"));
    }

    #[test]
    fn jitter_stays_below_its_bound() {
        for _ in 0..100 {
            assert!(jitter(Duration::from_millis(10)) < Duration::from_millis(10));
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }
}
