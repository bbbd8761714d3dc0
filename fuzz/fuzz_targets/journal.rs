//! Fuzz target `journal`: the property it checks is documented in
//! `fuzz/harness/journal.rs`, shared with the replay of kept inputs in the normal suite.
#![no_main]

#[path = "../harness/journal.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
