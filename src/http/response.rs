//! Building answers (spec §1.4–§1.6): compact or `?pretty` JSON with exactly
//! `Content-Type: application/json`, plain-text errors, bodiless answers, and the index and
//! leader headers every read carries.

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use hyper::header::{HeaderName, HeaderValue};
use serde::Serialize;

use super::route::Reject;
use super::store::Indexes;

pub(crate) const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";

/// An answer before it becomes a hyper response.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: Bytes,
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
            body: body.into(),
            content_type: Some(JSON),
            headers: Vec::new(),
        }
    }

    /// A plain-text answer (errors).
    pub fn text(status: u16, message: impl Into<String>) -> Answer {
        Answer {
            status,
            body: Bytes::from(message.into()),
            content_type: Some(TEXT),
            headers: Vec::new(),
        }
    }

    /// An answer with no body and no Content-Type.
    pub fn empty(status: u16) -> Answer {
        Answer {
            status,
            body: Bytes::new(),
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

    /// The hyper response, with the ACL policy header every answer carries.
    pub fn into_response(self, acl_policy: &'static str) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(self.body));
        *response.status_mut() =
            hyper::StatusCode::from_u16(self.status).unwrap_or(hyper::StatusCode::OK);
        let headers = response.headers_mut();
        if let Some(ct) = self.content_type {
            headers.insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        for (name, value) in self.headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                headers.append(n, v);
            }
        }
        headers.insert(
            HeaderName::from_static("x-consul-default-acl-policy"),
            HeaderValue::from_static(acl_policy),
        );
        response
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
