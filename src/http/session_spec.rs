//! `PUT /v1/session/create` bodies (spec §4.1): case-insensitive field names, Consul's defaults,
//! its quirks (a `LockDelay` below 1 µs counts in seconds) and its error texts.

use std::time::Duration;

use serde_json::Value;

use super::route::Reject;
use crate::duration;

/// What a session is created with, after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSpec {
    pub name: String,
    /// Lock-delay in nanoseconds, as stored (capped at 60 s only when armed).
    pub lock_delay_ns: u64,
    /// `true` for `delete`, `false` for `release`.
    pub delete: bool,
    /// The TTL string as supplied (`""` when none was).
    pub ttl_text: String,
    /// The TTL, if the session has one.
    pub ttl: Option<Duration>,
    /// Whether the session has the `serfHealth` node check.
    pub checks: bool,
    /// The ACL token that made it (`Grant::id`): only it (or an `admin` token) may read,
    /// renew or destroy the session, or acquire and release with it.
    pub owner: Option<usize>,
}

const MAX_TTL_NS: i64 = 24 * 3600 * 1_000_000_000;

/// Parses and validates a create body; an empty body means all defaults.
pub fn parse(body: &[u8], node: &str, ttl_min: Duration) -> Result<SessionSpec, Reject> {
    let mut spec = SessionSpec {
        name: String::new(),
        lock_delay_ns: 15_000_000_000,
        delete: false,
        ttl_text: String::new(),
        ttl: None,
        checks: true,
        owner: None,
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(spec);
    }
    let decode = |detail: String| Reject::new(400, format!("Request decode failed: {detail}"));
    let value: Value = serde_json::from_slice(body).map_err(|e| decode(e.to_string()))?;
    let Value::Object(fields) = value else {
        return Err(decode(format!(
            "json: cannot unmarshal {} into Go value of type structs.SessionRequest",
            kind(&value)
        )));
    };
    let wrong = |field: &str, v: &Value, want: &str| {
        decode(format!(
            "json: cannot unmarshal {} into Go struct field SessionRequest.{field} of type {want}",
            kind(v)
        ))
    };
    let text = |field: &str, v: &Value| -> Result<String, Reject> {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| wrong(field, v, "string"))
    };
    let mut node_given = None;
    let mut behavior = None;
    let mut lock_delay = None;
    let mut ttl = None;
    let mut check_lists: Vec<(&str, &Vec<Value>)> = Vec::new();
    let mut service_checks = None;
    for (key, v) in &fields {
        if v.is_null() {
            continue;
        }
        match key.to_ascii_lowercase().as_str() {
            "name" => spec.name = text("Name", v)?,
            "node" => node_given = Some(text("Node", v)?),
            "behavior" => behavior = Some(text("Behavior", v)?),
            "ttl" => ttl = Some(text("TTL", v)?),
            "lockdelay" => lock_delay = Some(v),
            "checks" | "nodechecks" => match v.as_array() {
                Some(list) => check_lists.push((key, list)),
                None => return Err(wrong("NodeChecks", v, "[]string")),
            },
            "servicechecks" => match v.as_array() {
                Some(list) => service_checks = Some(list),
                None => return Err(wrong("ServiceChecks", v, "[]api.ServiceCheck")),
            },
            "id" | "createindex" | "modifyindex" | "namespace" | "partition" => {}
            _ => return Err(decode(format!("json: unknown field \"{key}\""))),
        }
    }
    if let Some(v) = lock_delay {
        spec.lock_delay_ns = lock_delay_ns(v).map_err(|e| match e {
            Some(detail) => decode(detail),
            None => wrong("LockDelay", v, "time.Duration"),
        })?;
    }
    let server_error = |message: String| Reject::new(500, message);
    if let Some(n) = node_given {
        if !n.is_empty() && !n.eq_ignore_ascii_case(node) {
            return Err(server_error("Missing node registration".into()));
        }
    }
    match behavior.as_deref() {
        None | Some("") | Some("release") => {}
        Some("delete") => spec.delete = true,
        Some(other) => {
            return Err(server_error(format!("Invalid Behavior setting '{other}'")));
        }
    }
    if !check_lists.is_empty() {
        spec.checks = false;
        for (field, list) in check_lists {
            for id in list {
                match id.as_str() {
                    Some("serfHealth") => spec.checks = true,
                    Some(other) => {
                        return Err(server_error(format!(
                            "Missing check '{other}' registration"
                        )));
                    }
                    None => return Err(wrong(field, id, "string")),
                }
            }
        }
    }
    if let Some(first) = service_checks.and_then(|l| l.first()) {
        let id = first
            .as_object()
            .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("id")))
            .and_then(|(_, v)| v.as_str())
            .or(first.as_str())
            .unwrap_or("");
        return Err(server_error(format!("Missing check '{id}' registration")));
    }
    if let Some(t) = ttl {
        let ns = duration::parse(&t)
            .map_err(|e| server_error(format!("Session TTL '{t}' invalid: {e}")))?;
        if ns != 0 {
            let min = ttl_min.as_nanos().min(i64::MAX as u128) as i64;
            if !(min..=MAX_TTL_NS).contains(&ns) {
                return Err(server_error(format!(
                    "Invalid Session TTL '{ns}', must be between [{}={}]",
                    duration::format(min),
                    duration::format(MAX_TTL_NS)
                )));
            }
            spec.ttl = Some(Duration::from_nanos(ns as u64));
        }
        spec.ttl_text = t;
    }
    Ok(spec)
}

