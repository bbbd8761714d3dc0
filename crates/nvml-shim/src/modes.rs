//! Modes and health of a board: persistence and compute mode (modelled,
//! `migctl sim set` changes them), ECC mode and error counters, display,
//! accounting, virtualization and brand. Values are those of the lent H100
//! (`shared/reference/h100-80gb-hbm3/h100_q.txt`, driver 580.159.04) unless
//! a line says otherwise; a MIG device handle answers its parent's mode.

use crate::call_log::{call, entry};
use crate::errors::{out, Fail, Result, Return};
use crate::machine::{self, Device};
use mig_sim::SimGpu;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::{c_uint, c_ulonglong};

/// `NVML_FEATURE_ENABLED` / `_DISABLED`.
const ENABLED: sys::nvmlEnableState_t = 1;
const DISABLED: sys::nvmlEnableState_t = 0;

/// Write a value of the (parent) GPU into `p`; `mig` says whether the
/// handle was a MIG device.
///
/// # Safety
/// `p` is null or valid for a write.
unsafe fn mode<T>(
    name: &str,
    device: sys::nvmlDevice_t,
    p: *mut T,
    f: impl FnOnce(&SimGpu, bool) -> Result<T>,
) -> Return {
    entry(name, || {
        let st = machine::snapshot()?;
        let d = machine::device(&st, device)?;
        let v = f(d.sim_gpu(), matches!(d, Device::Mig { .. }))?;
        *unsafe { out(p) }? = v;
        Ok(())
    })
}

/// Two outputs of the (parent) GPU, as `(current, pending)` pairs are.
unsafe fn pair<T>(
    name: &str,
    device: sys::nvmlDevice_t,
    a: *mut T,
    b: *mut T,
    f: impl FnOnce(&SimGpu) -> (T, T),
) -> Return {
    entry(name, || {
        let st = machine::snapshot()?;
        let (x, y) = f(machine::device(&st, device)?.sim_gpu());
        let (a, b) = (unsafe { out(a) }?, unsafe { out(b) }?);
        (*a, *b) = (x, y);
        Ok(())
    })
}

/// `nvmlDeviceGetPersistenceMode`: modelled (default Enabled, as the lent boards).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetPersistenceMode(
    device: sys::nvmlDevice_t,
    mode_out: *mut sys::nvmlEnableState_t,
) -> Return {
    unsafe {
        mode("nvmlDeviceGetPersistenceMode", device, mode_out, |g, _| {
            Ok(if g.telemetry.persistence {
                ENABLED
            } else {
                DISABLED
            })
        })
    }
}

/// `nvmlDeviceGetComputeMode`: modelled (default `NVML_COMPUTEMODE_DEFAULT`).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetComputeMode(
    device: sys::nvmlDevice_t,
    mode_out: *mut sys::nvmlComputeMode_t,
) -> Return {
    unsafe {
        mode("nvmlDeviceGetComputeMode", device, mode_out, |g, _| {
            Ok(g.telemetry.compute_mode.nvml())
        })
    }
}

/// `nvmlDeviceGetDisplayMode`: Enabled, what the lent H200 answered
/// (monitoring-probe.json: 1; nvidia-smi prints it as "Display Attached:
/// Yes", h100_q.txt, while its "Display Mode" line, from another call, says
/// "deprecated").
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetDisplayMode(
    device: sys::nvmlDevice_t,
    display: *mut sys::nvmlEnableState_t,
) -> Return {
    unsafe {
        mode("nvmlDeviceGetDisplayMode", device, display, |_, _| {
            Ok(ENABLED)
        })
    }
}

/// `nvmlDeviceGetDisplayActive`: Disabled (h100_q.txt).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetDisplayActive(
    device: sys::nvmlDevice_t,
    is_active: *mut sys::nvmlEnableState_t,
) -> Return {
    unsafe {
        mode("nvmlDeviceGetDisplayActive", device, is_active, |_, _| {
            Ok(DISABLED)
        })
    }
}

/// `nvmlDeviceGetEccMode`: Enabled, Enabled (h100_q.txt "ECC Mode").
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetEccMode(
    device: sys::nvmlDevice_t,
    current: *mut sys::nvmlEnableState_t,
    pending: *mut sys::nvmlEnableState_t,
) -> Return {
    unsafe {
        pair("nvmlDeviceGetEccMode", device, current, pending, |_| {
            (ENABLED, ENABLED)
        })
    }
}

/// `nvmlDeviceGetDefaultEccMode`: Enabled.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetDefaultEccMode(
    device: sys::nvmlDevice_t,
    default_mode: *mut sys::nvmlEnableState_t,
) -> Return {
    unsafe {
        mode(
            "nvmlDeviceGetDefaultEccMode",
            device,
            default_mode,
            |_, _| Ok(ENABLED),
        )
    }
}

