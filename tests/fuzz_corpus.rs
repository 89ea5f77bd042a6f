//! Replays the committed fuzz corpus (`fuzz/corpus/*`) through the fuzz targets' bodies, so
//! every input that once found a bug (and every seed) is checked in ordinary test runs.
#![cfg(feature = "tcp-server")]

use std::path::Path;

/// Runs every input of `fuzz/corpus/TARGET`; `None` in a packaged copy of the crate, which
/// does not ship `fuzz/` (a crate of its own). In the repository a missing corpus fails.
fn replay(target: &str, run: fn(&[u8])) -> Option<usize> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    if !fuzz.exists()
        && Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(".cargo_vcs_info.json")
            .exists()
    {
        eprintln!(
            "skipped: a packaged crate does not ship fuzz/ (run this test in the repository)"
        );
        return None;
    }
    let dir = fuzz.join("corpus").join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        run(&data);
        count += 1;
    }
    Some(count)
}

#[test]
fn line_protocol_corpus() {
    if let Some(n) = replay("line_protocol", lockd::protocol::fuzz_line_protocol) {
        assert!(n >= 5, "the corpus is missing: {n} inputs");
    }
}

#[test]
fn acl_file_corpus() {
    if let Some(n) = replay("acl_file", lockd::acl::fuzz_acl_file) {
        assert!(n >= 5, "the corpus is missing: {n} inputs");
    }
}

#[cfg(feature = "http")]
#[test]
fn http_request_corpus() {
    if let Some(n) = replay("http_request", lockd::http::fuzz_http_request) {
        assert!(n >= 5, "the corpus is missing: {n} inputs");
    }
}

#[test]
fn line_protocol_random_inputs() {
    // A deterministic pseudo-random sweep as a cheap stand-in for a fuzz run in CI.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for len in 0..2000usize {
        let data: Vec<u8> = (0..len % 300)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Bias towards the bytes the framing cares about.
                match x % 8 {
                    0 => b'\n',
                    1 => b'\r',
                    2 => b' ',
                    3 => b'g',
                    _ => (x >> 8) as u8,
                }
            })
            .collect();
        lockd::protocol::fuzz_line_protocol(&data);
    }
}
