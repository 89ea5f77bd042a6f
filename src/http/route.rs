//! Routing and decoding of one HTTP request line (spec §1.2, §1.3): method + raw path + raw
//! query → an [`Endpoint`] with its decoded key or id and the form-decoded [`Query`], or the
//! Consul error for it. Pure functions with no I/O, fuzzed by `fuzz/fuzz_targets/http_route.rs`.

use std::fmt;

/// The methods the API serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Put,
    Delete,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// A recognised endpoint, with its decoded path argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Kv(String),
    SessionCreate,
    SessionDestroy(String),
    SessionRenew(String),
    SessionInfo(String),
    SessionNode(String),
    SessionList,
    AgentSelf,
    StatusLeader,
    StatusPeers,
}

/// A routed request: what to do, before any body is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed {
    /// Serve `endpoint` with `method`.
    Call(Method, Endpoint),
    /// `OPTIONS`: 200 with this `Allow` header and no body.
    Options(&'static str),
}

/// An answer that ends a request early: a status, its plain-text body, and for 405 the `Allow`
/// header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub status: u16,
    pub message: String,
    pub allow: Option<&'static str>,
}

impl Reject {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Reject {
            status,
            message: message.into(),
            allow: None,
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

const KV_METHODS: &str = "OPTIONS,GET,PUT,DELETE";
const GET_ONLY: &str = "OPTIONS,GET";
const PUT_ONLY: &str = "OPTIONS,PUT";

/// Routes on the literal path prefix, then percent-decodes the remainder as a whole (so `%2F`
/// is a `/` inside a key; `+` stays `+`).
pub fn route(method: &str, raw_path: &str) -> Result<Routed, Reject> {
    type Make = fn(String) -> Endpoint;
    // (prefix, takes a remainder, methods, constructor, message when the remainder is empty)
    let table: &[(&str, bool, &'static str, Make, &str)] = &[
        ("/v1/kv/", true, KV_METHODS, Endpoint::Kv, ""),
        (
            "/v1/session/create",
            false,
            PUT_ONLY,
            |_| Endpoint::SessionCreate,
            "",
        ),
        (
            "/v1/session/destroy/",
            true,
            PUT_ONLY,
            Endpoint::SessionDestroy,
            "Missing session",
        ),
        (
            "/v1/session/renew/",
            true,
            PUT_ONLY,
            Endpoint::SessionRenew,
            "Missing session",
        ),
        (
            "/v1/session/info/",
            true,
            GET_ONLY,
            Endpoint::SessionInfo,
            "Missing session",
        ),
        (
            "/v1/session/node/",
            true,
            GET_ONLY,
            Endpoint::SessionNode,
            "Missing node name",
        ),
        (
            "/v1/session/list",
            false,
            GET_ONLY,
            |_| Endpoint::SessionList,
            "",
        ),
        (
            "/v1/agent/self",
            false,
            GET_ONLY,
            |_| Endpoint::AgentSelf,
            "",
        ),
        (
            "/v1/status/leader",
            false,
            GET_ONLY,
            |_| Endpoint::StatusLeader,
            "",
        ),
        (
            "/v1/status/peers",
            false,
            GET_ONLY,
            |_| Endpoint::StatusPeers,
            "",
        ),
    ];
    let found = table.iter().find_map(|row| {
        let rest = raw_path.strip_prefix(row.0)?;
        (row.1 || rest.is_empty()).then_some((row, rest))
    });
    let Some(((_, _, allow, make, missing), rest)) = found else {
        let message = if raw_path.contains("/v1/") {
            "Invalid URL path: not a recognized HTTP API endpoint\n"
        } else {
            "Invalid URL path: if attempting to use the HTTP API, ensure the path starts with '/v1/'\n"
        };
        return Err(Reject::new(404, message));
    };
    let method = match method {
        "OPTIONS" => return Ok(Routed::Options(allow)),
        "GET" => Method::Get,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        other => return Err(not_allowed(other, allow)),
    };
    if !allow.split(',').any(|m| m == method.name()) {
        return Err(not_allowed(method.name(), allow));
    }
    let bytes = percent_decode(rest.as_bytes(), false).ok_or_else(|| {
        Reject::new(
            400,
            format!("Invalid URL path: malformed percent-escape in {rest:?}"),
        )
    })?;
    let arg =
        String::from_utf8(bytes).map_err(|_| Reject::new(400, "Invalid key: not valid UTF-8"))?;
    if arg.is_empty() && !missing.is_empty() {
        return Err(Reject::new(400, *missing));
    }
    Ok(Routed::Call(method, make(arg)))
}

fn not_allowed(method: &str, allow: &'static str) -> Reject {
    // The method is echoed; keep it printable and short.
    let shown: String = method
        .chars()
        .filter(|c| !c.is_control())
        .take(32)
        .collect();
    Reject {
        status: 405,
        message: format!("method {shown} not allowed"),
        allow: Some(allow),
    }
}

/// Decodes `%XX` escapes (and, for form values, `+` as a space). `None` on a malformed escape.
pub fn percent_decode(input: &[u8], plus_is_space: bool) -> Option<Vec<u8>> {
    let hex = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'%' => {
                let hi = hex(*input.get(i + 1)?)?;
                let lo = hex(*input.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

/// The form-decoded query string, in order; lookups return the first value of a name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses a raw query string as Go's `url.ParseQuery` does: `&`-separated `name=value`
    /// pairs, form-decoded; a pair with a malformed escape is dropped.
    pub fn parse(raw: &str) -> Query {
        let pairs = raw
            .split('&')
            .filter(|p| !p.is_empty())
            .filter_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let k = percent_decode(k.as_bytes(), true)?;
                let v = percent_decode(v.as_bytes(), true)?;
                Some((
                    String::from_utf8_lossy(&k).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                ))
            })
            .collect();
        Query { pairs }
    }

    /// The first value of `name`, if present (possibly empty).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name` when present and non-empty.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// Whether the presence flag `name` is set (its value never matters: `recurse=false` sets
    /// it).
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The query re-encoded as Go's `url.Values.Encode`: names sorted, values in order.
    pub fn encode(&self) -> String {
        let mut sorted: Vec<&(String, String)> = self.pairs.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let parts: Vec<String> = sorted
            .iter()
            .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
            .collect();
        parts.join("&")
    }

    /// The query as logged: with any `token` value redacted.
    pub fn redacted(&self) -> String {
        let pairs = self
            .pairs
            .iter()
            .map(|(k, v)| {
                let v = if k == "token" { "<hidden>" } else { v.as_str() };
                (k.clone(), v.to_string())
            })
            .collect();
        Query { pairs }.encode()
    }
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(method: &str, path: &str) -> Endpoint {
        match route(method, path) {
            Ok(Routed::Call(_, e)) => e,
            other => panic!("{method} {path}: {other:?}"),
        }
    }

    #[test]
    fn keys_are_decoded_as_a_whole() {
        assert_eq!(
            call("PUT", "/v1/kv/a%2Fb%2Fc"),
            Endpoint::Kv("a/b/c".into())
        );
        assert_eq!(call("GET", "/v1/kv/a+b"), Endpoint::Kv("a+b".into()));
        assert_eq!(call("GET", "/v1/kv/"), Endpoint::Kv("".into()));
        assert_eq!(
            call("GET", "/v1/session/info/ABC"),
            Endpoint::SessionInfo("ABC".into())
        );
        assert_eq!(route("GET", "/v1/kv/%zz").unwrap_err().status, 400);
        assert_eq!(
            route("GET", "/v1/kv/%ff").unwrap_err().message,
            "Invalid key: not valid UTF-8"
        );
    }

    #[test]
    fn methods_and_unknown_paths() {
        let r = route("POST", "/v1/kv/x").unwrap_err();
        assert_eq!(
            (r.status, r.message.as_str()),
            (405, "method POST not allowed")
        );
        assert_eq!(r.allow, Some("OPTIONS,GET,PUT,DELETE"));
        assert_eq!(route("GET", "/v1/session/create").unwrap_err().status, 405);
        assert_eq!(
            route("OPTIONS", "/v1/session/list"),
            Ok(Routed::Options("OPTIONS,GET"))
        );
        let r = route("GET", "/v1/nope").unwrap_err();
        assert_eq!(
            (r.status, r.message.as_str()),
            (
                404,
                "Invalid URL path: not a recognized HTTP API endpoint\n"
            )
        );
        assert!(
            route("GET", "/kv/x")
                .unwrap_err()
                .message
                .contains("starts with '/v1/'")
        );
        assert_eq!(route("GET", "/v1/session/listx").unwrap_err().status, 404);
        assert_eq!(
            route("PUT", "/v1/session/destroy/").unwrap_err().message,
            "Missing session"
        );
        assert_eq!(
            route("GET", "/v1/session/node/").unwrap_err().message,
            "Missing node name"
        );
    }

    #[test]
    fn queries_are_form_decoded_first_wins() {
        let q = Query::parse("recurse=false&keys&wait=&index=5&index=6&sep=a+b%2F&bad=%zz");
        assert!(q.has("recurse") && q.has("keys") && q.has("wait"));
        assert_eq!(q.value("wait"), None);
        assert_eq!(q.get("index"), Some("5"));
        assert_eq!(q.get("sep"), Some("a b/"));
        assert!(!q.has("bad"));
        assert_eq!(
            Query::parse("cas=1&acquire=x y").encode(),
            "acquire=x+y&cas=1"
        );
        assert_eq!(
            Query::parse("token=s3cret&a=1").redacted(),
            "a=1&token=%3Chidden%3E"
        );
    }
}
