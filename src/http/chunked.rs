//! The `chunked` transfer coding of request bodies (RFC 9112 §7.1), decoded as bytes arrive:
//! a state machine that is fed each read once and keeps its place between reads, so a body
//! costs time linear in its bytes however it is cut, and holds no framing bytes — only the
//! data, up to its limit. Every byte that is not data counts against a limit: chunk-size
//! digits (at most 16, so sizes fit in 64 bits), extensions (with the whitespace before them)
//! and the trailer section; extensions and trailer fields are read and dropped.

/// The limits one chunked body is decoded within (from [`HttpConfig`](super::HttpConfig)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkedLimits {
    /// Most data bytes.
    pub body: usize,
    /// Most bytes of chunk extensions, all chunks together.
    pub extensions: usize,
    /// Most bytes of the trailer section (field lines and their line ends).
    pub trailers: usize,
}

/// Why a chunked body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkedError {
    /// The data would pass the body limit: the size it would reach (saturating).
    TooLarge(u64),
    /// The chunk extensions passed their limit.
    ExtensionsTooLong,
    /// The trailer section passed its limit.
    TrailersTooLarge,
    /// Not valid chunked framing: what was wrong.
    Malformed(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Hex digits of a chunk size (`digits` so far).
    Size {
        size: u64,
        digits: u8,
    },
    /// After the size: whitespace, then `;` and extensions, or the line end.
    AfterSize {
        size: u64,
    },
    /// Inside extensions, up to the line end.
    Extension {
        size: u64,
    },
    /// The LF ending a chunk-size line.
    SizeLf {
        size: u64,
    },
    Data {
        left: u64,
    },
    DataCr,
    DataLf,
    /// The start of a trailer field line, or of the empty line that ends the body.
    TrailerStart,
    TrailerLine,
    TrailerLf,
    /// The LF of the final empty line.
    EndLf,
    Done,
}

/// A resumable decoder of one chunked body.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    limits: ChunkedLimits,
    /// Data bytes so far.
    data: u64,
    extensions: usize,
    trailers: usize,
}

impl ChunkedDecoder {
    pub fn new(limits: ChunkedLimits) -> Self {
        ChunkedDecoder {
            state: State::Size { size: 0, digits: 0 },
            limits,
            data: 0,
            extensions: 0,
            trailers: 0,
        }
    }

    /// Whether the whole body (its trailer section included) has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes the next bytes of the stream: appends their data to `body` and returns how many
    /// of `input` were used. That is all of them until the body ends; the rest (a pipelined
    /// request) is left. After an error the decoder must not be fed again.
    pub fn feed(&mut self, input: &[u8], body: &mut Vec<u8>) -> Result<usize, ChunkedError> {
        use ChunkedError::Malformed;
        let mut at = 0;
        while at < input.len() {
            let byte = input[at];
            self.state = match self.state {
                State::Size { size, digits } => match hex(byte) {
                    Some(_) if digits == 16 => return Err(Malformed("chunk size too long")),
                    Some(d) => State::Size {
                        size: size << 4 | u64::from(d),
                        digits: digits + 1,
                    },
                    None if digits == 0 => return Err(Malformed("chunk size is not hexadecimal")),
                    None => {
                        self.check_size(size)?;
                        self.after_size(byte, size)?
                    }
                },
                State::AfterSize { size } => self.after_size(byte, size)?,
                State::Extension { size } => match byte {
                    b'\r' => State::SizeLf { size },
                    b'\n' => return Err(Malformed("line feed in a chunk extension")),
                    _ => {
                        self.count_extension()?;
                        State::Extension { size }
                    }
                },
                State::SizeLf { size } => match byte {
                    b'\n' if size == 0 => State::TrailerStart,
                    b'\n' => State::Data { left: size },
                    _ => return Err(Malformed("chunk-size line not ended by CRLF")),
                },
                State::Data { left } => {
                    let take = (input.len() - at).min(usize::try_from(left).unwrap_or(usize::MAX));
                    body.extend_from_slice(&input[at..at + take]);
                    at += take;
                    let left = left - take as u64;
                    self.state = match left {
                        0 => State::DataCr,
                        _ => State::Data { left },
                    };
                    continue;
                }
                State::DataCr if byte == b'\r' => State::DataLf,
                State::DataLf if byte == b'\n' => State::Size { size: 0, digits: 0 },
                State::DataCr | State::DataLf => {
                    return Err(Malformed("chunk data not followed by CRLF"));
                }
                State::TrailerStart => match byte {
                    b'\r' => State::EndLf,
                    b'\n' => return Err(Malformed("bare line feed in the trailer section")),
                    _ => {
                        self.count_trailer()?;
                        State::TrailerLine
                    }
                },
                State::TrailerLine => {
                    self.count_trailer()?;
                    match byte {
                        b'\r' => State::TrailerLf,
                        b'\n' => return Err(Malformed("bare line feed in a trailer field")),
                        _ => State::TrailerLine,
                    }
                }
                State::TrailerLf if byte == b'\n' => {
                    self.count_trailer()?;
                    State::TrailerStart
                }
                State::TrailerLf => return Err(Malformed("trailer field not ended by CRLF")),
                State::EndLf if byte == b'\n' => State::Done,
                State::EndLf => return Err(Malformed("chunked body not ended by CRLF")),
                State::Done => return Ok(at),
            };
            at += 1;
        }
        Ok(at)
    }

