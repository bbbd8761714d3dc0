//! Live readings: temperature, power, utilization, fan, clocks and
//! performance state, from the simulated GPU's `Telemetry` and board facts
//! (`mig_sim::telemetry`, which names each value's source).
//!
//! These are readings of the physical board: a MIG device handle answers
//! `NOT_SUPPORTED` (nvml.h documents no per-instance sensor, and nvidia-smi
//! prints them per GPU only). Utilization follows nvml.h's note "On
//! MIG-enabled GPUs, querying device utilization rates is not currently
//! supported": `NOT_SUPPORTED` on a MIG-enabled GPU and on MIG devices.

use crate::errors::{call, entry, modelled, out, versioned, Fail, Result, Return};
use crate::machine::{self, Device};
use mig_sim::SimGpu;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::{c_uint, c_ulonglong};

/// `NVML_STRUCT_VERSION(Temperature, 1)`.
const TEMPERATURE_V1: c_uint = 0x0100_000C;
/// `NVML_PSTATE_0`: the lent boards report P0 at idle (h100_q.txt).
const PSTATE_0: sys::nvmlPstates_t = 0;

/// The physical GPU a handle names (a copy, so the snapshot can go).
pub(crate) fn board_of(device: sys::nvmlDevice_t) -> Result<SimGpu> {
    let st = machine::snapshot()?;
    match machine::device(&st, device)? {
        Device::Gpu { sim, .. } => Ok(sim.clone()),
        Device::Mig { .. } => Err(Fail::NOT_SUPPORTED),
    }
}

/// Write a reading of the board into `p`.
///
/// # Safety
/// `p` is null or valid for a write.
unsafe fn read<T>(
    name: &str,
    device: sys::nvmlDevice_t,
    p: *mut T,
    f: impl FnOnce(&SimGpu) -> Result<T>,
) -> Return {
    entry(name, || {
        let g = board_of(device)?;
        let v = f(&g)?;
        *unsafe { out(p) }? = v;
        Ok(())
    })
}

/// `nvmlDeviceGetTemperature`: the GPU core sensor (`NVML_TEMPERATURE_GPU`).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetTemperature(
    device: sys::nvmlDevice_t,
    sensor: sys::nvmlTemperatureSensors_t,
    temp: *mut c_uint,
) -> Return {
    unsafe {
        read("nvmlDeviceGetTemperature", device, temp, |g| match sensor {
            sys::nvmlTemperatureSensors_enum_NVML_TEMPERATURE_GPU => Ok(g.telemetry.temperature_c),
            _ => Err(Fail::INVALID_ARGUMENT),
        })
    }
}

/// `nvmlDeviceGetTemperatureV`: the versioned form of the same reading.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetTemperatureV(
    device: sys::nvmlDevice_t,
    temperature: *mut sys::nvmlTemperature_t,
) -> Return {
    call(
        "nvmlDeviceGetTemperatureV",
        || log_args!(device),
        || {
            let t = unsafe { versioned(temperature, TEMPERATURE_V1) }?;
            if t.sensorType != sys::nvmlTemperatureSensors_enum_NVML_TEMPERATURE_GPU {
                return Err(Fail::INVALID_ARGUMENT);
            }
            let g = board_of(device)?;
            t.temperature = i32::try_from(g.telemetry.temperature_c).map_err(|_| Fail::UNKNOWN)?;
            Ok(())
        },
    )
}

/// `nvmlDeviceGetTemperatureThreshold`: shutdown, slowdown, memory and GPU
/// maximum limits of the board (`BoardFacts`: measured on the lent H100 and
/// H200, datasheet-derived elsewhere); acoustic and GPS thresholds
/// `NOT_SUPPORTED` (data-centre boards; the lent H200 answered so for 4..7).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetTemperatureThreshold(
    device: sys::nvmlDevice_t,
    threshold: sys::nvmlTemperatureThresholds_t,
    temp: *mut c_uint,
) -> Return {
    unsafe {
        read("nvmlDeviceGetTemperatureThreshold", device, temp, |g| {
            let b = g.board();
            match threshold {
                0 => modelled(b.temp_shutdown_c),
                1 => modelled(b.temp_slowdown_c),
                2 => modelled(b.temp_mem_max_c),
                3 => modelled(b.temp_gpu_max_c),
                4..=7 => Err(Fail::NOT_SUPPORTED),
                _ => Err(Fail::INVALID_ARGUMENT),
            }
        })
    }
}

