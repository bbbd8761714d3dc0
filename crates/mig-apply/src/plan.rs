//! The reconciler's planner: from one GPU's snapshot and its [`GpuDemand`],
//! the target layout with explicit placements and the ordered NVML steps
//! that reach it.
//!
//! The target keeps the most existing GPU and compute instances (busy ones
//! always), which also makes it need the fewest mutations: with `k`
//! instances kept, a change costs `|before| - k` destroys and `|after| - k`
//! creates. Destroys come first (CIs, then GIs), then creates (GIs, then their
//! CIs), so no create can fail for lack of room: every intermediate layout is
//! a subset of the (valid) target. Every step is simulated on a clone of the
//! layout with `mig_model::engine`, so each is known valid and each created
//! instance's ID is known before the GPU is touched.
//!
//! [`plan_restore`] plans the way back (or forward) to an exact recorded
//! state, byte for byte: the journal uses it to roll a failed GPU back and to
//! finish an interrupted apply.

mod restore;
mod step;

pub use restore::{plan_restore, RestoreError};
use step::{destroy_all, next_ci_id};
pub use step::{simulate, MigState, Step};

use mig_config::{CiDemand, GiDemand, GpuDemand};
use mig_model::backend::{GpuSnapshot, ProcessInfo};
use mig_model::engine::{self, ci_placements, gi_placements, Layout};
use mig_model::{
    CiProfileId, ComputeInstanceId, GiProfileId, GpuInstanceId, GpuModel, NvmlError, Placement,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// What a plan may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// Only the MIG mode (mig-parted's `--mode-only`); instances are only
    /// destroyed where disabling MIG requires it.
    pub mode_only: bool,
    /// Never reset (mig-parted's `--skip-reset`): on a product that needs a
    /// reset, a mode change stays pending and no instances are planned.
    pub skip_reset: bool,
}

/// A busy instance a demand would destroy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BusyInstance {
    pub gi: GpuInstanceId,
    pub ci: Option<ComputeInstanceId>,
    /// `3g.20gb` or `1c.3g.20gb`.
    pub name: String,
    pub placement: Placement,
    /// `(pid, process name)`.
    pub processes: Vec<(u32, String)>,
}

impl fmt::Display for BusyInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ci {
            Some(ci) => write!(
                f,
                "compute instance {}/{ci} ({} at {})",
                self.gi, self.name, self.placement
            )?,
            None => write!(
                f,
                "GPU instance {} ({} at {})",
                self.gi, self.name, self.placement
            )?,
        }
        let procs: Vec<String> = self
            .processes
            .iter()
            .map(|(pid, n)| format!("pid {pid} {n}"))
            .collect();
        write!(f, " in use by {}", procs.join(", "))
    }
}

/// Why no plan exists for a GPU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("GPU {gpu}: the demand cannot be met without destroying busy instances: {}; stop those processes or change the config", list(.busy))]
    Busy { gpu: u32, busy: Vec<BusyInstance> },
    #[error("GPU {gpu}: changing the MIG mode needs the GPU idle, but {} use it", procs(.processes))]
    BusyGpu {
        gpu: u32,
        processes: Vec<(u32, String)>,
    },
    #[error("GPU {gpu}: no layout of {model} holds the demanded instances")]
    Infeasible { gpu: u32, model: String },
    #[error("GPU {gpu}: {what}")]
    Unsupported { gpu: u32, what: String },
    #[error("GPU {gpu}: internal planning error: step {step:?} failed in simulation with {err}; please report it")]
    Simulation {
        gpu: u32,
        step: Step,
        err: NvmlError,
    },
}

