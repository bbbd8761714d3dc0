//! `Inventory::details` over NVML: the values of `nvidia-smi -q` beyond the
//! readings, one NVML call each (field values batched per field). A call
//! the driver refuses or lacks answers as its error (`NotSupported` for an
//! entry point the library does not export); what no public NVML call of
//! the bindings answers (addressing mode, PDI, repair status, GPU part
//! number) stays unread ([`Details::not_read`]).

use crate::raw::Device;
use mig_model::details::{Details, EccCounts, EccSet, MigDetails, RemappedRows};
use mig_model::readings::Read;
use mig_model::NvmlError;
use nvml_wrapper_sys::bindings::{self as sys, field_id as fi};
use std::ffi::{c_char, c_uint, CStr};

type Dev = sys::nvmlDevice_t;
type Ret = sys::nvmlReturn_t;

fn check(rc: Ret) -> Read<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(NvmlError::from_code(rc).unwrap_or(NvmlError::Unknown))
    }
}

/// A getter with one output of a plain type.
pub(crate) fn one<T: Default>(
    f: Read<unsafe extern "C" fn(Dev, *mut T) -> Ret>,
    h: Dev,
) -> Read<T> {
    let f = f?;
    let mut v = T::default();
    // SAFETY: `h` is a live handle and `v` a valid out pointer of the type
    // the entry point writes.
    check(unsafe { f(h, &mut v) }).map(|_| v)
}

/// A getter with one output of a C struct (all-zero bytes valid).
fn plain<T>(f: Read<unsafe extern "C" fn(Dev, *mut T) -> Ret>, h: Dev) -> Read<T> {
    let f = f?;
    // SAFETY: the NVML structs read here are plain integers.
    let mut v: T = unsafe { std::mem::zeroed() };
    // SAFETY: live handle, valid out pointer.
    check(unsafe { f(h, &mut v) }).map(|_| v)
}

/// A getter writing a string into a buffer of `len` bytes.
pub(crate) fn text(f: impl FnOnce(*mut c_char, c_uint) -> Read<()>) -> Read<String> {
    let mut buf = [0 as c_char; 96];
    f(buf.as_mut_ptr(), buf.len() as c_uint)?;
    // SAFETY: NVML NUL-terminates what it writes within the buffer, which
    // was zeroed (a final NUL stays).
    let s = unsafe { CStr::from_ptr(buf.as_ptr()) };
    Ok(s.to_string_lossy().into_owned())
}

/// One field value (`nvmlDeviceGetFieldValues`) as an unsigned number.
pub(crate) fn field(d: &Device<'_>, id: u32, scope: u32) -> Read<u64> {
    let f = entry!(d, nvmlDeviceGetFieldValues)?;
    // SAFETY: plain integers and a union of integers.
    let mut v: sys::nvmlFieldValue_t = unsafe { std::mem::zeroed() };
    v.fieldId = id;
    v.scopeId = scope;
    // SAFETY: live handle, one valid entry.
    check(unsafe { f(d.h, 1, &mut v) })?;
    check(v.nvmlReturn)?;
    // SAFETY: the union member the value type names.
    Ok(unsafe {
        match v.valueType {
            sys::nvmlValueType_enum_NVML_VALUE_TYPE_UNSIGNED_INT => u64::from(v.value.uiVal),
            sys::nvmlValueType_enum_NVML_VALUE_TYPE_UNSIGNED_LONG => v.value.ulVal as u64,
            _ => v.value.ullVal,
        }
    })
}

fn enabled(s: sys::nvmlEnableState_t) -> bool {
    s == 1
}

