//! Board identity beyond name and UUID: serial number, GSP firmware, board
//! layout and core count.
//!
//! - Serial: simulated, as the UUID is: 13 decimal digits (the length of the
//!   lent H100's "1752624018369") taken from the GPU's PDI, so it is stable
//!   and distinct per simulated GPU. A MIG device answers its parent's, as
//!   nvidia-smi prints the board serial.
//! - GSP firmware: version = the driver version and GSP enabled by default,
//!   as both lent boards ("GSP Firmware Version: 580.159.04").
//! - Multi-GPU board: no (both lent boards, "MultiGPU Board: No").
//! - CUDA cores: SMs x cores per SM of the architecture (NVIDIA's
//!   architecture whitepapers: GA100 64, Hopper and Blackwell 128); a MIG
//!   device is `NOT_SUPPORTED` (nvml.h: use the GI profile's SM count).

use crate::errors::{call, out, write_str, Fail, Return};
use crate::machine::{self, Device};
use mig_model::catalog::Architecture;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::{c_char, c_uint};

/// `NVML_GSP_FIRMWARE_VERSION_BUF_SIZE`.
const GSP_VERSION_BUF: c_uint = 0x40;
/// 10^13: serials have 13 decimal digits.
const SERIAL_DIGITS: u64 = 10_000_000_000_000;

/// The simulated serial of a GPU with this PDI.
pub fn serial(pdi: u64) -> String {
    format!("{:013}", pdi % SERIAL_DIGITS)
}

/// `nvmlDeviceGetSerial`: see the module documentation.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetSerial(
    device: sys::nvmlDevice_t,
    serial_out: *mut c_char,
    length: c_uint,
) -> Return {
    call(
        "nvmlDeviceGetSerial",
        || log_args!(device, length),
        || {
            let st = machine::snapshot()?;
            let s = serial(machine::device(&st, device)?.sim_gpu().pdi);
            unsafe { write_str(serial_out, length, &s) }
        },
    )
}

/// `nvmlDeviceGetHandleBySerial`: the GPU with this serial (see [`serial`]);
/// `NOT_FOUND` when none has it.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetHandleBySerial(
    serial_in: *const c_char,
    device: *mut sys::nvmlDevice_t,
) -> Return {
    call(
        "nvmlDeviceGetHandleBySerial",
        || log_args!(serial_in),
        || {
            let wanted = unsafe { crate::errors::c_str(serial_in) }?;
            let device = unsafe { out(device) }?;
            let st = machine::snapshot()?;
            let index = st
                .gpus
                .iter()
                .position(|g| serial(g.pdi) == wanted.trim())
                .ok_or(Fail::NOT_FOUND)?;
            *device = machine::gpu_handle(index as u32)?;
            Ok(())
        },
    )
}

/// `nvmlDeviceGetGspFirmwareVersion`: the driver version (buffer of
/// `NVML_GSP_FIRMWARE_VERSION_BUF_SIZE` bytes, as nvml.h sizes it).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGspFirmwareVersion(
    device: sys::nvmlDevice_t,
    version: *mut c_char,
) -> Return {
    call(
        "nvmlDeviceGetGspFirmwareVersion",
        || log_args!(device),
        || {
            let st = machine::snapshot()?;
            machine::device(&st, device)?;
            unsafe { write_str(version, GSP_VERSION_BUF, mig_sim::state::DRIVER_VERSION) }
        },
    )
}

/// `nvmlDeviceGetGspFirmwareMode`: enabled, enabled by default.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGspFirmwareMode(
    device: sys::nvmlDevice_t,
    is_enabled: *mut c_uint,
    default_mode: *mut c_uint,
) -> Return {
    call(
        "nvmlDeviceGetGspFirmwareMode",
        || log_args!(device),
        || {
            let st = machine::snapshot()?;
            machine::device(&st, device)?;
            let (e, d) = (unsafe { out(is_enabled) }?, unsafe { out(default_mode) }?);
            (*e, *d) = (1, 1);
            Ok(())
        },
    )
}

/// `nvmlDeviceGetMultiGpuBoard`: 0, one GPU per board.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetMultiGpuBoard(
    device: sys::nvmlDevice_t,
    multi_gpu_bool: *mut c_uint,
) -> Return {
    call(
        "nvmlDeviceGetMultiGpuBoard",
        || log_args!(device),
        || {
            let st = machine::snapshot()?;
            machine::device(&st, device)?;
            *unsafe { out(multi_gpu_bool) }? = 0;
            Ok(())
        },
    )
}

/// `nvmlDeviceGetNumGpuCores`: see the module documentation.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetNumGpuCores(
    device: sys::nvmlDevice_t,
    num_cores: *mut c_uint,
) -> Return {
    call(
        "nvmlDeviceGetNumGpuCores",
        || log_args!(device),
        || {
            let st = machine::snapshot()?;
            let m = match machine::device(&st, device)? {
                Device::Gpu { sim, .. } => sim.model(),
                Device::Mig { .. } => return Err(Fail::NOT_SUPPORTED),
            };
            let per_sm = match m.architecture {
                Architecture::Ampere => 64,
                Architecture::Hopper | Architecture::Blackwell => 128,
            };
            *unsafe { out(num_cores) }? = m.sm_count * per_sm;
            Ok(())
        },
    )
}

#[cfg(test)]
mod tests {
    /// Proves simulated serials have the real boards' 13 digits, leading zeros kept.
    #[test]
    fn serials_have_thirteen_digits() {
        assert_eq!(super::serial(42), "0000000000042");
        assert_eq!(super::serial(u64::MAX).len(), 13);
    }
}
