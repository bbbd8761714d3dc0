//! The nvidia-smi-style argument parser never panics: any argument list
//! parses to a command or a usage error with a message and a status.
//!
//! Shared by the fuzz target (`fuzz/fuzz_targets/smi_args.rs`) and the replay
//! of kept inputs in the normal suite (`crates/migctl/tests/fuzz_regressions.rs`);
//! the includer declares `mod smi_args` (migctl's `src/smi_args.rs`) at its root.

pub fn run(data: &[u8]) {
    // NUL-separated arguments, as argv is
    let text = String::from_utf8_lossy(data);
    let argv: Vec<String> = text.split('\0').map(str::to_string).collect();
    if let Err(e) = crate::smi_args::parse(&argv) {
        assert!(!e.text.is_empty(), "a usage error says something");
        assert!((0..=255).contains(&e.code), "an exit status fits a byte");
    }
}
