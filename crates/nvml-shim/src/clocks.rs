//! Clocks: current, maximum, application and boost clocks, clock-event
//! reasons, supported memory clocks and performance states, and the
//! performance-level strings, from the simulated GPU's readings and its
//! board facts (`catalog/boards.toml`; a clock no source gives answers
//! `NOT_SUPPORTED`). Like the other sensors these belong to the physical
//! board: a MIG device handle answers `NOT_SUPPORTED`.

use crate::call_log::call;
use crate::errors::{out, versioned, Fail, Result, Return};
use crate::sensors::{board_of, read};
use mig_sim::query_readings::clocks::{self, Which, SUPPORTED_EVENT_REASONS};
use mig_sim::SimGpu;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::{c_uint, c_ulonglong};

/// A clock of the board (`mig_sim::query_readings::clocks::clock`).
fn clock(g: &SimGpu, ty: sys::nvmlClockType_t, which: Which) -> Result<c_uint> {
    Ok(clocks::clock(g, ty, which)?)
}

/// `nvmlDeviceGetClockInfo`: the current clock, MHz.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetClockInfo(
    device: sys::nvmlDevice_t,
    ty: sys::nvmlClockType_t,
    clock_mhz: *mut c_uint,
) -> Return {
    unsafe {
        read("nvmlDeviceGetClockInfo", device, clock_mhz, |g| {
            clock(g, ty, Which::Current)
        })
    }
}

/// `nvmlDeviceGetMaxClockInfo`: the maximum clock, MHz.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetMaxClockInfo(
    device: sys::nvmlDevice_t,
    ty: sys::nvmlClockType_t,
    clock_mhz: *mut c_uint,
) -> Return {
    unsafe {
        read("nvmlDeviceGetMaxClockInfo", device, clock_mhz, |g| {
            clock(g, ty, Which::Max)
        })
    }
}

/// `nvmlDeviceGetApplicationsClock`: graphics and memory application clocks
/// (= maximum, h100_q.txt "Applications Clocks").
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetApplicationsClock(
    device: sys::nvmlDevice_t,
    ty: sys::nvmlClockType_t,
    clock_mhz: *mut c_uint,
) -> Return {
    unsafe {
        read("nvmlDeviceGetApplicationsClock", device, clock_mhz, |g| {
            clock(g, ty, Which::Application)
        })
    }
}

/// `nvmlDeviceGetDefaultApplicationsClock`: as the application clocks.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetDefaultApplicationsClock(
    device: sys::nvmlDevice_t,
    ty: sys::nvmlClockType_t,
    clock_mhz: *mut c_uint,
) -> Return {
    unsafe {
        read(
            "nvmlDeviceGetDefaultApplicationsClock",
            device,
            clock_mhz,
            |g| clock(g, ty, Which::Application),
        )
    }
}

/// `nvmlDeviceGetMaxCustomerBoostClock`: the maximum clock, graphics and SM only.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetMaxCustomerBoostClock(
    device: sys::nvmlDevice_t,
    ty: sys::nvmlClockType_t,
    clock_mhz: *mut c_uint,
) -> Return {
    unsafe {
        read(
            "nvmlDeviceGetMaxCustomerBoostClock",
            device,
            clock_mhz,
            |g| clock(g, ty, Which::CustomerBoost),
        )
    }
}

/// `nvmlDeviceGetClock`: current, application target/default or customer
/// boost maximum, as the calls above.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetClock(
    device: sys::nvmlDevice_t,
    ty: sys::nvmlClockType_t,
    id: sys::nvmlClockId_t,
    clock_mhz: *mut c_uint,
) -> Return {
    unsafe {
        read("nvmlDeviceGetClock", device, clock_mhz, |g| match id {
            0 => clock(g, ty, Which::Current),
            1 | 2 => clock(g, ty, Which::Application),
            3 => clock(g, ty, Which::CustomerBoost),
            _ => Err(Fail::INVALID_ARGUMENT),
        })
    }
}

