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
//!
//! # Example
//!
//! The GPU-instance profiles of an H100, and two GPU instances created the
//! way the driver creates them (default placements, GI IDs from the tree):
//!
//! ```
//! use mig_model::{catalog, engine, GiProfileId, Layout, Placement};
//!
//! let h100 = catalog::model("h100-sxm5-80gb").expect("catalog board");
//! let names: Vec<&str> = h100.gi_profiles.iter().map(|p| p.name.as_str()).collect();
//! assert!(names.contains(&"3g.40gb") && names.contains(&"7g.80gb"));
//!
//! let p = h100.gi_profiles.iter().find(|p| p.name == "3g.40gb").unwrap();
//! let mut layout = Layout::new(false);
//! let first = layout.create_gi(h100, GiProfileId(p.id), None)?;
//! let second = layout.create_gi(h100, GiProfileId(p.id), None)?;
//! assert_ne!(first, second);
//! // A third does not fit: the engine refuses it as the driver does.
//! assert!(layout.create_gi(h100, GiProfileId(p.id), None).is_err());
//! let starts: Vec<Placement> = layout.gpu_instances.iter().map(|g| g.placement).collect();
//! assert!(starts.iter().all(|pl| engine::gi_placements(p).any(|v| v == *pl)));
//! # Ok::<(), mig_model::NvmlError>(())
//! ```

pub mod backend;
pub mod board;
pub mod catalog;
pub mod details;
pub mod engine;
mod error;
pub mod gpm;
pub mod ids;
pub mod mode;
pub mod readings;
pub mod refusal;
pub mod search;
mod types;

pub use backend::{Backend, BackendError, GpuIdentity, GpuRef, GpuSnapshot};
pub use catalog::{CiProfile, GiProfile, GpuModel};
pub use engine::Layout;
pub use error::NvmlError;
pub use mode::{Busy, MigGpu, ModeSwitch};
pub use refusal::Refusal;
pub use search::{Placed, Want};
pub use types::{CiProfileId, ComputeInstanceId, GiProfileId, GpuInstanceId, Placement};
