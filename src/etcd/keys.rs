//! Where the recipe keeps its keys and what their values say.
//!
//! A request is the key `<prefix>/l/<name>/<session>`, attached to its session's lease. The name
//! is stored with `%` and `/` percent-encoded, so that one name's range (`<prefix>/l/<name>/`)
//! never includes another name's keys; the session part is `<lease id in hex>.<n>`, unique per
//! session even when sessions share a lease. The value is
//! `<x | s LIMIT>\n<held since, µs since the Unix epoch>\n<holder label>`.

use crate::lock::Mode;

/// The range that holds every request of every name.
pub(crate) fn all_locks(prefix: &str) -> Vec<u8> {
    format!("{prefix}/l/").into_bytes()
}

/// The range that holds every session's display-name registration (`names.rs`).
pub(crate) fn names_range(prefix: &str) -> Vec<u8> {
    format!("{prefix}/r/").into_bytes()
}

/// The key of `session`'s display-name registration.
pub(crate) fn name_key(prefix: &str, session: &str) -> Vec<u8> {
    format!("{prefix}/r/{session}").into_bytes()
}

/// The range that holds every request of `name`.
pub(crate) fn name_range(prefix: &str, name: &[u8]) -> Vec<u8> {
    let mut key = all_locks(prefix);
    encode_name(name, &mut key);
    key.push(b'/');
    key
}

/// The key of `session`'s request for `name`.
pub(crate) fn request_key(prefix: &str, name: &[u8], session: &str) -> Vec<u8> {
    let mut key = name_range(prefix, name);
    key.extend_from_slice(session.as_bytes());
    key
}

fn encode_name(name: &[u8], out: &mut Vec<u8>) {
    for &b in name {
        match b {
            b'%' => out.extend_from_slice(b"%25"),
            b'/' => out.extend_from_slice(b"%2F"),
            _ => out.push(b),
        }
    }
}

fn decode_name(encoded: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(encoded.len());
    let mut i = 0;
    while i < encoded.len() {
        match encoded[i] {
            b'%' => {
                match encoded.get(i + 1..i + 3)? {
                    b"25" => out.push(b'%'),
                    b"2F" => out.push(b'/'),
                    _ => return None,
                }
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

/// A key of the lock range split into its name and session, if it is one of ours.
pub(crate) fn parse_key<'a>(prefix: &str, key: &'a [u8]) -> Option<(Vec<u8>, &'a [u8])> {
    let base = all_locks(prefix);
    let rest = key.strip_prefix(base.as_slice())?;
    let slash = rest.iter().rposition(|&b| b == b'/')?;
    Some((decode_name(&rest[..slash])?, &rest[slash + 1..]))
}

/// What a request key's value says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Value {
    pub(crate) mode: Mode,
    /// Shared only: the most holders it joins (`usize::MAX`: no limit).
    pub(crate) limit: usize,
    pub(crate) since_us: u64,
    pub(crate) label: String,
}

impl Value {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let head = match self.mode {
            Mode::Exclusive => "x".to_string(),
            Mode::Shared if self.limit == usize::MAX => "s".to_string(),
            Mode::Shared => format!("s {}", self.limit),
        };
        format!("{head}\n{}\n{}", self.since_us, self.label).into_bytes()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<Value> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.splitn(3, '\n');
        let head = lines.next()?;
        let since_us = lines.next()?.parse().ok()?;
        let label = lines.next().unwrap_or("").to_string();
        let (mode, limit) = match head {
            "x" => (Mode::Exclusive, 1),
            "s" => (Mode::Shared, usize::MAX),
            _ => (Mode::Shared, head.strip_prefix("s ")?.parse().ok()?),
        };
        Some(Value {
            mode,
            limit,
            since_us,
            label,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_slashes_never_share_a_range() {
        let a = name_range("p", b"a");
        let ab = request_key("p", b"a/b", "1.0");
        assert!(!ab.starts_with(&a), "{ab:?} is not in {a:?}");
        assert_eq!(ab, b"p/l/a%2Fb/1.0");
        let weird = request_key("p", b"50%/x/", "7.2");
        assert_eq!(
            parse_key("p", &weird),
            Some((b"50%/x/".to_vec(), b"7.2".as_slice()))
        );
        assert_eq!(parse_key("q", &weird), None);
        assert_eq!(parse_key("p", b"p/l/bad%zz/1.0"), None);
    }

    #[test]
    fn values_round_trip() {
        for (mode, limit) in [
            (Mode::Exclusive, 1),
            (Mode::Shared, usize::MAX),
            (Mode::Shared, 3),
        ] {
            let v = Value {
                mode,
                limit,
                since_us: 1_700_000_000_000_000,
                label: "worker 7\nsecond line".into(),
            };
            assert_eq!(Value::decode(&v.encode()), Some(v));
        }
        assert_eq!(Value::decode(b"q\n1\n"), None);
        assert_eq!(Value::decode(b"x"), None);
    }
}
