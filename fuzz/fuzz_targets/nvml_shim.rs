//! Fuzz target `nvml_shim`: the property it checks is documented in
//! `fuzz/harness/nvml_shim.rs`, shared with the replay of kept inputs in the normal suite.
#![no_main]

#[path = "../harness/nvml_shim.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
