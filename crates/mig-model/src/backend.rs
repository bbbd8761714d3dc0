//! The backend interface: NVML's MIG operations over one machine's GPUs.
//!
//! The simulator (`mig-sim`) and the real NVML backend implement [`Backend`];
//! the planner and the CLI drive either without knowing which. Methods mirror
//! NVML calls and fail with [`NvmlError`], so callers print what nvidia-smi
//! prints.

use crate::catalog::{CiProfile, GiProfile};
use crate::error::NvmlError;
use crate::types::{CiProfileId, ComputeInstanceId, GiProfileId, GpuInstanceId, Placement};

/// MIG mode of a GPU (`nvmlDeviceGetMigMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigMode {
    pub current: bool,
    pub pending: bool,
}

/// Why a backend call failed: an NVML error (printed as nvidia-smi prints
/// it), or a problem of the backend itself (state file, library loading).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BackendError {
    #[error("{0}")]
    Nvml(#[from] NvmlError),
    #[error("{0}")]
    Backend(String),
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
    pub sm: u32,
    pub ce: u32,
    pub enc: u32,
    pub dec: u32,
    pub ofa: u32,
    pub jpeg: u32,
}

impl MigDeviceInfo {
    /// A MIG device of compute instance `ci` (profile `cp`) in GPU instance
    /// `gi` (profile `gp`): its name and resources follow from the profiles.
    pub fn new(
        index: u32,
        gi: GpuInstanceId,
        ci: ComputeInstanceId,
        uuid: String,
        gp: &GiProfile,
        cp: &CiProfile,
    ) -> MigDeviceInfo {
        MigDeviceInfo {
            index,
            gi,
            ci,
            uuid,
            name: crate::ids::ci_profile_name(gp, cp),
            memory_mb: gp.memory_mb,
            sm: cp.sm,
            ce: cp.ce,
            enc: cp.enc,
            dec: cp.dec,
            ofa: cp.ofa,
            jpeg: cp.jpeg,
        }
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

/// NVML's MIG operations. `gpu` is the NVML enumeration index.
pub trait Backend {
    /// One line for humans: which backend, and where its machine is.
    fn describe(&self) -> String;
    fn driver_version(&self) -> Result<String, BackendError>;
    fn devices(&self) -> Result<Vec<DeviceInfo>, BackendError>;
    /// `nvmlDeviceSetMigMode`; returns the activation status (`None` when the
    /// new mode is in effect, else why it is pending).
    fn set_mig_mode(&mut self, gpu: u32, enable: bool) -> Result<Option<NvmlError>, BackendError>;
    /// `nvmlDeviceResetGpu`-equivalent: applies a pending MIG mode.
    fn reset(&mut self, gpu: u32) -> Result<(), BackendError>;
    fn gi_profiles(&self, gpu: u32) -> Result<Vec<GiProfileStatus>, BackendError>;
    /// [`Backend::gi_profiles`], where the parts `want` leaves out may be
    /// left empty (no placements) or zero (remaining). Backends for which
    /// they are free return everything.
    fn gi_profiles_for(
        &self,
        gpu: u32,
        want: ProfileQuery,
    ) -> Result<Vec<GiProfileStatus>, BackendError> {
        let _ = want;
        self.gi_profiles(gpu)
    }
    fn gpu_instances(&self, gpu: u32) -> Result<Vec<GiInfo>, BackendError>;
    fn create_gpu_instance(
        &mut self,
        gpu: u32,
        profile: GiProfileId,
        placement: Option<Placement>,
    ) -> Result<GiInfo, BackendError>;
    fn destroy_gpu_instance(&mut self, gpu: u32, gi: GpuInstanceId) -> Result<(), BackendError>;
    fn ci_profiles(
        &self,
        gpu: u32,
        gi: GpuInstanceId,
    ) -> Result<Vec<CiProfileStatus>, BackendError>;
    fn compute_instances(&self, gpu: u32, gi: GpuInstanceId) -> Result<Vec<CiInfo>, BackendError>;
    fn create_compute_instance(
        &mut self,
        gpu: u32,
        gi: GpuInstanceId,
        profile: CiProfileId,
        placement: Option<Placement>,
    ) -> Result<CiInfo, BackendError>;
    fn destroy_compute_instance(
        &mut self,
        gpu: u32,
        gi: GpuInstanceId,
        ci: ComputeInstanceId,
    ) -> Result<(), BackendError>;
    fn mig_devices(&self, gpu: u32) -> Result<Vec<MigDeviceInfo>, BackendError>;
    fn processes(&self, gpu: u32) -> Result<Vec<ProcessInfo>, BackendError>;
}
