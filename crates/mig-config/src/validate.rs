//! Validation of a named config against a machine's GPUs, before anything is
//! touched: which entry selects which GPU, what each selected GPU should hold
//! (a [`GpuDemand`]), and whether that fits the board, decided from the
//! catalog: GPU instances are placed by `mig_model::search` (the one search,
//! which says why when they do not fit), compute instances through
//! `mig_model::engine::Layout` (`check_ci`, `create_ci`); this module decides
//! no MIG rule itself.
//!
//! Where a demand does not fit, the error is one sentence that names the
//! rule: an instance count, an engine, a placement, or the profiles and
//! slices that collide.

use crate::demand::{CiDemand, GiDemand, GpuDemand};
use crate::v1::{Devices, Entry, MigDevices, NamedConfig, ProfileError, ProfileName};
use mig_model::catalog::{self, CiProfile, GiProfile, GpuModel};
use mig_model::engine::{self, Layout};
use mig_model::refusal::join_with;
use mig_model::search::{self, Want};
use mig_model::{GpuIdentity, GpuInstanceId, GpuRef, Placement, Refusal};
use std::fmt;

/// One GPU a config selects, and what it should hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// NVML index of the GPU.
    pub index: u32,
    pub uuid: String,
    /// Index of the selecting entry in the named config.
    pub entry: usize,
    /// Catalog slug of the board.
    pub model: String,
    pub demand: GpuDemand,
    /// One layout that meets the demand (the proof that it fits; the
    /// planner may choose another).
    pub fits_as: Layout,
}

/// What a named config means on a machine.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Selection {
    /// Selected GPUs, in index order.
    pub targets: Vec<Target>,
    /// GPUs an entry selects that are left alone, with why (not MIG-capable,
    /// selected by `all` or asked to stay MIG-disabled, as mig-parted does).
    pub skipped: Vec<(u32, String)>,
    /// GPUs no entry selects (left alone; assert does not hold them against
    /// the config).
    pub unselected: Vec<u32>,
}

impl Selection {
    pub fn target(&self, index: u32) -> Option<&Target> {
        self.targets.iter().find(|t| t.index == index)
    }
}

/// Why a demand cannot be met on a board.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FitError {
    /// The GPU instances do not fit: the model's refusal (an instance
    /// count, an engine, a placement, or the profiles and slices that
    /// collide).
    #[error("{0}")]
    Refused(#[from] Refusal),
    #[error("compute instance {profile} cannot start at {start} in a {gi} GPU instance: its placements start at {starts}")]
    BadCiStart {
        profile: String,
        gi: String,
        start: u32,
        starts: String,
    },
    #[error("{cis} do not fit in one {gi} GPU instance ({why})")]
    CisDoNotFit {
        gi: String,
        cis: String,
        why: String,
    },
    /// A profile the board does not have.
    #[error("{0}")]
    Collide(String),
    #[error("GPU instances are asked for with MIG disabled")]
    DisabledWithDevices,
}

/// What is wrong with a config on this machine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProblemKind {
    #[error("GPU {gpu} is selected by entries {first} and {second}; mig-parted would silently apply the later one, migctl refuses overlapping selectors")]
    Overlap {
        gpu: u32,
        first: usize,
        second: usize,
    },
    #[error("'devices' lists GPU {gpu}, but this machine has {}", have_gpus(*count))]
    IndexOutOfRange { gpu: u32, count: usize },
    #[error("'devices' lists {uuid}, which is not a GPU of this machine")]
    UnknownUuid { uuid: String },
    #[error("GPU {gpu} ({name}) is not a MIG-capable GPU the catalog knows, but entry {entry} names it with mig-enabled: true")]
    NotMigCapable {
        gpu: u32,
        name: String,
        entry: usize,
    },
    #[error("GPU {gpu}: {source}")]
    Profile {
        gpu: u32,
        #[source]
        source: ProfileError,
    },
    #[error("GPU {gpu}: {source}")]
    Fit {
        gpu: u32,
        #[source]
        source: FitError,
    },
}

fn have_gpus(n: usize) -> String {
    match n {
        0 => "no GPUs".into(),
        1 => "only GPU 0".into(),
        n => format!("GPUs 0-{}", n - 1),
    }
}

/// One problem, with where in the file it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `mig-configs.NAME[ENTRY]`, the key path (0-based entry, as the
    /// parser's messages write it).
    pub key: String,
    pub kind: ProblemKind,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.kind)
    }
}

