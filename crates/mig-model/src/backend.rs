//! The backend interface: one machine's GPUs, split by concern as a
//! reconciler needs them.
//!
//! - [`Inventory`]: what is there: the GPUs, each one's identity and catalog
//!   model ([`GpuIdentity`]), and a consistent snapshot of its whole MIG state
//!   ([`GpuSnapshot`]) for a planner to diff against.
//! - [`ModeControl`]: MIG mode and the reset that makes a pending mode take
//!   effect.
//! - [`LayoutControl`]: GPU and compute instances, one NVML operation each.
//!
//! [`Backend`] is all three. The simulator (`mig-sim`) and the real NVML
//! backend (`mig-nvml`) implement it; the planner and the CLI drive either
//! without knowing which. Every method takes `&self` and backends are
//! `Send + Sync`, so independent GPUs can be reconfigured from several
//! threads. GPUs are named by [`GpuRef`]: an index or a board UUID.
//! Failures are [`BackendError`]s that carry the operation, the GPU and the
//! NVML code, so a caller can print nvidia-smi's message or a full sentence.

use crate::catalog::{CiProfile, GiProfile};
use crate::error::NvmlError;
use crate::types::{CiProfileId, ComputeInstanceId, GiProfileId, GpuInstanceId, Placement};

/// MIG mode of a GPU (`nvmlDeviceGetMigMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigMode {
    pub current: bool,
    pub pending: bool,
}

/// A backend operation, for error messages and journals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Open,
    DriverVersion,
    Devices,
    Identity,
    Snapshot,
    MigMode,
    SetMigMode,
    Reset,
    GiProfiles,
    GpuInstances,
    CreateGpuInstance,
    DestroyGpuInstance,
    CiProfiles,
    ComputeInstances,
    CreateComputeInstance,
    DestroyComputeInstance,
    MigDevices,
    Processes,
    StartProcess,
    StopProcess,
    SetTelemetry,
    Gpm,
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Op::Open => "open the machine",
            Op::DriverVersion => "read the driver version",
            Op::Devices => "list GPUs",
            Op::Identity => "read the GPU's identity",
            Op::Snapshot => "read the GPU's MIG state",
            Op::MigMode => "read the MIG mode",
            Op::SetMigMode => "set the MIG mode",
            Op::Reset => "reset the GPU",
            Op::GiProfiles => "list GPU instance profiles",
            Op::GpuInstances => "list GPU instances",
            Op::CreateGpuInstance => "create a GPU instance",
            Op::DestroyGpuInstance => "destroy a GPU instance",
            Op::CiProfiles => "list compute instance profiles",
            Op::ComputeInstances => "list compute instances",
            Op::CreateComputeInstance => "create a compute instance",
            Op::DestroyComputeInstance => "destroy a compute instance",
            Op::MigDevices => "list MIG devices",
            Op::Processes => "list processes",
            Op::StartProcess => "start a simulated process",
            Op::StopProcess => "stop a simulated process",
            Op::SetTelemetry => "set simulated readings",
            Op::Gpm => "read GPM counters",
        })
    }
}

