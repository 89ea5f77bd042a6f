//! HTTP/1.1 request heads (RFC 9112 §2–§6), as pure functions over a byte buffer so they can
//! be fuzzed: finding where a head ends as its bytes arrive, parsing it with `httparse` (the
//! parser hyper uses) within the configured limits, and the strict framing rules for
//! `Content-Length` and `Transfer-Encoding`. The connection loop (`conn.rs`) feeds them.

use super::route::Reject;

/// The limits a head is read within (from [`HttpConfig`](super::HttpConfig)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// Most bytes in a head: blank lines before it, the request line and the header fields.
    pub max_size: usize,
    /// Most header fields.
    pub max_headers: usize,
}

impl Default for HeadLimits {
    fn default() -> Self {
        HeadLimits {
            max_size: 64 * 1024,
            max_headers: 64,
        }
    }
}

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
    /// `Transfer-Encoding: chunked` (the only transfer coding accepted).
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

    /// Whether a body follows the head.
    pub fn has_body(&self) -> bool {
        self.chunked || self.content_length.is_some_and(|n| n > 0)
    }
}

/// Finds heads in a buffer that fills up: each call scans only the bytes added since the
/// last, so a head that arrives a byte at a time costs linear time, and `httparse` runs once
/// per head.
#[derive(Debug, Default)]
pub struct HeadScanner {
    /// Bytes of the buffer already searched for the end of the head.
    scanned: usize,
    /// Blank lines before the request line, while they are all that has arrived.
    blank: usize,
}

impl HeadScanner {
    /// The head at the start of `buf` once it is complete (and the bytes it took), `Ok(None)`
    /// while it is not. Errors are the 4xx answer to send before closing. `buf` only grows
    /// between calls, until a head is returned.
    pub fn poll(
        &mut self,
        buf: &[u8],
        limits: HeadLimits,
    ) -> Result<Option<(Head, usize)>, Reject> {
        if self.blank == self.scanned {
            self.blank += blank_lines(&buf[self.blank..]);
        }
        // The end-of-head marker is up to 3 bytes: look again at the last 2 scanned.
        let from = self.scanned.saturating_sub(2).max(self.blank);
        let found = head_end(buf, from).is_some();
        self.scanned = buf.len();
        if !found {
            return if buf.len() > limits.max_size {
                Err(too_large())
            } else {
                Ok(None)
            };
        }
        *self = HeadScanner::default(); // the next head starts after this one
        match parse_head(buf, limits)? {
            Some(done) => Ok(Some(done)),
            None => Err(malformed("incomplete head")),
        }
    }
}

fn too_large() -> Reject {
    Reject::new(431, "Request header fields too large")
}

/// The CR and LF bytes before a request line (RFC 9112 §2.2 allows blank lines there).
fn blank_lines(buf: &[u8]) -> usize {
    buf.iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count()
}

/// Where the first empty line (`LF CR LF` or `LF LF`) at or after `from` ends.
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let lf = at + buf.get(at..)?.iter().position(|b| *b == b'\n')?;
        match buf.get(lf + 1) {
            Some(b'\n') => return Some(lf + 2),
            Some(b'\r') if buf.get(lf + 2) == Some(&b'\n') => return Some(lf + 3),
            _ => at = lf + 1,
        }
    }
}

