//! `mig-nvml`: migctl's real backend, NVIDIA's NVML loaded at run time.
//!
//! What it is for: [`NvmlBackend`] implements [`mig_model::Backend`] over
//! `libnvidia-ml.so.1` (or the library named by `MIGCTL_NVML_LIB`), through
//! the raw bindings of `nvml-wrapper-sys`, since `nvml-wrapper` has no safe
//! API for creating or destroying MIG instances (mig-facts 1). It answers as
//! the simulator does for the same machine, orderings included: GI profiles
//! in `nvidia-smi mig -lgip` order, GIs by GI ID, CIs by CI ID, CI profiles
//! by slices then CI profile ID, MIG devices by (GI ID, CI ID) with index = position.
//! NVML return codes become [`NvmlError`]s, so the CLI prints nvidia-smi's
//! messages.
//!
//! What it is not for: MIG rules (NVML enforces them; `mig-model` names
//! things) or printing. A binary using it builds and starts on a machine
//! without an NVIDIA driver: [`NvmlBackend::open`] then fails cleanly.

mod raw;

use mig_model::backend::{
    Backend, BackendError, CiInfo, CiProfileStatus, DeviceInfo, GiInfo, GiProfileStatus,
    MigDeviceInfo, MigMode, ProcessInfo, ProfileQuery,
};
use mig_model::{
    ids, CiProfile, CiProfileId, ComputeInstanceId, GiProfile, GiProfileId, GpuInstanceId,
    NvmlError, Placement,
};
use raw::{Device, Fail, GpuInstance, Nvml};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt;

/// Environment variable naming the NVML library to load.
pub const ENV_LIB: &str = "MIGCTL_NVML_LIB";
/// The library loaded when [`ENV_LIB`] is unset.
pub const DEFAULT_LIB: &str = "libnvidia-ml.so.1";

/// GI profile indexes probed (`NVML_GPU_INSTANCE_PROFILE_*`): the header of
/// CUDA 13 defines 0..=16 (newer ones add 0x11); unknown ones answer
/// `NOT_SUPPORTED` or `INVALID_ARGUMENT` and are skipped.
const GI_PROFILE_INDEXES: u32 = 0x20;
/// CI profile indexes probed (`NVML_COMPUTE_INSTANCE_PROFILE_*`: 0..=8).
const CI_PROFILE_INDEXES: u32 = 0x10;

/// Why [`NvmlBackend::open`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// The library did not load: no NVIDIA driver is installed (or
    /// `MIGCTL_NVML_LIB` names nothing loadable).
    Load { lib: String, reason: String },
    /// It loaded but is not a usable NVML (an entry point is missing).
    NotNvml { lib: String, symbol: String },
    /// `nvmlInit_v2` failed.
    Init { lib: String, error: String },
    /// NVML works but reports no GPU.
    NoGpu { lib: String },
}

impl OpenError {
    /// A short reason for a one-line notice (`no NVIDIA driver found`, ...).
    pub fn summary(&self) -> String {
        match self {
            OpenError::Load { .. } => "no NVIDIA driver found".into(),
            OpenError::NotNvml { lib, symbol } => format!("{lib} is not NVML (no {symbol})"),
            OpenError::Init { error, .. } => format!("NVML did not initialise ({error})"),
            OpenError::NoGpu { .. } => "NVML found no GPU".into(),
        }
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Load { lib, reason } => write!(
                f,
                "cannot load the NVML library {lib} (is the NVIDIA driver installed? \
                 {ENV_LIB} names another): {reason}"
            ),
            OpenError::NotNvml { lib, symbol } => {
                write!(f, "{lib} is not a usable NVML library: it has no {symbol}")
            }
            OpenError::Init { lib, error } => write!(f, "{lib}: nvmlInit_v2 failed: {error}"),
            OpenError::NoGpu { lib } => write!(f, "{lib}: NVML found no GPU"),
        }
    }
}

