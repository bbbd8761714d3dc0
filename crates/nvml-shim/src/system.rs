//! Library lifetime and system queries: `nvmlInit*`, `nvmlShutdown`,
//! `nvmlErrorString`, the driver/NVML/CUDA versions and branch, and the
//! system-wide confidential-computing, HIC and NVLink-bandwidth state (what
//! the lent H200 answered, `catalog/measured/h200-580.159.04/
//! monitoring-probe.json` `system`).

use crate::call_log::call;
use crate::errors::{error_string, out, write_str, Result, Return};
use crate::machine;
use mig_model::backend::Inventory;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::{c_char, c_int, c_uint};

/// CUDA driver API version of the simulated driver (R580 ships CUDA 13.0),
/// as `nvmlSystemGetCudaDriverVersion` encodes it: 1000 * major + 10 * minor.
pub const CUDA_DRIVER_VERSION: c_int = mig_sim::state::CUDA_DRIVER_VERSION;

/// `nvmlInit_v2`: opens the simulated machine at `MIGCTL_SIM_STATE`.
/// A missing or unreadable state file is `NVML_ERROR_UNKNOWN`, with the
/// reason on stderr.
#[no_mangle]
pub extern "C" fn nvmlInit_v2() -> Return {
    call("nvmlInit_v2", || log_args!(), machine::init)
}

/// `nvmlInit` (the v1 symbol old clients bind).
#[no_mangle]
pub extern "C" fn nvmlInit() -> Return {
    call("nvmlInit", || log_args!(), machine::init)
}

/// `nvmlInitWithFlags`: the flags (no GPUs, no attach) change nothing for a
/// simulated machine.
#[no_mangle]
pub extern "C" fn nvmlInitWithFlags(_flags: c_uint) -> Return {
    call("nvmlInitWithFlags", || log_args!(_flags), machine::init)
}

/// `nvmlShutdown`: undoes one `nvmlInit*`.
#[no_mangle]
pub extern "C" fn nvmlShutdown() -> Return {
    call("nvmlShutdown", || log_args!(), machine::shutdown)
}

/// `nvmlErrorString`: a static string; callable before `nvmlInit`.
#[no_mangle]
pub extern "C" fn nvmlErrorString(result: Return) -> *const c_char {
    let text = error_string(result);
    crate::call_log::record_value(
        "nvmlErrorString",
        &format!("result={result}"),
        &format!("{text:?}"),
    );
    text.as_ptr()
}

/// `nvmlSystemGetDriverVersion`.
#[no_mangle]
pub unsafe extern "C" fn nvmlSystemGetDriverVersion(
    version: *mut c_char,
    length: c_uint,
) -> Return {
    call(
        "nvmlSystemGetDriverVersion",
        || log_args!(length),
        || {
            let v = machine::sim()?.driver_version()?;
            unsafe { write_str(version, length, &v) }
        },
    )
}

/// `nvmlSystemGetNVMLVersion`.
#[no_mangle]
pub unsafe extern "C" fn nvmlSystemGetNVMLVersion(version: *mut c_char, length: c_uint) -> Return {
    call(
        "nvmlSystemGetNVMLVersion",
        || log_args!(length),
        || {
            machine::sim()?;
            unsafe { write_str(version, length, mig_sim::state::NVML_VERSION) }
        },
    )
}

/// # Safety
/// `p` is null or valid for a write.
unsafe fn cuda_version(name: &str, p: *mut c_int) -> Return {
    call(
        name,
        || log_args!(),
        || {
            machine::sim()?;
            *unsafe { out(p) }? = CUDA_DRIVER_VERSION;
            Ok(())
        },
    )
}

/// `nvmlSystemGetCudaDriverVersion`.
#[no_mangle]
pub unsafe extern "C" fn nvmlSystemGetCudaDriverVersion(cuda_driver_version: *mut c_int) -> Return {
    unsafe { cuda_version("nvmlSystemGetCudaDriverVersion", cuda_driver_version) }
}

/// `nvmlSystemGetCudaDriverVersion_v2`.
#[no_mangle]
pub unsafe extern "C" fn nvmlSystemGetCudaDriverVersion_v2(
    cuda_driver_version: *mut c_int,
) -> Return {
    unsafe { cuda_version("nvmlSystemGetCudaDriverVersion_v2", cuda_driver_version) }
}

/// Write `v` into `p` once the library is initialised.
unsafe fn system_value<T>(name: &str, p: *mut T, v: impl FnOnce() -> Result<T>) -> Return {
    call(
        name,
        || log_args!(),
        || {
            machine::sim()?;
            let v = v()?;
            *unsafe { out(p) }? = v;
            Ok(())
        },
    )
}

/// `NVML_STRUCT_VERSION(SystemDriverBranchInfo, 1)`.
const DRIVER_BRANCH_V1: c_uint = 0x0100_0054;
/// The driver's branch as the lent H200's 580.159.04 driver named it
/// (`nvmlSystemGetDriverBranch`, monitoring-probe.json `system`).
const DRIVER_BRANCH: &str = "r582_49";

