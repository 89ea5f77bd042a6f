//! One request line → verb and normalised argument (spec §4).

use std::borrow::Cow;

/// Every verb the server understands: the 13 original ones and the extensions of §12.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// `g NAME`: get an exclusive lock.
    Get,
    /// `r NAME`: release an exclusive lock.
    Release,
    /// `i NAME`: is the exclusive lock held?
    Inspect,
    /// `sg NAME`: join a shared lock.
    SharedGet,
    /// `sr NAME`: leave a shared lock.
    SharedRelease,
    /// `si NAME`: how many hold the shared lock?
    SharedInspect,
    /// `d [NAME]`: list exclusive holders.
    Dump,
    /// `sd [NAME]`: list shared holders.
    SharedDump,
    /// `dump [shared]`: JSON table.
    DumpJson,
    /// `me`: this connection's id and name.
    Me,
    /// `iam NAME`: register a display name.
    Iam,
    /// `who [NAME]`: list registered connections.
    Who,
    /// `q`: statistics.
    Stats,
    /// `ext`: list the extension verbs (§12).
    Ext,
    /// `gw MS NAME`: waiting exclusive get with a fencing token (§12).
    GetWait,
    /// `sgw MS LIMIT NAME`: waiting shared get with a holder limit (§12).
    SharedGetWait,
    /// `auth [USER] TOKEN`: authenticate the connection (§12).
    Auth,
}

impl Verb {
    /// The verb for exactly these bytes (case-sensitive), if any.
    pub fn parse(bytes: &[u8]) -> Option<Verb> {
        Some(match bytes {
            b"g" => Verb::Get,
            b"r" => Verb::Release,
            b"i" => Verb::Inspect,
            b"sg" => Verb::SharedGet,
            b"sr" => Verb::SharedRelease,
            b"si" => Verb::SharedInspect,
            b"d" => Verb::Dump,
            b"sd" => Verb::SharedDump,
            b"dump" => Verb::DumpJson,
            b"me" => Verb::Me,
            b"iam" => Verb::Iam,
            b"who" => Verb::Who,
            b"q" => Verb::Stats,
            b"ext" => Verb::Ext,
            b"gw" => Verb::GetWait,
            b"sgw" => Verb::SharedGetWait,
            b"auth" => Verb::Auth,
            _ => return None,
        })
    }

    /// The verb as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "g",
            Verb::Release => "r",
            Verb::Inspect => "i",
            Verb::SharedGet => "sg",
            Verb::SharedRelease => "sr",
            Verb::SharedInspect => "si",
            Verb::Dump => "d",
            Verb::SharedDump => "sd",
            Verb::DumpJson => "dump",
            Verb::Me => "me",
            Verb::Iam => "iam",
            Verb::Who => "who",
            Verb::Stats => "q",
            Verb::Ext => "ext",
            Verb::GetWait => "gw",
            Verb::SharedGetWait => "sgw",
            Verb::Auth => "auth",
        }
    }

    /// Whether this is an extension verb (§12): never counted in `q`.
    pub fn is_extension(self) -> bool {
        matches!(
            self,
            Verb::Ext | Verb::GetWait | Verb::SharedGetWait | Verb::Auth
        )
    }
}

/// What a line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    /// Nothing but whitespace (§6.5): no reply, counted as invalid.
    Empty,
    /// An unknown verb (§6.5): no reply, counted as invalid.
    Invalid,
    /// A request.
    Request {
        /// The verb.
        verb: Verb,
        /// The argument, normalised (§4 step 4); possibly empty.
        arg: Cow<'a, [u8]>,
    },
}

/// The protocol's whitespace: HT, LF, VT, FF, CR and SP (`u8::is_ascii_whitespace` lacks VT).
pub fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_space(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_space(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// Splits on runs of whitespace, drops empty pieces and joins with single spaces (§4 step 4).
/// Borrows when the input is already normal.
pub fn normalise(arg: &[u8]) -> Cow<'_, [u8]> {
    let trimmed = trim(arg);
    // Already normal: no whitespace but single spaces.
    let already = !trimmed.iter().any(|&b| is_space(b) && b != b' ')
        && !trimmed.windows(2).any(|w| w == b"  ");
    if already {
        return Cow::Borrowed(trimmed);
    }
    let mut out = Vec::with_capacity(trimmed.len());
    for piece in trimmed.split(|&b| is_space(b)).filter(|p| !p.is_empty()) {
        if !out.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(piece);
    }
    Cow::Owned(out)
}

/// Parses one line (without its line ending) per §4.
///
/// ```
/// use lockd::protocol::{parse_line, Line, Verb};
///
/// let Line::Request { verb, arg } = parse_line(b" g   a   b \t c ") else { panic!() };
/// assert_eq!((verb, &*arg), (Verb::Get, &b"a b c"[..]));
/// assert_eq!(parse_line(b"G x"), Line::Invalid);      // verbs are case-sensitive
/// assert_eq!(parse_line(b"g\tx"), Line::Invalid);     // only SP separates the verb
/// assert_eq!(parse_line(b" \t "), Line::Empty);
/// ```
pub fn parse_line(line: &[u8]) -> Line<'_> {
    let line = trim(line);
    if line.is_empty() {
        return Line::Empty;
    }
    let (verb, rest) = match line.iter().position(|&b| b == b' ') {
        Some(at) => (&line[..at], &line[at + 1..]),
        None => (line, &[][..]),
    };
    match Verb::parse(verb) {
        Some(verb) => Line::Request {
            verb,
            arg: normalise(rest),
        },
        None => Line::Invalid,
    }
}