/// `nvmlDeviceGetPowerUsage`: the modelled draw, milliwatts.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetPowerUsage(
    device: sys::nvmlDevice_t,
    power: *mut c_uint,
) -> Return {
    unsafe {
        read("nvmlDeviceGetPowerUsage", device, power, |g| {
            Ok(g.telemetry.power_mw)
        })
    }
}

/// `nvmlDeviceGetPowerManagementLimit`: the limit in force, milliwatts.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetPowerManagementLimit(
    device: sys::nvmlDevice_t,
    limit: *mut c_uint,
) -> Return {
    unsafe {
        read("nvmlDeviceGetPowerManagementLimit", device, limit, |g| {
            modelled(g.power_limit_mw())
        })
    }
}

/// `nvmlDeviceGetEnforcedPowerLimit`: the same limit (no other cap is modelled).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetEnforcedPowerLimit(
    device: sys::nvmlDevice_t,
    limit: *mut c_uint,
) -> Return {
    unsafe {
        read("nvmlDeviceGetEnforcedPowerLimit", device, limit, |g| {
            modelled(g.power_limit_mw())
        })
    }
}

/// `nvmlDeviceGetPowerManagementDefaultLimit`: the board's TDP, milliwatts.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetPowerManagementDefaultLimit(
    device: sys::nvmlDevice_t,
    limit: *mut c_uint,
) -> Return {
    unsafe {
        read(
            "nvmlDeviceGetPowerManagementDefaultLimit",
            device,
            limit,
            |g| modelled(g.board().power_max_mw),
        )
    }
}

/// `nvmlDeviceGetPowerManagementLimitConstraints`: the board's min and max, milliwatts.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetPowerManagementLimitConstraints(
    device: sys::nvmlDevice_t,
    min_limit: *mut c_uint,
    max_limit: *mut c_uint,
) -> Return {
    call(
        "nvmlDeviceGetPowerManagementLimitConstraints",
        || log_args!(device),
        || {
            let b = board_of(device)?.board();
            let (min, max) = (unsafe { out(min_limit) }?, unsafe { out(max_limit) }?);
            (*min, *max) = (modelled(b.power_min_mw)?, modelled(b.power_max_mw)?);
            Ok(())
        },
    )
}

/// `nvmlDeviceGetPowerManagementMode`: enabled on every data-centre board.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetPowerManagementMode(
    device: sys::nvmlDevice_t,
    mode: *mut sys::nvmlEnableState_t,
) -> Return {
    unsafe { read("nvmlDeviceGetPowerManagementMode", device, mode, |_| Ok(1)) }
}

/// `nvmlDeviceGetUtilizationRates`: the modelled GPU and memory utilization;
/// `NOT_SUPPORTED` with MIG enabled (nvml.h).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetUtilizationRates(
    device: sys::nvmlDevice_t,
    utilization: *mut sys::nvmlUtilization_t,
) -> Return {
    unsafe {
        read("nvmlDeviceGetUtilizationRates", device, utilization, |g| {
            if g.mig_current {
                return Err(Fail::NOT_SUPPORTED);
            }
            Ok(sys::nvmlUtilization_t {
                gpu: g.telemetry.utilization_gpu,
                memory: g.telemetry.utilization_memory,
            })
        })
    }
}

/// Encoder, decoder, JPEG and OFA utilization: 0 % over a 100 ms sampling
/// period (no simulated process uses the media engines; h100_q.txt: 0 %;
/// the lent H200 answered `[0, 100000]` for all four, monitoring-probe.json).
unsafe fn engine_idle(
    name: &str,
    device: sys::nvmlDevice_t,
    utilization: *mut c_uint,
    period_us: *mut c_uint,
) -> Return {
    entry(name, || {
        let g = board_of(device)?;
        if g.mig_current {
            return Err(Fail::NOT_SUPPORTED);
        }
        let (u, p) = (unsafe { out(utilization) }?, unsafe { out(period_us) }?);
        (*u, *p) = (0, 100_000);
        Ok(())
    })
}

