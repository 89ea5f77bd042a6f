//! The lockd line protocol (glockd / nylen-lockd compatible): pure parsing and formatting, no
//! I/O. See `docs/protocol.md` for the normative rules; section numbers below
//! refer to it.
//!
//! - [`frame`]: splitting a byte stream into request lines, LF or CRLF, with the overlong-line
//!   rule (§3.1, §3.3). Memory stays bounded by the line limit whatever the peer sends.
//! - [`request`]: turning one line into a verb and a normalised argument (§4).
//! - [`reply`]: the exact reply texts (§5, §6, §7).
//!
//! The server (`tcp-server`) and the client (`client`) share this module.

pub mod frame;
pub mod reply;
pub mod request;

pub use frame::{Frame, LineDecoder};
pub use request::{Line, Verb, is_space, normalise, parse_line};

/// The fuzz target's body (also replayed over the committed corpus by `tests/fuzz_corpus.rs`):
/// the first byte picks a line limit and a chunk size, the rest is fed to a [`LineDecoder`] in
/// chunks, every frame is parsed, and the decoder's memory bound is checked.
#[doc(hidden)]
pub fn fuzz_line_protocol(data: &[u8]) {
    let Some((&knobs, input)) = data.split_first() else {
        return;
    };
    let max = 1 + usize::from(knobs & 0x3f) * 4;
    let step = 1 + usize::from(knobs >> 6) * 7;
    let mut decoder = LineDecoder::new(max);
    let mut check = |frame: Frame| match frame {
        Frame::Line(line) => {
            assert!(line.len() <= max, "a line over the limit was passed on");
            if let Line::Request { arg, .. } = parse_line(&line) {
                assert!(arg.len() <= line.len());
                assert!(!arg.starts_with(b" ") && !arg.ends_with(b" "));
                assert!(!arg.windows(2).any(|w| w == b"  "));
                assert!(!arg.iter().any(|&b| is_space(b) && b != b' '));
            }
        }
        Frame::TooLong { start } => {
            assert!(start.len() <= frame::KEPT_START.max(max + 1));
            let _ = request::verb_of_start(&start);
        }
    };
    for chunk in input.chunks(step) {
        let mut at = 0;
        while at < chunk.len() {
            let (n, frame) = decoder.decode(&chunk[at..]);
            assert!(n > 0, "the decoder always makes progress");
            at += n;
            frame.into_iter().for_each(&mut check);
            assert!(
                decoder.buffered() <= max + 1,
                "memory is bounded by the limit"
            );
        }
    }
    decoder.decode_eof().into_iter().for_each(&mut check);
}
