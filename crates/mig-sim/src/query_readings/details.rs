//! The simulated GPUs' details for `Inventory::details` (what `migctl -q`
//! shows beyond the readings): the values the fake `libnvidia-ml.so.1`
//! answers for the NVML calls behind each `-q` field, read from the GPU's
//! telemetry ([`crate::telemetry`], set by `migctl sim set`), its board facts
//! (`catalog/boards.toml`, each with its source) and its MIG layout. A fact
//! no source gives is `NotSupported`, which `-q` prints as N/A.

use super::clocks::{self, Which};
use crate::state::SimGpu;
use mig_model::backend::MigDeviceInfo;
use mig_model::catalog::Architecture;
use mig_model::details::{Details, EccCounts, EccSet, MigDetails, RemappedRows};
use mig_model::NvmlError;

const MIB: u64 = 1 << 20;

/// The `nvmlBrandType_t` every simulated board answers: `NVML_BRAND_NVIDIA`
/// (14), what the lent H100 ("Product Brand: NVIDIA") and H200 (probe: 14)
/// reported.
pub const BRAND_NVIDIA: u32 = 14;

/// The accounting buffer size every simulated board answers (h100_q.txt and
/// the H200 probe: 4000).
pub const ACCOUNTING_BUFFER: u32 = 4000;

/// `nvmlDeviceArchitecture_t` of a catalog architecture.
pub fn architecture(a: Architecture) -> u32 {
    match a {
        Architecture::Ampere => 7,
        Architecture::Hopper => 9,
        Architecture::Blackwell => 10,
    }
}

/// The frame buffer the driver reserves, bytes, where a capture of the
/// model gives it.
/// Time clocks were held back, microseconds, by cause: SW power cap, sync
/// boost, SW thermal, HW thermal, HW power brake (the `-q` "Clocks Event
/// Reasons Counters" order; NVML's `NVML_FI_DEV_CLOCKS_EVENT_REASON_*`
/// fields 74, 76, 251, 252, 253 in nanoseconds). The simulator models no
/// throttling: 0, what the lent H100 and H200 showed at idle (`0 us`).
pub fn violation_us(_g: &SimGpu) -> [u64; 5] {
    [0; 5]
}

/// Whether C2C is enabled: disabled on a PCIe-attached board (the lent H100
/// and H200); `NotSupported` on a board the catalog gives an NVLink-C2C
/// link (GH200, GB200), whose answer no capture shows.
pub fn c2c_enabled(g: &SimGpu) -> Result<bool, NvmlError> {
    match g.board().catalog.c2c_link.as_ref() {
        Some(f) if f.value => Err(NvmlError::NotSupported),
        _ => Ok(false),
    }
}

pub fn fb_reserved(g: &SimGpu) -> Result<u64, NvmlError> {
    g.board()
        .measured
        .and_then(|m| m.fb_reserved_kib)
        .map(|k| k * 1024)
        .ok_or(NvmlError::NotSupported)
}

/// The ECC counters of a GPU from its simulated counts: SRAM uncorrected
/// errors count as SEC-DED ones and come from the "other" source; volatile
/// and aggregate agree (the simulated driver never reloads), but volatile
/// ones are not read through the GPU's handle with MIG enabled (nvml.h).
pub fn ecc_counts(g: &SimGpu) -> EccCounts {
    let e = g.telemetry.ecc;
    let set = EccSet {
        sram_corrected: e.sram_corrected,
        sram_uncorrected_parity: 0,
        sram_uncorrected_secded: e.sram_uncorrected,
        dram_corrected: e.dram_corrected,
        dram_uncorrected: e.dram_uncorrected,
    };
    EccCounts {
        volatile: if g.mig_current {
            Err(NvmlError::NotSupported)
        } else {
            Ok(set)
        },
        aggregate: set,
        sram_threshold_exceeded: false,
        sram_sources: [0, 0, 0, 0, e.sram_uncorrected],
    }
}

