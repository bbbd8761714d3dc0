//! Event sets: `nvmlEventSetCreate`, `nvmlDeviceGetSupportedEventTypes`,
//! `nvmlDeviceRegisterEvents`, `nvmlEventSetWait{,_v2}`, `nvmlEventSetFree`,
//! the health-check loop of the Kubernetes device plugin.
//!
//! The model: the simulated GPUs never fail, so no ECC, Xid, P-state or clock
//! event ever occurs; the one event that does is `nvmlEventTypeMigConfigChange`,
//! reported when a registered GPU's MIG layout (mode, GPU and compute
//! instances) changes, whoever changed it (`migctl`, another NVML client).
//! A wait with nothing to report sleeps its timeout and answers
//! `NVML_ERROR_TIMEOUT`, as the driver does.
//!
//! Event sets live in this process (as the driver's do): a handle is a tagged
//! integer naming an entry of a table here; a freed or foreign one is
//! `INVALID_ARGUMENT`.

use crate::call_log::call;
use crate::errors::{out, Fail, Result, Return};
use crate::machine::{self, Device};
use mig_sim::MachineState;
use nvml_wrapper_sys::bindings as sys;
use std::collections::BTreeMap;
use std::ffi::{c_uint, c_ulonglong};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Event types the simulated boards support: ECC single/double bit (ECC is
/// enabled, as on the lent boards), P-state, Xid critical errors, clock
/// changes and MIG configuration changes.
pub const SUPPORTED: c_ulonglong = (sys::nvmlEventTypeSingleBitEccError
    | sys::nvmlEventTypeDoubleBitEccError
    | sys::nvmlEventTypePState
    | sys::nvmlEventTypeXidCriticalError
    | sys::nvmlEventTypeClock
    | MIG_CONFIG_CHANGE) as c_ulonglong;
/// `nvmlEventMigConfigChange`.
const MIG_CONFIG_CHANGE: u32 = 256;
/// Tag of event-set handles ("ev"), so a stray pointer is never taken for one.
const TAG: u64 = 0x6576 << 48;
/// How often a wait looks at the machine.
const POLL: Duration = Duration::from_millis(50);
/// GI/CI ID of an event that is not about one MIG device.
const NO_INSTANCE: c_uint = 0xFFFF_FFFF;
const TIMEOUT: Fail = Fail(sys::nvmlReturn_enum_NVML_ERROR_TIMEOUT);

/// One registration: a GPU, the event types asked for, and the MIG layout
/// last reported.
struct Registration {
    gpu: u32,
    types: c_ulonglong,
    seen: String,
}

struct Table {
    next: u64,
    sets: BTreeMap<u64, Vec<Registration>>,
}

static SETS: Mutex<Table> = Mutex::new(Table {
    next: 1,
    sets: BTreeMap::new(),
});

fn table() -> std::sync::MutexGuard<'static, Table> {
    SETS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The table entry of an event-set handle; `INVALID_ARGUMENT` if freed or foreign.
pub(crate) fn set_id(set: sys::nvmlEventSet_t) -> Result<u64> {
    let v = set.addr() as u64;
    if v & !((1 << 48) - 1) != TAG || !table().sets.contains_key(&(v & ((1 << 48) - 1))) {
        return Err(Fail::INVALID_ARGUMENT);
    }
    Ok(v & ((1 << 48) - 1))
}

/// What MIG config-change events compare: mode and the instances.
fn layout_key(st: &MachineState, gpu: u32) -> String {
    st.gpus
        .get(gpu as usize)
        .map(|g| {
            format!(
                "{}/{}/{:?}",
                g.mig_current, g.mig_pending, g.layout.gpu_instances
            )
        })
        .unwrap_or_default()
}

/// `nvmlEventSetCreate`: a new, empty event set.
#[no_mangle]
pub unsafe extern "C" fn nvmlEventSetCreate(set: *mut sys::nvmlEventSet_t) -> Return {
    call(
        "nvmlEventSetCreate",
        || log_args!(),
        || {
            machine::sim()?;
            let set = unsafe { out(set) }?;
            let mut t = table();
            let id = t.next;
            t.next += 1;
            t.sets.insert(id, Vec::new());
            *set = std::ptr::without_provenance_mut((TAG | id) as usize);
            Ok(())
        },
    )
}

/// `nvmlEventSetFree`: the set is gone; a second free is `INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn nvmlEventSetFree(set: sys::nvmlEventSet_t) -> Return {
    call(
        "nvmlEventSetFree",
        || log_args!(),
        || {
            machine::sim()?;
            let id = set_id(set)?;
            table().sets.remove(&id);
            Ok(())
        },
    )
}