impl std::error::Error for OpenError {}

impl From<OpenError> for BackendError {
    fn from(e: OpenError) -> BackendError {
        BackendError::Backend(e.to_string())
    }
}

/// The machine's GPUs as NVML reports them.
pub struct NvmlBackend {
    nvml: Nvml,
    lib: String,
    /// GI profiles per GPU, without placements, and with placements: both
    /// constant while the MIG mode stays (nvml.h), and each NVML call costs
    /// about 0.3 ms on an H100, so a command reads them once and only when
    /// it needs them.
    profiles: RefCell<HashMap<(u32, bool), Vec<GiProfile>>>,
}

impl fmt::Debug for NvmlBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NvmlBackend")
            .field("lib", &self.lib)
            .finish_non_exhaustive()
    }
}

/// The library [`NvmlBackend::open`] loads: `$MIGCTL_NVML_LIB`, else
/// `libnvidia-ml.so.1`.
pub fn library_path() -> String {
    std::env::var(ENV_LIB)
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_LIB.to_string())
}

fn code_text(f: Fail) -> String {
    match f {
        Fail::Code(c) => match NvmlError::from_code(c) {
            Some(NvmlError::Unknown) | None => format!("NVML error {c}"),
            Some(e) => e.message(),
        },
        Fail::Missing(s) => format!("no {s}"),
    }
}

impl NvmlBackend {
    /// Load [`library_path`], initialise NVML, and require at least one GPU.
    pub fn open() -> Result<NvmlBackend, OpenError> {
        NvmlBackend::open_path(&library_path())
    }

    /// Like [`NvmlBackend::open`], with the library named explicitly.
    pub fn open_path(lib: &str) -> Result<NvmlBackend, OpenError> {
        let t0 = std::time::Instant::now();
        let trace = std::env::var_os("MIGCTL_TRACE").is_some();
        let nvml = Nvml::load(OsStr::new(lib)).map_err(|e| OpenError::Load {
            lib: lib.to_string(),
            reason: e.to_string(),
        })?;
        if trace {
            eprintln!("migctl trace: load {lib}: {:?}", t0.elapsed());
        }
        nvml.init().map_err(|f| match f {
            Fail::Missing(s) => OpenError::NotNvml {
                lib: lib.to_string(),
                symbol: s.to_string(),
            },
            Fail::Code(_) => OpenError::Init {
                lib: lib.to_string(),
                error: code_text(f),
            },
        })?;
        let n = nvml.device_count().map_err(|f| match f {
            Fail::Missing(s) => OpenError::NotNvml {
                lib: lib.to_string(),
                symbol: s.to_string(),
            },
            Fail::Code(_) => OpenError::Init {
                lib: lib.to_string(),
                error: format!("nvmlDeviceGetCount_v2: {}", code_text(f)),
            },
        })?;
        if trace {
            eprintln!(
                "migctl trace: nvmlInit_v2 + device count: {:?}",
                t0.elapsed()
            );
        }
        if n == 0 {
            return Err(OpenError::NoGpu {
                lib: lib.to_string(),
            });
        }
        Ok(NvmlBackend {
            nvml,
            lib: lib.to_string(),
            profiles: RefCell::new(HashMap::new()),
        })
    }

    /// [`gi_profile_list`], read once per GPU and MIG mode.
    fn profile_list(
        &self,
        gpu: u32,
        d: &Device<'_>,
        placements: bool,
    ) -> Result<Vec<GiProfile>, BackendError> {
        if let Some(p) = self.profiles.borrow().get(&(gpu, placements)) {
            return Ok(p.clone());
        }
        let list = gi_profile_list(d, placements)?;
        self.profiles
            .borrow_mut()
            .insert((gpu, placements), list.clone());
        Ok(list)
    }

    fn forget_profiles(&self, gpu: u32) {
        self.profiles.borrow_mut().retain(|(g, _), _| *g != gpu);
    }

