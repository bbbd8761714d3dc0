//! Finding what an NVML client names in a machine state: a GPU by index,
//! UUID or PCI bus ID, a GPU instance or compute instance by its GPU, ID
//! and profile, a MIG device by its instances, and the memory each holds.
//! The fake `libnvidia-ml.so.1` (`nvml-shim`) resolves its handles and
//! answers its lookups through these; they only read the state and decide
//! no MIG rule (IDs, placements and profiles come from `mig_model::engine`).
//!
//! Errors are the NVML codes the library answers: an index beyond the
//! machine (a handle from before `migctl sim init` shrank it) is
//! `InvalidArgument`, an instance that is gone (or a GPU whose MIG mode was
//! switched off, which destroys every instance) `NotFound`.

use crate::state::{MachineState, SimGpu};
use mig_model::backend::MigDeviceInfo;
use mig_model::engine::{self, ComputeInstance, GpuInstance};
use mig_model::{CiProfile, GiProfile, GpuModel, NvmlError};

const MIB: u64 = 1024 * 1024;

/// A GPU of the state by NVML index; an index beyond the machine is an
/// invalid argument.
pub fn gpu(st: &MachineState, index: u32) -> Result<&SimGpu, NvmlError> {
    st.gpus
        .get(index as usize)
        .ok_or(NvmlError::InvalidArgument)
}

/// A GPU instance, still of the profile it had.
pub struct GiRef<'a> {
    /// NVML index of its GPU.
    pub gpu: u32,
    /// Its GPU.
    pub sim: &'a SimGpu,
    /// The instance.
    pub gi: &'a GpuInstance,
    /// Its profile.
    pub profile: &'a GiProfile,
}

/// A compute instance, with its GPU instance.
pub struct CiRef<'a> {
    /// Its GPU instance.
    pub gi: GiRef<'a>,
    /// The instance.
    pub ci: &'a ComputeInstance,
    /// Its profile.
    pub profile: &'a CiProfile,
}

/// What a device handle stands for.
pub enum Device<'a> {
    /// A physical GPU.
    Gpu { index: u32, sim: &'a SimGpu },
    /// A MIG device: the compute instance and its enumeration entry.
    Mig { ci: CiRef<'a>, info: MigDeviceInfo },
}

impl<'a> Device<'a> {
    /// The (parent) GPU.
    pub fn sim_gpu(&self) -> &'a SimGpu {
        match self {
            Device::Gpu { sim, .. } => sim,
            Device::Mig { ci, .. } => ci.gi.sim,
        }
    }

    /// NVML index of the (parent) GPU.
    pub fn gpu_index(&self) -> u32 {
        match self {
            Device::Gpu { index, .. } => *index,
            Device::Mig { ci, .. } => ci.gi.gpu,
        }
    }

    /// The (parent) GPU's model.
    pub fn model(&self) -> &'static GpuModel {
        self.sim_gpu().model()
    }

    /// Only a physical GPU: parent-only calls refuse MIG device handles
    /// (`InvalidArgument`).
    pub fn require_gpu(&self) -> Result<(u32, &'a SimGpu), NvmlError> {
        match self {
            Device::Gpu { index, sim } => Ok((*index, sim)),
            Device::Mig { .. } => Err(NvmlError::InvalidArgument),
        }
    }
}

/// GPU instance `gi` of profile `gi_profile` on GPU `gpu`.
pub fn gpu_instance(
    st: &MachineState,
    gpu_index: u32,
    gi: u32,
    gi_profile: u32,
) -> Result<GiRef<'_>, NvmlError> {
    let sim = gpu(st, gpu_index)?;
    if !sim.mig_current {
        return Err(NvmlError::NotFound);
    }
    let found = sim
        .layout
        .gpu_instances
        .iter()
        .find(|g| g.id.0 == gi && g.profile_id.0 == gi_profile)
        .ok_or(NvmlError::NotFound)?;
    let profile = engine::gi_profile(sim.model(), found.profile_id)?;
    Ok(GiRef {
        gpu: gpu_index,
        sim,
        gi: found,
        profile,
    })
}

/// Compute instance `ci` of profile `ci_profile` in GPU instance
/// `(gi, gi_profile)` of GPU `gpu`.
pub fn compute_instance(
    st: &MachineState,
    gpu: u32,
    (gi, gi_profile): (u32, u32),
    (ci, ci_profile): (u32, u32),
) -> Result<CiRef<'_>, NvmlError> {
    let gi = gpu_instance(st, gpu, gi, gi_profile)?;
    let found = gi
        .gi
        .compute_instances
        .iter()
        .find(|c| c.id.0 == ci && c.profile_id.0 == ci_profile)
        .ok_or(NvmlError::NotFound)?;
    let profile = engine::ci_profile(gi.profile, found.profile_id)?;
    Ok(CiRef {
        gi,
        ci: found,
        profile,
    })
}

/// The MIG device of a compute instance (see [`compute_instance`]), with
/// its enumeration entry.
pub fn mig_device(
    st: &MachineState,
    gpu: u32,
    gi: (u32, u32),
    ci: (u32, u32),
) -> Result<Device<'_>, NvmlError> {
    let ci = compute_instance(st, gpu, gi, ci)?;
    let info = crate::mig_devices_of(st, ci.gi.gpu)?
        .into_iter()
        .find(|d| d.gi == ci.gi.gi.id && d.ci == ci.ci.id)
        .ok_or(NvmlError::NotFound)?;
    Ok(Device::Mig { ci, info })
}