/// Details of GPU `g` whose MIG devices are `migs` (`crate::mig_devices_of`).
pub fn details(g: &SimGpu, migs: &[MigDeviceInfo]) -> Details {
    let b = g.board();
    let t = &g.telemetry;
    let m = b.measured;
    let no = NvmlError::NotSupported;
    let measured = |f: fn(&crate::telemetry::Measured) -> Option<String>| m.and_then(f).ok_or(no);
    let mut d = Details::not_read();
    d.brand = Ok(BRAND_NVIDIA);
    d.architecture = Ok(architecture(g.model().architecture));
    // what the fake library answers (nvml-shim modes.rs, board_info.rs)
    d.display_mode = Ok(true);
    d.addressing_mode = Ok(0);
    d.accounting_mode = Ok(false);
    d.accounting_buffer_size = Ok(ACCOUNTING_BUFFER);
    d.pdi = Ok(g.pdi);
    d.multi_gpu_board = Ok(false);
    d.board_id = m.map(|m| m.board_id).ok_or(no);
    d.board_part_number = measured(|m| Some(m.board_part_number.clone()));
    d.gpu_part_number = measured(|m| m.gpu_part_number.clone());
    d.module_id = m.and_then(|m| m.module_id).ok_or(no);
    d.inforom_image = measured(|m| Some(m.inforom_image_version.clone()));
    d.inforom_objects = [
        measured(|m| m.inforom_oem.clone()),
        measured(|m| m.inforom_ecc.clone()),
        Err(no),
    ];
    d.c2c_enabled = c2c_enabled(g);
    d.virtualization_mode = Ok(t.virtualization.nvml());
    d.recovery_action = Ok(0);
    d.gsp_firmware = Ok(crate::state::DRIVER_VERSION.into());
    d.pci_ids = Ok((
        (u32::from(g.model().pci_device_id) << 16) | 0x10DE,
        g.model().pci_subsystem_id,
    ));
    d.pci_class = m.and_then(|m| m.pci_class).map(|[b, s]| (b, s)).ok_or(no);
    d.pcie_replays = Ok((0, 0));
    d.pcie_throughput_kbs = Ok((t.pcie_tx_kbs, t.pcie_rx_kbs));
    d.clocks_event_reasons = Ok(clocks::event_reasons(g));
    d.violation_us = violation_us(g).map(Ok);
    d.sparse_mode = Ok(false);
    d.bar1 = b.bar1_mib.map(|t| (t * MIB, MIB)).ok_or(no);
    d.protected_memory = Ok((0, 0));
    d.engine_utilization = if g.mig_current {
        [Err(no), Err(no), Err(no), Err(no)]
    } else {
        [Ok(0), Ok(0), Ok(0), Ok(0)]
    };
    d.encoder_stats = Ok((0, 0, 0));
    d.fbc_stats = Ok((0, 0, 0));
    d.ecc_pending = Ok(true);
    d.ecc = Ok(ecc_counts(g));
    d.repair_pending = Ok((false, false));
    d.unrepairable_memory = Ok(false);
    d.remapped_rows = Ok(RemappedRows::default());
    d.remap_histogram = m.map(|m| [m.remap_banks, 0, 0, 0, 0]).ok_or(no);
    d.temperature_margin = b
        .temp_gpu_max_c
        .map(|max| max as i32 - t.temperature_c as i32)
        .ok_or(no);
    let opt = |v: Option<u32>| v.ok_or(no);
    d.temperature_thresholds = [
        opt(b.temp_shutdown_c),
        opt(b.temp_slowdown_c),
        opt(b.temp_gpu_max_c),
    ];
    d.memory_tlimit = m.and_then(|m| m.memory_tlimit_c).ok_or(no);
    d.power_average_mw = Ok(t.power_average_mw);
    d.memory_power_average_mw = Ok(t.memory_power_mw);
    d.max_boost_clock_mhz = clocks::clock(g, 0, Which::CustomerBoost);
    // what the fake library's nvmlDeviceGetSupportedMemoryClocks answers
    d.supported_memory_clocks_mhz = clocks::probed(g).map(|p| p.memory_clocks_mhz.clone());
    d.egm = Ok(false);
    d.migs = migs
        .iter()
        .map(|info| MigDetails {
            memory: Ok((info.memory_mb * MIB, 0, info.memory_used_mb * MIB)),
            bar1: b
                .catalog
                .mig_bar1_mib(info.memory_mb)
                .map(|t| (t * MIB, 0))
                .ok_or(no),
            ecc_volatile_uncorrected: Ok(t.ecc.uncorrected()),
        })
        .collect();
    d
}
