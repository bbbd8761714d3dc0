//! A GPU's details: what `nvidia-smi -q` shows beyond [`Readings`] (brand
//! and architecture, InfoROM versions, part numbers, PCIe counters, BAR1,
//! engine utilization, encoder and FBC statistics, ECC counters, remapped
//! rows, temperature limits, average power, clock event reasons, and the
//! per-MIG-device memory). Read only when `-q` asks for them: each value
//! costs an NVML call on real hardware. Like [`Readings`], each value is
//! what the backend read or the NVML error it got; a backend that reads
//! none answers `NotSupported` for each ([`Details::not_read`]).
//!
//! [`Readings`]: crate::readings::Readings

use crate::error::NvmlError;
use crate::readings::Read;

/// ECC error counts of one kind (volatile or aggregate).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EccSet {
    /// SRAM corrected errors.
    pub sram_corrected: u64,
    /// SRAM uncorrected errors caught by parity.
    pub sram_uncorrected_parity: u64,
    /// SRAM uncorrected errors caught by SEC-DED.
    pub sram_uncorrected_secded: u64,
    /// DRAM corrected errors.
    pub dram_corrected: u64,
    /// DRAM uncorrected errors.
    pub dram_uncorrected: u64,
}

/// ECC error counters (`nvmlDeviceGetSramEccErrorStatus` for SRAM,
/// `nvmlDeviceGetMemoryErrorCounter` at `NVML_MEMORY_LOCATION_DRAM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EccCounts {
    /// Volatile counts; nvml.h: not read through the GPU's handle with MIG
    /// enabled.
    pub volatile: Read<EccSet>,
    pub aggregate: EccSet,
    /// The SRAM error threshold was exceeded.
    pub sram_threshold_exceeded: bool,
    /// Aggregate uncorrected SRAM errors by where they happened: L2, SM,
    /// microcontroller, PCIe, other.
    pub sram_sources: [u64; 5],
}

/// Remapped rows (`nvmlDeviceGetRemappedRows`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemappedRows {
    pub correctable: u32,
    pub uncorrectable: u32,
    /// Rows remapped for errors of a previous, inactive remapping.
    pub inactive_correctable: u32,
    pub inactive_uncorrectable: u32,
    pub pending: bool,
    pub failure: bool,
}

/// One MIG device's memory as `-q` shows it under `MIG Devices`.
#[derive(Debug, Clone, PartialEq)]
pub struct MigDetails {
    /// `nvmlDeviceGetMemoryInfo_v2` on the MIG handle: (total, reserved,
    /// used), bytes.
    pub memory: Read<(u64, u64, u64)>,
    /// `nvmlDeviceGetBAR1MemoryInfo` on the MIG handle: (total, used), bytes.
    pub bar1: Read<(u64, u64)>,
    /// `nvmlDeviceGetTotalEccErrors` (uncorrected, volatile) on the MIG
    /// handle.
    pub ecc_volatile_uncorrected: Read<u64>,
}

