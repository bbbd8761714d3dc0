//! Fuzz target `smi_args`: the property it checks is documented in
//! `fuzz/harness/smi_args.rs`, shared with the replay of kept inputs in the normal suite.
#![no_main]

#[path = "../../crates/mig-smi/src/args.rs"]
#[allow(dead_code)]
mod smi_args;

#[path = "../harness/smi_args.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
