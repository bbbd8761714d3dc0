//! The MIG engine: one GPU's GPU and compute instances, and every rule that
//! decides what may be created where and which IDs it gets. Pure and
//! serializable; the simulator persists a [`Layout`] per GPU and the planner
//! uses it for what-ifs.
//!
//! Rules and their sources (`../shared/research/mig-facts.md`):
//! - placements must be one of the profile's placements and may not overlap
//!   another GI's memory slices (4.1: two GIs conflict iff one's swizzle span
//!   contains the other's);
//! - GI ID = swizzle ID of the *physical* span (4.1), where mirrored chips map
//!   logical to physical slices across the halves (4.2);
//! - without a placement, the driver picks the free placement that leaves the
//!   most (profile, placement) pairs free, ties to the lowest start (4.3); the
//!   same rule picks CI placements (4.4, `kmigmgrGetFreeCTSId`);
//! - CI ID = lowest free index 0..7 in its GI (4.4);
//! - instance counts per profile, and media engines: a GI takes its profile's
//!   CE/DEC/ENC/JPEG/OFA out of the GPU's totals (the full-GPU profile's), which
//!   is what limits `+me` to one instance and lets `+me.all` coexist only with
//!   `-me` profiles.

use crate::catalog::{CiProfile, GiProfile, GpuModel};
use crate::error::NvmlError;
use crate::refusal::{Refusal, ENGINE_NAMES};
use crate::types::{CiProfileId, ComputeInstanceId, GiProfileId, GpuInstanceId, Placement};
use serde::{Deserialize, Serialize};

/// Most compute instances in one GI (`GPUMGR_MAX_COMPUTE_INSTANCES`).
pub const MAX_COMPUTE_INSTANCES: u32 = 8;

/// A compute instance inside a GPU instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputeInstance {
    pub id: ComputeInstanceId,
    pub profile_id: CiProfileId,
    /// In compute slices, relative to the GI.
    pub placement: Placement,
}

/// A GPU instance and its compute instances (sorted by CI ID).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuInstance {
    pub id: GpuInstanceId,
    pub profile_id: GiProfileId,
    /// Logical placement, as NVML reports it.
    pub placement: Placement,
    #[serde(default)]
    pub compute_instances: Vec<ComputeInstance>,
}

/// One GPU's MIG layout. GIs are kept sorted by GI ID.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// Whether this board maps logical slice `i` to physical `i XOR half`.
    #[serde(default)]
    pub mirrored: bool,
    #[serde(default)]
    pub gpu_instances: Vec<GpuInstance>,
}

/// Engine counts of a GI profile, in a fixed order (CE, DEC, ENC, JPEG, OFA:
/// [`ENGINE_NAMES`]).
pub fn engine_counts(p: &GiProfile) -> [u32; 5] {
    [p.ce, p.dec, p.enc, p.jpeg, p.ofa]
}

/// The full-GPU profile: the one whose placement spans the whole grid.
/// Its engine counts are the GPU's totals.
pub fn full_profile(model: &GpuModel) -> &GiProfile {
    model
        .gi_profiles
        .iter()
        .filter(|p| p.placement_size == model.placement_grid)
        .max_by_key(|p| engine_counts(p).iter().sum::<u32>())
        .unwrap_or(&model.gi_profiles[model.gi_profiles.len() - 1])
}

/// Grid units per memory slice: the smallest GI placement size (1 on most
/// boards; a board whose smallest GI spans two grid units has 2).
pub fn slice_unit(model: &GpuModel) -> u32 {
    model
        .gi_profiles
        .iter()
        .map(|p| p.placement_size)
        .min()
        .unwrap_or(1)
        .max(1)
}

/// Memory slices of the model: the placement grid in [`slice_unit`]s.
pub fn memory_slices(model: &GpuModel) -> u32 {
    model.placement_grid / slice_unit(model)
}

