//! `migctl exporter --config-file`: the config state series through the
//! command line, before, during (an apply that crashed midway) and after.

mod common;

fn series(text: &str, prefix: &str) -> Option<String> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .map(str::to_string)
}

/// Proves the exporter reports a config not yet applied, an apply that
/// crashed midway as an unfinished journal (and the config still not held),
/// and, after `migctl apply` finishes it, the config held and no unfinished
/// journal; and that a config file that does not parse stops it at start
/// with exit 2 and the file named.
#[test]
fn config_state_and_unfinished_journal() {
    let m = common::Machine::new();
    m.ok(&["sim", "init", "h100-sxm5-80gb"]);
    let f = m.dir.path().join("c.yaml");
    std::fs::write(
        &f,
        "version: v1\nmig-configs:\n  quarters:\n    - devices: all\n      mig-enabled: true\n      mig-devices:\n        \"2g.20gb\": 3\n",
    )
    .unwrap();
    let fs = f.to_str().unwrap();
    let scrape = || m.ok(&["exporter", "--once", "--config-file", fs, "-c", "quarters"]);
    let t = scrape();
    assert_eq!(
        series(&t, "migctl_config_valid{config=\"quarters\"}").as_deref(),
        Some("1")
    );
    assert_eq!(
        series(&t, "migctl_config_applied{config=\"quarters\"}").as_deref(),
        Some("0")
    );
    assert_eq!(
        series(&t, "migctl_apply_journal_unfinished").as_deref(),
        Some("0")
    );

    let o = m
        .cmd(&["apply", "-f", fs, "-c", "quarters"])
        .env("MIGCTL_SIM_FAULT", "abort:3")
        .output()
        .unwrap();
    assert!(o.status.code().is_none(), "abort:3 did not crash");
    let t = scrape();
    assert_eq!(
        series(&t, "migctl_apply_journal_unfinished").as_deref(),
        Some("1"),
        "{t}"
    );
    assert_eq!(
        series(&t, "migctl_config_applied{config=\"quarters\"}").as_deref(),
        Some("0")
    );

    m.ok(&["apply", "-f", fs, "-c", "quarters"]);
    let t = scrape();
    assert_eq!(
        series(&t, "migctl_apply_journal_unfinished").as_deref(),
        Some("0"),
        "{t}"
    );
    assert_eq!(
        series(&t, "migctl_config_applied{config=\"quarters\"}").as_deref(),
        Some("1")
    );

    std::fs::write(&f, "version: v1\nmig-configs: [\n").unwrap();
    let o = m.run(&["exporter", "--once", "--config-file", fs, "-c", "quarters"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("c.yaml"),
        "{o:?}"
    );
}
