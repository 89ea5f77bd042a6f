//! Building answers (spec §1.4–§1.6): compact or `?pretty` JSON with exactly
//! `Content-Type: application/json`, plain-text errors, bodiless answers, and the index and
//! leader headers every read carries; and an answer's HTTP/1.1 bytes.

use serde::Serialize;

use super::route::Reject;
use super::store::Indexes;

pub(crate) const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";

/// An answer before it becomes bytes ([`encode`]).
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: Option<&'static str>,
    pub headers: Vec<(&'static str, String)>,
}

impl Answer {
    /// A JSON answer; `pretty` indents by four spaces and appends an LF.
    pub fn json<T: Serialize + ?Sized>(value: &T, pretty: bool) -> Answer {
        let body = if pretty {
            let mut out = Vec::new();
            let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
            let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
            value.serialize(&mut ser).expect("JSON of plain data");
            out.push(b'\n');
            out
        } else {
            serde_json::to_vec(value).expect("JSON of plain data")
        };
        Answer {
            status: 200,
            body,
            content_type: Some(JSON),
            headers: Vec::new(),
        }
    }

    /// A plain-text answer (errors).
    pub fn text(status: u16, message: impl Into<String>) -> Answer {
        Answer {
            status,
            body: message.into().into_bytes(),
            content_type: Some(TEXT),
            headers: Vec::new(),
        }
    }

    /// An answer with no body and no Content-Type.
    pub fn empty(status: u16) -> Answer {
        Answer {
            status,
            body: Vec::new(),
            content_type: None,
            headers: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Answer {
        self.headers.push((name, value.into()));
        self
    }

    /// Adds the headers of a read (§1.6).
    pub fn read_headers(self, indexes: Indexes, consistency: &'static str) -> Answer {
        self.header("X-Consul-Index", indexes.index.to_string())
            .header("X-Consul-KnownLeader", "true")
            .header("X-Consul-LastContact", "0")
            .header("X-Consul-Effective-Consistency", consistency)
    }
}

impl From<Reject> for Answer {
    fn from(r: Reject) -> Answer {
        let answer = Answer::text(r.status, r.message);
        match r.allow {
            Some(allow) => answer.header("Allow", allow),
            None => answer,
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        _ => "Unknown",
    }
}

/// The bytes of a response; `close` adds `Connection: close`.
#[cfg(test)]
pub fn encode(answer: &Answer, acl_policy: &str, close: bool) -> Vec<u8> {
    let mut out = encode_head(answer, acl_policy, close);
    out.extend_from_slice(&answer.body);
    out
}

/// The status line and header fields of a response, up to the body; `close` adds
/// `Connection: close`.
pub fn encode_head(answer: &Answer, acl_policy: &str, close: bool) -> Vec<u8> {
    use std::fmt::Write;
    let mut head = String::with_capacity(256);
    let _ = write!(
        head,
        "HTTP/1.1 {} {}\r\n",
        answer.status,
        reason(answer.status)
    );
    if let Some(ct) = answer.content_type {
        let _ = write!(head, "Content-Type: {ct}\r\n");
    }
    for (name, value) in &answer.headers {
        // Values are ours; never let one break the framing.
        if !value.contains(['\r', '\n']) {
            let _ = write!(head, "{name}: {value}\r\n");
        }
    }
    let _ = write!(head, "X-Consul-Default-Acl-Policy: {acl_policy}\r\n");
    let _ = write!(head, "Content-Length: {}\r\n", answer.body.len());
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_framed() {
        let a = Answer::json(&true, false).header("X-Consul-Index", "7");
        let text = String::from_utf8(encode(&a, "allow", true)).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Consul-Index: 7\r\n\
             X-Consul-Default-Acl-Policy: allow\r\nContent-Length: 4\r\nConnection: close\r\n\r\ntrue"
        );
    }
}