/// Every problem found; nothing may be changed while there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct ValidationError {
    pub problems: Vec<Problem>,
}

/// The identity a GPU of board `model` at `index` reports, for what-ifs
/// without a GPU (validating a config for a board, the compat tests). The
/// UUID and bus ID are made up; PCI IDs are the catalog's.
pub fn catalog_identity(index: u32, model: &GpuModel) -> GpuIdentity {
    GpuIdentity {
        index,
        uuid: mig_model::ids::sim_gpu_uuid(&model.slug, index),
        name: model.name.clone(),
        pci_bus_id: format!("00000000:{:02X}:00.0", 7 + index),
        pci_device_id: (u32::from(model.pci_device_id) << 16) | 0x10de,
        pci_subsystem_id: model.pci_subsystem_id,
        minor: index,
        memory_total_bytes: model.memory_total_bytes,
        model: Some(model.slug.clone()),
        mirrored: false,
        mode_change_needs_reset: model.mode_change_needs_reset,
    }
}

/// Whether `entry` selects the GPU `gpu` (mig-parted's
/// `MatchesDeviceFilter && MatchesDevices`, plus UUIDs for migctl/v1).
pub fn entry_selects(entry: &Entry, gpu: &GpuIdentity) -> bool {
    let filter_ok = entry.device_filter.is_empty()
        || entry
            .device_filter
            .iter()
            .any(|f| f.matches(gpu.pci_device_id, gpu.pci_subsystem_id));
    filter_ok
        && match &entry.devices {
            Devices::All => true,
            Devices::List(l) => l.iter().any(|r| match r {
                GpuRef::Index(i) => *i == gpu.index,
                GpuRef::Uuid(u) => *u == gpu.uuid,
            }),
        }
}

/// Validate `config` on the machine whose GPUs are `gpus` (every GPU, in
/// index order): select, build demands, and check each fits its board.
pub fn validate(config: &NamedConfig, gpus: &[GpuIdentity]) -> Result<Selection, ValidationError> {
    let key = |e: usize| format!("mig-configs.{}[{e}]", config.name);
    let mut problems = Vec::new();
    let mut chosen: Vec<Option<usize>> = vec![None; gpus.len()];
    for (ei, entry) in config.entries.iter().enumerate() {
        if let Devices::List(list) = &entry.devices {
            for r in list {
                let kind = match r {
                    GpuRef::Index(i) if !gpus.iter().any(|g| g.index == *i) => {
                        ProblemKind::IndexOutOfRange {
                            gpu: *i,
                            count: gpus.len(),
                        }
                    }
                    GpuRef::Uuid(u) if !gpus.iter().any(|g| g.uuid == *u) => {
                        ProblemKind::UnknownUuid { uuid: u.clone() }
                    }
                    _ => continue,
                };
                problems.push(Problem { key: key(ei), kind });
            }
        }
        for (gi, gpu) in gpus.iter().enumerate() {
            if !entry_selects(entry, gpu) {
                continue;
            }
            match chosen[gi] {
                Some(first) => problems.push(Problem {
                    key: key(ei),
                    kind: ProblemKind::Overlap {
                        gpu: gpu.index,
                        first,
                        second: ei,
                    },
                }),
                None => chosen[gi] = Some(ei),
            }
        }
    }
    let mut sel = Selection::default();
    for (gpu, ch) in gpus.iter().zip(&chosen) {
        let Some(ei) = *ch else {
            sel.unselected.push(gpu.index);
            continue;
        };
        let entry = &config.entries[ei];
        let Some(model) = gpu.model.as_deref().and_then(catalog::model) else {
            if !entry.mig_enabled || entry.devices == Devices::All {
                sel.skipped.push((
                    gpu.index,
                    format!("{} is not MIG-capable; left alone", gpu.name),
                ));
            } else {
                problems.push(Problem {
                    key: key(ei),
                    kind: ProblemKind::NotMigCapable {
                        gpu: gpu.index,
                        name: gpu.name.clone(),
                        entry: ei,
                    },
                });
            }
            continue;
        };
        let demand = match demand_for(entry, model, gpu.mirrored) {
            Ok(d) => d,
            Err(source) => {
                problems.push(Problem {
                    key: key(ei),
                    kind: ProblemKind::Profile {
                        gpu: gpu.index,
                        source,
                    },
                });
                continue;
            }
        };
        match check_fit(model, gpu.mirrored, &demand) {
            Ok(fits_as) => sel.targets.push(Target {
                index: gpu.index,
                uuid: gpu.uuid.clone(),
                entry: ei,
                model: model.slug.clone(),
                demand,
                fits_as,
            }),
            Err(source) => problems.push(Problem {
                key: key(ei),
                kind: ProblemKind::Fit {
                    gpu: gpu.index,
                    source,
                },
            }),
        }
    }
    if problems.is_empty() {
        Ok(sel)
    } else {
        Err(ValidationError { problems })
    }
}

