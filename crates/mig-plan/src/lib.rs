//! `mig-plan`: offline MIG planning.
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
    inventory_of, name_gb, parse_demand, parse_inventory, to_yaml, DemandEntry, DemandFile,
    DemandItem, FileError, Fleet, FleetGpu, GiEntry, GpuEntry, InventoryFile, NodeEntry, Want,
};
pub use pack::{
    bound, first_fit, node_config, pack, summarise, GpuPlan, PackResult, Score, EXACT_LIMIT,
};
pub use picture::{Busy, View};
pub use profiles::{find_gi_profile, parse_count, parse_counts, profile_names, ProfileCount, SpecError};