/// `nvmlSystemGetDriverBranch`: "r582_49", the lent H200's answer
/// (`DRIVER_BRANCH`); struct version checked, `length` the room for the
/// string (nvml.h), too little `INSUFFICIENT_SIZE`.
#[no_mangle]
pub unsafe extern "C" fn nvmlSystemGetDriverBranch(
    branch_info: *mut sys::nvmlSystemDriverBranchInfo_t,
    length: c_uint,
) -> Return {
    call(
        "nvmlSystemGetDriverBranch",
        || log_args!(length),
        || {
            machine::sim()?;
            let b = unsafe { crate::errors::versioned(branch_info, DRIVER_BRANCH_V1) }?;
            let room = length.min(b.branch.len() as c_uint);
            unsafe { write_str(b.branch.as_mut_ptr(), room, DRIVER_BRANCH) }
        },
    )
}

/// `nvmlSystemGetHicVersion`: no host interface cards (S-class units; see
/// `nvmlUnitGetCount`, 0), so `*hwbcCount` is set to 0 and nothing written,
/// whatever the array's size (the lent H200 answered an empty list).
#[no_mangle]
pub unsafe extern "C" fn nvmlSystemGetHicVersion(
    hwbc_count: *mut c_uint,
    hwbc_entries: *mut sys::nvmlHwbcEntry_t,
) -> Return {
    call(
        "nvmlSystemGetHicVersion",
        || log_args!(),
        || {
            machine::sim()?;
            let count = unsafe { out(hwbc_count) }?;
            let _ = hwbc_entries; // no entry to write
            *count = 0;
            Ok(())
        },
    )
}

/// `nvmlSystemGetNvlinkBwMode`: `NVML_NVLINK_BW_MODE_FULL` (0), the
/// default nothing here changes (the lent H200 answered 0).
#[no_mangle]
pub unsafe extern "C" fn nvmlSystemGetNvlinkBwMode(nvlink_bw_mode: *mut c_uint) -> Return {
    unsafe { system_value("nvmlSystemGetNvlinkBwMode", nvlink_bw_mode, || Ok(0)) }
}

/// `nvmlSystemGetConfComputeCapabilities`: no CPU TEE (`cpuCaps` 0,
/// `NVML_CC_SYSTEM_CPU_CAPS_NONE`); `gpusCaps` 1 (`_GPUS_CC_CAPABLE`) when
/// every GPU is Hopper or later, the first confidential-computing
/// architecture (NVIDIA's Hopper whitepaper; the lent H200 answered
/// `cpuCaps` 0, `gpusCaps` 1), else 0.
#[no_mangle]
pub unsafe extern "C" fn nvmlSystemGetConfComputeCapabilities(
    capabilities: *mut sys::nvmlConfComputeSystemCaps_t,
) -> Return {
    unsafe {
        system_value("nvmlSystemGetConfComputeCapabilities", capabilities, || {
            let st = machine::snapshot()?;
            let capable = st
                .gpus
                .iter()
                .all(|g| g.model().architecture != mig_model::catalog::Architecture::Ampere);
            Ok(sys::nvmlConfComputeSystemCaps_t {
                cpuCaps: 0,
                gpusCaps: c_uint::from(capable),
            })
        })
    }
}

/// `nvmlSystemGetConfComputeState`: confidential computing off: environment
/// unavailable, feature disabled, no dev-tools mode (all 0, as the lent
/// H200 answered).
#[no_mangle]
pub unsafe extern "C" fn nvmlSystemGetConfComputeState(
    state: *mut sys::nvmlConfComputeSystemState_t,
) -> Return {
    unsafe {
        system_value("nvmlSystemGetConfComputeState", state, || {
            Ok(sys::nvmlConfComputeSystemState_t {
                environment: 0,
                ccFeature: 0,
                devToolsMode: 0,
            })
        })
    }
}

/// `nvmlSystemGetConfComputeGpusReadyState`: 0
/// (`NVML_CC_ACCEPTING_CLIENT_REQUESTS_FALSE`), confidential computing
/// being off (the lent H200 answered 0).
#[no_mangle]
pub unsafe extern "C" fn nvmlSystemGetConfComputeGpusReadyState(
    is_accepting_work: *mut c_uint,
) -> Return {
    unsafe {
        system_value(
            "nvmlSystemGetConfComputeGpusReadyState",
            is_accepting_work,
            || Ok(0),
        )
    }
}

/// `NVML_STRUCT_VERSION(ConfComputeGetKeyRotationThresholdInfo, 1)`.
const KEY_ROTATION_THRESHOLD_V1: c_uint = 0x0100_0010;

/// `nvmlSystemGetConfComputeKeyRotationThresholdInfo`: the driver's default
/// attacker advantage, 60 (the lent H200's answer); struct version checked.
#[no_mangle]
pub unsafe extern "C" fn nvmlSystemGetConfComputeKeyRotationThresholdInfo(
    info: *mut sys::nvmlConfComputeGetKeyRotationThresholdInfo_t,
) -> Return {
    call(
        "nvmlSystemGetConfComputeKeyRotationThresholdInfo",
        || log_args!(),
        || {
            machine::sim()?;
            let i = unsafe { crate::errors::versioned(info, KEY_ROTATION_THRESHOLD_V1) }?;
            i.attackerAdvantage = 60;
            Ok(())
        },
    )
}
