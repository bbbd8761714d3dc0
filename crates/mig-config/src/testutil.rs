//! Test helpers: GPU identities of catalog boards, and configs from text.

use mig_model::GpuIdentity;

/// A GPU of catalog board `slug` at `index`, as a backend would report it.
pub fn identity(index: u32, slug: &str) -> GpuIdentity {
    crate::validate::catalog_identity(
        index,
        mig_model::catalog::model(slug).expect("catalog slug"),
    )
}

/// A GPU the catalog does not know (a display board).
pub fn foreign(index: u32, pci_device_id: u32) -> GpuIdentity {
    GpuIdentity {
        index,
        uuid: mig_model::ids::sim_gpu_uuid("foreign", index),
        name: "NVIDIA DGX Display".into(),
        pci_bus_id: format!("00000000:{:02X}:00.0", 7 + index),
        pci_device_id,
        pci_subsystem_id: 0,
        minor: index,
        memory_total_bytes: 4 << 30,
        model: None,
        mirrored: false,
        mode_change_needs_reset: false,
    }
}

/// The one config of a v1 document with a single entry for `devices: all`.
pub fn one_entry(mig_devices: &str) -> crate::v1::NamedConfig {
    let text = format!(
        "version: v1\nmig-configs:\n  c:\n    - devices: all\n      mig-enabled: true\n      mig-devices: {mig_devices}\n"
    );
    crate::v1::Spec::parse(&text, "test")
        .unwrap()
        .configs
        .remove(0)
}

/// A snapshot of a GPU of board `slug` with MIG `enabled` and the GIs
/// `gis` (profile ID, start) created in order, each with its full-size CI.
pub fn snapshot(
    index: u32,
    slug: &str,
    enabled: bool,
    gis: &[(u32, u32)],
) -> mig_model::GpuSnapshot {
    let m = mig_model::catalog::model(slug).expect("catalog slug");
    let mut layout = mig_model::Layout::new(false);
    for &(p, start) in gis {
        let gp = mig_model::engine::gi_profile(m, mig_model::GiProfileId(p)).expect("profile");
        let id = layout
            .create_gi(
                m,
                mig_model::GiProfileId(p),
                Some(mig_model::Placement::new(start, gp.placement_size)),
            )
            .expect("GI fits");
        let full = gp
            .ci_profiles
            .iter()
            .find(|c| c.slices == gp.slices)
            .expect("full CI");
        layout
            .create_ci(m, id, mig_model::CiProfileId(full.id), None)
            .expect("CI fits");
    }
    mig_model::GpuSnapshot {
        identity: identity(index, slug),
        mode: mig_model::backend::MigMode {
            current: enabled,
            pending: enabled,
        },
        layout,
        mig_devices: Vec::new(),
        processes: Vec::new(),
    }
}
