//! The NVML C ABI of the shim, called directly through the rlib: init and
//! shutdown, discovery, handles (bad, stale, wrong kind), null pointers,
//! short buffers, struct versions, and the GI/CI lifecycle, each checked
//! against what the simulated machine itself reports.
//!
//! The library's session is process-wide (as NVML's is), so the tests take
//! one lock and each points `MIGCTL_SIM_STATE` at its own machine.

use mig_model::backend::{GpuRef, Inventory, LayoutControl};
use mig_model::{ComputeInstanceId, GpuInstanceId};

/// The first GPU of a test machine.
const G0: GpuRef = GpuRef::Index(0);
use mig_sim::SimMachine;
use nvml_shim::*;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::{c_char, c_uint, CStr};
use std::path::PathBuf;
use std::ptr::{null, null_mut};
use std::sync::{Mutex, MutexGuard};

const SUCCESS: u32 = 0;
const UNINITIALIZED: u32 = 1;
const INVALID_ARGUMENT: u32 = 2;
const NOT_SUPPORTED: u32 = 3;
const NOT_FOUND: u32 = 6;
const INSUFFICIENT_SIZE: u32 = 7;
const IN_USE: u32 = 19;
const INSUFFICIENT_RESOURCES: u32 = 23;
const ARGUMENT_VERSION_MISMATCH: u32 = 25;
const UNKNOWN: u32 = 999;

static LOCK: Mutex<()> = Mutex::new(());

/// A private simulated machine with the library initialised on it.
struct Machine {
    dir: tempfile::TempDir,
    _guard: MutexGuard<'static, ()>,
}

fn shutdown_all() {
    while nvmlShutdown() == SUCCESS {}
}

impl Machine {
    /// Take the lock, make a machine of `models`, point the library at it.
    fn new(models: &[&str], init: bool) -> Machine {
        let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        shutdown_all();
        let dir = tempfile::tempdir().expect("tempdir");
        let m = Machine { dir, _guard: guard };
        let models: Vec<(String, bool)> = models.iter().map(|s| (s.to_string(), false)).collect();
        m.sim().init(&models).expect("sim init");
        std::env::set_var("MIGCTL_SIM_STATE", m.state());
        std::env::remove_var("MIGCTL_SIM_FAULT");
        if init {
            assert_eq!(nvmlInit_v2(), SUCCESS);
        }
        m
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state.json")
    }

    fn sim(&self) -> SimMachine {
        SimMachine::open(self.state()).expect("open sim")
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        shutdown_all();
    }
}

/// A zeroed NVML struct (they are plain C data: integers, arrays, pointers).
fn zeroed<T: Copy>() -> T {
    // SAFETY: only used for bindgen's plain-old-data NVML structs.
    unsafe { std::mem::zeroed() }
}

fn text(buf: &[c_char]) -> String {
    let bytes: Vec<u8> = buf
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8(bytes).expect("utf-8")
}

fn device(index: u32) -> sys::nvmlDevice_t {
    let mut d = null_mut();
    assert_eq!(
        unsafe { nvmlDeviceGetHandleByIndex_v2(index, &mut d) },
        SUCCESS
    );
    d
}

fn name(d: sys::nvmlDevice_t) -> String {
    let mut buf = [0 as c_char; 96];
    assert_eq!(
        unsafe { nvmlDeviceGetName(d, buf.as_mut_ptr(), 96) },
        SUCCESS
    );
    text(&buf)
}

fn uuid(d: sys::nvmlDevice_t) -> String {
    let mut buf = [0 as c_char; 96];
    assert_eq!(
        unsafe { nvmlDeviceGetUUID(d, buf.as_mut_ptr(), 96) },
        SUCCESS
    );
    text(&buf)
}

fn handle_by_uuid(u: &str) -> (u32, sys::nvmlDevice_t) {
    let c = std::ffi::CString::new(u).expect("no NUL");
    let mut d = null_mut();
    let r = unsafe { nvmlDeviceGetHandleByUUID(c.as_ptr(), &mut d) };
    (r, d)
}

/// Proves calls before nvmlInit answer UNINITIALIZED, init/shutdown are
/// counted like NVML's, and nvmlErrorString works without init.
#[test]
fn uninitialized_and_refcounted_init() {
    let _m = Machine::new(&["a100-sxm4-40gb"], false);
    let mut count = 0;
    assert_eq!(unsafe { nvmlDeviceGetCount_v2(&mut count) }, UNINITIALIZED);
    assert_eq!(nvmlShutdown(), UNINITIALIZED);
    let msg = unsafe { CStr::from_ptr(nvmlErrorString(NOT_SUPPORTED)) };
    assert_eq!(msg.to_str(), Ok("Not Supported"));
    let msg = unsafe { CStr::from_ptr(nvmlErrorString(IN_USE)) };
    assert_eq!(msg.to_str(), Ok("In use by another client"));

    assert_eq!(nvmlInit(), SUCCESS);
    assert_eq!(nvmlInitWithFlags(0), SUCCESS);
    assert_eq!(nvmlShutdown(), SUCCESS);
    assert_eq!(unsafe { nvmlDeviceGetCount(&mut count) }, SUCCESS);
    assert_eq!(count, 1);
    assert_eq!(nvmlShutdown(), SUCCESS);
    assert_eq!(unsafe { nvmlDeviceGetCount(&mut count) }, UNINITIALIZED);
}

/// Proves state-file problems are NVML_ERROR_UNKNOWN, at init and later.
#[test]
fn state_file_problems_are_unknown() {
    let m = Machine::new(&["a30-24gb"], false);
    std::env::set_var("MIGCTL_SIM_STATE", m.dir.path().join("missing.json"));
    assert_eq!(nvmlInit_v2(), UNKNOWN);
    std::env::set_var("MIGCTL_SIM_STATE", m.state());
    assert_eq!(nvmlInit_v2(), SUCCESS);
    std::fs::write(m.state(), "{ not json").expect("write");
    let mut count = 0;
    assert_eq!(unsafe { nvmlDeviceGetCount_v2(&mut count) }, UNKNOWN);
    let mut d = null_mut();
    assert_eq!(unsafe { nvmlDeviceGetHandleByIndex(0, &mut d) }, UNKNOWN);
    // a machine made again over the corrupt file is served at once
    m.sim()
        .init_with(&[("a100-sxm4-40gb".into(), false)], false, true)
        .expect("init");
    assert_eq!(unsafe { nvmlDeviceGetCount_v2(&mut count) }, SUCCESS);
    assert_eq!(name(device(0)), "NVIDIA A100-SXM4-40GB");
}

/// Proves the library, which keeps the machine it read while the state
/// file is unchanged, sees a change made by another client (a `SimMachine`
/// of its own, as another process is) at its very next read, over 20 mode
/// switches in quick succession.
#[test]
fn a_change_by_another_client_is_seen_by_the_next_read() {
    use mig_model::backend::ModeControl;
    let m = Machine::new(&["h100-sxm5-80gb"], true);
    let other = m.sim();
    let d = device(0);
    for i in 0..20 {
        let want = i % 2 == 0;
        other.set_mig_mode(&G0, want).expect("set mode");
        let (mut cur, mut pend) = (9, 9);
        assert_eq!(
            unsafe { nvmlDeviceGetMigMode(d, &mut cur, &mut pend) },
            SUCCESS
        );
        assert_eq!(
            (cur, pend),
            (u32::from(want), u32::from(want)),
            "switch {i}"
        );
    }
}

