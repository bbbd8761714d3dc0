//! `assert`: does the machine hold what a validated config asks for?
//!
//! A GPU matches its [`GpuDemand`] when its current MIG mode is the wanted
//! one and, with MIG on, its GPU instances are the wanted ones: the same GI
//! profiles, each holding the same CI profiles (the structure mig-parted's
//! packing gives), at the pinned placements where the demand pins them.
//!
//! Unlike mig-parted (whose `AssertMigConfig` fails unless *every* GPU of the
//! node was matched by an entry, so a config that selects only some GPUs can
//! never assert), GPUs no entry selects are not held against the config.

use crate::demand::{CiDemand, GiDemand, GpuDemand};
use crate::validate::Selection;
use mig_model::engine::{self, GpuInstance, Layout};
use mig_model::{catalog, GpuSnapshot};

/// How one GPU differs from its demand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    #[error("GPU {gpu}: MIG mode is {}, the config wants it {}{}", onoff(*have), onoff(*want), pending_note(*have, *pending))]
    Mode {
        gpu: u32,
        want: bool,
        have: bool,
        pending: bool,
    },
    #[error("GPU {gpu} holds {have}; the config wants {want}")]
    Layout {
        gpu: u32,
        have: String,
        want: String,
    },
    #[error("GPU {gpu} is selected but the machine reports no such GPU")]
    Missing { gpu: u32 },
}

fn onoff(b: bool) -> &'static str {
    if b {
        "enabled"
    } else {
        "disabled"
    }
}

fn pending_note(have: bool, pending: bool) -> &'static str {
    if have != pending {
        " (a change is pending a GPU reset)"
    } else {
        ""
    }
}

fn describe_have(model: &catalog::GpuModel, layout: &Layout) -> String {
    if layout.gpu_instances.is_empty() {
        return "no GPU instances".into();
    }
    let mut gis: Vec<&GpuInstance> = layout.gpu_instances.iter().collect();
    gis.sort_by_key(|g| g.placement.start);
    gis.iter()
        .map(|g| {
            let gp = engine::gi_profile(model, g.profile_id);
            let name = gp
                .map(|p| p.name.clone())
                .unwrap_or_else(|_| format!("profile {}", g.profile_id.0));
            let cis: Vec<String> = g
                .compute_instances
                .iter()
                .map(|c| {
                    gp.ok()
                        .and_then(|p| {
                            engine::ci_profile(p, c.profile_id)
                                .ok()
                                .map(|cp| mig_model::ids::ci_short_name(p, cp))
                        })
                        .unwrap_or_else(|| format!("CI profile {}", c.profile_id.0))
                })
                .collect();
            format!("{name}@{} [{}]", g.placement.start, cis.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_want(model: &catalog::GpuModel, demand: &GpuDemand) -> String {
    if demand.gpu_instances.is_empty() {
        return "no GPU instances".into();
    }
    demand
        .gpu_instances
        .iter()
        .map(|g| {
            let gp = engine::gi_profile(model, g.profile);
            let name = gp
                .map(|p| p.name.clone())
                .unwrap_or_else(|_| format!("profile {}", g.profile.0));
            let at = g
                .placement
                .map(|p| format!("@{}", p.start))
                .unwrap_or_default();
            let cis: Vec<String> = g
                .compute_instances
                .iter()
                .map(|c| {
                    let n = gp
                        .ok()
                        .and_then(|p| {
                            engine::ci_profile(p, c.profile)
                                .ok()
                                .map(|cp| mig_model::ids::ci_short_name(p, cp))
                        })
                        .unwrap_or_else(|| format!("CI profile {}", c.profile.0));
                    match c.placement {
                        Some(p) => format!("{n}@{}", p.start),
                        None => n,
                    }
                })
                .collect();
            format!("{name}{at} [{}]", cis.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether the CIs of `have` are exactly `want` (pinned ones where pinned).
fn cis_match(have: &GpuInstance, want: &[CiDemand]) -> bool {
    if have.compute_instances.len() != want.len() {
        return false;
    }
    let mut used = vec![false; have.compute_instances.len()];
    let mut order: Vec<&CiDemand> = want.iter().collect();
    order.sort_by_key(|c| c.placement.is_none());
    for w in order {
        let hit = have
            .compute_instances
            .iter()
            .enumerate()
            .position(|(i, c)| {
                !used[i]
                    && c.profile_id == w.profile
                    && w.placement.is_none_or(|p| p == c.placement)
            });
        match hit {
            Some(i) => used[i] = true,
            None => return false,
        }
    }
    true
}

fn gi_matches(have: &GpuInstance, want: &GiDemand) -> bool {
    have.profile_id == want.profile
        && want.placement.is_none_or(|p| p == have.placement)
        && cis_match(have, &want.compute_instances)
}

/// Whether `layout` holds exactly the GIs of `demand`.
pub fn layout_matches(layout: &Layout, demand: &GpuDemand) -> bool {
    if layout.gpu_instances.len() != demand.gpu_instances.len() {
        return false;
    }
    let mut used = vec![false; layout.gpu_instances.len()];
    let mut order: Vec<&GiDemand> = demand.gpu_instances.iter().collect();
    order.sort_by_key(|g| {
        (
            g.placement.is_none(),
            g.compute_instances.iter().all(|c| c.placement.is_none()),
        )
    });
    for w in order {
        let hit = layout
            .gpu_instances
            .iter()
            .enumerate()
            .position(|(i, g)| !used[i] && gi_matches(g, w));
        match hit {
            Some(i) => used[i] = true,
            None => return false,
        }
    }
    true
}

/// Does one GPU match its demand (`mode_only`: the MIG mode alone)?
pub fn assert_gpu(snap: &GpuSnapshot, demand: &GpuDemand, mode_only: bool) -> Result<(), Mismatch> {
    let gpu = snap.identity.index;
    if snap.mode.current != demand.mig_enabled {
        return Err(Mismatch::Mode {
            gpu,
            want: demand.mig_enabled,
            have: snap.mode.current,
            pending: snap.mode.pending,
        });
    }
    if mode_only || !demand.mig_enabled || layout_matches(&snap.layout, demand) {
        return Ok(());
    }
    let Some(model) = snap.identity.model.as_deref().and_then(catalog::model) else {
        return Err(Mismatch::Layout {
            gpu,
            have: format!("{} GPU instances", snap.layout.gpu_instances.len()),
            want: format!("{} GPU instances", demand.gpu_instances.len()),
        });
    };
    Err(Mismatch::Layout {
        gpu,
        have: describe_have(model, &snap.layout),
        want: describe_want(model, demand),
    })
}

/// Assert a validated selection against the machine's snapshots: every
/// selected GPU must match; skipped and unselected GPUs are not checked.
pub fn assert_selection(
    sel: &Selection,
    snaps: &[GpuSnapshot],
    mode_only: bool,
) -> Result<(), Vec<Mismatch>> {
    let mut out = Vec::new();
    for t in &sel.targets {
        match snaps.iter().find(|s| s.identity.index == t.index) {
            None => out.push(Mismatch::Missing { gpu: t.index }),
            Some(s) => {
                if let Err(m) = assert_gpu(s, &t.demand, mode_only) {
                    out.push(m);
                }
            }
        }
    }
    if out.is_empty() {
        Ok(())
    } else {
        Err(out)
    }
}

#[cfg(test)]
mod tests;