    /// The first byte after a chunk size's digits (or whitespace after them).
    fn after_size(&mut self, byte: u8, size: u64) -> Result<State, ChunkedError> {
        Ok(match byte {
            b'\r' => State::SizeLf { size },
            b';' => {
                self.count_extension()?;
                State::Extension { size }
            }
            b' ' | b'\t' => {
                self.count_extension()?;
                State::AfterSize { size }
            }
            _ => return Err(ChunkedError::Malformed("invalid byte after a chunk size")),
        })
    }

    /// Refuses a chunk that would take the data past its limit, before any of it is read.
    fn check_size(&mut self, size: u64) -> Result<(), ChunkedError> {
        let total = self.data.saturating_add(size);
        if total > self.limits.body as u64 {
            return Err(ChunkedError::TooLarge(total));
        }
        self.data = total;
        Ok(())
    }

    fn count_extension(&mut self) -> Result<(), ChunkedError> {
        self.extensions += 1;
        if self.extensions > self.limits.extensions {
            return Err(ChunkedError::ExtensionsTooLong);
        }
        Ok(())
    }

    fn count_trailer(&mut self) -> Result<(), ChunkedError> {
        self.trailers += 1;
        if self.trailers > self.limits.trailers {
            return Err(ChunkedError::TrailersTooLarge);
        }
        Ok(())
    }
}

