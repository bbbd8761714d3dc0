use super::*;
use crate::assertion::assert_selection;
use mig_config::testutil::snapshot;
use mig_config::validate;

/// Proves identical GPUs merge into one `devices: all` entry without a
/// filter, and the YAML reads back to the same spec.
#[test]
fn identical_gpus_merge() {
    let snaps: Vec<_> = (0..4)
        .map(|i| {
            snapshot(
                i,
                "a100-sxm4-40gb",
                true,
                &[(9, 4), (14, 0), (19, 2), (19, 3)],
            )
        })
        .collect();
    let spec = export(&snaps, "current", false);
    let y = spec.to_yaml();
    assert_eq!(
        y,
        "version: v1\nmig-configs:\n  \"current\":\n    - devices: all\n      mig-enabled: true\n      mig-devices:\n        \"1g.5gb\": 2\n        \"2g.10gb\": 1\n        \"3g.20gb\": 1\n"
    );
    assert_eq!(Spec::parse(&y, "export").unwrap(), spec);
}

/// Proves mig-parted's merge rules on a mixed node: one filter per board
/// kind, a single filter as a string, `devices: all` where an entry holds
/// every GPU of its filters, and index lists otherwise.
#[test]
fn mixed_node_merges_as_mig_parted() {
    let snaps = vec![
        snapshot(0, "a100-sxm4-80gb", true, &[(0, 0)]),
        snapshot(1, "a100-sxm4-80gb", false, &[]),
        snapshot(2, "h100-sxm5-80gb", false, &[]),
    ];
    let spec = export(&snaps, "current", false);
    let e = &spec.configs[0].entries;
    assert_eq!(e.len(), 2);
    assert_eq!(e[0].device_filter.len(), 1);
    assert_eq!(e[0].devices, Devices::List(vec![GpuRef::Index(0)]));
    assert_eq!(e[1].device_filter.len(), 2);
    assert_eq!(
        e[1].devices,
        Devices::List(vec![GpuRef::Index(1), GpuRef::Index(2)])
    );
    let y = spec.to_yaml();
    assert!(y.contains("- device-filter: \"0x20B210DE\"\n"), "{y}");
    assert_eq!(Spec::parse(&y, "export").unwrap(), spec);
}

/// Proves an exported config asserts on the machine it came from, with and
/// without placements, and the placement form pins every start.
#[test]
fn export_then_assert_holds() {
    let snaps = vec![
        snapshot(0, "a100-sxm4-40gb", true, &[(9, 4), (14, 0), (19, 2)]),
        snapshot(1, "h100-sxm5-80gb", true, &[(15, 6)]),
        snapshot(2, "a100-sxm4-40gb", false, &[]),
    ];
    for placements in [false, true] {
        let spec = export(&snaps, "current", placements);
        let text = spec.to_yaml();
        let back = Spec::parse(&text, "export").unwrap();
        assert_eq!(back, spec, "{text}");
        let ids: Vec<_> = snaps.iter().map(|s| s.identity.clone()).collect();
        let sel = validate(&back.configs[0], &ids).unwrap();
        assert_eq!(assert_selection(&sel, &snaps, false), Ok(()), "{text}");
        if placements {
            assert!(text.contains("start: 4"), "{text}");
            assert!(sel.targets[0]
                .demand
                .gpu_instances
                .iter()
                .all(|g| g.placement.is_some()));
        }
    }
    let json = export(&snaps, "current", false).to_json();
    assert_eq!(
        json["mig-configs"]["current"][0]["mig-devices"]["3g.20gb"],
        1
    );
}
