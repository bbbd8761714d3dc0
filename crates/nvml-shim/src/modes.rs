//! Modes and health of a board: persistence and compute mode (modelled,
//! `migctl sim set` changes them), ECC mode and error counters, display,
//! accounting, virtualization and brand. Values are those of the lent H100
//! (`shared/reference/h100-80gb-hbm3/h100_q.txt`, driver 580.159.04) unless
//! a line says otherwise; a MIG device handle answers its parent's mode.

use crate::errors::{call, entry, out, Fail, Result, Return};
use crate::machine::{self, Device};
use mig_sim::SimGpu;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::{c_uint, c_ulonglong};

/// `NVML_FEATURE_ENABLED` / `_DISABLED`.
const ENABLED: sys::nvmlEnableState_t = 1;
const DISABLED: sys::nvmlEnableState_t = 0;
/// `NVML_ERROR_DEPRECATED`.
const DEPRECATED: Fail = Fail(sys::nvmlReturn_enum_NVML_ERROR_DEPRECATED);

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

/// `nvmlDeviceGetDisplayMode`: `NVML_ERROR_DEPRECATED`, as R580 answers
/// (h100_q.txt "Display Mode: Requested functionality has been deprecated").
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetDisplayMode(
    device: sys::nvmlDevice_t,
    display: *mut sys::nvmlEnableState_t,
) -> Return {
    unsafe {
        mode("nvmlDeviceGetDisplayMode", device, display, |_, _| {
            Err(DEPRECATED)
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

/// ECC counters are all 0 (h100_q.txt "ECC Errors"). nvml.h: "Querying
/// volatile errors using device handles is currently not supported" on a
/// MIG-enabled GPU, so that is `NOT_SUPPORTED`.
fn ecc_count(
    g: &SimGpu,
    mig: bool,
    error_type: sys::nvmlMemoryErrorType_t,
    counter: sys::nvmlEccCounterType_t,
) -> Result<c_ulonglong> {
    if error_type > 1 || counter > 1 {
        return Err(Fail::INVALID_ARGUMENT);
    }
    if g.mig_current && !mig && counter == 0 {
        return Err(Fail::NOT_SUPPORTED);
    }
    Ok(0)
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
            |g, mig| ecc_count(g, mig, error_type, counter_type),
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
                ecc_count(g, mig, error_type, counter_type)
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

/// `nvmlDeviceGetVirtualizationMode`: `NVML_GPU_VIRTUALIZATION_MODE_NONE`:
/// the simulated machine is a bare-metal host (the lent H100 was a
/// pass-through VM guest and reported Pass-Through).
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
            |_, _| Ok(0),
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
