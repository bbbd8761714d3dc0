//! Reading one GPU through NVML: its identity, profiles, instances, MIG
//! devices and processes, each with as few calls as it needs.
//!
//! Where the catalog knows the board, only the GI and CI profiles its model
//! has are asked for (an A100 has 7 GI profiles; NVML's header defines
//! indexes up to 0x20 and CI indexes up to 0x10), and a layout read lists
//! compute instances by the catalog's CI profile IDs (which equal NVML's
//! `NVML_COMPUTE_INSTANCE_PROFILE_*` indexes) without reading CI profile
//! details it does not use. An unknown board is probed at every index.

use crate::machine::{NvmlBackend, Res, Why, CI_PROFILE_INDEXES, GI_PROFILE_INDEXES};
use crate::raw::{self, Device, Fail, GpuInstance};
use mig_model::backend::{
    CiInfo, DeviceInfo, GiInfo, GpuIdentity, MigDeviceInfo, MigMode, ProcessInfo,
};
use mig_model::engine::{self, ComputeInstance, GpuInstance as LayoutGi};
use mig_model::{
    catalog, ids, CiProfile, CiProfileId, ComputeInstanceId, GiProfile, GiProfileId, GpuInstanceId,
    GpuModel, Placement,
};

/// The GI/CI ID NVML gives a process that is on no MIG device.
const NO_INSTANCE: u32 = 0xFFFF_FFFF;

impl NvmlBackend {
    /// The GPU as `devices()` lists it: the board's (cached) facts and its
    /// MIG mode, one call once the board is known.
    pub(crate) fn device_info(&self, index: u32, d: &Device<'_>) -> Res<DeviceInfo> {
        let b = self.board(index, d)?;
        // A GPU without MIG support answers NOT_SUPPORTED: MIG is off.
        let (current, pending) = not_supported_is(d.mig_mode(), (false, false))?;
        Ok(DeviceInfo {
            index,
            name: b.name,
            uuid: b.uuid,
            pci_bus_id: b.pci_bus_id,
            minor: b.minor,
            memory_total_bytes: b.memory_total_bytes,
            mig: MigMode { current, pending },
        })
    }

    /// The board's identity, read once per command; `mirrored` is left
    /// false here (it depends on the layout: [`NvmlBackend::identity_of`]).
    pub(crate) fn board(&self, index: u32, d: &Device<'_>) -> Res<GpuIdentity> {
        self.identities.get_or(index, || {
            let (pci_bus_id, pci_device_id, pci_subsystem_id) = d.pci_info()?;
            let memory_total_bytes = d.memory_total()?;
            let model = catalog::identify((pci_device_id >> 16) as u16, memory_total_bytes);
            Ok(GpuIdentity {
                index,
                uuid: d.uuid()?,
                name: d.name()?,
                pci_bus_id,
                pci_device_id,
                pci_subsystem_id,
                minor: not_supported_is(d.minor(), 0)?,
                memory_total_bytes,
                model: model.map(|m| m.slug.clone()),
                mirrored: false,
                mode_change_needs_reset: model.is_some_and(|m| m.mode_change_needs_reset),
            })
        })
    }

