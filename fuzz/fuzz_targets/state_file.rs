//! Fuzz target `state_file`: the property it checks is documented in
//! `fuzz/harness/state_file.rs`, shared with the replay of kept inputs in the normal suite.
#![no_main]

#[path = "../harness/state_file.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
