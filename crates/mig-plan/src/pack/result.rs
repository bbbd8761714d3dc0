//! Turning chosen layouts into per-GPU plans and figures.

use super::classes::{supply_of, transport, Choice, Class, Score, Types};
use crate::inventory::{DemandItem, Fleet};
use mig_model::engine::{gi_profile, Layout};
use mig_model::{GiProfileId, GpuInstanceId, Placement};

/// The plan for one GPU.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuPlan {
    /// Index into `Fleet::gpus`.
    pub gpu: usize,
    /// The layout after the change (kept instances keep their compute
    /// instances; new ones have none yet).
    pub layout: Layout,
    /// Existing instances destroyed: GI ID, profile name, placement.
    pub destroy: Vec<(GpuInstanceId, String, Placement)>,
    /// Instances created: profile name, placement, GI ID.
    pub create: Vec<(String, Placement, GpuInstanceId)>,
    /// Which demand line (index) each serving GI serves.
    pub serves: Vec<(GpuInstanceId, usize)>,
}

/// A packing and its figures.
#[derive(Debug, Clone, PartialEq)]
pub struct PackResult {
    pub plans: Vec<GpuPlan>,
    /// Instances served per demand line.
    pub served: Vec<u32>,
    pub served_weight: f64,
    /// Weight of all demand.
    pub demand_weight: f64,
    /// Existing (idle) instances destroyed.
    pub destroyed: u32,
    pub created: u32,
    /// GPUs holding at least one instance afterwards.
    pub gpus_used: u32,
    /// Memory slices on used GPUs that neither serve demand nor are busy.
    pub stranded_slices: u32,
    /// Memory slices of used GPUs.
    pub used_slices: u32,
    /// Whether the packing is proven optimal: the exact search finished
    /// (see the module doc for the objective).
    pub exact: bool,
    /// Nodes the exact search visited (0 when it did not run).
    pub search_nodes: u64,
}
/// Turn chosen options into per-GPU plans with the exact assignment.
pub(super) fn realise(
    fleet: &Fleet,
    demand: &[DemandItem],
    ty: &Types,
    classes: &[Class],
    choice: &Choice,
    exact: bool,
) -> PackResult {
    let (supply, _, _) = supply_of(classes, choice, ty.elig.len());
    let (flows, _) = transport(&supply, demand, ty);
    let mut left: Vec<Vec<(usize, u64)>> = flows;
    let mut chosen: Vec<Option<&Layout>> = vec![None; fleet.gpus.len()];
    for (c, ch) in classes.iter().zip(choice) {
        for (&g, &o) in c.gpus.iter().zip(ch) {
            chosen[g] = Some(&c.opts[o].layout);
        }
    }
    let finals: Vec<(Layout, Vec<(GpuInstanceId, usize)>)> = fleet
        .gpus
        .iter()
        .zip(&chosen)
        .map(|(g, l)| {
            let target = l.cloned().unwrap_or_else(|| g.layout.clone());
            let mut serves = Vec::new();
            let mut keep = Layout::new(g.layout.mirrored);
            for gi in &target.gpu_instances {
                let existing = g
                    .layout
                    .gpu_instances
                    .iter()
                    .find(|x| x.profile_id == gi.profile_id && x.placement == gi.placement);
                if existing.is_some_and(|x| g.busy.contains(&x.id)) {
                    keep.gpu_instances
                        .push(existing.cloned().unwrap_or_else(|| gi.clone()));
                    continue;
                }
                let served = ty
                    .index
                    .get(&(g.model.slug.as_str(), gi.profile_id.0))
                    .and_then(|&t| {
                        let slot = left[t].iter_mut().find(|x| x.1 > 0)?;
                        slot.1 -= 1;
                        Some(slot.0)
                    });
                match (served, existing) {
                    (Some(d), e) => {
                        let kept = e.cloned().unwrap_or_else(|| gi.clone());
                        serves.push((kept.id, d));
                        keep.gpu_instances.push(kept);
                    }
                    (None, Some(e)) => keep.gpu_instances.push(e.clone()),
                    (None, None) => {}
                }
            }
            keep.gpu_instances.sort_by_key(|x| x.id);
            (keep, serves)
        })
        .collect();
    summarise(fleet, demand, finals, exact)
}

