use super::*;

fn parse(text: &str) -> Result<Spec, ConfigError> {
    Spec::parse(text, "test.yaml")
}

fn parse_err(text: &str) -> (Option<usize>, String) {
    match parse(text) {
        Err(ConfigError::Parse { line, message, .. }) => (line, message),
        other => panic!("expected a parse error, got {other:?}"),
    }
}

/// Proves a v1 file with every field form parses into the typed spec, in
/// file order, with filters, index lists and counts as written.
#[test]
fn parses_v1_forms() {
    let s = parse(
        r#"
version: v1
mig-configs:
  b:
    - device-filter: ["0x20B010DE", "0x20B510DE:0x153310DE"]
      devices: [0, 2]
      mig-enabled: true
      mig-devices:
        "1g.5gb": 2
        "1c.3g.20gb": 3
  a:
    - devices: all
      mig-enabled: false
    - device-filter: "0x1FB010DE"
      devices: all
      mig-enabled: false
      mig-devices: {}
"#,
    )
    .unwrap();
    assert_eq!(s.version, SpecVersion::V1);
    assert_eq!(s.names(), ["b", "a"]);
    let e = &s.configs[0].entries[0];
    assert_eq!(
        e.device_filter,
        [
            DeviceFilter {
                device: 0x20B010DE,
                subsystem: None
            },
            DeviceFilter {
                device: 0x20B510DE,
                subsystem: Some(0x153310DE)
            }
        ]
    );
    assert_eq!(
        e.devices,
        Devices::List(vec![
            mig_model::GpuRef::Index(0),
            mig_model::GpuRef::Index(2)
        ])
    );
    match &e.mig_devices {
        MigDevices::Counts(c) => {
            let v: Vec<(&str, u32)> = c.iter().map(|(p, n)| (p.as_str(), *n)).collect();
            assert_eq!(v, [("1g.5gb", 2), ("1c.3g.20gb", 3)]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.configs[1].entries[1].device_filter[0].device, 0x1FB010DE);
}

/// Proves selection: by name, implicitly when the file has one config, and
/// refused (listing the names) otherwise.
#[test]
fn selects_configs() {
    let one =
        parse("version: v1\nmig-configs:\n  x:\n    - devices: all\n      mig-enabled: false\n")
            .unwrap();
    assert_eq!(one.select(None, "f").unwrap().name, "x");
    let two = parse(
        "version: v1\nmig-configs:\n  x:\n    - devices: all\n      mig-enabled: false\n  y:\n    - devices: all\n      mig-enabled: false\n",
    )
    .unwrap();
    assert!(matches!(
        two.select(None, "f"),
        Err(ConfigError::NoSelection { .. })
    ));
    assert_eq!(two.select(Some("y"), "f").unwrap().name, "y");
    let e = two.select(Some("z"), "f").unwrap_err().to_string();
    assert!(e.contains("x, y"), "{e}");
}

/// Proves each kind of bad file is refused with a message naming the
/// problem and the line it is on.
#[test]
fn bad_files_name_line_and_key() {
    let cases: &[(&str, usize, &str)] = &[
        ("version: v1\nmig-configs: [\n", 3, ""),
        ("version: v2\nmig-configs: {}\n", 1, "unknown version"),
        (
            "version: v1\nmig-configs:\n  x:\n    - devices: all\n      mig-enabled: false\n      colour: red\n",
            6,
            "colour",
        ),
        (
            "version: v1\nextra: 1\nmig-configs:\n  x:\n    - devices: all\n      mig-enabled: false\n",
            2,
            "extra",
        ),
        (
            "version: v1\nmig-configs:\n  x:\n    - devices: all\n      mig-enabled: true\n      mig-devices:\n        \"1g.5gb\": -1\n",
            7,
            "0 or more",
        ),
        (
            "version: v1\nmig-configs:\n  x:\n    - devices: all\n      mig-enabled: true\n      mig-devices:\n        \"1x.5gb\": 1\n",
            7,
            "not a MIG profile name",
        ),
        (
            "version: v1\nmig-configs:\n  x:\n    - device-filter: \"0xZZ\"\n      devices: all\n      mig-enabled: false\n",
            4,
            "device-filter",
        ),
        (
            "version: v1\nmig-configs:\n  x:\n    - devices: some\n      mig-enabled: false\n",
            4,
            "'devices'",
        ),
        (
            "version: v1\nmig-configs:\n  x:\n    - devices: [-1]\n      mig-enabled: false\n",
            4,
            "negative",
        ),
        (
            "version: v1\nmig-configs:\n  x:\n    - devices: all\n      mig-enabled: false\n      mig-devices:\n        \"1g.5gb\": 1\n",
            4,
            "'mig-enabled' is false",
        ),
        (
            "version: v1\nmig-configs:\n  x:\n    - devices: all\n      mig-enabled: true\n",
            4,
            "'mig-devices' is required",
        ),
        (
            "version: v1\nmig-configs:\n  x:\n    - devices: [\"GPU-1234\"]\n      mig-enabled: false\n",
            4,
            "migctl/v1",
        ),
        (
            "version: v1\nmig-configs:\n  x:\n    - devices: all\n      mig-enabled: true\n      gpu-instances: []\n",
            6,
            "migctl/v1",
        ),
        ("version: v1\nmig-configs:\n  x: []\n", 3, "at least one entry"),
    ];
    for (text, line, needle) in cases {
        let (l, msg) = parse_err(text);
        assert!(msg.contains(needle), "{text:?}: {msg}");
        assert_eq!(l, Some(*line), "{text:?}: {msg}");
    }
    let (_, msg) = parse_err("mig-configs: {}\n");
    assert!(msg.contains("missing 'version'"), "{msg}");
}

/// Proves the extension: UUIDs in `devices` and `gpu-instances` with pinned
/// GI and CI starts parse under `version: migctl/v1`.
#[test]
fn parses_migctl_v1_extension() {
    let s = parse(
        r#"
version: migctl/v1
mig-configs:
  pinned:
    - devices: ["GPU-aaaa", 1]
      mig-enabled: true
      gpu-instances:
        - profile: 3g.20gb
          start: 4
          compute-instances:
            - { profile: 1c.3g.20gb, start: 0 }
            - { profile: 2c.3g.20gb }
        - profile: 1g.5gb
"#,
    )
    .unwrap();
    assert_eq!(s.version, SpecVersion::MigctlV1);
    let e = &s.configs[0].entries[0];
    assert_eq!(
        e.devices,
        Devices::List(vec![
            mig_model::GpuRef::Uuid("GPU-aaaa".into()),
            mig_model::GpuRef::Index(1)
        ])
    );
    let MigDevices::Instances(g) = &e.mig_devices else {
        panic!()
    };
    assert_eq!(g[0].start, Some(4));
    let cis = g[0].compute_instances.as_ref().unwrap();
    assert_eq!(cis[0].start, Some(0));
    assert_eq!(cis[1].start, None);
    assert_eq!(g[1].compute_instances, None);
    let (l, msg) = parse_err(
        "version: migctl/v1\nmig-configs:\n  x:\n    - devices: all\n      mig-enabled: true\n      gpu-instances:\n        - profile: 3g.20gb\n          compute-instances:\n            - profile: 1c.2g.10gb\n",
    );
    assert!(msg.contains("cannot be inside"), "{msg}");
    assert_eq!(l, Some(7));
}

/// Proves device filters parse as mig-parted's ParseUint(s, 0, 32) does and
/// match with and without a subsystem.
#[test]
fn device_filters_match() {
    let f = DeviceFilter::parse("0x20B010DE").unwrap();
    assert!(f.matches(0x20B010DE, 0x134F10DE));
    assert!(!f.matches(0x20B210DE, 0x134F10DE));
    let f = DeviceFilter::parse("0x20B510DE:0x153310DE").unwrap();
    assert!(f.matches(0x20B510DE, 0x153310DE));
    assert!(!f.matches(0x20B510DE, 0x153710DE));
    assert_eq!(f.to_string(), "0x20B510DE:0x153310DE");
    assert!(DeviceFilter::parse("0x1:0x2:0x3").is_err());
    assert!(DeviceFilter::parse("0x123456789").is_err());
    assert_eq!(DeviceFilter::parse("16").unwrap().device, 16);
}