fn list(b: &[BusyInstance]) -> String {
    b.iter()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

fn procs(p: &[(u32, String)]) -> String {
    p.iter()
        .map(|(pid, n)| format!("pid {pid} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Counts of what a plan keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    pub gpu_instances: usize,
    pub compute_instances: usize,
}

/// One GPU's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuPlan {
    pub index: u32,
    pub uuid: String,
    /// Catalog slug.
    pub model: String,
    pub before: MigState,
    pub after: MigState,
    pub steps: Vec<Step>,
    pub kept: Kept,
    /// Things the user should know (a mode left pending, a skipped part).
    #[serde(default)]
    pub notes: Vec<String>,
}

/// The processes keeping an instance busy: on GI `gi` and, when `ci` is
/// given, on that CI (a process on a GI without a CI holds the whole GI).
fn users(
    procs: &[ProcessInfo],
    gi: GpuInstanceId,
    ci: Option<ComputeInstanceId>,
) -> Vec<(u32, String)> {
    procs
        .iter()
        .filter(|p| p.gi == Some(gi) && (ci.is_none() || p.ci.is_none() || p.ci == ci))
        .map(|p| (p.pid, p.name.clone()))
        .collect()
}

/// A GI demand's identity for symmetry breaking: two equal demands are
/// interchangeable, so only one order of their placements is tried.
fn same_demand(a: &GiDemand, b: &GiDemand) -> bool {
    a.profile == b.profile && a.placement == b.placement && {
        let key = |d: &GiDemand| {
            let mut v: Vec<(u32, Option<Placement>)> = d
                .compute_instances
                .iter()
                .map(|c| (c.profile.0, c.placement))
                .collect();
            v.sort();
            v
        };
        key(a) == key(b)
    }
}

/// The best way to fill one GI with its demanded CIs: which existing CIs
/// stay (by CI ID) and where the new ones go.
#[derive(Debug, Clone)]
struct CiChoice {
    keep: Vec<ComputeInstanceId>,
    /// `(profile, placement)` of each new CI, in creation order.
    create: Vec<(CiProfileId, Placement)>,
    busy_lost: usize,
}

/// Place `todo` CI demands into the GI `gi` of `layout` (which already holds
/// the kept CIs), trying placements in start order; identical demands take
/// increasing starts. Returns the placements, or `None` if they do not fit.
fn place_cis(
    model: &GpuModel,
    layout: &Layout,
    gi: GpuInstanceId,
    todo: &[CiDemand],
) -> Option<Vec<(CiProfileId, Placement)>> {
    let Some((first, rest)) = todo.split_first() else {
        return Some(Vec::new());
    };
    let g = layout.gpu_instance(gi).ok()?;
    let gp = engine::gi_profile(model, g.profile_id).ok()?;
    let cp = engine::ci_profile(gp, first.profile).ok()?;
    for p in ci_placements(cp) {
        if first.placement.is_some_and(|want| want != p) {
            continue;
        }
        if layout.check_ci(model, gi, cp, p).is_err() {
            continue;
        }
        let mut next = layout.clone();
        if next.create_ci(model, gi, first.profile, Some(p)).is_err() {
            continue;
        }
        if let Some(mut more) = place_cis(model, &next, gi, rest) {
            more.insert(0, (first.profile, p));
            return Some(more);
        }
    }
    None
}

/// Choose which existing CIs of `existing` (a GI of the current layout, at
/// the placement the target gives this demand) to keep for `demand`:
/// fewest busy CIs lost, then the most kept, and the rest of the demand must
/// fit beside them. `None` if the demand's CIs cannot fit even in an empty GI.
fn choose_cis(
    model: &GpuModel,
    cur: &Layout,
    existing: &engine::GpuInstance,
    demand: &GiDemand,
    procs: &[ProcessInfo],
) -> Option<CiChoice> {
    let cis = &existing.compute_instances;
    // For each existing CI, the demand entries it could stand for.
    let mut best: Option<CiChoice> = None;
    let n = cis.len();
    // Exhaustive over subsets of existing CIs to keep (at most 8 CIs: 256
    // subsets), larger subsets first so ties keep more.
    let mut masks: Vec<u32> = (0..(1u32 << n)).collect();
    masks.sort_by_key(|m| std::cmp::Reverse(m.count_ones()));
    for mask in masks {
        let kept: Vec<&engine::ComputeInstance> = (0..n)
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| &cis[i])
            .collect();
        // Match kept CIs to demand entries greedily by profile and pin;
        // identical entries are interchangeable, and a pinned entry must be
        // matched by the CI at its pin, so try pinned entries first.
        let mut used = vec![false; demand.compute_instances.len()];
        let mut ok = true;
        for c in &kept {
            let slot = demand
                .compute_instances
                .iter()
                .enumerate()
                .filter(|(i, d)| !used[*i] && d.profile == c.profile_id)
                .filter(|(_, d)| d.placement.is_none_or(|p| p == c.placement))
                .min_by_key(|(_, d)| d.placement.is_none())
                .map(|(i, _)| i);
            match slot {
                Some(i) => used[i] = true,
                None => {
                    ok = false;
                    break;
                }
            }
        }
        if !ok {
            continue;
        }
        let busy_lost = cis
            .iter()
            .enumerate()
            .filter(|(i, c)| {
                mask & (1 << i) == 0 && !users(procs, existing.id, Some(c.id)).is_empty()
            })
            .count();
        if best.as_ref().is_some_and(|b| {
            (b.busy_lost, std::cmp::Reverse(b.keep.len()))
                <= (busy_lost, std::cmp::Reverse(kept.len()))
        }) {
            continue;
        }
        // The GI with only the kept CIs, built by destroying the others.
        let mut l = Layout::new(cur.mirrored);
        l.gpu_instances.push(existing.clone());
        for c in cis {
            if !kept.iter().any(|k| k.id == c.id) {
                l.destroy_ci(existing.id, c.id).ok()?;
            }
        }
        let todo: Vec<CiDemand> = demand
            .compute_instances
            .iter()
            .enumerate()
            .filter(|(i, _)| !used[*i])
            .map(|(_, d)| d.clone())
            .collect();
        if let Some(create) = place_cis(model, &l, existing.id, &sorted_cis(model, demand, &todo)) {
            best = Some(CiChoice {
                keep: kept.iter().map(|c| c.id).collect(),
                create,
                busy_lost,
            });
        }
    }
    best
}

/// CI demands ordered for placement: pinned first, then larger first (a
/// large CI has fewer places to go), by profile ID for determinism.
fn sorted_cis(model: &GpuModel, gi: &GiDemand, todo: &[CiDemand]) -> Vec<CiDemand> {
    let slices = |c: &CiDemand| {
        engine::gi_profile(model, gi.profile)
            .ok()
            .and_then(|g| engine::ci_profile(g, c.profile).ok())
            .map_or(0, |c| c.placement_size)
    };
    let mut v = todo.to_vec();
    v.sort_by_key(|c| {
        (
            c.placement.is_none(),
            std::cmp::Reverse(slices(c)),
            c.profile.0,
            c.placement,
        )
    });
    v
}

/// The search state: the current layout and processes, the demands in
/// search order, and the best target found so far.
struct Search<'a> {
    model: &'a GpuModel,
    cur: &'a Layout,
    procs: &'a [ProcessInfo],
    demands: Vec<&'a GiDemand>,
    best: Option<Candidate>,
    /// `choose_cis` per (demand index, existing GI): the same pair recurs
    /// in many candidate targets.
    memo: std::collections::HashMap<(usize, GpuInstanceId), Option<CiChoice>>,
}

