//! `nvmlInternalGetExportTable`: the driver-private table that the real
//! `nvidia-smi` asks for before it shows anything. Without it nvidia-smi
//! stops with "Mismatch in versions between nvidia-smi and NVML".
//!
//! Nothing here is published by NVIDIA. The facts come from NVIDIA's own
//! NVML mock (NVIDIA/k8s-test-infra, `pkg/gpu/mocknvml/bridge/internal.go`
//! and `tests/mocknvml/internal_table_tests.go` at 3b2b865, PRs #204, #630,
//! #651, #652), which recovered them against nvidia-smi 580.65.06; the
//! project's summary of them with sources is
//! `shared/research/nvidia-smi-export-table.md`. This code is our own.
//!
//! - The table is asked for with one GUID, `6c3efec4-8fc9-4e6c-a327-ee696e12f7c4`
//!   (bytes `c4 fe 3e 6c c9 8f 6c 4e a3 27 ee 69 6e 12 f7 c4`); any other GUID
//!   gets `NOT_SUPPORTED` and the out-pointer is left alone.
//! - Word 0 is a size that must exceed 648 bytes; the mock's 0x1000 works.
//!   Our table really is that long (512 words) plus the size word, so no
//!   read nvidia-smi bounds by the size falls off its end.
//! - Slot N (word N, byte offset 8·N) is a function. Every slot has its own
//!   entry point that knows its number (one shared entry point that guesses
//!   the call from its arguments crashed the mock: PR #651), all taking four
//!   pointer-sized arguments.
//!
//! What the slots do:
//! - 81: device handle by index: `(index, nvmlDevice_t *out, 0x22)`.
//! - 213, 214, 215: running-process lists `(device, unsigned *count, entries)`,
//!   `*count` the caller's capacity, entries of [`ENTRY_SIZE`] bytes. The mock
//!   serves one list on all three and every row then shows type "M+C+G"; the
//!   simulated processes are all CUDA compute processes, so we serve them on
//!   slot 213 only, taken to be the compute list (the public calls' order in
//!   nvml.h: compute, graphics, MPS) and give empty lists on 214 and 215.
//! - 230: the PCIe "Host Max" generation `(device, unsigned *out)`. The lent
//!   H100 80GB HBM3 (driver 580.159.04) shows `Host Max : N/A` in `-q`
//!   (`shared/reference/h100-80gb-hbm3/h100_q.txt`), so we answer
//!   `NOT_SUPPORTED` as that board does.
//! - 108: the enforced power limit `(device, unsigned *milliwatts)`, the
//!   `enforced.power.limit` field of `--query-gpu` (seen on nvidia-smi
//!   580.159.04 over this library: it calls slot 108 with one of our device
//!   handles and a stack pointer, and printed the catch-all's zero as
//!   `0.00 W`; FakeGPU's `src/nvml/nvml_stubs.cpp` (58eb78c8) puts its
//!   `nvmlDeviceGetEnforcedPowerLimit` at word 108 for driver 570's table).
//!   Answered as `nvmlDeviceGetEnforcedPowerLimit`.
//! - 251: `nvidia-smi -pm` sets persistence mode here; the simulator does
//!   not model that change, so it answers as the library's other setters do
//!   (`NO_PERMISSION` to non-root, else `NOT_SUPPORTED`).
//! - Every other slot: `SUCCESS`, and a zero written to `*(unsigned *)arg2`
//!   when arg1 is one of our device handles and arg2 looks like a pointer.
//!   A count left at the caller's capacity makes nvidia-smi walk an array
//!   nothing wrote ("phantom processes"), and an error breaks `topo -m`.

use crate::call_log::call;
use crate::errors::{Fail, Result, Return, SUCCESS};
use crate::handles::{Handle, Kind};
use crate::machine;
use crate::process::{host_process_name, processes};
use nvml_wrapper_sys::bindings as sys;
use std::ffi::{c_uint, c_void};

/// The one table GUID nvidia-smi asks for, as its 16 bytes lie in memory.
pub const SMI_TABLE_GUID: [u8; 16] = [
    0xc4, 0xfe, 0x3e, 0x6c, 0xc9, 0x8f, 0x6c, 0x4e, 0xa3, 0x27, 0xee, 0x69, 0x6e, 0x12, 0xf7, 0xc4,
];

/// Number of function slots after the size word.
pub const SLOTS: usize = 512;
/// Word 0 of the table: its size in bytes, as the mock sets it (> 648).
pub const TABLE_SIZE: usize = 0x1000;
/// Device handle by index.
pub const SLOT_HANDLE_BY_INDEX: usize = 81;
/// The running-process lists (compute, graphics, MPS).
pub const SLOT_PROCESSES: [usize; 3] = [213, 214, 215];
/// PCIe host max link generation.
pub const SLOT_PCIE_HOST_MAX_GEN: usize = 230;
/// Enforced power limit, milliwatts.
pub const SLOT_ENFORCED_POWER_LIMIT: usize = 108;
/// Persistence-mode setter.
pub const SLOT_SET_PERSISTENCE: usize = 251;
/// The third argument nvidia-smi passes to slot 81.
pub const HANDLE_BY_INDEX_TAG: usize = 0x22;
/// Bytes of one process entry of slots 213-215.
pub const ENTRY_SIZE: usize = 4128;
/// Bytes of the inline, NUL-terminated process name (at offset 32).
pub const NAME_SIZE: usize = 4096;

