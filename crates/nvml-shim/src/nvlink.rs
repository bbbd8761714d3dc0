//! NVLink of the SXM boards: every port of a board with `[MODEL.nvlink]` in
//! `catalog/boards.toml` is active, of the model's NVLink version, wired to
//! an NVSwitch of its HGX baseboard, and has counted no error (nothing
//! simulated fails). A board without NVLink facts (PCIe and NVL boards,
//! whose bridges are optional, and boards no source describes) answers
//! `NOT_SUPPORTED`; a link past the board's last is `INVALID_ARGUMENT`
//! (nvml.h). Capabilities, remote PCI information and the deprecated
//! utilization counters are not modelled (generated fallbacks:
//! `NOT_SUPPORTED`). Lookups: `mig_sim::query_readings::topology`.

use crate::errors::{Fail, Result, Return};
use crate::sensors::read;
use mig_model::board::NvLink;
use mig_sim::query_readings::topology;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::{c_uint, c_ulonglong};

/// Read a fact of port `link` of the board `device` names into `p`.
///
/// # Safety
/// `p` is null or valid for a write.
unsafe fn link_value<T>(
    name: &str,
    device: sys::nvmlDevice_t,
    link: c_uint,
    p: *mut T,
    f: impl FnOnce(&NvLink) -> Result<T>,
) -> Return {
    unsafe { read(name, device, p, |g| f(topology::link(g, link)?)) }
}

/// `nvmlDeviceGetNvLinkState`: active (`NVML_FEATURE_ENABLED`).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetNvLinkState(
    device: sys::nvmlDevice_t,
    link: c_uint,
    is_active: *mut sys::nvmlEnableState_t,
) -> Return {
    unsafe {
        link_value("nvmlDeviceGetNvLinkState", device, link, is_active, |_| {
            Ok(sys::nvmlEnableState_enum_NVML_FEATURE_ENABLED)
        })
    }
}

/// `nvmlDeviceGetNvLinkVersion`: the model's `nvmlNvlinkVersion_t`.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetNvLinkVersion(
    device: sys::nvmlDevice_t,
    link: c_uint,
    version: *mut c_uint,
) -> Return {
    unsafe {
        link_value("nvmlDeviceGetNvLinkVersion", device, link, version, |n| {
            Ok(n.version)
        })
    }
}

/// `nvmlDeviceGetNvLinkRemoteDeviceType`: an NVSwitch
/// (`NVML_NVLINK_DEVICE_TYPE_SWITCH`).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetNvLinkRemoteDeviceType(
    device: sys::nvmlDevice_t,
    link: c_uint,
    device_type: *mut sys::nvmlIntNvLinkDeviceType_t,
) -> Return {
    unsafe {
        link_value(
            "nvmlDeviceGetNvLinkRemoteDeviceType",
            device,
            link,
            device_type,
            |_| Ok(sys::nvmlIntNvLinkDeviceType_enum_NVML_NVLINK_DEVICE_TYPE_SWITCH),
        )
    }
}

/// `nvmlDeviceGetNvLinkErrorCounter`: 0 for every counter nvml.h defines
/// (replay, recovery, CRC flit, CRC data, ECC data); a later counter is
/// `INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetNvLinkErrorCounter(
    device: sys::nvmlDevice_t,
    link: c_uint,
    counter: sys::nvmlNvLinkErrorCounter_t,
    counter_value: *mut c_ulonglong,
) -> Return {
    unsafe {
        link_value(
            "nvmlDeviceGetNvLinkErrorCounter",
            device,
            link,
            counter_value,
            |_| match counter < sys::nvmlNvLinkErrorCounter_enum_NVML_NVLINK_ERROR_COUNT {
                true => Ok(0),
                false => Err(Fail::INVALID_ARGUMENT),
            },
        )
    }
}
