//! A GPU's readings and board facts beyond MIG: what `nvidia-smi
//! --query-gpu` shows besides identity and MIG mode (temperatures, power,
//! utilization, clocks, PCIe link, modes). Each value is what the backend
//! read, or the NVML error it got (a board without a fan answers
//! `NotSupported` for its speed); a backend that does not read a value at
//! all answers `NotSupported` for it ([`Readings::not_read`]).

use crate::error::NvmlError;

/// One value, or why it could not be read.
pub type Read<T> = Result<T, NvmlError>;

/// Readings of one GPU, units as NVML gives them.
#[derive(Debug, Clone, PartialEq)]
pub struct Readings {
    /// `nvmlDeviceGetSerial`.
    pub serial: Read<String>,
    /// `nvmlDeviceGetVbiosVersion`.
    pub vbios_version: Read<String>,
    /// GPU core temperature, degrees C.
    pub temperature_gpu: Read<u32>,
    /// Memory temperature, degrees C.
    pub temperature_memory: Read<u32>,
    /// Power draw, milliwatts.
    pub power_draw_mw: Read<u32>,
    /// Power limit in force (`nvmlDeviceGetPowerManagementLimit`), mW.
    pub power_limit_mw: Read<u32>,
    /// `nvmlDeviceGetEnforcedPowerLimit`, mW.
    pub enforced_power_limit_mw: Read<u32>,
    /// `nvmlDeviceGetPowerManagementDefaultLimit`, mW.
    pub default_power_limit_mw: Read<u32>,
    /// `nvmlDeviceGetPowerManagementLimitConstraints` (min, max), mW.
    pub power_limit_range_mw: Read<(u32, u32)>,
    /// `nvmlDeviceGetUtilizationRates` (gpu, memory), percent.
    pub utilization: Read<(u32, u32)>,
    /// Fan speed, percent.
    pub fan_percent: Read<u32>,
    /// Performance state, 0 for P0.
    pub pstate: Read<u32>,
    /// Current clocks (graphics, SM, memory, video), MHz.
    pub clocks: [Read<u32>; 4],
    /// Maximum clocks (graphics, SM, memory, video), MHz.
    pub max_clocks: [Read<u32>; 4],
    /// Application clocks (graphics, memory), MHz.
    pub app_clocks: [Read<u32>; 2],
    /// Default application clocks (graphics, memory), MHz.
    pub default_app_clocks: [Read<u32>; 2],
    /// Persistence mode.
    pub persistence: Read<bool>,
    /// `nvmlComputeMode_t`.
    pub compute_mode: Read<u32>,
    /// PCIe link generation: current, maximum of the system's link, maximum
    /// of the GPU.
    pub pcie_gen: [Read<u32>; 3],
    /// PCIe link width: current, maximum.
    pub pcie_width: [Read<u32>; 2],
    /// Memory in use and reserved by the driver, bytes (`nvmlMemory_v2_t`).
    pub memory_used_reserved: Read<(u64, u64)>,
    /// CUDA compute capability (major, minor).
    pub compute_cap: Read<(u32, u32)>,
    /// `nvmlDeviceGetDisplayActive`: a display is initialized on the GPU.
    pub display_active: Read<bool>,
    /// `nvmlDeviceGetEccMode`, current mode: ECC enabled.
    pub ecc_mode: Read<bool>,
    /// `nvmlDeviceGetTotalEccErrors` (uncorrected, volatile) on the GPU's
    /// handle; nvml.h: not supported on a MIG-enabled GPU.
    pub ecc_volatile_uncorrected: Read<u64>,
    /// The same count read through a MIG device's handle, the way nvml.h
    /// says volatile counts are read with MIG enabled.
    pub mig_ecc_volatile_uncorrected: Read<u64>,
    /// `nvmlDeviceGetEccMode`, pending mode: ECC enabled after the next reset.
    pub ecc_mode_pending: Read<bool>,
    /// `nvmlDeviceGetAddressingMode`: `nvmlDeviceAddressingModeType_t`
    /// (0 none, 1 HMM, 2 ATS).
    pub addressing_mode: Read<u32>,
    /// `nvmlDeviceGetAccountingMode`: accounting enabled.
    pub accounting_mode: Read<bool>,
    /// `nvmlDeviceGetAccountingBufferSize`: processes the accounting buffer holds.
    pub accounting_buffer_size: Read<u32>,
    /// `nvmlDeviceGetInforomImageVersion`.
    pub inforom_image_version: Read<String>,
    /// `nvmlDeviceGetInforomVersion` of the OEM, ECC and power management
    /// objects, in that order.
    pub inforom_versions: [Read<String>; 3],
    /// `nvmlDeviceGetEncoderStats`: (sessions, average FPS, average latency
    /// in microseconds).
    pub encoder_stats: Read<(u32, u32, u32)>,
    /// `nvmlDeviceGetPowerManagementMode`: power management enabled.
    pub power_management: Read<bool>,
    /// `NVML_FI_DEV_POWER_AVERAGE` of the GPU scope (`nvmlDeviceGetFieldValues`), mW.
    pub power_draw_average_mw: Read<u32>,
    /// `NVML_FI_DEV_POWER_INSTANT` of the GPU scope (`nvmlDeviceGetFieldValues`), mW.
    pub power_draw_instant_mw: Read<u32>,
    /// `nvmlDeviceGetGspFirmwareMode`: (enabled, enabled by default).
    pub gsp_firmware_mode: Read<(bool, bool)>,
}

impl Readings {
    /// Nothing read: every value `NotSupported`.
    pub fn not_read() -> Readings {
        fn n<T>() -> Read<T> {
            Err(NvmlError::NotSupported)
        }
        Readings {
            serial: n(),
            vbios_version: n(),
            temperature_gpu: n(),
            temperature_memory: n(),
            power_draw_mw: n(),
            power_limit_mw: n(),
            enforced_power_limit_mw: n(),
            default_power_limit_mw: n(),
            power_limit_range_mw: n(),
            utilization: n(),
            fan_percent: n(),
            pstate: n(),
            clocks: [n(), n(), n(), n()],
            max_clocks: [n(), n(), n(), n()],
            app_clocks: [n(), n()],
            default_app_clocks: [n(), n()],
            persistence: n(),
            compute_mode: n(),
            pcie_gen: [n(), n(), n()],
            pcie_width: [n(), n()],
            memory_used_reserved: n(),
            compute_cap: n(),
            display_active: n(),
            ecc_mode: n(),
            ecc_volatile_uncorrected: n(),
            mig_ecc_volatile_uncorrected: n(),
            ecc_mode_pending: n(),
            addressing_mode: n(),
            accounting_mode: n(),
            accounting_buffer_size: n(),
            inforom_image_version: n(),
            inforom_versions: [n(), n(), n()],
            encoder_stats: n(),
            power_management: n(),
            power_draw_average_mw: n(),
            power_draw_instant_mw: n(),
            gsp_firmware_mode: n(),
        }
    }
}
