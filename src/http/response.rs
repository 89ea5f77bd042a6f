//! Building answers (spec §1.4–§1.6): compact or `?pretty` JSON with exactly
//! `Content-Type: application/json`, plain-text errors, bodiless answers, and the index and
//! leader headers every read carries.

use serde::Serialize;

use super::route::Reject;
use super::store::Indexes;

pub(crate) const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";

/// An answer before it becomes a hyper response.
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
