//! Where the GPUs sit in the simulated host: CPU and memory affinity, the
//! PCIe path between two GPUs, the GPUs near a GPU or a CPU, peer-to-peer
//! support, and excluded devices. The host and its rules are
//! `mig_sim::query_readings::topology` (documented in
//! docs/simulated-telemetry.md); this module writes their answers into the
//! caller's buffers. These belong to the physical board: a MIG device
//! handle answers `NOT_SUPPORTED`. `nvmlDeviceGetNumaNodeId` stays
//! `NOT_SUPPORTED` (the generated fallback), as the lent H200 answered: the
//! GPU's memory is no NUMA node of an x86 host.

use crate::call_log::call;
use crate::errors::{out, Fail, Result, Return};
use crate::machine::{self, Device};
use mig_sim::query_readings::topology::{self as topo, HOST};
use mig_sim::MachineState;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::{c_uint, c_ulong};

/// The NVML index of the physical GPU `device` names.
fn index(st: &MachineState, device: sys::nvmlDevice_t) -> Result<u32> {
    match machine::device(st, device)? {
        Device::Gpu { index, .. } => Ok(index),
        Device::Mig { .. } => Err(Fail::NOT_SUPPORTED),
    }
}

/// Run `f` on the snapshot and the GPU `device` names, logged as `name`.
fn on_gpu(
    name: &str,
    device: sys::nvmlDevice_t,
    f: impl FnOnce(&MachineState, u32) -> Result<()>,
) -> Return {
    call(
        name,
        || log_args!(device),
        || {
            let st = machine::snapshot()?;
            let i = index(&st, device)?;
            f(&st, i)
        },
    )
}

/// Write a bit mask into the caller's `size` words (nvml.h: `cpuSet` /
/// `nodeSet` of `size` elements, bits past the mask 0); a zero size or a
/// null array is `INVALID_ARGUMENT`.
///
/// # Safety
/// `set` is null or valid for `size` writes.
unsafe fn write_mask(size: c_uint, set: *mut c_ulong, words: &[u64]) -> Result<()> {
    if size == 0 || set.is_null() {
        return Err(Fail::INVALID_ARGUMENT);
    }
    for i in 0..size as usize {
        // 64-bit words: `unsigned long` on the 64-bit Linux hosts NVML runs on
        let w = words.get(i).copied().unwrap_or(0) as c_ulong;
        // SAFETY: the caller's array holds `size` words (nvml.h).
        unsafe { *set.add(i) = w };
    }
    Ok(())
}

/// The NUMA node / socket scope of an affinity call (`NVML_AFFINITY_SCOPE_NODE`
/// or `_SOCKET`: one socket is one node on the simulated host).
fn scope_ok(scope: sys::nvmlAffinityScope_t) -> Result<()> {
    match scope {
        sys::NVML_AFFINITY_SCOPE_NODE | sys::NVML_AFFINITY_SCOPE_SOCKET => Ok(()),
        _ => Err(Fail::INVALID_ARGUMENT),
    }
}

/// `nvmlDeviceGetCpuAffinity`: the CPUs of the GPU's socket.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetCpuAffinity(
    device: sys::nvmlDevice_t,
    cpu_set_size: c_uint,
    cpu_set: *mut c_ulong,
) -> Return {
    on_gpu("nvmlDeviceGetCpuAffinity", device, |st, i| unsafe {
        write_mask(cpu_set_size, cpu_set, &HOST.cpu_mask(topo::socket(st, i)))
    })
}

/// `nvmlDeviceGetCpuAffinityWithinScope`: the same, for either scope.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetCpuAffinityWithinScope(
    device: sys::nvmlDevice_t,
    cpu_set_size: c_uint,
    cpu_set: *mut c_ulong,
    scope: sys::nvmlAffinityScope_t,
) -> Return {
    on_gpu("nvmlDeviceGetCpuAffinityWithinScope", device, |st, i| {
        scope_ok(scope)?;
        unsafe { write_mask(cpu_set_size, cpu_set, &HOST.cpu_mask(topo::socket(st, i))) }
    })
}

/// `nvmlDeviceGetMemoryAffinity`: the GPU's NUMA node, as a node mask.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetMemoryAffinity(
    device: sys::nvmlDevice_t,
    node_set_size: c_uint,
    node_set: *mut c_ulong,
    scope: sys::nvmlAffinityScope_t,
) -> Return {
    on_gpu("nvmlDeviceGetMemoryAffinity", device, |st, i| {
        scope_ok(scope)?;
        let node = topo::socket(st, i);
        let mut words = vec![0u64; node as usize / 64 + 1];
        words[node as usize / 64] = 1 << (node % 64);
        unsafe { write_mask(node_set_size, node_set, &words) }
    })
}