/// The board as messages name it: `NVIDIA A100-SXM4-40GB (a100-sxm4-40gb)`.
pub fn board_name(model: &GpuModel) -> String {
    format!("{} ({})", model.name, model.slug)
}

/// Look a GI profile up by ID.
pub fn gi_profile(model: &GpuModel, id: GiProfileId) -> Result<&GiProfile, NvmlError> {
    model
        .gi_profiles
        .iter()
        .find(|p| p.id == id.0)
        .ok_or(NvmlError::InvalidArgument)
}

/// Look a CI profile of a GI profile up by ID.
pub fn ci_profile(gi: &GiProfile, id: CiProfileId) -> Result<&CiProfile, NvmlError> {
    gi.ci_profiles
        .iter()
        .find(|c| c.id == id.0)
        .ok_or(NvmlError::InvalidArgument)
}

/// The placements a profile allows.
pub fn gi_placements(p: &GiProfile) -> impl Iterator<Item = Placement> + '_ {
    p.placement_starts
        .iter()
        .map(move |&s| Placement::new(s, p.placement_size))
}

/// The placements a CI profile allows inside its GI.
pub fn ci_placements(c: &CiProfile) -> impl Iterator<Item = Placement> + '_ {
    c.placement_starts
        .iter()
        .map(move |&s| Placement::new(s, c.placement_size))
}

/// Logical (NVML) placement to physical memory slices. On mirrored boards the
/// two halves swap; a span that covers the whole grid stays put.
pub fn physical(model: &GpuModel, mirrored: bool, p: Placement) -> Placement {
    let grid = model.placement_grid;
    if !mirrored || p.size > grid / 2 {
        return p;
    }
    Placement::new((p.start + grid / 2) % grid, p.size)
}

/// GI ID = swizzle ID of the physical span: `(grid/size - 1) + start/size`
/// (`kmigmgrSwizzIdToSpan_GA100`; 0 whole, 1-2 halves, 3-6 quarters, 7-14 eighths).
pub fn gi_id(model: &GpuModel, mirrored: bool, p: Placement) -> GpuInstanceId {
    let ph = physical(model, mirrored, p);
    GpuInstanceId(model.placement_grid / ph.size - 1 + ph.start / ph.size)
}

/// Whether a board is mirrored, read off instances it already has: a GI
/// whose ID is the swizzle ID of its mirrored span, not of its logical one
/// (mig-facts 4.2). `None` when no instance tells (none, or only spans over
/// half the grid, which mirroring leaves in place).
pub fn mirrored_from(model: &GpuModel, gis: &[(Placement, GpuInstanceId)]) -> Option<bool> {
    gis.iter().find_map(|&(p, id)| {
        let plain = gi_id(model, false, p);
        let mirrored = gi_id(model, true, p);
        if plain == mirrored {
            None
        } else {
            Some(id == mirrored)
        }
    })
}

/// Index of the first physical compute engine (GR syspipe) a CI uses; it feeds
/// the MIG UUID. The driver does not expose it; this is the simulator's choice:
/// the GI's first physical slice plus the CI's start.
pub fn syspipe(model: &GpuModel, mirrored: bool, gi: Placement, ci: Placement) -> u32 {
    physical(model, mirrored, gi).start / slice_unit(model) + ci.start
}

/// The driver's default-placement rule, for GIs and CIs alike (mig-facts
/// 4.3, 4.4): of the creatable `candidates`, the one that leaves the most of
/// `pairs` (every (profile, placement) pair of the device or GI) free and
/// not overlapping it; ties go to the lowest start (candidates come in start
/// order).
pub fn least_capacity_lost(
    candidates: impl Iterator<Item = Placement>,
    pairs: &[Placement],
    free: impl Fn(Placement) -> bool,
) -> Option<Placement> {
    let mut best: Option<(usize, Placement)> = None;
    for cand in candidates {
        let score = pairs
            .iter()
            .filter(|&&q| !q.overlaps(cand) && free(q))
            .count();
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, cand));
        }
    }
    best.map(|(_, p)| p)
}

