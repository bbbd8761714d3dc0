//! Live readings: temperature, power, utilization, fan, clocks and
//! performance state, from the simulated GPU's `Telemetry` and board facts
//! (`mig_sim::telemetry`, which names each value's source).
//!
//! These are readings of the physical board: a MIG device handle answers
//! `NOT_SUPPORTED` (nvml.h documents no per-instance sensor, and nvidia-smi
//! prints them per GPU only). Utilization follows nvml.h's note "On
//! MIG-enabled GPUs, querying device utilization rates is not currently
//! supported": `NOT_SUPPORTED` on a MIG-enabled GPU and on MIG devices.

use crate::errors::{call, entry, out, Fail, Result, Return};
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
            let t = unsafe { out(temperature) }?;
            if t.version != TEMPERATURE_V1 {
                return Err(Fail::ARGUMENT_VERSION_MISMATCH);
            }
            if t.sensorType != sys::nvmlTemperatureSensors_enum_NVML_TEMPERATURE_GPU {
                return Err(Fail::INVALID_ARGUMENT);
            }
            let g = board_of(device)?;
            t.temperature = i32::try_from(g.telemetry.temperature_c).map_err(|_| Fail::UNKNOWN)?;
            Ok(())
        },
    )
}

/// `nvmlDeviceGetTemperatureThreshold`: shutdown and slowdown limits of the
/// board (derived: datasheet limits); the memory and GPU maxima are the
/// slowdown limit; acoustic and GPS thresholds `NOT_SUPPORTED` (data-centre boards).
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
                0 => Ok(b.temp_shutdown_c),
                1..=3 => Ok(b.temp_slowdown_c),
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
            Ok(g.power_limit_mw())
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
            Ok(g.power_limit_mw())
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
            |g| Ok(g.board().power_max_mw),
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
            (*min, *max) = (b.power_min_mw, b.power_max_mw);
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

/// Encoder, decoder, JPEG and OFA utilization: 0 % over a 1 s sampling
/// period (no simulated process uses the media engines; h100_q.txt: 0 %).
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
        (*u, *p) = (0, 1_000_000);
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

/// `nvmlDeviceGetFanSpeed_v2`: fan 0 only.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetFanSpeed_v2(
    device: sys::nvmlDevice_t,
    fan_index: c_uint,
    speed: *mut c_uint,
) -> Return {
    unsafe {
        read("nvmlDeviceGetFanSpeed_v2", device, speed, |g| {
            let s = fan(g)?;
            if fan_index == 0 {
                Ok(s)
            } else {
                Err(Fail::INVALID_ARGUMENT)
            }
        })
    }
}

/// `nvmlDeviceGetNumFans`: 1 on boards with a fan, else `NOT_SUPPORTED`.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetNumFans(
    device: sys::nvmlDevice_t,
    num_fans: *mut c_uint,
) -> Return {
    unsafe {
        read("nvmlDeviceGetNumFans", device, num_fans, |g| {
            fan(g).map(|_| 1)
        })
    }
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

/// A clock of the board: current (modelled SM clock), maximum, or the
/// application clocks (= maximum, as on the lent H100).
fn clock(g: &SimGpu, ty: sys::nvmlClockType_t, current: bool) -> Result<c_uint> {
    let b = g.board();
    Ok(match (ty, current) {
        (0 | 1, true) => g.sm_clock_mhz(),
        (0 | 1, false) => b.max_sm_clock_mhz,
        (2, _) => b.mem_clock_mhz,
        (3, true) => b.video_clock_mhz.0,
        (3, false) => b.video_clock_mhz.1,
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
            clock(g, ty, true)
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
            clock(g, ty, false)
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
            clock(g, ty, false)
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
            |g| clock(g, ty, false),
        )
    }
}

/// `nvmlDeviceGetMaxCustomerBoostClock`: the maximum clock.
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
            |g| clock(g, ty, false),
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
            0 => clock(g, ty, true),
            1..=3 => clock(g, ty, false),
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
