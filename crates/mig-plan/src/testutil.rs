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
pub fn one_entry(mig_devices: &str) -> crate::config::NamedConfig {
    let text = format!(
        "version: v1\nmig-configs:\n  c:\n    - devices: all\n      mig-enabled: true\n      mig-devices: {mig_devices}\n"
    );
    crate::config::Spec::parse(&text, "test")
        .unwrap()
        .configs
        .remove(0)
}
