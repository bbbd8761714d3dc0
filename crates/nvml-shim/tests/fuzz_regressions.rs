//! Replays the inputs kept in `fuzz/regressions/nvml_shim/` (a sample of the
//! fuzzer's minimised corpus and every input that ever crashed) through the
//! function the `nvml_shim` fuzz target runs (`fuzz/harness/nvml_shim.rs`):
//! sequences of calls into the fake NVML library with stale and made-up
//! handles, NULL outputs, fuzzed struct versions and short buffers, each on a
//! fresh simulated machine. The harness owns the process's simulator state
//! path, so this binary holds this one test.

#[path = "../../../fuzz/harness/nvml_shim.rs"]
mod harness;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the panic hook: the shim's entry guard turns a panic into
/// NVML_ERROR_UNKNOWN (a bug must not unwind into a C caller), which the
/// harness accepts as an answer, so a panic is caught here instead, as
/// libFuzzer's abort-on-panic hook catches it in the fuzz target.
static PANICKED: AtomicBool = AtomicBool::new(false);

#[test]
fn nvml_shim_inputs() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/nvml_shim");
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "{} holds no inputs", dir.display());
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICKED.store(true, Ordering::SeqCst);
        default_hook(info)
    }));
    for p in &inputs {
        let data = std::fs::read(p).expect("readable input");
        let unwound = std::panic::catch_unwind(|| harness::run(&data)).is_err();
        assert!(
            !unwound && !PANICKED.load(Ordering::SeqCst),
            "{}: the fake library or the harness panicked (see above)",
            p.display()
        );
    }
    eprintln!("nvml_shim: replayed {} kept inputs", inputs.len());
}
