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
//! - VBIOS, board part number, InfoROM image, board ID, memory bus width,
//!   InfoROM checksum: what the real board of the model printed
//!   (`mig_sim::telemetry::Measured`: the lent H100 80GB HBM3 and H200);
//!   a model no real board was read of answers `NOT_SUPPORTED`, since any
//!   string would be invented. A MIG device answers its parent's, as
//!   nvidia-smi prints them per board.
//! - Bus type PCIe, power source AC, interrupt line, C2C and addressing
//!   mode: the same on every simulated board (each line says why).

use crate::call_log::{call, entry};
use crate::errors::{out, versioned, write_str, Fail, Result, Return};
use crate::machine::{self, Device};
use mig_model::catalog::Architecture;
use mig_sim::telemetry::{Measured, Probed};
use mig_sim::SimGpu;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::{c_char, c_uint};

/// `NVML_GSP_FIRMWARE_VERSION_BUF_SIZE`.
const GSP_VERSION_BUF: c_uint = 0x40;
/// The simulated serial of a GPU with this PDI (one rule, in mig-sim, which
/// migctl's `--query-gpu=serial` reads too).
pub fn serial(pdi: u64) -> String {
    mig_sim::query_readings::serial(pdi)
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

/// The (parent) GPU of a handle, for board-wide constants.
fn gpu_of(device: sys::nvmlDevice_t) -> Result<SimGpu> {
    let st = machine::snapshot()?;
    Ok(machine::device(&st, device)?.sim_gpu().clone())
}

/// What a real board of this GPU's model printed, else `NOT_SUPPORTED`.
fn measured(device: sys::nvmlDevice_t) -> Result<&'static Measured> {
    gpu_of(device)?.board().measured.ok_or(Fail::NOT_SUPPORTED)
}

/// What the monitoring probe read on a real board of the model, else `NOT_SUPPORTED`.
fn probed(device: sys::nvmlDevice_t) -> Result<&'static Probed> {
    measured(device)?.probe.as_ref().ok_or(Fail::NOT_SUPPORTED)
}

/// A string of the measured board into the caller's buffer of `length` bytes.
unsafe fn measured_str(
    name: &str,
    device: sys::nvmlDevice_t,
    buf: *mut c_char,
    length: c_uint,
    field: impl FnOnce(&'static Measured) -> &'static str,
) -> Return {
    call(
        name,
        || log_args!(device, length),
        || {
            let m = measured(device)?;
            unsafe { write_str(buf, length, field(m)) }
        },
    )
}

/// A number of the (parent) board into `p`.
unsafe fn board_value<T>(
    name: &str,
    device: sys::nvmlDevice_t,
    p: *mut T,
    f: impl FnOnce(sys::nvmlDevice_t) -> Result<T>,
) -> Return {
    entry(name, || {
        let v = f(device)?;
        *unsafe { out(p) }? = v;
        Ok(())
    })
}

/// `nvmlDeviceGetVbiosVersion`: the measured board's ("96.00.A5.00.1A" on
/// the lent H200, "96.00.DA.00.0C" on the lent H100), `NOT_SUPPORTED` for a
/// model no real board was read of.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetVbiosVersion(
    device: sys::nvmlDevice_t,
    version: *mut c_char,
    length: c_uint,
) -> Return {
    unsafe {
        measured_str("nvmlDeviceGetVbiosVersion", device, version, length, |m| {
            &m.vbios_version
        })
    }
}

/// `nvmlDeviceGetBoardPartNumber`: the measured board's ("692-2G520-0282-000"
/// on the lent H200), `NOT_SUPPORTED` for a model no real board was read of.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetBoardPartNumber(
    device: sys::nvmlDevice_t,
    part_number: *mut c_char,
    length: c_uint,
) -> Return {
    unsafe {
        measured_str(
            "nvmlDeviceGetBoardPartNumber",
            device,
            part_number,
            length,
            |m| &m.board_part_number,
        )
    }
}

/// `nvmlDeviceGetInforomImageVersion`: the measured board's ("G520.0282.02.02"
/// on the lent H200), `NOT_SUPPORTED` for a model no real board was read of.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetInforomImageVersion(
    device: sys::nvmlDevice_t,
    version: *mut c_char,
    length: c_uint,
) -> Return {
    unsafe {
        measured_str(
            "nvmlDeviceGetInforomImageVersion",
            device,
            version,
            length,
            |m| &m.inforom_image_version,
        )
    }
}

/// `nvmlDeviceGetInforomConfigurationChecksum`: the probed board's (0 on the
/// lent H200), `NOT_SUPPORTED` for a model the probe did not run on.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetInforomConfigurationChecksum(
    device: sys::nvmlDevice_t,
    checksum: *mut c_uint,
) -> Return {
    unsafe {
        board_value(
            "nvmlDeviceGetInforomConfigurationChecksum",
            device,
            checksum,
            |d| Ok(probed(d)?.inforom_checksum),
        )
    }
}