/// ECC counters: the simulated counts (`migctl sim set ecc-...`, all 0 by
/// default as h100_q.txt "ECC Errors"), volatile and aggregate alike, of
/// SRAM and DRAM together, or of one `location` (`NVML_MEMORY_LOCATION_SRAM`
/// 7, `_DRAM` 2; 0 elsewhere). nvml.h: "Querying
/// volatile errors using device handles is currently not supported" on a
/// MIG-enabled GPU, so that is `NOT_SUPPORTED`.
fn ecc_count(
    g: &SimGpu,
    mig: bool,
    error_type: sys::nvmlMemoryErrorType_t,
    counter: sys::nvmlEccCounterType_t,
    location: Option<sys::nvmlMemoryLocation_t>,
) -> Result<c_ulonglong> {
    if error_type > 1 || counter > 1 {
        return Err(Fail::INVALID_ARGUMENT);
    }
    if g.mig_current && !mig && counter == 0 {
        return Err(Fail::NOT_SUPPORTED);
    }
    let e = g.telemetry.ecc;
    let (sram, dram) = if error_type == 0 {
        (e.sram_corrected, e.dram_corrected)
    } else {
        (e.sram_uncorrected, e.dram_uncorrected)
    };
    Ok(match location {
        None => sram + dram,
        Some(7) => sram,
        Some(2) => dram,
        Some(_) => 0,
    })
}

/// `nvmlDeviceGetTotalEccErrors`: 0, see `ecc_count`.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetTotalEccErrors(
    device: sys::nvmlDevice_t,
    error_type: sys::nvmlMemoryErrorType_t,
    counter_type: sys::nvmlEccCounterType_t,
    ecc_counts: *mut c_ulonglong,
) -> Return {
    unsafe {
        mode(
            "nvmlDeviceGetTotalEccErrors",
            device,
            ecc_counts,
            |g, mig| ecc_count(g, mig, error_type, counter_type, None),
        )
    }
}

/// `nvmlDeviceGetMemoryErrorCounter`: 0 at every location, see `ecc_count`.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetMemoryErrorCounter(
    device: sys::nvmlDevice_t,
    error_type: sys::nvmlMemoryErrorType_t,
    counter_type: sys::nvmlEccCounterType_t,
    location: sys::nvmlMemoryLocation_t,
    count: *mut c_ulonglong,
) -> Return {
    unsafe {
        mode(
            "nvmlDeviceGetMemoryErrorCounter",
            device,
            count,
            |g, mig| {
                if location >= sys::nvmlMemoryLocation_enum_NVML_MEMORY_LOCATION_COUNT {
                    return Err(Fail::INVALID_ARGUMENT);
                }
                ecc_count(g, mig, error_type, counter_type, Some(location))
            },
        )
    }
}

/// `nvmlDeviceGetRemappedRows`: none remapped, none pending, no failure
/// (h100_q.txt "Remapped Rows").
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetRemappedRows(
    device: sys::nvmlDevice_t,
    corr_rows: *mut c_uint,
    unc_rows: *mut c_uint,
    is_pending: *mut c_uint,
    failure_occurred: *mut c_uint,
) -> Return {
    call(
        "nvmlDeviceGetRemappedRows",
        || log_args!(device),
        || {
            let st = machine::snapshot()?;
            machine::device(&st, device)?;
            for p in [corr_rows, unc_rows, is_pending, failure_occurred] {
                *unsafe { out(p) }? = 0;
            }
            Ok(())
        },
    )
}

/// `nvmlDeviceGetAccountingMode`: Disabled (h100_q.txt).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetAccountingMode(
    device: sys::nvmlDevice_t,
    mode_out: *mut sys::nvmlEnableState_t,
) -> Return {
    unsafe {
        mode("nvmlDeviceGetAccountingMode", device, mode_out, |_, _| {
            Ok(DISABLED)
        })
    }
}

/// `nvmlDeviceGetAccountingBufferSize`: 4000 (h100_q.txt).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetAccountingBufferSize(
    device: sys::nvmlDevice_t,
    buffer_size: *mut c_uint,
) -> Return {
    unsafe {
        mode(
            "nvmlDeviceGetAccountingBufferSize",
            device,
            buffer_size,
            |_, _| Ok(4000),
        )
    }
}

/// `nvmlDeviceGetVirtualizationMode`: the simulated host's (`migctl sim set
/// virtualization=`): by default `NVML_GPU_VIRTUALIZATION_MODE_NONE`, a
/// bare-metal host (the lent H100 was a pass-through VM guest and reported
/// Pass-Through).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetVirtualizationMode(
    device: sys::nvmlDevice_t,
    mode_out: *mut sys::nvmlGpuVirtualizationMode_t,
) -> Return {
    unsafe {
        mode(
            "nvmlDeviceGetVirtualizationMode",
            device,
            mode_out,
            |g, _| Ok(g.telemetry.virtualization.nvml()),
        )
    }
}