/// Proves discovery answers what the simulator holds: count, names, UUIDs,
/// PCI info, minors, memory, lookups by UUID and bus ID in every form; and
/// that null pointers and short buffers get NVML's errors.
#[test]
fn discovery_matches_the_simulator() {
    let m = Machine::new(&["a100-sxm4-40gb", "h100-sxm5-80gb"], true);
    let devs = m.sim().devices().expect("devices");
    let mut count = 0;
    assert_eq!(unsafe { nvmlDeviceGetCount_v2(&mut count) }, SUCCESS);
    assert_eq!(count, 2);
    assert_eq!(
        unsafe { nvmlDeviceGetCount_v2(null_mut()) },
        INVALID_ARGUMENT
    );
    let mut d = null_mut();
    assert_eq!(
        unsafe { nvmlDeviceGetHandleByIndex_v2(2, &mut d) },
        INVALID_ARGUMENT
    );
    assert_eq!(
        unsafe { nvmlDeviceGetHandleByIndex_v2(0, null_mut()) },
        INVALID_ARGUMENT
    );

    for info in &devs {
        let d = device(info.index);
        assert_eq!(name(d), info.name);
        assert_eq!(uuid(d), info.uuid);
        assert_eq!(handle_by_uuid(&info.uuid), (SUCCESS, d));

        let mut pci: sys::nvmlPciInfo_t = zeroed();
        assert_eq!(unsafe { nvmlDeviceGetPciInfo_v3(d, &mut pci) }, SUCCESS);
        assert_eq!(text(&pci.busId), info.pci_bus_id);
        assert_eq!(text(&pci.busIdLegacy), info.pci_bus_id[4..]);
        assert_eq!(pci.pciDeviceId & 0xffff, 0x10de);
        for form in [
            info.pci_bus_id.clone(),
            info.pci_bus_id[4..].to_lowercase(),
            info.pci_bus_id[9..].to_string(),
        ] {
            let c = std::ffi::CString::new(form.clone()).expect("no NUL");
            let mut h = null_mut();
            let r = unsafe { nvmlDeviceGetHandleByPciBusId_v2(c.as_ptr(), &mut h) };
            assert_eq!((r, h), (SUCCESS, d), "{form}");
        }

        let (mut minor, mut index) = (99, 99);
        assert_eq!(unsafe { nvmlDeviceGetMinorNumber(d, &mut minor) }, SUCCESS);
        assert_eq!(unsafe { nvmlDeviceGetIndex(d, &mut index) }, SUCCESS);
        assert_eq!((minor, index), (info.minor, info.index));

        let mut mem: sys::nvmlMemory_t = zeroed();
        assert_eq!(unsafe { nvmlDeviceGetMemoryInfo(d, &mut mem) }, SUCCESS);
        assert_eq!((mem.total, mem.used), (info.memory_total_bytes, 0));
        let mut mem2: sys::nvmlMemory_v2_t = zeroed();
        assert_eq!(
            unsafe { nvmlDeviceGetMemoryInfo_v2(d, &mut mem2) },
            ARGUMENT_VERSION_MISMATCH
        );
        mem2.version = 0x0200_0028;
        assert_eq!(unsafe { nvmlDeviceGetMemoryInfo_v2(d, &mut mem2) }, SUCCESS);
        assert_eq!(mem2.total, info.memory_total_bytes);

        let mut attrs: sys::nvmlDeviceAttributes_t = zeroed();
        assert_eq!(
            unsafe { nvmlDeviceGetAttributes_v2(d, &mut attrs) },
            NOT_SUPPORTED
        );
        let (mut cur, mut pend, mut max) = (9, 9, 9);
        assert_eq!(
            unsafe { nvmlDeviceGetMigMode(d, &mut cur, &mut pend) },
            SUCCESS
        );
        assert_eq!(
            unsafe { nvmlDeviceGetMaxMigDeviceCount(d, &mut max) },
            SUCCESS
        );
        assert_eq!((cur, pend, max), (0, 0, 0));
    }

    let d = device(1);
    let mut buf = [0 as c_char; 96];
    let n = name(d).len() as c_uint;
    assert_eq!(
        unsafe { nvmlDeviceGetName(d, buf.as_mut_ptr(), n) },
        INSUFFICIENT_SIZE
    );
    assert_eq!(
        unsafe { nvmlDeviceGetName(d, buf.as_mut_ptr(), n + 1) },
        SUCCESS
    );
    assert_eq!(
        unsafe { nvmlDeviceGetName(d, null_mut(), 96) },
        INVALID_ARGUMENT
    );
    assert_eq!(
        unsafe { nvmlDeviceGetUUID(d, buf.as_mut_ptr(), 10) },
        INSUFFICIENT_SIZE
    );
    let mut drv = [0 as c_char; 80];
    assert_eq!(
        unsafe { nvmlSystemGetDriverVersion(drv.as_mut_ptr(), 80) },
        SUCCESS
    );
    assert_eq!(text(&drv), mig_sim::state::DRIVER_VERSION);
    assert_eq!(
        unsafe { nvmlSystemGetDriverVersion(drv.as_mut_ptr(), 3) },
        INSUFFICIENT_SIZE
    );
    let mut cuda = 0;
    assert_eq!(
        unsafe { nvmlSystemGetCudaDriverVersion_v2(&mut cuda) },
        SUCCESS
    );
    assert_eq!(cuda, 13000);

    assert_eq!(
        handle_by_uuid("GPU-00000000-0000-0000-0000-000000000000").0,
        NOT_FOUND
    );
    assert_eq!(
        unsafe { nvmlDeviceGetHandleByUUID(null(), &mut null_mut()) },
        INVALID_ARGUMENT
    );

    let st = m.sim().state().expect("snapshot");
    let mut pdi = device::NvmlPdi {
        version: 0x0100_0010,
        value: 0,
    };
    assert_eq!(unsafe { nvmlDeviceGetPdi(d, &mut pdi) }, SUCCESS);
    assert_eq!(pdi.value, st.gpus[1].pdi);
    pdi.version = 1;
    assert_eq!(
        unsafe { nvmlDeviceGetPdi(d, &mut pdi) },
        ARGUMENT_VERSION_MISMATCH
    );
}

/// Proves foreign, null and wrong-kind handles are INVALID_ARGUMENT, never a crash.
#[test]
fn bad_handles_are_refused() {
    let _m = Machine::new(&["h100-sxm5-80gb"], true);
    let local = 0u64;
    let foreign: [sys::nvmlDevice_t; 4] = [
        null_mut(),
        0x1234 as sys::nvmlDevice_t,
        &local as *const u64 as sys::nvmlDevice_t,
        usize::MAX as sys::nvmlDevice_t,
    ];
    for d in foreign {
        let mut buf = [0 as c_char; 96];
        assert_eq!(
            unsafe { nvmlDeviceGetName(d, buf.as_mut_ptr(), 96) },
            INVALID_ARGUMENT
        );
        let mut v = 0;
        assert_eq!(
            unsafe { nvmlDeviceGetMaxMigDeviceCount(d, &mut v) },
            INVALID_ARGUMENT
        );
        assert_eq!(
            unsafe { nvmlGpuInstanceDestroy(d.cast()) },
            INVALID_ARGUMENT
        );
        assert_eq!(
            unsafe { nvmlComputeInstanceDestroy(d.cast()) },
            INVALID_ARGUMENT
        );
    }
    // A device handle is not a GPU instance, and a GPU instance is not a device.
    let d = device(0);
    assert_eq!(
        unsafe { nvmlGpuInstanceDestroy(d.cast()) },
        INVALID_ARGUMENT
    );
    let mut status = 0;
    assert_eq!(unsafe { nvmlDeviceSetMigMode(d, 1, &mut status) }, SUCCESS);
    let mut gi = null_mut();
    assert_eq!(
        unsafe { nvmlDeviceCreateGpuInstance(d, 19, &mut gi) },
        SUCCESS
    );
    let mut buf = [0 as c_char; 96];
    assert_eq!(
        unsafe { nvmlDeviceGetName(gi.cast(), buf.as_mut_ptr(), 96) },
        INVALID_ARGUMENT
    );
    assert_eq!(
        unsafe { nvmlComputeInstanceDestroy(gi.cast()) },
        INVALID_ARGUMENT
    );
    assert_eq!(
        unsafe { nvmlDeviceSetMigMode(d, 2, &mut status) },
        INVALID_ARGUMENT
    );
    assert_eq!(
        unsafe { nvmlDeviceSetMigMode(d, 1, null_mut()) },
        INVALID_ARGUMENT
    );
}

