//! `generate-config`: a config for the boards present, from the catalog, as
//! mig-parted's `pkg/mig/builder` builds one from NVML's profile discovery:
//! `all-disabled`, `all-enabled`, `all-balanced` (7-slice boards: 2x1g +
//! 1x2g + 1x3g; 4-slice boards: 2x1g + 1x2g; the base profile of each size
//! with the highest instance count) and one `all-<profile>` per GI profile
//! at its instance count (`+` written `.` in the name), with device filters
//! when the node has more than one kind of board. CI profiles are skipped,
//! as in mig-parted. Configs are in name order (mig-parted's YAML sorts them).

use crate::v1::{
    DeviceFilter, Devices, Entry, MigDevices, NamedConfig, ProfileName, Spec, SpecVersion,
};
use mig_model::catalog::GpuModel;
use std::collections::BTreeMap;

fn filter_of(m: &GpuModel) -> DeviceFilter {
    DeviceFilter {
        device: (u32::from(m.pci_device_id) << 16) | 0x10de,
        subsystem: None,
    }
}

fn name(s: &str) -> ProfileName {
    ProfileName::parse(s).expect("catalog profile names parse (config::profile tests)")
}

fn entry(filters: Vec<DeviceFilter>, counts: Vec<(ProfileName, u32)>) -> Entry {
    Entry {
        device_filter: filters,
        devices: Devices::All,
        mig_enabled: true,
        mig_devices: MigDevices::Counts(counts),
    }
}

/// The balanced layout of one board, if its size has a formula.
fn balanced(m: &GpuModel) -> Option<Vec<(ProfileName, u32)>> {
    let base: Vec<_> = m
        .gi_profiles
        .iter()
        .filter(|p| !p.name.contains(['+', '-']))
        .collect();
    let total = base.iter().map(|p| p.slices).max()?;
    let formula: &[(u32, u32)] = match total {
        7 => &[(1, 2), (2, 1), (3, 1)],
        4 => &[(1, 2), (2, 1)],
        _ => return None,
    };
    let mut out = Vec::new();
    for &(g, n) in formula {
        let p = base
            .iter()
            .filter(|p| p.slices == g)
            .max_by_key(|p| (p.instances, std::cmp::Reverse(p.memory_mb)))?;
        out.push((name(&p.name), n));
    }
    Some(out)
}

/// The generated config for a node whose MIG-capable boards are `models`
/// (one per GPU, duplicates allowed).
pub fn generate(models: &[&GpuModel]) -> Spec {
    let mut kinds: Vec<&GpuModel> = Vec::new();
    for m in models {
        if !kinds.iter().any(|k| k.slug == m.slug) {
            kinds.push(m);
        }
    }
    kinds.sort_by_key(|m| filter_of(m));
    let mixed = kinds
        .iter()
        .map(|m| filter_of(m))
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        > 1;
    let filters = |ms: &[&GpuModel]| -> Vec<DeviceFilter> {
        if !mixed {
            return Vec::new();
        }
        let mut f: Vec<DeviceFilter> = ms.iter().map(|m| filter_of(m)).collect();
        f.sort();
        f.dedup();
        f
    };
    let mut configs: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    configs.insert(
        "all-disabled".into(),
        vec![Entry {
            device_filter: Vec::new(),
            devices: Devices::All,
            mig_enabled: false,
            mig_devices: MigDevices::Counts(Vec::new()),
        }],
    );
    configs.insert("all-enabled".into(), vec![entry(Vec::new(), Vec::new())]);
    let bal: Vec<Entry> = kinds
        .iter()
        .filter_map(|m| balanced(m).map(|c| entry(filters(&[m]), c)))
        .collect();
    if !bal.is_empty() {
        configs.insert("all-balanced".into(), bal);
    }
    // Profile name -> instance count -> boards.
    let mut by_profile: BTreeMap<String, BTreeMap<u32, Vec<&GpuModel>>> = BTreeMap::new();
    for m in &kinds {
        for p in &m.gi_profiles {
            by_profile
                .entry(p.name.clone())
                .or_default()
                .entry(p.instances)
                .or_default()
                .push(m);
        }
    }
    for (profile, counts) in by_profile {
        let entries = counts
            .into_iter()
            .map(|(n, ms)| entry(filters(&ms), vec![(name(&profile), n)]))
            .collect();
        configs.insert(format!("all-{}", profile.replace('+', ".")), entries);
    }
    Spec {
        version: SpecVersion::V1,
        configs: configs
            .into_iter()
            .map(|(name, entries)| NamedConfig { name, entries })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{catalog_identity, validate};

    /// Proves the generated config for each board names mig-parted's
    /// configs (all-balanced with the formula's profiles) and that every
    /// generated config validates on that board.
    #[test]
    fn generated_configs_validate_on_their_boards() {
        for m in mig_model::catalog::all() {
            let spec = generate(&[m]);
            let gpus = [catalog_identity(0, m)];
            for c in &spec.configs {
                validate(c, &gpus).unwrap_or_else(|e| panic!("{} {}: {e}", m.slug, c.name));
            }
        }
        let a100 = mig_model::catalog::model("a100-sxm4-40gb").unwrap();
        let spec = generate(&[a100, a100]);
        let y = spec.to_yaml();
        assert!(y.contains("\"all-balanced\":\n    - devices: all\n      mig-enabled: true\n      mig-devices:\n        \"1g.5gb\": 2\n        \"2g.10gb\": 1\n        \"3g.20gb\": 1\n"), "{y}");
        assert!(y.contains("\"all-1g.5gb.me\""), "{y}");
        assert_eq!(spec.configs.len(), 3 + a100.gi_profiles.len());
    }

    /// Proves a mixed node gets one entry per board kind with its filter.
    #[test]
    fn mixed_nodes_get_filters() {
        let a = mig_model::catalog::model("a100-sxm4-80gb").unwrap();
        let h = mig_model::catalog::model("h100-sxm5-80gb").unwrap();
        let spec = generate(&[a, h]);
        let c = spec.select(Some("all-1g.10gb"), "g").unwrap();
        assert_eq!(c.entries.len(), 1);
        assert_eq!(c.entries[0].device_filter.len(), 2);
        let bal = spec.select(Some("all-balanced"), "g").unwrap();
        assert_eq!(bal.entries.len(), 2);
    }
}
