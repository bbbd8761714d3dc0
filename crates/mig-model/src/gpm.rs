//! GPU Performance Monitoring (GPM) per GPU instance, Hopper and later:
//! NVML's `nvmlGpmMigSampleGet` takes a sample of one GPU instance's
//! counters, and `nvmlGpmMetricsGet` turns two samples (taken more than
//! 100 ms apart) into rates over the interval between them. The trait is
//! part of [`crate::backend`] (every backend implements it); this module
//! names its parts for callers that only read GPM.

pub use crate::backend::{Gpm, GpmMetrics, GpmSample};