    fn device(&self, gpu: u32) -> Result<Device<'_>, BackendError> {
        Ok(self.nvml.device(gpu)?)
    }

    /// `NOT_SUPPORTED` unless MIG mode is currently enabled (as the
    /// simulator answers list calls on a GPU with MIG disabled).
    fn require_mig(&self, d: &Device<'_>) -> Result<(), BackendError> {
        match d.mig_mode() {
            Ok((true, _)) => Ok(()),
            Ok((false, _)) => Err(NvmlError::NotSupported.into()),
            Err(f) => Err(f.into()),
        }
    }

    fn gpu_instance<'a>(
        &self,
        d: &Device<'a>,
        gi: GpuInstanceId,
    ) -> Result<GpuInstance<'a>, BackendError> {
        Ok(d.gpu_instance(gi.0)?)
    }
}

/// The GI profiles of a device, in `-lgip` order; with their placements
/// when `placements`.
fn gi_profile_list(d: &Device<'_>, placements: bool) -> Result<Vec<GiProfile>, BackendError> {
    let mut out = Vec::new();
    for index in 0..GI_PROFILE_INDEXES {
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
    out.sort_by_key(|p| (p.slices, gi_index_rank(p.index)));
    Ok(out)
}

/// `value` where NVML answers `NOT_SUPPORTED`, else the result.
fn not_supported_is<T>(r: raw::Res<T>, value: T) -> Result<T, BackendError> {
    match r {
        Err(f) if f.is(raw::ERR_NOT_SUPPORTED) => Ok(value),
        r => Ok(r?),
    }
}

/// Where nvidia-smi lists a GI profile index among those of the same slice
/// count. On A100/H100/H200 that is index order (19, 20, 15 for indexes 0,
/// 7, 9); on the RTX PRO 6000 capture the `+me.all` profiles (indexes 15,
/// 16) come before the `-me` ones (13, 14), so a plain index sort is not
/// enough. Indexes unknown here go last, by index.
fn gi_index_rank(index: u32) -> u32 {
    const ORDER: [u32; 18] = [0, 7, 9, 10, 15, 13, 1, 8, 11, 16, 14, 2, 17, 3, 12, 6, 4, 5];
    ORDER
        .iter()
        .position(|&i| i == index)
        .map_or(ORDER.len() as u32 + index, |p| p as u32)
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

fn find_gi_profile(list: &[GiProfile], id: u32) -> Result<&GiProfile, BackendError> {
    list.iter().find(|p| p.id == id).ok_or_else(|| {
        BackendError::Backend(format!(
            "NVML reports a GPU instance of profile ID {id}, which no GPU instance profile has"
        ))
    })
}

/// The CI profiles of a GPU instance (shared engine profile), with
/// placements, by CI profile ID.
fn ci_profile_list(gi: &GpuInstance<'_>) -> Result<Vec<CiProfile>, BackendError> {
    let mut out: Vec<CiProfile> = Vec::new();
    for index in 0..CI_PROFILE_INDEXES {
        let info = match gi.ci_profile_info(index) {
            Ok(i) => i,
            Err(f) if f.is(raw::ERR_NOT_SUPPORTED) || f.is(raw::ERR_INVALID_ARGUMENT) => continue,
            Err(f) => return Err(f.into()),
        };
        if out.iter().any(|c| c.id == info.id) {
            continue;
        }
        let placements = gi.ci_placements(info.id)?;
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
            placement_starts: placements.iter().map(|p| p.start).collect(),
            placement_size: placements.first().map_or(0, |p| p.size),
            derived: Vec::new(),
        });
    }
    // nvidia-smi -lcip lists them by slices, then ID (go-nvml#146 shows
    // 1c profiles 0 and 7 together on an H100 2g GI)
    out.sort_by_key(|c| (c.slices, c.id));
    Ok(out)
}