/// CI ID = the lowest index 0..7 no compute instance of the GI has (mig-facts 4.4).
pub fn lowest_free_ci_id(gi: &GpuInstance) -> Option<ComputeInstanceId> {
    (0..MAX_COMPUTE_INSTANCES)
        .map(ComputeInstanceId)
        .find(|id| !gi.compute_instances.iter().any(|c| c.id == *id))
}

/// The CI profile a GI gets by default; it lives beside the profile data it
/// reads (the catalog checks every GI profile has one).
pub use crate::catalog::default_ci_profile;

/// `nvmlDeviceGetMaxMigDeviceCount` with MIG on: how many MIG devices the
/// chip can hold at once (7 on A100/H100, 4 on A30): the most GIs of one
/// profile times the most CIs in such a GI.
pub fn max_mig_devices(model: &GpuModel) -> u32 {
    model
        .gi_profiles
        .iter()
        .map(|p| p.instances * p.ci_profiles.iter().map(|c| c.instances).max().unwrap_or(1))
        .max()
        .unwrap_or(0)
}

/// The rule [`Layout::check_gi`] found broken first.
#[derive(Debug, Clone, Copy)]
enum GiRule {
    Placement,
    Count,
    Overlap,
    /// Index into [`ENGINE_NAMES`].
    Engine(usize),
}

/// Why a layout read from outside (a state file, a journal) breaks the rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}")]
pub struct InvalidLayout {
    pub what: String,
}

impl Layout {
    /// A GPU with MIG enabled and no instances.
    pub fn new(mirrored: bool) -> Self {
        Layout {
            mirrored,
            gpu_instances: Vec::new(),
        }
    }

    pub fn gpu_instance(&self, id: GpuInstanceId) -> Result<&GpuInstance, NvmlError> {
        self.gpu_instances
            .iter()
            .find(|g| g.id == id)
            .ok_or(NvmlError::NotFound)
    }

    fn gpu_instance_mut(&mut self, id: GpuInstanceId) -> Result<&mut GpuInstance, NvmlError> {
        self.gpu_instances
            .iter_mut()
            .find(|g| g.id == id)
            .ok_or(NvmlError::NotFound)
    }

    fn gi_free(&self, p: Placement) -> bool {
        !self.gpu_instances.iter().any(|g| g.placement.overlaps(p))
    }

    /// Engines (CE, DEC, ENC, JPEG, OFA) the GIs of this layout take.
    pub fn engines_used(&self, model: &GpuModel) -> [u32; 5] {
        let mut used = [0; 5];
        for g in &self.gpu_instances {
            if let Ok(p) = gi_profile(model, g.profile_id) {
                for (u, e) in used.iter_mut().zip(engine_counts(p)) {
                    *u += e;
                }
            }
        }
        used
    }

    /// How many GIs of `profile` this layout holds.
    pub fn count_of(&self, profile: &GiProfile) -> u32 {
        self.gpu_instances
            .iter()
            .filter(|g| g.profile_id.0 == profile.id)
            .count() as u32
    }

    /// The one GI placement check: the first rule that keeps a GI of
    /// `profile` from being created at `p` now, or `None` when it may be.
    /// Allocation-free, since searches call it for every candidate.
    fn gi_rule(&self, model: &GpuModel, profile: &GiProfile, p: Placement) -> Option<GiRule> {
        if !gi_placements(profile).any(|q| q == p) {
            return Some(GiRule::Placement);
        }
        if self.count_of(profile) >= profile.instances {
            return Some(GiRule::Count);
        }
        if !self.gi_free(p) {
            return Some(GiRule::Overlap);
        }
        let total = engine_counts(full_profile(model));
        let used = self.engines_used(model);
        let need = engine_counts(profile);
        (0..5)
            .find(|&k| need[k] > total[k].saturating_sub(used[k]))
            .map(GiRule::Engine)
    }