/// Proves GI profile lookups follow the real H100 dump: v1, v2 and v3
/// structs, version written back as 0, NOT_SUPPORTED for indexes the GPU
/// lacks, INVALID_ARGUMENT from 17 on, wrong versions refused; and the
/// placement list protocol (NULL -> count; *count is output only, per nvml.h).
#[test]
fn gi_profile_info_and_placements() {
    let m = Machine::new(&["h100-sxm5-80gb"], true);
    let d = device(0);
    let profiles = m
        .sim()
        .gi_profiles(&G0, mig_model::backend::ProfileQuery::ALL)
        .expect("profiles");

    let mut v1: sys::nvmlGpuInstanceProfileInfo_t = zeroed();
    assert_eq!(
        unsafe { nvmlDeviceGetGpuInstanceProfileInfo(d, 0, &mut v1) },
        SUCCESS
    );
    assert_eq!((v1.id, v1.instanceCount, v1.memorySizeMB), (19, 7, 9984));
    assert_eq!(
        unsafe { nvmlDeviceGetGpuInstanceProfileInfo(d, 0, null_mut()) },
        INVALID_ARGUMENT
    );

    for index in 0..20 {
        let mut v2: sys::nvmlGpuInstanceProfileInfo_v2_t = zeroed();
        v2.version = 0x0200_0098;
        let r = unsafe { nvmlDeviceGetGpuInstanceProfileInfoV(d, index, &mut v2) };
        match profiles.iter().find(|p| p.profile.index == index) {
            Some(p) => {
                assert_eq!(r, SUCCESS, "index {index}");
                assert_eq!(v2.version, 0);
                assert_eq!(v2.id, p.profile.id);
                assert_eq!(v2.sliceCount, p.profile.slices);
                assert_eq!(v2.multiprocessorCount, p.profile.sm);
                assert_eq!(text(&v2.name), format!("MIG {}", p.profile.name));
            }
            None if index < 17 => assert_eq!(r, NOT_SUPPORTED, "index {index}"),
            None => assert_eq!(r, INVALID_ARGUMENT, "index {index}"),
        }
    }

    let mut v3: sys::nvmlGpuInstanceProfileInfo_v3_t = zeroed();
    v3.version = 0x0300_0098;
    let r =
        unsafe { nvmlDeviceGetGpuInstanceProfileInfoV(d, 4, std::ptr::from_mut(&mut v3).cast()) };
    assert_eq!(r, SUCCESS);
    assert_eq!(
        (v3.id, v3.sliceCount, v3.capabilities, v3.version),
        (0, 7, 0, 0)
    );
    assert_eq!(text(&v3.name), "MIG 7g.80gb");

    let mut bad: sys::nvmlGpuInstanceProfileInfo_v2_t = zeroed();
    bad.version = 0x0100_0098;
    assert_eq!(
        unsafe { nvmlDeviceGetGpuInstanceProfileInfoV(d, 0, &mut bad) },
        ARGUMENT_VERSION_MISMATCH
    );
    bad.version = 0x0200_0098;
    assert_eq!(
        unsafe { nvmlDeviceGetGpuInstanceProfileInfoByIdV(d, 15, &mut bad) },
        SUCCESS
    );
    assert_eq!((bad.id, bad.instanceCount), (15, 4));
    bad.version = 0x0200_0098;
    assert_eq!(
        unsafe { nvmlDeviceGetGpuInstanceProfileInfoByIdV(d, 1, &mut bad) },
        INVALID_ARGUMENT
    );

    // Placements of 1g.20gb (ID 15): {0,2,4,6}:2.
    let mut count = 0;
    let r = unsafe { nvmlDeviceGetGpuInstancePossiblePlacements_v2(d, 15, null_mut(), &mut count) };
    assert_eq!((r, count), (SUCCESS, 4));
    // nvml.h: *count is output only, so an uninitialised or small value
    // still gets every placement, in both the _v2 and the unversioned symbol.
    for garbage in [0, 3, 0xDEAD_BEEF] {
        for v2 in [true, false] {
            let mut arr: [sys::nvmlGpuInstancePlacement_t; 4] = zeroed();
            count = garbage;
            let p = arr.as_mut_ptr();
            let r = unsafe {
                if v2 {
                    nvmlDeviceGetGpuInstancePossiblePlacements_v2(d, 15, p, &mut count)
                } else {
                    nvmlDeviceGetGpuInstancePossiblePlacements(d, 15, p, &mut count)
                }
            };
            assert_eq!((r, count), (SUCCESS, 4), "count in {garbage:#x}, v2 {v2}");
            let got: Vec<(u32, u32)> = arr.iter().map(|p| (p.start, p.size)).collect();
            assert_eq!(got, [(0, 2), (2, 2), (4, 2), (6, 2)]);
        }
    }
    let mut arr: [sys::nvmlGpuInstancePlacement_t; 4] = zeroed();
    let r = unsafe {
        nvmlDeviceGetGpuInstancePossiblePlacements_v2(d, 15, arr.as_mut_ptr(), null_mut())
    };
    assert_eq!(r, INVALID_ARGUMENT);
    let r = unsafe { nvmlDeviceGetGpuInstancePossiblePlacements_v2(d, 77, null_mut(), &mut count) };
    assert_eq!(r, INVALID_ARGUMENT);
    // the unversioned symbol refuses a NULL array, as the lent H200 did
    count = 0;
    let r = unsafe { nvmlDeviceGetGpuInstancePossiblePlacements(d, 15, null_mut(), &mut count) };
    assert_eq!((r, count), (INVALID_ARGUMENT, 0));

    let mut remaining = 0;
    assert_eq!(
        unsafe { nvmlDeviceGetGpuInstanceRemainingCapacity(d, 19, &mut remaining) },
        SUCCESS
    );
    assert_eq!(remaining, 7);
}