/// Plans and figures from each GPU's final layout and what it serves.
pub fn summarise(
    fleet: &Fleet,
    demand: &[DemandItem],
    finals: Vec<(Layout, Vec<(GpuInstanceId, usize)>)>,
    exact: bool,
) -> PackResult {
    let mut r = PackResult {
        plans: Vec::new(),
        served: vec![0; demand.len()],
        served_weight: 0.0,
        demand_weight: demand.iter().map(|d| d.count as f64 * d.weight).sum(),
        destroyed: 0,
        created: 0,
        gpus_used: 0,
        stranded_slices: 0,
        used_slices: 0,
        exact,
        search_nodes: 0,
    };
    for (i, (g, (target, serves))) in fleet.gpus.iter().zip(finals).enumerate() {
        let m = g.model;
        let same = |a: &mig_model::engine::GpuInstance, b: &mig_model::engine::GpuInstance| {
            a.profile_id == b.profile_id && a.placement == b.placement
        };
        let name = |p: GiProfileId| gi_profile(m, p).map(|x| x.name.clone()).unwrap_or_default();
        let destroy: Vec<(GpuInstanceId, String, Placement)> = g
            .layout
            .gpu_instances
            .iter()
            .filter(|x| !target.gpu_instances.iter().any(|y| same(x, y)))
            .map(|x| (x.id, name(x.profile_id), x.placement))
            .collect();
        // Build the final layout through the engine: destroy, then create at
        // the chosen placements (which checks them once more).
        let mut layout = g.layout.clone();
        for (id, _, _) in &destroy {
            if let Some(gi) = layout.gpu_instances.iter_mut().find(|x| x.id == *id) {
                gi.compute_instances.clear();
            }
            let _ = layout.destroy_gi(*id);
        }
        let mut create = Vec::new();
        let mut serves_final = Vec::new();
        for gi in &target.gpu_instances {
            if g.layout.gpu_instances.iter().any(|x| same(x, gi)) {
                if let Some(&(_, d)) = serves.iter().find(|(id, _)| *id == gi.id) {
                    serves_final.push((gi.id, d));
                }
                continue;
            }
            if let Ok(id) = layout.create_gi(m, gi.profile_id, Some(gi.placement)) {
                create.push((name(gi.profile_id), gi.placement, id));
                if let Some(&(_, d)) = serves.iter().find(|(x, _)| *x == gi.id) {
                    serves_final.push((id, d));
                }
            }
        }
        for &(_, d) in &serves_final {
            r.served[d] += 1;
        }
        r.destroyed += destroy.len() as u32;
        r.created += create.len() as u32;
        if !layout.gpu_instances.is_empty() {
            r.gpus_used += 1;
            let unit = crate::fit::slice_unit(m);
            let total = crate::fit::memory_slices(m);
            let useful: u32 = layout
                .gpu_instances
                .iter()
                .filter(|x| g.busy.contains(&x.id) || serves_final.iter().any(|s| s.0 == x.id))
                .map(|x| x.placement.size / unit)
                .sum();
            r.used_slices += total;
            r.stranded_slices += total - useful.min(total);
        }
        r.plans.push(GpuPlan {
            gpu: i,
            layout,
            destroy,
            create,
            serves: serves_final,
        });
    }
    r.served_weight = r
        .served
        .iter()
        .zip(demand)
        .map(|(&s, d)| s as f64 * d.weight)
        .sum();
    r
}

impl PackResult {
    /// This packing's place in the objective.
    pub fn score(&self) -> Score {
        Score {
            served_weight: self.served_weight,
            destroyed: self.destroyed,
            gpus_used: self.gpus_used,
        }
    }
}