    /// Whether a GI of `profile` may be created at `p` now; the error is the
    /// one the driver returns ([`Refusal::nvml_error`] of
    /// [`Layout::refuse_gi`]).
    pub fn check_gi(
        &self,
        model: &GpuModel,
        profile: &GiProfile,
        p: Placement,
    ) -> Result<(), NvmlError> {
        match self.gi_rule(model, profile, p) {
            None => Ok(()),
            Some(GiRule::Placement) => Err(NvmlError::InvalidArgument),
            Some(_) => Err(NvmlError::InsufficientResources),
        }
    }

    /// [`Layout::check_gi`] with the reason spelled out: which rule refuses a
    /// GI of `profile` at `p` beside this layout.
    pub fn refuse_gi(
        &self,
        model: &GpuModel,
        profile: &GiProfile,
        p: Placement,
    ) -> Option<Refusal> {
        let name = |id: GiProfileId| {
            gi_profile(model, id)
                .map(|q| q.name.clone())
                .unwrap_or_else(|_| format!("GI profile {}", id.0))
        };
        Some(match self.gi_rule(model, profile, p)? {
            GiRule::Placement => Refusal::BadPlacement {
                profile: profile.name.clone(),
                placement: p,
                starts: profile.placement_starts.clone(),
                board: board_name(model),
            },
            GiRule::Count => Refusal::InstanceCount {
                profile: profile.name.clone(),
                want: 1,
                existing: self.count_of(profile),
                max: profile.instances,
                board: board_name(model),
            },
            GiRule::Overlap => {
                let held: Vec<(String, Placement)> = self
                    .gpu_instances
                    .iter()
                    .map(|g| (name(g.profile_id), g.placement))
                    .collect();
                let unit = slice_unit(model);
                let taken: u32 = self
                    .gpu_instances
                    .iter()
                    .map(|g| g.placement.size / unit)
                    .sum();
                let total = memory_slices(model);
                Refusal::Overlap {
                    profile: profile.name.clone(),
                    wanted: Box::new([p]),
                    blocking: held
                        .iter()
                        .filter(|(_, q)| q.overlaps(p))
                        .cloned()
                        .collect(),
                    held,
                    arranged: false,
                    room: Box::new([]),
                    slices: (p.size / unit, total.saturating_sub(taken), total),
                }
            }
            GiRule::Engine(k) => Refusal::Engines {
                engine: ENGINE_NAMES[k],
                need: engine_counts(profile)[k],
                free: engine_counts(full_profile(model))[k]
                    .saturating_sub(self.engines_used(model)[k]),
                profiles: vec![profile.name.clone()],
            },
        })
    }

    /// Placements of `profile` that could be created now, in start order.
    pub fn creatable_gi_placements(&self, model: &GpuModel, profile: &GiProfile) -> Vec<Placement> {
        gi_placements(profile)
            .filter(|&p| self.check_gi(model, profile, p).is_ok())
            .collect()
    }

    /// `nvmlDeviceGetGpuInstanceRemainingCapacity`: how many more GIs of this
    /// profile can be created, one after another. Counted by creating them,
    /// lowest start first, on a copy: `check_gi` stays the only judge. (A
    /// profile's placements are aligned spans of one size, so lowest-start
    /// first reaches the most.)
    pub fn gi_remaining(&self, model: &GpuModel, profile: &GiProfile) -> u32 {
        let mut l = self.clone();
        let mut n = 0;
        while let Some(&p) = l.creatable_gi_placements(model, profile).first() {
            if l.create_gi(model, GiProfileId(profile.id), Some(p))
                .is_err()
            {
                break;
            }
            n += 1;
        }
        n
    }

    /// The placement the driver picks when none is given (mig-facts 4.3):
    /// [`least_capacity_lost`] over the device's GI profiles.
    pub fn default_gi_placement(&self, model: &GpuModel, profile: &GiProfile) -> Option<Placement> {
        let pairs: Vec<Placement> = model.gi_profiles.iter().flat_map(gi_placements).collect();
        least_capacity_lost(
            self.creatable_gi_placements(model, profile).into_iter(),
            &pairs,
            |q| self.gi_free(q),
        )
    }

