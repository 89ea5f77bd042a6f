//! HTTP/1.1 message framing, as pure functions over a byte buffer (so they can be fuzzed):
//! the request head (parsed with `httparse`, the parser hyper uses), `Content-Length` and
//! `chunked` bodies, and the response bytes. The connection loop (`conn.rs`) feeds them.

use super::response::Answer;
use super::route::Reject;

/// Longest request head accepted (request line plus headers).
pub const MAX_HEAD: usize = 64 * 1024;
/// Most headers in one request.
const MAX_HEADERS: usize = 64;

/// What the API needs of a request head.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    /// The raw request target: path and query, not decoded.
    pub target: String,
    /// HTTP/1.1 (else 1.0).
    pub http11: bool,
    pub consul_token: Option<String>,
    pub authorization: Option<String>,
    pub content_length: Option<u64>,
    pub chunked: bool,
    /// `Connection: close` (1.1) or no `Connection: keep-alive` (1.0).
    pub close: bool,
    /// `Expect: 100-continue`.
    pub expect_continue: bool,
}

impl Head {
    /// The path part of the target.
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }

    /// The raw query string.
    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }
}

/// Parses a request head from the start of `buf`: `Ok(None)` while incomplete, else the head
/// and the number of bytes it took. Errors are the 4xx answer to send before closing.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, Reject> {
    // Tolerate blank lines before a request (RFC 9112 §2.2).
    let skip = buf
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count();
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let taken = match req.parse(&buf[skip..]) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Err(Reject::new(431, "Request header fields too large"));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Reject::new(431, "Too many request header fields"));
        }
        Err(e) => return Err(Reject::new(400, format!("Malformed HTTP request: {e}"))),
    };
    if taken > MAX_HEAD {
        return Err(Reject::new(431, "Request header fields too large"));
    }
    let mut head = Head {
        method: req.method.unwrap_or("").to_owned(),
        target: req.path.unwrap_or("").to_owned(),
        http11: req.version == Some(1),
        ..Head::default()
    };
    let mut keep_alive = false;
    for h in req.headers.iter() {
        let value = || String::from_utf8_lossy(h.value).trim().to_owned();
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let n = value()
                .parse::<u64>()
                .map_err(|_| Reject::new(400, "Malformed HTTP request: invalid Content-Length"))?;
            if head.content_length.is_some_and(|m| m != n) {
                return Err(Reject::new(
                    400,
                    "Malformed HTTP request: conflicting Content-Length",
                ));
            }
            head.content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            let v = value().to_ascii_lowercase();
            if v.rsplit(',').next().map(str::trim) != Some("chunked") {
                return Err(Reject::new(501, "Unsupported Transfer-Encoding"));
            }
            head.chunked = true;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value().split(',') {
                match token.trim().to_ascii_lowercase().as_str() {
                    "close" => head.close = true,
                    "keep-alive" => keep_alive = true,
                    _ => {}
                }
            }
        } else if name.eq_ignore_ascii_case("expect") {
            head.expect_continue = value().eq_ignore_ascii_case("100-continue");
        } else if name.eq_ignore_ascii_case("x-consul-token") {
            head.consul_token = Some(value());
        } else if name.eq_ignore_ascii_case("authorization") {
            head.authorization = Some(value());
        }
    }
    if head.chunked && head.content_length.is_some() {
        return Err(Reject::new(
            400,
            "Malformed HTTP request: both Content-Length and chunked",
        ));
    }
    if !head.http11 && !keep_alive {
        head.close = true;
    }
    Ok(Some((head, skip + taken)))
}

