//! The exporter's systemd unit (`deploy/systemd/migctl-exporter.service`):
//! its shape, and that systemd accepts it (`systemd-analyze verify`).

mod common;

fn unit() -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/systemd/migctl-exporter.service");
    std::fs::read_to_string(p).expect("deploy/systemd/migctl-exporter.service")
}

/// Proves the unit runs `migctl exporter` through NVML, restarts on
/// failure, and that `systemd-analyze verify` accepts it (where installed).
#[test]
fn exporter_unit_shape_and_systemd_verify() {
    let text = unit();
    let exec = text
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart=");
    assert!(
        exec.starts_with("/usr/local/bin/migctl exporter --listen "),
        "{exec}"
    );
    assert!(text.lines().any(|l| l == "Environment=MIGCTL_BACKEND=nvml"));
    assert!(text.lines().any(|l| l == "Restart=on-failure"));
    common::systemd_verify(
        "exporter_unit_shape_and_systemd_verify",
        &text,
        "migctl-exporter.service",
    );
}
