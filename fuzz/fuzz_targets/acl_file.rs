//! Fuzzes the ACL file parser (`--acl`): `cargo +nightly fuzz run acl_file` (from `fuzz/`). The
//! committed corpus is replayed by `tests/fuzz_corpus.rs` in every test run.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lockd::acl::fuzz_acl_file(data));
