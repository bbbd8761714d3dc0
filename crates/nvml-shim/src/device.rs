//! Device discovery and identity: count, handles by index/UUID/PCI bus ID,
//! name, UUID, PCI info, minor number, index, memory, attributes and PDI,
//! for physical GPUs and MIG devices alike.
//!
//! What a MIG device handle answers follows nvml.h: its index is its MIG
//! device index (usable with `nvmlDeviceGetMigDeviceHandleByIndex`), its
//! memory is its GPU instance's, its PCI info is the parent's, and it has no
//! minor number or PDI of its own (`NOT_SUPPORTED`). `nvmlDeviceGetAttributes`
//! answers only for MIG devices: the real H100 dump shows "Not Supported" on
//! the full GPU.

use crate::call_log::call;
use crate::errors::{fill_chars, out, struct_version, write_str, Fail, Result, Return};
use crate::machine::{self, Device};
use mig_model::catalog::Architecture;
use mig_sim::query_readings::details::fb_reserved;
use mig_sim::query_readings::lookup::{self, parse_bus_id, Found};
use mig_sim::MachineState;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::{c_char, c_int, c_uint};

/// `NVML_STRUCT_VERSION(Memory, 2)`.
const MEMORY_V2: c_uint = 0x0200_0028;
/// `NVML_STRUCT_VERSION(Pdi, 1)`.
const PDI_V1: c_uint = 0x0100_0010;
/// NVIDIA's PCI vendor ID, the low half of `pciDeviceId`.
const PCI_VENDOR_NVIDIA: u32 = 0x10DE;

/// `nvmlPdi_t` (NVML 13; not in the `nvml-wrapper-sys` 0.9 bindings).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct NvmlPdi {
    pub version: c_uint,
    pub value: u64,
}

