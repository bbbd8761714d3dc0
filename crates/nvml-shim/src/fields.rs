//! Field values (`nvmlDeviceGetFieldValues`), the batched query DCGM-style
//! exporters and nvitop use. Each requested field gets its own return code:
//! the fields below are modelled from the same telemetry as the single
//! getters (`sensors.rs`, `modes.rs`, `pcie.rs`), every other field is
//! `NOT_SUPPORTED`, and so is every field of a MIG device handle (the
//! readings belong to the board).

use crate::call_log::call;
use crate::errors::{Fail, Return};
use crate::machine::{self, Device};
use mig_sim::query_readings::topology;
use mig_sim::SimGpu;
use nvml_wrapper_sys::bindings::{self as sys, field_id as fi};
use std::ffi::c_int;

/// The value and its `nvmlValueType_t` of one field on GPU `g` and scope
/// `scope` (0 = the GPU), or the code that field answers.
fn field(g: &SimGpu, id: u32, scope: u32) -> Result<(sys::nvmlValue_t, u32), Fail> {
    let uint = |v: u32| {
        (
            // all 8 bytes written (no stack bytes leak into the caller's
            // union); `uiVal` is the low 4 on the little-endian hosts NVML runs on
            sys::nvmlValue_t {
                ullVal: u64::from(v),
            },
            sys::nvmlValueType_enum_NVML_VALUE_TYPE_UNSIGNED_INT,
        )
    };
    let ull = |v: u64| {
        (
            sys::nvmlValue_t { ullVal: v },
            sys::nvmlValueType_enum_NVML_VALUE_TYPE_UNSIGNED_LONG_LONG,
        )
    };
    match id {
        // ECC is enabled, current and pending (h100_q.txt).
        fi::NVML_FI_DEV_ECC_CURRENT | fi::NVML_FI_DEV_ECC_PENDING => Ok(uint(1)),
        fi::NVML_FI_DEV_MEMORY_TEMP => Ok(uint(g.telemetry.memory_temperature_c)),
        // Power of the GPU scope (0), milliwatts: instantaneous and average;
        // the memory scope (2, `NVML_POWER_SCOPE_MEMORY`) has an average only
        // and the module scope none, as on the lent boards ("GPU Memory Power
        // Readings", "Module Power Readings: N/A").
        fi::NVML_FI_DEV_POWER_INSTANT if scope == 0 => Ok(uint(g.telemetry.power_mw)),
        fi::NVML_FI_DEV_POWER_AVERAGE if scope == 0 => Ok(uint(g.telemetry.power_average_mw)),
        fi::NVML_FI_DEV_POWER_AVERAGE if scope == 2 => Ok(uint(g.telemetry.memory_power_mw)),
        // The GPU scope's power limits, milliwatts, as the public getters
        // answer them (nvmlDeviceGetPowerManagementLimit, ...DefaultLimit,
        // ...LimitConstraints): nvidia-smi 580's -q reads its "GPU Power
        // Readings" limits through these fields, not through those getters
        // (its call log over this library shows only nvmlDeviceGetFieldValues
        // there, and it printed N/A while the fields were unanswered).
        fi::NVML_FI_DEV_POWER_CURRENT_LIMIT | fi::NVML_FI_DEV_POWER_REQUESTED_LIMIT
            if scope == 0 =>
        {
            Ok(uint(g.power_limit_mw().ok_or(Fail::NOT_SUPPORTED)?))
        }
        fi::NVML_FI_DEV_POWER_DEFAULT_LIMIT | fi::NVML_FI_DEV_POWER_MAX_LIMIT if scope == 0 => {
            Ok(uint(g.board().power_max_mw.ok_or(Fail::NOT_SUPPORTED)?))
        }
        fi::NVML_FI_DEV_POWER_MIN_LIMIT if scope == 0 => {
            Ok(uint(g.board().power_min_mw.ok_or(Fail::NOT_SUPPORTED)?))
        }
        // no link replays, no recovery needed: the lent boards ("Replays
        // Since Reset: 0", "Replay Number Rollovers: 0", "GPU Recovery
        // Action: None"); the simulator's details answer the same
        fi::NVML_FI_DEV_PCIE_REPLAY_COUNTER | fi::NVML_FI_DEV_PCIE_REPLAY_ROLLOVER_COUNTER => {
            Ok(ull(0))
        }
        // NVLink ports of an SXM board (catalog/boards.toml; nvlink.rs)
        // time clocks were held back, nanoseconds, by cause (nvml.h:
        // CLOCKS_EVENT_REASON_SW_POWER_CAP and _SYNC_BOOST are the perf
        // policy fields 74 and 76); nvidia-smi 580's -q reads its "Clocks
        // Event Reasons Counters" so, five fields in one call
        fi::NVML_FI_DEV_PERF_POLICY_POWER
        | fi::NVML_FI_DEV_PERF_POLICY_SYNC_BOOST
        | fi::NVML_FI_DEV_CLOCKS_EVENT_REASON_SW_THERM_SLOWDOWN
        | fi::NVML_FI_DEV_CLOCKS_EVENT_REASON_HW_THERM_SLOWDOWN
        | fi::NVML_FI_DEV_CLOCKS_EVENT_REASON_HW_POWER_BRAKE_SLOWDOWN
            if scope == 0 =>
        {
            let i = [74, 76, 251, 252, 253]
                .iter()
                .position(|f| *f == id)
                .ok_or(Fail::NOT_SUPPORTED)?;
            let us = mig_sim::query_readings::details::violation_us(g)[i];
            Ok(ull(us * 1000))
        }
        fi::NVML_FI_DEV_NVLINK_LINK_COUNT => Ok(uint(topology::nvlink(g)?.links)),
        fi::NVML_FI_DEV_GET_GPU_RECOVERY_ACTION => Ok(uint(0)),
        _ => Err(Fail::NOT_SUPPORTED),
    }
}

