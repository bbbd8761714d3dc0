//! `mig-model`: the pure core of migctl.
//!
//! What it is for: the GPU catalog (data embedded from `catalog/`), the typed
//! vocabulary of MIG (profiles, placements, GPU- and compute-instance IDs), and
//! every MIG rule in exactly one function: placement validity and overlap, GI ID
//! from the swizzle-ID tree, CI IDs, the driver's default placements, capacity,
//! device names, UUIDs and nvidia-caps minors. It also defines the [`backend`]
//! trait that the simulator and the NVML backend implement.
//!
//! What it is not for: I/O or printing. Nothing here touches a file or a GPU.

pub mod backend;
pub mod catalog;
pub mod engine;
pub mod error;
pub mod ids;
pub mod readings;
pub mod types;

pub use backend::{Backend, BackendError, GpuIdentity, GpuRef, GpuSnapshot};
pub use catalog::{CiProfile, GiProfile, GpuModel};
pub use engine::Layout;
pub use error::NvmlError;
pub use types::{CiProfileId, ComputeInstanceId, GiProfileId, GpuInstanceId, Placement};