/// The GPU count of the machine.
unsafe fn count(name: &str, device_count: *mut c_uint) -> Return {
    call(
        name,
        || log_args!(),
        || {
            let st = machine::snapshot()?;
            *unsafe { out(device_count) }? =
                c_uint::try_from(st.gpus.len()).map_err(|_| Fail::UNKNOWN)?;
            Ok(())
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetCount_v2(device_count: *mut c_uint) -> Return {
    unsafe { count("nvmlDeviceGetCount_v2", device_count) }
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetCount(device_count: *mut c_uint) -> Return {
    unsafe { count("nvmlDeviceGetCount", device_count) }
}

unsafe fn by_index(name: &str, index: c_uint, device: *mut sys::nvmlDevice_t) -> Return {
    call(
        name,
        || log_args!(index),
        || {
            let device = unsafe { out(device) }?;
            let st = machine::snapshot()?;
            machine::gpu(&st, index)?;
            *device = machine::gpu_handle(index)?;
            Ok(())
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetHandleByIndex_v2(
    index: c_uint,
    device: *mut sys::nvmlDevice_t,
) -> Return {
    unsafe { by_index("nvmlDeviceGetHandleByIndex_v2", index, device) }
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetHandleByIndex(
    index: c_uint,
    device: *mut sys::nvmlDevice_t,
) -> Return {
    unsafe { by_index("nvmlDeviceGetHandleByIndex", index, device) }
}

/// The handle of the GPU or MIG device with this UUID
/// (`mig_sim::query_readings::lookup::find_uuid`).
fn find_uuid(st: &MachineState, uuid: &str) -> Result<sys::nvmlDevice_t> {
    match lookup::find_uuid(st, uuid)? {
        Found::Gpu(i) => machine::gpu_handle(i),
        Found::Mig(i, d) => machine::mig_handle(i, machine::gpu(st, i)?, &d),
    }
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetHandleByUUID(
    uuid: *const c_char,
    device: *mut sys::nvmlDevice_t,
) -> Return {
    call(
        "nvmlDeviceGetHandleByUUID",
        || log_args!(uuid),
        || {
            let uuid = unsafe { crate::errors::c_str(uuid) }?;
            let device = unsafe { out(device) }?;
            let st = machine::snapshot()?;
            *device = find_uuid(&st, uuid)?;
            Ok(())
        },
    )
}

/// `NVML_STRUCT_VERSION(UUID, 1)` (`nvmlUUID_v1_t` is 52 bytes).
const UUID_V1: c_uint = 0x0100_0034;
/// `NVML_UUID_TYPE_ASCII` / `_BINARY`.
const UUID_ASCII: c_uint = 1;
const UUID_BINARY: c_uint = 2;

/// `nvmlUUID_v1_t` (NVML 13; not in the `nvml-wrapper-sys` 0.9 bindings):
/// the value is 41 ASCII bytes or 16 binary ones.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct NvmlUuidV1 {
    pub version: c_uint,
    pub kind: c_uint,
    pub value: [u8; 41],
}

/// `nvmlDeviceGetHandleByUUIDV`: as `nvmlDeviceGetHandleByUUID`, the UUID
/// given as text or as its 16 bytes (matched against GPU and MIG UUIDs).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetHandleByUUIDV(
    uuid: *const NvmlUuidV1,
    device: *mut sys::nvmlDevice_t,
) -> Return {
    call(
        "nvmlDeviceGetHandleByUUIDV",
        || log_args!(),
        || {
            let u = unsafe { crate::errors::input(uuid) }?;
            let device = unsafe { out(device) }?;
            if u.version != UUID_V1 {
                return Err(Fail::ARGUMENT_VERSION_MISMATCH);
            }
            let st = machine::snapshot()?;
            *device = match u.kind {
                UUID_ASCII => {
                    let end = u
                        .value
                        .iter()
                        .position(|&b| b == 0)
                        .unwrap_or(u.value.len());
                    let text =
                        std::str::from_utf8(&u.value[..end]).map_err(|_| Fail::INVALID_ARGUMENT)?;
                    find_uuid(&st, text)?
                }
                UUID_BINARY => {
                    let hex: String = u.value[..16].iter().map(|b| format!("{b:02x}")).collect();
                    let dashed = format!(
                        "{}-{}-{}-{}-{}",
                        &hex[..8],
                        &hex[8..12],
                        &hex[12..16],
                        &hex[16..20],
                        &hex[20..]
                    );
                    find_uuid(&st, &format!("GPU-{dashed}"))
                        .or_else(|_| find_uuid(&st, &format!("MIG-{dashed}")))?
                }
                _ => return Err(Fail::INVALID_ARGUMENT),
            };
            Ok(())
        },
    )
}

unsafe fn by_pci(name: &str, bus_id: *const c_char, device: *mut sys::nvmlDevice_t) -> Return {
    call(
        name,
        || log_args!(bus_id),
        || {
            let wanted = parse_bus_id(unsafe { crate::errors::c_str(bus_id) }?);
            let device = unsafe { out(device) }?;
            let wanted = wanted.ok_or(Fail::INVALID_ARGUMENT)?;
            let st = machine::snapshot()?;
            *device = machine::gpu_handle(lookup::gpu_at_bus_id(&st, wanted)?)?;
            Ok(())
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetHandleByPciBusId_v2(
    pci_bus_id: *const c_char,
    device: *mut sys::nvmlDevice_t,
) -> Return {
    unsafe { by_pci("nvmlDeviceGetHandleByPciBusId_v2", pci_bus_id, device) }
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetHandleByPciBusId(
    pci_bus_id: *const c_char,
    device: *mut sys::nvmlDevice_t,
) -> Return {
    unsafe { by_pci("nvmlDeviceGetHandleByPciBusId", pci_bus_id, device) }
}

/// Run `f` on the device a handle names, in a fresh snapshot.
fn with_device<T>(
    device: sys::nvmlDevice_t,
    f: impl FnOnce(&Device<'_>) -> Result<T>,
) -> Result<T> {
    let st = machine::snapshot()?;
    let d = machine::device(&st, device)?;
    f(&d)
}

/// `NVIDIA A100-SXM4-40GB`, or for a MIG device the board name and the MIG
/// profile: `NVIDIA A100-SXM4-40GB MIG 1c.3g.20gb`.
fn name_of(d: &Device<'_>) -> String {
    match d {
        Device::Gpu { sim, .. } => sim.model().name.clone(),
        Device::Mig { info, .. } => mig_model::ids::mig_device_name(&d.model().name, &info.name),
    }
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetName(
    device: sys::nvmlDevice_t,
    name: *mut c_char,
    length: c_uint,
) -> Return {
    call(
        "nvmlDeviceGetName",
        || log_args!(device, length),
        || {
            let s = with_device(device, |d| Ok(name_of(d)))?;
            unsafe { write_str(name, length, &s) }
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetUUID(
    device: sys::nvmlDevice_t,
    uuid: *mut c_char,
    length: c_uint,
) -> Return {
    call(
        "nvmlDeviceGetUUID",
        || log_args!(device, length),
        || {
            let s = with_device(device, |d| {
                Ok(match d {
                    Device::Gpu { sim, .. } => sim.uuid.clone(),
                    Device::Mig { info, .. } => info.uuid.clone(),
                })
            })?;
            unsafe { write_str(uuid, length, &s) }
        },
    )
}

/// `nvmlPciInfo_t` of the (parent) GPU.
fn pci_info(d: &Device<'_>) -> Result<sys::nvmlPciInfo_t> {
    let g = d.sim_gpu();
    let [domain, bus, dev, function] = parse_bus_id(&g.pci_bus_id).ok_or(Fail::UNKNOWN)?;
    let mut p = sys::nvmlPciInfo_t {
        busIdLegacy: [0; 16],
        domain,
        bus,
        device: dev,
        pciDeviceId: (u32::from(g.model().pci_device_id) << 16) | PCI_VENDOR_NVIDIA,
        pciSubSystemId: g.model().pci_subsystem_id,
        busId: [0; 32],
    };
    fill_chars(
        &mut p.busIdLegacy,
        &format!("{domain:04X}:{bus:02X}:{dev:02X}.{function:X}"),
    );
    fill_chars(
        &mut p.busId,
        &format!("{domain:08X}:{bus:02X}:{dev:02X}.{function:X}"),
    );
    Ok(p)
}

/// How many leading bytes of `nvmlPciInfo_t` each entry point writes, as the
/// lent H200 showed with a guarded buffer (driver 580.159.04,
/// `catalog/measured/h200-580.159.04/monitoring-probe.json`): the unversioned
/// call 32 (legacy bus ID, domain, bus, device, `pciDeviceId`), `_v2` 36
/// (adding `pciSubSystemId`), `_v3` those plus the bus ID string through its
/// NUL. Writing no more than the driver keeps callers built against an older,
/// shorter struct safe.
#[derive(Debug, Clone, Copy)]
enum PciWrite {
    V1,
    V2,
    V3,
}

fn pci_bytes(p: &sys::nvmlPciInfo_t, which: PciWrite) -> usize {
    const LEGACY_IDS: usize = 16 + 4 * 4;
    match which {
        PciWrite::V1 => LEGACY_IDS,
        PciWrite::V2 => LEGACY_IDS + 4,
        PciWrite::V3 => {
            let len = p
                .busId
                .iter()
                .position(|&c| c == 0)
                .unwrap_or(p.busId.len() - 1);
            LEGACY_IDS + 4 + len + 1
        }
    }
}

/// Fill the first bytes of the caller's struct, as [`PciWrite`] says.
unsafe fn put_pci(name: &str, device: sys::nvmlDevice_t, dst: *mut u8, which: PciWrite) -> Return {
    call(
        name,
        || log_args!(device),
        || {
            if dst.is_null() {
                return Err(Fail::INVALID_ARGUMENT);
            }
            let p = with_device(device, pci_info)?;
            let n = pci_bytes(&p, which).min(std::mem::size_of::<sys::nvmlPciInfo_t>());
            // SAFETY: `p` is a plain C struct of at least `n` bytes; the caller's
            // buffer holds the struct of the version it called, which is at
            // least `n` bytes (nvml.h).
            unsafe {
                std::ptr::copy_nonoverlapping(
                    (&p as *const sys::nvmlPciInfo_t).cast::<u8>(),
                    dst,
                    n,
                )
            };
            Ok(())
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetPciInfo_v3(
    device: sys::nvmlDevice_t,
    pci: *mut sys::nvmlPciInfo_t,
) -> Return {
    unsafe { put_pci("nvmlDeviceGetPciInfo_v3", device, pci.cast(), PciWrite::V3) }
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetPciInfo_v2(
    device: sys::nvmlDevice_t,
    pci: *mut sys::nvmlPciInfo_t,
) -> Return {
    unsafe { put_pci("nvmlDeviceGetPciInfo_v2", device, pci.cast(), PciWrite::V2) }
}

/// `nvmlPciInfo_t` as NVML v1 laid it out (52 bytes): a 16-byte bus ID in
/// the legacy `0000:07:00.0` form, the IDs, and four reserved words. The
/// unversioned `nvmlDeviceGetPciInfo` is declared with this layout for
/// callers built against it (nvml.h's `NVML_NO_UNVERSIONED_FUNC_DEFS`
/// block); it fills its first 32 bytes, as the real driver does.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PciInfoV1 {
    pub bus_id: [c_char; 16],
    pub domain: c_uint,
    pub bus: c_uint,
    pub device: c_uint,
    pub pci_device_id: c_uint,
    pub pci_sub_system_id: c_uint,
    pub reserved: [c_uint; 4],
}

/// `nvmlDeviceGetPciInfo`: the first 32 bytes of the v1 layout
/// ([`PciInfoV1`]).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetPciInfo(
    device: sys::nvmlDevice_t,
    pci: *mut PciInfoV1,
) -> Return {
    unsafe { put_pci("nvmlDeviceGetPciInfo", device, pci.cast(), PciWrite::V1) }
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetMinorNumber(
    device: sys::nvmlDevice_t,
    minor_number: *mut c_uint,
) -> Return {
    call(
        "nvmlDeviceGetMinorNumber",
        || log_args!(device),
        || {
            let minor_number = unsafe { out(minor_number) }?;
            *minor_number = with_device(device, |d| match d {
                Device::Gpu { sim, .. } => Ok(sim.minor),
                Device::Mig { .. } => Err(Fail::NOT_SUPPORTED),
            })?;
            Ok(())
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetIndex(
    device: sys::nvmlDevice_t,
    index: *mut c_uint,
) -> Return {
    call(
        "nvmlDeviceGetIndex",
        || log_args!(device),
        || {
            let index = unsafe { out(index) }?;
            *index = with_device(device, |d| {
                Ok(match d {
                    Device::Gpu { index, .. } => *index,
                    Device::Mig { info, .. } => info.index,
                })
            })?;
            Ok(())
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetMemoryInfo(
    device: sys::nvmlDevice_t,
    memory_out: *mut sys::nvmlMemory_t,
) -> Return {
    call(
        "nvmlDeviceGetMemoryInfo",
        || log_args!(device),
        || {
            let m = unsafe { out(memory_out) }?;
            let st = machine::snapshot()?;
            let (total, used) = lookup::memory(&st, &machine::device(&st, device)?);
            *m = sys::nvmlMemory_t {
                total,
                free: total.saturating_sub(used),
                used,
            };
            Ok(())
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetMemoryInfo_v2(
    device: sys::nvmlDevice_t,
    memory_out: *mut sys::nvmlMemory_v2_t,
) -> Return {
    call(
        "nvmlDeviceGetMemoryInfo_v2",
        || log_args!(device),
        || {
            if unsafe { struct_version(memory_out.cast()) }? != MEMORY_V2 {
                return Err(Fail::ARGUMENT_VERSION_MISMATCH);
            }
            let m = unsafe { out(memory_out) }?;
            let st = machine::snapshot()?;
            let d = machine::device(&st, device)?;
            let (total, used) = lookup::memory(&st, &d);
            // the driver's reserve of a whole GPU where a capture gives it
            // (`migctl -q` "FB Memory Usage / Reserved"); a MIG device none
            let reserved = match d {
                Device::Gpu { sim, .. } => fb_reserved(sim).unwrap_or(0),
                Device::Mig { .. } => 0,
            };
            *m = sys::nvmlMemory_v2_t {
                version: MEMORY_V2,
                total,
                reserved,
                free: total.saturating_sub(used + reserved),
                used,
            };
            Ok(())
        },
    )
}

unsafe fn attributes(
    name: &str,
    device: sys::nvmlDevice_t,
    attrs: *mut sys::nvmlDeviceAttributes_t,
) -> Return {
    call(
        name,
        || log_args!(device),
        || {
            let attrs = unsafe { out(attrs) }?;
            *attrs = with_device(device, |d| match d {
                Device::Gpu { .. } => Err(Fail::NOT_SUPPORTED),
                Device::Mig { ci, info } => Ok(sys::nvmlDeviceAttributes_t {
                    multiprocessorCount: info.sm,
                    sharedCopyEngineCount: info.ce,
                    sharedDecoderCount: info.dec,
                    sharedEncoderCount: info.enc,
                    sharedJpegCount: info.jpeg,
                    sharedOfaCount: info.ofa,
                    gpuInstanceSliceCount: ci.gi.profile.slices,
                    computeInstanceSliceCount: ci.profile.slices,
                    memorySizeMB: info.memory_mb,
                }),
            })?;
            Ok(())
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetAttributes_v2(
    device: sys::nvmlDevice_t,
    attributes_out: *mut sys::nvmlDeviceAttributes_t,
) -> Return {
    unsafe { attributes("nvmlDeviceGetAttributes_v2", device, attributes_out) }
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetAttributes(
    device: sys::nvmlDevice_t,
    attributes_out: *mut sys::nvmlDeviceAttributes_t,
) -> Return {
    unsafe { attributes("nvmlDeviceGetAttributes", device, attributes_out) }
}

/// `nvmlDeviceGetPdi`: the 64-bit per-device ID that MIG UUIDs hash.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetPdi(device: sys::nvmlDevice_t, pdi: *mut NvmlPdi) -> Return {
    call(
        "nvmlDeviceGetPdi",
        || log_args!(device),
        || {
            if unsafe { struct_version(pdi.cast()) }? != PDI_V1 {
                return Err(Fail::ARGUMENT_VERSION_MISMATCH);
            }
            let pdi = unsafe { out(pdi) }?;
            let value = with_device(device, |d| match d {
                Device::Gpu { sim, .. } => Ok(sim.pdi),
                Device::Mig { .. } => Err(Fail::NOT_SUPPORTED),
            })?;
            *pdi = NvmlPdi {
                version: PDI_V1,
                value,
            };
            Ok(())
        },
    )
}

/// `nvmlDeviceGetCudaComputeCapability`: the board's, also on a MIG handle.
/// Device-plugin and feature-discovery tools label nodes with it.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetCudaComputeCapability(
    device: sys::nvmlDevice_t,
    major: *mut c_int,
    minor: *mut c_int,
) -> Return {
    call(
        "nvmlDeviceGetCudaComputeCapability",
        || log_args!(device),
        || {
            let [ma, mi] = with_device(device, |d| Ok(d.model().compute_capability))?;
            let major = unsafe { out(major) }?;
            let minor = unsafe { out(minor) }?;
            *major = ma as c_int;
            *minor = mi as c_int;
            Ok(())
        },
    )
}

/// `nvmlDeviceGetArchitecture`: `NVML_DEVICE_ARCH_AMPERE` (7), `_HOPPER` (9)
/// or `_BLACKWELL` (10), as nvml.h numbers them.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetArchitecture(
    device: sys::nvmlDevice_t,
    arch: *mut sys::nvmlDeviceArchitecture_t,
) -> Return {
    call(
        "nvmlDeviceGetArchitecture",
        || log_args!(device),
        || {
            let a = with_device(device, |d| {
                Ok(match d.model().architecture {
                    Architecture::Ampere => 7,
                    Architecture::Hopper => 9,
                    Architecture::Blackwell => 10,
                })
            })?;
            *unsafe { out(arch) }? = a;
            Ok(())
        },
    )
}
