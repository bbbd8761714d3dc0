//! Running processes: the simulated processes of `migctl sim run`.
//!
//! A MIG device handle lists the processes on that compute instance; a
//! parent GPU handle lists every process of the GPU with its GI/CI IDs (the
//! aggregate view nvml.h describes for privileged callers). Processes on a
//! GPU with MIG disabled carry `0xFFFFFFFF` as GI and CI ID. No simulated
//! process is a graphics one or an MPS client, so those lists are always
//! empty. Process names also come from the host's `/proc` for live pids.

use crate::call_log::call;
use crate::errors::{out, Fail, Result, Return};
use crate::machine;
use mig_sim::SimProcess;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::c_char;
use std::ffi::c_uint;

/// GI/CI ID of a process that is not on a MIG device.
const NO_INSTANCE: c_uint = 0xFFFF_FFFF;
const MIB: u64 = 1024 * 1024;

/// The processes on the device a handle names.
pub(crate) fn processes(device: sys::nvmlDevice_t) -> Result<Vec<SimProcess>> {
    let st = machine::snapshot()?;
    let d = machine::device(&st, device)?;
    Ok(mig_sim::query_readings::lookup::processes(&st, &d)
        .cloned()
        .collect())
}

/// NVML's process-list protocol: `*count` smaller than the list (0 asks for
/// the size; `infos` may then be NULL) -> `INSUFFICIENT_SIZE` with the size
/// written; otherwise the list is written and `*count` set to its length.
///
/// # Safety
/// `count` is null or valid; `infos` is null or has room for `*count` entries.
unsafe fn write_processes<T: Copy>(infos: *mut T, count: *mut c_uint, items: &[T]) -> Result<()> {
    let count = unsafe { out(count) }?;
    let needed = c_uint::try_from(items.len()).map_err(|_| Fail::UNKNOWN)?;
    if *count < needed {
        *count = needed;
        return Err(Fail::INSUFFICIENT_SIZE);
    }
    if !items.is_empty() {
        if infos.is_null() {
            return Err(Fail::INVALID_ARGUMENT);
        }
        // SAFETY: `infos` has room for `*count >= items.len()` entries.
        unsafe { std::ptr::copy_nonoverlapping(items.as_ptr(), infos, items.len()) };
    }
    *count = needed;
    Ok(())
}

fn info_v2(p: &SimProcess) -> sys::nvmlProcessInfo_v2_t {
    sys::nvmlProcessInfo_v2_t {
        pid: p.pid,
        usedGpuMemory: p.used_memory_mb * MIB,
        gpuInstanceId: p.gi.unwrap_or(NO_INSTANCE),
        computeInstanceId: p.ci.unwrap_or(NO_INSTANCE),
    }
}