/// Why the clocks are below maximum (`clocks::event_reasons`).
fn event_reasons(g: &SimGpu) -> Result<c_ulonglong> {
    Ok(clocks::event_reasons(g))
}

/// `nvmlDeviceGetCurrentClocksEventReasons`: see `event_reasons`.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetCurrentClocksEventReasons(
    device: sys::nvmlDevice_t,
    reasons: *mut c_ulonglong,
) -> Return {
    unsafe {
        read(
            "nvmlDeviceGetCurrentClocksEventReasons",
            device,
            reasons,
            event_reasons,
        )
    }
}

/// `nvmlDeviceGetCurrentClocksThrottleReasons`: the deprecated name of the same.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetCurrentClocksThrottleReasons(
    device: sys::nvmlDevice_t,
    reasons: *mut c_ulonglong,
) -> Return {
    unsafe {
        read(
            "nvmlDeviceGetCurrentClocksThrottleReasons",
            device,
            reasons,
            event_reasons,
        )
    }
}

/// `nvmlDeviceGetSupportedClocksEventReasons`: see `SUPPORTED_EVENT_REASONS`.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetSupportedClocksEventReasons(
    device: sys::nvmlDevice_t,
    reasons: *mut c_ulonglong,
) -> Return {
    unsafe {
        read(
            "nvmlDeviceGetSupportedClocksEventReasons",
            device,
            reasons,
            |_| Ok(SUPPORTED_EVENT_REASONS),
        )
    }
}

/// `nvmlDeviceGetSupportedClocksThrottleReasons`: the deprecated name of the same.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetSupportedClocksThrottleReasons(
    device: sys::nvmlDevice_t,
    reasons: *mut c_ulonglong,
) -> Return {
    unsafe {
        read(
            "nvmlDeviceGetSupportedClocksThrottleReasons",
            device,
            reasons,
            |_| Ok(SUPPORTED_EVENT_REASONS),
        )
    }
}

/// The probe's facts of a board (`clocks::probed`).
fn probed(g: &SimGpu) -> Result<&'static mig_sim::telemetry::Probed> {
    Ok(clocks::probed(g)?)
}

/// `nvmlDeviceGetSupportedMemoryClocks`: the memory clocks the lent H200
/// answered (3201, 2201 MHz), where the probe ran on the model. nvml.h:
/// `*count` is the array's size on input and the number of clocks on
/// output; a null array or a smaller size is `INSUFFICIENT_SIZE` with
/// `*count` set to the number needed.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetSupportedMemoryClocks(
    device: sys::nvmlDevice_t,
    count: *mut c_uint,
    clocks_mhz: *mut c_uint,
) -> Return {
    call(
        "nvmlDeviceGetSupportedMemoryClocks",
        || log_args!(device),
        || {
            let count = unsafe { out(count) }?;
            let clocks = &probed(&board_of(device)?)?.memory_clocks_mhz;
            let needed = c_uint::try_from(clocks.len()).map_err(|_| Fail::UNKNOWN)?;
            if clocks_mhz.is_null() || *count < needed {
                *count = needed;
                return Err(Fail::INSUFFICIENT_SIZE);
            }
            // SAFETY: the caller's array holds `*count >= needed` entries (nvml.h).
            unsafe { std::ptr::copy_nonoverlapping(clocks.as_ptr(), clocks_mhz, clocks.len()) };
            *count = needed;
            Ok(())
        },
    )
}

/// `NVML_PSTATE_UNKNOWN`: fills the rest of the P-state array.
const PSTATE_UNKNOWN: sys::nvmlPstates_t = sys::nvmlPStates_enum_NVML_PSTATE_UNKNOWN;