/// Proves the whole GI/CI lifecycle through the C functions agrees with the
/// simulator: creation with and without placements, IDs, info structs,
/// lists, MIG device handles (names, UUIDs, attributes, parent), IN_USE on a
/// GI with CIs, and stale handles after destruction.
#[test]
fn gi_ci_lifecycle_through_the_c_api() {
    let m = Machine::new(&["h100-sxm5-80gb"], true);
    let d = device(0);
    let mut gi_a = null_mut();
    assert_eq!(
        unsafe { nvmlDeviceCreateGpuInstance(d, 19, &mut gi_a) },
        NOT_SUPPORTED
    );
    let mut status = 99;
    assert_eq!(unsafe { nvmlDeviceSetMigMode(d, 1, &mut status) }, SUCCESS);
    assert_eq!(status, SUCCESS);
    let mut max = 0;
    assert_eq!(
        unsafe { nvmlDeviceGetMaxMigDeviceCount(d, &mut max) },
        SUCCESS
    );
    assert_eq!(max, 7);

    // 3g.40gb at 4:4, 1g.10gb at the default placement, a bad placement.
    let place = sys::nvmlGpuInstancePlacement_t { start: 4, size: 4 };
    let mut gi_b = null_mut();
    let r = unsafe { nvmlDeviceCreateGpuInstanceWithPlacement(d, 9, &place, &mut gi_b) };
    assert_eq!(r, SUCCESS);
    assert_eq!(
        unsafe { nvmlDeviceCreateGpuInstance(d, 19, &mut gi_a) },
        SUCCESS
    );
    let bad = sys::nvmlGpuInstancePlacement_t { start: 1, size: 4 };
    let mut gi_c = null_mut();
    let r = unsafe { nvmlDeviceCreateGpuInstanceWithPlacement(d, 9, &bad, &mut gi_c) };
    assert_eq!(r, INVALID_ARGUMENT);
    let r = unsafe { nvmlDeviceCreateGpuInstanceWithPlacement(d, 9, &place, &mut gi_c) };
    assert_eq!(r, INSUFFICIENT_RESOURCES);
    let r = unsafe { nvmlDeviceCreateGpuInstanceWithPlacement(d, 9, null(), &mut gi_c) };
    assert_eq!(r, INVALID_ARGUMENT);

    let sim_gis = m.sim().gpu_instances(&G0).expect("gis");
    assert_eq!(sim_gis.len(), 2);
    for (h, profile) in [(gi_a, 19), (gi_b, 9)] {
        let mut info: sys::nvmlGpuInstanceInfo_t = zeroed();
        assert_eq!(unsafe { nvmlGpuInstanceGetInfo(h, &mut info) }, SUCCESS);
        let sim = sim_gis
            .iter()
            .find(|g| g.id.0 == info.id)
            .expect("GI in sim");
        assert_eq!((info.profileId, sim.profile.id), (profile, profile));
        assert_eq!(
            (info.placement.start, info.placement.size),
            (sim.placement.start, sim.placement.size)
        );
        assert_eq!(info.device, d);
        let mut by_id = null_mut();
        assert_eq!(
            unsafe { nvmlDeviceGetGpuInstanceById(d, info.id, &mut by_id) },
            SUCCESS
        );
        assert_eq!(by_id, h);
    }
    let mut list = [null_mut(); 7];
    let mut count = 0;
    assert_eq!(
        unsafe { nvmlDeviceGetGpuInstances(d, 19, list.as_mut_ptr(), &mut count) },
        SUCCESS
    );
    assert_eq!((count, list[0]), (1, gi_a));
    assert_eq!(
        unsafe { nvmlDeviceGetGpuInstances(d, 19, null_mut(), &mut count) },
        INVALID_ARGUMENT
    );
    let mut none = null_mut();
    assert_eq!(
        unsafe { nvmlDeviceGetGpuInstanceById(d, 1, &mut none) },
        NOT_FOUND
    );

    // CIs in the 3g GI: a 1c at the default placement and a 1c at 0:1.
    let mut cip: sys::nvmlComputeInstanceProfileInfo_v2_t = zeroed();
    cip.version = 0x0200_0088;
    let r = unsafe { nvmlGpuInstanceGetComputeInstanceProfileInfoV(gi_b, 0, 0, &mut cip) };
    assert_eq!((r, cip.id, cip.sliceCount, cip.version), (SUCCESS, 0, 1, 0));
    assert_eq!(text(&cip.name), "MIG 1c.3g.40gb");
    let r = unsafe { nvmlGpuInstanceGetComputeInstanceProfileInfoV(gi_b, 3, 0, &mut cip) };
    assert_eq!(
        r, ARGUMENT_VERSION_MISMATCH,
        "version was cleared by the last call"
    );
    cip.version = 0x0200_0088;
    let r = unsafe { nvmlGpuInstanceGetComputeInstanceProfileInfoV(gi_b, 3, 0, &mut cip) };
    assert_eq!(r, NOT_SUPPORTED, "a 3g GI has no 4c profile");
    let mut civ1: sys::nvmlComputeInstanceProfileInfo_t = zeroed();
    let r = unsafe { nvmlGpuInstanceGetComputeInstanceProfileInfo(gi_b, 8, 0, &mut civ1) };
    assert_eq!(r, INVALID_ARGUMENT);
    let r = unsafe { nvmlGpuInstanceGetComputeInstanceProfileInfo(gi_b, 2, 1, &mut civ1) };
    assert_eq!(r, INVALID_ARGUMENT, "engine profile 1 does not exist");
    let r = unsafe { nvmlGpuInstanceGetComputeInstanceProfileInfo(gi_b, 2, 0, &mut civ1) };
    assert_eq!(
        (r, civ1.sliceCount, civ1.multiprocessorCount),
        (SUCCESS, 3, 60)
    );

    let mut n = 0;
    let r =
        unsafe { nvmlGpuInstanceGetComputeInstancePossiblePlacements(gi_b, 0, null_mut(), &mut n) };
    assert_eq!((r, n), (SUCCESS, 3));
    let mut ci1 = null_mut();
    assert_eq!(
        unsafe { nvmlGpuInstanceCreateComputeInstance(gi_b, 0, &mut ci1) },
        SUCCESS
    );
    let at0 = sys::nvmlComputeInstancePlacement_t { start: 0, size: 1 };
    let mut ci2 = null_mut();
    let r = unsafe { nvmlGpuInstanceCreateComputeInstanceWithPlacement(gi_b, 0, &at0, &mut ci2) };
    assert_eq!(r, SUCCESS);
    let mut left = 9;
    assert_eq!(
        unsafe { nvmlGpuInstanceGetComputeInstanceRemainingCapacity(gi_b, 0, &mut left) },
        SUCCESS
    );
    assert_eq!(left, 1);
    let mut ci_a = null_mut();
    assert_eq!(
        unsafe { nvmlGpuInstanceCreateComputeInstance(gi_a, 0, &mut ci_a) },
        SUCCESS
    );

    let sim_cis = m
        .sim()
        .compute_instances(&G0, GpuInstanceId(2))
        .expect("cis");
    let mut cis = [null_mut(); 8];
    let mut count = 0;
    let r = unsafe { nvmlGpuInstanceGetComputeInstances(gi_b, 0, cis.as_mut_ptr(), &mut count) };
    assert_eq!((r, count as usize), (SUCCESS, sim_cis.len()));
    for (h, sim) in cis.iter().zip(&sim_cis) {
        let mut info: sys::nvmlComputeInstanceInfo_t = zeroed();
        assert_eq!(
            unsafe { nvmlComputeInstanceGetInfo_v2(*h, &mut info) },
            SUCCESS
        );
        assert_eq!((info.id, info.profileId), (sim.id.0, sim.profile.id));
        assert_eq!(
            (info.placement.start, info.placement.size),
            (sim.placement.start, sim.placement.size)
        );
        assert_eq!((info.device, info.gpuInstance), (d, gi_b));
        let mut by_id = null_mut();
        assert_eq!(
            unsafe { nvmlGpuInstanceGetComputeInstanceById(gi_b, sim.id.0, &mut by_id) },
            SUCCESS
        );
        assert_eq!(by_id, *h);
    }

    // MIG devices: enumeration, names, UUIDs, IDs and attributes as the sim reports.
    let st = m.sim().state().expect("snapshot");
    let sim_devs = mig_sim::mig_devices_of(&st, 0).expect("mig devices");
    assert_eq!(sim_devs.len(), 3);
    for i in 0..max {
        let mut md = null_mut();
        let r = unsafe { nvmlDeviceGetMigDeviceHandleByIndex(d, i, &mut md) };
        let Some(sd) = sim_devs.get(i as usize) else {
            assert_eq!(r, NOT_FOUND, "index {i}");
            continue;
        };
        assert_eq!(r, SUCCESS);
        assert_eq!(name(md), format!("NVIDIA H100 80GB HBM3 {}", sd.name));
        assert_eq!(uuid(md), sd.uuid);
        assert_eq!(handle_by_uuid(&sd.uuid), (SUCCESS, md));
        let legacy = format!("MIG-{}/{}/{}", st.gpus[0].uuid, sd.gi.0, sd.ci.0);
        assert_eq!(handle_by_uuid(&legacy), (SUCCESS, md));
        let (mut is_mig, mut gi, mut ci, mut idx) = (0, 0, 0, 0);
        assert_eq!(
            unsafe { nvmlDeviceIsMigDeviceHandle(md, &mut is_mig) },
            SUCCESS
        );
        assert_eq!(unsafe { nvmlDeviceGetGpuInstanceId(md, &mut gi) }, SUCCESS);
        assert_eq!(
            unsafe { nvmlDeviceGetComputeInstanceId(md, &mut ci) },
            SUCCESS
        );
        assert_eq!(unsafe { nvmlDeviceGetIndex(md, &mut idx) }, SUCCESS);
        assert_eq!((is_mig, gi, ci, idx), (1, sd.gi.0, sd.ci.0, i));
        let mut parent = null_mut();
        assert_eq!(
            unsafe { nvmlDeviceGetDeviceHandleFromMigDeviceHandle(md, &mut parent) },
            SUCCESS
        );
        assert_eq!(parent, d);
        let mut attrs: sys::nvmlDeviceAttributes_t = zeroed();
        assert_eq!(
            unsafe { nvmlDeviceGetAttributes_v2(md, &mut attrs) },
            SUCCESS
        );
        assert_eq!(
            (attrs.multiprocessorCount, attrs.memorySizeMB),
            (sd.sm, sd.memory_mb)
        );
        let mut mem: sys::nvmlMemory_t = zeroed();
        assert_eq!(unsafe { nvmlDeviceGetMemoryInfo(md, &mut mem) }, SUCCESS);
        assert_eq!(mem.total, sd.memory_mb * 1024 * 1024);
        let mut minor = 0;
        assert_eq!(
            unsafe { nvmlDeviceGetMinorNumber(md, &mut minor) },
            NOT_SUPPORTED
        );
        let (mut cur, mut pend) = (0, 0);
        assert_eq!(
            unsafe { nvmlDeviceGetMigMode(md, &mut cur, &mut pend) },
            INVALID_ARGUMENT
        );
    }
    let mut md = null_mut();
    assert_eq!(
        unsafe { nvmlDeviceGetMigDeviceHandleByIndex(d, 7, &mut md) },
        INVALID_ARGUMENT
    );
    let (mut gi, mut is_mig) = (0, 9);
    assert_eq!(
        unsafe { nvmlDeviceGetGpuInstanceId(d, &mut gi) },
        INVALID_ARGUMENT
    );
    assert_eq!(
        unsafe { nvmlDeviceIsMigDeviceHandle(d, &mut is_mig) },
        SUCCESS
    );
    assert_eq!(is_mig, 0);
    let mut parent = null_mut();
    let r = unsafe { nvmlDeviceGetDeviceHandleFromMigDeviceHandle(d, &mut parent) };
    assert_eq!(r, INVALID_ARGUMENT);

    // Destroy: a GI with CIs is in use; stale handles are NOT_FOUND.
    let mut mig_of_ci1 = null_mut();
    assert_eq!(
        unsafe { nvmlDeviceGetMigDeviceHandleByIndex(d, 1, &mut mig_of_ci1) },
        SUCCESS
    );
    assert_eq!(unsafe { nvmlGpuInstanceDestroy(gi_b) }, IN_USE);
    for ci in [ci1, ci2] {
        assert_eq!(unsafe { nvmlComputeInstanceDestroy(ci) }, SUCCESS);
    }
    assert_eq!(unsafe { nvmlComputeInstanceDestroy(ci1) }, NOT_FOUND);
    let mut buf = [0 as c_char; 96];
    assert_eq!(
        unsafe { nvmlDeviceGetName(mig_of_ci1, buf.as_mut_ptr(), 96) },
        NOT_FOUND
    );
    assert_eq!(unsafe { nvmlGpuInstanceDestroy(gi_b) }, SUCCESS);
    let mut info: sys::nvmlGpuInstanceInfo_t = zeroed();
    assert_eq!(
        unsafe { nvmlGpuInstanceGetInfo(gi_b, &mut info) },
        NOT_FOUND
    );
    // A new GI at the same ID but another profile does not revive the old handle.
    let mut gi_4g = null_mut();
    let at0 = sys::nvmlGpuInstancePlacement_t { start: 0, size: 4 };
    assert_eq!(unsafe { nvmlComputeInstanceDestroy(ci_a) }, SUCCESS);
    assert_eq!(unsafe { nvmlGpuInstanceDestroy(gi_a) }, SUCCESS);
    let r = unsafe { nvmlDeviceCreateGpuInstanceWithPlacement(d, 5, &at0, &mut gi_4g) };
    assert_eq!(r, SUCCESS);
    assert_eq!(unsafe { nvmlGpuInstanceGetInfo(gi_4g, &mut info) }, SUCCESS);
    assert_eq!(info.id, 1);
    let mut gi_3g_again = null_mut();
    let at4 = sys::nvmlGpuInstancePlacement_t { start: 4, size: 4 };
    let r = unsafe { nvmlDeviceCreateGpuInstanceWithPlacement(d, 9, &at4, &mut gi_3g_again) };
    assert_eq!(r, SUCCESS);
    assert_eq!(
        gi_3g_again, gi_b,
        "same GI, same profile: NVML may reuse handles"
    );
    assert_eq!(unsafe { nvmlGpuInstanceDestroy(gi_4g) }, SUCCESS);
    assert_eq!(unsafe { nvmlGpuInstanceDestroy(gi_3g_again) }, SUCCESS);
    assert!(m.sim().gpu_instances(&G0).expect("gis").is_empty());

    assert_eq!(unsafe { nvmlDeviceSetMigMode(d, 0, &mut status) }, SUCCESS);
    assert_eq!(status, SUCCESS);
    assert_eq!(
        unsafe { nvmlGpuInstanceGetInfo(gi_b, &mut info) },
        NOT_FOUND
    );
}