/// `nvmlDeviceGetBoardId`: the measured board's (0x6 on both lent boards),
/// `NOT_SUPPORTED` for a model no real board was read of.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetBoardId(
    device: sys::nvmlDevice_t,
    board_id: *mut c_uint,
) -> Return {
    unsafe {
        board_value("nvmlDeviceGetBoardId", device, board_id, |d| {
            Ok(measured(d)?.board_id)
        })
    }
}

/// `nvmlDeviceGetMemoryBusWidth`: the probed board's, bits (6016 on the lent
/// H200), `NOT_SUPPORTED` for a model the probe did not run on (no catalog
/// entry holds a bus width).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetMemoryBusWidth(
    device: sys::nvmlDevice_t,
    bus_width: *mut c_uint,
) -> Return {
    unsafe {
        board_value("nvmlDeviceGetMemoryBusWidth", device, bus_width, |d| {
            Ok(probed(d)?.memory_bus_width)
        })
    }
}

/// `nvmlDeviceGetBusType`: `NVML_BUS_TYPE_PCIE`: every simulated GPU is a
/// PCIe function (the host tree's sysfs entries; the lent H200 answered 2).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetBusType(
    device: sys::nvmlDevice_t,
    bus_type: *mut sys::nvmlBusType_t,
) -> Return {
    unsafe {
        board_value("nvmlDeviceGetBusType", device, bus_type, |d| {
            gpu_of(d)?;
            Ok(sys::NVML_BUS_TYPE_PCIE)
        })
    }
}

/// `nvmlDeviceGetPowerSource`: `NVML_POWER_SOURCE_AC`: server boards run on
/// mains power (nvml.h's battery source is a notebook's; the lent H200 answered 0).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetPowerSource(
    device: sys::nvmlDevice_t,
    source: *mut sys::nvmlPowerSource_t,
) -> Return {
    unsafe {
        board_value("nvmlDeviceGetPowerSource", device, source, |d| {
            gpu_of(d)?;
            Ok(sys::NVML_POWER_SOURCE_AC)
        })
    }
}

/// `nvmlDeviceGetIrqNum`: the GPU's interrupt line as the simulated host
/// tree gives it (`mig_sim::host::irq`: sysfs `irq` and the proc
/// `information` file; per host, the lent H200 had 41).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetIrqNum(
    device: sys::nvmlDevice_t,
    irq_num: *mut c_uint,
) -> Return {
    unsafe {
        board_value("nvmlDeviceGetIrqNum", device, irq_num, |d| {
            Ok(mig_sim::host::irq(gpu_of(d)?.minor))
        })
    }
}

/// `nvmlDeviceGetC2cModeInfoV`: C2C disabled on PCIe-attached boards (the
/// lent H100 "GPU C2C Mode: Disabled", the lent H200 `isC2cEnabled` 0);
/// GH200 and GB200, which have the link (`c2c_link` in catalog/boards.toml),
/// `NOT_SUPPORTED` (not measured).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetC2cModeInfoV(
    device: sys::nvmlDevice_t,
    info: *mut sys::nvmlC2cModeInfo_v1_t,
) -> Return {
    unsafe {
        board_value("nvmlDeviceGetC2cModeInfoV", device, info, |d| {
            let on = mig_sim::query_readings::details::c2c_enabled(&gpu_of(d)?)?;
            Ok(sys::nvmlC2cModeInfo_v1_t {
                isC2cEnabled: c_uint::from(on),
            })
        })
    }
}

/// `nvmlDeviceAddressingMode_t` (nvml.h, API 13; not in the bindings).
#[repr(C)]
pub struct AddressingMode {
    pub version: c_uint,
    pub value: c_uint,
}

/// `NVML_STRUCT_VERSION(DeviceAddressingMode, 1)`.
const ADDRESSING_MODE_V1: c_uint = 0x0100_0008;

/// `nvmlDeviceGetAddressingMode`: `NVML_DEVICE_ADDRESSING_MODE_NONE` (0):
/// neither HMM nor ATS on the simulated host (the lent H100 "Addressing Mode:
/// None", the lent H200 0); struct version checked.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetAddressingMode(
    device: sys::nvmlDevice_t,
    mode: *mut AddressingMode,
) -> Return {
    call(
        "nvmlDeviceGetAddressingMode",
        || log_args!(device),
        || {
            let m = unsafe { versioned(mode, ADDRESSING_MODE_V1) }?;
            gpu_of(device)?;
            m.value = 0;
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
