//! `assert`: does the machine hold what a validated config asks for?
//!
//! A GPU matches its [`GpuDemand`] when its current MIG mode is the wanted
//! one and, with MIG on, it holds the wanted instances: GIs the demand pins
//! (a start slot, or CI starts; migctl/v1) exactly as pinned, the others by
//! profile counts, one per compute instance (`3g.20gb`, `1c.3g.20gb`), as
//! mig-parted's `MigConfig.Equals` compares them. Which GI an unpinned CI
//! sits in is not compared, so a layout mig-parted made with the same counts
//! asserts, and an exported config asserts on the machine it came from.
//!
//! Unlike mig-parted (whose `AssertMigConfig` fails unless *every* GPU of the
//! node was matched by an entry, so a config that selects only some GPUs can
//! never assert), GPUs no entry selects are not held against the config.

use mig_config::Selection;
use mig_config::{CiDemand, GiDemand, GpuDemand};
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

/// What names a CI profile inside a GI of profile `gi`: its compute slices
/// (`1c.2g.20gb`), since mig-parted names CIs by size and H100's 2g.20gb has
/// two 1-slice CI profiles (0 and 7) under one name. Without the board, the ID.
fn ci_key(
    model: Option<&catalog::GpuModel>,
    gi: mig_model::GiProfileId,
    ci: mig_model::CiProfileId,
) -> u32 {
    model
        .and_then(|m| engine::gi_profile(m, gi).ok())
        .and_then(|p| engine::ci_profile(p, ci).ok())
        .map(|c| c.slices)
        .unwrap_or(1000 + ci.0)
}

/// Whether the CIs of `have` are exactly `want` (pinned ones where pinned).
fn cis_match(model: Option<&catalog::GpuModel>, have: &GpuInstance, want: &[CiDemand]) -> bool {
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
                    && ci_key(model, have.profile_id, c.profile_id)
                        == ci_key(model, have.profile_id, w.profile)
                    && w.placement.is_none_or(|p| p.start == c.placement.start)
            });
        match hit {
            Some(i) => used[i] = true,
            None => return false,
        }
    }
    true
}

fn gi_matches(model: Option<&catalog::GpuModel>, have: &GpuInstance, want: &GiDemand) -> bool {
    have.profile_id == want.profile
        && want
            .placement
            .is_none_or(|p| p.start == have.placement.start)
        && cis_match(model, have, &want.compute_instances)
}

/// What an unpinned GI contributes to the profile counts: one key per CI
/// (mig-parted's `GetMigConfig` names), or one for a GI without CIs.
fn count_keys(
    model: Option<&catalog::GpuModel>,
    gi: mig_model::GiProfileId,
    cis: impl Iterator<Item = mig_model::CiProfileId>,
) -> Vec<(u32, Option<u32>)> {
    let v: Vec<(u32, Option<u32>)> = cis.map(|c| (gi.0, Some(ci_key(model, gi, c)))).collect();
    if v.is_empty() {
        vec![(gi.0, None)]
    } else {
        v
    }
}

/// Whether `layout` holds what `demand` asks for: GIs with a pinned GI or CI
/// placement exactly (profile, placement, CIs); the rest by profile counts
/// (which GI each CI sits in is not compared, as mig-parted compares counts).
pub fn layout_matches(
    model: Option<&catalog::GpuModel>,
    layout: &Layout,
    demand: &GpuDemand,
) -> bool {
    let mut used = vec![false; layout.gpu_instances.len()];
    let pinned = |g: &GiDemand| {
        g.placement.is_some() || g.compute_instances.iter().any(|c| c.placement.is_some())
    };
    for w in demand.gpu_instances.iter().filter(|g| pinned(g)) {
        let hit = layout
            .gpu_instances
            .iter()
            .enumerate()
            .position(|(i, g)| !used[i] && gi_matches(model, g, w));
        match hit {
            Some(i) => used[i] = true,
            None => return false,
        }
    }
    let mut want: Vec<(u32, Option<u32>)> = demand
        .gpu_instances
        .iter()
        .filter(|g| !pinned(g))
        .flat_map(|g| {
            count_keys(
                model,
                g.profile,
                g.compute_instances.iter().map(|c| c.profile),
            )
        })
        .collect();
    let mut have: Vec<(u32, Option<u32>)> = layout
        .gpu_instances
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .flat_map(|(g, _)| {
            count_keys(
                model,
                g.profile_id,
                g.compute_instances.iter().map(|c| c.profile_id),
            )
        })
        .collect();
    want.sort();
    have.sort();
    want == have
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
    let model = snap.identity.model.as_deref().and_then(catalog::model);
    if mode_only || !demand.mig_enabled || layout_matches(model, &snap.layout, demand) {
        return Ok(());
    }
    let Some(model) = model else {
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