/// Proves running processes show on their MIG device and on the parent
/// (with GI/CI IDs), follow NVML's count protocol, have their names, use
/// memory, and keep their compute instance busy.
#[test]
fn processes_on_mig_devices() {
    let m = Machine::new(&["a100-sxm4-40gb"], true);
    let d = device(0);
    let mut status = 0;
    assert_eq!(unsafe { nvmlDeviceSetMigMode(d, 1, &mut status) }, SUCCESS);
    let (mut gi, mut ci) = (null_mut(), null_mut());
    for _ in 0..2 {
        assert_eq!(
            unsafe { nvmlDeviceCreateGpuInstance(d, 19, &mut gi) },
            SUCCESS
        );
        assert_eq!(
            unsafe { nvmlGpuInstanceCreateComputeInstance(gi, 0, &mut ci) },
            SUCCESS
        );
    }
    let mut info: sys::nvmlGpuInstanceInfo_t = zeroed();
    assert_eq!(unsafe { nvmlGpuInstanceGetInfo(gi, &mut info) }, SUCCESS);
    let pid = m
        .sim()
        .start_process(&G0, Some((info.id, 0)), "trainer", 512)
        .expect("start process");

    let (mut busy, mut idle) = (null_mut(), null_mut());
    let st = m.sim().state().expect("snapshot");
    let devs = mig_sim::mig_devices_of(&st, 0).expect("mig devices");
    let busy_index = devs
        .iter()
        .position(|x| x.gi.0 == info.id)
        .expect("busy device") as u32;
    assert_eq!(
        unsafe { nvmlDeviceGetMigDeviceHandleByIndex(d, busy_index, &mut busy) },
        SUCCESS
    );
    assert_eq!(
        unsafe { nvmlDeviceGetMigDeviceHandleByIndex(d, 1 - busy_index, &mut idle) },
        SUCCESS
    );

    for h in [busy, d] {
        let mut count = 0;
        let r = unsafe { nvmlDeviceGetComputeRunningProcesses_v3(h, &mut count, null_mut()) };
        assert_eq!((r, count), (INSUFFICIENT_SIZE, 1));
        let mut procs: [sys::nvmlProcessInfo_v2_t; 2] = zeroed();
        count = 2;
        let r =
            unsafe { nvmlDeviceGetComputeRunningProcesses_v3(h, &mut count, procs.as_mut_ptr()) };
        assert_eq!((r, count), (SUCCESS, 1));
        let p = procs[0];
        assert_eq!(
            (p.pid, p.gpuInstanceId, p.computeInstanceId),
            (pid, info.id, 0)
        );
        assert_eq!(p.usedGpuMemory, 512 * 1024 * 1024);
        let mut v1: [sys::nvmlProcessInfo_v1_t; 1] = zeroed();
        count = 1;
        let r = unsafe { nvmlDeviceGetComputeRunningProcesses(h, &mut count, v1.as_mut_ptr()) };
        assert_eq!((r, count, v1[0].pid), (SUCCESS, 1, pid));
    }
    let mut count = 0;
    let r = unsafe { nvmlDeviceGetComputeRunningProcesses_v2(idle, &mut count, null_mut()) };
    assert_eq!((r, count), (SUCCESS, 0));
    let r = unsafe { nvmlDeviceGetGraphicsRunningProcesses_v3(busy, &mut count, null_mut()) };
    assert_eq!((r, count), (SUCCESS, 0));

    let mut pname = [0 as c_char; 8];
    assert_eq!(
        unsafe { nvmlSystemGetProcessName(pid, pname.as_mut_ptr(), 8) },
        SUCCESS
    );
    assert_eq!(text(&pname), "trainer");
    assert_eq!(
        unsafe { nvmlSystemGetProcessName(pid, pname.as_mut_ptr(), 4) },
        SUCCESS
    );
    assert_eq!(text(&pname), "tra", "long names are cut, as NVML does");
    // No process, simulated or on the host, has this pid (above pid_max).
    let r = unsafe { nvmlSystemGetProcessName(u32::MAX - 1, pname.as_mut_ptr(), 8) };
    assert_eq!(r, NOT_FOUND);
    let r = unsafe { nvmlSystemGetProcessName(pid, null_mut(), 8) };
    assert_eq!(r, INVALID_ARGUMENT);

    let mut mem: sys::nvmlMemory_t = zeroed();
    assert_eq!(unsafe { nvmlDeviceGetMemoryInfo(busy, &mut mem) }, SUCCESS);
    // the simulator's idle GI use plus the process's memory
    let idle_mb = mig_sim::IDLE_MIG_DEVICE_MEMORY_USED_MB;
    assert_eq!(mem.used, (idle_mb + 512) * 1024 * 1024);
    assert_eq!(mem.free, mem.total - mem.used);

    assert_eq!(unsafe { nvmlComputeInstanceDestroy(ci) }, IN_USE);
    m.sim().kill_process(pid).expect("kill");
    assert_eq!(unsafe { nvmlComputeInstanceDestroy(ci) }, SUCCESS);
    let cis = m
        .sim()
        .compute_instances(&G0, GpuInstanceId(info.id))
        .expect("cis");
    assert!(!cis.iter().any(|c| c.id == ComputeInstanceId(0)));
}

/// Proves the compute capability and architecture come from the catalog
/// (what device-plugin and feature-discovery tools read), null pointers are
/// refused and a bad handle is INVALID_ARGUMENT.
#[test]
fn compute_capability_and_architecture() {
    let _m = Machine::new(
        &["a100-sxm4-40gb", "h100-sxm5-80gb", "rtx-pro-6000-server"],
        true,
    );
    for (i, want_cc, want_arch) in [(0, (8, 0), 7), (1, (9, 0), 9), (2, (12, 0), 10)] {
        let d = device(i);
        let (mut major, mut minor) = (0, 0);
        assert_eq!(
            unsafe { nvmlDeviceGetCudaComputeCapability(d, &mut major, &mut minor) },
            SUCCESS
        );
        assert_eq!((major, minor), want_cc);
        let mut arch = 0;
        assert_eq!(unsafe { nvmlDeviceGetArchitecture(d, &mut arch) }, SUCCESS);
        assert_eq!(arch, want_arch);
        assert_eq!(
            unsafe { nvmlDeviceGetCudaComputeCapability(d, null_mut(), &mut minor) },
            INVALID_ARGUMENT
        );
    }
    let mut arch = 0;
    assert_eq!(
        unsafe { nvmlDeviceGetArchitecture(0x1234 as sys::nvmlDevice_t, &mut arch) },
        INVALID_ARGUMENT
    );
}

/// A buffer of `T` between guard bytes, to catch a write past the struct.
#[repr(C)]
struct Guarded<T> {
    before: [u8; 16],
    value: T,
    after: [u8; 64],
}

const GUARD: u8 = 0xA5;

impl<T: Copy> Guarded<T> {
    fn new() -> Self {
        // SAFETY: filled with a byte pattern; T is a plain C struct.
        let mut g: Guarded<T> = unsafe { std::mem::zeroed() };
        // SAFETY: the whole struct is plain bytes here.
        let bytes = unsafe {
            std::slice::from_raw_parts_mut(
                (&mut g as *mut Guarded<T>).cast::<u8>(),
                std::mem::size_of::<Guarded<T>>(),
            )
        };
        bytes.fill(GUARD);
        g
    }