/// The `-q` details of one GPU (and its MIG devices, `migs`).
pub(crate) fn read(d: &Device<'_>, migs: &[Device<'_>]) -> Details {
    let h = d.h;
    let mut r = Details::not_read();
    r.brand = one(entry!(d, nvmlDeviceGetBrand), h);
    r.architecture = one(entry!(d, nvmlDeviceGetArchitecture), h);
    r.display_mode = one(entry!(d, nvmlDeviceGetDisplayMode), h).map(enabled);
    r.accounting_mode = one(entry!(d, nvmlDeviceGetAccountingMode), h).map(enabled);
    r.accounting_buffer_size = one(entry!(d, nvmlDeviceGetAccountingBufferSize), h);
    r.multi_gpu_board = one(entry!(d, nvmlDeviceGetMultiGpuBoard), h).map(|v: c_uint| v != 0);
    r.board_id = one(entry!(d, nvmlDeviceGetBoardId), h);
    r.module_id = one(entry!(d, nvmlDeviceGetModuleId), h);
    // SAFETY (the string getters): live handle, buffer of the given length.
    r.board_part_number =
        text(|b, n| check(unsafe { entry!(d, nvmlDeviceGetBoardPartNumber)?(h, b, n) }));
    r.inforom_image =
        text(|b, n| check(unsafe { entry!(d, nvmlDeviceGetInforomImageVersion)?(h, b, n) }));
    r.inforom_objects = [0, 1, 2].map(|obj| {
        text(|b, n| check(unsafe { entry!(d, nvmlDeviceGetInforomVersion)?(h, obj, b, n) }))
    });
    r.gsp_firmware =
        text(|b, _| check(unsafe { entry!(d, nvmlDeviceGetGspFirmwareVersion)?(h, b) }));
    r.c2c_enabled = plain(entry!(d, nvmlDeviceGetC2cModeInfoV), h).map(|c| c.isC2cEnabled != 0);
    r.virtualization_mode = one(entry!(d, nvmlDeviceGetVirtualizationMode), h);
    r.recovery_action = field(d, fi::NVML_FI_DEV_GET_GPU_RECOVERY_ACTION, 0).map(|v| v as u32);
    r.pci_ids =
        plain(entry!(d, nvmlDeviceGetPciInfo_v3), h).map(|p| (p.pciDeviceId, p.pciSubSystemId));
    r.pci_class = entry!(d, nvmlDeviceGetPciInfoExt).and_then(|f| {
        // SAFETY: plain integers.
        let mut p: sys::nvmlPciInfoExt_t = unsafe { std::mem::zeroed() };
        p.version = std::mem::size_of::<sys::nvmlPciInfoExt_t>() as c_uint | (1 << 24);
        // SAFETY: live handle, versioned struct.
        check(unsafe { f(h, &mut p) }).map(|_| (p.baseClass, p.subClass))
    });
    r.pcie_replays = one(entry!(d, nvmlDeviceGetPcieReplayCounter), h).and_then(|n| {
        let rollovers = field(d, fi::NVML_FI_DEV_PCIE_REPLAY_ROLLOVER_COUNTER, 0)?;
        Ok((n, rollovers as u32))
    });
    r.pcie_throughput_kbs = entry!(d, nvmlDeviceGetPcieThroughput).and_then(|f| {
        let (mut tx, mut rx): (c_uint, c_uint) = (0, 0);
        // SAFETY: live handle, valid out pointers; counters 0 TX, 1 RX.
        check(unsafe { f(h, 0, &mut tx) })?;
        check(unsafe { f(h, 1, &mut rx) })?;
        Ok((tx, rx))
    });
    r.clocks_event_reasons = one(entry!(d, nvmlDeviceGetCurrentClocksEventReasons), h);
    // the five counters as nvidia-smi 580's -q reads them: field values in
    // nanoseconds (nvml.h: NVML_FI_DEV_CLOCKS_EVENT_REASON_SW_POWER_CAP and
    // _SYNC_BOOST are the perf-policy fields 74 and 76; SW thermal, HW
    // thermal and HW power brake are 251-253)
    for (i, id) in [74, 76, 251, 252, 253].into_iter().enumerate() {
        r.violation_us[i] = field(d, id, 0).map(|ns| ns / 1000);
    }
    r.bar1 = plain(entry!(d, nvmlDeviceGetBAR1MemoryInfo), h).map(|b| (b.bar1Total, b.bar1Used));
    r.protected_memory = plain(entry!(d, nvmlDeviceGetConfComputeProtectedMemoryUsage), h)
        .map(|m| (m.total, m.used));
    let util = |f: Read<unsafe extern "C" fn(Dev, *mut c_uint, *mut c_uint) -> Ret>| {
        let f = f?;
        let (mut u, mut period): (c_uint, c_uint) = (0, 0);
        // SAFETY: live handle, valid out pointers.
        check(unsafe { f(h, &mut u, &mut period) }).map(|_| u)
    };
    r.engine_utilization = [
        util(entry!(d, nvmlDeviceGetEncoderUtilization)),
        util(entry!(d, nvmlDeviceGetDecoderUtilization)),
        util(entry!(d, nvmlDeviceGetJpgUtilization)),
        util(entry!(d, nvmlDeviceGetOfaUtilization)),
    ];
    r.encoder_stats = entry!(d, nvmlDeviceGetEncoderStats).and_then(|f| {
        let (mut n, mut fps, mut lat): (c_uint, c_uint, c_uint) = (0, 0, 0);
        // SAFETY: live handle, valid out pointers.
        check(unsafe { f(h, &mut n, &mut fps, &mut lat) }).map(|_| (n, fps, lat))
    });
    r.fbc_stats = plain(entry!(d, nvmlDeviceGetFBCStats), h)
        .map(|s| (s.sessionsCount, s.averageFPS, s.averageLatency));
    r.ecc_pending = entry!(d, nvmlDeviceGetEccMode).and_then(|f| {
        let (mut cur, mut pend): (sys::nvmlEnableState_t, sys::nvmlEnableState_t) = (0, 0);
        // SAFETY: live handle, valid out pointers.
        check(unsafe { f(h, &mut cur, &mut pend) }).map(|_| enabled(pend))
    });
    r.ecc = ecc(d);
    r.remapped_rows = entry!(d, nvmlDeviceGetRemappedRows).and_then(|f| {
        let (mut c, mut u, mut p, mut fail): (c_uint, c_uint, c_uint, c_uint) = (0, 0, 0, 0);
        // SAFETY: live handle, valid out pointers.
        check(unsafe { f(h, &mut c, &mut u, &mut p, &mut fail) })?;
        Ok(RemappedRows {
            correctable: c,
            uncorrectable: u,
            inactive_correctable: 0,
            inactive_uncorrectable: 0,
            pending: p != 0,
            failure: fail != 0,
        })
    });
    r.remap_histogram = plain(entry!(d, nvmlDeviceGetRowRemapperHistogram), h)
        .map(|v| [v.max, v.high, v.partial, v.low, v.none]);
    r.temperature_margin = entry!(d, nvmlDeviceGetMarginTemperature).and_then(|f| {
        // SAFETY: plain integers.
        let mut m: sys::nvmlMarginTemperature_t = unsafe { std::mem::zeroed() };
        m.version = std::mem::size_of::<sys::nvmlMarginTemperature_t>() as c_uint | (1 << 24);
        // SAFETY: live handle, versioned struct.
        check(unsafe { f(h, &mut m) }).map(|_| m.marginTemperature)
    });
    // NVML_TEMPERATURE_THRESHOLD_SHUTDOWN (0), _SLOWDOWN (1), _GPU_MAX (3)
    r.temperature_thresholds = [0, 1, 3].map(|t| {
        let f = entry!(d, nvmlDeviceGetTemperatureThreshold)?;
        let mut v: c_uint = 0;
        // SAFETY: live handle, valid out pointer.
        check(unsafe { f(h, t, &mut v) }).map(|_| v)
    });
    // NVML_POWER_SCOPE_GPU (0) and _MEMORY (2)
    r.power_average_mw = field(d, fi::NVML_FI_DEV_POWER_AVERAGE, 0).map(|v| v as u32);
    r.memory_power_average_mw = field(d, fi::NVML_FI_DEV_POWER_AVERAGE, 2).map(|v| v as u32);
    r.max_boost_clock_mhz = entry!(d, nvmlDeviceGetMaxCustomerBoostClock).and_then(|f| {
        let mut v: c_uint = 0;
        // SAFETY: live handle, valid out pointer; NVML_CLOCK_GRAPHICS.
        check(unsafe { f(h, 0, &mut v) }).map(|_| v)
    });
    r.supported_memory_clocks_mhz = entry!(d, nvmlDeviceGetSupportedMemoryClocks).and_then(|f| {
        // nvml.h: *count is the array's size in, the number written out
        let mut clocks = [0 as c_uint; 32];
        let mut n = clocks.len() as c_uint;
        // SAFETY: live handle; `clocks` holds `n` entries.
        check(unsafe { f(h, &mut n, clocks.as_mut_ptr()) })
            .map(|_| clocks[..(n as usize).min(clocks.len())].to_vec())
    });
    r.egm = entry!(d, nvmlDeviceGetCapabilities).and_then(|f| {
        // SAFETY: plain integers.
        let mut c: sys::nvmlDeviceCapabilities_t = unsafe { std::mem::zeroed() };
        c.version = std::mem::size_of::<sys::nvmlDeviceCapabilities_t>() as c_uint | (1 << 24);
        // SAFETY: live handle, versioned struct.
        check(unsafe { f(h, &mut c) }).map(|_| c.capMask & 1 != 0)
    });
    r.migs = migs.iter().map(mig).collect();
    r
}