#[derive(Debug, Clone)]
struct Candidate {
    /// Per demand (in search order): its placement and, when it keeps an
    /// existing GI there, the CI choice.
    placements: Vec<Placement>,
    keeps: Vec<Option<CiChoice>>,
    busy_lost: usize,
    kept: usize,
}

impl<'a> Search<'a> {
    fn existing_at(&self, profile: GiProfileId, p: Placement) -> Option<&'a engine::GpuInstance> {
        let cur: &'a Layout = self.cur;
        cur.gpu_instances
            .iter()
            .find(|g| g.profile_id == profile && g.placement == p)
    }

    fn busy_in(&self, g: &engine::GpuInstance) -> usize {
        let gi_users = usize::from(
            self.procs
                .iter()
                .any(|p| p.gi == Some(g.id) && p.ci.is_none()),
        );
        gi_users
            + g.compute_instances
                .iter()
                .filter(|c| !users(self.procs, g.id, Some(c.id)).is_empty())
                .count()
    }

    fn evaluate(&mut self, placements: &[Placement]) {
        let mut keeps = Vec::new();
        let mut busy_lost = 0;
        let mut kept = 0;
        let mut matched = BTreeSet::new();
        for (i, &p) in placements.iter().enumerate() {
            let d = self.demands[i];
            let choice = self.existing_at(d.profile, p).and_then(|g| {
                let (model, cur, procs) = (self.model, self.cur, self.procs);
                self.memo
                    .entry((i, g.id))
                    .or_insert_with(|| choose_cis(model, cur, g, d, procs))
                    .clone()
                    .map(|c| (g.id, c))
            });
            match choice {
                Some((id, c)) => {
                    matched.insert(id);
                    busy_lost += c.busy_lost;
                    kept += 1 + c.keep.len();
                    keeps.push(Some(c));
                }
                None => keeps.push(None),
            }
        }
        for g in &self.cur.gpu_instances {
            if !matched.contains(&g.id) {
                busy_lost += self.busy_in(g);
            }
        }
        let better = self.best.as_ref().is_none_or(|b| {
            (busy_lost, std::cmp::Reverse(kept)) < (b.busy_lost, std::cmp::Reverse(b.kept))
        });
        if better {
            self.best = Some(Candidate {
                placements: placements.to_vec(),
                keeps,
                busy_lost,
                kept,
            });
        }
    }

    /// Try every valid placement for demand `i` onward, on `target` (the GIs
    /// placed so far, created through the engine).
    fn search(&mut self, i: usize, target: &Layout, placements: &mut Vec<Placement>) {
        if i == self.demands.len() {
            self.evaluate(placements);
            return;
        }
        let d = self.demands[i];
        let Ok(profile) = engine::gi_profile(self.model, d.profile) else {
            return;
        };
        // Every CI demanded must fit in a fresh GI of this profile, else no
        // placement helps.
        let floor = (i > 0 && same_demand(self.demands[i - 1], d)).then(|| placements[i - 1].start);
        // The driver's default placement first: among equally good targets
        // the first found wins, and that one leaves the most room.
        let default = target.default_gi_placement(self.model, profile);
        let mut order: Vec<Placement> = default.into_iter().collect();
        order.extend(gi_placements(profile).filter(|p| Some(*p) != default));
        for p in order {
            if d.placement.is_some_and(|want| want != p) || floor.is_some_and(|f| p.start <= f) {
                continue;
            }
            if target.check_gi(self.model, profile, p).is_err() {
                continue;
            }
            let mut next = target.clone();
            if next.create_gi(self.model, d.profile, Some(p)).is_err() {
                continue;
            }
            placements.push(p);
            self.search(i + 1, &next, placements);
            placements.pop();
        }
    }
}

