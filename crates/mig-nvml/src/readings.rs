//! `Inventory::readings` over NVML: the values of nvidia-smi's default view
//! (persistence, display, ECC, fan, temperature, performance state, power,
//! memory in use, utilization, compute mode), one NVML call each. A call
//! the driver refuses or lacks answers as its error (`NotSupported` for an
//! entry point the library does not export); the rest stay unread
//! ([`Readings::not_read`]).

use crate::raw::{Device, Fail};
use mig_model::readings::{Read, Readings};
use mig_model::NvmlError;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::c_uint;

fn check(rc: sys::nvmlReturn_t) -> Read<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(NvmlError::from_code(rc).unwrap_or(NvmlError::Unknown))
    }
}

/// `NVML_FEATURE_ENABLED` as a bool.
fn enabled(s: sys::nvmlEnableState_t) -> bool {
    s == 1
}

/// The default view's readings of one GPU.
pub(crate) fn read(d: &Device<'_>) -> Readings {
    let h = d.h;
    let mut r = Readings::not_read();
    // SAFETY (every call below): `h` is a live handle and each out pointer
    // is a valid local of the type the entry point writes.
    r.persistence = entry!(d, nvmlDeviceGetPersistenceMode).and_then(|f| {
        let mut s: sys::nvmlEnableState_t = 0;
        check(unsafe { f(h, &mut s) }).map(|_| enabled(s))
    });
    r.display_active = entry!(d, nvmlDeviceGetDisplayActive).and_then(|f| {
        let mut s: sys::nvmlEnableState_t = 0;
        check(unsafe { f(h, &mut s) }).map(|_| enabled(s))
    });
    r.ecc_mode = entry!(d, nvmlDeviceGetEccMode).and_then(|f| {
        let (mut cur, mut pend): (sys::nvmlEnableState_t, sys::nvmlEnableState_t) = (0, 0);
        check(unsafe { f(h, &mut cur, &mut pend) }).map(|_| enabled(cur))
    });
    let ecc = |h: sys::nvmlDevice_t| {
        entry!(d, nvmlDeviceGetTotalEccErrors).and_then(|f| {
            let mut n: u64 = 0;
            // uncorrected (1), volatile (0)
            check(unsafe { f(h, 1, 0, &mut n) }).map(|_| n)
        })
    };
    r.ecc_volatile_uncorrected = ecc(h);
    // read through the first MIG device's handle, as with MIG enabled
    r.mig_ecc_volatile_uncorrected = match d.mig_device(0) {
        Ok(m) => ecc(m.h),
        Err(Fail::Code(c)) => Err(NvmlError::from_code(c).unwrap_or(NvmlError::Unknown)),
        Err(Fail::Missing(_)) => Err(NvmlError::NotSupported),
    };
    r.fan_percent = entry!(d, nvmlDeviceGetFanSpeed).and_then(|f| {
        let mut v: c_uint = 0;
        check(unsafe { f(h, &mut v) }).map(|_| v)
    });
    r.temperature_gpu = entry!(d, nvmlDeviceGetTemperature).and_then(|f| {
        let mut v: c_uint = 0;
        // NVML_TEMPERATURE_GPU
        check(unsafe { f(h, 0, &mut v) }).map(|_| v)
    });
    r.pstate = entry!(d, nvmlDeviceGetPerformanceState).and_then(|f| {
        let mut v: sys::nvmlPstates_t = 0;
        check(unsafe { f(h, &mut v) }).map(|_| v as u32)
    });
    r.power_draw_mw = entry!(d, nvmlDeviceGetPowerUsage).and_then(|f| {
        let mut v: c_uint = 0;
        check(unsafe { f(h, &mut v) }).map(|_| v)
    });
    r.power_limit_mw = entry!(d, nvmlDeviceGetPowerManagementLimit).and_then(|f| {
        let mut v: c_uint = 0;
        check(unsafe { f(h, &mut v) }).map(|_| v)
    });
    r.memory_used_reserved = entry!(d, nvmlDeviceGetMemoryInfo).and_then(|f| {
        // SAFETY: nvmlMemory_t is plain integers
        let mut m: sys::nvmlMemory_t = unsafe { std::mem::zeroed() };
        check(unsafe { f(h, &mut m) }).map(|_| (m.used, 0))
    });
    r.utilization = entry!(d, nvmlDeviceGetUtilizationRates).and_then(|f| {
        // SAFETY: nvmlUtilization_t is plain integers
        let mut u: sys::nvmlUtilization_t = unsafe { std::mem::zeroed() };
        check(unsafe { f(h, &mut u) }).map(|_| (u.gpu, u.memory))
    });
    r.compute_mode = entry!(d, nvmlDeviceGetComputeMode).and_then(|f| {
        let mut v: sys::nvmlComputeMode_t = 0;
        check(unsafe { f(h, &mut v) }).map(|_| v as u32)
    });
    more(d, &mut r);
    modes(d, &mut r);
    r
}

