//! GPM per GPU instance (Hopper and later) over the simulator's model
//! (`mig_sim::gpm`): `nvmlGpmQueryDeviceSupport`, `nvmlGpmSampleAlloc` /
//! `nvmlGpmSampleFree`, `nvmlGpmMigSampleGet` and `nvmlGpmMetricsGet` with
//! `NVML_GPM_METRIC_SM_UTIL` and `NVML_GPM_METRIC_DRAM_BW_UTIL`; any other
//! metric ID answers NOT_SUPPORTED in its own `nvmlReturn`. Ampere boards
//! answer "not supported" (`isSupportedDevice` 0, samples NOT_SUPPORTED).
//! Whole-GPU samples (`nvmlGpmSampleGet`) are not modelled.
//!
//! Sample buffers are the library's own allocations, kept in a registry:
//! a pointer it did not hand out (or already freed) is INVALID_ARGUMENT,
//! never a read through it.

use crate::call_log::call;
use crate::errors::{out, Fail};
use crate::machine::{self, Device};
use mig_sim::gpm::{self as model, SimGpmSample};
use nvml_wrapper_sys::bindings as sys;
use std::collections::HashMap;
use std::sync::Mutex;

/// What a sample buffer holds: nothing yet, or the counters of GPU
/// instance `gi` of GPU `gpu`.
type Filled = Option<(u32, u32, SimGpmSample)>;

/// Live sample buffers by address. Each is a leaked `Box<u8>` whose
/// address is the handle; the contents live here.
static SAMPLES: Mutex<Option<HashMap<usize, Filled>>> = Mutex::new(None);

fn with_samples<T>(f: impl FnOnce(&mut HashMap<usize, Filled>) -> T) -> T {
    let mut g = SAMPLES.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(HashMap::new))
}

/// `NVML_GPM_METRIC_MAX` of the newest header (13.2.1): a caller built
/// against it may ask for this many metrics.
const METRIC_MAX: u32 = 333;

/// `nvmlGpmQueryDeviceSupport`: supported on Hopper and later boards (a MIG
/// device handle answers for its parent, as the 13.2.1 header allows).
#[no_mangle]
pub unsafe extern "C" fn nvmlGpmQueryDeviceSupport(
    device: sys::nvmlDevice_t,
    gpm_support: *mut sys::nvmlGpmSupport_t,
) -> sys::nvmlReturn_t {
    call(
        "nvmlGpmQueryDeviceSupport",
        || log_args!(device),
        || {
            let s = unsafe { out(gpm_support) }?;
            if s.version != sys::NVML_GPM_SUPPORT_VERSION {
                return Err(Fail::ARGUMENT_VERSION_MISMATCH);
            }
            let st = machine::snapshot()?;
            let d = machine::device(&st, device)?;
            s.isSupportedDevice = model::supported(d.sim_gpu()) as u32;
            Ok(())
        },
    )
}

/// `nvmlGpmSampleAlloc`.
#[no_mangle]
pub unsafe extern "C" fn nvmlGpmSampleAlloc(
    gpm_sample: *mut sys::nvmlGpmSample_t,
) -> sys::nvmlReturn_t {
    call("nvmlGpmSampleAlloc", String::new, || {
        let o = unsafe { out(gpm_sample) }?;
        let p = Box::into_raw(Box::new(0u8)) as usize;
        with_samples(|m| m.insert(p, None));
        *o = p as sys::nvmlGpmSample_t;
        Ok(())
    })
}

/// `nvmlGpmSampleFree`.
#[no_mangle]
pub unsafe extern "C" fn nvmlGpmSampleFree(gpm_sample: sys::nvmlGpmSample_t) -> sys::nvmlReturn_t {
    call("nvmlGpmSampleFree", String::new, || {
        let p = gpm_sample as usize;
        with_samples(|m| m.remove(&p)).ok_or(Fail::INVALID_ARGUMENT)?;
        // SAFETY: `p` was in the registry, so it is a Box<u8> this library
        // leaked in nvmlGpmSampleAlloc, and it is removed before freeing.
        drop(unsafe { Box::from_raw(p as *mut u8) });
        Ok(())
    })
}

/// `nvmlGpmMigSampleGet`: the counters of GPU instance `gpu_instance_id` of
/// the GPU `device` (a GPU handle, not a MIG device).
#[no_mangle]
pub unsafe extern "C" fn nvmlGpmMigSampleGet(
    device: sys::nvmlDevice_t,
    gpu_instance_id: std::os::raw::c_uint,
    gpm_sample: sys::nvmlGpmSample_t,
) -> sys::nvmlReturn_t {
    call(
        "nvmlGpmMigSampleGet",
        || log_args!(device, gpu_instance_id),
        || {
            let p = gpm_sample as usize;
            if !with_samples(|m| m.contains_key(&p)) {
                return Err(Fail::INVALID_ARGUMENT);
            }
            let st = machine::snapshot()?;
            let Device::Gpu { index, sim } = machine::device(&st, device)? else {
                return Err(Fail::INVALID_ARGUMENT);
            };
            let s = model::sample(sim, gpu_instance_id, model::now_ns())?;
            with_samples(|m| m.insert(p, Some((index, gpu_instance_id, s))));
            Ok(())
        },
    )
}

/// `nvmlGpmMetricsGet`: rates between `sample1` (older) and `sample2` of
/// one GPU instance.
#[no_mangle]
pub unsafe extern "C" fn nvmlGpmMetricsGet(
    metrics_get: *mut sys::nvmlGpmMetricsGet_t,
) -> sys::nvmlReturn_t {
    call("nvmlGpmMetricsGet", String::new, || {
        let m = unsafe { out(metrics_get) }?;
        if m.version != sys::NVML_GPM_METRICS_GET_VERSION {
            return Err(Fail::ARGUMENT_VERSION_MISMATCH);
        }
        if m.numMetrics > METRIC_MAX {
            return Err(Fail::INVALID_ARGUMENT);
        }
        let get =
            |s: sys::nvmlGpmSample_t| with_samples(|r| r.get(&(s as usize)).copied().flatten());
        let (Some(a), Some(b)) = (get(m.sample1), get(m.sample2)) else {
            return Err(Fail::INVALID_ARGUMENT);
        };
        if (a.0, a.1) != (b.0, b.1) {
            return Err(Fail::INVALID_ARGUMENT);
        }
        let r = model::metrics(&a.2, &b.2)?;
        let n = m.numMetrics as usize;
        let base = m.metrics.as_mut_ptr();
        for i in 0..n {
            // SAFETY: the caller's struct holds `numMetrics` entries (at most
            // NVML_GPM_METRIC_MAX of its header, checked above).
            let e = unsafe { &mut *base.add(i) };
            let v = match e.metricId {
                sys::nvmlGpmMetricId_t_NVML_GPM_METRIC_SM_UTIL => Some(r.sm_util),
                sys::nvmlGpmMetricId_t_NVML_GPM_METRIC_DRAM_BW_UTIL => Some(r.dram_bw_util),
                _ => None,
            };
            match v {
                Some(v) => {
                    e.value = v;
                    e.nvmlReturn = crate::errors::SUCCESS;
                }
                None => e.nvmlReturn = Fail::NOT_SUPPORTED.0,
            }
        }
        Ok(())
    })
}
