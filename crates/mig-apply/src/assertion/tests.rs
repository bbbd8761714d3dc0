use super::*;
use mig_config::testutil::snapshot;
use mig_config::validate;
use mig_config::Spec;

fn selection(text: &str, snaps: &[GpuSnapshot]) -> Selection {
    let spec = Spec::parse(text, "t").unwrap();
    let ids: Vec<_> = snaps.iter().map(|s| s.identity.clone()).collect();
    validate(&spec.configs[0], &ids).unwrap()
}

const BALANCED: &str = "version: v1\nmig-configs:\n  b:\n    - devices: all\n      mig-enabled: true\n      mig-devices: {\"1g.5gb\": 2, \"2g.10gb\": 1, \"3g.20gb\": 1}\n";

/// Proves a GPU holding the demanded profiles asserts whatever their
/// placements, and one holding other profiles, or MIG off, does not.
#[test]
fn counts_match_regardless_of_placement() {
    let good = [snapshot(
        0,
        "a100-sxm4-40gb",
        true,
        &[(9, 4), (14, 2), (19, 0), (19, 1)],
    )];
    assert_eq!(
        assert_selection(&selection(BALANCED, &good), &good, false),
        Ok(())
    );
    let bad = [snapshot(0, "a100-sxm4-40gb", true, &[(9, 0), (9, 4)])];
    let e = assert_selection(&selection(BALANCED, &bad), &bad, false).unwrap_err();
    assert!(
        e[0].to_string()
            .contains("holds 3g.20gb@0 [3g.20gb], 3g.20gb@4 [3g.20gb]"),
        "{}",
        e[0]
    );
    let off = [snapshot(0, "a100-sxm4-40gb", false, &[])];
    let e = assert_selection(&selection(BALANCED, &off), &off, true).unwrap_err();
    assert!(matches!(
        e[0],
        Mismatch::Mode {
            want: true,
            have: false,
            ..
        }
    ));
    // --mode-only ignores the layout.
    assert_eq!(
        assert_selection(&selection(BALANCED, &bad), &bad, true),
        Ok(())
    );
}

/// Proves pinned placements are asserted: the same profiles elsewhere fail.
#[test]
fn pins_are_asserted() {
    let pinned = "version: migctl/v1\nmig-configs:\n  p:\n    - devices: all\n      mig-enabled: true\n      gpu-instances: [{profile: 3g.20gb, start: 4}, {profile: 2g.10gb}]\n";
    let at4 = [snapshot(0, "a100-sxm4-40gb", true, &[(9, 4), (14, 0)])];
    assert_eq!(
        assert_selection(&selection(pinned, &at4), &at4, false),
        Ok(())
    );
    let at0 = [snapshot(0, "a100-sxm4-40gb", true, &[(9, 0), (14, 4)])];
    assert!(assert_selection(&selection(pinned, &at0), &at0, false).is_err());
}

/// Proves the fix of mig-parted's assert bug: a config selecting only GPU 1
/// asserts when GPU 1 matches, whatever the unselected GPU 0 holds.
#[test]
fn unselected_gpus_are_not_held_against_the_config() {
    let text = "version: v1\nmig-configs:\n  one:\n    - devices: [1]\n      mig-enabled: true\n      mig-devices: {\"3g.20gb\": 2}\n";
    let snaps = [
        snapshot(0, "a100-sxm4-40gb", false, &[]),
        snapshot(1, "a100-sxm4-40gb", true, &[(9, 0), (9, 4)]),
    ];
    let sel = selection(text, &snaps);
    assert_eq!(sel.unselected, [0]);
    assert_eq!(assert_selection(&sel, &snaps, false), Ok(()));
}

/// Proves unpinned CIs are compared by counts as mig-parted compares them
/// (two 1c CIs in one 2g GI, or one in each of two, both match
/// `1c.2g.10gb: 2`), while pinned GIs are compared with their CIs.
#[test]
fn counts_for_unpinned_structure_for_pinned() {
    let text = "version: v1\nmig-configs:\n  c:\n    - devices: all\n      mig-enabled: true\n      mig-devices: {\"1c.2g.10gb\": 2}\n";
    let m = mig_model::catalog::model("a100-sxm4-40gb").unwrap();
    let mut one_gi = snapshot(0, "a100-sxm4-40gb", true, &[]);
    let id = one_gi
        .layout
        .create_gi(m, mig_model::GiProfileId(14), None)
        .unwrap();
    for _ in 0..2 {
        one_gi
            .layout
            .create_ci(m, id, mig_model::CiProfileId(0), None)
            .unwrap();
    }
    let mut two_gis = snapshot(0, "a100-sxm4-40gb", true, &[]);
    for _ in 0..2 {
        let id = two_gis
            .layout
            .create_gi(m, mig_model::GiProfileId(14), None)
            .unwrap();
        two_gis
            .layout
            .create_ci(m, id, mig_model::CiProfileId(0), None)
            .unwrap();
    }
    for s in [&one_gi, &two_gis] {
        let snaps = [s.clone()];
        assert_eq!(
            assert_selection(&selection(text, &snaps), &snaps, false),
            Ok(())
        );
    }
    let pinned = "version: migctl/v1\nmig-configs:\n  p:\n    - devices: all\n      mig-enabled: true\n      gpu-instances: [{profile: 2g.10gb, start: 4, compute-instances: [{profile: 1c.2g.10gb}, {profile: 1c.2g.10gb}]}]\n";
    let snaps = [one_gi.clone()];
    assert_eq!(
        assert_selection(&selection(pinned, &snaps), &snaps, false),
        Ok(())
    );
    let snaps = [two_gis.clone()];
    assert!(assert_selection(&selection(pinned, &snaps), &snaps, false).is_err());
}