/// The readings `-q` and `--query-gpu` show beyond the default view.
fn more(d: &Device<'_>, r: &mut Readings) {
    use crate::details::{field, one, text};
    use nvml_wrapper_sys::bindings::field_id as fi;
    let h = d.h;
    // SAFETY (the string getters): live handle, buffer of the given length.
    r.serial = text(|b, n| check(unsafe { entry!(d, nvmlDeviceGetSerial)?(h, b, n) }));
    r.vbios_version = text(|b, n| check(unsafe { entry!(d, nvmlDeviceGetVbiosVersion)?(h, b, n) }));
    r.temperature_memory = field(d, fi::NVML_FI_DEV_MEMORY_TEMP, 0).map(|v| v as u32);
    r.enforced_power_limit_mw = one(entry!(d, nvmlDeviceGetEnforcedPowerLimit), h);
    r.default_power_limit_mw = one(entry!(d, nvmlDeviceGetPowerManagementDefaultLimit), h);
    r.power_limit_range_mw =
        entry!(d, nvmlDeviceGetPowerManagementLimitConstraints).and_then(|f| {
            let (mut lo, mut hi): (c_uint, c_uint) = (0, 0);
            // SAFETY: live handle, valid out pointers.
            check(unsafe { f(h, &mut lo, &mut hi) }).map(|_| (lo, hi))
        });
    let clock = |f: Read<unsafe extern "C" fn(sys::nvmlDevice_t, u32, *mut c_uint) -> u32>,
                 ty: u32| {
        let f = f?;
        let mut v: c_uint = 0;
        // SAFETY: live handle, valid out pointer.
        check(unsafe { f(h, ty, &mut v) }).map(|_| v)
    };
    // nvmlClockType_t: graphics 0, SM 1, memory 2, video 3
    r.clocks = [0, 1, 2, 3].map(|t| clock(entry!(d, nvmlDeviceGetClockInfo), t));
    r.max_clocks = [0, 1, 2, 3].map(|t| clock(entry!(d, nvmlDeviceGetMaxClockInfo), t));
    r.app_clocks = [0, 2].map(|t| clock(entry!(d, nvmlDeviceGetApplicationsClock), t));
    r.default_app_clocks =
        [0, 2].map(|t| clock(entry!(d, nvmlDeviceGetDefaultApplicationsClock), t));
    r.pcie_gen = [
        one(entry!(d, nvmlDeviceGetCurrPcieLinkGeneration), h),
        one(entry!(d, nvmlDeviceGetMaxPcieLinkGeneration), h),
        one(entry!(d, nvmlDeviceGetGpuMaxPcieLinkGeneration), h),
    ];
    r.pcie_width = [
        one(entry!(d, nvmlDeviceGetCurrPcieLinkWidth), h),
        one(entry!(d, nvmlDeviceGetMaxPcieLinkWidth), h),
    ];
    // the driver's reserve is in nvmlMemory_v2_t only
    if let Ok(f) = entry!(d, nvmlDeviceGetMemoryInfo_v2) {
        // SAFETY: plain integers.
        let mut m: sys::nvmlMemory_v2_t = unsafe { std::mem::zeroed() };
        m.version = std::mem::size_of::<sys::nvmlMemory_v2_t>() as c_uint | (2 << 24);
        // SAFETY: live handle, versioned struct.
        if check(unsafe { f(h, &mut m) }).is_ok() {
            r.memory_used_reserved = Ok((m.used, m.reserved));
        }
    }
}

/// `nvmlDeviceGetAddressingMode`'s `nvmlDeviceAddressingMode_t` (nvml.h,
/// NVML 13; not in the bindings).
#[repr(C)]
struct AddressingMode {
    version: c_uint,
    value: c_uint,
}

/// `NVML_STRUCT_VERSION(DeviceAddressingMode, 1)`: its size, version 1.
const ADDRESSING_MODE_V1: c_uint = 0x0100_0008;

/// `NVML_DEVICE_INFOROM_VERSION_BUFFER_SIZE`.
const INFOROM_LEN: usize = 16;

