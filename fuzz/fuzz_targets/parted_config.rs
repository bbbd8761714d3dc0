//! Fuzz target `parted_config`: the property it checks is documented in
//! `fuzz/harness/parted_config.rs`, shared with the replay of kept inputs in the normal suite.
#![no_main]

#[path = "../harness/parted_config.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