/// One process entry as nvidia-smi 580 reads it from slots 213-215.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ProcessEntry {
    pub pid: u32,
    pub used_gpu_memory: u64,
    pub gpu_instance_id: u32,
    pub compute_instance_id: u32,
    pub used_gpu_cc_protected_memory: u64,
    pub name: [u8; NAME_SIZE],
}

const _: () = assert!(std::mem::size_of::<ProcessEntry>() == ENTRY_SIZE);

type Slot = unsafe extern "C" fn(usize, usize, usize, usize) -> Return;

/// The table: the size word, then slot 1 to slot 512.
#[repr(C)]
pub struct Table {
    size: usize,
    slots: [[Slot; 16]; SLOTS / 16],
}

/// Slot `N`'s entry point; the call log names it `export_slot slot=N`.
unsafe extern "C" fn export_slot<const N: usize>(
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
) -> Return {
    // SAFETY: the caller (nvidia-smi) passes what slot N takes.
    unsafe { dispatch("export_slot", N, a1, a2, a3, a4) }
}

macro_rules! sixteen {
    ($b:expr) => {
        [
            export_slot::<{ $b }>,
            export_slot::<{ $b + 1 }>,
            export_slot::<{ $b + 2 }>,
            export_slot::<{ $b + 3 }>,
            export_slot::<{ $b + 4 }>,
            export_slot::<{ $b + 5 }>,
            export_slot::<{ $b + 6 }>,
            export_slot::<{ $b + 7 }>,
            export_slot::<{ $b + 8 }>,
            export_slot::<{ $b + 9 }>,
            export_slot::<{ $b + 10 }>,
            export_slot::<{ $b + 11 }>,
            export_slot::<{ $b + 12 }>,
            export_slot::<{ $b + 13 }>,
            export_slot::<{ $b + 14 }>,
            export_slot::<{ $b + 15 }>,
        ]
    };
}

static TABLE: Table = Table {
    size: TABLE_SIZE,
    slots: [
        sixteen!(1),
        sixteen!(17),
        sixteen!(33),
        sixteen!(49),
        sixteen!(65),
        sixteen!(81),
        sixteen!(97),
        sixteen!(113),
        sixteen!(129),
        sixteen!(145),
        sixteen!(161),
        sixteen!(177),
        sixteen!(193),
        sixteen!(209),
        sixteen!(225),
        sixteen!(241),
        sixteen!(257),
        sixteen!(273),
        sixteen!(289),
        sixteen!(305),
        sixteen!(321),
        sixteen!(337),
        sixteen!(353),
        sixteen!(369),
        sixteen!(385),
        sixteen!(401),
        sixteen!(417),
        sixteen!(433),
        sixteen!(449),
        sixteen!(465),
        sixteen!(481),
        sixteen!(497),
    ],
};

/// A value that can be a user-space pointer to a `u32` (not a small
/// integer such as a mode, not one of our non-canonical handles, aligned).
fn looks_like_pointer(v: usize) -> bool {
    (0x10000..0x0000_8000_0000_0000).contains(&v) && v.is_multiple_of(4)
}

/// Our device handle (a GPU or a MIG device), or `None`.
fn device_handle(v: usize) -> Option<sys::nvmlDevice_t> {
    Handle::decode_kind(v as u64, &[Kind::Gpu, Kind::MigDevice]).ok()?;
    Some(std::ptr::without_provenance_mut(v))
}

