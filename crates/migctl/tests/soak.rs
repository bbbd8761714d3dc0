//! The short concurrency soak CI runs: `migctl bench soak --duration 5`.

use std::process::Command;

/// Five seconds of concurrent create/destroy (simulator and fake NVML
/// library), apply and listing processes on one simulated machine end with
/// every check passing (no corrupt state, lost update, deadlock, orphaned
/// journal or inconsistent listing), and the report counts real work:
/// operations and checks both non-zero. Needs the fake NVML library built
/// (`cargo build --workspace`), as the NVML backend tests do.
#[test]
fn a_short_soak_passes_every_check() {
    let o = Command::new(env!("CARGO_BIN_EXE_migctl"))
        .args(["bench", "soak", "--duration", "5", "--output", "json"])
        .output()
        .expect("migctl runs");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "soak failed: {text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON report");
    assert!(v["ops"].as_u64().unwrap_or(0) > 0, "{v}");
    assert!(v["checks"].as_u64().unwrap_or(0) > 0, "{v}");
    assert_eq!(v["failures"].as_array().map(Vec::len), Some(0), "{v}");
}

/// The checks can fail: with `--sabotage`, a writer drops GIs from GPU 0
/// behind its owner's back, and the soak reports the lost update and exits 1.
#[test]
fn a_writer_behind_an_owners_back_is_caught() {
    let o = Command::new(env!("CARGO_BIN_EXE_migctl"))
        .args([
            "bench",
            "soak",
            "--duration",
            "4",
            "--sabotage",
            "--output",
            "json",
        ])
        .output()
        .expect("migctl runs");
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON report");
    let failures = v["failures"].as_array().expect("failures listed");
    assert!(
        failures
            .iter()
            .any(|f| f.as_str().unwrap_or("").starts_with("lost update on GPU 0")),
        "{v}"
    );
}