/// A demand, its placement, and the existing GI it keeps (with the CI choice).
type Chosen<'a> = (
    &'a GiDemand,
    Placement,
    Option<(GpuInstanceId, &'a CiChoice)>,
);

/// The demands in search order: pinned first, then larger GIs first (fewer
/// places to go), equal demands next to each other.
fn order_demands<'a>(model: &GpuModel, demand: &'a GpuDemand) -> Vec<&'a GiDemand> {
    let size = |d: &GiDemand| engine::gi_profile(model, d.profile).map_or(0, |p| p.placement_size);
    let mut v: Vec<&GiDemand> = demand.gpu_instances.iter().collect();
    v.sort_by_key(|d| {
        let mut cis: Vec<(u32, Option<Placement>)> = d
            .compute_instances
            .iter()
            .map(|c| (c.profile.0, c.placement))
            .collect();
        cis.sort();
        (
            d.placement.is_none(),
            std::cmp::Reverse(size(d)),
            d.profile.0,
            d.placement,
            cis,
        )
    });
    v
}

fn busy_list(
    model: &GpuModel,
    cur: &Layout,
    procs: &[ProcessInfo],
    target: &Layout,
) -> Vec<BusyInstance> {
    let mut out = Vec::new();
    for g in &cur.gpu_instances {
        let Ok(gp) = engine::gi_profile(model, g.profile_id) else {
            continue;
        };
        let gi_kept = target
            .gpu_instances
            .iter()
            .find(|t| t.id == g.id && t.profile_id == g.profile_id && t.placement == g.placement);
        let gi_users: Vec<_> = procs
            .iter()
            .filter(|p| p.gi == Some(g.id) && p.ci.is_none())
            .map(|p| (p.pid, p.name.clone()))
            .collect();
        if gi_kept.is_none() && !gi_users.is_empty() {
            out.push(BusyInstance {
                gi: g.id,
                ci: None,
                name: gp.name.clone(),
                placement: g.placement,
                processes: gi_users,
            });
        }
        for c in &g.compute_instances {
            let kept = gi_kept.is_some_and(|t| t.compute_instances.contains(c));
            let u = users(procs, g.id, Some(c.id));
            if !kept && !u.is_empty() {
                let name = engine::ci_profile(gp, c.profile_id)
                    .map(|cp| mig_model::ids::ci_short_name(gp, cp))
                    .unwrap_or_default();
                out.push(BusyInstance {
                    gi: g.id,
                    ci: Some(c.id),
                    name,
                    placement: c.placement,
                    processes: u,
                });
            }
        }
    }
    out
}