/// `_v2` and `_v3` share the struct with GI/CI IDs.
unsafe fn compute_v2(
    name: &str,
    device: sys::nvmlDevice_t,
    count: *mut c_uint,
    infos: *mut sys::nvmlProcessInfo_v2_t,
) -> Return {
    call(
        name,
        || log_args!(device),
        || {
            let items: Vec<_> = processes(device)?.iter().map(info_v2).collect();
            unsafe { write_processes(infos, count, &items) }
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetComputeRunningProcesses_v3(
    device: sys::nvmlDevice_t,
    info_count: *mut c_uint,
    infos: *mut sys::nvmlProcessInfo_v2_t,
) -> Return {
    unsafe {
        compute_v2(
            "nvmlDeviceGetComputeRunningProcesses_v3",
            device,
            info_count,
            infos,
        )
    }
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetComputeRunningProcesses_v2(
    device: sys::nvmlDevice_t,
    info_count: *mut c_uint,
    infos: *mut sys::nvmlProcessInfo_v2_t,
) -> Return {
    unsafe {
        compute_v2(
            "nvmlDeviceGetComputeRunningProcesses_v2",
            device,
            info_count,
            infos,
        )
    }
}

/// The v1 symbol: `{pid, usedGpuMemory}` entries.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetComputeRunningProcesses(
    device: sys::nvmlDevice_t,
    info_count: *mut c_uint,
    infos: *mut sys::nvmlProcessInfo_v1_t,
) -> Return {
    call(
        "nvmlDeviceGetComputeRunningProcesses",
        || log_args!(device),
        || {
            let items: Vec<_> = processes(device)?
                .iter()
                .map(|p| sys::nvmlProcessInfo_v1_t {
                    pid: p.pid,
                    usedGpuMemory: p.used_memory_mb * MIB,
                })
                .collect();
            unsafe { write_processes(infos, info_count, &items) }
        },
    )
}

/// Graphics processes: none are simulated, but the handle is still checked.
unsafe fn graphics<T: Copy>(
    name: &str,
    device: sys::nvmlDevice_t,
    count: *mut c_uint,
    infos: *mut T,
) -> Return {
    call(
        name,
        || log_args!(device),
        || {
            processes(device)?;
            unsafe { write_processes::<T>(infos, count, &[]) }
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGraphicsRunningProcesses_v3(
    device: sys::nvmlDevice_t,
    info_count: *mut c_uint,
    infos: *mut sys::nvmlProcessInfo_v2_t,
) -> Return {
    unsafe {
        graphics(
            "nvmlDeviceGetGraphicsRunningProcesses_v3",
            device,
            info_count,
            infos,
        )
    }
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGraphicsRunningProcesses_v2(
    device: sys::nvmlDevice_t,
    info_count: *mut c_uint,
    infos: *mut sys::nvmlProcessInfo_v2_t,
) -> Return {
    unsafe {
        graphics(
            "nvmlDeviceGetGraphicsRunningProcesses_v2",
            device,
            info_count,
            infos,
        )
    }
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGraphicsRunningProcesses(
    device: sys::nvmlDevice_t,
    info_count: *mut c_uint,
    infos: *mut sys::nvmlProcessInfo_v1_t,
) -> Return {
    unsafe {
        graphics(
            "nvmlDeviceGetGraphicsRunningProcesses",
            device,
            info_count,
            infos,
        )
    }
}

/// MPS clients: no simulated process runs under an MPS server, so the list
/// is empty (the handle is still checked), as on a real board without MPS.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetMPSComputeRunningProcesses_v3(
    device: sys::nvmlDevice_t,
    info_count: *mut c_uint,
    infos: *mut sys::nvmlProcessInfo_v2_t,
) -> Return {
    unsafe {
        graphics(
            "nvmlDeviceGetMPSComputeRunningProcesses_v3",
            device,
            info_count,
            infos,
        )
    }
}

/// MPS clients, `_v2` struct: empty, as `_v3`.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetMPSComputeRunningProcesses_v2(
    device: sys::nvmlDevice_t,
    info_count: *mut c_uint,
    infos: *mut sys::nvmlProcessInfo_v2_t,
) -> Return {
    unsafe {
        graphics(
            "nvmlDeviceGetMPSComputeRunningProcesses_v2",
            device,
            info_count,
            infos,
        )
    }
}

/// MPS clients, v1 struct: empty, as `_v3`.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetMPSComputeRunningProcesses(
    device: sys::nvmlDevice_t,
    info_count: *mut c_uint,
    infos: *mut sys::nvmlProcessInfo_v1_t,
) -> Return {
    unsafe {
        graphics(
            "nvmlDeviceGetMPSComputeRunningProcesses",
            device,
            info_count,
            infos,
        )
    }
}

/// `NVML_STRUCT_VERSION(ProcessDetailList, 1)`.
const PROCESS_DETAIL_LIST_V1: c_uint = 0x0100_0018;

/// `nvmlDeviceGetRunningProcessDetailList`: the compute processes (mode 0)
/// with GI/CI IDs and 0 bytes of protected memory (confidential computing
/// is off); graphics (1) and MPS (2) lists are empty. Same count protocol
/// as the process lists, on `numProcArrayEntries`.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetRunningProcessDetailList(
    device: sys::nvmlDevice_t,
    plist: *mut sys::nvmlProcessDetailList_t,
) -> Return {
    call(
        "nvmlDeviceGetRunningProcessDetailList",
        || log_args!(device),
        || {
            let plist = unsafe { out(plist) }?;
            if plist.version != PROCESS_DETAIL_LIST_V1 || plist.mode > 2 {
                return Err(Fail::INVALID_ARGUMENT);
            }
            let procs = processes(device)?;
            let items: Vec<sys::nvmlProcessDetail_v1_t> = if plist.mode == 0 {
                procs
                    .iter()
                    .map(|p| {
                        let v2 = info_v2(p);
                        sys::nvmlProcessDetail_v1_t {
                            pid: v2.pid,
                            usedGpuMemory: v2.usedGpuMemory,
                            gpuInstanceId: v2.gpuInstanceId,
                            computeInstanceId: v2.computeInstanceId,
                            usedGpuCcProtectedMemory: 0,
                        }
                    })
                    .collect()
            } else {
                Vec::new()
            };
            unsafe { write_processes(plist.procArray, &mut plist.numProcArrayEntries, &items) }
        },
    )
}

/// The name the driver reports for a live host process: the first word of
/// `/proc/PID/cmdline` (`argv[0]`, with its path, which is what nvidia-smi's
/// "Process name" column shows), or `/proc/PID/comm` when the command line
/// is empty (kernel threads, zombies). `None` when no such process lives.
pub fn host_process_name(pid: u32) -> Option<String> {
    let dir = std::path::Path::new("/proc").join(pid.to_string());
    let cmdline = std::fs::read(dir.join("cmdline")).ok()?;
    let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or(&[]);
    if !argv0.is_empty() {
        return Some(String::from_utf8_lossy(argv0).into_owned());
    }
    let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
    Some(comm.trim_end_matches('\n').to_string())
}

/// `nvmlSystemGetProcessName`: a simulated process's name (`migctl sim run
/// --name`), else the name of the live host process with that pid (see
/// [`host_process_name`]), cut to `length - 1` bytes as the real call cuts
/// long names; `NOT_FOUND` when neither exists.
#[no_mangle]
pub unsafe extern "C" fn nvmlSystemGetProcessName(
    pid: c_uint,
    name: *mut c_char,
    length: c_uint,
) -> Return {
    call(
        "nvmlSystemGetProcessName",
        || log_args!(pid, length),
        || {
            if name.is_null() || length == 0 {
                return Err(Fail::INVALID_ARGUMENT);
            }
            let st = machine::snapshot()?;
            let found = match st.processes.iter().find(|p| p.pid == pid) {
                Some(p) => p.name.clone(),
                None => host_process_name(pid).ok_or(Fail::NOT_FOUND)?,
            };
            let bytes = found.as_bytes();
            let n = bytes.len().min(length as usize - 1);
            // SAFETY: `name` holds `length > n` bytes per nvml.h.
            unsafe {
                std::ptr::copy_nonoverlapping(bytes.as_ptr().cast::<c_char>(), name, n);
                *name.add(n) = 0;
            }
            Ok(())
        },
    )
}