/// The modes, InfoROM versions, encoder statistics and power fields
/// `--query-gpu` shows besides the default view's readings.
fn modes(d: &Device<'_>, r: &mut Readings) {
    let h = d.h;
    // SAFETY (every call below): `h` is a live handle and each out pointer
    // is a valid local of the type the entry point writes; string buffers
    // are passed with their length.
    let state = |f: Read<
        unsafe extern "C" fn(sys::nvmlDevice_t, *mut sys::nvmlEnableState_t) -> sys::nvmlReturn_t,
    >| {
        f.and_then(|f| {
            let mut s: sys::nvmlEnableState_t = 0;
            check(unsafe { f(h, &mut s) }).map(|_| enabled(s))
        })
    };
    r.ecc_mode_pending = entry!(d, nvmlDeviceGetEccMode).and_then(|f| {
        let (mut cur, mut pend): (sys::nvmlEnableState_t, sys::nvmlEnableState_t) = (0, 0);
        check(unsafe { f(h, &mut cur, &mut pend) }).map(|_| enabled(pend))
    });
    r.accounting_mode = state(entry!(d, nvmlDeviceGetAccountingMode));
    r.power_management = state(entry!(d, nvmlDeviceGetPowerManagementMode));
    r.accounting_buffer_size = entry!(d, nvmlDeviceGetAccountingBufferSize).and_then(|f| {
        let mut v: c_uint = 0;
        check(unsafe { f(h, &mut v) }).map(|_| v)
    });
    r.inforom_image_version = entry!(d, nvmlDeviceGetInforomImageVersion).and_then(|f| {
        let mut buf = [0 as std::ffi::c_char; INFOROM_LEN];
        check(unsafe { f(h, buf.as_mut_ptr(), INFOROM_LEN as c_uint) })
            .map(|_| crate::raw::c_text(&buf))
    });
    let objects = [
        sys::nvmlInforomObject_enum_NVML_INFOROM_OEM,
        sys::nvmlInforomObject_enum_NVML_INFOROM_ECC,
        sys::nvmlInforomObject_enum_NVML_INFOROM_POWER,
    ];
    r.inforom_versions = objects.map(|o| {
        entry!(d, nvmlDeviceGetInforomVersion).and_then(|f| {
            let mut buf = [0 as std::ffi::c_char; INFOROM_LEN];
            check(unsafe { f(h, o, buf.as_mut_ptr(), INFOROM_LEN as c_uint) })
                .map(|_| crate::raw::c_text(&buf))
        })
    });
    r.encoder_stats = entry!(d, nvmlDeviceGetEncoderStats).and_then(|f| {
        let (mut n, mut fps, mut lat): (c_uint, c_uint, c_uint) = (0, 0, 0);
        check(unsafe { f(h, &mut n, &mut fps, &mut lat) }).map(|_| (n, fps, lat))
    });
    r.gsp_firmware_mode = entry!(d, nvmlDeviceGetGspFirmwareMode).and_then(|f| {
        let (mut on, mut default): (c_uint, c_uint) = (0, 0);
        check(unsafe { f(h, &mut on, &mut default) }).map(|_| (on != 0, default != 0))
    });
    let field = |id: u32| {
        entry!(d, nvmlDeviceGetFieldValues).and_then(|f| {
            // SAFETY: nvmlFieldValue_t is integers and a union of integers
            let mut v: sys::nvmlFieldValue_t = unsafe { std::mem::zeroed() };
            v.fieldId = id;
            check(unsafe { f(h, 1, &mut v) })?;
            check(v.nvmlReturn)?;
            // SAFETY: the power fields are NVML_VALUE_TYPE_UNSIGNED_INT
            Ok(unsafe { v.value.uiVal })
        })
    };
    r.power_draw_average_mw = field(sys::field_id::NVML_FI_DEV_POWER_AVERAGE);
    r.power_draw_instant_mw = field(sys::field_id::NVML_FI_DEV_POWER_INSTANT);
    // SAFETY: the symbol has nvml.h's signature for this entry point.
    let addressing = unsafe {
        d.nvml.newer.get::<unsafe extern "C" fn(sys::nvmlDevice_t, *mut AddressingMode) -> sys::nvmlReturn_t>(
            b"nvmlDeviceGetAddressingMode\0",
        )
    };
    r.addressing_mode = match addressing {
        Ok(f) => {
            let mut m = AddressingMode {
                version: ADDRESSING_MODE_V1,
                value: 0,
            };
            check(unsafe { f(h, &mut m) }).map(|_| m.value)
        }
        Err(_) => Err(NvmlError::NotSupported),
    };
}