/// Why a backend call failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// NVML (or the simulated driver) answered this code. `gpu` is `None`
    /// for machine-wide calls.
    #[error("cannot {op}{}: {code}", on_gpu(.gpu))]
    Nvml {
        op: Op,
        gpu: Option<GpuRef>,
        code: NvmlError,
    },
    /// No GPU has this index or UUID.
    #[error("cannot {op}: there is no {gpu} on this machine (`migctl -L` lists them)")]
    NoSuchGpu { op: Op, gpu: GpuRef },
    /// The backend itself failed: the simulator's state file, the NVML
    /// library, a simulated process that does not exist.
    #[error("cannot {op}{}: {source}", on_gpu(.gpu))]
    Machine {
        op: Op,
        gpu: Option<GpuRef>,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The driver reported something the model cannot account for (a GPU
    /// instance of a profile no profile listing has).
    #[error("cannot {op} on {gpu}: {what}")]
    Inconsistent { op: Op, gpu: GpuRef, what: String },
}

fn on_gpu(gpu: &Option<GpuRef>) -> String {
    gpu.as_ref().map(|g| format!(" on {g}")).unwrap_or_default()
}

impl BackendError {
    /// An NVML error code from `op` on `gpu`.
    pub fn nvml(op: Op, gpu: impl Into<GpuRef>, code: NvmlError) -> BackendError {
        BackendError::Nvml {
            op,
            gpu: Some(gpu.into()),
            code,
        }
    }

    /// A failure of the backend itself.
    pub fn machine(
        op: Op,
        gpu: Option<GpuRef>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> BackendError {
        BackendError::Machine {
            op,
            gpu,
            source: source.into(),
        }
    }

    /// The NVML code, when NVML (or the simulated driver) answered one:
    /// what nvidia-smi prints and what decides its exit status.
    pub fn nvml_code(&self) -> Option<NvmlError> {
        match self {
            BackendError::Nvml { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The operation that failed.
    pub fn op(&self) -> Op {
        match self {
            BackendError::Nvml { op, .. }
            | BackendError::NoSuchGpu { op, .. }
            | BackendError::Machine { op, .. }
            | BackendError::Inconsistent { op, .. } => *op,
        }
    }
}

/// A physical GPU.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    /// NVML enumeration index.
    pub index: u32,
    /// `nvmlDeviceGetName`.
    pub name: String,
    /// `GPU-...`.
    pub uuid: String,
    /// `00000000:07:00.0`.
    pub pci_bus_id: String,
    /// `/dev/nvidiaN` minor.
    pub minor: u32,
    pub memory_total_bytes: u64,
    pub mig: MigMode,
}

/// A GPU-instance profile with its placements and remaining capacity.
#[derive(Debug, Clone, PartialEq)]
pub struct GiProfileStatus {
    pub profile: GiProfile,
    pub placements: Vec<Placement>,
    pub remaining: u32,
}

/// What a GI profile listing must include beyond the profiles themselves.
/// Each part costs NVML calls on real hardware (an ioctl each), so callers
/// ask only for what they print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileQuery {
    /// Fill `GiProfileStatus::placements` (and the profile's placement fields).
    pub placements: bool,
    /// Fill `GiProfileStatus::remaining`.
    pub remaining: bool,
}

impl ProfileQuery {
    /// Everything.
    pub const ALL: ProfileQuery = ProfileQuery {
        placements: true,
        remaining: true,
    };
    /// The profiles alone (IDs, names, sizes, engines).
    pub const BARE: ProfileQuery = ProfileQuery {
        placements: false,
        remaining: false,
    };
}

/// A GPU instance (`nvmlGpuInstanceInfo_t`).
#[derive(Debug, Clone, PartialEq)]
pub struct GiInfo {
    pub id: GpuInstanceId,
    pub profile: GiProfile,
    pub placement: Placement,
}

/// A compute-instance profile of a GPU instance.
#[derive(Debug, Clone, PartialEq)]
pub struct CiProfileStatus {
    pub profile: CiProfile,
    /// `MIG 1c.3g.20gb`.
    pub name: String,
    pub placements: Vec<Placement>,
    pub remaining: u32,
}

/// A compute instance (`nvmlComputeInstanceInfo_t`).
#[derive(Debug, Clone, PartialEq)]
pub struct CiInfo {
    pub gi: GpuInstanceId,
    pub id: ComputeInstanceId,
    pub profile: CiProfile,
    /// `MIG 1c.3g.20gb`.
    pub name: String,
    pub placement: Placement,
}

/// A MIG device (one compute instance, as CUDA and `nvidia-smi -L` see it).
#[derive(Debug, Clone, PartialEq)]
pub struct MigDeviceInfo {
    /// Index under its parent GPU (`nvmlDeviceGetMigDeviceHandleByIndex`).
    pub index: u32,
    pub gi: GpuInstanceId,
    pub ci: ComputeInstanceId,
    pub uuid: String,
    /// `MIG 3g.20gb` or `MIG 1c.3g.20gb`.
    pub name: String,
    /// Memory of the GPU instance, MiB.
    pub memory_mb: u64,
    /// Memory in use on the MIG device, MiB: `nvmlDeviceGetMemoryInfo` on
    /// the MIG handle (the simulator models it: see `mig-sim`).
    pub memory_used_mb: u64,
    pub sm: u32,
    pub ce: u32,
    pub enc: u32,
    pub dec: u32,
    pub ofa: u32,
    pub jpeg: u32,
    /// BAR1 of the MIG device, (used, total) MiB: `nvmlDeviceGetBAR1MemoryInfo`
    /// on the MIG handle, or the error the backend got (nvidia-smi's default
    /// view leaves out a MIG device whose BAR1 it cannot read).
    pub bar1_mb: crate::readings::Read<(u64, u64)>,
}

impl MigDeviceInfo {
    /// A MIG device of compute instance `ci` (profile `cp`) in GPU instance
    /// `gi` (profile `gp`): its name and resources follow from the profiles;
    /// the memory in use is the backend's reading. BAR1 starts unread
    /// (`NotSupported`); a backend that reads it sets it with
    /// [`MigDeviceInfo::with_bar1`].
    pub fn new(
        index: u32,
        gi: GpuInstanceId,
        ci: ComputeInstanceId,
        uuid: String,
        gp: &GiProfile,
        cp: &CiProfile,
        memory_used_mb: u64,
    ) -> MigDeviceInfo {
        MigDeviceInfo {
            index,
            gi,
            ci,
            uuid,
            name: crate::ids::ci_profile_name(gp, cp),
            memory_mb: gp.memory_mb,
            memory_used_mb,
            sm: cp.sm,
            ce: cp.ce,
            enc: cp.enc,
            dec: cp.dec,
            ofa: cp.ofa,
            jpeg: cp.jpeg,
            bar1_mb: Err(NvmlError::NotSupported),
        }
    }

    /// The same MIG device with its BAR1 reading, (used, total) MiB.
    pub fn with_bar1(mut self, bar1_mb: crate::readings::Read<(u64, u64)>) -> MigDeviceInfo {
        self.bar1_mb = bar1_mb;
        self
    }
}

/// A process using a GPU or MIG device.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub gpu: u32,
    /// `None` for a process on a GPU with MIG disabled.
    pub gi: Option<GpuInstanceId>,
    pub ci: Option<ComputeInstanceId>,
    pub name: String,
    pub used_memory_mb: u64,
}

/// How an operation names a GPU: by NVML enumeration index, or by board UUID
/// (`GPU-...`), which survives re-enumeration (a journal records UUIDs).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GpuRef {
    Index(u32),
    Uuid(String),
}

impl std::fmt::Display for GpuRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GpuRef::Index(i) => write!(f, "GPU {i}"),
            GpuRef::Uuid(u) => write!(f, "GPU {u}"),
        }
    }
}