    fn guards_intact(&self) -> bool {
        self.before.iter().chain(&self.after).all(|&b| b == GUARD)
    }
}

/// Proves each nvmlDeviceGetPciInfo entry point writes exactly the bytes the
/// real driver writes (lent H200, driver 580.159.04, guarded buffer:
/// `catalog/measured/h200-580.159.04/monitoring-probe.json`): through byte
/// 31 unversioned, 35 for `_v2`, and for `_v3` the bus ID through its NUL
/// (byte 52 for a 16-character bus ID); and that what they write agrees.
#[test]
fn pci_info_writes_what_the_driver_writes() {
    let _m = Machine::new(&["h100-sxm5-80gb"], true);
    let d = device(0);
    assert_eq!(std::mem::size_of::<PciInfoV1>(), 52);
    assert_eq!(std::mem::size_of::<sys::nvmlPciInfo_t>(), 68);
    let last_written =
        |f: unsafe extern "C" fn(sys::nvmlDevice_t, *mut sys::nvmlPciInfo_t) -> u32| {
            let mut buf = [0xA5u8; 256];
            assert_eq!(unsafe { f(d, buf.as_mut_ptr().cast()) }, SUCCESS);
            buf.iter().rposition(|&b| b != 0xA5)
        };
    let v1 = |d: sys::nvmlDevice_t, p: *mut sys::nvmlPciInfo_t| unsafe {
        nvmlDeviceGetPciInfo(d, p.cast())
    };
    // a closure is not an extern fn: do the unversioned call by hand
    let mut buf = [0xA5u8; 256];
    assert_eq!(v1(d, buf.as_mut_ptr().cast()), SUCCESS);
    assert_eq!(buf.iter().rposition(|&b| b != 0xA5), Some(31));
    assert_eq!(last_written(nvmlDeviceGetPciInfo_v2), Some(35));
    assert_eq!(last_written(nvmlDeviceGetPciInfo_v3), Some(52));

    let mut v3: sys::nvmlPciInfo_t = zeroed();
    assert_eq!(unsafe { nvmlDeviceGetPciInfo_v3(d, &mut v3) }, SUCCESS);
    let mut old: PciInfoV1 = zeroed();
    assert_eq!(unsafe { nvmlDeviceGetPciInfo(d, &mut old) }, SUCCESS);
    assert_eq!(text(&old.bus_id), text(&v3.busIdLegacy));
    assert_eq!(
        (old.domain, old.bus, old.device, old.pci_device_id),
        (v3.domain, v3.bus, v3.device, v3.pciDeviceId)
    );
    assert_eq!(text(&v3.busId), "00000000:07:00.0");
}

/// Proves nvmlSystemGetProcessName names a live host process as the driver
/// does: argv[0] of /proc/PID/cmdline (here: this test's own executable).
#[test]
fn process_names_of_host_processes() {
    let _m = Machine::new(&["a100-sxm4-40gb"], true);
    let cmdline = std::fs::read("/proc/self/cmdline").expect("own cmdline");
    let argv0 = String::from_utf8_lossy(cmdline.split(|&b| b == 0).next().unwrap()).into_owned();
    let mut buf = [0 as c_char; 4096];
    let r = unsafe { nvmlSystemGetProcessName(std::process::id(), buf.as_mut_ptr(), 4096) };
    assert_eq!(r, SUCCESS);
    assert_eq!(text(&buf), argv0);
    let r = unsafe { nvmlSystemGetProcessName(std::process::id(), buf.as_mut_ptr(), 5) };
    assert_eq!((r, text(&buf)), (SUCCESS, argv0[..4].to_string()));
}

/// Proves the monitoring getters answer the simulator's telemetry, follow
/// nvml.h's MIG rules (no utilization with MIG enabled, BAR1 per MIG
/// device), and change with `sim set`.
#[test]
fn monitoring_getters_follow_the_simulator() {
    use mig_sim::telemetry::Setting;
    let m = Machine::new(&["h100-sxm5-80gb", "a100-sxm4-40gb"], false);
    m.sim()
        .set_telemetry(
            &[1],
            &[
                Setting::Temperature(85),
                Setting::Power(300_000),
                Setting::Utilization(50),
            ],
        )
        .expect("sim set");
    assert_eq!(nvmlInit_v2(), SUCCESS);
    let (h100, a100) = (device(0), device(1));
    // MIG on the H100 (no reset needed on Hopper) with one 3g.40gb MIG device.
    let mut status = 0;
    assert_eq!(
        unsafe { nvmlDeviceSetMigMode(h100, 1, &mut status) },
        SUCCESS
    );
    let (mut gi, mut ci) = (null_mut(), null_mut());
    assert_eq!(
        unsafe { nvmlDeviceCreateGpuInstance(h100, 9, &mut gi) },
        SUCCESS
    );
    assert_eq!(
        unsafe { nvmlGpuInstanceCreateComputeInstance(gi, 2, &mut ci) },
        SUCCESS
    );
    let mut v = 0;
    assert_eq!(
        unsafe { nvmlDeviceGetTemperature(a100, 0, &mut v) },
        SUCCESS
    );
    assert_eq!(v, 85);
    assert_eq!(unsafe { nvmlDeviceGetPowerUsage(a100, &mut v) }, SUCCESS);
    assert_eq!(v, 300_000);
    assert_eq!(
        unsafe { nvmlDeviceGetEnforcedPowerLimit(h100, &mut v) },
        SUCCESS
    );
    assert_eq!(v, 700_000, "the lent H100's limit");
    let mut u: sys::nvmlUtilization_t = zeroed();
    assert_eq!(
        unsafe { nvmlDeviceGetUtilizationRates(a100, &mut u) },
        SUCCESS
    );
    assert_eq!((u.gpu, u.memory), (50, 0));
    assert_eq!(
        unsafe { nvmlDeviceGetUtilizationRates(h100, &mut u) },
        NOT_SUPPORTED,
        "nvml.h: no utilization on MIG-enabled GPUs"
    );
    assert_eq!(
        unsafe { nvmlDeviceGetFanSpeed(h100, &mut v) },
        NOT_SUPPORTED
    );
    let mut bar1: sys::nvmlBAR1Memory_t = zeroed();
    assert_eq!(
        unsafe { nvmlDeviceGetBAR1MemoryInfo(h100, &mut bar1) },
        SUCCESS
    );
    assert_eq!(bar1.bar1Total, 131072 << 20, "h100_q.txt BAR1 Total");
    let mut mig = null_mut();
    assert_eq!(
        unsafe { nvmlDeviceGetMigDeviceHandleByIndex(h100, 0, &mut mig) },
        SUCCESS
    );
    assert_eq!(
        unsafe { nvmlDeviceGetBAR1MemoryInfo(mig, &mut bar1) },
        SUCCESS
    );
    assert_eq!(bar1.bar1Total, 24740 << 20, "R580's 3g.40gb BAR1");
    assert_eq!(
        unsafe { nvmlDeviceGetTemperature(mig, 0, &mut v) },
        NOT_SUPPORTED
    );
    let mut mode = 9;
    assert_eq!(
        unsafe { nvmlDeviceGetPersistenceMode(mig, &mut mode) },
        SUCCESS
    );
    assert_eq!(mode, 1);
    assert_eq!(
        unsafe { nvmlDeviceGetCurrPcieLinkGeneration(h100, &mut v) },
        SUCCESS
    );
    assert_eq!(v, 5);
    assert_eq!(
        unsafe { nvmlDeviceGetPowerUsage(null_mut(), &mut v) },
        INVALID_ARGUMENT
    );
    assert_eq!(
        unsafe { nvmlDeviceGetPowerUsage(h100, null_mut()) },
        INVALID_ARGUMENT
    );
}