/// Parses a request head from the start of `buf`: `Ok(None)` while incomplete, else the head
/// and the number of bytes it took. Errors are the 4xx answer to send before closing. (The
/// connection loop calls this through [`HeadScanner`], once per head.)
pub fn parse_head(buf: &[u8], limits: HeadLimits) -> Result<Option<(Head, usize)>, Reject> {
    let skip = blank_lines(buf);
    let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut req = httparse::Request::new(&mut headers);
    let taken = match req.parse(&buf[skip..]) {
        Ok(httparse::Status::Complete(n)) => skip + n,
        Ok(httparse::Status::Partial) if buf.len() > limits.max_size => return Err(too_large()),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Reject::new(
                431,
                format!(
                    "Too many request header fields (at most {})",
                    limits.max_headers
                ),
            ));
        }
        Err(e) => return Err(Reject::new(400, format!("Malformed HTTP request: {e}"))),
    };
    if taken > limits.max_size {
        return Err(too_large());
    }
    let mut head = Head {
        method: req.method.unwrap_or("").to_owned(),
        target: req.path.unwrap_or("").to_owned(),
        http11: req.version == Some(1),
        ..Head::default()
    };
    let mut keep_alive = false;
    let mut codings: Option<Vec<String>> = None;
    for h in req.headers.iter() {
        let value = || String::from_utf8_lossy(h.value).trim().to_owned();
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let n = content_length(h.value)?;
            if head.content_length.is_some_and(|m| m != n) {
                return Err(malformed("conflicting Content-Length"));
            }
            head.content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            let list = codings.get_or_insert_with(Vec::new);
            list.extend(
                value()
                    .split(',')
                    .map(|c| c.trim().to_ascii_lowercase())
                    .filter(|c| !c.is_empty()),
            );
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
    if let Some(codings) = codings {
        head.chunked = transfer_coding(&codings, head.http11)?;
    }
    if head.chunked && head.content_length.is_some() {
        return Err(malformed("both Content-Length and Transfer-Encoding"));
    }
    if !head.http11 && !keep_alive {
        head.close = true;
    }
    Ok(Some((head, taken)))
}

fn malformed(what: &str) -> Reject {
    Reject::new(400, format!("Malformed HTTP request: {what}"))
}

/// A `Content-Length` value: decimal digits only (RFC 9112 §6.3 and RFC 9110 §8.6: no sign,
/// no list), and it must fit in 64 bits.
fn content_length(raw: &[u8]) -> Result<u64, Reject> {
    let digits = raw.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(malformed(&format!(
            "invalid Content-Length {:?}",
            String::from_utf8_lossy(raw)
        )));
    }
    digits.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d - b'0')))
            .ok_or_else(|| malformed("Content-Length out of range"))
    })
}