/// The GPU and compute instance of the MIG device with this enumeration
/// entry.
pub fn mig_instances<'a>(
    sim: &'a SimGpu,
    d: &MigDeviceInfo,
) -> Result<(&'a GpuInstance, &'a ComputeInstance), NvmlError> {
    let gi = sim.layout.gpu_instance(d.gi)?;
    let ci = gi
        .compute_instances
        .iter()
        .find(|c| c.id == d.ci)
        .ok_or(NvmlError::NotFound)?;
    Ok((gi, ci))
}

/// What a UUID names.
pub enum Found {
    /// The GPU of this NVML index.
    Gpu(u32),
    /// A MIG device of the GPU of this NVML index.
    Mig(u32, MigDeviceInfo),
}

/// The GPU or MIG device with this UUID. Accepts `GPU-...`, `MIG-...` and
/// the pre-R470 form `MIG-GPU-<gpu uuid>/<gi>/<ci>` that the NVML change
/// log says is still accepted.
pub fn find_uuid(st: &MachineState, uuid: &str) -> Result<Found, NvmlError> {
    let uuid = uuid.trim();
    for (i, g) in st.gpus.iter().enumerate() {
        let i = i as u32;
        if g.uuid.eq_ignore_ascii_case(uuid) {
            return Ok(Found::Gpu(i));
        }
        if !g.mig_current || !uuid.starts_with("MIG-") {
            continue;
        }
        for d in crate::mig_devices_of(st, i)? {
            if d.uuid.eq_ignore_ascii_case(uuid) {
                return Ok(Found::Mig(i, d));
            }
        }
        let legacy = uuid
            .strip_prefix("MIG-")
            .and_then(|rest| rest.split_once('/'))
            .filter(|(gpu_uuid, _)| gpu_uuid.eq_ignore_ascii_case(&g.uuid))
            .and_then(|(_, ids)| ids.split_once('/'))
            .and_then(|(gi, ci)| Some((gi.parse::<u32>().ok()?, ci.parse::<u32>().ok()?)));
        if let Some((gi, ci)) = legacy {
            if let Some(d) = crate::mig_devices_of(st, i)?
                .into_iter()
                .find(|d| d.gi.0 == gi && d.ci.0 == ci)
            {
                return Ok(Found::Mig(i, d));
            }
        }
    }
    Err(NvmlError::NotFound)
}

/// `domain:bus:device.function` as numbers, from the forms NVML accepts:
/// `00000000:07:00.0`, `0000:07:00.0` or `07:00.0` (hex, any case).
pub fn parse_bus_id(s: &str) -> Option<[u32; 4]> {
    let s = s.trim();
    let (rest, function) = s.rsplit_once('.')?;
    let mut parts: Vec<&str> = rest.split(':').collect();
    if parts.len() == 2 {
        parts.insert(0, "0");
    }
    let [domain, bus, dev] = parts.as_slice() else {
        return None;
    };
    let hex = |t: &str| u32::from_str_radix(t, 16).ok();
    Some([hex(domain)?, hex(bus)?, hex(dev)?, hex(function)?])
}

/// The NVML index of the GPU at this PCI address ([`parse_bus_id`]'s
/// numbers); `NotFound` if none is.
pub fn gpu_at_bus_id(st: &MachineState, wanted: [u32; 4]) -> Result<u32, NvmlError> {
    st.gpus
        .iter()
        .position(|g| parse_bus_id(&g.pci_bus_id) == Some(wanted))
        .map(|i| i as u32)
        .ok_or(NvmlError::NotFound)
}

/// (total, used) bytes: the board's memory, or a MIG device's GPU instance's;
/// used is what the simulated processes there hold.
pub fn memory(st: &MachineState, d: &Device<'_>) -> (u64, u64) {
    match d {
        Device::Gpu { sim, .. } => {
            let used = st
                .processes_on(d.gpu_index())
                .map(|p| p.used_memory_mb * MIB)
                .sum();
            (sim.model().memory_total_bytes, used)
        }
        // the simulator's model of a GI's memory in use
        Device::Mig { info, .. } => (info.memory_mb * MIB, info.memory_used_mb * MIB),
    }
}

/// The simulated processes on a device: all of a GPU's, or those of a MIG
/// device's compute instance.
pub fn processes<'a>(
    st: &'a MachineState,
    d: &'a Device<'_>,
) -> impl Iterator<Item = &'a crate::state::SimProcess> + 'a {
    st.processes_on(d.gpu_index()).filter(move |p| match d {
        Device::Gpu { .. } => true,
        Device::Mig { ci, .. } => p.gi == Some(ci.gi.gi.id.0) && p.ci == Some(ci.ci.id.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves every bus-ID spelling NVML accepts names the same function.
    #[test]
    fn bus_ids_parse_in_all_forms() {
        let want = Some([0, 0x4e, 0, 0]);
        for s in [
            "00000000:4E:00.0",
            "0000:4e:00.0",
            "4E:00.0",
            " 00000000:4e:00.0 ",
        ] {
            assert_eq!(parse_bus_id(s), want, "{s}");
        }
        for s in ["", "4E:00", "x:4E:00.0", "0:0:0:0.0"] {
            assert_eq!(parse_bus_id(s), None, "{s}");
        }
    }
}