/// Proves an unmodelled function answers as a driver: UNINITIALIZED before
/// init, its handle checked, NOT_SUPPORTED for a getter, and for a setter
/// NO_PERMISSION as non-root or NOT_SUPPORTED as root (never success).
#[test]
fn unmodelled_functions_answer_as_a_driver() {
    const NO_PERMISSION: u32 = 4;
    let m = Machine::new(&["h100-sxm5-80gb"], false);
    let mut v = 0;
    let mut node: c_uint = 0;
    assert_eq!(
        unsafe { nvmlDeviceGetNumaNodeId(null_mut(), &mut node) },
        UNINITIALIZED
    );
    drop(m);
    let _m = Machine::new(&["h100-sxm5-80gb"], true);
    let d = device(0);
    // the lent H200 answered Not Supported too (monitoring-probe.json)
    assert_eq!(
        unsafe { nvmlDeviceGetNumaNodeId(d, &mut node) },
        NOT_SUPPORTED
    );
    assert_eq!(
        unsafe { nvmlDeviceGetNumaNodeId(0x1234 as sys::nvmlDevice_t, &mut node) },
        INVALID_ARGUMENT
    );
    let setter = unsafe { nvmlDeviceSetPersistenceMode(d, 0) };
    let want = if mig_sim::is_root() {
        NOT_SUPPORTED
    } else {
        NO_PERMISSION
    };
    assert_eq!(setter, want);
    assert_eq!(unsafe { nvmlUnitGetCount(&mut v) }, SUCCESS);
    assert_eq!(v, 0);
    let mut unit = null_mut();
    assert_eq!(
        unsafe { nvmlUnitGetHandleByIndex(0, &mut unit) },
        INVALID_ARGUMENT
    );
    let mut info: sys::nvmlUnitInfo_t = zeroed();
    assert_eq!(
        unsafe { nvmlUnitGetUnitInfo(unit, &mut info) },
        INVALID_ARGUMENT
    );
    let mut ty = 0;
    assert_eq!(
        unsafe { nvmlVgpuInstanceGetType(0, &mut ty) },
        INVALID_ARGUMENT
    );
    assert_eq!(unsafe { nvmlVgpuInstanceGetType(7, &mut ty) }, NOT_FOUND);
}

/// Proves the event-set model: supported types, registration checks, a wait
/// with nothing to report times out, a MIG layout change made through NVML
/// is reported once to the registered GPU (v2 and the 24-byte v1 struct,
/// guard bytes intact), and a freed set is refused.
#[test]
fn event_sets_report_mig_config_changes() {
    const TIMEOUT: u32 = 10;
    const MIG_CONFIG_CHANGE: u64 = 256;
    let _m = Machine::new(&["h100-sxm5-80gb", "a100-sxm4-40gb"], true);
    let (h100, a100) = (device(0), device(1));
    let mut types = 0;
    assert_eq!(
        unsafe { nvmlDeviceGetSupportedEventTypes(h100, &mut types) },
        SUCCESS
    );
    assert_ne!(types & MIG_CONFIG_CHANGE, 0);
    let mut set = null_mut();
    assert_eq!(unsafe { nvmlEventSetCreate(&mut set) }, SUCCESS);
    assert_eq!(
        unsafe { nvmlDeviceRegisterEvents(h100, 128, set) },
        NOT_SUPPORTED,
        "power-source events are not among the supported types"
    );
    assert_eq!(
        unsafe { nvmlDeviceRegisterEvents(h100, types, set) },
        SUCCESS
    );
    assert_eq!(
        unsafe { nvmlDeviceRegisterEvents(a100, types, set) },
        SUCCESS
    );
    let mut data: sys::nvmlEventData_t = zeroed();
    assert_eq!(unsafe { nvmlEventSetWait_v2(set, &mut data, 60) }, TIMEOUT);

    let mut status = 0;
    assert_eq!(
        unsafe { nvmlDeviceSetMigMode(a100, 1, &mut status) },
        SUCCESS
    );
    assert_eq!(
        unsafe { nvmlEventSetWait_v2(set, &mut data, 1000) },
        SUCCESS
    );
    assert_eq!((data.device, data.eventType), (a100, MIG_CONFIG_CHANGE));
    assert_eq!(unsafe { nvmlEventSetWait_v2(set, &mut data, 60) }, TIMEOUT);

    assert_eq!(
        unsafe { nvmlDeviceSetMigMode(h100, 1, &mut status) },
        SUCCESS
    );
    let mut v1 = Guarded::<EventDataV1>::new();
    assert_eq!(std::mem::size_of::<EventDataV1>(), 24);
    assert_eq!(
        unsafe { nvmlEventSetWait(set, &mut v1.value, 1000) },
        SUCCESS
    );
    assert!(v1.guards_intact(), "v1 wait wrote past its 24 bytes");
    assert_eq!(
        (v1.value.device, v1.value.event_type),
        (h100, MIG_CONFIG_CHANGE)
    );

    assert_eq!(unsafe { nvmlEventSetFree(set) }, SUCCESS);
    assert_eq!(unsafe { nvmlEventSetFree(set) }, INVALID_ARGUMENT);
    assert_eq!(
        unsafe { nvmlEventSetWait_v2(set, &mut data, 0) },
        INVALID_ARGUMENT
    );
}

/// Proves nvmlDeviceGetFieldValues answers each field on its own: modelled
/// fields carry the simulator's telemetry (memory temperature set by
/// `sim set`, power in mW), others NOT_SUPPORTED, and a bad count or array
/// is INVALID_ARGUMENT.
#[test]
fn field_values_answer_per_field() {
    use mig_sim::telemetry::Setting;
    let m = Machine::new(&["h100-sxm5-80gb"], true);
    m.sim()
        .set_telemetry(
            &[0],
            &[Setting::MemoryTemperature(77), Setting::Power(250_000)],
        )
        .expect("sim set");
    let d = device(0);
    let mut f: [sys::nvmlFieldValue_t; 3] = zeroed();
    f[0].fieldId = 82; // NVML_FI_DEV_MEMORY_TEMP
    f[1].fieldId = 186; // NVML_FI_DEV_POWER_INSTANT
    f[2].fieldId = 160; // an NVLink field: not modelled
    assert_eq!(
        unsafe { nvmlDeviceGetFieldValues(d, 3, f.as_mut_ptr()) },
        SUCCESS
    );
    assert_eq!(
        (f[0].nvmlReturn, unsafe { f[0].value.uiVal }),
        (SUCCESS, 77)
    );
    assert_eq!(
        (f[1].nvmlReturn, unsafe { f[1].value.uiVal }),
        (SUCCESS, 250_000)
    );
    assert_eq!(f[2].nvmlReturn, NOT_SUPPORTED);
    assert_eq!(
        unsafe { nvmlDeviceGetFieldValues(d, -1, f.as_mut_ptr()) },
        INVALID_ARGUMENT
    );
    assert_eq!(
        unsafe { nvmlDeviceGetFieldValues(d, 1, null_mut()) },
        INVALID_ARGUMENT
    );
}

/// Proves the board-identity and session getters: a 13-digit simulated
/// serial, the driver's GSP firmware version, CUDA cores as the datasheets
/// give them (H100 SXM5 16896, A100 6912), no encoder/FBC sessions, and the
/// process detail list carrying the simulator's process with 0 protected
/// memory and its version and mode checked.
#[test]
fn board_identity_sessions_and_process_details() {
    let m = Machine::new(&["h100-sxm5-80gb", "a100-sxm4-40gb"], true);
    let (h100, a100) = (device(0), device(1));
    let mut buf = [0 as c_char; 64];
    assert_eq!(
        unsafe { nvmlDeviceGetSerial(h100, buf.as_mut_ptr(), 64) },
        SUCCESS
    );
    let serial = text(&buf);
    assert!(
        serial.len() == 13 && serial.bytes().all(|b| b.is_ascii_digit()),
        "{serial}"
    );
    assert_eq!(
        unsafe { nvmlDeviceGetSerial(a100, buf.as_mut_ptr(), 64) },
        SUCCESS
    );
    assert_ne!(text(&buf), serial);
    assert_eq!(
        unsafe { nvmlDeviceGetGspFirmwareVersion(h100, buf.as_mut_ptr()) },
        SUCCESS
    );
    assert_eq!(text(&buf), "580.159.04");
    let mut v = 0;
    assert_eq!(unsafe { nvmlDeviceGetNumGpuCores(h100, &mut v) }, SUCCESS);
    assert_eq!(v, 16896);
    assert_eq!(unsafe { nvmlDeviceGetNumGpuCores(a100, &mut v) }, SUCCESS);
    assert_eq!(v, 6912);
    let (mut n, mut fps, mut lat) = (9, 9, 9);
    assert_eq!(
        unsafe { nvmlDeviceGetEncoderStats(h100, &mut n, &mut fps, &mut lat) },
        SUCCESS
    );
    assert_eq!((n, fps, lat), (0, 0, 0));

    let pid = m
        .sim()
        .start_process(&GpuRef::Index(1), None, "solver", 128)
        .expect("process");
    let mut arr: [sys::nvmlProcessDetail_v1_t; 2] = zeroed();
    let mut list = sys::nvmlProcessDetailList_t {
        version: 0x0100_0018,
        mode: 0,
        numProcArrayEntries: 0,
        procArray: null_mut(),
    };
    assert_eq!(
        unsafe { nvmlDeviceGetRunningProcessDetailList(a100, &mut list) },
        INSUFFICIENT_SIZE
    );
    assert_eq!(list.numProcArrayEntries, 1);
    list.procArray = arr.as_mut_ptr();
    list.numProcArrayEntries = 2;
    assert_eq!(
        unsafe { nvmlDeviceGetRunningProcessDetailList(a100, &mut list) },
        SUCCESS
    );
    assert_eq!(list.numProcArrayEntries, 1);
    assert_eq!((arr[0].pid, arr[0].usedGpuMemory), (pid, 128 << 20));
    assert_eq!(arr[0].gpuInstanceId, 0xFFFF_FFFF);
    list.version = 1;
    assert_eq!(
        unsafe { nvmlDeviceGetRunningProcessDetailList(a100, &mut list) },
        INVALID_ARGUMENT
    );
}