impl From<u32> for GpuRef {
    fn from(i: u32) -> GpuRef {
        GpuRef::Index(i)
    }
}

/// A physical GPU's identity and what the catalog knows of it.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuIdentity {
    /// NVML enumeration index now (it may change across reboots; `uuid` does not).
    pub index: u32,
    /// `GPU-...`.
    pub uuid: String,
    /// `nvmlDeviceGetName`.
    pub name: String,
    /// `00000000:07:00.0`.
    pub pci_bus_id: String,
    /// NVML's `pciDeviceId`: device ID in the upper 16 bits, vendor (0x10de)
    /// in the lower, as mig-parted's `device-filter` writes it (`0x20B010DE`).
    pub pci_device_id: u32,
    /// NVML's `pciSubSystemId` (`0x134F10DE`).
    pub pci_subsystem_id: u32,
    /// `/dev/nvidiaN` minor.
    pub minor: u32,
    pub memory_total_bytes: u64,
    /// Catalog slug of the board, or `None` when the catalog does not know
    /// it (reported, never guessed).
    pub model: Option<String>,
    /// Whether the board maps logical slices to physical ones mirrored.
    pub mirrored: bool,
    /// Whether a MIG mode change takes effect only after a GPU reset
    /// (the catalog's `mode_change_needs_reset`: Ampere).
    pub mode_change_needs_reset: bool,
}