/// `nvmlDeviceGetBrand`: `NVML_BRAND_NVIDIA` (h100_q.txt "Product Brand: NVIDIA").
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetBrand(
    device: sys::nvmlDevice_t,
    brand: *mut sys::nvmlBrandType_t,
) -> Return {
    unsafe {
        mode("nvmlDeviceGetBrand", device, brand, |_, _| {
            Ok(sys::nvmlBrandType_enum_NVML_BRAND_NVIDIA)
        })
    }
}

/// `nvmlDeviceGetAccountingPids`: none: accounting is disabled (see
/// `nvmlDeviceGetAccountingMode`), so no process was accounted (the lent
/// H200 answered an empty list). nvml.h: `*count` is the array's size on
/// input and the number of pids on output; a null `count` is `INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetAccountingPids(
    device: sys::nvmlDevice_t,
    count: *mut c_uint,
    pids: *mut c_uint,
) -> Return {
    call(
        "nvmlDeviceGetAccountingPids",
        || log_args!(device),
        || {
            let count = unsafe { out(count) }?;
            let st = machine::snapshot()?;
            machine::device(&st, device)?;
            let _ = pids; // nothing to write: no pid was accounted
            *count = 0;
            Ok(())
        },
    )
}

/// `nvmlRepairStatus_t` (nvml.h, API 13; not in the bindings).
#[repr(C)]
pub struct RepairStatus {
    pub version: c_uint,
    pub channel_repair_pending: c_uint,
    pub tpc_repair_pending: c_uint,
}

/// `NVML_STRUCT_VERSION(RepairStatus, 1)`.
const REPAIR_STATUS_V1: c_uint = 0x0100_000C;

/// `nvmlDeviceGetRepairStatus`: no channel or TPC repair pending, a healthy
/// board (the lent H200 answered 0, 0); struct version checked.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetRepairStatus(
    device: sys::nvmlDevice_t,
    repair_status: *mut RepairStatus,
) -> Return {
    call(
        "nvmlDeviceGetRepairStatus",
        || log_args!(device),
        || {
            let r = unsafe { crate::errors::versioned(repair_status, REPAIR_STATUS_V1) }?;
            let st = machine::snapshot()?;
            machine::device(&st, device)?;
            (r.channel_repair_pending, r.tpc_repair_pending) = (0, 0);
            Ok(())
        },
    )
}

/// `nvmlUnrepairableMemory_v1_t` (nvml.h, API 13; not in the bindings).
#[repr(C)]
pub struct UnrepairableMemory {
    pub version: c_uint,
    pub unrepairable_memory: c_uint,
}

/// `NVML_STRUCT_VERSION(UnrepairableMemory, 1)`.
const UNREPAIRABLE_MEMORY_V1: c_uint = 0x0100_0008;

/// `nvmlDeviceGetUnrepairableMemoryFlag_v1`: 0, no unrepairable memory (the
/// lent H200 answered 0; the ECC counters are 0); struct version checked.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetUnrepairableMemoryFlag_v1(
    device: sys::nvmlDevice_t,
    status: *mut UnrepairableMemory,
) -> Return {
    call(
        "nvmlDeviceGetUnrepairableMemoryFlag_v1",
        || log_args!(device),
        || {
            let u = unsafe { crate::errors::versioned(status, UNREPAIRABLE_MEMORY_V1) }?;
            let st = machine::snapshot()?;
            machine::device(&st, device)?;
            u.unrepairable_memory = 0;
            Ok(())
        },
    )
}

/// `nvmlDeviceGetRowRemapperHistogram`: every bank available (`max` the
/// measured board's bank count: 3072 on the lent H200, 2560 on the lent H100,
/// "Bank Remap Availability Histogram"; high, partial, low, none 0, as no
/// row is remapped); models no real board was read of `NOT_SUPPORTED`.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetRowRemapperHistogram(
    device: sys::nvmlDevice_t,
    values: *mut sys::nvmlRowRemapperHistogramValues_t,
) -> Return {
    unsafe {
        mode(
            "nvmlDeviceGetRowRemapperHistogram",
            device,
            values,
            |g, _| {
                let m = g.board().measured.ok_or(Fail::NOT_SUPPORTED)?;
                Ok(sys::nvmlRowRemapperHistogramValues_t {
                    max: m.remap_banks,
                    high: 0,
                    partial: 0,
                    low: 0,
                    none: 0,
                })
            },
        )
    }
}

