//! GPM per GPU instance through NVML (Hopper and later): support from
//! `nvmlGpmQueryDeviceSupport`, samples from `nvmlGpmMigSampleGet` into
//! buffers of `nvmlGpmSampleAlloc`, rates from `nvmlGpmMetricsGet` (SM
//! utilization and DRAM bandwidth utilization). A library without these
//! entry points, or a board that says no, is "not supported".

use crate::machine::error;
use crate::raw::{Fail, Nvml, SUCCESS};
use crate::NvmlBackend;
use mig_model::backend::{GpuRef, Inventory, Op};
use mig_model::gpm::{Gpm, GpmMetrics, GpmSample};
use mig_model::{BackendError, GpuInstanceId, NvmlError};
use nvml_wrapper_sys::bindings as sys;
use std::sync::Arc;

/// An NVML sample buffer, freed with `nvmlGpmSampleFree` when dropped. It
/// holds the library (an `Arc`), so it cannot outlive it.
struct NvmlSample {
    nvml: Arc<Nvml>,
    s: sys::nvmlGpmSample_t,
}

// SAFETY: the sample is an opaque buffer NVML only touches during a call
// that names it; NVML is thread-safe.
unsafe impl Send for NvmlSample {}

impl Drop for NvmlSample {
    fn drop(&mut self) {
        if let Ok(f) = self.nvml.lib.nvmlGpmSampleFree.as_ref() {
            // SAFETY: `s` came from nvmlGpmSampleAlloc and is freed once.
            let _ = unsafe { f(self.s) };
        }
    }
}

fn code(op: Op, gpu: &GpuRef, rc: u32) -> BackendError {
    error(op, Some(gpu), Fail::Code(rc).into())
}

fn missing(gpu: &GpuRef, name: &'static str) -> BackendError {
    error(Op::Gpm, Some(gpu), Fail::Missing(name).into())
}

impl Gpm for NvmlBackend {
    fn gpm_supported(&self, gpu: &GpuRef) -> Result<bool, BackendError> {
        let Ok(f) = self.nvml.lib.nvmlGpmQueryDeviceSupport.as_ref() else {
            return Ok(false);
        };
        let index = self.index_of(gpu)?;
        let d = self
            .nvml
            .device(index)
            .map_err(|f| error(Op::Gpm, Some(gpu), f.into()))?;
        let mut s = sys::nvmlGpmSupport_t {
            version: sys::NVML_GPM_SUPPORT_VERSION,
            isSupportedDevice: 0,
        };
        // SAFETY: `s` is a valid, versioned out struct; `d.h` a live handle.
        let rc = unsafe { f(d.h, &mut s) };
        match rc {
            SUCCESS => Ok(s.isSupportedDevice != 0),
            crate::raw::ERR_NOT_SUPPORTED => Ok(false),
            rc => Err(code(Op::Gpm, gpu, rc)),
        }
    }

    fn gpm_mig_sample(
        &self,
        gpu: &GpuRef,
        gi: GpuInstanceId,
        reuse: Option<GpmSample>,
    ) -> Result<GpmSample, BackendError> {
        let lib = &self.nvml.lib;
        let alloc = lib
            .nvmlGpmSampleAlloc
            .as_ref()
            .map_err(|_| missing(gpu, "nvmlGpmSampleAlloc"))?;
        let get = lib
            .nvmlGpmMigSampleGet
            .as_ref()
            .map_err(|_| missing(gpu, "nvmlGpmMigSampleGet"))?;
        let index = self.index_of(gpu)?;
        let d = self
            .nvml
            .device(index)
            .map_err(|f| error(Op::Gpm, Some(gpu), f.into()))?;
        let sample = match reuse.and_then(|r| r.downcast::<NvmlSample>().ok()) {
            Some(b) => *b,
            None => {
                let mut s: sys::nvmlGpmSample_t = std::ptr::null_mut();
                // SAFETY: `s` is a valid out pointer.
                let rc = unsafe { alloc(&mut s) };
                if rc != SUCCESS {
                    return Err(code(Op::Gpm, gpu, rc));
                }
                NvmlSample {
                    nvml: Arc::clone(&self.nvml),
                    s,
                }
            }
        };
        // SAFETY: a live handle, and a sample buffer from nvmlGpmSampleAlloc.
        let rc = unsafe { get(d.h, gi.0, sample.s) };
        if rc != SUCCESS {
            return Err(code(Op::Gpm, gpu, rc));
        }
        Ok(Box::new(sample))
    }

    fn gpm_metrics(
        &self,
        gpu: &GpuRef,
        older: &GpmSample,
        newer: &GpmSample,
    ) -> Result<GpmMetrics, BackendError> {
        let f = self
            .nvml
            .lib
            .nvmlGpmMetricsGet
            .as_ref()
            .map_err(|_| missing(gpu, "nvmlGpmMetricsGet"))?;
        let (Some(a), Some(b)) = (
            older.downcast_ref::<NvmlSample>(),
            newer.downcast_ref::<NvmlSample>(),
        ) else {
            return Err(BackendError::nvml(
                Op::Gpm,
                gpu.clone(),
                NvmlError::InvalidArgument,
            ));
        };
        // SAFETY: all-zero is a valid nvmlGpmMetricsGet_t (integers, floats
        // and null pointers).
        let mut m: sys::nvmlGpmMetricsGet_t = unsafe { std::mem::zeroed() };
        m.version = sys::NVML_GPM_METRICS_GET_VERSION;
        m.numMetrics = 2;
        m.sample1 = a.s;
        m.sample2 = b.s;
        m.metrics[0].metricId = sys::nvmlGpmMetricId_t_NVML_GPM_METRIC_SM_UTIL;
        m.metrics[1].metricId = sys::nvmlGpmMetricId_t_NVML_GPM_METRIC_DRAM_BW_UTIL;
        // SAFETY: `m` is a valid, versioned struct; both samples are live.
        let rc = unsafe { f(&mut m) };
        if rc != SUCCESS {
            return Err(code(Op::Gpm, gpu, rc));
        }
        for x in &m.metrics[..2] {
            if x.nvmlReturn != SUCCESS {
                return Err(code(Op::Gpm, gpu, x.nvmlReturn));
            }
        }
        Ok(GpmMetrics {
            sm_util: m.metrics[0].value,
            dram_bw_util: m.metrics[1].value,
        })
    }
}
