//! Fuzzes the HTTP API's request routing and parsing (path and query decoding, Go durations,
//! session-create bodies): `cargo +nightly fuzz run http_request` (from `fuzz/`). The committed
//! corpus is replayed by `tests/fuzz_corpus.rs` in every test run.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lockd::http::fuzz_http_request(data));