/// The verb an overlong line would have, judged from the start that was kept of it (§3.3):
/// `None` if that start is only whitespace or begins with an unknown verb.
pub fn verb_of_start(start: &[u8]) -> Option<Verb> {
    let mut s = start;
    while let [first, rest @ ..] = s {
        if !is_space(*first) {
            break;
        }
        s = rest;
    }
    let end = s.iter().position(|&b| b == b' ').unwrap_or(s.len());
    // A verb cut off by the end of the kept start could be longer than it looks: only a verb
    // followed by SP, or one that is the whole (trimmed) start, counts.
    let word = &s[..end];
    if end == s.len() && trim(s).len() != word.len() {
        return None;
    }
    Verb::parse(trim(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(line: &[u8]) -> (Verb, Vec<u8>) {
        match parse_line(line) {
            Line::Request { verb, arg } => (verb, arg.into_owned()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn spec_table_of_section_4() {
        assert_eq!(
            req(b"g   foo   bar  \t baz "),
            (Verb::Get, b"foo bar baz".to_vec())
        );
        assert_eq!(req(b"  i foo"), (Verb::Inspect, b"foo".to_vec()));
        assert_eq!(req(b"i foo   "), (Verb::Inspect, b"foo".to_vec()));
        assert_eq!(req(b" g  lock"), (Verb::Get, b"lock".to_vec()));
        assert_eq!(req(b"g"), (Verb::Get, vec![]));
        assert_eq!(req(b"g "), (Verb::Get, vec![]));
        assert_eq!(parse_line(b"g\tfoo"), Line::Invalid);
        assert_eq!(parse_line(b"G foo"), Line::Invalid);
        assert_eq!(req(b"dump  shared "), (Verb::DumpJson, b"shared".to_vec()));
        assert_eq!(req(b"g a\x00b"), (Verb::Get, b"a\x00b".to_vec()));
        assert_eq!(
            req(b"g a\xff\x0bb"),
            (Verb::Get, b"a\xff b".to_vec()),
            "VT is whitespace"
        );
        assert_eq!(
            req("g \u{e9}t\u{e9}".as_bytes()),
            (Verb::Get, "\u{e9}t\u{e9}".as_bytes().to_vec())
        );
    }

    #[test]
    fn empty_invalid_and_all_verbs() {
        for empty in [&b""[..], b" ", b"\r", b"\t \x0b\x0c"] {
            assert_eq!(parse_line(empty), Line::Empty);
        }
        for bad in [&b"bogus"[..], b"xx", b"\x00\xff", b"gg x", b"dumpshared"] {
            assert_eq!(parse_line(bad), Line::Invalid);
        }
        for v in [
            "g", "r", "i", "sg", "sr", "si", "d", "sd", "dump", "me", "iam", "who", "q",
        ] {
            let verb = Verb::parse(v.as_bytes()).unwrap();
            assert_eq!(verb.as_str(), v);
            assert!(!verb.is_extension());
        }
        for v in ["ext", "gw", "sgw", "auth"] {
            assert!(Verb::parse(v.as_bytes()).unwrap().is_extension());
        }
    }

    #[test]
    fn normalise_borrows_when_already_normal() {
        assert!(matches!(normalise(b"a b c"), Cow::Borrowed(b"a b c")));
        assert!(matches!(normalise(b"  a b "), Cow::Borrowed(b"a b")));
        assert_eq!(&*normalise(b"a  b"), b"a b");
        assert_eq!(&*normalise(b"a\tb"), b"a b");
        assert_eq!(&*normalise(b"a \rb"), b"a b");
        assert_eq!(&*normalise(b""), b"");
    }

    #[test]
    fn verb_of_an_overlong_start() {
        assert_eq!(verb_of_start(b"g xxxxxxxx"), Some(Verb::Get));
        assert_eq!(verb_of_start(b"   sg yyyy"), Some(Verb::SharedGet));
        assert_eq!(verb_of_start(b"gxxxxxxxxx"), None);
        assert_eq!(verb_of_start(b"          "), None);
        assert_eq!(verb_of_start(b"bogus arg"), None);
        assert_eq!(verb_of_start(b"g\txxxxxxx"), None);
        assert_eq!(verb_of_start(b"dump"), Some(Verb::DumpJson));
    }
}
