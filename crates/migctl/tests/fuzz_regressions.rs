//! Replays the inputs kept in `fuzz/regressions/<target>/` (seeds, a sample of
//! each fuzzer's minimised corpus, and every input that ever crashed) through
//! the very function the fuzz target runs (`fuzz/harness/<target>.rs`), so the
//! normal suite fails if a fixed crash comes back. The fake NVML library's
//! target is replayed by `crates/nvml-shim/tests/fuzz_regressions.rs`, in a
//! process of its own.

#[path = "../../mig-smi/src/args.rs"]
#[allow(dead_code)]
mod smi_args;

#[path = "../../../fuzz/harness/journal.rs"]
mod journal_harness;
#[path = "../../../fuzz/harness/pack_files.rs"]
mod pack_files_harness;
#[path = "../../../fuzz/harness/parted_config.rs"]
mod parted_config_harness;
#[path = "../../../fuzz/harness/smi_args.rs"]
mod smi_args_harness;
#[path = "../../../fuzz/harness/state_file.rs"]
mod state_file_harness;

use std::path::PathBuf;

/// Runs every kept input of `target` through `run`; a panic names the input.
fn replay(target: &str, run: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions")
        .join(target);
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "{} holds no inputs", dir.display());
    for p in &inputs {
        let data = std::fs::read(p).expect("readable input");
        if let Err(e) = std::panic::catch_unwind(|| run(&data)) {
            let why = e
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| e.downcast_ref::<&str>().copied())
                .unwrap_or("a panic");
            panic!("{}: {why}", p.display());
        }
    }
    eprintln!("{target}: replayed {} kept inputs", inputs.len());
}

#[test]
fn smi_args_inputs() {
    replay("smi_args", smi_args_harness::run);
}

#[test]
fn state_file_inputs() {
    replay("state_file", state_file_harness::run);
}

#[test]
fn parted_config_inputs() {
    replay("parted_config", parted_config_harness::run);
}

#[test]
fn journal_inputs() {
    replay("journal", journal_harness::run);
}

#[test]
fn pack_files_inputs() {
    replay("pack_files", pack_files_harness::run);
}