/// Run slot `n`.
///
/// # Safety
/// The arguments are those nvidia-smi passes to slot `n` (see the module
/// documentation); pointers are only written where the slot's shape says so.
unsafe fn dispatch(name: &str, n: usize, a1: usize, a2: usize, a3: usize, _a4: usize) -> Return {
    call(
        name,
        || format!("slot={n} arg1={a1:#x} arg2={a2:#x} arg3={a3:#x}"),
        || match n {
            SLOT_HANDLE_BY_INDEX if a3 == HANDLE_BY_INDEX_TAG && looks_like_pointer(a2) => {
                let index = c_uint::try_from(a1).map_err(|_| Fail::INVALID_ARGUMENT)?;
                let out = std::ptr::with_exposed_provenance_mut::<sys::nvmlDevice_t>(a2);
                // SAFETY: slot 81's second argument is the handle out-pointer.
                let rc = unsafe { crate::device::nvmlDeviceGetHandleByIndex_v2(index, out) };
                if rc == SUCCESS {
                    Ok(())
                } else {
                    Err(Fail(rc))
                }
            }
            213..=215 if device_handle(a1).is_some() && looks_like_pointer(a2) => {
                let count = std::ptr::with_exposed_provenance_mut::<c_uint>(a2);
                // SAFETY: the process slots take (device, unsigned *count, entries).
                unsafe { process_list(n, a1, count, a3) }
            }
            SLOT_PCIE_HOST_MAX_GEN if device_handle(a1).is_some() => {
                machine::device(
                    &*machine::snapshot()?,
                    std::ptr::without_provenance_mut::<c_void>(a1),
                )?;
                Err(Fail::NOT_SUPPORTED)
            }
            SLOT_ENFORCED_POWER_LIMIT if device_handle(a1).is_some() && looks_like_pointer(a2) => {
                let out = std::ptr::with_exposed_provenance_mut::<c_uint>(a2);
                let device = std::ptr::without_provenance_mut::<c_void>(a1);
                // SAFETY: slot 108's shape is (device, unsigned *milliwatts).
                let rc =
                    unsafe { crate::sensors::nvmlDeviceGetEnforcedPowerLimit(device.cast(), out) };
                if rc == SUCCESS {
                    Ok(())
                } else {
                    Err(Fail(rc))
                }
            }
            SLOT_SET_PERSISTENCE if mig_sim::is_root() => Err(Fail::NOT_SUPPORTED),
            SLOT_SET_PERSISTENCE => Err(Fail::NO_PERMISSION),
            _ => {
                if device_handle(a1).is_some() && looks_like_pointer(a2) {
                    // SAFETY: the catch-all's shape is (device, unsigned *out, ...).
                    unsafe { std::ptr::with_exposed_provenance_mut::<c_uint>(a2).write(0) };
                }
                Ok(())
            }
        },
    )
}

/// Slots 213-215: write up to `*count` entries at `entries`, then the number
/// written to `*count`. Only slot 213 (compute) lists the simulated
/// processes. Acts as the mock does only for an array above 0x100000 and a
/// capacity of 1 to 65536; otherwise writes a zero count.
///
/// # Safety
/// `count` is valid; `entries` has room for `*count` entries when it passes
/// the checks above.
unsafe fn process_list(n: usize, device: usize, count: *mut c_uint, entries: usize) -> Result<()> {
    // SAFETY: checked by the caller.
    let cap = unsafe { count.read() } as usize;
    if entries <= 0x10_0000 || !(1..=65536).contains(&cap) || n != SLOT_PROCESSES[0] {
        unsafe { count.write(0) };
        return Ok(());
    }
    let procs = processes(std::ptr::without_provenance_mut(device))?;
    let list = std::ptr::with_exposed_provenance_mut::<ProcessEntry>(entries);
    let written = procs.len().min(cap);
    for (i, p) in procs.iter().take(written).enumerate() {
        let mut e = ProcessEntry {
            pid: p.pid,
            used_gpu_memory: p.used_memory_mb * 1024 * 1024,
            gpu_instance_id: p.gi.unwrap_or(u32::MAX),
            compute_instance_id: p.ci.unwrap_or(u32::MAX),
            used_gpu_cc_protected_memory: 0,
            name: [0; NAME_SIZE],
        };
        let name = match p.start_time {
            Some(_) if p.name.is_empty() => host_process_name(p.pid).unwrap_or_default(),
            _ => p.name.clone(),
        };
        let len = name.len().min(NAME_SIZE - 1);
        e.name[..len].copy_from_slice(&name.as_bytes()[..len]);
        // SAFETY: `i < cap`, and the array holds `cap` entries.
        unsafe { list.add(i).write_unaligned(e) };
    }
    unsafe { count.write(written as c_uint) };
    Ok(())
}

/// `nvmlInternalGetExportTable(const void **table, const void *guid)`: the
/// table above for nvidia-smi's GUID, `NOT_SUPPORTED` for any other (the out
/// pointer is then left alone), `INVALID_ARGUMENT` for a NULL argument.
/// Callable before `nvmlInit`, as nvidia-smi checks it first.
#[no_mangle]
pub unsafe extern "C" fn nvmlInternalGetExportTable(
    table: *mut *const c_void,
    guid: *const [u8; 16],
) -> Return {
    call(
        "nvmlInternalGetExportTable",
        || {
            // SAFETY: `guid` is null or 16 readable bytes.
            match unsafe { guid.as_ref() } {
                Some(g) => format!(
                    "guid={}",
                    g.iter().map(|b| format!("{b:02x}")).collect::<String>()
                ),
                None => "guid=NULL".to_string(),
            }
        },
        || {
            if table.is_null() || guid.is_null() {
                return Err(Fail::INVALID_ARGUMENT);
            }
            // SAFETY: checked non-null; nvidia-smi passes 16 bytes.
            if unsafe { guid.read_unaligned() } != SMI_TABLE_GUID {
                return Err(Fail::NOT_SUPPORTED);
            }
            // SAFETY: checked non-null.
            unsafe { table.write((&raw const TABLE).cast()) };
            Ok(())
        },
    )
}

/// `nvmlInit_v1`: the same as `nvmlInit`; NVIDIA's NVML mock exports this
/// name for nvidia-smi too (k8s-test-infra `bridge/init.go`).
#[no_mangle]
pub extern "C" fn nvmlInit_v1() -> Return {
    call("nvmlInit_v1", String::new, machine::init)
}
