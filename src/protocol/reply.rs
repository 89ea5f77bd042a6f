//! The exact reply texts (spec §5–§8, §12). Every reply line ends in LF, never CRLF.

use std::io::Write;

/// `g`: success / failure texts.
pub const GET_SUCCESS: &str = "Lock Get Success";
/// `g` failure.
pub const GET_FAILURE: &str = "Lock Get Failure";
/// `r` success.
pub const RELEASE_SUCCESS: &str = "Lock Release Success";
/// `r` failure.
pub const RELEASE_FAILURE: &str = "Lock Release Failure";
/// `i` when held.
pub const IS_LOCKED: &str = "Lock Is Locked";
/// `i` when free.
pub const NOT_LOCKED: &str = "Lock Not Locked";
/// `sg` success.
pub const SHARED_GET_SUCCESS: &str = "Shared Lock Get Success";
/// `sg` failure.
pub const SHARED_GET_FAILURE: &str = "Shared Lock Get Failure";
/// `sr` success.
pub const SHARED_RELEASE_SUCCESS: &str = "Shared Lock Release Success";
/// `sr` failure.
pub const SHARED_RELEASE_FAILURE: &str = "Shared Lock Release Failure";
/// `si` when held.
pub const SHARED_IS_LOCKED: &str = "Shared Lock Is Locked";
/// `si` when free.
pub const SHARED_NOT_LOCKED: &str = "Shared Lock Not Locked";
/// `i` when the lock table could not answer (etcd unreachable).
pub const INSPECT_FAILURE: &str = "Lock Inspect Failure";
/// `si` when the lock table could not answer.
pub const SHARED_INSPECT_FAILURE: &str = "Shared Lock Inspect Failure";
/// `gw` timeout (extension).
pub const GET_TIMEOUT: &str = "Lock Get Timeout";
/// `sgw` timeout (extension).
pub const SHARED_GET_TIMEOUT: &str = "Shared Lock Get Timeout";

/// `0 disabled` + LF: a verb whose feature is off (§7).
pub const DISABLED: &[u8] = b"0 disabled\n";
/// `0 Line Too Long` + LF (§3.3).
pub const LINE_TOO_LONG: &[u8] = b"0 Line Too Long\n";
/// `0 Lock Table Unavailable` + LF: a listing, `q`, `iam` or `who` when the lock table could not
/// answer (etcd unreachable).
pub const UNAVAILABLE: &[u8] = b"0 Lock Table Unavailable\n";
/// `1 ok` + LF: `iam` (§6.3).
pub const OK: &[u8] = b"1 ok\n";
/// The `ext` reply (§12).
pub const EXT: &[u8] = b"1 ext gw sgw auth\n";
/// `auth` accepted (or no authentication configured) (§12).
pub const AUTH_SUCCESS: &[u8] = b"1 Auth Success\n";
/// `auth` refused.
pub const AUTH_FAILURE: &[u8] = b"0 Auth Failure\n";
/// Any verb but `auth` and `ext` on a connection that has not authenticated, with an ACL.
pub const AUTH_REQUIRED: &[u8] = b"0 Authentication Required\n";

/// `0 Permission Denied: NAME` + LF: the connection's token does not cover NAME for this verb
/// (`q`: `0 Permission Denied` alone).
pub fn permission_denied(out: &mut Vec<u8>, name: Option<&[u8]>) {
    out.extend_from_slice(b"0 Permission Denied");
    if let Some(name) = name {
        out.extend_from_slice(b": ");
        out.extend_from_slice(name);
    }
    out.push(b'\n');
}

/// `<n> <text>: <name>` + LF: every lock reply (§3.2), the empty name included.
///
/// ```
/// let mut out = Vec::new();
/// lockd::protocol::reply::lock(&mut out, 1, lockd::protocol::reply::GET_SUCCESS, b"");
/// assert_eq!(out, b"1 Lock Get Success: \n");
/// ```
pub fn lock(out: &mut Vec<u8>, n: u64, text: &str, name: &[u8]) {
    let _ = write!(out, "{n} {text}: ");
    out.extend_from_slice(name);
    out.push(b'\n');
}

/// `LEFT: RIGHT` + LF: a `d`, `sd` or `who` line (§6.1, §6.3).
pub fn pair(out: &mut Vec<u8>, left: &[u8], right: &[u8]) {
    out.extend_from_slice(left);
    out.extend_from_slice(b": ");
    out.extend_from_slice(right);
    out.push(b'\n');
}

/// `1 ID NAME` + LF: `me` (§6.3).
pub fn me(out: &mut Vec<u8>, id: &[u8], name: &[u8]) {
    out.extend_from_slice(b"1 ");
    out.extend_from_slice(id);
    out.push(b' ');
    out.extend_from_slice(name);
    out.push(b'\n');
}

/// `0 Invalid Arguments: ARGS` + LF (extension verbs, §12).
pub fn invalid_arguments(out: &mut Vec<u8>, args: &[u8]) {
    out.extend_from_slice(b"0 Invalid Arguments: ");
    out.extend_from_slice(args);
    out.push(b'\n');
}

/// Appends `bytes` as a JSON string: `"`, `\` and control characters escaped, invalid UTF-8
/// replaced by U+FFFD (§6.2).
pub fn json_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for c in String::from_utf8_lossy(bytes).chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let mut utf8 = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// `key: value` + LF per statistic, in the order given (§8: callers sort by key).
pub fn stats<'a>(out: &mut Vec<u8>, entries: impl IntoIterator<Item = (&'a str, u64)>) {
    for (key, value) in entries {
        let _ = writeln!(out, "{key}: {value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_lines_echo_names_byte_for_byte() {
        let mut out = Vec::new();
        lock(&mut out, 3, SHARED_GET_SUCCESS, b"a\x00\xffb");
        assert_eq!(out, b"3 Shared Lock Get Success: a\x00\xffb\n");
    }

    #[test]
    fn json_escaping() {
        let mut out = Vec::new();
        json_string(&mut out, b"a\"b\\c\x00\x1f\n\xffz");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a\\\"b\\\\c\\u0000\\u001f\\n\u{fffd}z\""
        );
    }

    #[test]
    fn listings_me_and_stats() {
        let mut out = Vec::new();
        pair(&mut out, b"lock", b"127.0.0.1:4000");
        me(&mut out, b"127.0.0.1:4000", b"c1");
        stats(&mut out, [("command_d", 2), ("connections", 1)]);
        invalid_arguments(&mut out, b"x y");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "lock: 127.0.0.1:4000\n1 127.0.0.1:4000 c1\ncommand_d: 2\nconnections: 1\n0 Invalid Arguments: x y\n"
        );
    }
}
