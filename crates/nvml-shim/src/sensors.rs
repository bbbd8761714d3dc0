//! Live readings: temperature, power, utilization, fan and performance
//! state (clocks: the `clocks` module), from the simulated GPU's `Telemetry`
//! and board facts (`mig_sim::telemetry`; sources in `catalog/boards.toml`).
//!
//! These are readings of the physical board: a MIG device handle answers
//! `NOT_SUPPORTED` (nvml.h documents no per-instance sensor, and nvidia-smi
//! prints them per GPU only). Utilization follows nvml.h's note "On
//! MIG-enabled GPUs, querying device utilization rates is not currently
//! supported": `NOT_SUPPORTED` on a MIG-enabled GPU and on MIG devices.

use crate::call_log::{call, entry};
use crate::errors::{modelled, out, versioned, Fail, Result, Return};
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
pub(crate) unsafe fn read<T>(
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
