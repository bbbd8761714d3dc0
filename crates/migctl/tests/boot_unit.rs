//! The boot unit `deploy/systemd/migctl-apply@.service`.

mod common;

use common::Machine;
use std::path::Path;

fn unit() -> String {
    let p =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/systemd/migctl-apply@.service");
    std::fs::read_to_string(p).expect("unit file")
}

/// `KEY=value` lines of one `[Section]`.
fn keys(text: &str, section: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut out = Vec::new();
    for l in text.lines() {
        let l = l.trim();
        if l.starts_with('[') {
            inside = l == format!("[{section}]");
        } else if inside && !l.starts_with('#') {
            if let Some((k, v)) = l.split_once('=') {
                out.push((k.to_string(), v.to_string()));
            }
        }
    }
    out
}

fn get(kv: &[(String, String)], k: &str) -> Vec<String> {
    kv.iter()
        .filter(|(a, _)| a == k)
        .map(|(_, v)| v.clone())
        .collect()
}

/// Proves the unit is a oneshot with a start timeout, ordered after
/// nvidia-persistenced, and that systemd accepts it (`systemd-analyze
/// verify`, where installed).
#[test]
fn unit_shape_and_systemd_verify() {
    let text = unit();
    let u = keys(&text, "Unit");
    let s = keys(&text, "Service");
    assert!(get(&u, "After").iter().any(|v| v
        .split_whitespace()
        .any(|x| x == "nvidia-persistenced.service")));
    assert_eq!(get(&s, "Type"), ["oneshot"]);
    let t = get(&s, "TimeoutStartSec");
    assert_eq!(t.len(), 1);
    assert!(t[0].parse::<u32>().is_ok_and(|n| n > 0), "{t:?}");
    common::systemd_verify(
        "unit_shape_and_systemd_verify",
        &text,
        "migctl-apply@all-balanced.service",
    );
}

/// Proves the unit's ExecStart and ExecStartPost command lines, with `%i`
/// a config name, run and succeed on a machine that already holds it (the
/// boot after a reboot that kept the layout), and the post-check fails on
/// one that does not.
#[test]
fn unit_commands_run() {
    let m = Machine::new();
    m.ok(&["sim", "init", "h100-sxm5-80gb"]);
    m.ok(&["-mig", "1"]);
    m.ok(&["mig", "-cgi", "9,9", "-C"]);
    let cfg = m.dir.path().join("config.yaml");
    std::fs::write(
        &cfg,
        "version: v1\nmig-configs:\n  two-3g:\n    - devices: all\n      mig-enabled: true\n      mig-devices: {\"3g.40gb\": 2}\n  seven-1g:\n    - devices: all\n      mig-enabled: true\n      mig-devices: {\"1g.10gb\": 7}\n",
    )
    .unwrap();
    let s = keys(&unit(), "Service");
    let run = |line: &str, name: &str| {
        let line = line
            .replace("%i", name)
            .replace("/etc/migctl/config.yaml", cfg.to_str().unwrap());
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[0], "/usr/local/bin/migctl");
        m.run(&words[1..]).status.code()
    };
    for line in get(&s, "ExecStart").iter().chain(&get(&s, "ExecStartPost")) {
        assert_eq!(run(line, "two-3g"), Some(0), "{line}");
    }
    assert_eq!(run(&get(&s, "ExecStartPost")[0], "seven-1g"), Some(1));
}