/// Decodes a `chunked` body at the start of `buf`: `Ok(None)` while incomplete, else the body
/// and the bytes it took (trailers included). More than `limit` body bytes is `Err(Some(n))`
/// with the count so far; malformed framing is `Err(None)`.
pub fn decode_chunked(buf: &[u8], limit: usize) -> Result<Option<(Vec<u8>, usize)>, Option<u64>> {
    let mut body = Vec::new();
    let mut at = 0;
    let line_end = |from: usize| -> Option<usize> {
        buf.get(from..)?
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|p| from + p)
    };
    loop {
        let Some(end) = line_end(at) else {
            return if buf.len() - at > 1024 {
                Err(None)
            } else {
                Ok(None)
            };
        };
        let line = std::str::from_utf8(&buf[at..end]).map_err(|_| None)?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        if size_text.is_empty() || size_text.len() > 16 {
            return Err(None);
        }
        let size = u64::from_str_radix(size_text, 16).map_err(|_| None)?;
        at = end + 2;
        if size == 0 {
            // Trailer fields, then an empty line.
            loop {
                let Some(end) = line_end(at) else {
                    return if buf.len() - at > MAX_HEAD {
                        Err(None)
                    } else {
                        Ok(None)
                    };
                };
                let empty = end == at;
                at = end + 2;
                if empty {
                    return Ok(Some((body, at)));
                }
            }
        }
        let total = body.len() as u64 + size;
        if total > limit as u64 {
            return Err(Some(total));
        }
        let size = size as usize;
        if buf.len() < at + size + 2 {
            return Ok(None);
        }
        if &buf[at + size..at + size + 2] != b"\r\n" {
            return Err(None);
        }
        body.extend_from_slice(&buf[at..at + size]);
        at += size + 2;
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
pub fn encode(answer: &Answer, acl_policy: &str, close: bool) -> Vec<u8> {
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
    let mut out = head.into_bytes();
    out.extend_from_slice(&answer.body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_incrementally() {
        let req = b"PUT /v1/kv/a%2Fb?acquire=x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX-Consul-Token: t\r\n\r\nabc";
        for cut in 0..req.len() - 4 {
            assert_eq!(parse_head(&req[..cut]).unwrap(), None, "{cut}");
        }
        let (head, n) = parse_head(req).unwrap().unwrap();
        assert_eq!(&req[n..], b"abc");
        assert_eq!(
            (head.method.as_str(), head.path(), head.query()),
            ("PUT", "/v1/kv/a%2Fb", "acquire=x")
        );
        assert_eq!(
            (head.content_length, head.consul_token.as_deref()),
            (Some(3), Some("t"))
        );
        assert!(head.http11 && !head.close && !head.chunked);
        let (h10, _) = parse_head(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(h10.close);
        let (ka, _) = parse_head(b"\r\nGET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!ka.close);
    }

    #[test]
    fn bad_heads_are_rejected() {
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n")
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n")
                .unwrap_err()
                .status,
            501
        );
        assert_eq!(
            parse_head(b"G\x01T / HTTP/1.1\r\n\r\n").unwrap_err().status,
            400
        );
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "A: b\r\n".repeat(65));
        assert_eq!(parse_head(many.as_bytes()).unwrap_err().status, 431);
        let long = vec![b'a'; MAX_HEAD + 1];
        assert_eq!(parse_head(&long).unwrap_err().status, 431);
        let long = [b"GET /".as_slice(), &vec![b'a'; MAX_HEAD + 1]].concat();
        assert_eq!(parse_head(&long).unwrap_err().status, 431);
    }

    #[test]
    fn chunked_bodies_decode_with_limits() {
        let body = b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        for cut in 0..body.len() - 4 {
            assert_eq!(decode_chunked(&body[..cut], 100), Ok(None), "{cut}");
        }
        assert_eq!(
            decode_chunked(body, 100),
            Ok(Some((b"abcde".to_vec(), body.len() - 4)))
        );
        assert_eq!(decode_chunked(body, 4), Err(Some(5)));
        assert_eq!(decode_chunked(b"zz\r\n", 10), Err(None));
        assert_eq!(decode_chunked(b"1\r\nab\r\n", 10), Err(None));
        assert_eq!(decode_chunked(b"ffffffffffffffffff\r\n", 10), Err(None));
    }

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
