//! `nvmlInternalGetExportTable`, driven as the real nvidia-smi drives it:
//! the built `libnvml_shim.so` opened with dlopen, the entry point found with
//! dlsym, the table's slots called through the function pointers it holds.
//! The checks are those NVIDIA's NVML mock makes of its own table
//! (k8s-test-infra `tests/mocknvml/internal_table_tests.go`): slot 81 gives a
//! device handle, slots 213-215 give the process with the 4128-byte entry
//! layout, every other slot leaves a guard buffer untouched, returns SUCCESS
//! and sets the count to 0.

use libloading::{Library, Symbol};
use mig_model::backend::{GpuRef, LayoutControl, ModeControl};
use mig_model::{CiProfileId, GiProfileId};
use mig_sim::SimMachine;
use std::ffi::{c_uint, c_void};
use std::path::PathBuf;
use std::sync::Mutex;

const SUCCESS: u32 = 0;
const INVALID_ARGUMENT: u32 = 2;
const NOT_SUPPORTED: u32 = 3;
const GUID: [u8; 16] = [
    0xc4, 0xfe, 0x3e, 0x6c, 0xc9, 0x8f, 0x6c, 0x4e, 0xa3, 0x27, 0xee, 0x69, 0x6e, 0x12, 0xf7, 0xc4,
];
const ENTRY: usize = 4128;

type GetTable = unsafe extern "C" fn(*mut *const c_void, *const [u8; 16]) -> u32;
type Slot = unsafe extern "C" fn(usize, usize, usize, usize) -> u32;
/// One process entry as read back: pid, bytes, GI ID, CI ID, name.
type Row = (u32, u64, u32, u32, String);
type NoArgs = unsafe extern "C" fn() -> u32;
type ByIndex = unsafe extern "C" fn(c_uint, *mut usize) -> u32;

static LOCK: Mutex<()> = Mutex::new(());

/// The cdylib Cargo built with this test (see `tests/pynvml.rs`).
fn shim_library() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("test executable has a directory");
    let found = [Some(deps), deps.parent()]
        .into_iter()
        .flatten()
        .map(|d| d.join("libnvml_shim.so"))
        .find(|p| p.is_file());
    found.expect("libnvml_shim.so is built by `cargo test -p nvml-shim`")
}

/// The library, initialised on a machine of one A100 (MIG disabled) running
/// "python" with 6000 MiB, and a second A100 with MIG enabled and one 1g
/// instance running "worker" with 1000 MiB; the table it hands out.
struct Fixture {
    lib: Library,
    table: *const usize,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state.json");
        let sim = SimMachine::open(&state).expect("open sim");
        let models = vec![("a100-sxm4-40gb".to_string(), false); 2];
        sim.init(&models).expect("sim init");
        sim.start_process(&GpuRef::Index(0), None, "python", 6000)
            .expect("process on the whole GPU");
        let g1 = GpuRef::Index(1);
        sim.set_mig_mode(&g1, true).expect("MIG on");
        let gi = sim
            .create_gpu_instance(&g1, GiProfileId(19), None)
            .expect("1g GI");
        let ci = sim
            .create_compute_instance(&g1, gi.id, CiProfileId(0), None)
            .expect("CI");
        sim.start_process(&g1, Some((gi.id.0, ci.id.0)), "worker", 1000)
            .expect("process on the MIG device");
        std::env::set_var("MIGCTL_SIM_STATE", &state);
        // SAFETY: the shim has no library constructors with preconditions.
        let lib = unsafe { Library::new(shim_library()) }.expect("dlopen the shim");
        let mut table: *const c_void = std::ptr::null();
        // SAFETY: the symbol has the signature of `GetTable`.
        unsafe {
            let init: Symbol<NoArgs> = lib.get(b"nvmlInit_v2").expect("nvmlInit_v2");
            assert_eq!(init(), SUCCESS);
            let get: Symbol<GetTable> = lib.get(b"nvmlInternalGetExportTable").expect("dlsym");
            assert_eq!(get(&mut table, &GUID), SUCCESS);
        }
        assert!(!table.is_null());
        Fixture {
            lib,
            table: table.cast(),
            _dir: dir,
        }
    }

    fn slot(&self, n: usize) -> Slot {
        // SAFETY: the table has 512 slots after its size word.
        unsafe { std::mem::transmute::<usize, Slot>(*self.table.add(n)) }
    }

    fn handle(&self, index: u32) -> usize {
        let mut h = 0usize;
        // SAFETY: slot 81 takes (index, handle out, 0x22).
        let rc = unsafe { self.slot(81)(index as usize, (&raw mut h) as usize, 0x22, 0) };
        assert_eq!(rc, SUCCESS, "slot 81 for GPU {index}");
        h
    }

    /// Slot `n`'s process list for `device`, with room for `cap` entries.
    fn processes(&self, n: usize, device: usize, cap: u32) -> (u32, Vec<Row>) {
        let mut buf = vec![0u8; ENTRY * cap as usize + 64];
        let base = buf.as_mut_ptr() as usize;
        let mut count = cap;
        // SAFETY: (device, count in/out, array of `cap` entries).
        let rc = unsafe { self.slot(n)(device, (&raw mut count) as usize, base, 0) };
        assert_eq!(rc, SUCCESS, "slot {n}");
        let word = |off: usize| u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap());
        let dword = |off: usize| u64::from_ne_bytes(buf[off..off + 8].try_into().unwrap());
        let rows = (0..count as usize)
            .map(|i| {
                let e = i * ENTRY;
                let name = &buf[e + 32..e + ENTRY];
                let end = name
                    .iter()
                    .position(|&b| b == 0)
                    .expect("NUL-terminated name");
                let name = String::from_utf8(name[..end].to_vec()).expect("UTF-8 name");
                (word(e), dword(e + 8), word(e + 16), word(e + 20), name)
            })
            .collect();
        assert!(
            buf[ENTRY * cap as usize..].iter().all(|&b| b == 0),
            "wrote past the array"
        );
        (count, rows)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // SAFETY: nvmlShutdown takes no arguments.
        unsafe {
            let shutdown: Symbol<NoArgs> = self.lib.get(b"nvmlShutdown").expect("nvmlShutdown");
            while shutdown() == SUCCESS {}
        }
    }
}

