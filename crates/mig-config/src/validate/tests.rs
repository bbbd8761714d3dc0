use super::*;
use crate::testutil::{foreign, identity, one_entry};
use crate::v1::Spec;

fn fit_err(slug: &str, mig_devices: &str) -> String {
    let c = one_entry(mig_devices);
    match validate(&c, &[identity(0, slug)]) {
        Err(e) => e.to_string(),
        Ok(s) => panic!("{mig_devices} fits on {slug}: {:?}", s.targets[0].fits_as),
    }
}

/// Proves mig-parted's packing: `1c.2g.10gb: 6` on an A100-40GB becomes
/// three 2g.10gb GIs with two 1c CIs each, and a mixed GI/CI demand keeps
/// the full-size CI in its own GI.
#[test]
fn packs_cis_into_gis() {
    let m = mig_model::catalog::model("a100-sxm4-40gb").unwrap();
    let c = one_entry("{\"1c.2g.10gb\": 6}");
    let d = demand_for(&c.entries[0], m, false).unwrap();
    assert_eq!(d.gpu_instances.len(), 3);
    assert!(d
        .gpu_instances
        .iter()
        .all(|g| g.compute_instances.len() == 2));
    let c = one_entry("{\"2g.10gb\": 1, \"1c.2g.10gb\": 2}");
    let d = demand_for(&c.entries[0], m, false).unwrap();
    let sizes: Vec<usize> = d
        .gpu_instances
        .iter()
        .map(|g| g.compute_instances.len())
        .collect();
    assert_eq!(sizes, [1, 2]);
    let c = one_entry("{\"1c.3g.20gb\": 1, \"2c.3g.20gb\": 1}");
    let d = demand_for(&c.entries[0], m, false).unwrap();
    assert_eq!(d.gpu_instances.len(), 1);
    let s = validate(&c, &[identity(0, "a100-sxm4-40gb")]).unwrap();
    let gi = &s.targets[0].fits_as.gpu_instances[0];
    assert_eq!(gi.compute_instances.len(), 2);
}

/// Proves a demand that fits yields a layout the engine accepts, holding
/// exactly the demanded profiles.
#[test]
fn balanced_fits_with_a_valid_layout() {
    let m = mig_model::catalog::model("a100-sxm4-40gb").unwrap();
    let c = one_entry("{\"1g.5gb\": 2, \"2g.10gb\": 1, \"3g.20gb\": 1}");
    let s = validate(&c, &[identity(0, "a100-sxm4-40gb")]).unwrap();
    let l = &s.targets[0].fits_as;
    l.validate(m).unwrap();
    let mut ids: Vec<u32> = l.gpu_instances.iter().map(|g| g.profile_id.0).collect();
    ids.sort();
    assert_eq!(ids, [9, 14, 19, 19]);
    assert!(l
        .gpu_instances
        .iter()
        .all(|g| g.compute_instances.len() == 1));
}

/// Proves an impossible layout is refused with one sentence naming the
/// profiles and slices that collide, and what still fits.
#[test]
fn collision_sentence_names_profiles_and_slices() {
    let e = fit_err("a100-sxm4-40gb", "{\"4g.20gb\": 1, \"3g.20gb\": 2}");
    assert!(e.contains("3g.20gb needs slices 0-3 or 4-7"), "{e}");
    assert!(e.contains("4g.20gb at 0"), "{e}");
    assert!(e.contains("3g.20gb at 4"), "{e}");
    assert!(e.contains("nothing more fits"), "{e}");
    assert!(e.starts_with("mig-configs.c[0]: GPU 0:"), "{e}");
    let e = fit_err("a100-sxm4-40gb", "{\"3g.20gb\": 2, \"1g.5gb\": 1}");
    assert!(e.contains("1g.5gb needs slices 0, 1, 2, 3, 4, 5 or 6, which 3g.20gb at 0 and 3g.20gb at 4 already use"), "{e}");
}

/// Proves pinned placements are honoured and checked: a bad start names
/// the profile's starts, and a pinned GI that blocks another is named.
#[test]
fn pinned_placements() {
    let text = |gis: &str| {
        format!(
            "version: migctl/v1\nmig-configs:\n  c:\n    - devices: all\n      mig-enabled: true\n      gpu-instances: {gis}\n"
        )
    };
    let gpus = [identity(0, "a100-sxm4-40gb")];
    let spec = Spec::parse(
        &text("[{profile: 3g.20gb, start: 4}, {profile: 2g.10gb}]"),
        "t",
    )
    .unwrap();
    let s = validate(&spec.configs[0], &gpus).unwrap();
    let l = &s.targets[0].fits_as;
    assert!(l
        .gpu_instances
        .iter()
        .any(|g| g.profile_id.0 == 9 && g.placement.start == 4));
    let spec = Spec::parse(&text("[{profile: 3g.20gb, start: 2}]"), "t").unwrap();
    let e = validate(&spec.configs[0], &gpus).unwrap_err().to_string();
    assert!(
        e.contains("cannot start at 2") && e.contains("0 or 4"),
        "{e}"
    );
    let spec = Spec::parse(
        &text("[{profile: 3g.20gb, start: 0}, {profile: 4g.20gb}]"),
        "t",
    )
    .unwrap();
    let e = validate(&spec.configs[0], &gpus).unwrap_err().to_string();
    assert!(
        e.contains("4g.20gb needs slices 0-3, which 3g.20gb at 0 already uses"),
        "{e}"
    );
    let spec = Spec::parse(
        &text("[{profile: 3g.20gb, compute-instances: [{profile: 1c.3g.20gb, start: 1}, {profile: 2c.3g.20gb, start: 1}]}]"),
        "t",
    )
    .unwrap();
    let e = validate(&spec.configs[0], &gpus).unwrap_err().to_string();
    assert!(e.contains("cannot start at 1"), "{e}");
}