/// Whether the transfer codings (all `Transfer-Encoding` fields, in order) are a bare
/// `chunked`, the only one supported: any other coding, or a list of them, is 501 (RFC 9112
/// §6.1), and a transfer coding in an HTTP/1.0 request is faulty framing.
fn transfer_coding(codings: &[String], http11: bool) -> Result<bool, Reject> {
    if !http11 {
        return Err(malformed("Transfer-Encoding in an HTTP/1.0 request"));
    }
    match codings {
        [only] if only == "chunked" => Ok(true),
        [] => Err(malformed("empty Transfer-Encoding")),
        _ => Err(Reject::new(
            501,
            format!(
                "Unsupported Transfer-Encoding \"{}\": only a bare \"chunked\" is supported",
                codings.join(", ")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(buf: &[u8]) -> Result<Option<(Head, usize)>, Reject> {
        parse_head(buf, HeadLimits::default())
    }

    fn status(buf: &[u8]) -> u16 {
        parse(buf).unwrap_err().status
    }

    #[test]
    fn heads_parse_incrementally() {
        let req = b"PUT /v1/kv/a%2Fb?acquire=x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX-Consul-Token: t\r\n\r\nabc";
        let mut scanner = HeadScanner::default();
        for cut in 0..req.len() - 4 {
            assert_eq!(parse(&req[..cut]).unwrap(), None, "{cut}");
            let polled = scanner.poll(&req[..cut], HeadLimits::default());
            assert_eq!(polled.unwrap(), None, "{cut}");
        }
        let (head, n) = parse(req).unwrap().unwrap();
        assert_eq!(
            scanner.poll(req, HeadLimits::default()).unwrap(),
            Some((head.clone(), n))
        );
        assert_eq!(&req[n..], b"abc");
        assert_eq!(
            (head.method.as_str(), head.path(), head.query()),
            ("PUT", "/v1/kv/a%2Fb", "acquire=x")
        );
        assert_eq!(
            (head.content_length, head.consul_token.as_deref()),
            (Some(3), Some("t"))
        );
        assert!(head.http11 && !head.close && !head.chunked && head.has_body());
        let (h10, _) = parse(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(h10.close && !h10.has_body());
        let (ka, _) = parse(b"\r\nGET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!ka.close);
    }

    #[test]
    fn the_scanner_finds_every_kind_of_head_end() {
        for req in [
            &b"GET / HTTP/1.1\r\n\r\n"[..],
            b"GET / HTTP/1.1\n\n",
            b"\r\n\r\nGET / HTTP/1.1\r\nA: b\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: b\n\r\n",
        ] {
            let mut scanner = HeadScanner::default();
            for cut in 0..req.len() {
                assert_eq!(scanner.poll(&req[..cut], HeadLimits::default()), Ok(None));
            }
            let (_, n) = scanner.poll(req, HeadLimits::default()).unwrap().unwrap();
            assert_eq!(n, req.len(), "{:?}", String::from_utf8_lossy(req));
        }
    }

    #[test]
    fn bad_heads_are_rejected() {
        assert_eq!(status(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"), 400);
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
            501
        );
        assert_eq!(status(b"G\x01T / HTTP/1.1\r\n\r\n"), 400);
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "A: b\r\n".repeat(65));
        assert_eq!(status(many.as_bytes()), 431);
        let few = HeadLimits {
            max_headers: 2,
            ..HeadLimits::default()
        };
        let three = b"GET / HTTP/1.1\r\nA: b\r\nA: b\r\nA: b\r\n\r\n";
        assert_eq!(parse_head(three, few).unwrap_err().status, 431);
        let long = vec![b'a'; 64 * 1024 + 1];
        assert_eq!(status(&long), 431);
        let long = [b"GET /".as_slice(), &vec![b'a'; 64 * 1024 + 1]].concat();
        assert_eq!(status(&long), 431);
        let mut scanner = HeadScanner::default();
        assert_eq!(
            scanner
                .poll(&long, HeadLimits::default())
                .unwrap_err()
                .status,
            431
        );
        let small = HeadLimits {
            max_size: 20,
            ..HeadLimits::default()
        };
        let req = b"GET /abcdefgh HTTP/1.1\r\n\r\n";
        assert_eq!(parse_head(req, small).unwrap_err().status, 431);
        let endless_blank_lines = vec![b'\n'; 21];
        assert_eq!(
            HeadScanner::default()
                .poll(&endless_blank_lines, small)
                .unwrap_err()
                .status,
            431
        );
    }

    #[test]
    fn content_length_is_digits_only() {
        for good in ["0", "5", " 5 ", "007", "18446744073709551615"] {
            let req = format!("PUT / HTTP/1.1\r\nContent-Length: {good}\r\n\r\n");
            let (head, _) = parse(req.as_bytes()).unwrap().unwrap();
            assert_eq!(head.content_length, Some(good.trim().parse().unwrap()));
        }
        for bad in [
            "+5",
            "-5",
            "5, 5",
            "0x5",
            "",
            "5 5",
            "18446744073709551616",
            "٥",
        ] {
            let req = format!("PUT / HTTP/1.1\r\nContent-Length: {bad}\r\n\r\n");
            assert_eq!(status(req.as_bytes()), 400, "{bad:?}");
        }
    }

    #[test]
    fn only_a_bare_chunked_transfer_coding_is_accepted() {
        for good in ["chunked", "Chunked", " chunked ", "chunked,"] {
            let req = format!("PUT / HTTP/1.1\r\nTransfer-Encoding: {good}\r\n\r\n");
            assert!(
                parse(req.as_bytes()).unwrap().unwrap().0.chunked,
                "{good:?}"
            );
        }
        for bad in [
            "gzip, chunked",
            "chunked, chunked",
            "identity",
            "chunked;q=1",
        ] {
            let req = format!("PUT / HTTP/1.1\r\nTransfer-Encoding: {bad}\r\n\r\n");
            assert_eq!(status(req.as_bytes()), 501, "{bad:?}");
        }
        let split =
            b"PUT / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(status(split), 501);
        let empty = b"PUT / HTTP/1.1\r\nTransfer-Encoding: \r\n\r\n";
        assert_eq!(status(empty), 400);
        let old = b"PUT / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(status(old), 400);
        let both = b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n";
        assert_eq!(status(both), 400);
    }
}