fn find_ci_profile(list: &[CiProfile], id: u32) -> Result<&CiProfile, BackendError> {
    list.iter().find(|c| c.id == id).ok_or_else(|| {
        BackendError::Backend(format!(
            "NVML reports a compute instance of profile ID {id}, which no compute instance profile has"
        ))
    })
}

/// A GPU instance's profile: its info, then the matching GI profile.
fn gi_info(
    gi: &GpuInstance<'_>,
    profiles: &[GiProfile],
) -> Result<(raw::InstanceInfo, GiProfile), BackendError> {
    let info = gi.info()?;
    let p = find_gi_profile(profiles, info.profile_id)?.clone();
    Ok((info, p))
}

fn ci_info(
    gi_id: GpuInstanceId,
    gp: &GiProfile,
    info: raw::InstanceInfo,
    cps: &[CiProfile],
) -> Result<CiInfo, BackendError> {
    let cp = find_ci_profile(cps, info.profile_id)?;
    Ok(CiInfo {
        gi: gi_id,
        id: ComputeInstanceId(info.id),
        profile: cp.clone(),
        name: ids::ci_profile_name(gp, cp),
        placement: info.placement,
    })
}

/// The MIG devices of a GPU with MIG enabled, by (GI ID, CI ID), each with
/// its handle.
fn mig_handles<'a>(d: &Device<'a>) -> Result<Vec<(u32, u32, Device<'a>)>, BackendError> {
    let max = d.max_mig_devices()?;
    let mut out = Vec::new();
    for i in 0..max {
        let m = match d.mig_device(i) {
            Ok(m) => m,
            Err(f) if f.is(raw::ERR_NOT_FOUND) => continue,
            Err(f) => return Err(f.into()),
        };
        out.push((m.gpu_instance_id()?, m.compute_instance_id()?, m));
    }
    out.sort_by_key(|&(gi, ci, _)| (gi, ci));
    Ok(out)
}

/// `NVML_VALUE_NOT_AVAILABLE` (no permission to read it) counts as 0 MiB.
fn used_mb(bytes: u64) -> u64 {
    if bytes == raw::VALUE_NOT_AVAILABLE {
        0
    } else {
        bytes / (1024 * 1024)
    }
}

impl Backend for NvmlBackend {
    fn describe(&self) -> String {
        match self.nvml.driver_version() {
            Ok(v) => format!("NVML ({}, driver {v})", self.lib),
            Err(_) => format!("NVML ({})", self.lib),
        }
    }

    fn driver_version(&self) -> Result<String, BackendError> {
        Ok(self.nvml.driver_version()?)
    }

    fn devices(&self) -> Result<Vec<DeviceInfo>, BackendError> {
        let n = self.nvml.device_count()?;
        let mut out = Vec::with_capacity(n as usize);
        for index in 0..n {
            let d = self.device(index)?;
            // A GPU without MIG support answers NOT_SUPPORTED: MIG is off.
            let (current, pending) = match d.mig_mode() {
                Ok(m) => m,
                Err(f) if f.is(raw::ERR_NOT_SUPPORTED) => (false, false),
                Err(f) => return Err(f.into()),
            };
            // Some platforms (WSL) have no minor number.
            let minor = match d.minor() {
                Ok(m) => m,
                Err(f) if f.is(raw::ERR_NOT_SUPPORTED) => 0,
                Err(f) => return Err(f.into()),
            };
            out.push(DeviceInfo {
                index,
                name: d.name()?,
                uuid: d.uuid()?,
                pci_bus_id: d.pci_bus_id()?,
                minor,
                memory_total_bytes: d.memory_total()?,
                mig: MigMode { current, pending },
            });
        }
        Ok(out)
    }

    fn set_mig_mode(&mut self, gpu: u32, enable: bool) -> Result<Option<NvmlError>, BackendError> {
        self.forget_profiles(gpu);
        let d = self.device(gpu)?;
        let status = d.set_mig_mode(enable)?;
        Ok(NvmlError::from_code(status))
    }

