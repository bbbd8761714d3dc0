//! The PCIe link: generation, width, speed, throughput and replays, from the
//! board facts (`mig_sim::telemetry::board`, data in `catalog/boards.toml`);
//! a board whose link no source gives answers `NOT_SUPPORTED`, as a driver
//! does for a value it lacks. The link runs at its maximum,
//! as on the lent H100 ("PCIe Generation Max 5 Current 5, Link Width 16x").
//! A MIG device shares its parent's link: its handle answers the parent's values.

use crate::call_log::{call, entry};
use crate::errors::{out, Fail, Result, Return};
use crate::machine;
use mig_sim::telemetry::BoardFacts;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::c_uint;

/// Write a fact of the (parent) GPU's link into `p`.
///
/// # Safety
/// `p` is null or valid for a write.
unsafe fn link<T>(
    name: &str,
    device: sys::nvmlDevice_t,
    p: *mut T,
    f: impl FnOnce(&BoardFacts) -> Result<T>,
) -> Return {
    entry(name, || {
        let st = machine::snapshot()?;
        let b = machine::device(&st, device)?.sim_gpu().board();
        let v = f(&b)?;
        *unsafe { out(p) }? = v;
        Ok(())
    })
}

/// Per-lane transfer rate of a PCIe generation, Mbps (PCI-SIG: 2.5, 5, 8,
/// 16, 32, 64 GT/s), as `nvmlDeviceGetPcieSpeed` reports it.
fn lane_mbps(gen: u32) -> u32 {
    match gen {
        1 => 2500,
        2 => 5000,
        3 => 8000,
        4 => 16000,
        5 => 32000,
        _ => 64000,
    }
}

/// `nvmlDeviceGetCurrPcieLinkGeneration`.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetCurrPcieLinkGeneration(
    device: sys::nvmlDevice_t,
    curr_link_gen: *mut c_uint,
) -> Return {
    unsafe {
        link(
            "nvmlDeviceGetCurrPcieLinkGeneration",
            device,
            curr_link_gen,
            |b| b.pcie_gen.ok_or(Fail::NOT_SUPPORTED),
        )
    }
}

/// `nvmlDeviceGetMaxPcieLinkGeneration` (of the system's link).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetMaxPcieLinkGeneration(
    device: sys::nvmlDevice_t,
    max_link_gen: *mut c_uint,
) -> Return {
    unsafe {
        link(
            "nvmlDeviceGetMaxPcieLinkGeneration",
            device,
            max_link_gen,
            |b| b.pcie_gen.ok_or(Fail::NOT_SUPPORTED),
        )
    }
}

/// `nvmlDeviceGetGpuMaxPcieLinkGeneration` (of the GPU).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGpuMaxPcieLinkGeneration(
    device: sys::nvmlDevice_t,
    max_link_gen_device: *mut c_uint,
) -> Return {
    unsafe {
        link(
            "nvmlDeviceGetGpuMaxPcieLinkGeneration",
            device,
            max_link_gen_device,
            |b| b.pcie_gen.ok_or(Fail::NOT_SUPPORTED),
        )
    }
}

/// `nvmlDeviceGetCurrPcieLinkWidth`.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetCurrPcieLinkWidth(
    device: sys::nvmlDevice_t,
    curr_link_width: *mut c_uint,
) -> Return {
    unsafe {
        link(
            "nvmlDeviceGetCurrPcieLinkWidth",
            device,
            curr_link_width,
            |b| b.pcie_width.ok_or(Fail::NOT_SUPPORTED),
        )
    }
}

/// `nvmlDeviceGetMaxPcieLinkWidth`.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetMaxPcieLinkWidth(
    device: sys::nvmlDevice_t,
    max_link_width: *mut c_uint,
) -> Return {
    unsafe {
        link(
            "nvmlDeviceGetMaxPcieLinkWidth",
            device,
            max_link_width,
            |b| b.pcie_width.ok_or(Fail::NOT_SUPPORTED),
        )
    }
}

/// `nvmlDeviceGetPcieSpeed`: per-lane rate of the current generation, Mbps.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetPcieSpeed(
    device: sys::nvmlDevice_t,
    pcie_speed: *mut c_uint,
) -> Return {
    unsafe {
        link("nvmlDeviceGetPcieSpeed", device, pcie_speed, |b| {
            b.pcie_gen.map(lane_mbps).ok_or(Fail::NOT_SUPPORTED)
        })
    }
}

/// `nvmlDeviceGetPcieLinkMaxSpeed`: the per-lane rate of the maximum
/// generation as nvml.h's `NVML_PCIE_LINK_MAX_SPEED_*` code, not in Mbps
/// (`_2500MBPS` 1 for Gen1 up to `_64000MBPS` 6 for Gen6: the code is the
/// generation; the lent H200, Gen5, answered 5, monitoring-probe.json).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetPcieLinkMaxSpeed(
    device: sys::nvmlDevice_t,
    max_speed: *mut c_uint,
) -> Return {
    unsafe {
        link("nvmlDeviceGetPcieLinkMaxSpeed", device, max_speed, |b| {
            let gen = b.pcie_gen.ok_or(Fail::NOT_SUPPORTED)?;
            Ok(gen.clamp(
                sys::NVML_PCIE_LINK_MAX_SPEED_2500MBPS,
                sys::NVML_PCIE_LINK_MAX_SPEED_64000MBPS,
            ))
        })
    }
}

/// `nvmlDeviceGetPcieThroughput`: the simulated TX and RX, KB/s (`migctl
/// sim set pcie-tx= pcie-rx=`; 0 by default, no simulated traffic).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetPcieThroughput(
    device: sys::nvmlDevice_t,
    counter: sys::nvmlPcieUtilCounter_t,
    value: *mut c_uint,
) -> Return {
    call(
        "nvmlDeviceGetPcieThroughput",
        || log_args!(device, counter),
        || {
            let st = machine::snapshot()?;
            let t = &machine::device(&st, device)?.sim_gpu().telemetry;
            let v = match counter {
                0 => t.pcie_tx_kbs,
                1 => t.pcie_rx_kbs,
                _ => return Err(Fail::INVALID_ARGUMENT),
            };
            *unsafe { out(value) }? = v;
            Ok(())
        },
    )
}

/// `nvmlDeviceGetPcieReplayCounter`: 0 (h100_q.txt "Replays Since Reset: 0").
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetPcieReplayCounter(
    device: sys::nvmlDevice_t,
    value: *mut c_uint,
) -> Return {
    unsafe { link("nvmlDeviceGetPcieReplayCounter", device, value, |_| Ok(0)) }
}