    /// `nvmlDeviceCreateGpuInstance[WithPlacement]`.
    pub fn create_gi(
        &mut self,
        model: &GpuModel,
        profile_id: GiProfileId,
        placement: Option<Placement>,
    ) -> Result<GpuInstanceId, NvmlError> {
        let profile = gi_profile(model, profile_id)?;
        let p = match placement {
            Some(p) => {
                self.check_gi(model, profile, p)?;
                p
            }
            None => self
                .default_gi_placement(model, profile)
                .ok_or(NvmlError::InsufficientResources)?,
        };
        let id = gi_id(model, self.mirrored, p);
        let gi = GpuInstance {
            id,
            profile_id,
            placement: p,
            compute_instances: Vec::new(),
        };
        let at = self.gpu_instances.partition_point(|g| g.id < id);
        self.gpu_instances.insert(at, gi);
        Ok(id)
    }

    /// `nvmlGpuInstanceDestroy`: fails with In Use while compute instances exist.
    pub fn destroy_gi(&mut self, id: GpuInstanceId) -> Result<GpuInstance, NvmlError> {
        let at = self
            .gpu_instances
            .iter()
            .position(|g| g.id == id)
            .ok_or(NvmlError::NotFound)?;
        if !self.gpu_instances[at].compute_instances.is_empty() {
            return Err(NvmlError::InUse);
        }
        Ok(self.gpu_instances.remove(at))
    }

    /// Whether a CI of `ci` may be created at `p` in GI `gi` now.
    pub fn check_ci(
        &self,
        model: &GpuModel,
        gi: GpuInstanceId,
        ci: &CiProfile,
        p: Placement,
    ) -> Result<(), NvmlError> {
        let g = self.gpu_instance(gi)?;
        gi_profile(model, g.profile_id)?;
        if !ci_placements(ci).any(|q| q == p) {
            return Err(NvmlError::InvalidArgument);
        }
        let count = g
            .compute_instances
            .iter()
            .filter(|c| c.profile_id.0 == ci.id)
            .count() as u32;
        if count >= ci.instances
            || g.compute_instances.len() as u32 >= MAX_COMPUTE_INSTANCES
            || g.compute_instances.iter().any(|c| c.placement.overlaps(p))
        {
            return Err(NvmlError::InsufficientResources);
        }
        Ok(())
    }

    /// `nvmlGpuInstanceGetComputeInstanceRemainingCapacity`, counted as
    /// [`Layout::gi_remaining`] is: by creating them on a copy.
    pub fn ci_remaining(&self, model: &GpuModel, gi: GpuInstanceId, ci: &CiProfile) -> u32 {
        let mut l = self.clone();
        let mut n = 0;
        loop {
            let Some(p) = ci_placements(ci).find(|&p| l.check_ci(model, gi, ci, p).is_ok()) else {
                return n;
            };
            if l.create_ci(model, gi, CiProfileId(ci.id), Some(p)).is_err() {
                return n;
            }
            n += 1;
        }
    }

    /// The CI placement the driver picks when none is given (mig-facts 4.4,
    /// `kmigmgrGetFreeCTSId`): [`least_capacity_lost`] over the GI's CI
    /// profiles.
    pub fn default_ci_placement(
        &self,
        model: &GpuModel,
        gi: GpuInstanceId,
        ci: &CiProfile,
    ) -> Result<Option<Placement>, NvmlError> {
        let g = self.gpu_instance(gi)?;
        let gp = gi_profile(model, g.profile_id)?;
        let pairs: Vec<Placement> = gp.ci_profiles.iter().flat_map(ci_placements).collect();
        let cands = ci_placements(ci).filter(|&p| self.check_ci(model, gi, ci, p).is_ok());
        Ok(least_capacity_lost(cands, &pairs, |q| {
            !g.compute_instances.iter().any(|c| c.placement.overlaps(q))
        }))
    }