    /// NVML has no GPU reset (`nvmlDeviceResetGpu` does not exist; nvidia-smi
    /// resets through the driver directly). What the CLI's reset is for is
    /// making a pending MIG mode effective, and NVML does that when the mode
    /// is set again on an idle GPU: so a pending mode is applied with
    /// `nvmlDeviceSetMigMode` (failing as it does, e.g. `IN_USE`), and with
    /// nothing pending the reset is `NOT_SUPPORTED`.
    fn reset(&mut self, gpu: u32) -> Result<(), BackendError> {
        self.forget_profiles(gpu);
        let d = self.device(gpu)?;
        let (current, pending) = d.mig_mode()?;
        if current == pending {
            return Err(NvmlError::NotSupported.into());
        }
        match NvmlError::from_code(d.set_mig_mode(pending)?) {
            None => Ok(()),
            Some(e) => Err(e.into()),
        }
    }

    fn gi_profiles(&self, gpu: u32) -> Result<Vec<GiProfileStatus>, BackendError> {
        self.gi_profiles_for(gpu, ProfileQuery::ALL)
    }

    fn gi_profiles_for(
        &self,
        gpu: u32,
        want: ProfileQuery,
    ) -> Result<Vec<GiProfileStatus>, BackendError> {
        let d = self.device(gpu)?;
        self.profile_list(gpu, &d, want.placements)?
            .into_iter()
            .map(|p| {
                // A driver that lists profiles with MIG disabled may refuse
                // the capacity: none can be created then.
                let remaining = if want.remaining {
                    not_supported_is(d.gi_remaining(p.id), 0)?
                } else {
                    0
                };
                Ok(GiProfileStatus {
                    placements: p
                        .placement_starts
                        .iter()
                        .map(|&s| Placement::new(s, p.placement_size))
                        .collect(),
                    remaining,
                    profile: p,
                })
            })
            .collect()
    }

    fn gpu_instances(&self, gpu: u32) -> Result<Vec<GiInfo>, BackendError> {
        let d = self.device(gpu)?;
        self.require_mig(&d)?;
        let mut out = Vec::new();
        for p in self.profile_list(gpu, &d, false)? {
            for gi in d.gpu_instances(p.id, p.instances)? {
                let info = gi.info()?;
                out.push(GiInfo {
                    id: GpuInstanceId(info.id),
                    profile: p.clone(),
                    placement: info.placement,
                });
            }
        }
        out.sort_by_key(|g| g.id);
        Ok(out)
    }

    fn create_gpu_instance(
        &mut self,
        gpu: u32,
        profile: GiProfileId,
        placement: Option<Placement>,
    ) -> Result<GiInfo, BackendError> {
        let d = self.device(gpu)?;
        let gi = d.create_gi(profile.0, placement)?;
        let (info, p) = gi_info(&gi, &self.profile_list(gpu, &d, false)?)?;
        Ok(GiInfo {
            id: GpuInstanceId(info.id),
            profile: p,
            placement: info.placement,
        })
    }

    fn destroy_gpu_instance(&mut self, gpu: u32, gi: GpuInstanceId) -> Result<(), BackendError> {
        let d = self.device(gpu)?;
        Ok(self.gpu_instance(&d, gi)?.destroy()?)
    }

    fn ci_profiles(
        &self,
        gpu: u32,
        gi: GpuInstanceId,
    ) -> Result<Vec<CiProfileStatus>, BackendError> {
        let d = self.device(gpu)?;
        self.require_mig(&d)?;
        let h = self.gpu_instance(&d, gi)?;
        let (_, gp) = gi_info(&h, &self.profile_list(gpu, &d, false)?)?;
        ci_profile_list(&h)?
            .into_iter()
            .map(|c| {
                Ok(CiProfileStatus {
                    name: ids::ci_profile_name(&gp, &c),
                    placements: c
                        .placement_starts
                        .iter()
                        .map(|&s| Placement::new(s, c.placement_size))
                        .collect(),
                    remaining: h.ci_remaining(c.id)?,
                    profile: c,
                })
            })
            .collect()
    }

