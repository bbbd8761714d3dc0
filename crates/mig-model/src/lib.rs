//! `mig-model`: the pure core of migctl.
//!
//! What it is for: the GPU catalog (data embedded from `catalog/`), the typed
//! vocabulary of MIG (profiles, placements, GPU- and compute-instance IDs), and
//! every MIG rule in exactly one function: placement validity and overlap, GI ID
//! from the swizzle-ID tree, CI IDs, the driver's default placements, capacity,
//! device names, UUIDs and nvidia-caps minors; the one placement search and
//! its structured refusal ([`search`], [`refusal`]); and the per-GPU MIG
//! state machine ([`mode`]: mode, pending, reset, layout, busy) that the
//! simulator persists and the planner steps through. It also defines the
//! [`backend`] trait that the simulator and the NVML backend implement.
//!
//! Where each rule lives:
//! - placement validity, overlaps, instance counts, engines: `Layout::check_gi`
//!   (`refuse_gi` says which rule refused, as a [`Refusal`]); CIs: `check_ci`;
//! - placing a set of GIs and why it does not fit: [`search::place`],
//!   [`search::explain`];
//! - GI IDs [`engine::gi_id`], CI IDs [`engine::lowest_free_ci_id`], default
//!   placements [`engine::least_capacity_lost`], the slice unit
//!   [`engine::slice_unit`];
//! - MIG mode, pending mode, reset, busy instances: [`MigGpu`];
//! - names ([`ids::ci_profile_name`], [`ids::mig_device_name`]), profile lookup
//!   ([`ids::find_gi_profile`]), UUIDs and nvidia-caps minors: [`ids`].
//!
//! What it is not for: I/O or printing. Nothing here touches a file or a GPU.

pub mod backend;
pub mod catalog;
pub mod engine;
pub mod error;
pub mod ids;
pub mod mode;
pub mod refusal;
pub mod search;
pub mod types;

pub use backend::{Backend, BackendError, GpuIdentity, GpuRef, GpuSnapshot};
pub use catalog::{CiProfile, GiProfile, GpuModel};
pub use engine::Layout;
pub use error::NvmlError;
pub use mode::{Busy, MigGpu, ModeSwitch};
pub use refusal::Refusal;
pub use search::{Placed, Want};
pub use types::{CiProfileId, ComputeInstanceId, GiProfileId, GpuInstanceId, Placement};