/// Proves the GUID check and the size word: nvidia-smi's GUID gets a table
/// whose word 0 exceeds 648 (the mock's rule) and whose slots are all
/// callable addresses; any other GUID gets NOT_SUPPORTED with the out-pointer
/// untouched, and NULL arguments INVALID_ARGUMENT.
#[test]
fn table_is_given_for_the_smi_guid_only() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let f = Fixture::new();
    // SAFETY: word 0 and the 512 slot words exist.
    let (size, slots) = unsafe { (*f.table, std::slice::from_raw_parts(f.table.add(1), 512)) };
    assert!(size > 648, "size word {size:#x}");
    assert!(slots.iter().all(|&s| s != 0), "a NULL slot");
    let mut other = GUID;
    other[15] ^= 1;
    let sentinel = 0x1234usize as *const c_void;
    let mut out = sentinel;
    // SAFETY: as `GetTable`.
    unsafe {
        let get: Symbol<GetTable> = f.lib.get(b"nvmlInternalGetExportTable").unwrap();
        assert_eq!(get(&mut out, &other), NOT_SUPPORTED);
        assert_eq!(out, sentinel);
        assert_eq!(get(std::ptr::null_mut(), &GUID), INVALID_ARGUMENT);
        assert_eq!(get(&mut out, std::ptr::null()), INVALID_ARGUMENT);
    }
}

/// Proves slot 81 returns the same handle as `nvmlDeviceGetHandleByIndex_v2`
/// for each GPU, and refuses an index past the last GPU.
#[test]
fn slot_81_is_the_device_handle_by_index() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let f = Fixture::new();
    for i in 0..2 {
        let mut public = 0usize;
        // SAFETY: as `ByIndex`.
        unsafe {
            let by_index: Symbol<ByIndex> = f.lib.get(b"nvmlDeviceGetHandleByIndex_v2").unwrap();
            assert_eq!(by_index(i, &mut public), SUCCESS);
        }
        assert_eq!(f.handle(i), public);
    }
    let mut h = 0usize;
    // SAFETY: as slot 81.
    let rc = unsafe { f.slot(81)(2, (&raw mut h) as usize, 0x22, 0) };
    assert_ne!(rc, SUCCESS);
}

/// Proves slot 213 writes each GPU's processes in the 4128-byte layout (pid,
/// bytes used, GI and CI IDs, inline name), 0xFFFFFFFF as instance IDs off
/// MIG, and stops at the caller's capacity; 214 and 215 (graphics, MPS) are
/// empty lists.
#[test]
fn process_slots_write_4128_byte_entries() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let f = Fixture::new();
    let (g0, g1) = (f.handle(0), f.handle(1));
    let (n, rows) = f.processes(213, g0, 250);
    assert_eq!(n, 1);
    let (pid, bytes, gi, ci, name) = rows[0].clone();
    assert!(pid > 0);
    assert_eq!(
        (bytes, gi, ci, name.as_str()),
        (6000 << 20, u32::MAX, u32::MAX, "python")
    );
    let (n, rows) = f.processes(213, g1, 500);
    assert_eq!(n, 1);
    assert_eq!((rows[0].1, rows[0].4.as_str()), (1000 << 20, "worker"));
    assert_ne!(rows[0].2, u32::MAX, "a MIG process has its GI ID");
    assert_eq!(rows[0].3, 0, "and its CI ID");
    for n in [214, 215] {
        assert_eq!(f.processes(n, g0, 250).0, 0, "slot {n}");
    }
}