fn hex(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Decodes a whole chunked body at the start of `buf` in one go: `Ok(None)` while incomplete,
/// else the data and the bytes the body took. For tests and the fuzz target.
pub fn decode(buf: &[u8], limits: ChunkedLimits) -> Result<Option<(Vec<u8>, usize)>, ChunkedError> {
    let mut decoder = ChunkedDecoder::new(limits);
    let mut body = Vec::new();
    let used = decoder.feed(buf, &mut body)?;
    Ok(decoder.is_done().then_some((body, used)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ChunkedError::*;

    const LIMITS: ChunkedLimits = ChunkedLimits {
        body: 100,
        extensions: 100,
        trailers: 100,
    };

    fn limits(body: usize, extensions: usize, trailers: usize) -> ChunkedLimits {
        ChunkedLimits {
            body,
            extensions,
            trailers,
        }
    }

    /// Feeds `input` in pieces of `step` bytes, as reads would bring it.
    fn feed_in_steps(
        input: &[u8],
        step: usize,
        limits: ChunkedLimits,
    ) -> Result<Option<(Vec<u8>, usize)>, ChunkedError> {
        let mut decoder = ChunkedDecoder::new(limits);
        let mut body = Vec::new();
        let mut used = 0;
        for piece in input.chunks(step) {
            let n = decoder.feed(piece, &mut body)?;
            used += n;
            if decoder.is_done() {
                return Ok(Some((body, used)));
            }
            assert_eq!(n, piece.len(), "an unfinished body left input unused");
        }
        Ok(None)
    }

    #[test]
    fn bodies_decode_the_same_however_they_are_cut() {
        let body = b"3;ext=1\r\nabc\r\n2 ; a=\"b\"\r\nde\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        for cut in 0..body.len() - 4 {
            assert_eq!(decode(&body[..cut], LIMITS), Ok(None), "{cut}");
        }
        let whole = Ok(Some((b"abcde".to_vec(), body.len() - 4)));
        assert_eq!(decode(body, LIMITS), whole);
        for step in 1..body.len() {
            assert_eq!(feed_in_steps(body, step, LIMITS), whole, "step {step}");
        }
        let upper = b"A\r\n0123456789\r\n0\r\n\r\n";
        assert_eq!(
            decode(upper, LIMITS),
            Ok(Some((b"0123456789".to_vec(), upper.len())))
        );
    }

    #[test]
    fn sizes_are_checked_before_their_data_arrives() {
        assert_eq!(
            decode(b"3\r\nabc\r\n2\r\nde", limits(4, 9, 9)),
            Err(TooLarge(5))
        );
        assert_eq!(decode(b"65\r\n", LIMITS), Err(TooLarge(101)));
        // Near u64::MAX: no wrap-around, no panic.
        for huge in ["fffffffffffffffe", "ffffffffffffffff", "8000000000000000"] {
            let input = format!("1\r\na\r\n{huge}\r\n");
            assert!(matches!(decode(input.as_bytes(), LIMITS), Err(TooLarge(_))));
            let unlimited = limits(usize::MAX, 9, 9);
            assert!(matches!(
                decode(input.as_bytes(), unlimited),
                Ok(None) | Err(TooLarge(_))
            ));
        }
        assert_eq!(
            decode(b"00000000000000001\r\n", LIMITS),
            Err(Malformed("chunk size too long"))
        );
    }

    #[test]
    fn malformed_framing_is_refused() {
        for bad in [
            &b"zz\r\n"[..],
            b"+5\r\nhello\r\n0\r\n\r\n",
            b"-5\r\n",
            b" 5\r\n",
            b"0x5\r\n",
            b"\r\n",
            b"5\n",
            b"5\r\r",
            b"1\r\nab\r\n",
            b"1\r\na\n",
            b"1;a\nb\r\n",
            b"0\r\nT: x\n",
            b"0\r\nT: x\r\r",
            b"0\r\n\n",
            b"0\r\n\r\r",
            b"ffffffffffffffffff\r\n",
        ] {
            assert!(
                matches!(decode(bad, LIMITS), Err(Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn extensions_and_trailers_count_against_their_limits() {
        // Extensions add up over chunks: here 1 000 bytes per 1-byte chunk.
        let ext = format!("1;{}\r\na\r\n", "e".repeat(999));
        let many = ext.repeat(20);
        assert_eq!(
            decode(many.as_bytes(), limits(100, 16 * 1024, 9)),
            Err(ExtensionsTooLong)
        );
        assert_eq!(
            decode(ext.repeat(16).as_bytes(), limits(100, 16 * 1024, 9)),
            Ok(None)
        );
        // Whitespace after a size counts too.
        let spaces = format!("1{}\r\n", " ".repeat(101));
        assert_eq!(decode(spaces.as_bytes(), LIMITS), Err(ExtensionsTooLong));
        // Trailers are counted byte by byte, however short the lines.
        let endless = format!("0\r\n{}", "a:b\r\n".repeat(100));
        assert_eq!(decode(endless.as_bytes(), LIMITS), Err(TrailersTooLarge));
        let fits = format!("0\r\n{}\r\n", "a:b\r\n".repeat(20));
        assert_eq!(
            decode(fits.as_bytes(), LIMITS),
            Ok(Some((Vec::new(), fits.len())))
        );
    }
}