/// The `-q` details of one GPU, units as NVML gives them.
#[derive(Debug, Clone, PartialEq)]
pub struct Details {
    /// `nvmlDeviceGetBrand` (`nvmlBrandType_t`).
    pub brand: Read<u32>,
    /// `nvmlDeviceGetArchitecture` (`nvmlDeviceArchitecture_t`).
    pub architecture: Read<u32>,
    /// `nvmlDeviceGetDisplayMode`: a display is attached.
    pub display_mode: Read<bool>,
    /// `nvmlDeviceGetAddressingMode` (0 none, 1 HMM, 2 ATS).
    pub addressing_mode: Read<u32>,
    /// `nvmlDeviceGetAccountingMode`.
    pub accounting_mode: Read<bool>,
    /// `nvmlDeviceGetAccountingBufferSize`.
    pub accounting_buffer_size: Read<u32>,
    /// `nvmlDeviceGetPdi`.
    pub pdi: Read<u64>,
    /// `nvmlDeviceGetMultiGpuBoard`.
    pub multi_gpu_board: Read<bool>,
    /// `nvmlDeviceGetBoardId`.
    pub board_id: Read<u32>,
    /// `nvmlDeviceGetBoardPartNumber`.
    pub board_part_number: Read<String>,
    /// The GPU chip's part number ("GPU Part Number"): no public NVML
    /// getter is known to answer it, so the NVML backend does not read it.
    pub gpu_part_number: Read<String>,
    /// `nvmlDeviceGetModuleId`.
    pub module_id: Read<u32>,
    /// `nvmlDeviceGetInforomImageVersion`.
    pub inforom_image: Read<String>,
    /// `nvmlDeviceGetInforomVersion` of the OEM, ECC and power objects.
    pub inforom_objects: [Read<String>; 3],
    /// `nvmlDeviceGetC2cModeInfoV`: C2C enabled.
    pub c2c_enabled: Read<bool>,
    /// `nvmlDeviceGetVirtualizationMode` (`nvmlGpuVirtualizationMode_t`).
    pub virtualization_mode: Read<u32>,
    /// `NVML_FI_DEV_GET_GPU_RECOVERY_ACTION` (0 none, 1 GPU reset, 2 node
    /// reboot, 3 drain P2P, 4 drain and reset).
    pub recovery_action: Read<u32>,
    /// `nvmlDeviceGetGspFirmwareVersion`.
    pub gsp_firmware: Read<String>,
    /// `nvmlDeviceGetPciInfo_v3`: (device ID, subsystem ID).
    pub pci_ids: Read<(u32, u32)>,
    /// `nvmlDeviceGetPciInfoExt`: (base class, sub class).
    pub pci_class: Read<(u32, u32)>,
    /// `nvmlDeviceGetPcieReplayCounter` and its rollovers
    /// (`NVML_FI_DEV_PCIE_REPLAY_ROLLOVER_COUNTER`).
    pub pcie_replays: Read<(u32, u32)>,
    /// `nvmlDeviceGetPcieThroughput` (TX, RX), KB/s.
    pub pcie_throughput_kbs: Read<(u32, u32)>,
    /// `nvmlDeviceGetCurrentClocksEventReasons` (bit mask).
    pub clocks_event_reasons: Read<u64>,
    /// `nvmlDeviceGetViolationStatus` of the SW power cap, sync boost, SW
    /// thermal, HW thermal and HW power brake policies, microseconds.
    pub violation_us: [Read<u64>; 5],
    /// Sparse operation mode enabled.
    pub sparse_mode: Read<bool>,
    /// `nvmlDeviceGetBAR1MemoryInfo`: (total, used), bytes.
    pub bar1: Read<(u64, u64)>,
    /// `nvmlDeviceGetConfComputeProtectedMemoryUsage`: (total, used), bytes.
    pub protected_memory: Read<(u64, u64)>,
    /// Encoder, decoder, JPEG and OFA utilization, percent.
    pub engine_utilization: [Read<u32>; 4],
    /// `nvmlDeviceGetEncoderStats`: (sessions, average FPS, average latency).
    pub encoder_stats: Read<(u32, u32, u32)>,
    /// `nvmlDeviceGetFBCStats`: (sessions, average FPS, average latency).
    pub fbc_stats: Read<(u32, u32, u32)>,
    /// `nvmlDeviceGetEccMode`, pending mode.
    pub ecc_pending: Read<bool>,
    /// ECC error counters.
    pub ecc: Read<EccCounts>,
    /// `nvmlDeviceGetRepairStatus`: (channel repair, TPC repair) pending.
    pub repair_pending: Read<(bool, bool)>,
    /// `nvmlDeviceGetUnrepairableMemoryFlag_v1`.
    pub unrepairable_memory: Read<bool>,
    /// `nvmlDeviceGetRemappedRows`.
    pub remapped_rows: Read<RemappedRows>,
    /// `nvmlDeviceGetRowRemapperHistogram`: max, high, partial, low, none.
    pub remap_histogram: Read<[u32; 5]>,
    /// `nvmlDeviceGetMarginTemperature`, degrees C.
    pub temperature_margin: Read<i32>,
    /// `nvmlDeviceGetTemperatureThreshold` of shutdown, slowdown and GPU
    /// maximum operating temperature, degrees C.
    pub temperature_thresholds: [Read<u32>; 3],
    /// The memory's maximum operating temperature relative to T.Limit,
    /// degrees C.
    pub memory_tlimit: Read<i32>,
    /// Average power of the GPU (`NVML_FI_DEV_POWER_AVERAGE`), mW.
    pub power_average_mw: Read<u32>,
    /// Average power of the memory (`NVML_FI_DEV_POWER_AVERAGE`, memory
    /// scope), mW.
    pub memory_power_average_mw: Read<u32>,
    /// `nvmlDeviceGetMaxCustomerBoostClock` of graphics, MHz.
    pub max_boost_clock_mhz: Read<u32>,
    /// `nvmlDeviceGetSupportedMemoryClocks`, MHz, in the driver's order.
    pub supported_memory_clocks_mhz: Read<Vec<u32>>,
    /// Extended GPU memory (EGM) enabled (`nvmlDeviceGetCapabilities`).
    pub egm: Read<bool>,
    /// One per MIG device, in the order of `Inventory::mig_devices`.
    pub migs: Vec<MigDetails>,
}

impl Details {
    /// Nothing read: every value `NotSupported`, no MIG device.
    pub fn not_read() -> Details {
        fn n<T>() -> Read<T> {
            Err(NvmlError::NotSupported)
        }
        Details {
            brand: n(),
            architecture: n(),
            display_mode: n(),
            addressing_mode: n(),
            accounting_mode: n(),
            accounting_buffer_size: n(),
            pdi: n(),
            multi_gpu_board: n(),
            board_id: n(),
            board_part_number: n(),
            gpu_part_number: n(),
            module_id: n(),
            inforom_image: n(),
            inforom_objects: [n(), n(), n()],
            c2c_enabled: n(),
            virtualization_mode: n(),
            recovery_action: n(),
            gsp_firmware: n(),
            pci_ids: n(),
            pci_class: n(),
            pcie_replays: n(),
            pcie_throughput_kbs: n(),
            clocks_event_reasons: n(),
            violation_us: [n(), n(), n(), n(), n()],
            sparse_mode: n(),
            bar1: n(),
            protected_memory: n(),
            engine_utilization: [n(), n(), n(), n()],
            encoder_stats: n(),
            fbc_stats: n(),
            ecc_pending: n(),
            ecc: n(),
            repair_pending: n(),
            unrepairable_memory: n(),
            remapped_rows: n(),
            remap_histogram: n(),
            temperature_margin: n(),
            temperature_thresholds: [n(), n(), n()],
            memory_tlimit: n(),
            power_average_mw: n(),
            memory_power_average_mw: n(),
            max_boost_clock_mhz: n(),
            supported_memory_clocks_mhz: n(),
            egm: n(),
            migs: Vec::new(),
        }
    }
}
