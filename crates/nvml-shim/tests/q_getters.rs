//! The getters behind `nvidia-smi -q` fields, called as nvidia-smi calls
//! them (linked in, C ABI): on a simulated H100 80GB HBM3 and H200 they
//! answer what the lent boards' `nvidia-smi -q` printed
//! (`shared/reference/h100-80gb-hbm3/h100_q.txt`,
//! `catalog/measured/h200-580.159.04/q.txt`), on a board without a capture
//! they answer NOT_SUPPORTED, and the live ones follow `sim set`.

use mig_sim::telemetry::{EccCounter, Setting, Virtualization};
use mig_sim::SimMachine;
use nvml_shim::details::*;
use nvml_shim::fields::nvmlDeviceGetFieldValues;
use nvml_shim::*;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::{c_char, c_uint, CStr};

const SUCCESS: u32 = 0;
const NOT_SUPPORTED: u32 = 3;

/// `NVML_STRUCT_VERSION(T, v)`.
fn version<T>(v: u32) -> c_uint {
    std::mem::size_of::<T>() as c_uint | (v << 24)
}

fn zeroed<T: Copy>() -> T {
    // SAFETY: NVML's structs are plain C data.
    unsafe { std::mem::zeroed() }
}

/// Proves, on the three boards of one machine (the lock-free way: one test
/// owns the process's library): module ID, InfoROM OEM/ECC objects (power
/// object N/A), PCI class, reserved memory, virtualization mode, average
/// GPU and memory power, PCIe throughput, SRAM and DRAM ECC counts and
/// capabilities answer the boards' captured `-q` values and follow
/// `sim set`; the A100 has no capture, so its captured-only facts are
/// NOT_SUPPORTED.
#[test]
fn q_getters_answer_the_captured_boards() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state.json");
    let sim = SimMachine::open(&state).expect("open sim");
    let models: Vec<(String, bool)> = ["h100-sxm5-80gb", "h200-sxm5-141gb", "a100-sxm4-40gb"]
        .iter()
        .map(|s| (s.to_string(), false))
        .collect();
    sim.init(&models).expect("sim init");
    sim.set_telemetry(
        &[0],
        &[
            Setting::PowerAverage(116_040),
            Setting::MemoryPower(48_510),
            Setting::PcieTx(1943),
            Setting::PcieRx(536),
            Setting::Virtualization(Virtualization::PassThrough),
            Setting::Ecc(EccCounter::SramCorrected, 4),
            Setting::Ecc(EccCounter::DramUncorrected, 2),
        ],
    )
    .expect("sim set");
    std::env::set_var("MIGCTL_SIM_STATE", &state);
    assert_eq!(nvmlInit_v2(), SUCCESS);
    let dev = |i: u32| {
        let mut d: sys::nvmlDevice_t = std::ptr::null_mut();
        assert_eq!(unsafe { nvmlDeviceGetHandleByIndex_v2(i, &mut d) }, SUCCESS);
        d
    };
    let (h100, h200, a100) = (dev(0), dev(1), dev(2));

    let mut v: c_uint = 0;
    // "Module Id : 6" and ": 3"
    for (d, want) in [(h100, 6), (h200, 3)] {
        assert_eq!(unsafe { nvmlDeviceGetModuleId(d, &mut v) }, SUCCESS);
        assert_eq!(v, want);
    }
    assert_eq!(
        unsafe { nvmlDeviceGetModuleId(a100, &mut v) },
        NOT_SUPPORTED
    );

    // "OEM Object : 2.1", "ECC Object : 7.16", "Power Management Object : N/A"
    let mut buf = [0 as c_char; 32];
    let inforom = |d, obj, buf: &mut [c_char; 32]| {
        let rc = unsafe { nvmlDeviceGetInforomVersion(d, obj, buf.as_mut_ptr(), 32) };
        // SAFETY: NUL-terminated by the library on success
        (
            rc,
            unsafe { CStr::from_ptr(buf.as_ptr()) }
                .to_string_lossy()
                .into_owned(),
        )
    };
    assert_eq!(inforom(h100, 0, &mut buf), (SUCCESS, "2.1".to_string()));
    assert_eq!(inforom(h200, 1, &mut buf), (SUCCESS, "7.16".to_string()));
    assert_eq!(inforom(h100, 2, &mut buf).0, NOT_SUPPORTED);
    assert_eq!(inforom(a100, 0, &mut buf).0, NOT_SUPPORTED);

    // "Base Classcode : 0x3", "Sub Classcode : 0x2", "Device Id : 0x233010DE"
    let mut pci: sys::nvmlPciInfoExt_t = zeroed();
    pci.version = version::<sys::nvmlPciInfoExt_t>(1);
    assert_eq!(unsafe { nvmlDeviceGetPciInfoExt(h100, &mut pci) }, SUCCESS);
    assert_eq!(
        (pci.baseClass, pci.subClass, pci.pciDeviceId),
        (3, 2, 0x2330_10DE)
    );

    // "Reserved : 480 MiB" and H200's 616 MiB (615.5 MiB rounded)
    for (d, kib) in [(h100, 491_520u64), (h200, 630_272)] {
        let mut m: sys::nvmlMemory_v2_t = zeroed();
        m.version = version::<sys::nvmlMemory_v2_t>(2);
        assert_eq!(unsafe { nvmlDeviceGetMemoryInfo_v2(d, &mut m) }, SUCCESS);
        assert_eq!(m.reserved, kib * 1024);
        assert_eq!(m.free, m.total - m.reserved - m.used);
    }

    // "Virtualization Mode : Pass-Through" once set; bare metal by default
    let mut mode: sys::nvmlGpuVirtualizationMode_t = 9;
    assert_eq!(
        unsafe { nvmlDeviceGetVirtualizationMode(h100, &mut mode) },
        SUCCESS
    );
    assert_eq!(mode, 1);
    assert_eq!(
        unsafe { nvmlDeviceGetVirtualizationMode(h200, &mut mode) },
        SUCCESS
    );
    assert_eq!(mode, 0);

    // "Average Power Draw : 116.04 W" (GPU scope 0), "48.51 W" (memory scope 2)
    let mut f: [sys::nvmlFieldValue_t; 2] = zeroed();
    f[0].fieldId = 185; // NVML_FI_DEV_POWER_AVERAGE
    f[1].fieldId = 185;
    f[1].scopeId = 2;
    assert_eq!(
        unsafe { nvmlDeviceGetFieldValues(h100, 2, f.as_mut_ptr()) },
        SUCCESS
    );
    assert_eq!(
        unsafe { (f[0].value.uiVal, f[1].value.uiVal) },
        (116_040, 48_510)
    );

    // "Current/Requested/Default/Min/Max Power Limit : 700.00 W ... 200.00 W"
    // on the GPU scope, read as fields (as nvidia-smi 580's -q reads them);
    // none on the module scope (1): "Module Power Readings ... N/A"
    let mut f: [sys::nvmlFieldValue_t; 6] = zeroed();
    for (v, id) in f.iter_mut().zip([190, 192, 189, 187, 188, 190]) {
        v.fieldId = id;
    }
    f[5].scopeId = 1;
    assert_eq!(
        unsafe { nvmlDeviceGetFieldValues(h100, 6, f.as_mut_ptr()) },
        SUCCESS
    );
    let got: Vec<_> = f[..5].iter().map(|v| unsafe { v.value.uiVal }).collect();
    assert_eq!(got, [700_000, 700_000, 700_000, 200_000, 700_000]);
    assert_eq!(f[5].nvmlReturn, NOT_SUPPORTED);

    // "Clocks Event Reasons Counters": 0 us each at idle (h100_q.txt), as
    // nanosecond field values 74, 76, 251, 252, 253 (nvml.h)
    let mut f: [sys::nvmlFieldValue_t; 5] = zeroed();
    for (v, id) in f.iter_mut().zip([74, 76, 251, 252, 253]) {
        v.fieldId = id;
        v.value.ullVal = 77;
    }
    assert_eq!(
        unsafe { nvmlDeviceGetFieldValues(h100, 5, f.as_mut_ptr()) },
        SUCCESS
    );
    for v in &f {
        assert_eq!((v.nvmlReturn, unsafe { v.value.ullVal }), (SUCCESS, 0));
    }

    // "Tx Throughput : 1943 KB/s", "Rx Throughput : 536 KB/s"
    assert_eq!(
        unsafe { nvmlDeviceGetPcieThroughput(h100, 0, &mut v) },
        SUCCESS
    );
    assert_eq!(v, 1943);
    assert_eq!(
        unsafe { nvmlDeviceGetPcieThroughput(h100, 1, &mut v) },
        SUCCESS
    );
    assert_eq!(v, 536);

    // ECC: SRAM from the status struct, DRAM at NVML_MEMORY_LOCATION_DRAM (2)
    let mut s: sys::nvmlEccSramErrorStatus_t = zeroed();
    s.version = version::<sys::nvmlEccSramErrorStatus_t>(1);
    assert_eq!(
        unsafe { nvmlDeviceGetSramEccErrorStatus(h100, &mut s) },
        SUCCESS
    );
    assert_eq!(
        (s.volatileCor, s.aggregateCor, s.bThresholdExceeded),
        (4, 4, 0)
    );
    let mut n: u64 = 0;
    assert_eq!(
        unsafe { nvmlDeviceGetMemoryErrorCounter(h100, 1, 1, 2, &mut n) },
        SUCCESS
    );
    assert_eq!(n, 2);
    assert_eq!(
        unsafe { nvmlDeviceGetTotalEccErrors(h100, 1, 0, &mut n) },
        SUCCESS
    );
    assert_eq!(n, 2);
    assert_eq!(
        unsafe { nvmlDeviceGetTotalEccErrors(h200, 1, 0, &mut n) },
        SUCCESS
    );
    assert_eq!(n, 0);

    // "Capabilities / EGM : disabled"
    let mut caps: sys::nvmlDeviceCapabilities_t = zeroed();
    caps.version = version::<sys::nvmlDeviceCapabilities_t>(1);
    assert_eq!(
        unsafe { nvmlDeviceGetCapabilities(h200, &mut caps) },
        SUCCESS
    );
    assert_eq!(caps.capMask, 0);
    // a wrong struct version is refused
    caps.version = 1;
    assert_ne!(
        unsafe { nvmlDeviceGetCapabilities(h200, &mut caps) },
        SUCCESS
    );
    assert_eq!(nvmlShutdown(), SUCCESS);
}
