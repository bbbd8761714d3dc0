//! GPU Performance Monitoring (GPM) per GPU instance, Hopper and later:
//! NVML's `nvmlGpmMigSampleGet` takes a sample of one GPU instance's
//! counters, and `nvmlGpmMetricsGet` turns two samples (taken more than
//! 100 ms apart) into rates over the interval between them.
//!
//! A backend that has no GPM (Ampere boards, an NVML without the entry
//! points) keeps the defaults, which say "not supported": callers report
//! "not available", never a made-up number.

use crate::backend::{BackendError, GpuRef, Op};
use crate::types::GpuInstanceId;
use crate::NvmlError;

/// One GPM sample, owned by the backend that took it (an NVML sample
/// buffer, or the simulator's counters); only that backend reads it.
pub type GpmSample = Box<dyn std::any::Any + Send>;

/// Rates over the interval between two samples, as `nvmlGpmMetricsGet`
/// gives them (percentages, 0 to 100).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GpmMetrics {
    /// `NVML_GPM_METRIC_SM_UTIL`: percentage of SMs busy.
    pub sm_util: f64,
    /// `NVML_GPM_METRIC_DRAM_BW_UTIL`: percentage of DRAM bandwidth used.
    pub dram_bw_util: f64,
}

/// GPM readings of GPU instances. Every method defaults to "not supported".
pub trait Gpm: Send + Sync {
    /// Whether the GPU has GPM (`nvmlGpmQueryDeviceSupport`).
    fn gpm_supported(&self, gpu: &GpuRef) -> Result<bool, BackendError> {
        let _ = gpu;
        Ok(false)
    }
    /// A sample of GPU instance `gi`'s counters (`nvmlGpmMigSampleGet`),
    /// taken into `reuse` when it is a sample this backend took before (no
    /// new buffer is allocated then).
    fn gpm_mig_sample(
        &self,
        gpu: &GpuRef,
        gi: GpuInstanceId,
        reuse: Option<GpmSample>,
    ) -> Result<GpmSample, BackendError> {
        let _ = (gi, reuse);
        Err(BackendError::nvml(
            Op::Gpm,
            gpu.clone(),
            NvmlError::NotSupported,
        ))
    }
    /// Rates between two samples of one GPU instance, `older` first
    /// (`nvmlGpmMetricsGet`).
    fn gpm_metrics(
        &self,
        gpu: &GpuRef,
        older: &GpmSample,
        newer: &GpmSample,
    ) -> Result<GpmMetrics, BackendError> {
        let _ = (older, newer);
        Err(BackendError::nvml(
            Op::Gpm,
            gpu.clone(),
            NvmlError::NotSupported,
        ))
    }
}
