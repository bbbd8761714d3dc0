//! Fuzz target `pack_files`: the property it checks is documented in
//! `fuzz/harness/pack_files.rs`, shared with the replay of kept inputs in the normal suite.
#![no_main]

#[path = "../harness/pack_files.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