/// One GPU's whole MIG state, read at one moment (under one lock on the
/// simulator), so a planner diffs against a consistent picture.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuSnapshot {
    pub identity: GpuIdentity,
    pub mode: MigMode,
    /// Every GI and CI with profile IDs, placements and IDs (empty when MIG
    /// is disabled).
    pub layout: crate::engine::Layout,
    /// MIG devices in the driver's enumeration order.
    pub mig_devices: Vec<MigDeviceInfo>,
    /// Processes on the GPU or its MIG devices.
    pub processes: Vec<ProcessInfo>,
}

/// The parts of a [`GpuSnapshot`] a reader asks for beyond the identity,
/// the MIG mode and the layout, which every snapshot has. Each part costs
/// NVML calls on real hardware, so a reader asks only for what it uses;
/// a part left out is left empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotParts {
    /// Fill `GpuSnapshot::mig_devices`.
    pub mig_devices: bool,
    /// Fill `GpuSnapshot::processes`.
    pub processes: bool,
}

impl SnapshotParts {
    /// Everything ([`Inventory::snapshot`]).
    pub const ALL: SnapshotParts = SnapshotParts {
        mig_devices: true,
        processes: true,
    };
    /// What a planner needs: the layout and the processes that keep
    /// instances busy.
    pub const PLAN: SnapshotParts = SnapshotParts {
        mig_devices: false,
        processes: true,
    };
    /// Mode and layout alone: the read-back after a GPU was changed.
    pub const LAYOUT: SnapshotParts = SnapshotParts {
        mig_devices: false,
        processes: false,
    };
}

/// What the machine has: GPUs, their identities, consistent snapshots.
pub trait Inventory: Send + Sync {
    /// One line for humans: which backend, and where its machine is.
    fn describe(&self) -> String;
    fn driver_version(&self) -> Result<String, BackendError>;
    /// The CUDA driver API version (`nvmlSystemGetCudaDriverVersion_v2`) as
    /// (major, minor); `None` from a backend that does not read it.
    fn cuda_driver_version(&self) -> Result<Option<(u32, u32)>, BackendError> {
        Ok(None)
    }
    /// Every GPU, in NVML enumeration order.
    fn devices(&self) -> Result<Vec<DeviceInfo>, BackendError>;
    /// The NVML index a [`GpuRef`] names now (a UUID is looked up).
    fn index_of(&self, gpu: &GpuRef) -> Result<u32, BackendError> {
        match gpu {
            GpuRef::Index(i) => Ok(*i),
            GpuRef::Uuid(u) => self
                .devices()?
                .into_iter()
                .find(|d| d.uuid.eq_ignore_ascii_case(u))
                .map(|d| d.index)
                .ok_or_else(|| BackendError::NoSuchGpu {
                    op: Op::Identity,
                    gpu: gpu.clone(),
                }),
        }
    }
    /// The GPU's identity and what the catalog knows of it.
    fn identity(&self, gpu: &GpuRef) -> Result<GpuIdentity, BackendError>;
    /// The GPU's whole MIG state at one moment.
    fn snapshot(&self, gpu: &GpuRef) -> Result<GpuSnapshot, BackendError>;
    /// The GPU's state with only the `parts` asked for (the others empty);
    /// a backend whose parts cost reads overrides it to skip them.
    fn snapshot_parts(
        &self,
        gpu: &GpuRef,
        parts: SnapshotParts,
    ) -> Result<GpuSnapshot, BackendError> {
        let mut s = self.snapshot(gpu)?;
        if !parts.mig_devices {
            s.mig_devices.clear();
        }
        if !parts.processes {
            s.processes.clear();
        }
        Ok(s)
    }
    /// MIG devices in the driver's enumeration order (empty with MIG off).
    fn mig_devices(&self, gpu: &GpuRef) -> Result<Vec<MigDeviceInfo>, BackendError>;
    /// Processes on the GPU or its MIG devices.
    fn processes(&self, gpu: &GpuRef) -> Result<Vec<ProcessInfo>, BackendError>;
    /// Readings beyond MIG (temperatures, power, clocks, ...); a backend
    /// that reads none answers `NotSupported` for each.
    fn readings(&self, gpu: &GpuRef) -> Result<crate::readings::Readings, BackendError> {
        self.index_of(gpu)?;
        Ok(crate::readings::Readings::not_read())
    }
    /// What `nvidia-smi -q` shows beyond the readings, the MIG devices'
    /// memory included; a backend that reads none answers `NotSupported`
    /// for each.
    fn details(&self, gpu: &GpuRef) -> Result<crate::details::Details, BackendError> {
        self.index_of(gpu)?;
        Ok(crate::details::Details::not_read())
    }
}