    /// `nvmlGpuInstanceCreateComputeInstance[WithPlacement]`.
    pub fn create_ci(
        &mut self,
        model: &GpuModel,
        gi: GpuInstanceId,
        profile_id: CiProfileId,
        placement: Option<Placement>,
    ) -> Result<ComputeInstanceId, NvmlError> {
        let g = self.gpu_instance(gi)?;
        let gp = gi_profile(model, g.profile_id)?;
        let ci = ci_profile(gp, profile_id)?;
        let p = match placement {
            Some(p) => {
                self.check_ci(model, gi, ci, p)?;
                p
            }
            None => self
                .default_ci_placement(model, gi, ci)?
                .ok_or(NvmlError::InsufficientResources)?,
        };
        let g = self.gpu_instance_mut(gi)?;
        let id = lowest_free_ci_id(g).ok_or(NvmlError::InsufficientResources)?;
        let at = g.compute_instances.partition_point(|c| c.id < id);
        g.compute_instances.insert(
            at,
            ComputeInstance {
                id,
                profile_id,
                placement: p,
            },
        );
        Ok(id)
    }

    /// `nvmlComputeInstanceDestroy` (busy checks are the caller's: processes
    /// live outside the layout).
    pub fn destroy_ci(
        &mut self,
        gi: GpuInstanceId,
        ci: ComputeInstanceId,
    ) -> Result<ComputeInstance, NvmlError> {
        let g = self.gpu_instance_mut(gi)?;
        let at = g
            .compute_instances
            .iter()
            .position(|c| c.id == ci)
            .ok_or(NvmlError::NotFound)?;
        Ok(g.compute_instances.remove(at))
    }

    /// Every (GI, CI) pair in MIG device enumeration order.
    pub fn mig_devices(&self) -> impl Iterator<Item = (&GpuInstance, &ComputeInstance)> {
        self.gpu_instances
            .iter()
            .flat_map(|g| g.compute_instances.iter().map(move |c| (g, c)))
    }

    /// Check invariants of a layout read from outside (a state file): known
    /// profiles, valid placements, no overlaps, IDs as the rules give them.
    pub fn validate(&self, model: &GpuModel) -> Result<(), InvalidLayout> {
        self.check_rules(model)
            .map_err(|what| InvalidLayout { what })
    }

    fn check_rules(&self, model: &GpuModel) -> Result<(), String> {
        let mut rebuilt = Layout::new(self.mirrored);
        for g in &self.gpu_instances {
            rebuilt
                .create_gi(model, g.profile_id, Some(g.placement))
                .map_err(|e| format!("GPU instance {}: {e}", g.id))
                .and_then(|id| {
                    if id == g.id {
                        Ok(())
                    } else {
                        Err(format!(
                            "GPU instance {} at {} should have ID {id}",
                            g.id, g.placement
                        ))
                    }
                })?;
            let mut seen = Vec::new();
            for c in &g.compute_instances {
                if seen.contains(&c.id) || c.id.0 >= MAX_COMPUTE_INSTANCES {
                    return Err(format!(
                        "GPU instance {}: bad compute instance ID {}",
                        g.id, c.id
                    ));
                }
                seen.push(c.id);
                let gp = gi_profile(model, g.profile_id).map_err(|e| e.to_string())?;
                let cp = ci_profile(gp, c.profile_id).map_err(|_| {
                    format!(
                        "GPU instance {}: unknown CI profile {}",
                        g.id, c.profile_id.0
                    )
                })?;
                rebuilt
                    .check_ci(model, g.id, cp, c.placement)
                    .map_err(|e| format!("compute instance {}/{}: {e}", g.id, c.id))?;
                let rg = rebuilt.gpu_instance_mut(g.id).map_err(|e| e.to_string())?;
                rg.compute_instances.push(c.clone());
                rg.compute_instances.sort_by_key(|c| c.id);
            }
        }
        Ok(())
    }
}
