//! The current layouts as a config (`export`); the config's text is
//! `Spec::to_yaml` / `Spec::to_json` in mig-config.
//!
//! [`export`] follows mig-parted's `ExportMigConfigs` and
//! `mergeMigConfigSpecs`: one entry per GPU (`device-filter` = the board's
//! device ID without subsystem, `devices: [i]`), then GPUs with equal
//! `mig-enabled` and `mig-devices` merged, the filter dropped when the node
//! has one kind of board (or one entry is left), a single filter written as a
//! string, and `devices: all` where an entry holds every GPU of its filters.
//! With `placements`, each entry lists its `gpu-instances` with their start
//! slots (and CI starts), as `version: migctl/v1`, and GPUs merge only when
//! their placements are equal too.

use mig_config::{
    CiSpec, DeviceFilter, Devices, Entry, GiSpec, MigDevices, NamedConfig, ProfileName, Spec,
    SpecVersion,
};
use mig_model::{catalog, engine, ids, GpuRef, GpuSnapshot};
use std::collections::BTreeMap;

/// Profile counts of one GPU's layout (mig-parted's `GetMigConfig`): one per
/// CI, named `3g.20gb` (full-size CI) or `1c.3g.20gb`.
pub fn counts_of(model: &catalog::GpuModel, layout: &engine::Layout) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for (g, c) in layout.mig_devices() {
        let Ok(gp) = engine::gi_profile(model, g.profile_id) else {
            continue;
        };
        let Ok(cp) = engine::ci_profile(gp, c.profile_id) else {
            continue;
        };
        *out.entry(ids::ci_short_name(gp, cp)).or_insert(0) += 1;
    }
    out
}

fn name(text: &str) -> ProfileName {
    ProfileName::parse(text).expect("catalog profile names parse (config::profile tests)")
}

/// The layout as pinned `gpu-instances`, in GI placement order.
fn instances_of(model: &catalog::GpuModel, layout: &engine::Layout) -> Vec<GiSpec> {
    let mut gis: Vec<&engine::GpuInstance> = layout.gpu_instances.iter().collect();
    gis.sort_by_key(|g| (g.placement.start, g.id));
    let mut out = Vec::new();
    for g in gis {
        let Ok(gp) = engine::gi_profile(model, g.profile_id) else {
            continue;
        };
        let mut cis: Vec<&engine::ComputeInstance> = g.compute_instances.iter().collect();
        cis.sort_by_key(|c| (c.placement.start, c.id));
        let specs: Vec<CiSpec> = cis
            .iter()
            .filter_map(|c| {
                let cp = engine::ci_profile(gp, c.profile_id).ok()?;
                Some(CiSpec {
                    profile: name(&ids::ci_short_name(gp, cp)),
                    start: Some(c.placement.start),
                })
            })
            .collect();
        // One full-size CI at 0 is what a GI without `compute-instances` means.
        let default_ci =
            specs.len() == 1 && specs[0].start == Some(0) && !specs[0].profile.is_partial_ci();
        out.push(GiSpec {
            profile: name(&gp.name),
            start: Some(g.placement.start),
            compute_instances: if default_ci { None } else { Some(specs) },
        });
    }
    out
}

struct PerGpu {
    filter: DeviceFilter,
    index: u32,
    enabled: bool,
    devices: MigDevices,
}

fn same_devices(a: &MigDevices, b: &MigDevices) -> bool {
    let sorted = |c: &[(ProfileName, u32)]| {
        let mut v: Vec<(String, u32)> = c
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(p, n)| (p.as_str().to_string(), *n))
            .collect();
        v.sort();
        v
    };
    match (a, b) {
        (MigDevices::Counts(x), MigDevices::Counts(y)) => sorted(x) == sorted(y),
        (x, y) => x == y,
    }
}

/// The current layouts of `snaps` (every GPU of the node, in index order) as
/// a config named `label`.
pub fn export(snaps: &[GpuSnapshot], label: &str, placements: bool) -> Spec {
    let mut per: Vec<PerGpu> = Vec::new();
    for s in snaps {
        let model = s.identity.model.as_deref().and_then(catalog::model);
        let enabled = model.is_some() && s.mode.current;
        let devices = match (model, enabled) {
            (Some(m), true) if placements => MigDevices::Instances(instances_of(m, &s.layout)),
            (Some(m), true) => MigDevices::Counts(
                counts_of(m, &s.layout)
                    .into_iter()
                    .map(|(k, n)| (name(&k), n))
                    .collect(),
            ),
            _ if placements => MigDevices::Instances(Vec::new()),
            _ => MigDevices::Counts(Vec::new()),
        };
        per.push(PerGpu {
            filter: DeviceFilter {
                device: s.identity.pci_device_id,
                subsystem: None,
            },
            index: s.identity.index,
            enabled,
            devices,
        });
    }
    // Merge equal (mig-enabled, mig-devices), keeping first-seen order.
    let mut merged: Vec<(Vec<DeviceFilter>, Vec<u32>, bool, MigDevices)> = Vec::new();
    for p in &per {
        match merged
            .iter_mut()
            .find(|m| m.2 == p.enabled && same_devices(&m.3, &p.devices))
        {
            Some(m) => {
                if !m.0.contains(&p.filter) {
                    m.0.push(p.filter);
                    m.0.sort();
                }
                m.1.push(p.index);
                m.1.sort();
            }
            None => merged.push((vec![p.filter], vec![p.index], p.enabled, p.devices.clone())),
        }
    }
    let mut kinds: Vec<DeviceFilter> = per.iter().map(|p| p.filter).collect();
    kinds.sort();
    kinds.dedup();
    let single = merged.len() == 1;
    let entries = merged
        .into_iter()
        .map(|(filters, indices, enabled, devices)| {
            let of_filters: Vec<u32> = per
                .iter()
                .filter(|p| filters.contains(&p.filter))
                .map(|p| p.index)
                .collect();
            Entry {
                device_filter: if kinds.len() == 1 || single {
                    Vec::new()
                } else {
                    filters
                },
                devices: if indices == of_filters {
                    Devices::All
                } else {
                    Devices::List(indices.into_iter().map(GpuRef::Index).collect())
                },
                mig_enabled: enabled,
                mig_devices: devices,
            }
        })
        .collect();
    Spec {
        version: if placements {
            SpecVersion::MigctlV1
        } else {
            SpecVersion::V1
        },
        configs: vec![NamedConfig {
            name: label.to_string(),
            entries,
        }],
    }
}

#[cfg(test)]
mod tests;