/// Plan one GPU: `model` is its catalog entry (the caller resolved it from
/// `snap.identity`), `demand` what it should hold.
pub fn plan_gpu(
    model: &GpuModel,
    snap: &GpuSnapshot,
    demand: &GpuDemand,
    opts: PlanOptions,
) -> Result<GpuPlan, PlanError> {
    let (after, steps, kept, notes) = plan_steps(model, snap, demand, opts)?;
    Ok(GpuPlan {
        index: snap.identity.index,
        uuid: snap.identity.uuid.clone(),
        model: model.slug.clone(),
        before: MigState::of(snap),
        after,
        steps,
        kept,
        notes,
    })
}

/// What [`plan_gpu`] works out: the state after, the steps, what is kept, notes.
type Planned = (MigState, Vec<Step>, Kept, Vec<String>);

fn plan_steps(
    model: &GpuModel,
    snap: &GpuSnapshot,
    demand: &GpuDemand,
    opts: PlanOptions,
) -> Result<Planned, PlanError> {
    let gpu = snap.identity.index;
    let mut st = MigState::of(snap);
    let mut steps = Vec::new();
    let mut notes = Vec::new();
    let gpu_users: Vec<(u32, String)> = snap
        .processes
        .iter()
        .map(|p| (p.pid, p.name.clone()))
        .collect();
    let mut push = |st: &mut MigState, steps: &mut Vec<Step>, step: Step| {
        simulate(st, model, &step).map_err(|err| PlanError::Simulation {
            gpu,
            step: step.clone(),
            err,
        })?;
        steps.push(step);
        Ok::<(), PlanError>(())
    };
    let mut kept = Kept::default();
    if !demand.mig_enabled {
        if st.mig_current || st.mig_pending {
            if !st.layout.gpu_instances.is_empty() {
                let busy = busy_list(
                    model,
                    &st.layout,
                    &snap.processes,
                    &Layout::new(st.layout.mirrored),
                );
                if !busy.is_empty() {
                    return Err(PlanError::Busy { gpu, busy });
                }
            }
            if !gpu_users.is_empty() && st.mig_current {
                return Err(PlanError::BusyGpu {
                    gpu,
                    processes: gpu_users,
                });
            }
            for s in destroy_all(&st.layout) {
                push(&mut st, &mut steps, s)?;
            }
            if st.mig_pending {
                push(&mut st, &mut steps, Step::SetMigMode { enable: false })?;
            }
            mode_reset(model, &mut st, &mut steps, opts, &mut notes, &mut push)?;
        }
        return Ok((st, steps, kept, notes));
    }
    if !st.mig_current || !st.mig_pending {
        if !st.mig_current && !gpu_users.is_empty() {
            return Err(PlanError::BusyGpu {
                gpu,
                processes: gpu_users,
            });
        }
        if !st.mig_pending {
            push(&mut st, &mut steps, Step::SetMigMode { enable: true })?;
        }
        mode_reset(model, &mut st, &mut steps, opts, &mut notes, &mut push)?;
    }
    if opts.mode_only || !st.mig_current {
        return Ok((st, steps, kept, notes));
    }
    let cur = st.layout.clone();
    let mut search = Search {
        model,
        cur: &cur,
        procs: &snap.processes,
        demands: order_demands(model, demand),
        best: None,
        memo: Default::default(),
    };
    search.search(0, &Layout::new(cur.mirrored), &mut Vec::new());
    let best = search.best.take().ok_or_else(|| PlanError::Infeasible {
        gpu,
        model: model.slug.clone(),
    })?;
    // Each demand's placement and, where it keeps the existing GI there,
    // that GI's ID and the CI choice.
    let demands = search.demands.clone();
    let chosen: Vec<Chosen> = demands
        .iter()
        .zip(&best.placements)
        .zip(&best.keeps)
        .map(|((d, &p), k)| {
            let keep = k.as_ref().and_then(|k| {
                cur.gpu_instances
                    .iter()
                    .find(|g| g.profile_id == d.profile && g.placement == p)
                    .map(|g| (g.id, k))
            });
            (*d, p, keep)
        })
        .collect();
    // 1. destroy CIs that go (in kept GIs and in GIs that go), then GIs.
    let mut gi_destroys = Vec::new();
    for g in &cur.gpu_instances {
        let keep = chosen
            .iter()
            .find_map(|(_, _, k)| k.filter(|(id, _)| *id == g.id));
        for c in &g.compute_instances {
            if !keep.is_some_and(|(_, k)| k.keep.contains(&c.id)) {
                push(&mut st, &mut steps, Step::DestroyCi { gi: g.id, ci: c.id })?;
            }
        }
        if keep.is_none() {
            gi_destroys.push(Step::DestroyGi { gi: g.id });
        }
    }
    for s in gi_destroys {
        push(&mut st, &mut steps, s)?;
    }
    // 2. create the new GIs, then each GI's new CIs.
    let mut fill: Vec<(GpuInstanceId, Vec<(CiProfileId, Placement)>)> = Vec::new();
    for (d, p, keep) in chosen {
        match keep {
            Some((id, k)) => {
                kept.gpu_instances += 1;
                kept.compute_instances += k.keep.len();
                fill.push((id, k.create.clone()));
            }
            None => {
                let id = engine::gi_id(model, cur.mirrored, p);
                push(
                    &mut st,
                    &mut steps,
                    Step::CreateGi {
                        profile: d.profile,
                        placement: p,
                        id,
                    },
                )?;
                let cis = place_cis(
                    model,
                    &st.layout,
                    id,
                    &sorted_cis(model, d, &d.compute_instances),
                )
                .ok_or_else(|| PlanError::Infeasible {
                    gpu,
                    model: model.slug.clone(),
                })?;
                fill.push((id, cis));
            }
        }
    }
    for (gi, cis) in fill {
        for (profile, placement) in cis {
            let id = next_ci_id(&st.layout, gi);
            push(
                &mut st,
                &mut steps,
                Step::CreateCi {
                    gi,
                    profile,
                    placement,
                    id,
                },
            )?;
        }
    }
    if best.busy_lost > 0 {
        let busy = busy_list(model, &cur, &snap.processes, &st.layout);
        return Err(PlanError::Busy { gpu, busy });
    }
    Ok((st, steps, kept, notes))
}

type Push<'a> = dyn FnMut(&mut MigState, &mut Vec<Step>, Step) -> Result<(), PlanError> + 'a;

/// After a mode change: reset where the product needs one (unless told not
/// to), else note that the mode stays pending.
fn mode_reset(
    model: &GpuModel,
    st: &mut MigState,
    steps: &mut Vec<Step>,
    opts: PlanOptions,
    notes: &mut Vec<String>,
    push: &mut Push<'_>,
) -> Result<(), PlanError> {
    if st.mig_current == st.mig_pending {
        return Ok(());
    }
    if opts.skip_reset {
        notes.push(format!(
            "MIG mode {} is pending until the GPU is reset (--skip-reset); {} needs a reset for a mode change",
            if st.mig_pending { "on" } else { "off" },
            model.name
        ));
        return Ok(());
    }
    push(st, steps, Step::Reset)
}