/// What `entry` asks of one GPU of board `model`: profile names resolved on
/// that board, and v1 counts packed into GIs as mig-parted packs them.
pub fn demand_for(
    entry: &Entry,
    model: &GpuModel,
    mirrored: bool,
) -> Result<GpuDemand, ProfileError> {
    if !entry.mig_enabled {
        return Ok(GpuDemand {
            mig_enabled: false,
            gpu_instances: Vec::new(),
        });
    }
    let gpu_instances = match &entry.mig_devices {
        MigDevices::Counts(counts) => pack_counts(counts, model, mirrored)?,
        MigDevices::Instances(gis) => {
            let mut out = Vec::new();
            for g in gis {
                let (gp, full) = g.profile.resolve(model)?;
                let placement = g.start.map(|s| Placement::new(s, gp.placement_size));
                let compute_instances = match &g.compute_instances {
                    None => vec![CiDemand {
                        profile: mig_model::CiProfileId(full.id),
                        placement: None,
                    }],
                    Some(cis) => {
                        let mut v = Vec::new();
                        for c in cis {
                            let (_, cp) = c.profile.resolve(model)?;
                            v.push(CiDemand {
                                profile: mig_model::CiProfileId(cp.id),
                                placement: c.start.map(|s| Placement::new(s, cp.placement_size)),
                            });
                        }
                        v
                    }
                };
                out.push(GiDemand {
                    profile: mig_model::GiProfileId(gp.id),
                    placement,
                    compute_instances,
                });
            }
            out
        }
    };
    Ok(GpuDemand {
        mig_enabled: true,
        gpu_instances,
    })
}

/// mig-parted's `Flatten` order and `reuseGI` packing: instances sorted by
/// GI slices, then CI slices (largest first), then attributes; each CI goes
/// into the previous GI when that GI has the same profile and the CI can
/// still be created there (the engine's default CI placement), else into a
/// new GI. Ties that mig-parted leaves to Go's map order are broken by GI
/// and CI profile ID, which keeps one profile's CIs together.
fn pack_counts(
    counts: &[(ProfileName, u32)],
    model: &GpuModel,
    mirrored: bool,
) -> Result<Vec<GiDemand>, ProfileError> {
    let mut items: Vec<(&ProfileName, &GiProfile, &CiProfile)> = Vec::new();
    // Zero counts are not resolved, as mig-parted's Flatten skips them.
    for (name, n) in counts.iter().filter(|(_, n)| *n > 0) {
        let (gi, ci) = name.resolve(model)?;
        for _ in 0..*n {
            items.push((name, gi, ci));
        }
    }
    items.sort_by(|a, b| {
        (b.0.g, b.0.c, b.0.attrs.join(","), a.1.id, a.2.id).cmp(&(
            a.0.g,
            a.0.c,
            a.0.attrs.join(","),
            b.1.id,
            b.2.id,
        ))
    });
    let mut out: Vec<GiDemand> = Vec::new();
    // A scratch layout holding only the GI being filled.
    let mut scratch: Option<(Layout, GpuInstanceId)> = None;
    for (_, gi, ci) in items {
        let reuse = out.last().is_some_and(|g| g.profile.0 == gi.id)
            && scratch.as_mut().is_some_and(|(l, id)| {
                l.create_ci(model, *id, mig_model::CiProfileId(ci.id), None)
                    .is_ok()
            });
        if !reuse {
            let mut l = Layout::new(mirrored);
            let ok = l
                .create_gi(model, mig_model::GiProfileId(gi.id), None)
                .and_then(|id| {
                    l.create_ci(model, id, mig_model::CiProfileId(ci.id), None)
                        .map(|_| id)
                });
            scratch = ok.ok().map(|id| (l, id));
            out.push(GiDemand {
                profile: mig_model::GiProfileId(gi.id),
                placement: None,
                compute_instances: Vec::new(),
            });
        }
        if let Some(last) = out.last_mut() {
            last.compute_instances.push(CiDemand {
                profile: mig_model::CiProfileId(ci.id),
                placement: None,
            });
        }
    }
    Ok(out)
}