/// Proves the lookups by serial and by versioned UUID (ASCII and the 16
/// binary bytes) find the GPU whose serial/UUID the getters report, and
/// refuse unknown values, a wrong struct version and a bad UUID type.
#[test]
fn handles_by_serial_and_versioned_uuid() {
    let _m = Machine::new(&["h100-sxm5-80gb", "a100-sxm4-40gb"], true);
    let d = device(1);
    let mut buf = [0 as c_char; 64];
    assert_eq!(
        unsafe { nvmlDeviceGetSerial(d, buf.as_mut_ptr(), 64) },
        SUCCESS
    );
    let mut h = null_mut();
    assert_eq!(
        unsafe { nvmlDeviceGetHandleBySerial(buf.as_ptr(), &mut h) },
        SUCCESS
    );
    assert_eq!(h, d);
    assert_eq!(
        unsafe { nvmlDeviceGetHandleBySerial(c"0000000000000".as_ptr(), &mut h) },
        NOT_FOUND
    );

    let text_uuid = uuid(d);
    assert_eq!(std::mem::size_of::<NvmlUuidV1>(), 52);
    let mut u = NvmlUuidV1 {
        version: 0x0100_0034,
        kind: 1,
        value: [0; 41],
    };
    u.value[..text_uuid.len()].copy_from_slice(text_uuid.as_bytes());
    h = null_mut();
    assert_eq!(unsafe { nvmlDeviceGetHandleByUUIDV(&u, &mut h) }, SUCCESS);
    assert_eq!(h, d);
    let hex: String = text_uuid[4..].chars().filter(|c| *c != '-').collect();
    let mut b = NvmlUuidV1 {
        version: 0x0100_0034,
        kind: 2,
        value: [0; 41],
    };
    for i in 0..16 {
        b.value[i] = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex");
    }
    h = null_mut();
    assert_eq!(unsafe { nvmlDeviceGetHandleByUUIDV(&b, &mut h) }, SUCCESS);
    assert_eq!(h, d);
    b.kind = 7;
    assert_eq!(
        unsafe { nvmlDeviceGetHandleByUUIDV(&b, &mut h) },
        INVALID_ARGUMENT
    );
    u.version = 0x0100_0030;
    assert_eq!(
        unsafe { nvmlDeviceGetHandleByUUIDV(&u, &mut h) },
        ARGUMENT_VERSION_MISMATCH
    );
}

/// Proves the board constants modelled from the real captures keep nvml.h's
/// buffer, count and struct-version rules: strings refuse a short buffer,
/// the memory-clock list reports the count it needs, the P-state array is
/// filled with `NVML_PSTATE_UNKNOWN`, versioned structs refuse another
/// version; a model no real board was read of answers NOT_SUPPORTED for
/// the measured strings; fans follow `nvmlDeviceGetNumFans`; MIG-only ID
/// calls refuse a GPU handle; the energy counter grows with the draw.
#[test]
fn board_constants_keep_nvml_h_buffer_rules() {
    let _m = Machine::new(
        &[
            "h200-sxm5-141gb",
            "a100-sxm4-40gb",
            "rtx-pro-6000-workstation",
        ],
        true,
    );
    let (h200, a100, rtx) = (device(0), device(1), device(2));
    let mut buf = [0 as c_char; 32];
    assert_eq!(
        unsafe { nvmlDeviceGetVbiosVersion(h200, buf.as_mut_ptr(), 32) },
        SUCCESS
    );
    assert_eq!(text(&buf), "96.00.A5.00.1A");
    assert_eq!(
        unsafe { nvmlDeviceGetVbiosVersion(h200, buf.as_mut_ptr(), 14) },
        INSUFFICIENT_SIZE,
        "14 bytes leave no room for the NUL"
    );
    assert_eq!(
        unsafe { nvmlDeviceGetVbiosVersion(a100, buf.as_mut_ptr(), 32) },
        NOT_SUPPORTED,
        "no real A100 was read"
    );

    let mut count = 0;
    assert_eq!(
        unsafe { nvmlDeviceGetSupportedMemoryClocks(h200, &mut count, null_mut()) },
        INSUFFICIENT_SIZE
    );
    assert_eq!(count, 2);
    let mut clocks = [0u32; 4];
    count = 1;
    assert_eq!(
        unsafe { nvmlDeviceGetSupportedMemoryClocks(h200, &mut count, clocks.as_mut_ptr()) },
        INSUFFICIENT_SIZE
    );
    count = 4;
    assert_eq!(
        unsafe { nvmlDeviceGetSupportedMemoryClocks(h200, &mut count, clocks.as_mut_ptr()) },
        SUCCESS
    );
    assert_eq!((count, clocks), (2, [3201, 2201, 0, 0]));

    let mut pstates = [99u32; 16];
    assert_eq!(
        unsafe { nvmlDeviceGetSupportedPerformanceStates(h200, pstates.as_mut_ptr(), 4) },
        INSUFFICIENT_SIZE,
        "room for one P-state, two supported"
    );
    assert_eq!(
        unsafe { nvmlDeviceGetSupportedPerformanceStates(h200, pstates.as_mut_ptr(), 64) },
        SUCCESS
    );
    assert_eq!(&pstates[..3], &[2, 0, 32]);
    assert!(pstates[2..].iter().all(|&p| p == 32));

    let mut margin = sys::nvmlMarginTemperature_t {
        version: 0x0100_0009,
        marginTemperature: 0,
    };
    assert_eq!(
        unsafe { nvmlDeviceGetMarginTemperature(h200, &mut margin) },
        ARGUMENT_VERSION_MISMATCH
    );
    margin.version = 0x0100_0008;
    assert_eq!(
        unsafe { nvmlDeviceGetMarginTemperature(h200, &mut margin) },
        SUCCESS
    );
    assert_eq!(margin.marginTemperature, 87 - 39, "GPU max 87 C, idle 39 C");

    let mut branch: sys::nvmlSystemDriverBranchInfo_t = zeroed();
    branch.version = 0x0100_0054;
    assert_eq!(
        unsafe { nvmlSystemGetDriverBranch(&mut branch, 4) },
        INSUFFICIENT_SIZE
    );
    assert_eq!(
        unsafe { nvmlSystemGetDriverBranch(&mut branch, 80) },
        SUCCESS
    );
    assert_eq!(text(&branch.branch), "r582_49");
    branch.version = 1;
    assert_eq!(
        unsafe { nvmlSystemGetDriverBranch(&mut branch, 80) },
        ARGUMENT_VERSION_MISMATCH
    );
    let mut caps: sys::nvmlConfComputeSystemCaps_t = zeroed();
    assert_eq!(
        unsafe { nvmlSystemGetConfComputeCapabilities(&mut caps) },
        SUCCESS
    );
    assert_eq!(caps.gpusCaps, 0, "an Ampere GPU is not CC-capable");

    let mut v = 9;
    assert_eq!(unsafe { nvmlDeviceGetNumFans(h200, &mut v) }, SUCCESS);
    assert_eq!(v, 0);
    assert_eq!(
        unsafe { nvmlDeviceGetFanSpeed_v2(h200, 0, &mut v) },
        INVALID_ARGUMENT
    );
    assert_eq!(unsafe { nvmlDeviceGetNumFans(rtx, &mut v) }, SUCCESS);
    assert_eq!(v, 1);
    assert_eq!(unsafe { nvmlDeviceGetFanSpeed_v2(rtx, 0, &mut v) }, SUCCESS);
    assert_eq!(v, 30, "the default fan reading");
    assert_eq!(
        unsafe { nvmlDeviceGetFanSpeed_v2(rtx, 1, &mut v) },
        INVALID_ARGUMENT
    );
    assert_eq!(
        unsafe { nvmlDeviceGetComputeInstanceId(h200, &mut v) },
        INVALID_ARGUMENT
    );
    assert_eq!(unsafe { nvmlDeviceGetIrqNum(h200, &mut v) }, SUCCESS);
    assert_eq!(v, mig_sim::host::irq(0));

    let (mut e1, mut e2) = (0u64, 0u64);
    assert_eq!(
        unsafe { nvmlDeviceGetTotalEnergyConsumption(h200, &mut e1) },
        SUCCESS
    );
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(
        unsafe { nvmlDeviceGetTotalEnergyConsumption(h200, &mut e2) },
        SUCCESS
    );
    assert!(e2 > e1, "{e1} then {e2}");
}
