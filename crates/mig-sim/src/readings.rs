//! The live readings and settable modes of one simulated GPU, kept in the
//! state file (every field has a serde default, so state files written
//! before it existed still load). The defaults are the idle readings of the
//! lent H100 80GB HBM3 (`shared/reference/h100-80gb-hbm3/h100_q.txt`,
//! driver 580.159.04); `migctl sim set` changes them (the `Setting`s of
//! the telemetry module); and the GPM activity of its GPU instances
//! (`migctl sim set --gi`, read by the gpm module).

use serde::{Deserialize, Serialize};

/// `NVML_COMPUTEMODE_*` as nvml.h numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ComputeMode {
    /// `NVML_COMPUTEMODE_DEFAULT` (0), the measured boards' mode.
    #[default]
    Default,
    /// `NVML_COMPUTEMODE_PROHIBITED` (2).
    Prohibited,
    /// `NVML_COMPUTEMODE_EXCLUSIVE_PROCESS` (3).
    ExclusiveProcess,
}

impl ComputeMode {
    /// The `nvmlComputeMode_t` value.
    pub fn nvml(self) -> u32 {
        match self {
            ComputeMode::Default => 0,
            ComputeMode::Prohibited => 2,
            ComputeMode::ExclusiveProcess => 3,
        }
    }
}

/// The live readings and settable modes of one simulated GPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Telemetry {
    /// GPU core temperature, degrees C (H100 idle: 39).
    pub temperature_c: u32,
    /// HBM temperature, degrees C (H100 idle: 40).
    pub memory_temperature_c: u32,
    /// Power draw in milliwatts (H100 idle instantaneous: 74.84 W).
    pub power_mw: u32,
    /// Power limit in milliwatts; `None` is the board's default limit.
    pub power_limit_mw: Option<u32>,
    /// GPU utilization, percent (H100 idle: 0).
    pub utilization_gpu: u32,
    /// Memory-controller utilization, percent (H100 idle: 0).
    pub utilization_memory: u32,
    /// Fan speed, percent; only boards with a fan report one.
    pub fan_percent: u32,
    /// Persistence mode (the lent boards: Enabled).
    pub persistence: bool,
    /// Compute mode (the lent boards: Default).
    pub compute_mode: ComputeMode,
    /// Current graphics and SM clock, MHz; `None` is the board's idle clock.
    pub sm_clock_mhz: Option<u32>,
    /// Average GPU power draw, milliwatts (H100 idle: 116.04 W).
    pub power_average_mw: u32,
    /// Average memory power draw, milliwatts (H100 idle: 48.51 W).
    pub memory_power_mw: u32,
    /// PCIe throughput sent and received, KB/s (default 0: no simulated
    /// traffic).
    pub pcie_tx_kbs: u32,
    pub pcie_rx_kbs: u32,
    /// ECC errors counted since the driver loaded (volatile and aggregate
    /// alike: the simulated driver never reloads).
    pub ecc: EccErrors,
    /// GPU virtualization mode the host reports (default: bare metal).
    pub virtualization: Virtualization,
}

/// ECC error counts of a simulated GPU (all 0 by default, as the lent
/// boards).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EccErrors {
    pub sram_corrected: u64,
    /// SRAM uncorrected errors (counted as SEC-DED ones).
    pub sram_uncorrected: u64,
    pub dram_corrected: u64,
    pub dram_uncorrected: u64,
}

impl EccErrors {
    /// Uncorrected errors, SRAM and DRAM together (`nvmlDeviceGetTotalEccErrors`).
    pub fn uncorrected(&self) -> u64 {
        self.sram_uncorrected + self.dram_uncorrected
    }

    /// Corrected errors, SRAM and DRAM together.
    pub fn corrected(&self) -> u64 {
        self.sram_corrected + self.dram_corrected
    }
}

/// `nvmlGpuVirtualizationMode_t` of the simulated host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Virtualization {
    /// `NVML_GPU_VIRTUALIZATION_MODE_NONE` (0): bare metal.
    #[default]
    None,
    /// `NVML_GPU_VIRTUALIZATION_MODE_PASSTHROUGH` (1): a VM guest the GPU
    /// is passed through to (the lent H100 and H200).
    PassThrough,
}

impl Virtualization {
    /// The `nvmlGpuVirtualizationMode_t` value.
    pub fn nvml(self) -> u32 {
        match self {
            Virtualization::None => 0,
            Virtualization::PassThrough => 1,
        }
    }
}

impl Default for Telemetry {
    fn default() -> Telemetry {
        Telemetry {
            temperature_c: 39,
            memory_temperature_c: 40,
            power_mw: 74_840,
            power_limit_mw: None,
            utilization_gpu: 0,
            utilization_memory: 0,
            fan_percent: 30,
            persistence: true,
            compute_mode: ComputeMode::Default,
            sm_clock_mhz: None,
            power_average_mw: 116_040,
            memory_power_mw: 48_510,
            pcie_tx_kbs: 0,
            pcie_rx_kbs: 0,
            ecc: EccErrors::default(),
            virtualization: Virtualization::None,
        }
    }
}

/// The activity of one GPU instance and its counters so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GiActivity {
    /// GI ID, profile ID and placement start: a GPU instance made again
    /// under the same ID does not inherit the setting.
    pub gi: u32,
    pub profile_id: u32,
    pub placement_start: u32,
    /// Percent of SMs busy since `since_ns`.
    pub sm_activity: u32,
    /// Percent of DRAM bandwidth used since `since_ns`.
    pub dram_bandwidth: u32,
    /// When the current setting was made (ns since the Unix epoch).
    pub since_ns: u64,
    /// Counters accumulated before `since_ns`: percent x ns.
    pub sm_acc: f64,
    pub dram_acc: f64,
}

/// GPM activity of a GPU's instances.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GpmState {
    pub instances: Vec<GiActivity>,
}

impl GpmState {
    /// No instance was ever set (nothing to store).
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }
}
