//! Fuzzes the lockd line framing and request parser: `cargo +nightly fuzz run line_protocol`
//! (from `fuzz/`). The committed corpus is replayed by `tests/fuzz_corpus.rs` in every test run.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lockd::protocol::fuzz_line_protocol(data));