/// `nvmlDeviceGetEncoderUtilization`: 0 % (media engines idle).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetEncoderUtilization(
    device: sys::nvmlDevice_t,
    utilization: *mut c_uint,
    sampling_period_us: *mut c_uint,
) -> Return {
    unsafe {
        engine_idle(
            "nvmlDeviceGetEncoderUtilization",
            device,
            utilization,
            sampling_period_us,
        )
    }
}

/// `nvmlDeviceGetDecoderUtilization`: 0 % (media engines idle).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetDecoderUtilization(
    device: sys::nvmlDevice_t,
    utilization: *mut c_uint,
    sampling_period_us: *mut c_uint,
) -> Return {
    unsafe {
        engine_idle(
            "nvmlDeviceGetDecoderUtilization",
            device,
            utilization,
            sampling_period_us,
        )
    }
}

/// `nvmlDeviceGetJpgUtilization`: 0 % (media engines idle).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetJpgUtilization(
    device: sys::nvmlDevice_t,
    utilization: *mut c_uint,
    sampling_period_us: *mut c_uint,
) -> Return {
    unsafe {
        engine_idle(
            "nvmlDeviceGetJpgUtilization",
            device,
            utilization,
            sampling_period_us,
        )
    }
}

/// `nvmlDeviceGetOfaUtilization`: 0 % (media engines idle).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetOfaUtilization(
    device: sys::nvmlDevice_t,
    utilization: *mut c_uint,
    sampling_period_us: *mut c_uint,
) -> Return {
    unsafe {
        engine_idle(
            "nvmlDeviceGetOfaUtilization",
            device,
            utilization,
            sampling_period_us,
        )
    }
}

/// The fan speed of boards with a fan; passive boards `NOT_SUPPORTED`
/// (h100_q.txt: "Fan Speed: N/A").
fn fan(g: &SimGpu) -> Result<c_uint> {
    if g.board().has_fan {
        Ok(g.telemetry.fan_percent)
    } else {
        Err(Fail::NOT_SUPPORTED)
    }
}

/// `nvmlDeviceGetFanSpeed`: percent, on boards with a fan.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetFanSpeed(
    device: sys::nvmlDevice_t,
    speed: *mut c_uint,
) -> Return {
    unsafe { read("nvmlDeviceGetFanSpeed", device, speed, fan) }
}

/// The number of fans: one on boards with their own fan, none on passive
/// boards (the lent H200: `nvmlDeviceGetNumFans` 0, monitoring-probe.json).
fn num_fans(g: &SimGpu) -> c_uint {
    c_uint::from(g.board().has_fan)
}

/// `nvmlDeviceGetFanSpeed_v2`: fan 0 of a board with a fan; a fan index past
/// `nvmlDeviceGetNumFans` is `INVALID_ARGUMENT` (the lent H200, which has
/// none, answered so for fans 0 and 1).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetFanSpeed_v2(
    device: sys::nvmlDevice_t,
    fan_index: c_uint,
    speed: *mut c_uint,
) -> Return {
    unsafe {
        read("nvmlDeviceGetFanSpeed_v2", device, speed, |g| {
            if fan_index >= num_fans(g) {
                return Err(Fail::INVALID_ARGUMENT);
            }
            fan(g)
        })
    }
}

/// `nvmlDeviceGetNumFans`: 1 on boards with a fan, 0 on passive boards (the
/// lent H200 answered 0, monitoring-probe.json).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetNumFans(
    device: sys::nvmlDevice_t,
    num_fans_out: *mut c_uint,
) -> Return {
    unsafe {
        read("nvmlDeviceGetNumFans", device, num_fans_out, |g| {
            Ok(num_fans(g))
        })
    }
}