/// `nvmlDeviceGetTopologyCommonAncestor`: the PCIe path between two GPUs.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetTopologyCommonAncestor(
    device1: sys::nvmlDevice_t,
    device2: sys::nvmlDevice_t,
    path_info: *mut sys::nvmlGpuTopologyLevel_t,
) -> Return {
    on_gpu("nvmlDeviceGetTopologyCommonAncestor", device1, |st, a| {
        let b = index(st, device2)?;
        *unsafe { out(path_info) }? = topo::common_ancestor(st, a, b);
        Ok(())
    })
}

/// The GPU lists: nvml.h's `*count` "when zero, is set to the number of
/// matching GPUs"; otherwise the array gets at most `*count` handles and
/// `*count` the number written.
///
/// # Safety
/// `count` is null or valid; `array` is null or has room for `*count` handles.
unsafe fn write_handles(
    count: *mut c_uint,
    array: *mut sys::nvmlDevice_t,
    gpus: &[u32],
) -> Result<()> {
    let count = unsafe { out(count) }?;
    let found = c_uint::try_from(gpus.len()).map_err(|_| Fail::UNKNOWN)?;
    if *count == 0 {
        *count = found;
        return Ok(());
    }
    if array.is_null() {
        return Err(Fail::INVALID_ARGUMENT);
    }
    let n = (*count).min(found);
    for (k, &g) in gpus.iter().take(n as usize).enumerate() {
        // SAFETY: the caller's array has room for `*count >= n` handles.
        unsafe { *array.add(k) = machine::gpu_handle(g)? };
    }
    *count = n;
    Ok(())
}

/// `nvmlDeviceGetTopologyNearestGpus`: the other GPUs no farther than `level`.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetTopologyNearestGpus(
    device: sys::nvmlDevice_t,
    level: sys::nvmlGpuTopologyLevel_t,
    count: *mut c_uint,
    device_array: *mut sys::nvmlDevice_t,
) -> Return {
    on_gpu("nvmlDeviceGetTopologyNearestGpus", device, |st, i| unsafe {
        write_handles(count, device_array, &topo::nearest(st, i, level)?)
    })
}

/// `nvmlSystemGetTopologyGpuSet`: the GPUs on the socket of CPU `cpu_number`.
#[no_mangle]
pub unsafe extern "C" fn nvmlSystemGetTopologyGpuSet(
    cpu_number: c_uint,
    count: *mut c_uint,
    device_array: *mut sys::nvmlDevice_t,
) -> Return {
    call(
        "nvmlSystemGetTopologyGpuSet",
        || log_args!(cpu_number),
        || {
            let st = machine::snapshot()?;
            unsafe { write_handles(count, device_array, &topo::gpus_near_cpu(&st, cpu_number)?) }
        },
    )
}

/// `nvmlDeviceGetP2PStatus`: OK over NVLink; over PCIe within a socket, reads and writes only (`topology::p2p_status`).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetP2PStatus(
    device1: sys::nvmlDevice_t,
    device2: sys::nvmlDevice_t,
    p2p_index: sys::nvmlGpuP2PCapsIndex_t,
    p2p_status: *mut sys::nvmlGpuP2PStatus_t,
) -> Return {
    on_gpu("nvmlDeviceGetP2PStatus", device1, |st, a| {
        let b = index(st, device2)?;
        *unsafe { out(p2p_status) }? = topo::p2p_status(st, a, b, p2p_index)?;
        Ok(())
    })
}

/// `nvmlGetExcludedDeviceCount`: 0, the simulated machine excludes no GPU.
#[no_mangle]
pub unsafe extern "C" fn nvmlGetExcludedDeviceCount(device_count: *mut c_uint) -> Return {
    call("nvmlGetExcludedDeviceCount", String::new, || {
        machine::snapshot()?;
        *unsafe { out(device_count) }? = 0;
        Ok(())
    })
}

/// `nvmlGetExcludedDeviceInfoByIndex`: every index is past the (empty)
/// list: `INVALID_ARGUMENT`, as for a null `info`.
#[no_mangle]
pub unsafe extern "C" fn nvmlGetExcludedDeviceInfoByIndex(
    index: c_uint,
    info: *mut sys::nvmlExcludedDeviceInfo_t,
) -> Return {
    call(
        "nvmlGetExcludedDeviceInfoByIndex",
        || log_args!(index),
        || {
            machine::snapshot()?;
            unsafe { out(info) }?;
            Err(Fail::INVALID_ARGUMENT)
        },
    )
}