/// `nvmlDeviceGetSupportedPerformanceStates`: P2 and P0, in the order the
/// lent H200 answered them, where the probe ran on the model. `size` is the
/// array's size in bytes (nvml.h); the entries after the last P-state are
/// `NVML_PSTATE_UNKNOWN`; too small an array is `INSUFFICIENT_SIZE`.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetSupportedPerformanceStates(
    device: sys::nvmlDevice_t,
    pstates: *mut sys::nvmlPstates_t,
    size: c_uint,
) -> Return {
    call(
        "nvmlDeviceGetSupportedPerformanceStates",
        || log_args!(device, size),
        || {
            if pstates.is_null() {
                return Err(Fail::INVALID_ARGUMENT);
            }
            let states = &probed(&board_of(device)?)?.pstates;
            let room = size as usize / std::mem::size_of::<sys::nvmlPstates_t>();
            if room < states.len() {
                return Err(Fail::INSUFFICIENT_SIZE);
            }
            let room = room.min(sys::NVML_MAX_GPU_PERF_PSTATES as usize);
            for i in 0..room {
                let v = states.get(i).copied().unwrap_or(PSTATE_UNKNOWN);
                // SAFETY: the caller's array holds `size` bytes, `room` entries.
                unsafe { *pstates.add(i) = v };
            }
            Ok(())
        },
    )
}

/// `NVML_STRUCT_VERSION(DevicePerfModes, 1)` and
/// `NVML_STRUCT_VERSION(DeviceCurrentClockFreqs, 1)`: both structs are a
/// version and a `char[NVML_PERF_MODES_BUFFER_SIZE]`.
const PERF_STRING_V1: c_uint = 0x0100_0804;

/// `nvmlDeviceGetPerformanceModes`: one level per supported memory clock,
/// lowest first, in the lent H200's format (`perf=N, nvclock=...` joined by
/// `" ; "`, monitoring-probe.json), where the probe ran on the model.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetPerformanceModes(
    device: sys::nvmlDevice_t,
    perf_modes: *mut sys::nvmlDevicePerfModes_t,
) -> Return {
    call(
        "nvmlDeviceGetPerformanceModes",
        || log_args!(device),
        || {
            let p = unsafe { versioned(perf_modes, PERF_STRING_V1) }?;
            let text = clocks::performance_modes(&board_of(device)?)?;
            crate::errors::fill_chars(&mut p.str_, &text);
            Ok(())
        },
    )
}

/// `nvmlDeviceGetCurrentClockFreqs`: the current level in the same format:
/// the modelled graphics clock between the idle and maximum clocks, the
/// memory clock in force (the lent H200: `nvclock=345, nvclockmin=345,
/// nvclockmax=1980, ... memclock=3201, ...`), where the probe ran on the model.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetCurrentClockFreqs(
    device: sys::nvmlDevice_t,
    freqs: *mut sys::nvmlDeviceCurrentClockFreqs_t,
) -> Return {
    call(
        "nvmlDeviceGetCurrentClockFreqs",
        || log_args!(device),
        || {
            let f = unsafe { versioned(freqs, PERF_STRING_V1) }?;
            let text = clocks::current_clock_freqs(&board_of(device)?)?;
            crate::errors::fill_chars(&mut f.str_, &text);
            Ok(())
        },
    )
}

/// `nvmlDeviceGetAdaptiveClockInfoStatus`: enabled, as the lent H200
/// answered, where the probe ran on the model.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetAdaptiveClockInfoStatus(
    device: sys::nvmlDevice_t,
    status: *mut c_uint,
) -> Return {
    unsafe {
        read(
            "nvmlDeviceGetAdaptiveClockInfoStatus",
            device,
            status,
            |g| Ok(probed(g)?.adaptive_clocking),
        )
    }
}

/// `nvmlDeviceGetGpcClkVfOffset`: 0 MHz: no clock offset is ever applied
/// (the simulator models no offset setter; the lent H200 answered 0).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGpcClkVfOffset(
    device: sys::nvmlDevice_t,
    offset: *mut std::ffi::c_int,
) -> Return {
    unsafe { read("nvmlDeviceGetGpcClkVfOffset", device, offset, |_| Ok(0)) }
}

/// `nvmlDeviceGetMemClkVfOffset`: 0 MHz, as the graphics offset.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetMemClkVfOffset(
    device: sys::nvmlDevice_t,
    offset: *mut std::ffi::c_int,
) -> Return {
    unsafe { read("nvmlDeviceGetMemClkVfOffset", device, offset, |_| Ok(0)) }
}