/// `nvmlDeviceGetSupportedEventTypes`: [`SUPPORTED`] for a GPU; a MIG
/// device handle is `NOT_SUPPORTED` (nvml.h: no per-instance event reporting
/// through MIG device handles).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetSupportedEventTypes(
    device: sys::nvmlDevice_t,
    event_types: *mut c_ulonglong,
) -> Return {
    call(
        "nvmlDeviceGetSupportedEventTypes",
        || log_args!(device),
        || {
            let st = machine::snapshot()?;
            gpu_only(&st, device)?;
            *unsafe { out(event_types) }? = SUPPORTED;
            Ok(())
        },
    )
}

fn gpu_only(st: &MachineState, device: sys::nvmlDevice_t) -> Result<(u32, &mig_sim::SimGpu)> {
    match machine::device(st, device)? {
        Device::Gpu { index, sim } => Ok((index, sim)),
        Device::Mig { .. } => Err(Fail::NOT_SUPPORTED),
    }
}

/// `nvmlDeviceRegisterEvents`: types outside [`SUPPORTED`] are `NOT_SUPPORTED`.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceRegisterEvents(
    device: sys::nvmlDevice_t,
    event_types: c_ulonglong,
    set: sys::nvmlEventSet_t,
) -> Return {
    call(
        "nvmlDeviceRegisterEvents",
        || log_args!(device, event_types),
        || {
            let st = machine::snapshot()?;
            let (gpu, _) = gpu_only(&st, device)?;
            let id = set_id(set)?;
            if event_types & !SUPPORTED != 0 {
                return Err(Fail::NOT_SUPPORTED);
            }
            let seen = layout_key(&st, gpu);
            let mut t = table();
            let regs = t.sets.get_mut(&id).ok_or(Fail::INVALID_ARGUMENT)?;
            match regs.iter_mut().find(|r| r.gpu == gpu) {
                Some(r) => r.types |= event_types,
                None => regs.push(Registration {
                    gpu,
                    types: event_types,
                    seen,
                }),
            }
            Ok(())
        },
    )
}

/// Wait up to `timeout_ms` for an event of `set`; the GPU and type.
fn wait(set: sys::nvmlEventSet_t, timeout_ms: c_uint) -> Result<(u32, c_ulonglong)> {
    let id = set_id(set)?;
    let deadline = Instant::now() + Duration::from_millis(u64::from(timeout_ms));
    loop {
        let st = machine::snapshot()?;
        {
            let mut t = table();
            let regs = t.sets.get_mut(&id).ok_or(Fail::INVALID_ARGUMENT)?;
            for r in regs.iter_mut() {
                if r.types & c_ulonglong::from(MIG_CONFIG_CHANGE) == 0 {
                    continue;
                }
                let now = layout_key(&st, r.gpu);
                if now != r.seen {
                    r.seen = now;
                    return Ok((r.gpu, c_ulonglong::from(MIG_CONFIG_CHANGE)));
                }
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(TIMEOUT);
        }
        std::thread::sleep(left.min(POLL));
    }
}

/// `nvmlEventSetWait_v2`: the next MIG configuration change of a registered
/// GPU, or `NVML_ERROR_TIMEOUT` after `timeoutms`.
#[no_mangle]
pub unsafe extern "C" fn nvmlEventSetWait_v2(
    set: sys::nvmlEventSet_t,
    data: *mut sys::nvmlEventData_t,
    timeoutms: c_uint,
) -> Return {
    call(
        "nvmlEventSetWait_v2",
        || log_args!(timeoutms),
        || {
            let data = unsafe { out(data) }?;
            let (gpu, ty) = wait(set, timeoutms)?;
            *data = sys::nvmlEventData_t {
                device: machine::gpu_handle(gpu)?,
                eventType: ty,
                eventData: 0,
                gpuInstanceId: NO_INSTANCE,
                computeInstanceId: NO_INSTANCE,
            };
            Ok(())
        },
    )
}

/// `nvmlEventData_t` as the v1 `nvmlEventSetWait` wrote it: without the
/// GI/CI IDs that `_v2` appended.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct EventDataV1 {
    pub device: sys::nvmlDevice_t,
    pub event_type: c_ulonglong,
    pub event_data: c_ulonglong,
}

/// `nvmlEventSetWait`: as `_v2`, writing the v1 struct ([`EventDataV1`]).
#[no_mangle]
pub unsafe extern "C" fn nvmlEventSetWait(
    set: sys::nvmlEventSet_t,
    data: *mut EventDataV1,
    timeoutms: c_uint,
) -> Return {
    call(
        "nvmlEventSetWait",
        || log_args!(timeoutms),
        || {
            let data = unsafe { out(data) }?;
            let (gpu, ty) = wait(set, timeoutms)?;
            *data = EventDataV1 {
                device: machine::gpu_handle(gpu)?,
                event_type: ty,
                event_data: 0,
            };
            Ok(())
        },
    )
}
