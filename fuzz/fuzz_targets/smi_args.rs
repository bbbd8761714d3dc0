//! The nvidia-smi-style argument parser never panics: any argument list
//! parses to a command or a usage error with a message and a status.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/migctl/src/smi_args.rs"]
#[allow(dead_code)]
mod smi_args;

fuzz_target!(|data: &[u8]| {
    // NUL-separated arguments, as argv is
    let text = String::from_utf8_lossy(data);
    let argv: Vec<String> = text.split('\0').map(str::to_string).collect();
    if let Err(e) = smi_args::parse(&argv) {
        assert!(!e.text.is_empty());
        assert!((0..=255).contains(&e.code));
    }
});