/// Proves every slot other than 81, 108, 213-215, 230 and 251,
/// called as (device, unsigned *count = 65535, guard buffer), returns
/// SUCCESS, sets the count to 0 and leaves the guard buffer untouched; a
/// first argument that is not a device handle gets nothing written.
#[test]
fn other_slots_write_a_zero_count_and_nothing_else() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let f = Fixture::new();
    let g0 = f.handle(0);
    for n in (1..=512).filter(|n| ![81, 108, 213, 214, 215, 230, 251].contains(n)) {
        let mut count: u32 = 65535;
        let mut guard = [0xA5u8; 256];
        // SAFETY: the catch-all writes at most a u32 through arg 2.
        let rc = unsafe {
            f.slot(n)(
                g0,
                (&raw mut count) as usize,
                guard.as_mut_ptr() as usize,
                0,
            )
        };
        assert_eq!((rc, count), (SUCCESS, 0), "slot {n}");
        assert!(
            guard.iter().all(|&b| b == 0xA5),
            "slot {n} wrote the guard buffer"
        );
        let mut count: u32 = 65535;
        // SAFETY: as above.
        let rc = unsafe { f.slot(n)(7, (&raw mut count) as usize, 0, 0) };
        assert_eq!((rc, count), (SUCCESS, 65535), "slot {n} with no device");
    }
    // the host max PCIe generation: N/A, as on the H100 the goldens record
    let mut gen: u32 = 77;
    // SAFETY: slot 230 takes (device, unsigned *out).
    let rc = unsafe { f.slot(230)(g0, (&raw mut gen) as usize, 0, 0) };
    assert_eq!((rc, gen), (NOT_SUPPORTED, 77));
}

/// Proves slot 108 answers the enforced power limit in milliwatts (the
/// A100-SXM4-40GB's 400 W from the catalog), which nvidia-smi 580 prints as
/// `enforced.power.limit`; the catch-all's zero printed `0.00 W`. A first
/// argument that is not a device handle gets nothing written.
#[test]
fn slot_108_is_the_enforced_power_limit() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let f = Fixture::new();
    let mut mw: u32 = 77;
    // SAFETY: slot 108 takes (device, unsigned *milliwatts).
    let rc = unsafe { f.slot(108)(f.handle(1), (&raw mut mw) as usize, 0, 0) };
    assert_eq!((rc, mw), (SUCCESS, 400_000));
    let mut mw: u32 = 77;
    // SAFETY: as above.
    let rc = unsafe { f.slot(108)(7, (&raw mut mw) as usize, 0, 0) };
    assert_eq!((rc, mw), (SUCCESS, 77));
}

/// Proves every name NVIDIA's NVML mock exports for nvidia-smi resolves
/// with dlsym: the unversioned aliases it defines with `--defsym` (its
/// Makefile's VERSION_ALIASES), `nvmlInit`/`nvmlInit_v1`, event sets, and
/// the export table itself.
#[test]
fn names_nvidia_smi_looks_up_resolve() {
    // SAFETY: the shim has no library constructors with preconditions.
    let lib = unsafe { Library::new(shim_library()) }.expect("dlopen the shim");
    for name in [
        "nvmlInternalGetExportTable",
        "nvmlInit",
        "nvmlInit_v1",
        "nvmlInit_v2",
        "nvmlInitWithFlags",
        "nvmlEventSetCreate",
        "nvmlEventSetFree",
        "nvmlDeviceGetPciInfo",
        "nvmlDeviceGetHandleByPciBusId",
        "nvmlDeviceGetNvLinkRemotePciInfo",
        "nvmlDeviceRemoveGpu",
        "nvmlDeviceGetAttributes",
        "nvmlComputeInstanceGetInfo",
        "nvmlDeviceGetGpuInstancePossiblePlacements",
        "nvmlVgpuInstanceGetLicenseInfo",
        "nvmlDeviceGetDriverModel",
        "nvmlDeviceGetGridLicensableFeatures",
        "nvmlEventSetWait",
        "nvmlDeviceGetComputeRunningProcesses",
        "nvmlDeviceGetGraphicsRunningProcesses",
        "nvmlDeviceGetMPSComputeRunningProcesses",
        "nvmlSystemGetProcessName",
    ] {
        // SAFETY: only the address is looked up.
        let found = unsafe { lib.get::<unsafe extern "C" fn()>(name.as_bytes()) };
        assert!(found.is_ok(), "{name} does not resolve");
    }
}
