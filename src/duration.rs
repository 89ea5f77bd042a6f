//! Go-syntax durations (`15s`, `1m30s`, `1.5h`, `500ms`, `0`): the one syntax of every time
//! option of the `lockd` binary and of the Consul API (consul-api spec §2). Parsed as Go's
//! `time.ParseDuration` does, with its error texts, and formatted as Go's `Duration.String`.

use std::time::Duration;

/// Parses a Go-syntax duration (`15s`, `1m30s`, `1.5h`, `500ms`, `0`); negative durations are
/// refused.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(lockd::parse_duration("1m30s"), Ok(Duration::from_secs(90)));
/// assert!(lockd::parse_duration("10").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    match parse(text)? {
        ns if ns < 0 => Err(format!("negative duration \"{text}\"")),
        ns => Ok(Duration::from_nanos(ns as u64)),
    }
}

/// As [`parse_duration`], but a bare number (the older form of an option) counts in `unit`:
/// `parse_duration_or("30", Duration::from_secs(1))` is 30 s.
///
/// ```
/// use std::time::Duration;
/// let ms = Duration::from_millis(1);
/// assert_eq!(lockd::parse_duration_or("250", ms), Ok(Duration::from_millis(250)));
/// assert_eq!(lockd::parse_duration_or("2s", ms), Ok(Duration::from_secs(2)));
/// ```
pub fn parse_duration_or(text: &str, unit: Duration) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(n) => u32::try_from(n)
            .ok()
            .and_then(|n| unit.checked_mul(n))
            .ok_or_else(|| format!("duration \"{text}\" is too large")),
        Err(_) => parse_duration(text),
    }
}

/// Nanoseconds per unit, as Go spells the units.
const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a Go duration into signed nanoseconds. Errors carry Go's messages, e.g.
/// `time: invalid duration "abc"`.
pub(crate) fn parse(s: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration \"{s}\"");
    let mut rest = s;
    let negative = match rest.as_bytes().first() {
        Some(b'-') => {
            rest = &rest[1..];
            true
        }
        Some(b'+') => {
            rest = &rest[1..];
            false
        }
        _ => false,
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits = |t: &str| t.bytes().take_while(u8::is_ascii_digit).count();
        let n_int = digits(rest);
        let int = &rest[..n_int];
        rest = &rest[n_int..];
        let mut frac = "";
        if let Some(after) = rest.strip_prefix('.') {
            let n = digits(after);
            frac = &after[..n];
            rest = &after[n..];
            if int.is_empty() && frac.is_empty() {
                return Err(invalid());
            }
        } else if int.is_empty() {
            return Err(invalid());
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(i, _)| i);
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration \"{s}\""));
        }
        let Some(&(_, scale)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            return Err(format!("time: unknown unit \"{unit}\" in duration \"{s}\""));
        };
        let whole: u128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| invalid())?
        };
        let mut value = whole.checked_mul(scale).ok_or_else(invalid)?;
        // The fraction, to nanosecond precision (Go truncates the same way).
        let mut place = scale;
        for d in frac.bytes() {
            place /= 10;
            if place == 0 {
                break;
            }
            value += u128::from(d - b'0') * place;
        }
        total = total.checked_add(value).ok_or_else(invalid)?;
        if total > i64::MAX as u128 + u128::from(negative) {
            return Err(invalid());
        }
    }
    Ok(if negative {
        (total as i128).wrapping_neg() as i64
    } else {
        total as i64
    })
}

/// Formats nanoseconds as Go's `Duration.String`: `0s`, `1.5µs`, `500ms`, `10s`, `1m30s`,
/// `24h0m0s`.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) fn format(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    let frac = |v: u64, scale: u64| {
        let (int, rem) = (v / scale, v % scale);
        if rem == 0 {
            int.to_string()
        } else {
            let digits = scale.to_string().len() - 1;
            let f = format!("{rem:0digits$}");
            format!("{int}.{}", f.trim_end_matches('0'))
        }
    };
    if u < 1_000 {
        return format!("{sign}{u}ns");
    }
    if u < 1_000_000 {
        return format!("{sign}{}µs", frac(u, 1_000));
    }
    if u < 1_000_000_000 {
        return format!("{sign}{}ms", frac(u, 1_000_000));
    }
    let secs = frac(u % 60_000_000_000, 1_000_000_000);
    let mins = u / 60_000_000_000;
    if mins == 0 {
        return format!("{sign}{secs}s");
    }
    let (hours, mins) = (mins / 60, mins % 60);
    if hours == 0 {
        return format!("{sign}{mins}m{secs}s");
    }
    format!("{sign}{hours}h{mins}m{secs}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_syntax() {
        assert_eq!(parse("15s"), Ok(15_000_000_000));
        assert_eq!(parse("15000ms"), Ok(15_000_000_000));
        assert_eq!(parse("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("0s"), Ok(0));
        assert_eq!(parse("-2s"), Ok(-2_000_000_000));
        assert_eq!(parse("+2s"), Ok(2_000_000_000));
        assert_eq!(parse(".5s"), Ok(500_000_000));
        assert_eq!(parse("1.s"), Ok(1_000_000_000));
        assert_eq!(parse("3µs"), Ok(3_000));
        assert_eq!(parse("3μs"), Ok(3_000));
        assert_eq!(parse("3us"), Ok(3_000));
        assert_eq!(parse("500ns"), Ok(500));
    }

    #[test]
    fn rejects_with_go_messages() {
        assert_eq!(parse(""), Err("time: invalid duration \"\"".into()));
        assert_eq!(parse("abc"), Err("time: invalid duration \"abc\"".into()));
        assert_eq!(
            parse("5"),
            Err("time: missing unit in duration \"5\"".into())
        );
        assert_eq!(
            parse("5x"),
            Err("time: unknown unit \"x\" in duration \"5x\"".into())
        );
        assert!(parse(".s").is_err());
        assert!(parse("-").is_err());
        assert!(parse("99999999999999999999h").is_err());
        assert!(parse("3000000h").is_err());
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format(0), "0s");
        assert_eq!(format(10_000_000_000), "10s");
        assert_eq!(format(86_400_000_000_000), "24h0m0s");
        assert_eq!(format(90_000_000_000), "1m30s");
        assert_eq!(format(1_500_000_000), "1.5s");
        assert_eq!(format(500_000_000), "500ms");
        assert_eq!(format(1_500), "1.5µs");
        assert_eq!(format(7), "7ns");
        assert_eq!(format(-10_000_000_000), "-10s");
        assert_eq!(format(i64::MIN), "-2562047h47m16.854775808s");
    }
}
