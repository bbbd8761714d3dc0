//! `mig-nvml`: migctl's real backend, NVIDIA's NVML loaded at run time.
//!
//! What it is for: [`NvmlBackend`] implements [`mig_model::Backend`] over
//! `libnvidia-ml.so.1` (or the library named by `MIGCTL_NVML_LIB`), through
//! the raw bindings of `nvml-wrapper-sys`, since `nvml-wrapper` has no safe
//! API for creating or destroying MIG instances (mig-facts 1). It reports
//! what the driver reports, in the driver's order: GI and CI profiles by
//! NVML profile index, instances profile by profile as NVML lists them, MIG
//! devices by the index NVML enumerates them at. (nvidia-smi's presentation
//! order is the CLI's business; the simulator answers in the same driver
//! order, so both backends agree.) NVML return codes become
//! [`BackendError::Nvml`] with the operation and the GPU, so the CLI prints
//! nvidia-smi's messages. The backend is `Send + Sync`: NVML is thread-safe.
//!
//! What it is not for: MIG rules (NVML enforces them; `mig-model` names
//! things) or printing. A binary using it builds and starts on a machine
//! without an NVIDIA driver: [`NvmlBackend::open`] then fails cleanly.
#![doc = include_str!("example.md")]

mod gpm;
mod raw;