/// MIG mode: mig-parted's "mode" concern.
pub trait ModeControl: Send + Sync {
    /// `nvmlDeviceGetMigMode`.
    fn mig_mode(&self, gpu: &GpuRef) -> Result<MigMode, BackendError>;
    /// `nvmlDeviceSetMigMode`; returns the activation status (`None` when the
    /// new mode is in effect, else why it is pending).
    fn set_mig_mode(&self, gpu: &GpuRef, enable: bool) -> Result<Option<NvmlError>, BackendError>;
    /// Make a pending MIG mode take effect (a GPU reset on the simulator).
    fn reset(&self, gpu: &GpuRef) -> Result<(), BackendError>;
}

/// GPU and compute instances: mig-parted's "config" concern. Listings come
/// in the driver's order; nvidia-smi's presentation order is the CLI's.
pub trait LayoutControl: Send + Sync {
    /// GI profiles in NVML profile-index order; the parts `want` leaves out
    /// may be left empty (no placements) or zero (remaining), since each
    /// costs NVML calls on real hardware.
    fn gi_profiles(
        &self,
        gpu: &GpuRef,
        want: ProfileQuery,
    ) -> Result<Vec<GiProfileStatus>, BackendError>;
    /// GPU instances, profile by profile in profile-index order.
    fn gpu_instances(&self, gpu: &GpuRef) -> Result<Vec<GiInfo>, BackendError>;
    fn create_gpu_instance(
        &self,
        gpu: &GpuRef,
        profile: GiProfileId,
        placement: Option<Placement>,
    ) -> Result<GiInfo, BackendError>;
    fn destroy_gpu_instance(&self, gpu: &GpuRef, gi: GpuInstanceId) -> Result<(), BackendError>;
    /// CI profiles of a GPU instance in NVML profile-index order.
    fn ci_profiles(
        &self,
        gpu: &GpuRef,
        gi: GpuInstanceId,
    ) -> Result<Vec<CiProfileStatus>, BackendError>;
    /// Compute instances of a GPU instance, profile by profile.
    fn compute_instances(
        &self,
        gpu: &GpuRef,
        gi: GpuInstanceId,
    ) -> Result<Vec<CiInfo>, BackendError>;
    fn create_compute_instance(
        &self,
        gpu: &GpuRef,
        gi: GpuInstanceId,
        profile: CiProfileId,
        placement: Option<Placement>,
    ) -> Result<CiInfo, BackendError>;
    /// [`LayoutControl::create_compute_instance`] answering only the new
    /// CI's ID (what an executor checks); a backend may skip the reads that
    /// describe the CI.
    fn create_compute_instance_id(
        &self,
        gpu: &GpuRef,
        gi: GpuInstanceId,
        profile: CiProfileId,
        placement: Option<Placement>,
    ) -> Result<ComputeInstanceId, BackendError> {
        Ok(self
            .create_compute_instance(gpu, gi, profile, placement)?
            .id)
    }
    fn destroy_compute_instance(
        &self,
        gpu: &GpuRef,
        gi: GpuInstanceId,
        ci: ComputeInstanceId,
    ) -> Result<(), BackendError>;
}