    fn compute_instances(&self, gpu: u32, gi: GpuInstanceId) -> Result<Vec<CiInfo>, BackendError> {
        let d = self.device(gpu)?;
        self.require_mig(&d)?;
        let h = self.gpu_instance(&d, gi)?;
        let (_, gp) = gi_info(&h, &self.profile_list(gpu, &d, false)?)?;
        let cps = ci_profile_list(&h)?;
        let mut out = Vec::new();
        for c in &cps {
            for ci in h.compute_instances(c.id, c.instances)? {
                out.push(ci_info(gi, &gp, ci.info()?, &cps)?);
            }
        }
        out.sort_by_key(|c| c.id);
        Ok(out)
    }

    fn create_compute_instance(
        &mut self,
        gpu: u32,
        gi: GpuInstanceId,
        profile: CiProfileId,
        placement: Option<Placement>,
    ) -> Result<CiInfo, BackendError> {
        let d = self.device(gpu)?;
        let h = self.gpu_instance(&d, gi)?;
        let ci = h.create_ci(profile.0, placement)?;
        let info = ci.info()?;
        let (_, gp) = gi_info(&h, &self.profile_list(gpu, &d, false)?)?;
        ci_info(gi, &gp, info, &ci_profile_list(&h)?)
    }

    fn destroy_compute_instance(
        &mut self,
        gpu: u32,
        gi: GpuInstanceId,
        ci: ComputeInstanceId,
    ) -> Result<(), BackendError> {
        let d = self.device(gpu)?;
        let h = self.gpu_instance(&d, gi)?;
        Ok(h.compute_instance(ci.0)?.destroy()?)
    }

