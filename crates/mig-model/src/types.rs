//! Typed MIG vocabulary, named after NVML's concepts.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A GPU-instance ID (NVML `nvmlGpuInstanceInfo_t.id`, the driver's swizzle ID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GpuInstanceId(pub u32);

/// A compute-instance ID, unique inside its GPU instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ComputeInstanceId(pub u32);

/// A GPU-instance profile ID (what nvidia-smi prints: 19, 14, 9, ...), not the
/// `NVML_GPU_INSTANCE_PROFILE_*` index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GiProfileId(pub u32);

/// A compute-instance profile ID (0 = 1c, 1 = 2c, 2 = 3c, 3 = 4c, 4 = 7c, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CiProfileId(pub u32);

/// A placement: `start` and `size` in grid units (memory slices for GPU
/// instances, compute slices relative to the GI for compute instances), as
/// `nvmlGpuInstancePlacement_t` / `nvmlComputeInstancePlacement_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Placement {
    pub start: u32,
    pub size: u32,
}

impl Placement {
    pub const fn new(start: u32, size: u32) -> Self {
        Placement { start, size }
    }

    /// One past the last unit covered.
    pub const fn end(self) -> u32 {
        self.start + self.size
    }

    /// Whether two placements share at least one unit.
    pub const fn overlaps(self, other: Placement) -> bool {
        self.start < other.end() && other.start < self.end()
    }
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.start, self.size)
    }
}

impl fmt::Display for GpuInstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for ComputeInstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
