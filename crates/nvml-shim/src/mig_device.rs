//! MIG mode and MIG devices: `nvmlDevice{Get,Set}MigMode`, the MIG device
//! handles under a GPU, and the calls that go between a MIG device and its
//! parent, GPU instance and compute instance.
//!
//! Parent-only calls (mode, MIG device enumeration) refuse a MIG device
//! handle with `INVALID_ARGUMENT`; MIG-only calls (GI/CI ID, parent handle)
//! answer a physical GPU handle with `NOT_SUPPORTED` or `INVALID_ARGUMENT`
//! as nvml.h documents.

use crate::call_log::call;
use crate::errors::{out, Fail, Result, Return};
use crate::machine::{self, Device};
use mig_model::backend::ModeControl;
use mig_model::engine::max_mig_devices;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::c_uint;

/// `NVML_DEVICE_MIG_ENABLE` / `_DISABLE`.
const MIG_ENABLE: c_uint = 1;
const MIG_DISABLE: c_uint = 0;

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetMigMode(
    device: sys::nvmlDevice_t,
    current_mode: *mut c_uint,
    pending_mode: *mut c_uint,
) -> Return {
    call(
        "nvmlDeviceGetMigMode",
        || log_args!(device),
        || {
            let current_mode = unsafe { out(current_mode) }?;
            let pending_mode = unsafe { out(pending_mode) }?;
            let st = machine::snapshot()?;
            let (_, g) = machine::device(&st, device)?.require_gpu()?;
            *current_mode = c_uint::from(g.mig_current);
            *pending_mode = c_uint::from(g.mig_pending);
            Ok(())
        },
    )
}

/// `nvmlDeviceSetMigMode`: the call succeeds and `activationStatus` says
/// whether the new mode is in effect (`NVML_SUCCESS`) or pending (`IN_USE`
/// while processes run, as the simulator decides).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceSetMigMode(
    device: sys::nvmlDevice_t,
    mode: c_uint,
    activation_status: *mut sys::nvmlReturn_t,
) -> Return {
    call(
        "nvmlDeviceSetMigMode",
        || log_args!(device, mode),
        || {
            let activation_status = unsafe { out(activation_status) }?;
            let enable = match mode {
                MIG_ENABLE => true,
                MIG_DISABLE => false,
                _ => return Err(Fail::INVALID_ARGUMENT),
            };
            let st = machine::snapshot()?;
            let (gpu, _) = machine::device(&st, device)?.require_gpu()?;
            let status = machine::sim()?.set_mig_mode(&mig_model::GpuRef::Index(gpu), enable)?;
            *activation_status = status.map_or(crate::errors::SUCCESS, |e| e.code());
            Ok(())
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetMaxMigDeviceCount(
    device: sys::nvmlDevice_t,
    count: *mut c_uint,
) -> Return {
    call(
        "nvmlDeviceGetMaxMigDeviceCount",
        || log_args!(device),
        || {
            let count = unsafe { out(count) }?;
            let st = machine::snapshot()?;
            let (_, g) = machine::device(&st, device)?.require_gpu()?;
            *count = if g.mig_current {
                max_mig_devices(g.model())
            } else {
                0
            };
            Ok(())
        },
    )
}

/// `nvmlDeviceGetMigDeviceHandleByIndex`: indexes past the maximum are
/// invalid; an index with no MIG device now is `NOT_FOUND` (clients loop to
/// the maximum and skip those, as go-nvlib does).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetMigDeviceHandleByIndex(
    device: sys::nvmlDevice_t,
    index: c_uint,
    mig_device: *mut sys::nvmlDevice_t,
) -> Return {
    call(
        "nvmlDeviceGetMigDeviceHandleByIndex",
        || log_args!(device, index),
        || {
            let mig_device = unsafe { out(mig_device) }?;
            let st = machine::snapshot()?;
            let (gpu, g) = machine::device(&st, device)?.require_gpu()?;
            if !g.mig_current || index >= max_mig_devices(g.model()) {
                return Err(Fail::INVALID_ARGUMENT);
            }
            let devices = mig_sim::mig_devices_of(&st, gpu)?;
            let d = devices.get(index as usize).ok_or(Fail::NOT_FOUND)?;
            *mig_device = machine::mig_handle(gpu, g, d)?;
            Ok(())
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceIsMigDeviceHandle(
    device: sys::nvmlDevice_t,
    is_mig_device: *mut c_uint,
) -> Return {
    call(
        "nvmlDeviceIsMigDeviceHandle",
        || log_args!(device),
        || {
            let is_mig_device = unsafe { out(is_mig_device) }?;
            let st = machine::snapshot()?;
            let d = machine::device(&st, device)?;
            *is_mig_device = c_uint::from(matches!(d, Device::Mig { .. }));
            Ok(())
        },
    )
}

/// Run `f` on a MIG device handle; a physical GPU's handle is
/// `INVALID_ARGUMENT` for the calls that take only MIG device handles: what
/// the lent H200 answered for `nvmlDeviceGetGpuInstanceId`,
/// `nvmlDeviceGetComputeInstanceId` and
/// `nvmlDeviceGetDeviceHandleFromMigDeviceHandle` (monitoring-probe.json,
/// MIG disabled; the same rule is kept with MIG enabled, as the handle, not
/// the mode, is what is wrong).
fn on_mig<T>(device: sys::nvmlDevice_t, f: impl FnOnce(&machine::CiRef<'_>) -> T) -> Result<T> {
    let st = machine::snapshot()?;
    match machine::device(&st, device)? {
        Device::Mig { ci, .. } => Ok(f(&ci)),
        Device::Gpu { .. } => Err(Fail::INVALID_ARGUMENT),
    }
}

/// `nvmlDeviceGetGpuInstanceId`: the GI ID of a MIG device; see `on_mig`.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGpuInstanceId(
    device: sys::nvmlDevice_t,
    id: *mut c_uint,
) -> Return {
    call(
        "nvmlDeviceGetGpuInstanceId",
        || log_args!(device),
        || {
            let id = unsafe { out(id) }?;
            *id = on_mig(device, |ci| ci.gi.gi.id.0)?;
            Ok(())
        },
    )
}

/// `nvmlDeviceGetComputeInstanceId`: the CI ID of a MIG device; see `on_mig`.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetComputeInstanceId(
    device: sys::nvmlDevice_t,
    id: *mut c_uint,
) -> Return {
    call(
        "nvmlDeviceGetComputeInstanceId",
        || log_args!(device),
        || {
            let id = unsafe { out(id) }?;
            *id = on_mig(device, |ci| ci.ci.id.0)?;
            Ok(())
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetDeviceHandleFromMigDeviceHandle(
    mig_device: sys::nvmlDevice_t,
    device: *mut sys::nvmlDevice_t,
) -> Return {
    call(
        "nvmlDeviceGetDeviceHandleFromMigDeviceHandle",
        || log_args!(mig_device),
        || {
            let device = unsafe { out(device) }?;
            let gpu = on_mig(mig_device, |ci| ci.gi.gpu)?;
            *device = machine::gpu_handle(gpu)?;
            Ok(())
        },
    )
}