/// `nvmlDeviceGetConfComputeMemSizeInfo`: confidential computing is off (see
/// `nvmlSystemGetConfComputeState`), so no memory is protected and all of
/// it is unprotected: the total `nvmlDeviceGetMemoryInfo_v2` reports less
/// its reserved part, in KiB (the lent H200: protected 0, unprotected its
/// total less the reserved 615 MiB).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetConfComputeMemSizeInfo(
    device: sys::nvmlDevice_t,
    mem_info: *mut sys::nvmlConfComputeMemSizeInfo_t,
) -> Return {
    unsafe {
        mode(
            "nvmlDeviceGetConfComputeMemSizeInfo",
            device,
            mem_info,
            |g, _| {
                // the simulator reserves none of the board's memory (device.rs)
                Ok(sys::nvmlConfComputeMemSizeInfo_t {
                    protectedMemSizeKib: 0,
                    unprotectedMemSizeKib: g.model().memory_total_bytes / 1024,
                })
            },
        )
    }
}

/// `nvmlDeviceGetConfComputeProtectedMemoryUsage`: 0 total, used, free: no
/// protected memory with confidential computing off (h100_q.txt "Conf
/// Compute Protected Memory Usage: 0 MiB"; the lent H200 answered 0s).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetConfComputeProtectedMemoryUsage(
    device: sys::nvmlDevice_t,
    memory: *mut sys::nvmlMemory_t,
) -> Return {
    unsafe {
        mode(
            "nvmlDeviceGetConfComputeProtectedMemoryUsage",
            device,
            memory,
            |_, _| {
                Ok(sys::nvmlMemory_t {
                    total: 0,
                    free: 0,
                    used: 0,
                })
            },
        )
    }
}

/// `nvmlDeviceGetConfComputeGpuCertificate`: `NVML_ERROR_UNKNOWN`, what the
/// lent H200 answered with confidential computing off (monitoring-probe.json);
/// nothing is written.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetConfComputeGpuCertificate(
    device: sys::nvmlDevice_t,
    gpu_cert: *mut sys::nvmlConfComputeGpuCertificate_t,
) -> Return {
    call(
        "nvmlDeviceGetConfComputeGpuCertificate",
        || log_args!(device),
        || {
            unsafe { out(gpu_cert) }?;
            let st = machine::snapshot()?;
            machine::device(&st, device)?;
            Err(Fail::UNKNOWN)
        },
    )
}

/// `nvmlDeviceGetLastBBXFlushTime`: `NVML_ERROR_NOT_READY`: the InfoROM
/// black box has not been flushed since boot (the lent H200 answered "System
/// is not in ready state"; the lent H100 printed "Inforom BBX Object Flush /
/// Latest Timestamp: N/A").
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetLastBBXFlushTime(
    device: sys::nvmlDevice_t,
    timestamp: *mut c_ulonglong,
    duration_us: *mut std::ffi::c_ulong,
) -> Return {
    call(
        "nvmlDeviceGetLastBBXFlushTime",
        || log_args!(device),
        || {
            unsafe { out(timestamp) }?;
            unsafe { out(duration_us) }?;
            let st = machine::snapshot()?;
            machine::device(&st, device)?;
            Err(Fail::NOT_READY)
        },
    )
}

/// `nvmlDeviceGetBBXTimeData_v1`: `NOT_SUPPORTED` with the handle checked,
/// because the real 580.159.04 library lacks this symbol (pynvml answered
/// "Function Not Found" on the lent H200, monitoring-probe.json) and so has
/// no answer to copy, while nvml.h (API 13) declares it and a client linked
/// against that header must not die with "undefined symbol".
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetBBXTimeData_v1(
    device: sys::nvmlDevice_t,
    time_data: *mut std::ffi::c_void,
) -> Return {
    call(
        "nvmlDeviceGetBBXTimeData_v1",
        || log_args!(device),
        || {
            let _ = time_data;
            let st = machine::snapshot()?;
            machine::device(&st, device)?;
            Err(Fail::NOT_SUPPORTED)
        },
    )
}

/// `nvmlDeviceGetGridLicensableFeatures_v4`: no vGPU licence support on a
/// bare-metal board: `isGridLicenseSupported` 0, no features, every field 0
/// (the lent H200 answered so, monitoring-probe.json). Only the `_v4`
/// symbol, whose struct the bindings describe; the older symbols took
/// smaller structs and stay unmodelled.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGridLicensableFeatures_v4(
    device: sys::nvmlDevice_t,
    features: *mut sys::nvmlGridLicensableFeatures_t,
) -> Return {
    call(
        "nvmlDeviceGetGridLicensableFeatures_v4",
        || log_args!(device),
        || {
            let f = unsafe { out(features) }?;
            let st = machine::snapshot()?;
            machine::device(&st, device)?;
            // SAFETY: the struct is plain integers and char arrays, all-zero valid.
            *f = unsafe { std::mem::zeroed() };
            Ok(())
        },
    )
}