/// `NVML_STRUCT_VERSION(FanSpeedInfo, 1)`.
const FAN_SPEED_INFO_V1: c_uint = 0x0100_000C;

/// `nvmlDeviceGetFanSpeedRPM`: struct version checked, then a fan index past
/// `nvmlDeviceGetNumFans` is `INVALID_ARGUMENT` (the lent H200 answered so
/// for fan 0); the RPM of a board with a fan is not modelled (`NOT_SUPPORTED`).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetFanSpeedRPM(
    device: sys::nvmlDevice_t,
    fan_speed: *mut sys::nvmlFanSpeedInfo_t,
) -> Return {
    call(
        "nvmlDeviceGetFanSpeedRPM",
        || log_args!(device),
        || {
            let f = unsafe { versioned(fan_speed, FAN_SPEED_INFO_V1) }?;
            let g = board_of(device)?;
            if f.fan >= num_fans(&g) {
                return Err(Fail::INVALID_ARGUMENT);
            }
            Err(Fail::NOT_SUPPORTED)
        },
    )
}

/// `NVML_STRUCT_VERSION(MarginTemperature, 1)`.
const MARGIN_TEMPERATURE_V1: c_uint = 0x0100_0008;

/// `nvmlDeviceGetMarginTemperature`: the distance of the GPU temperature to
/// the GPU maximum operating threshold (`NVML_TEMPERATURE_THRESHOLD_GPU_MAX`):
/// the lent H200 answered 47 at 40 C with that threshold at 87 C
/// (monitoring-probe.json), the lent H100 printed "GPU T.Limit Temp: 48 C"
/// at 39 C (h100_q.txt).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetMarginTemperature(
    device: sys::nvmlDevice_t,
    margin: *mut sys::nvmlMarginTemperature_t,
) -> Return {
    call(
        "nvmlDeviceGetMarginTemperature",
        || log_args!(device),
        || {
            let m = unsafe { versioned(margin, MARGIN_TEMPERATURE_V1) }?;
            let g = board_of(device)?;
            let limit = i64::from(modelled(g.board().temp_gpu_max_c)?);
            let margin = limit - i64::from(g.telemetry.temperature_c);
            m.marginTemperature = i32::try_from(margin).map_err(|_| Fail::UNKNOWN)?;
            Ok(())
        },
    )
}

/// `nvmlDeviceGetPerformanceState`: P0, as the lent boards at idle.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetPerformanceState(
    device: sys::nvmlDevice_t,
    p_state: *mut sys::nvmlPstates_t,
) -> Return {
    unsafe {
        read("nvmlDeviceGetPerformanceState", device, p_state, |_| {
            Ok(PSTATE_0)
        })
    }
}

/// `nvmlDeviceGetPowerState`: the same P-state (its deprecated name).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetPowerState(
    device: sys::nvmlDevice_t,
    p_state: *mut sys::nvmlPstates_t,
) -> Return {
    unsafe { read("nvmlDeviceGetPowerState", device, p_state, |_| Ok(PSTATE_0)) }
}

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

/// Seconds since the host booted (`/proc/uptime`), standing for the time the
/// simulated driver has been loaded.
fn uptime_s() -> Result<f64> {
    let text = std::fs::read_to_string("/proc/uptime")
        .map_err(|e| crate::errors::report(&format!("/proc/uptime: {e}")))?;
    text.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| crate::errors::report("/proc/uptime: no uptime"))
}

/// `nvmlDeviceGetTotalEnergyConsumption`: millijoules since the driver
/// loaded (nvml.h), modelled as the modelled draw over the host's uptime
/// (mW x s = mJ); derived: the lent H200 answered 6171504 mJ at about 80 W,
/// some 77 s after its driver loaded.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetTotalEnergyConsumption(
    device: sys::nvmlDevice_t,
    energy: *mut c_ulonglong,
) -> Return {
    unsafe {
        read("nvmlDeviceGetTotalEnergyConsumption", device, energy, |g| {
            Ok((f64::from(g.telemetry.power_mw) * uptime_s()?) as c_ulonglong)
        })
    }
}