/// SRAM counters from `nvmlDeviceGetSramEccErrorStatus`, DRAM ones from
/// `nvmlDeviceGetMemoryErrorCounter` at `NVML_MEMORY_LOCATION_DRAM` (2).
fn ecc(d: &Device<'_>) -> Read<EccCounts> {
    let h = d.h;
    let f = entry!(d, nvmlDeviceGetSramEccErrorStatus)?;
    // SAFETY: plain integers.
    let mut s: sys::nvmlEccSramErrorStatus_t = unsafe { std::mem::zeroed() };
    s.version = std::mem::size_of::<sys::nvmlEccSramErrorStatus_t>() as c_uint | (1 << 24);
    // SAFETY: live handle, versioned struct.
    check(unsafe { f(h, &mut s) })?;
    let dram = |error_type: u32, counter: u32| -> Read<u64> {
        let f = entry!(d, nvmlDeviceGetMemoryErrorCounter)?;
        let mut n: u64 = 0;
        // SAFETY: live handle, valid out pointer.
        check(unsafe { f(h, error_type, counter, 2, &mut n) }).map(|_| n)
    };
    // volatile DRAM counts are not read through a MIG-enabled GPU's handle
    let volatile = || -> Read<EccSet> {
        Ok(EccSet {
            sram_corrected: s.volatileCor,
            sram_uncorrected_parity: s.volatileUncParity,
            sram_uncorrected_secded: s.volatileUncSecDed,
            dram_corrected: dram(0, 0)?,
            dram_uncorrected: dram(1, 0)?,
        })
    };
    Ok(EccCounts {
        volatile: volatile(),
        aggregate: EccSet {
            sram_corrected: s.aggregateCor,
            sram_uncorrected_parity: s.aggregateUncParity,
            sram_uncorrected_secded: s.aggregateUncSecDed,
            dram_corrected: dram(0, 1)?,
            dram_uncorrected: dram(1, 1)?,
        },
        sram_threshold_exceeded: s.bThresholdExceeded != 0,
        sram_sources: [
            s.aggregateUncBucketL2,
            s.aggregateUncBucketSm,
            s.aggregateUncBucketMcu,
            s.aggregateUncBucketPcie,
            s.aggregateUncBucketOther,
        ],
    })
}

/// One MIG device's memory, BAR1 and volatile uncorrected ECC count.
fn mig(m: &Device<'_>) -> MigDetails {
    let h = m.h;
    MigDetails {
        memory: entry!(m, nvmlDeviceGetMemoryInfo_v2).and_then(|f| {
            // SAFETY: plain integers.
            let mut v: sys::nvmlMemory_v2_t = unsafe { std::mem::zeroed() };
            v.version = std::mem::size_of::<sys::nvmlMemory_v2_t>() as c_uint | (2 << 24);
            // SAFETY: live handle, versioned struct.
            check(unsafe { f(h, &mut v) }).map(|_| (v.total, v.reserved, v.used))
        }),
        bar1: plain(entry!(m, nvmlDeviceGetBAR1MemoryInfo), h).map(|b| (b.bar1Total, b.bar1Used)),
        ecc_volatile_uncorrected: entry!(m, nvmlDeviceGetTotalEccErrors).and_then(|f| {
            let mut n: u64 = 0;
            // SAFETY: live handle, valid out pointer; uncorrected, volatile.
            check(unsafe { f(h, 1, 0, &mut n) }).map(|_| n)
        }),
    }
}