/// Proves instance limits and media-engine limits are reported by name,
/// with the engine kind and the counts.
#[test]
fn limits_are_named() {
    let e = fit_err("a100-sxm4-40gb", "{\"1g.10gb\": 5}");
    assert!(
        e.contains("5 x 1g.10gb asked for") && e.contains("at most 4"),
        "{e}"
    );
    let e = fit_err(
        "rtx-pro-6000-server",
        "{\"1g.24gb+me.all\": 1, \"1g.24gb\": 1}",
    );
    // The sentence names the engine kind that runs out and the counts
    // (it used to say only "media engines (NVDEC/NVJPG/OFA)").
    assert!(
        e.ends_with(
            "1g.24gb+me.all + 1g.24gb need 5 decoder engines together, but only 4 are free on this GPU"
        ),
        "{e}"
    );
}

/// Proves unknown profiles for the board, overlapping selectors, indices
/// out of range, unknown UUIDs and MIG-less boards named by index are
/// reported, all at once, each naming its entry.
#[test]
fn selection_problems() {
    let e = fit_err("h100-sxm5-80gb", "{\"1g.5gb\": 1}");
    assert!(
        e.contains("1g.5gb is not a profile of the NVIDIA H100"),
        "{e}"
    );
    let spec = Spec::parse(
        "version: migctl/v1\nmig-configs:\n  c:\n    - devices: all\n      mig-enabled: false\n    - devices: [1, 4, \"GPU-nope\"]\n      mig-enabled: true\n      mig-devices: {}\n    - devices: [2]\n      mig-enabled: true\n      mig-devices: {}\n",
        "t",
    )
    .unwrap();
    let gpus = [
        identity(0, "a100-sxm4-40gb"),
        identity(1, "a100-sxm4-40gb"),
        foreign(2, 0x1FB010DE),
    ];
    let e = validate(&spec.configs[0], &gpus).unwrap_err();
    let kinds: Vec<&ProblemKind> = e.problems.iter().map(|p| &p.kind).collect();
    let want = [
        ProblemKind::IndexOutOfRange { gpu: 4, count: 3 },
        ProblemKind::UnknownUuid {
            uuid: "GPU-nope".into(),
        },
        ProblemKind::Overlap {
            gpu: 1,
            first: 0,
            second: 1,
        },
        ProblemKind::Overlap {
            gpu: 2,
            first: 0,
            second: 2,
        },
    ];
    for w in &want {
        assert!(kinds.contains(&w), "{w:?} missing from {e}");
    }
    assert!(
        e.to_string()
            .contains("mig-configs.c[1]: 'devices' lists GPU 4, but this machine has GPUs 0-2"),
        "{e}"
    );
}

/// Proves device filters pick boards (with and without subsystem), GPUs no
/// entry selects are listed as unselected, and a non-MIG board selected by
/// `all` is skipped as mig-parted skips it.
#[test]
fn filters_select_boards() {
    let spec = Spec::parse(
        "version: v1\nmig-configs:\n  c:\n    - device-filter: \"0x20B210DE\"\n      devices: all\n      mig-enabled: true\n      mig-devices: {\"1g.10gb\": 7}\n    - device-filter: [\"0x1FB010DE\"]\n      devices: all\n      mig-enabled: false\n",
        "t",
    )
    .unwrap();
    let gpus = [
        identity(0, "a100-sxm4-80gb"),
        foreign(1, 0x1FB010DE),
        identity(2, "a100-sxm4-40gb"),
    ];
    let s = validate(&spec.configs[0], &gpus).unwrap();
    assert_eq!(s.targets.len(), 1);
    assert_eq!(s.targets[0].index, 0);
    assert_eq!(s.skipped.len(), 1);
    assert_eq!(s.unselected, [2]);
    let sub = identity(0, "a100-sxm4-80gb").pci_subsystem_id;
    let spec = Spec::parse(
        &format!("version: v1\nmig-configs:\n  c:\n    - device-filter: \"0x20B210DE:0x{:08X}\"\n      devices: all\n      mig-enabled: false\n", sub + 1),
        "t",
    )
    .unwrap();
    let s = validate(&spec.configs[0], &gpus[..1]).unwrap();
    assert_eq!(s.unselected, [0]);
}
