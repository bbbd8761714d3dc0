//! The simulated GPUs' readings for `Inventory::readings` (what `migctl
//! --query-gpu` shows): the same values the fake `libnvidia-ml.so.1` answers
//! for the NVML calls behind each (`nvml-shim`'s sensors, modes, pcie and
//! board_info modules), read from [`crate::telemetry`] and the board facts.
//! The real nvidia-smi's goldens recorded over that library check that both
//! agree (`crates/migctl/tests/real_smi.rs`). Its submodules hold what the
//! library reads of the machine for its own calls: [`lookup`] (GPUs,
//! instances and MIG devices by the identifiers clients name them with),
//! [`clocks`] and [`topology`] (CPU affinity, PCIe paths, P2P, NVLink).

pub mod clocks;
pub mod details;
pub mod lookup;
pub mod topology;

use crate::state::{MachineState, SimGpu};
use mig_model::readings::Readings;
use mig_model::NvmlError;

/// `nvmlDeviceGetAccountingBufferSize` of the measured H100
/// (`shared/reference/h100-80gb-hbm3/h100_q.txt`: "Accounting Mode Buffer
/// Size : 4000"), as the fake library answers it for every board.
pub const ACCOUNTING_BUFFER_SIZE: u32 = 4000;

/// Serial numbers have 13 digits.
const SERIAL_DIGITS: u64 = 10_000_000_000_000;

/// A board's serial number from its PDI: 13 decimal digits, stable per
/// board (`nvmlDeviceGetSerial`).
pub fn serial(pdi: u64) -> String {
    format!("{:013}", pdi % SERIAL_DIGITS)
}

/// Readings of GPU `index`.
pub(crate) fn readings(st: &MachineState, index: u32, g: &SimGpu) -> Readings {
    let b = g.board();
    let t = &g.telemetry;
    let no = || Err(NvmlError::NotSupported);
    // a board fact with no source is answered as the driver answers a
    // missing value (catalog/boards.toml)
    let opt = |v: Option<u32>| v.ok_or(NvmlError::NotSupported);
    let used: u64 = st.processes_on(index).map(|p| p.used_memory_mb << 20).sum();
    Readings {
        serial: Ok(serial(g.pdi)),
        vbios_version: b
            .measured
            .map(|m| m.vbios_version.to_string())
            .ok_or(NvmlError::NotSupported),
        temperature_gpu: Ok(t.temperature_c),
        temperature_memory: Ok(t.memory_temperature_c),
        power_draw_mw: Ok(t.power_mw),
        power_limit_mw: opt(g.power_limit_mw()),
        enforced_power_limit_mw: opt(g.power_limit_mw()),
        default_power_limit_mw: opt(b.power_max_mw),
        power_limit_range_mw: opt(b.power_min_mw).and_then(|lo| Ok((lo, opt(b.power_max_mw)?))),
        // nvml.h: utilization is not reported with MIG enabled
        utilization: if g.mig_current {
            no()
        } else {
            Ok((t.utilization_gpu, t.utilization_memory))
        },
        fan_percent: if b.has_fan {
            Ok(t.fan_percent)
        } else {
            Err(NvmlError::NotSupported)
        },
        pstate: Ok(0),
        clocks: [
            opt(g.sm_clock_mhz()),
            opt(g.sm_clock_mhz()),
            opt(b.mem_clock_mhz),
            opt(b.idle_video_clock_mhz),
        ],
        max_clocks: [
            opt(b.max_sm_clock_mhz),
            opt(b.max_sm_clock_mhz),
            opt(b.mem_clock_mhz),
            opt(b.max_video_clock_mhz),
        ],
        app_clocks: [opt(b.max_sm_clock_mhz), opt(b.mem_clock_mhz)],
        default_app_clocks: [opt(b.max_sm_clock_mhz), opt(b.mem_clock_mhz)],
        persistence: Ok(t.persistence),
        compute_mode: Ok(t.compute_mode.nvml()),
        pcie_gen: [opt(b.pcie_gen), opt(b.pcie_gen), opt(b.pcie_gen)],
        pcie_width: [opt(b.pcie_width), opt(b.pcie_width)],
        // the reserved frame buffer where a capture of the model gives it
        memory_used_reserved: Ok((used, details::fb_reserved(g).unwrap_or(0))),
        compute_cap: {
            let [ma, mi] = g.model().compute_capability;
            Ok((ma, mi))
        },
        // data-center boards drive no display; ECC is on and has counted
        // no error (what the fake library answers: nvml-shim's modes.rs,
        // from h100_q.txt)
        display_active: Ok(false),
        ecc_mode: Ok(true),
        ecc_volatile_uncorrected: if g.mig_current {
            Err(NvmlError::NotSupported)
        } else {
            Ok(t.ecc.uncorrected())
        },
        mig_ecc_volatile_uncorrected: Ok(t.ecc.uncorrected()),
        // the modes h100_q.txt shows and the fake library answers
        // (nvml-shim's modes, sensors, board_info and media modules):
        // ECC pending Enabled, addressing mode None, accounting Disabled
        // with a 4000-process buffer, power management Enabled, GSP
        // firmware enabled (and so by default), no encoder session
        ecc_mode_pending: Ok(true),
        addressing_mode: Ok(0),
        accounting_mode: Ok(false),
        accounting_buffer_size: Ok(ACCOUNTING_BUFFER_SIZE),
        inforom_image_version: b
            .measured
            .map(|m| m.inforom_image_version.to_string())
            .ok_or(NvmlError::NotSupported),
        // the OEM and ECC objects a capture of the model gives (the same
        // facts as the -q details); no capture shows a power object
        inforom_versions: [
            b.measured
                .and_then(|m| m.inforom_oem.clone())
                .ok_or(NvmlError::NotSupported),
            b.measured
                .and_then(|m| m.inforom_ecc.clone())
                .ok_or(NvmlError::NotSupported),
            Err(NvmlError::NotSupported),
        ],
        encoder_stats: Ok((0, 0, 0)),
        power_management: Ok(true),
        // the average is its own reading (the -q details' and the fake
        // library's NVML_FI_DEV_POWER_AVERAGE); the instant one is current
        power_draw_average_mw: Ok(t.power_average_mw),
        power_draw_instant_mw: Ok(t.power_mw),
        gsp_firmware_mode: Ok((true, true)),
    }
}