/// Decide whether `demand` fits board `model`; on success return one layout
/// that meets it (pinned placements as pinned).
pub fn check_fit(model: &GpuModel, mirrored: bool, demand: &GpuDemand) -> Result<Layout, FitError> {
    let mut layout = Layout::new(mirrored);
    if !demand.mig_enabled {
        if demand.gpu_instances.is_empty() {
            return Ok(layout);
        }
        return Err(FitError::DisabledWithDevices);
    }
    let mut profiles: Vec<&GiProfile> = Vec::new();
    for g in &demand.gpu_instances {
        let p = engine::gi_profile(model, g.profile).map_err(|_| {
            FitError::Collide(format!(
                "GI profile {} is not a profile of the {}",
                g.profile.0,
                engine::board_name(model)
            ))
        })?;
        profiles.push(p);
    }
    let want: Vec<Want> = demand
        .gpu_instances
        .iter()
        .zip(&profiles)
        .map(|(g, p)| Want {
            profile: p,
            placement: g.placement,
        })
        .collect();
    let placed = search::place(model, &layout, &want)?;
    layout = placed.layout;
    // Compute instances, GI by GI (CI placements are relative to the GI).
    for (i, g) in demand.gpu_instances.iter().enumerate() {
        let Some(id) = layout
            .gpu_instances
            .iter()
            .find(|x| Some(&x.placement) == placed.placements.get(i))
            .map(|x| x.id)
        else {
            continue;
        };
        fill_cis(model, &mut layout, id, profiles[i], &g.compute_instances)?;
    }
    Ok(layout)
}

/// Create the GI's CIs in `layout`: pinned ones where pinned, the rest by
/// backtracking over their placements (largest first).
fn fill_cis(
    model: &GpuModel,
    layout: &mut Layout,
    gi: GpuInstanceId,
    gp: &GiProfile,
    cis: &[CiDemand],
) -> Result<(), FitError> {
    let mut profs: Vec<&CiProfile> = Vec::new();
    for c in cis {
        let cp = engine::ci_profile(gp, c.profile).map_err(|_| FitError::CisDoNotFit {
            gi: gp.name.clone(),
            cis: format!("CI profile {}", c.profile.0),
            why: "not a compute-instance profile of this GPU instance".into(),
        })?;
        if let Some(pl) = c.placement {
            if !engine::ci_placements(cp).any(|q| q == pl) {
                return Err(FitError::BadCiStart {
                    profile: mig_model::ids::ci_short_name(gp, cp),
                    gi: gp.name.clone(),
                    start: pl.start,
                    starts: join_with(
                        &cp.placement_starts
                            .iter()
                            .map(|s| s.to_string())
                            .collect::<Vec<_>>(),
                        "or",
                    ),
                });
            }
        }
        profs.push(cp);
    }
    let mut order: Vec<usize> = (0..cis.len()).collect();
    order.sort_by_key(|&i| {
        (
            cis[i].placement.is_none(),
            std::cmp::Reverse(profs[i].placement_size),
            profs[i].id,
        )
    });
    fn go(
        model: &GpuModel,
        layout: &mut Layout,
        gi: GpuInstanceId,
        cis: &[CiDemand],
        profs: &[&CiProfile],
        order: &[usize],
    ) -> bool {
        let Some((&i, rest)) = order.split_first() else {
            return true;
        };
        let cands: Vec<Placement> = match cis[i].placement {
            Some(p) => vec![p],
            None => engine::ci_placements(profs[i]).collect(),
        };
        for cand in cands {
            if layout.check_ci(model, gi, profs[i], cand).is_err() {
                continue;
            }
            let Ok(id) =
                layout.create_ci(model, gi, mig_model::CiProfileId(profs[i].id), Some(cand))
            else {
                continue;
            };
            if go(model, layout, gi, cis, profs, rest) {
                return true;
            }
            let _ = layout.destroy_ci(gi, id);
        }
        false
    }
    if go(model, layout, gi, cis, &profs, &order) {
        return Ok(());
    }
    let names: Vec<String> = profs
        .iter()
        .map(|c| mig_model::ids::ci_short_name(gp, c))
        .collect();
    let used: u32 = profs.iter().map(|c| c.slices).sum();
    Err(FitError::CisDoNotFit {
        gi: gp.name.clone(),
        cis: names.join(" + "),
        why: if used > gp.slices {
            format!("{used} compute slices asked for, it has {}", gp.slices)
        } else {
            "their placements overlap".into()
        },
    })
}

#[cfg(test)]
mod tests;
