//! Clocks: current, maximum, application and boost clocks, clock-event
//! reasons, supported memory clocks and performance states, and the
//! performance-level strings, from the simulated GPU's readings and its
//! board facts (`catalog/boards.toml`; a clock no source gives answers
//! `NOT_SUPPORTED`). Like the other sensors these belong to the physical
//! board: a MIG device handle answers `NOT_SUPPORTED`.

use crate::call_log::call;
use crate::errors::{modelled, out, versioned, Fail, Result, Return};
use crate::sensors::{board_of, read};
use mig_sim::SimGpu;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::{c_uint, c_ulonglong};

/// Which clock of a type is asked for: nvml.h's `nvmlClockId_t` and the
/// calls that each read one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    /// `NVML_CLOCK_ID_CURRENT`, `nvmlDeviceGetClockInfo`.
    Current,
    /// `nvmlDeviceGetMaxClockInfo`.
    Max,
    /// `NVML_CLOCK_ID_APP_CLOCK_TARGET` / `_DEFAULT`,
    /// `nvmlDeviceGet[Default]ApplicationsClock`.
    Application,
    /// `NVML_CLOCK_ID_CUSTOMER_BOOST_MAX`, `nvmlDeviceGetMaxCustomerBoostClock`.
    CustomerBoost,
}

/// `NVML_CLOCK_COUNT`: one past the last clock type.
const CLOCK_COUNT: sys::nvmlClockType_t = 4;

/// A clock of the board: current (modelled SM clock), maximum, application
/// clocks (= maximum, as on the lent H100 and H200) or customer boost.
/// Which (type, clock) pairs exist is what the lent H200 answered
/// (monitoring-probe.json `with_args`): no application or boost video clock,
/// no boost memory clock (`NOT_SUPPORTED`); the type `NVML_CLOCK_COUNT` is
/// `NOT_SUPPORTED` for the current clock and `INVALID_ARGUMENT` for the
/// others; any later type `INVALID_ARGUMENT`.
fn clock(g: &SimGpu, ty: sys::nvmlClockType_t, which: Which) -> Result<c_uint> {
    let b = g.board();
    Ok(match (ty, which) {
        (0 | 1, Which::Current) => modelled(g.sm_clock_mhz())?,
        (0 | 1, _) => modelled(b.max_sm_clock_mhz)?,
        (2, Which::CustomerBoost) => return Err(Fail::NOT_SUPPORTED),
        (2, _) => modelled(b.mem_clock_mhz)?,
        (3, Which::Current) => modelled(b.idle_video_clock_mhz)?,
        (3, Which::Max) => modelled(b.max_video_clock_mhz)?,
        (3, _) => return Err(Fail::NOT_SUPPORTED),
        (CLOCK_COUNT, Which::Current) => return Err(Fail::NOT_SUPPORTED),
        _ => return Err(Fail::INVALID_ARGUMENT),
    })
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

/// Why the clocks are below maximum: `GpuIdle` while utilization is 0 (the
/// lent boards at idle: "Idle: Active"), else none.
fn event_reasons(g: &SimGpu) -> Result<c_ulonglong> {
    Ok(if g.telemetry.utilization_gpu == 0 {
        c_ulonglong::from(sys::nvmlClocksEventReasonGpuIdle)
    } else {
        0
    })
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

/// Every clocks event reason nvml.h defines (`nvmlClocksEventReason*`,
/// bits 0..8): what the lent H200 answered (511, monitoring-probe.json).
const SUPPORTED_EVENT_REASONS: c_ulonglong = 0x1FF;

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

/// The probe's facts of a board (`mig_sim::telemetry::Probed`); a model the
/// monitoring probe was not run on answers `NOT_SUPPORTED`.
fn probed(g: &SimGpu) -> Result<&'static mig_sim::telemetry::Probed> {
    g.board()
        .measured
        .and_then(|m| m.probe.as_ref())
        .ok_or(Fail::NOT_SUPPORTED)
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

/// One performance level as the driver's perf-mode strings print it: the
/// graphics clock (current, min, max) and a memory clock, whose transfer
/// rate is twice it (the lent H200: memclock 3201, memTransferRate 6402).
fn perf_level(nv: c_uint, nv_min: c_uint, nv_max: c_uint, mem: c_uint) -> String {
    let rate = 2 * mem;
    format!(
        "nvclock={nv}, nvclockmin={nv_min}, nvclockmax={nv_max}, nvclockeditable=0, \
         memclock={mem}, memclockmin={mem}, memclockmax={mem}, memclockeditable=0, \
         memTransferRate={rate}, memTransferRatemin={rate}, memTransferRatemax={rate}, \
         memTransferRateeditable=0"
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
            let g = board_of(device)?;
            let mut mem = probed(&g)?.memory_clocks_mhz.to_vec();
            mem.sort_unstable();
            let b = g.board();
            let text: Vec<String> = mem
                .iter()
                .enumerate()
                .map(|(i, &m)| {
                    let idle = modelled(b.idle_sm_clock_mhz)?;
                    let level = perf_level(idle, idle, modelled(b.max_sm_clock_mhz)?, m);
                    Ok(format!("perf={i}, {level}"))
                })
                .collect::<Result<_>>()?;
            crate::errors::fill_chars(&mut p.str_, &text.join(" ; "));
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
            let g = board_of(device)?;
            probed(&g)?;
            let b = g.board();
            let text = perf_level(
                modelled(g.sm_clock_mhz())?,
                modelled(b.idle_sm_clock_mhz)?,
                modelled(b.max_sm_clock_mhz)?,
                modelled(b.mem_clock_mhz)?,
            );
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
