//! Splitting a byte stream into request lines (spec §3.1, §3.3).
//!
//! [`LineDecoder::decode`] takes bytes as they arrive and returns complete frames. A line ends at
//! LF; a CR right before the LF belongs to the ending. A line whose content exceeds the limit is
//! not buffered: the decoder keeps only its first [`KEPT_START`] bytes (enough to judge its verb)
//! and skips the rest up to its LF, then reports it as [`Frame::TooLong`] in its place in the
//! stream. So a connection's memory is bounded by the limit, whatever the peer sends.

/// How much of an overlong line's start is kept to judge its verb (verbs are at most 4 bytes;
/// the rest allows for leading whitespace).
pub const KEPT_START: usize = 64;

/// One unit of input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete line, without its LF or CRLF.
    Line(Vec<u8>),
    /// A line longer than the limit; `start` is its first bytes (at most [`KEPT_START`]).
    TooLong {
        /// The kept start of the line.
        start: Vec<u8>,
    },
}

/// The framing state of one connection.
#[derive(Debug)]
pub struct LineDecoder {
    max: usize,
    buf: Vec<u8>,
    /// `Some(kept start)` while skipping the rest of an overlong line.
    discarding: Option<Vec<u8>>,
}

impl LineDecoder {
    /// A decoder accepting lines of up to `max_line_bytes` bytes of content.
    pub fn new(max_line_bytes: usize) -> Self {
        LineDecoder {
            max: max_line_bytes,
            buf: Vec::new(),
            discarding: None,
        }
    }

    /// Consumes bytes from `input` up to the end of the first complete frame and returns how
    /// many it consumed and that frame; with no complete frame it consumes everything.
    ///
    /// ```
    /// use lockd::protocol::{Frame, LineDecoder};
    ///
    /// let mut d = LineDecoder::new(8);
    /// let input = b"g a\r\ng 0123456789\ni b\n";
    /// let (n, f) = d.decode(input);
    /// assert_eq!(f, Some(Frame::Line(b"g a".to_vec())));
    /// let (m, f) = d.decode(&input[n..]);
    /// assert_eq!(f, Some(Frame::TooLong { start: b"g 0123456".to_vec() }));
    /// assert_eq!(d.decode(&input[n + m..]).1, Some(Frame::Line(b"i b".to_vec())));
    /// ```
    pub fn decode(&mut self, input: &[u8]) -> (usize, Option<Frame>) {
        let lf = input.iter().position(|&b| b == b'\n');
        let take = lf.map_or(input.len(), |at| at + 1);
        let chunk = &input[..take];
        if let Some(start) = &mut self.discarding {
            // Skipping an overlong line: nothing is buffered but its kept start.
            if lf.is_some() {
                let start = std::mem::take(start);
                self.discarding = None;
                return (take, Some(Frame::TooLong { start }));
            }
            return (take, None);
        }
        let body = match lf {
            Some(at) => &chunk[..at],
            None => chunk,
        };
        // Buffer no more than the limit allows: max content, plus a CR that may end the line.
        let room = (self.max + 1).saturating_sub(self.buf.len());
        self.buf.extend_from_slice(&body[..body.len().min(room)]);
        let spilled = body.len() > room;
        if lf.is_some() && !spilled {
            let mut line = std::mem::take(&mut self.buf);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.len() <= self.max {
                return (take, Some(Frame::Line(line)));
            }
            return (take, Some(Frame::TooLong { start: kept(&line) }));
        }
        let over = spilled || (self.buf.len() > self.max && self.buf.last() != Some(&b'\r'));
        if over {
            let start = kept(&self.buf);
            self.buf = Vec::new();
            if lf.is_some() {
                return (take, Some(Frame::TooLong { start }));
            }
            self.discarding = Some(start);
        }
        (take, None)
    }