/// A `LockDelay` value in nanoseconds: `Err(Some(detail))` for a bad duration string,
/// `Err(None)` for a value of the wrong type.
fn lock_delay_ns(v: &Value) -> Result<u64, Option<String>> {
    let ns: i64 = match v {
        Value::String(s) => duration::parse(s).map_err(Some)?,
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i,
            (None, Some(_), _) => i64::MAX,
            (None, None, Some(f)) => f.trunc().clamp(i64::MIN as f64, i64::MAX as f64) as i64,
            _ => return Err(None),
        },
        _ => return Err(None),
    };
    let ns = ns.max(0) as u64;
    // Consul's quirk: a value below 1 µs was meant in seconds.
    Ok(if ns < 1000 { ns * 1_000_000_000 } else { ns })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A random version-4 UUID in lowercase 8-4-4-4-12 hex.
pub fn new_uuid() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the operating system's random source failed");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(body: &str) -> Result<SessionSpec, Reject> {
        parse(body.as_bytes(), "lockd", Duration::from_secs(10))
    }

    #[test]
    fn defaults_and_lower_case_fields() {
        let d = p("").unwrap();
        assert_eq!(
            (d.lock_delay_ns, d.delete, d.ttl, d.checks),
            (15_000_000_000, false, None, true)
        );
        let s = p(r#"{"lockdelay":"0s","behavior":"delete","ttl":"10s","name":"x"}"#).unwrap();
        assert_eq!(s.lock_delay_ns, 0);
        assert!(s.delete);
        assert_eq!(s.ttl, Some(Duration::from_secs(10)));
        assert_eq!((s.ttl_text.as_str(), s.name.as_str()), ("10s", "x"));
        assert!(p(r#"{"Node":"LOCKD","Checks":null}"#).unwrap().checks);
        assert!(!p(r#"{"Checks":[]}"#).unwrap().checks);
        assert!(
            p(r#"{"NodeChecks":["serfHealth"],"ServiceChecks":[]}"#)
                .unwrap()
                .checks
        );
        assert_eq!(p(r#"{"TTL":"0s"}"#).unwrap().ttl, None);
    }

    #[test]
    fn lock_delay_quirks() {
        let ld = |b: &str| p(b).unwrap().lock_delay_ns;
        assert_eq!(ld(r#"{"LockDelay":5}"#), 5_000_000_000);
        assert_eq!(ld(r#"{"LockDelay":"15000ms"}"#), 15_000_000_000);
        assert_eq!(ld(r#"{"LockDelay":120}"#), 120_000_000_000);
        assert_eq!(ld(r#"{"LockDelay":"500ns"}"#), 500_000_000_000);
        assert_eq!(ld(r#"{"LockDelay":-3}"#), 0);
        assert_eq!(ld(r#"{"LockDelay":2500000000.7}"#), 2_500_000_000);
    }

    #[test]
    fn errors_have_consul_texts() {
        let e = |b: &str| {
            let r = p(b).unwrap_err();
            (r.status, r.message)
        };
        assert_eq!(
            e(r#"{"TTL":"5s"}"#),
            (
                500,
                "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]".into()
            )
        );
        assert_eq!(
            e(r#"{"TTL":"25h"}"#),
            (
                500,
                "Invalid Session TTL '90000000000000', must be between [10s=24h0m0s]".into()
            )
        );
        assert_eq!(
            e(r#"{"TTL":"abc"}"#),
            (
                500,
                "Session TTL 'abc' invalid: time: invalid duration \"abc\"".into()
            )
        );
        assert_eq!(
            e(r#"{"Behavior":"keep"}"#),
            (500, "Invalid Behavior setting 'keep'".into())
        );
        assert_eq!(
            e(r#"{"Node":"other"}"#),
            (500, "Missing node registration".into())
        );
        assert_eq!(
            e(r#"{"Checks":["web"]}"#),
            (500, "Missing check 'web' registration".into())
        );
        assert_eq!(
            e(r#"{"ServiceChecks":[{"ID":"svc"}]}"#),
            (500, "Missing check 'svc' registration".into())
        );
        assert_eq!(
            e(r#"{"Behaviour":"delete"}"#),
            (
                400,
                "Request decode failed: json: unknown field \"Behaviour\"".into()
            )
        );
        assert_eq!(e("{").0, 400);
        assert_eq!(e("[1]").0, 400);
        assert_eq!(e(r#"{"TTL":10}"#).0, 400);
    }

    #[test]
    fn uuids_are_v4_lowercase() {
        let u = new_uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(
            u.chars()
                .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(u, new_uuid());
    }
}