    /// The catalog's entry for the board, if it knows it.
    pub(crate) fn model_of(&self, index: u32, d: &Device<'_>) -> Res<Option<&'static GpuModel>> {
        Ok(self
            .board(index, d)?
            .model
            .as_deref()
            .and_then(catalog::model))
    }

    /// The identity with `mirrored` worked out from the GPU instances.
    pub(crate) fn identity_of(&self, index: u32, d: &Device<'_>) -> Res<GpuIdentity> {
        let mut id = self.board(index, d)?;
        let mig = not_supported_is(d.mig_mode(), (false, false))?.0;
        if let (Some(m), true) = (self.model_of(index, d)?, mig) {
            let seen: Vec<(Placement, GpuInstanceId)> = self
                .gi_list(index, d)?
                .iter()
                .map(|g| (g.placement, g.id))
                .collect();
            id.mirrored = engine::mirrored_from(m, &seen).unwrap_or(false);
        }
        Ok(id)
    }

    /// GI profiles, read once per GPU and MIG mode: the catalog model's
    /// indexes where the board is known, else every index.
    pub(crate) fn profile_list(
        &self,
        gpu: u32,
        d: &Device<'_>,
        placements: bool,
    ) -> Res<Vec<GiProfile>> {
        self.profiles.get_or((gpu, placements), || {
            let indexes: Vec<u32> = match self.model_of(gpu, d)? {
                Some(m) => {
                    let mut v: Vec<u32> = m.gi_profiles.iter().map(|p| p.index).collect();
                    v.sort_unstable();
                    v.dedup();
                    v
                }
                None => (0..GI_PROFILE_INDEXES).collect(),
            };
            gi_profile_list(d, placements, &indexes)
        })
    }

    /// The CI profiles (without placements) of GI profile `gp`, read once
    /// per GPU and GI profile, through the GPU instance `gi` of that profile.
    pub(crate) fn ci_profiles_of(
        &self,
        gpu: u32,
        d: &Device<'_>,
        gi: &GpuInstance<'_>,
        gp: &GiProfile,
    ) -> Res<Vec<CiProfile>> {
        self.ci_profiles.get_or((gpu, gp.id), || {
            let indexes = self.ci_indexes(gpu, d, gp)?;
            ci_profile_list(gi, false, &indexes)
        })
    }

    /// The CI profile indexes to ask a GI of profile `gp` about.
    pub(crate) fn ci_indexes(&self, gpu: u32, d: &Device<'_>, gp: &GiProfile) -> Res<Vec<u32>> {
        Ok(match self.catalog_gi(gpu, d, gp.id)? {
            Some(cp) => cp.ci_profiles.iter().map(|c| c.id).collect(),
            None => (0..CI_PROFILE_INDEXES).collect(),
        })
    }

    /// The catalog's GI profile `id` of this board, if it knows both.
    fn catalog_gi(&self, gpu: u32, d: &Device<'_>, id: u32) -> Res<Option<&'static GiProfile>> {
        Ok(self
            .model_of(gpu, d)?
            .and_then(|m| engine::gi_profile(m, GiProfileId(id)).ok()))
    }

    /// GPU instances, profile by profile in profile-index order, each
    /// profile's as NVML lists them.
    pub(crate) fn gi_list(&self, index: u32, d: &Device<'_>) -> Res<Vec<GiInfo>> {
        require_mig(d)?;
        let mut out = Vec::new();
        for p in self.profile_list(index, d, false)? {
            for gi in d.gpu_instances(p.id, p.instances)? {
                let info = gi.info()?;
                out.push(GiInfo {
                    id: GpuInstanceId(info.id),
                    profile: p.clone(),
                    placement: info.placement,
                });
            }
        }
        Ok(out)
    }

    /// The layout of a GPU with MIG enabled: every GI and CI with profile
    /// IDs, placements and IDs, sorted by ID. Per GI profile one listing,
    /// per GI one info and one listing per CI profile it can hold, per CI
    /// one info: no profile details beyond the (cached) GI profiles.
    pub(crate) fn layout_of(&self, index: u32, d: &Device<'_>) -> Res<Vec<LayoutGi>> {
        let mut out = Vec::new();
        for p in self.profile_list(index, d, false)? {
            for gi in d.gpu_instances(p.id, p.instances)? {
                let info = gi.info()?;
                let kinds: Vec<(u32, u32)> = match self.catalog_gi(index, d, p.id)? {
                    Some(cp) => cp.ci_profiles.iter().map(|c| (c.id, c.instances)).collect(),
                    None => self
                        .ci_profiles_of(index, d, &gi, &p)?
                        .iter()
                        .map(|c| (c.id, c.instances))
                        .collect(),
                };
                let mut cis = Vec::new();
                for (id, capacity) in kinds {
                    for ci in gi.compute_instances(id, capacity)? {
                        let c = ci.info()?;
                        cis.push(ComputeInstance {
                            id: ComputeInstanceId(c.id),
                            profile_id: CiProfileId(c.profile_id),
                            placement: c.placement,
                        });
                    }
                }
                cis.sort_by_key(|c| c.id);
                out.push(LayoutGi {
                    id: GpuInstanceId(info.id),
                    profile_id: GiProfileId(p.id),
                    placement: info.placement,
                    compute_instances: cis,
                });
            }
        }
        out.sort_by_key(|g| g.id);
        Ok(out)
    }

    pub(crate) fn ci_list(
        &self,
        index: u32,
        d: &Device<'_>,
        gi: GpuInstanceId,
    ) -> Res<Vec<CiInfo>> {
        require_mig(d)?;
        let h = d.gpu_instance(gi.0)?;
        let (_, gp) = gi_info(&h, &self.profile_list(index, d, false)?)?;
        let cps = self.ci_profiles_of(index, d, &h, &gp)?;
        let mut out = Vec::new();
        for c in &cps {
            for ci in h.compute_instances(c.id, c.instances)? {
                out.push(ci_info(gi, &gp, ci.info()?, &cps)?);
            }
        }
        Ok(out)
    }

    pub(crate) fn mig_list(&self, index: u32, d: &Device<'_>) -> Res<Vec<MigDeviceInfo>> {
        if !not_supported_is(d.mig_mode(), (false, false))?.0 {
            return Ok(Vec::new());
        }
        let gps = self.profile_list(index, d, false)?;
        // GI profile and CI profiles per GI, looked up once.
        let mut per_gi: Vec<(u32, GiProfile, Vec<CiProfile>, GpuInstance<'_>)> = Vec::new();
        let mut out = Vec::new();
        for (at, gi_id, ci_id, m) in mig_handles(d)? {
            if !per_gi.iter().any(|(id, ..)| *id == gi_id) {
                let h = d.gpu_instance(gi_id)?;
                let (_, gp) = gi_info(&h, &gps)?;
                let cps = self.ci_profiles_of(index, d, &h, &gp)?;
                per_gi.push((gi_id, gp, cps, h));
            }
            let Some((_, gp, cps, h)) = per_gi.iter().find(|(id, ..)| *id == gi_id) else {
                continue;
            };
            let ci = h.compute_instance(ci_id)?.info()?;
            let cp = find_ci_profile(cps, ci.profile_id)?;
            let used = used_mb(m.memory()?.1);
            // BAR1 as the MIG handle answers it; a refusal is kept as its
            // code (nvidia-smi leaves that MIG device out of its view)
            let bar1 = m
                .bar1()
                .map(|(total, used)| (used_mb(used), used_mb(total)))
                .map_err(Fail::reading);
            out.push(
                MigDeviceInfo::new(
                    at,
                    GpuInstanceId(gi_id),
                    ComputeInstanceId(ci_id),
                    m.uuid()?,
                    gp,
                    cp,
                    used,
                )
                .with_bar1(bar1),
            );
        }
        Ok(out)
    }

    /// Processes on the GPU or its MIG devices. With MIG enabled, one call
    /// on the parent GPU lists them all with their GI and CI IDs; a driver
    /// that refuses that aggregate view (an unprivileged caller) is asked
    /// MIG device by MIG device.
    pub(crate) fn process_list(
        &self,
        index: u32,
        d: &Device<'_>,
        mig: bool,
    ) -> Res<Vec<ProcessInfo>> {
        type Found = (u32, u64, Option<GpuInstanceId>, Option<ComputeInstanceId>);
        let mut found: Vec<Found> = Vec::new();
        let id = |v: u32| (v != NO_INSTANCE).then_some(v);
        if mig {
            match d.compute_processes_on_instances() {
                Ok(all) => {
                    for (pid, bytes, gi, ci) in all {
                        found.push((
                            pid,
                            bytes,
                            id(gi).map(GpuInstanceId),
                            id(ci).map(ComputeInstanceId),
                        ));
                    }
                }
                Err(f) if f.is(raw::ERR_NO_PERMISSION) || f.is(raw::ERR_NOT_SUPPORTED) => {
                    for (_, gi, ci, m) in mig_handles(d)? {
                        for (pid, bytes) in m.compute_processes()? {
                            found.push((
                                pid,
                                bytes,
                                Some(GpuInstanceId(gi)),
                                Some(ComputeInstanceId(ci)),
                            ));
                        }
                    }
                }
                Err(f) => return Err(f.into()),
            }
        } else {
            for (pid, bytes) in d.compute_processes()? {
                found.push((pid, bytes, None, None));
            }
        }
        Ok(found
            .into_iter()
            .map(|(pid, bytes, gi, ci)| ProcessInfo {
                pid,
                gpu: index,
                gi,
                ci,
                name: self
                    .nvml
                    .process_name(pid)
                    .unwrap_or_else(|_| "N/A".to_string()),
                used_memory_mb: used_mb(bytes),
            })
            .collect())
    }
}

/// `NOT_SUPPORTED` unless MIG mode is currently enabled (as the simulator
/// answers list calls on a GPU with MIG disabled).
pub(crate) fn require_mig(d: &Device<'_>) -> Res<()> {
    match d.mig_mode() {
        Ok((true, _)) => Ok(()),
        Ok((false, _)) => Err(Fail::Code(raw::ERR_NOT_SUPPORTED).into()),
        Err(f) => Err(f.into()),
    }
}

/// The GI profiles of a device at profile `indexes` (ascending), with their
/// placements when `placements`; an index the driver does not know is
/// skipped.
fn gi_profile_list(d: &Device<'_>, placements: bool, indexes: &[u32]) -> Res<Vec<GiProfile>> {
    let mut out = Vec::new();
    for &index in indexes {
        let info = match d.gi_profile_info(index) {
            Ok(i) => i,
            Err(f) if f.is(raw::ERR_NOT_SUPPORTED) || f.is(raw::ERR_INVALID_ARGUMENT) => continue,
            Err(f) => return Err(f.into()),
        };
        let list = if placements {
            not_supported_is(d.gi_placements(info.id), Vec::new())?
        } else {
            Vec::new()
        };
        out.push(gi_profile(&info, &list));
    }
    Ok(out)
}

/// `value` where NVML answers `NOT_SUPPORTED`, else the result.
pub(crate) fn not_supported_is<T>(r: raw::Res<T>, value: T) -> Res<T> {
    match r {
        Err(f) if f.is(raw::ERR_NOT_SUPPORTED) => Ok(value),
        r => Ok(r?),
    }
}

fn gi_profile(info: &raw::GiProfileInfo, placements: &[Placement]) -> GiProfile {
    GiProfile {
        index: info.index,
        id: info.id,
        name: info
            .name
            .strip_prefix("MIG ")
            .unwrap_or(&info.name)
            .to_string(),
        slices: info.slices,
        instances: info.instances,
        sm: info.sm,
        memory_mb: info.memory_mb,
        ce: info.ce,
        dec: info.dec,
        enc: info.enc,
        jpeg: info.jpeg,
        ofa: info.ofa,
        p2p: info.p2p,
        gfx: info.gfx,
        placement_starts: placements.iter().map(|p| p.start).collect(),
        placement_size: placements.first().map_or(0, |p| p.size),
        source: Some("nvml".into()),
        derived: Vec::new(),
        ci_profiles: Vec::new(),
    }
}

fn find_gi_profile(list: &[GiProfile], id: u32) -> Res<&GiProfile> {
    list.iter().find(|p| p.id == id).ok_or_else(|| {
        Why::Inconsistent(format!(
            "NVML reports a GPU instance of profile ID {id}, which no GPU instance profile has"
        ))
    })
}

/// The CI profiles of a GPU instance (shared engine profile) at profile
/// `indexes`, in NVML profile-index order; with placements when
/// `placements`.
pub(crate) fn ci_profile_list(
    gi: &GpuInstance<'_>,
    placements: bool,
    indexes: &[u32],
) -> Res<Vec<CiProfile>> {
    let mut out: Vec<CiProfile> = Vec::new();
    for &index in indexes {
        let info = match gi.ci_profile_info(index) {
            Ok(i) => i,
            Err(f) if f.is(raw::ERR_NOT_SUPPORTED) || f.is(raw::ERR_INVALID_ARGUMENT) => continue,
            Err(f) => return Err(f.into()),
        };
        if out.iter().any(|c| c.id == info.id) {
            continue;
        }
        let at = if placements {
            gi.ci_placements(info.id)?
        } else {
            Vec::new()
        };
        out.push(CiProfile {
            id: info.id,
            slices: info.slices,
            instances: info.instances,
            sm: info.sm,
            ce: info.ce,
            dec: info.dec,
            enc: info.enc,
            jpeg: info.jpeg,
            ofa: info.ofa,
            placement_starts: at.iter().map(|p| p.start).collect(),
            placement_size: at.first().map_or(0, |p| p.size),
            derived: Vec::new(),
        });
    }
    Ok(out)
}

fn find_ci_profile(list: &[CiProfile], id: u32) -> Res<&CiProfile> {
    list.iter().find(|c| c.id == id).ok_or_else(|| {
        Why::Inconsistent(format!(
            "NVML reports a compute instance of profile ID {id}, which no compute instance profile has"
        ))
    })
}

/// A GPU instance's profile: its info, then the matching GI profile.
pub(crate) fn gi_info(
    gi: &GpuInstance<'_>,
    profiles: &[GiProfile],
) -> Res<(raw::InstanceInfo, GiProfile)> {
    let info = gi.info()?;
    let p = find_gi_profile(profiles, info.profile_id)?.clone();
    Ok((info, p))
}

pub(crate) fn ci_info(
    gi_id: GpuInstanceId,
    gp: &GiProfile,
    info: raw::InstanceInfo,
    cps: &[CiProfile],
) -> Res<CiInfo> {
    let cp = find_ci_profile(cps, info.profile_id)?;
    Ok(CiInfo {
        gi: gi_id,
        id: ComputeInstanceId(info.id),
        profile: cp.clone(),
        name: ids::ci_profile_name(gp, cp),
        placement: info.placement,
    })
}

/// The MIG devices of a GPU with MIG enabled in NVML's enumeration order:
/// (index, GI ID, CI ID, handle), empty slots skipped.
pub(crate) fn mig_handles<'a>(d: &Device<'a>) -> Res<Vec<(u32, u32, u32, Device<'a>)>> {
    let max = d.max_mig_devices()?;
    let mut out = Vec::new();
    for i in 0..max {
        let m = match d.mig_device(i) {
            Ok(m) => m,
            Err(f) if f.is(raw::ERR_NOT_FOUND) => continue,
            Err(f) => return Err(f.into()),
        };
        out.push((i, m.gpu_instance_id()?, m.compute_instance_id()?, m));
    }
    Ok(out)
}

/// `NVML_VALUE_NOT_AVAILABLE` (no permission to read it) counts as 0 MiB.
pub(crate) fn used_mb(bytes: u64) -> u64 {
    if bytes == raw::VALUE_NOT_AVAILABLE {
        0
    } else {
        bytes / (1024 * 1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves NVML's "not available" memory reads as 0 MiB and bytes round down.
    #[test]
    fn used_memory_converts_to_mib() {
        assert_eq!(used_mb(u64::MAX), 0);
        assert_eq!(used_mb(153 * 1024 * 1024 + 5), 153);
    }
}