    fn mig_devices(&self, gpu: u32) -> Result<Vec<MigDeviceInfo>, BackendError> {
        let d = self.device(gpu)?;
        if !d.mig_mode()?.0 {
            return Ok(Vec::new());
        }
        let gps = self.profile_list(gpu, &d, false)?;
        // GI profile and CI profiles per GI, looked up once.
        let mut per_gi: Vec<(u32, GiProfile, Vec<CiProfile>, GpuInstance<'_>)> = Vec::new();
        let mut out = Vec::new();
        for (gi_id, ci_id, m) in mig_handles(&d)? {
            if !per_gi.iter().any(|(id, ..)| *id == gi_id) {
                let h = d.gpu_instance(gi_id)?;
                let (_, gp) = gi_info(&h, &gps)?;
                per_gi.push((gi_id, gp, ci_profile_list(&h)?, h));
            }
            let Some((_, gp, cps, h)) = per_gi.iter().find(|(id, ..)| *id == gi_id) else {
                continue;
            };
            let ci = h.compute_instance(ci_id)?.info()?;
            let cp = find_ci_profile(cps, ci.profile_id)?;
            out.push(MigDeviceInfo::new(
                out.len() as u32,
                GpuInstanceId(gi_id),
                ComputeInstanceId(ci_id),
                m.uuid()?,
                gp,
                cp,
            ));
        }
        Ok(out)
    }

    fn processes(&self, gpu: u32) -> Result<Vec<ProcessInfo>, BackendError> {
        let d = self.device(gpu)?;
        let mig = match d.mig_mode() {
            Ok((current, _)) => current,
            Err(f) if f.is(raw::ERR_NOT_SUPPORTED) => false,
            Err(f) => return Err(f.into()),
        };
        let mut found: Vec<(u32, u64, Option<GpuInstanceId>, Option<ComputeInstanceId>)> =
            Vec::new();
        if mig {
            for (gi, ci, m) in mig_handles(&d)? {
                for (pid, bytes) in m.compute_processes()? {
                    found.push((
                        pid,
                        bytes,
                        Some(GpuInstanceId(gi)),
                        Some(ComputeInstanceId(ci)),
                    ));
                }
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
                gpu,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves a missing library is a clear error, not a panic: a binary with
    /// this backend starts on a machine without the NVIDIA driver.
    #[test]
    fn missing_library_is_a_clear_error() {
        let lib = "/nonexistent/dir/libnvidia-ml.so.1";
        let e = NvmlBackend::open_path(lib).expect_err("no such library");
        assert!(matches!(e, OpenError::Load { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains(lib), "{msg}");
        assert!(msg.contains("NVIDIA driver"), "{msg}");
        assert_eq!(e.summary(), "no NVIDIA driver found");
        let b: BackendError = e.into();
        assert!(matches!(b, BackendError::Backend(_)));
    }

    /// Proves a library that loads but is not NVML (here the C library)
    /// gives a clear error naming the missing entry point, not a panic.
    #[test]
    fn a_library_that_is_not_nvml_is_refused() {
        let e = NvmlBackend::open_path("libc.so.6").expect_err("libc is not NVML");
        assert_eq!(
            e,
            OpenError::NotNvml {
                lib: "libc.so.6".into(),
                symbol: "nvmlInit_v2".into()
            }
        );
        assert!(e.to_string().contains("nvmlInit_v2"), "{e}");
    }

    /// Proves the -lgip order rule: by slice count, then nvidia-smi's rank
    /// of the profile index (plain index order on A100/H100/H200: IDs 19,
    /// 20, 15, 14, 9, 5, 0; `+me.all` before `-me` on RTX PRO 6000).
    #[test]
    fn gi_profiles_sort_as_nvidia_smi_lists_them() {
        let mut h100: Vec<(u32, u32, u32)> = vec![
            (0, 19, 1),
            (1, 14, 2),
            (2, 9, 3),
            (3, 5, 4),
            (4, 0, 7),
            (7, 20, 1),
            (9, 15, 1),
        ];
        h100.sort_by_key(|&(index, _, slices)| (slices, gi_index_rank(index)));
        let ids: Vec<u32> = h100.iter().map(|p| p.1).collect();
        assert_eq!(ids, [19, 20, 15, 14, 9, 5, 0]);

        let mut rtx: Vec<(u32, u32, u32)> = vec![
            (0, 14, 1),
            (7, 21, 1),
            (10, 47, 1),
            (13, 67, 1),
            (15, 65, 1),
            (1, 5, 2),
            (11, 35, 2),
            (14, 66, 2),
            (16, 64, 2),
            (3, 0, 4),
            (12, 32, 4),
        ];
        rtx.sort_by_key(|&(index, _, slices)| (slices, gi_index_rank(index)));
        let ids: Vec<u32> = rtx.iter().map(|p| p.1).collect();
        assert_eq!(ids, [14, 21, 47, 65, 67, 5, 35, 64, 66, 0, 32]);
        assert!(gi_index_rank(40) > gi_index_rank(5));
    }

    /// Proves every catalog model's `-lgip` order is what the sort rule
    /// gives from its NVML indexes, so the NVML backend lists profiles in
    /// the simulator's order.
    #[test]
    fn catalog_order_matches_the_sort_rule() {
        for m in mig_model::catalog::all() {
            let mut sorted = m.gi_profiles.clone();
            sorted.sort_by_key(|p| (p.slices, gi_index_rank(p.index)));
            let want: Vec<u32> = m.gi_profiles.iter().map(|p| p.id).collect();
            let got: Vec<u32> = sorted.iter().map(|p| p.id).collect();
            assert_eq!(got, want, "{}", m.slug);
        }
    }

    /// Proves NVML's "not available" memory reads as 0 MiB and bytes round down.
    #[test]
    fn used_memory_converts_to_mib() {
        assert_eq!(used_mb(u64::MAX), 0);
        assert_eq!(used_mb(153 * 1024 * 1024 + 5), 153);
    }
}
