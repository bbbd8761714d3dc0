//! `migctl sim set`: modelled readings are changed, shown as JSON, and bad
//! input is refused with a message and a non-zero exit, changing nothing.

mod common;
use common::Machine;

fn json(m: &Machine, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(m.ok(args).trim()).expect("JSON output")
}

/// Proves a setting lands in the state (shown by `--output json`) only on
/// the GPU named, and the board's default power limit is reported.
#[test]
fn sim_set_changes_and_shows_readings() {
    let m = Machine::new();
    m.ok(&["sim", "init", "h100-sxm5-80gb", "a100-sxm4-40gb"]);
    m.ok(&[
        "sim",
        "set",
        "--gpu",
        "1",
        "temperature=85",
        "power=300",
        "utilization=50",
    ]);
    let v = json(&m, &["sim", "set", "--output", "json"]);
    assert_eq!(v[1]["telemetry"]["temperature_c"], 85);
    assert_eq!(v[1]["telemetry"]["power_mw"], 300_000);
    assert_eq!(v[1]["telemetry"]["utilization_gpu"], 50);
    assert_eq!(v[0]["telemetry"]["temperature_c"], 39, "GPU 0 untouched");
    assert_eq!(v[0]["power_limit_mw"], 700_000);
    assert_eq!(v[1]["power_limit_mw"], 400_000);
}

/// Proves bad keys, values, ranges, GPUs and per-MIG-device requests are
/// refused with their exit codes and a message naming the problem, and the
/// state file is left as it was.
#[test]
fn sim_set_refuses_bad_input() {
    let m = Machine::new();
    m.ok(&["sim", "init", "h100-sxm5-80gb"]);
    let before = m.state_text();
    for (args, code, says) in [
        (vec!["bogus=1"], 2, "unknown key \"bogus\""),
        (vec!["temperature=hot"], 2, "temperature"),
        (vec!["power-limit=900"], 2, "outside 200..=700"),
        (vec!["fan=50"], 2, "no fan"),
        (vec!["--gpu", "3", "power=1"], 6, "no GPU 3"),
        (
            vec!["--gpu", "0", "--gi", "1", "--ci", "0", "utilization=5"],
            2,
            "per GPU",
        ),
        (vec!["temperature"], 2, "KEY=VALUE"),
    ] {
        let mut a = vec!["sim", "set"];
        a.extend(&args);
        let o = m.run(&a);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(m.state_text(), before, "{args:?} changed the state");
    }
}