use mig_model::backend::{
    BackendError, CiInfo, CiProfileStatus, DeviceInfo, GiInfo, GiProfileStatus, GpuIdentity,
    GpuRef, GpuSnapshot, Inventory, LayoutControl, MigDeviceInfo, MigMode, ModeControl, Op,
    ProcessInfo, ProfileQuery,
};
use mig_model::engine::{self, ComputeInstance, GpuInstance as LayoutGi, Layout};
use mig_model::{
    catalog, ids, CiProfile, CiProfileId, ComputeInstanceId, GiProfile, GiProfileId, GpuInstanceId,
    NvmlError, Placement,
};
use raw::{Device, Fail, GpuInstance, Nvml};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt;
use std::sync::Mutex;

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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The library did not load: no NVIDIA driver is installed (or
    /// `MIGCTL_NVML_LIB` names nothing loadable).
    #[error("cannot load the NVML library {lib} (is the NVIDIA driver installed? {ENV_LIB} names another): {reason}")]
    Load { lib: String, reason: String },
    /// It loaded but is not a usable NVML (an entry point is missing).
    #[error("{lib} is not a usable NVML library: it has no {symbol}")]
    NotNvml { lib: String, symbol: String },
    /// `nvmlInit_v2` failed.
    #[error("{lib}: nvmlInit_v2 failed: {error}")]
    Init { lib: String, error: String },
    /// NVML works but reports no GPU.
    #[error("{lib}: NVML found no GPU")]
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

/// The library lacks an entry point migctl needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the NVML library has no {0}: the NVIDIA driver is too old for migctl's NVML backend")]
pub struct MissingSymbol(pub &'static str);

/// What went wrong inside one backend call, before it is given the
/// operation and the GPU.
#[derive(Debug)]
enum Why {
    Nvml(Fail),
    /// The driver reported something no profile listing accounts for.
    Inconsistent(String),
}

impl From<Fail> for Why {
    fn from(f: Fail) -> Why {
        Why::Nvml(f)
    }
}

type Res<T> = Result<T, Why>;

/// How many times a multi-call read is made before a NOT_FOUND stands
/// (see `NvmlBackend::read`).
const READ_ATTEMPTS: u32 = 3;

/// A raw failure of `op` on `gpu` as a [`BackendError`].
fn error(op: Op, gpu: Option<&GpuRef>, why: Why) -> BackendError {
    match why {
        Why::Nvml(Fail::Code(c)) => BackendError::Nvml {
            op,
            gpu: gpu.cloned(),
            code: NvmlError::from_code(c).unwrap_or(NvmlError::Unknown),
        },
        Why::Nvml(Fail::Missing(name)) => {
            BackendError::machine(op, gpu.cloned(), MissingSymbol(name))
        }
        Why::Inconsistent(what) => match gpu {
            Some(g) => BackendError::Inconsistent {
                op,
                gpu: g.clone(),
                what,
            },
            None => BackendError::machine(op, None, what),
        },
    }
}

/// The machine's GPUs as NVML reports them.
pub struct NvmlBackend {
    /// Shared with GPM sample buffers, which must not outlive it.
    nvml: std::sync::Arc<Nvml>,
    lib: String,
    /// GI profiles per GPU, without placements, and with placements: both
    /// constant while the MIG mode stays (nvml.h), and each NVML call costs
    /// about 0.3 ms on an H100, so a command reads them once and only when
    /// it needs them.
    profiles: Mutex<HashMap<(u32, bool), Vec<GiProfile>>>,
    /// CI profiles per GPU and GI profile: the same for every GPU instance
    /// of a profile and constant while the MIG mode stays, and about 16
    /// NVML calls per GPU instance to read (a snapshot would read them per
    /// GPU instance twice).
    ci_profiles: Mutex<HashMap<(u32, u32), Vec<CiProfile>>>,
    timings: OpenTimings,
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

/// How long opening NVML took, for `MIGCTL_TRACE` (the CLI prints it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpenTimings {
    /// Loading the library.
    pub load: std::time::Duration,
    /// Loading, `nvmlInit_v2` and the device count together.
    pub init: std::time::Duration,
}

impl NvmlBackend {
    /// Load [`library_path`], initialise NVML, and require at least one GPU.
    pub fn open() -> Result<NvmlBackend, OpenError> {
        NvmlBackend::open_path(&library_path())
    }

    /// Like [`NvmlBackend::open`], with the library named explicitly.
    pub fn open_path(lib: &str) -> Result<NvmlBackend, OpenError> {
        let t0 = std::time::Instant::now();
        let nvml = Nvml::load(OsStr::new(lib)).map_err(|e| OpenError::Load {
            lib: lib.to_string(),
            reason: e.to_string(),
        })?;
        let load = t0.elapsed();
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
        let init = t0.elapsed();
        if n == 0 {
            return Err(OpenError::NoGpu {
                lib: lib.to_string(),
            });
        }
        Ok(NvmlBackend {
            nvml: std::sync::Arc::new(nvml),
            lib: lib.to_string(),
            profiles: Mutex::new(HashMap::new()),
            ci_profiles: Mutex::new(HashMap::new()),
            timings: OpenTimings { load, init },
        })
    }

    /// How long [`NvmlBackend::open`] took.
    pub fn timings(&self) -> OpenTimings {
        self.timings
    }

    /// The library this backend loaded.
    pub fn library(&self) -> &str {
        &self.lib
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<(u32, bool), Vec<GiProfile>>> {
        // a panic elsewhere cannot leave a half-written entry: keep using it
        self.profiles.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// [`gi_profile_list`], read once per GPU and MIG mode.
    fn profile_list(&self, gpu: u32, d: &Device<'_>, placements: bool) -> Res<Vec<GiProfile>> {
        if let Some(p) = self.cache().get(&(gpu, placements)) {
            return Ok(p.clone());
        }
        let list = gi_profile_list(d, placements)?;
        self.cache().insert((gpu, placements), list.clone());
        Ok(list)
    }

    fn forget_profiles(&self, gpu: u32) {
        self.cache().retain(|(g, _), _| *g != gpu);
        self.ci_cache().retain(|(g, _), _| *g != gpu);
    }

    fn ci_cache(&self) -> std::sync::MutexGuard<'_, HashMap<(u32, u32), Vec<CiProfile>>> {
        self.ci_profiles.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// [`ci_profile_list`] of a GPU instance of profile `gp` on GPU `gpu`,
    /// read once per GPU, GI profile and MIG mode.
    fn ci_profiles_of(&self, gpu: u32, gp: &GiProfile, h: &GpuInstance<'_>) -> Res<Vec<CiProfile>> {
        if let Some(c) = self.ci_cache().get(&(gpu, gp.id)) {
            return Ok(c.clone());
        }
        let list = ci_profile_list(h)?;
        self.ci_cache().insert((gpu, gp.id), list.clone());
        Ok(list)
    }

    /// Run `f` on the device `gpu` names; failures carry `op` and `gpu`.
    fn on<T>(
        &self,
        op: Op,
        gpu: &GpuRef,
        f: impl FnOnce(u32, Device<'_>) -> Res<T>,
    ) -> Result<T, BackendError> {
        let index = self.index_of(gpu)?;
        let d = self.nvml.device(index).map_err(|f| match f {
            // nvmlDeviceGetHandleByIndex answers an index past the end so
            Fail::Code(raw::ERR_INVALID_ARGUMENT) => BackendError::NoSuchGpu {
                op,
                gpu: gpu.clone(),
            },
            f => error(op, Some(gpu), f.into()),
        })?;
        f(index, d).map_err(|w| error(op, Some(gpu), w))
    }

    /// [`NvmlBackend::on`] for a read made of several NVML calls. NVML has
    /// no atomic read of a GPU, so an instance one call enumerates can be
    /// destroyed by another client before the next call asks about it, which
    /// then answers NOT_FOUND (found by `migctl bench soak`: a `-lgi` racing
    /// a `-dgi` failed). Such a read is made again, up to [`READ_ATTEMPTS`]
    /// times in all, so a listing is not failed by a concurrent destroy; a
    /// NOT_FOUND that persists (an instance that never existed) is returned.
    fn read<T>(
        &self,
        op: Op,
        gpu: &GpuRef,
        f: impl Fn(u32, &Device<'_>) -> Res<T>,
    ) -> Result<T, BackendError> {
        self.on(op, gpu, |i, d| {
            let mut r = f(i, &d);
            for _ in 1..READ_ATTEMPTS {
                match r {
                    Err(Why::Nvml(Fail::Code(raw::ERR_NOT_FOUND))) => r = f(i, &d),
                    _ => break,
                }
            }
            r
        })
    }

    fn device_info(&self, index: u32, d: &Device<'_>) -> Res<DeviceInfo> {
        // A GPU without MIG support answers NOT_SUPPORTED: MIG is off.
        let (current, pending) = not_supported_is(d.mig_mode(), (false, false))?;
        // Some platforms (WSL) have no minor number.
        let minor = not_supported_is(d.minor(), 0)?;
        Ok(DeviceInfo {
            index,
            name: d.name()?,
            uuid: d.uuid()?,
            pci_bus_id: d.pci_bus_id()?,
            minor,
            memory_total_bytes: d.memory_total()?,
            mig: MigMode { current, pending },
        })
    }

    fn identity_of(&self, index: u32, d: &Device<'_>) -> Res<GpuIdentity> {
        let (pci_bus_id, pci_device_id, pci_subsystem_id) = d.pci_info()?;
        let memory_total_bytes = d.memory_total()?;
        let model = catalog::identify((pci_device_id >> 16) as u16, memory_total_bytes);
        let mirrored = match (model, not_supported_is(d.mig_mode(), (false, false))?.0) {
            (Some(m), true) => {
                let gis = self.gi_list(index, d)?;
                let seen: Vec<(Placement, GpuInstanceId)> =
                    gis.iter().map(|g| (g.placement, g.id)).collect();
                engine::mirrored_from(m, &seen).unwrap_or(false)
            }
            _ => false,
        };
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
            mirrored,
            mode_change_needs_reset: model.is_some_and(|m| m.mode_change_needs_reset),
        })
    }

    /// GPU instances, profile by profile in profile-index order, each
    /// profile's as NVML lists them.
    fn gi_list(&self, index: u32, d: &Device<'_>) -> Res<Vec<GiInfo>> {
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

    fn ci_list(&self, index: u32, d: &Device<'_>, gi: GpuInstanceId) -> Res<Vec<CiInfo>> {
        require_mig(d)?;
        let h = d.gpu_instance(gi.0)?;
        let (_, gp) = gi_info(&h, &self.profile_list(index, d, false)?)?;
        let cps = self.ci_profiles_of(index, &gp, &h)?;
        let mut out = Vec::new();
        for c in &cps {
            for ci in h.compute_instances(c.id, c.instances)? {
                out.push(ci_info(gi, &gp, ci.info()?, &cps)?);
            }
        }
        Ok(out)
    }

    fn mig_list(&self, index: u32, d: &Device<'_>) -> Res<Vec<MigDeviceInfo>> {
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
                let cps = self.ci_profiles_of(index, &gp, &h)?;
                per_gi.push((gi_id, gp, cps, h));
            }
            let Some((_, gp, cps, h)) = per_gi.iter().find(|(id, ..)| *id == gi_id) else {
                continue;
            };
            let ci = h.compute_instance(ci_id)?.info()?;
            let cp = find_ci_profile(cps, ci.profile_id)?;
            let used = used_mb(m.memory()?.1);
            out.push(MigDeviceInfo::new(
                at,
                GpuInstanceId(gi_id),
                ComputeInstanceId(ci_id),
                m.uuid()?,
                gp,
                cp,
                used,
            ));
        }
        Ok(out)
    }

    fn process_list(&self, index: u32, d: &Device<'_>) -> Res<Vec<ProcessInfo>> {
        let mig = not_supported_is(d.mig_mode(), (false, false))?.0;
        let mut found: Vec<(u32, u64, Option<GpuInstanceId>, Option<ComputeInstanceId>)> =
            Vec::new();
        if mig {
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
fn require_mig(d: &Device<'_>) -> Res<()> {
    match d.mig_mode() {
        Ok((true, _)) => Ok(()),
        Ok((false, _)) => Err(Fail::Code(raw::ERR_NOT_SUPPORTED).into()),
        Err(f) => Err(f.into()),
    }
}

/// The GI profiles of a device in NVML profile-index order; with their
/// placements when `placements`.
fn gi_profile_list(d: &Device<'_>, placements: bool) -> Res<Vec<GiProfile>> {
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
    Ok(out)
}

/// `value` where NVML answers `NOT_SUPPORTED`, else the result.
fn not_supported_is<T>(r: raw::Res<T>, value: T) -> Res<T> {
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

/// The CI profiles of a GPU instance (shared engine profile), with
/// placements, in NVML profile-index order.
fn ci_profile_list(gi: &GpuInstance<'_>) -> Res<Vec<CiProfile>> {
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
fn gi_info(gi: &GpuInstance<'_>, profiles: &[GiProfile]) -> Res<(raw::InstanceInfo, GiProfile)> {
    let info = gi.info()?;
    let p = find_gi_profile(profiles, info.profile_id)?.clone();
    Ok((info, p))
}

fn ci_info(
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
fn mig_handles<'a>(d: &Device<'a>) -> Res<Vec<(u32, u32, u32, Device<'a>)>> {
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
fn used_mb(bytes: u64) -> u64 {
    if bytes == raw::VALUE_NOT_AVAILABLE {
        0
    } else {
        bytes / (1024 * 1024)
    }
}

impl Inventory for NvmlBackend {
    fn describe(&self) -> String {
        match self.nvml.driver_version() {
            Ok(v) => format!("NVML ({}, driver {v})", self.lib),
            Err(_) => format!("NVML ({})", self.lib),
        }
    }

    fn driver_version(&self) -> Result<String, BackendError> {
        self.nvml
            .driver_version()
            .map_err(|f| error(Op::DriverVersion, None, f.into()))
    }

    fn cuda_driver_version(&self) -> Result<Option<(u32, u32)>, BackendError> {
        let v = self
            .nvml
            .cuda_driver_version()
            .map_err(|f| error(Op::DriverVersion, None, f.into()))?;
        Ok(mig_model::backend::cuda_version_parts(v))
    }

    fn devices(&self) -> Result<Vec<DeviceInfo>, BackendError> {
        let fail = |w| error(Op::Devices, None, w);
        let n = self.nvml.device_count().map_err(|f| fail(f.into()))?;
        let mut out = Vec::with_capacity(n as usize);
        for index in 0..n {
            let d = self.nvml.device(index).map_err(|f| fail(f.into()))?;
            out.push(
                self.device_info(index, &d)
                    .map_err(|w| error(Op::Devices, Some(&GpuRef::Index(index)), w))?,
            );
        }
        Ok(out)
    }

    fn index_of(&self, gpu: &GpuRef) -> Result<u32, BackendError> {
        let want = match gpu {
            GpuRef::Index(i) => return Ok(*i),
            GpuRef::Uuid(u) => u,
        };
        let fail = |f: Fail| error(Op::Identity, Some(gpu), f.into());
        let n = self.nvml.device_count().map_err(fail)?;
        for index in 0..n {
            let d = self.nvml.device(index).map_err(fail)?;
            if d.uuid().map_err(fail)?.eq_ignore_ascii_case(want) {
                return Ok(index);
            }
        }
        Err(BackendError::NoSuchGpu {
            op: Op::Identity,
            gpu: gpu.clone(),
        })
    }

    fn identity(&self, gpu: &GpuRef) -> Result<GpuIdentity, BackendError> {
        self.on(Op::Identity, gpu, |i, d| self.identity_of(i, &d))
    }

    /// NVML has no atomic read of a whole GPU: the parts are read one after
    /// another, as nvidia-smi does; a change by another client in between
    /// can show, and an instance destroyed midway makes the read start again
    /// (`NvmlBackend::read`). The simulator's snapshot is atomic.
    fn snapshot(&self, gpu: &GpuRef) -> Result<GpuSnapshot, BackendError> {
        self.read(Op::Snapshot, gpu, |i, d| {
            let identity = self.identity_of(i, d)?;
            let (current, pending) = not_supported_is(d.mig_mode(), (false, false))?;
            let mut layout = Layout::new(identity.mirrored);
            if current {
                for gi in self.gi_list(i, d)? {
                    let mut cis: Vec<ComputeInstance> = self
                        .ci_list(i, d, gi.id)?
                        .into_iter()
                        .map(|c| ComputeInstance {
                            id: c.id,
                            profile_id: CiProfileId(c.profile.id),
                            placement: c.placement,
                        })
                        .collect();
                    cis.sort_by_key(|c| c.id);
                    layout.gpu_instances.push(LayoutGi {
                        id: gi.id,
                        profile_id: GiProfileId(gi.profile.id),
                        placement: gi.placement,
                        compute_instances: cis,
                    });
                }
                layout.gpu_instances.sort_by_key(|g| g.id);
            }
            Ok(GpuSnapshot {
                identity,
                mode: MigMode { current, pending },
                layout,
                mig_devices: self.mig_list(i, d)?,
                processes: self.process_list(i, d)?,
            })
        })
    }

    fn mig_devices(&self, gpu: &GpuRef) -> Result<Vec<MigDeviceInfo>, BackendError> {
        self.read(Op::MigDevices, gpu, |i, d| self.mig_list(i, d))
    }

    fn processes(&self, gpu: &GpuRef) -> Result<Vec<ProcessInfo>, BackendError> {
        self.on(Op::Processes, gpu, |i, d| self.process_list(i, &d))
    }
}

impl ModeControl for NvmlBackend {
    fn mig_mode(&self, gpu: &GpuRef) -> Result<MigMode, BackendError> {
        self.on(Op::MigMode, gpu, |_, d| {
            let (current, pending) = d.mig_mode()?;
            Ok(MigMode { current, pending })
        })
    }

    fn set_mig_mode(&self, gpu: &GpuRef, enable: bool) -> Result<Option<NvmlError>, BackendError> {
        self.on(Op::SetMigMode, gpu, |i, d| {
            self.forget_profiles(i);
            Ok(NvmlError::from_code(d.set_mig_mode(enable)?))
        })
    }

    /// NVML has no GPU reset (`nvmlDeviceResetGpu` does not exist; nvidia-smi
    /// resets through the driver directly). What the CLI's reset is for is
    /// making a pending MIG mode effective, and NVML does that when the mode
    /// is set again on an idle GPU: so a pending mode is applied with
    /// `nvmlDeviceSetMigMode` (failing as it does, e.g. `IN_USE`), and with
    /// nothing pending the reset is `NOT_SUPPORTED`.
    fn reset(&self, gpu: &GpuRef) -> Result<(), BackendError> {
        self.on(Op::Reset, gpu, |i, d| {
            self.forget_profiles(i);
            let (current, pending) = d.mig_mode()?;
            if current == pending {
                return Err(Fail::Code(raw::ERR_NOT_SUPPORTED).into());
            }
            match d.set_mig_mode(pending)? {
                raw::SUCCESS => Ok(()),
                code => Err(Fail::Code(code).into()),
            }
        })
    }
}

impl LayoutControl for NvmlBackend {
    fn gi_profiles(
        &self,
        gpu: &GpuRef,
        want: ProfileQuery,
    ) -> Result<Vec<GiProfileStatus>, BackendError> {
        self.on(Op::GiProfiles, gpu, |i, d| {
            self.profile_list(i, &d, want.placements)?
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
                        placements: engine::gi_placements(&p).collect(),
                        remaining,
                        profile: p,
                    })
                })
                .collect()
        })
    }

    fn gpu_instances(&self, gpu: &GpuRef) -> Result<Vec<GiInfo>, BackendError> {
        self.read(Op::GpuInstances, gpu, |i, d| self.gi_list(i, d))
    }

    fn create_gpu_instance(
        &self,
        gpu: &GpuRef,
        profile: GiProfileId,
        placement: Option<Placement>,
    ) -> Result<GiInfo, BackendError> {
        self.on(Op::CreateGpuInstance, gpu, |i, d| {
            let gi = d.create_gi(profile.0, placement)?;
            let (info, p) = gi_info(&gi, &self.profile_list(i, &d, false)?)?;
            Ok(GiInfo {
                id: GpuInstanceId(info.id),
                profile: p,
                placement: info.placement,
            })
        })
    }

    fn destroy_gpu_instance(&self, gpu: &GpuRef, gi: GpuInstanceId) -> Result<(), BackendError> {
        self.on(Op::DestroyGpuInstance, gpu, |_, d| {
            Ok(d.gpu_instance(gi.0)?.destroy()?)
        })
    }

    fn ci_profiles(
        &self,
        gpu: &GpuRef,
        gi: GpuInstanceId,
    ) -> Result<Vec<CiProfileStatus>, BackendError> {
        self.on(Op::CiProfiles, gpu, |i, d| {
            require_mig(&d)?;
            let h = d.gpu_instance(gi.0)?;
            let (_, gp) = gi_info(&h, &self.profile_list(i, &d, false)?)?;
            ci_profile_list(&h)?
                .into_iter()
                .map(|c| {
                    Ok(CiProfileStatus {
                        name: ids::ci_profile_name(&gp, &c),
                        placements: engine::ci_placements(&c).collect(),
                        remaining: h.ci_remaining(c.id)?,
                        profile: c,
                    })
                })
                .collect()
        })
    }

    fn compute_instances(
        &self,
        gpu: &GpuRef,
        gi: GpuInstanceId,
    ) -> Result<Vec<CiInfo>, BackendError> {
        self.read(Op::ComputeInstances, gpu, |i, d| self.ci_list(i, d, gi))
    }

    fn create_compute_instance(
        &self,
        gpu: &GpuRef,
        gi: GpuInstanceId,
        profile: CiProfileId,
        placement: Option<Placement>,
    ) -> Result<CiInfo, BackendError> {
        self.on(Op::CreateComputeInstance, gpu, |i, d| {
            let h = d.gpu_instance(gi.0)?;
            let ci = h.create_ci(profile.0, placement)?;
            let info = ci.info()?;
            let (_, gp) = gi_info(&h, &self.profile_list(i, &d, false)?)?;
            ci_info(gi, &gp, info, &ci_profile_list(&h)?)
        })
    }

    fn destroy_compute_instance(
        &self,
        gpu: &GpuRef,
        gi: GpuInstanceId,
        ci: ComputeInstanceId,
    ) -> Result<(), BackendError> {
        self.on(Op::DestroyComputeInstance, gpu, |_, d| {
            let h = d.gpu_instance(gi.0)?;
            Ok(h.compute_instance(ci.0)?.destroy()?)
        })
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

    /// Proves NVML codes map to the CLI's error kinds with the operation
    /// and GPU attached, and missing symbols become a machine error that
    /// names the function.
    #[test]
    fn failures_map_to_backend_errors() {
        let g = GpuRef::Index(3);
        let e = error(Op::CreateGpuInstance, Some(&g), Fail::Code(19).into());
        assert_eq!(e.nvml_code(), Some(NvmlError::InUse));
        assert_eq!(
            e.to_string(),
            "cannot create a GPU instance on GPU 3: In use by another client"
        );
        let e = error(
            Op::Reset,
            Some(&g),
            Fail::Code(raw::ERR_ARGUMENT_VERSION_MISMATCH).into(),
        );
        assert_eq!(e.nvml_code(), Some(NvmlError::Unknown));
        let e = error(
            Op::MigMode,
            None,
            Fail::Missing("nvmlDeviceGetMigMode").into(),
        );
        assert_eq!(e.nvml_code(), None);
        assert!(e.to_string().contains("nvmlDeviceGetMigMode"), "{e}");
    }

    /// Proves the backend can be shared by threads (reconfiguring GPUs in
    /// parallel needs `Send + Sync`).
    #[test]
    fn backend_is_send_and_sync() {
        fn both<T: Send + Sync>() {}
        both::<NvmlBackend>();
    }

    /// Proves NVML's "not available" memory reads as 0 MiB and bytes round down.
    #[test]
    fn used_memory_converts_to_mib() {
        assert_eq!(used_mb(u64::MAX), 0);
        assert_eq!(used_mb(153 * 1024 * 1024 + 5), 153);
    }
}
