//! What one GPU should hold, independent of how a config writes it down.
//!
//! The config module turns mig-parted's `mig-devices` (and the pinning
//! extension) into a [`GpuDemand`]; the planner turns a demand and a GPU's
//! current layout into steps; layout search and packing produce demands.

use mig_model::{CiProfileId, GiProfileId, Placement};
use serde::{Deserialize, Serialize};

/// The wanted state of one GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuDemand {
    /// `mig-enabled`.
    pub mig_enabled: bool,
    /// The GPU instances wanted (empty with MIG disabled).
    pub gpu_instances: Vec<GiDemand>,
}

/// One wanted GPU instance and the compute instances inside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiDemand {
    pub profile: GiProfileId,
    /// A pinned placement (the versioned extension), or `None`: the planner
    /// chooses.
    pub placement: Option<Placement>,
    pub compute_instances: Vec<CiDemand>,
}

/// One wanted compute instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiDemand {
    pub profile: CiProfileId,
    /// A pinned placement inside the GI, or `None`.
    pub placement: Option<Placement>,
}