    /// The peer half-closed: an unterminated last line is still a frame (§3.1), and an overlong
    /// line being skipped is reported as if its LF had arrived (§3.3).
    pub fn decode_eof(&mut self) -> Option<Frame> {
        if let Some(start) = self.discarding.take() {
            return Some(Frame::TooLong { start });
        }
        if self.buf.is_empty() {
            return None;
        }
        let line = std::mem::take(&mut self.buf);
        if line.len() > self.max {
            return Some(Frame::TooLong { start: kept(&line) });
        }
        Some(Frame::Line(line))
    }

    /// Bytes held right now (bounded by the line limit plus one).
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.discarding.as_ref().map_or(0, Vec::len)
    }
}

fn kept(line: &[u8]) -> Vec<u8> {
    line[..line.len().min(KEPT_START)].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes, then EOF; collects every frame.
    fn frames(max: usize, input: &[u8], step: usize) -> Vec<Frame> {
        let mut d = LineDecoder::new(max);
        let mut out = Vec::new();
        for piece in input.chunks(step.max(1)) {
            let mut at = 0;
            while at < piece.len() {
                let (n, f) = d.decode(&piece[at..]);
                assert!(n > 0);
                at += n;
                out.extend(f);
                assert!(d.buffered() <= max + 1);
            }
        }
        out.extend(d.decode_eof());
        out
    }

    fn line(s: &[u8]) -> Frame {
        Frame::Line(s.to_vec())
    }

    #[test]
    fn lf_crlf_and_pipelining_in_any_split() {
        let input = b"g a\r\ni b\n\r\nsg c\n";
        for step in 1..input.len() {
            assert_eq!(
                frames(100, input, step),
                [line(b"g a"), line(b"i b"), line(b""), line(b"sg c")],
                "step {step}"
            );
        }
    }

    #[test]
    fn cr_elsewhere_is_content() {
        assert_eq!(frames(100, b"g a\rb\n", 3), [line(b"g a\rb")]);
        assert_eq!(frames(100, b"\r\r\n", 1), [line(b"\r")]);
    }

    #[test]
    fn unterminated_last_line_is_a_frame() {
        assert_eq!(frames(100, b"g a\ng b", 2), [line(b"g a"), line(b"g b")]);
        assert_eq!(frames(100, b"", 1), []);
    }

    #[test]
    fn exactly_the_limit_is_accepted_and_one_more_is_not() {
        let max = 10;
        let exact = [b'x'; 10];
        for ending in [&b"\n"[..], b"\r\n"] {
            let input = [&exact[..], ending].concat();
            for step in 1..=input.len() {
                assert_eq!(frames(max, &input, step), [line(&exact)], "step {step}");
            }
        }
        let over = [&b"g "[..], &[b'y'; 9], b"\r\n"].concat(); // 11 bytes of content
        for step in 1..=over.len() {
            let got = frames(max, &over, step);
            assert_eq!(
                got,
                [Frame::TooLong {
                    start: over[..11].to_vec()
                }],
                "step {step}"
            );
        }
        // A CR at byte max+1 that is not followed by LF makes the line overlong.
        let cr_inside = [&[b'z'; 10][..], b"\rq\n"].concat();
        assert!(matches!(
            &frames(max, &cr_inside, 1)[..],
            [Frame::TooLong { .. }]
        ));
    }

    #[test]
    fn overlong_lines_are_skipped_and_the_next_line_works() {
        let mut input = b"g ".to_vec();
        input.extend(std::iter::repeat_n(b'a', 100_000));
        input.extend_from_slice(b"\ni x\n");
        for step in [1, 7, 4096, input.len()] {
            let got = frames(1000, &input, step);
            assert_eq!(got.len(), 2, "step {step}");
            match &got[0] {
                Frame::TooLong { start } => {
                    assert_eq!(start.len(), KEPT_START);
                    assert!(start.starts_with(b"g aaa"));
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(got[1], line(b"i x"));
        }
    }

    #[test]
    fn half_close_during_discard_reports_the_line() {
        let input = [&b"g "[..], &[b'b'; 50]].concat();
        assert!(matches!(
            &frames(10, &input, 5)[..],
            [Frame::TooLong { .. }]
        ));
    }
}
