//! The getters behind `nvidia-smi -q` fields that no other module answers:
//! module ID, InfoROM object versions, the PCI class, SRAM ECC counters and
//! device capabilities. Each answers from the simulator's details of the
//! (parent) GPU (`mig_sim::query_readings::details`), the same values
//! `migctl -q` prints, so the real nvidia-smi over this library and migctl
//! agree; a value no source gives is `NOT_SUPPORTED`.

use crate::call_log::call;
use crate::errors::{out, versioned, write_str, Fail, Result, Return};
use crate::machine;
use mig_model::details::Details;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::{c_char, c_uint};
use std::mem::size_of;

/// `NVML_STRUCT_VERSION(T, 1)`: the struct's size with version 1 in the top byte.
const fn v1<T>() -> c_uint {
    size_of::<T>() as c_uint | (1 << 24)
}

/// The details of the (parent) GPU of a handle.
fn details(device: sys::nvmlDevice_t) -> Result<Details> {
    let st = machine::snapshot()?;
    let d = machine::device(&st, device)?;
    // the MIG devices' part is not asked of this library (each MIG handle
    // answers for itself)
    Ok(mig_sim::query_readings::details::details(d.sim_gpu(), &[]))
}

/// `nvmlDeviceGetModuleId`: the module slot a capture of the model gave
/// (6 on the lent H100, 3 on the lent H200).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetModuleId(
    device: sys::nvmlDevice_t,
    module_id: *mut c_uint,
) -> Return {
    call(
        "nvmlDeviceGetModuleId",
        || log_args!(device),
        || {
            let v = details(device)?.module_id?;
            *unsafe { out(module_id) }? = v;
            Ok(())
        },
    )
}

/// `nvmlDeviceGetInforomVersion`: the OEM and ECC objects' versions a
/// capture of the model gave ("2.1", "7.16" on both lent boards); the power
/// object, which they lacked, `NOT_SUPPORTED`; another object
/// `INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetInforomVersion(
    device: sys::nvmlDevice_t,
    object: sys::nvmlInforomObject_t,
    version: *mut c_char,
    length: c_uint,
) -> Return {
    call(
        "nvmlDeviceGetInforomVersion",
        || log_args!(device, object, length),
        || {
            let [oem, ecc, power] = details(device)?.inforom_objects;
            let v = match object {
                sys::nvmlInforomObject_enum_NVML_INFOROM_OEM => oem,
                sys::nvmlInforomObject_enum_NVML_INFOROM_ECC => ecc,
                sys::nvmlInforomObject_enum_NVML_INFOROM_POWER => power,
                _ => return Err(Fail::INVALID_ARGUMENT),
            }?;
            unsafe { write_str(version, length, &v) }
        },
    )
}

/// `nvmlDeviceGetPciInfoExt`: the PCI location and IDs `nvmlDeviceGetPciInfo`
/// answers, with the class a capture of the model gave (0x3/0x2, a 3D
/// controller, on both lent boards); struct version checked.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetPciInfoExt(
    device: sys::nvmlDevice_t,
    pci: *mut sys::nvmlPciInfoExt_t,
) -> Return {
    call(
        "nvmlDeviceGetPciInfoExt",
        || log_args!(device),
        || {
            let p = unsafe { versioned(pci, v1::<sys::nvmlPciInfoExt_t>()) }?;
            let st = machine::snapshot()?;
            let d = machine::device(&st, device)?;
            let g = d.sim_gpu();
            let det = mig_sim::query_readings::details::details(g, &[]);
            let (device_id, subsystem) = det.pci_ids?;
            let (base, sub) = det.pci_class?;
            let [domain, bus, dev, _] =
                mig_sim::query_readings::lookup::parse_bus_id(&g.pci_bus_id)
                    .ok_or(Fail::UNKNOWN)?;
            p.domain = domain;
            p.bus = bus;
            p.device = dev;
            p.pciDeviceId = device_id;
            p.pciSubSystemId = subsystem;
            p.baseClass = base;
            p.subClass = sub;
            crate::errors::fill_chars(&mut p.busId, &g.pci_bus_id);
            Ok(())
        },
    )
}

/// `nvmlDeviceGetSramEccErrorStatus`: the simulated SRAM counts (`migctl sim
/// set ecc-sram-...`), volatile and aggregate alike; struct version checked.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetSramEccErrorStatus(
    device: sys::nvmlDevice_t,
    status: *mut sys::nvmlEccSramErrorStatus_t,
) -> Return {
    call(
        "nvmlDeviceGetSramEccErrorStatus",
        || log_args!(device),
        || {
            let s = unsafe { versioned(status, v1::<sys::nvmlEccSramErrorStatus_t>()) }?;
            let e = details(device)?.ecc?;
            let [l2, sm, mcu, pcie, other] = e.sram_sources;
            s.aggregateUncParity = e.aggregate.sram_uncorrected_parity;
            s.aggregateUncSecDed = e.aggregate.sram_uncorrected_secded;
            s.aggregateCor = e.aggregate.sram_corrected;
            // with MIG enabled the volatile counts are not the GPU's to
            // give (nvml.h); the struct answers them as 0
            let v = e.volatile.unwrap_or_default();
            s.volatileUncParity = v.sram_uncorrected_parity;
            s.volatileUncSecDed = v.sram_uncorrected_secded;
            s.volatileCor = v.sram_corrected;
            s.aggregateUncBucketL2 = l2;
            s.aggregateUncBucketSm = sm;
            s.aggregateUncBucketPcie = pcie;
            s.aggregateUncBucketMcu = mcu;
            s.aggregateUncBucketOther = other;
            s.bThresholdExceeded = c_uint::from(e.sram_threshold_exceeded);
            Ok(())
        },
    )
}

/// `nvmlDeviceGetCapabilities`: no capability bit (EGM, `NVML_DEV_CAP_EGM`,
/// is off: "Capabilities / EGM: disabled" on both lent boards); struct
/// version checked.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetCapabilities(
    device: sys::nvmlDevice_t,
    caps: *mut sys::nvmlDeviceCapabilities_t,
) -> Return {
    call(
        "nvmlDeviceGetCapabilities",
        || log_args!(device),
        || {
            let c = unsafe { versioned(caps, v1::<sys::nvmlDeviceCapabilities_t>()) }?;
            let egm = details(device)?.egm?;
            c.capMask = u32::from(egm);
            Ok(())
        },
    )
}
