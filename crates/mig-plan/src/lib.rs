//! `mig-plan`: offline MIG planning over the catalog.
//!
//! What it is for: questions asked before touching a GPU. Every layout a GPU
//! model allows ([`layouts`]), whether profiles fit a GPU and why not
//! ([`fit()`], with the nearest layouts that do), pictures of a GPU's slices
//! ([`picture`]), fleet inventories and demand files ([`parse_inventory`],
//! [`parse_demand`]) and packing a fleet's demand onto its GPUs ([`pack()`]).
//!
//! What it is not for: config files (`mig-config`), changing GPUs
//! (`mig-apply`), single MIG rules (placement validity, IDs and default
//! placements are `mig_model::engine`'s), or printing (the CLI prints).
//!
//! # Example
//!
//! List the layouts of an H100, and fit instances onto an empty one:
//!
//! ```
//! use mig_model::{catalog, Layout};
//! use mig_plan::{fit, layouts, parse_counts, FitResult};
//!
//! let h100 = catalog::model("h100-sxm5-80gb").expect("catalog board");
//! let all = layouts::enumerate(h100, false);
//! assert!(all.iter().any(|l| layouts::summary(h100, l).contains("7x 1g.10gb")));
//!
//! let empty = Layout::new(false);
//! let want = parse_counts(h100, &["3g.40gb".into(), "1g.10gbx2".into()])?;
//! match fit(h100, &empty, &want) {
//!     FitResult::Fits { added, .. } => assert_eq!(added.len(), 3),
//!     FitResult::DoesNotFit { reason, .. } => panic!("{reason:?}"),
//! }
//! // Two 3g.40gb take all eight memory slices: no room for a 1g.10gb.
//! let want = parse_counts(h100, &["3g.40gbx2".into(), "1g.10gb".into()])?;
//! assert!(matches!(fit(h100, &empty, &want), FitResult::DoesNotFit { .. }));
//! # Ok::<(), mig_plan::SpecError>(())
//! ```
pub mod layouts;
pub mod picture;

mod fit;
#[cfg(any(test, feature = "fleetgen"))]
#[doc(hidden)]
pub mod fleetgen;
mod inventory;
mod pack;
mod profiles;

pub use fit::{fit, max_more, memory_slices, nearest, slice_unit, FitResult, Reason};
pub use inventory::{
    documents, inventory_of, inventory_text, name_gb, parse_demand, parse_inventory, to_yaml,
    DemandEntry, DemandFile, DemandItem, FileError, Fleet, FleetGpu, GiEntry, GpuEntry,
    InventoryFile, NodeEntry, Want,
};
pub use pack::{
    bound, first_fit, node_config, pack, summarise, GpuPlan, PackResult, Score, EXACT_GPUS,
    NODE_LIMIT,
};
pub use picture::{Busy, View};
pub use profiles::{
    find_gi_profile, parse_count, parse_counts, profile_names, ProfileCount, SpecError,
};
