//! The field's baseline packer and the per-node configs a packing writes.

use super::result::{summarise, PackResult};
use crate::inventory::{DemandItem, Fleet};
use mig_model::engine::{gi_profile, Layout};
use mig_model::{GiProfileId, GpuInstanceId};

/// The baseline schedulers in the field use (HAMi's reservation-first
/// scheduler, the DRA driver through kube-scheduler): demand units one by one
/// in file order; each goes to the first GPU, in fleet order, with an idle
/// eligible instance or room for the smallest-memory eligible profile at its
/// first free placement (HAMi scans `1g`/`3g` from the highest start); nothing
/// is ever destroyed or moved.
pub fn first_fit(fleet: &Fleet, demand: &[DemandItem]) -> PackResult {
    let mut layouts: Vec<Layout> = fleet.gpus.iter().map(|g| g.layout.clone()).collect();
    let mut taken: Vec<Vec<GpuInstanceId>> = fleet
        .gpus
        .iter()
        .map(|g| g.busy.iter().copied().collect())
        .collect();
    let mut serves: Vec<Vec<(GpuInstanceId, usize)>> = vec![Vec::new(); fleet.gpus.len()];
    for (d, item) in demand.iter().enumerate() {
        let mut from = 0;
        for _ in 0..item.count {
            let mut placed = false;
            while from < fleet.gpus.len() {
                let g = &fleet.gpus[from];
                let m = g.model;
                // an idle instance that serves it
                if let Some(gi) = layouts[from].gpu_instances.iter().find(|x| {
                    !taken[from].contains(&x.id)
                        && gi_profile(m, x.profile_id).is_ok_and(|p| item.eligible(m, p))
                }) {
                    let id = gi.id;
                    taken[from].push(id);
                    serves[from].push((id, d));
                    placed = true;
                    break;
                }
                let mut profiles: Vec<_> = m
                    .gi_profiles
                    .iter()
                    .filter(|p| item.eligible(m, p))
                    .collect();
                profiles.sort_by_key(|p| (p.memory_mb, p.slices));
                let mut created = None;
                for p in profiles {
                    let mut pls = layouts[from].creatable_gi_placements(m, p);
                    if p.name.starts_with("1g.") || p.name.starts_with("3g.") {
                        pls.reverse();
                    }
                    if let Some(&pl) = pls.first() {
                        created = layouts[from].create_gi(m, GiProfileId(p.id), Some(pl)).ok();
                        if created.is_some() {
                            break;
                        }
                    }
                }
                if let Some(id) = created {
                    taken[from].push(id);
                    serves[from].push((id, d));
                    placed = true;
                    break;
                }
                from += 1;
            }
            if !placed {
                break;
            }
        }
    }
    let finals = layouts.into_iter().zip(serves).collect();
    summarise(fleet, demand, finals, false)
}

/// One node's config in mig-parted's v1 format: a config named `name`
/// with one entry per GPU (by index), its MIG mode and GPU-instance profile
/// counts after the packing.
pub fn node_config(fleet: &Fleet, result: &PackResult, node: usize, name: &str) -> String {
    let mut s = format!("version: v1\nmig-configs:\n  {name}:\n");
    for p in result
        .plans
        .iter()
        .filter(|p| fleet.gpus[p.gpu].node == node)
    {
        let g = &fleet.gpus[p.gpu];
        let mut counts: Vec<(String, u32)> = Vec::new();
        for gi in &p.layout.gpu_instances {
            let n = gi_profile(g.model, gi.profile_id)
                .map(|x| x.name.clone())
                .unwrap_or_default();
            match counts.iter_mut().find(|c| c.0 == n) {
                Some(c) => c.1 += 1,
                None => counts.push((n, 1)),
            }
        }
        let enabled = g.mig_enabled || !counts.is_empty();
        s.push_str(&format!(
            "  - devices: [{}]\n    mig-enabled: {enabled}\n",
            g.index
        ));
        if enabled {
            if counts.is_empty() {
                s.push_str("    mig-devices: {}\n");
            } else {
                s.push_str("    mig-devices:\n");
                for (n, c) in counts {
                    s.push_str(&format!("      \"{n}\": {c}\n"));
                }
            }
        }
    }
    s
}
