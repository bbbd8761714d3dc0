//! Library lifetime and system queries: `nvmlInit*`, `nvmlShutdown`,
//! `nvmlErrorString` and the driver/NVML/CUDA versions.

use crate::errors::{call, error_string, out, write_str, Return};
use crate::machine;
use mig_model::backend::Inventory;
use std::ffi::{c_char, c_int, c_uint};

/// CUDA driver API version of the simulated driver (R580 ships CUDA 13.0),
/// as `nvmlSystemGetCudaDriverVersion` encodes it: 1000 * major + 10 * minor.
pub const CUDA_DRIVER_VERSION: c_int = 13000;

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