// GPU Performance Monitoring (GPM) per GPU instance, Hopper and later:
// NVML's `nvmlGpmMigSampleGet` takes a sample of one GPU instance's
// counters, and `nvmlGpmMetricsGet` turns two samples (taken more than
// 100 ms apart) into rates over the interval between them.
//
// A backend that has no GPM (Ampere boards, an NVML without the entry
// points) keeps the defaults, which say "not supported": callers report
// "not available", never a made-up number.

/// One GPM sample, owned by the backend that took it (an NVML sample
/// buffer, or the simulator's counters); only that backend reads it.
pub type GpmSample = Box<dyn std::any::Any + Send>;

/// Rates over the interval between two samples, as `nvmlGpmMetricsGet`
/// gives them (percentages, 0 to 100).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GpmMetrics {
    /// `NVML_GPM_METRIC_SM_UTIL`: percentage of SMs busy.
    pub sm_util: f64,
    /// `NVML_GPM_METRIC_DRAM_BW_UTIL`: percentage of DRAM bandwidth used.
    pub dram_bw_util: f64,
}

/// GPM readings of GPU instances. Every method defaults to "not supported".
pub trait Gpm: Send + Sync {
    /// Whether the GPU has GPM (`nvmlGpmQueryDeviceSupport`).
    fn gpm_supported(&self, gpu: &GpuRef) -> Result<bool, BackendError> {
        let _ = gpu;
        Ok(false)
    }
    /// A sample of GPU instance `gi`'s counters (`nvmlGpmMigSampleGet`),
    /// taken into `reuse` when it is a sample this backend took before (no
    /// new buffer is allocated then).
    fn gpm_mig_sample(
        &self,
        gpu: &GpuRef,
        gi: crate::types::GpuInstanceId,
        reuse: Option<GpmSample>,
    ) -> Result<GpmSample, BackendError> {
        let _ = (gi, reuse);
        Err(BackendError::nvml(
            Op::Gpm,
            gpu.clone(),
            NvmlError::NotSupported,
        ))
    }
    /// Rates between two samples of one GPU instance, `older` first
    /// (`nvmlGpmMetricsGet`).
    fn gpm_metrics(
        &self,
        gpu: &GpuRef,
        older: &GpmSample,
        newer: &GpmSample,
    ) -> Result<GpmMetrics, BackendError> {
        let _ = (older, newer);
        Err(BackendError::nvml(
            Op::Gpm,
            gpu.clone(),
            NvmlError::NotSupported,
        ))
    }
}

/// A whole backend: inventory, mode, layout and GPM readings.
pub trait Backend: Inventory + ModeControl + LayoutControl + Gpm {}

impl<T: Inventory + ModeControl + LayoutControl + Gpm + ?Sized> Backend for T {}

/// NVML's CUDA driver version (1000 * major + 10 * minor, `13000` for
/// 13.0) as (major, minor); `None` for a value that is not a version.
pub fn cuda_version_parts(v: i32) -> Option<(u32, u32)> {
    let v = u32::try_from(v).ok().filter(|v| *v >= 1000)?;
    Some((v / 1000, (v % 1000) / 10))
}