/// `nvmlDeviceGetFieldValues`: see the module documentation; a negative
/// count or a null array is `INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetFieldValues(
    device: sys::nvmlDevice_t,
    values_count: c_int,
    values: *mut sys::nvmlFieldValue_t,
) -> Return {
    call(
        "nvmlDeviceGetFieldValues",
        || {
            // the field IDs and scopes asked for, so a log shows which
            // fields a client reads (nvidia-smi's -q reads many this way)
            let n = usize::try_from(values_count).unwrap_or(0).min(64);
            let asked = if values.is_null() {
                String::new()
            } else {
                // SAFETY: nvml.h: `values` holds `valuesCount` entries; at
                // most the first 64 are read, and only their ID and scope.
                let v = unsafe { std::slice::from_raw_parts(values, n) };
                v.iter()
                    .map(|f| format!("{}/{}", f.fieldId, f.scopeId))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            format!("{} fields={asked}", log_args!(device, values_count))
        },
        || {
            let n = usize::try_from(values_count).map_err(|_| Fail::INVALID_ARGUMENT)?;
            if values.is_null() {
                return Err(Fail::INVALID_ARGUMENT);
            }
            let st = machine::snapshot()?;
            let d = machine::device(&st, device)?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|t| t.as_micros() as i64)
                .unwrap_or(0);
            // SAFETY: nvml.h: `values` holds `valuesCount` entries.
            let values = unsafe { std::slice::from_raw_parts_mut(values, n) };
            for v in values {
                let answer = match &d {
                    Device::Gpu { sim, .. } => field(sim, v.fieldId, v.scopeId),
                    Device::Mig { .. } => Err(Fail::NOT_SUPPORTED),
                };
                v.timestamp = now;
                v.latencyUsec = 0;
                match answer {
                    Ok((value, ty)) => {
                        v.value = value;
                        v.valueType = ty;
                        v.nvmlReturn = crate::errors::SUCCESS;
                    }
                    Err(Fail(code)) => v.nvmlReturn = code,
                }
            }
            Ok(())
        },
    )
}
