//! Packing a fleet's demand onto its GPUs.
//!
//! Each GPU gets a layout (any valid layout that keeps its busy instances);
//! the instances of the chosen layouts serve demand lines whose profile or
//! requirements they meet. The objective is lexicographic, in order:
//! 1. the most weighted demand served;
//! 2. then the fewest existing (idle) instances destroyed, so no packing that
//!    serves as much keeps a strict superset of the instances this one keeps;
//! 3. then the fewest GPUs holding instances.
//!
//! How:
//! - GPUs with the same model, mode, layout and busy set form a class; a
//!   class's *options* are its valid layouts (from [`crate::layouts`], so the
//!   engine decides validity) reduced to what matters: instances per useful
//!   (model, profile) type, instances destroyed, and whether the GPU is used.
//!   Options another option beats in every respect are dropped.
//! - Given every GPU's option, the best assignment of instances to demand
//!   lines is a transportation problem; because a unit's value is its demand
//!   line's weight, serving lines in weight order with augmenting paths
//!   (max-flow) is optimal (the served sets form a transversal matroid).
//! - Every fleet first gets the residual greedy: class by class (GPUs that
//!   can serve the fewest demand lines first), the option serving the most
//!   remaining weight, repeated for as many GPUs as the remaining demand
//!   allows, steered by the bound's prices; then the exact assignment.
//! - Fleets of at most [`EXACT_GPUS`] GPUs are then searched exactly by
//!   branch and bound from the greedy's packing (`exact.rs`); a search that
//!   finishes within [`NODE_LIMIT`] nodes proves its packing optimal
//!   ([`PackResult::exact`]).
//! - The upper bound is the Lagrangian dual of the demand-count constraints
//!   (`bound.rs`), reported as computed: never raised to what was served.

mod baseline;
mod bound;
mod classes;
mod exact;
mod greedy;
mod result;
#[cfg(test)]
mod tests;

pub use baseline::{first_fit, node_config};
pub use classes::Score;
pub use exact::{EXACT_GPUS, NODE_LIMIT};
pub use result::{summarise, GpuPlan, PackResult};

use crate::inventory::{DemandItem, Fleet};

/// Pack the fleet's demand: the greedy, then (at most [`EXACT_GPUS`] GPUs)
/// the exact search. Returns the packing and the dual upper bound on served
/// weight, unclamped.
pub fn pack(fleet: &Fleet, demand: &[DemandItem]) -> (PackResult, f64) {
    let ty = classes::types(fleet, demand);
    let classes = classes::classes(fleet, demand, &ty);
    let (mut choice, ub, prices) = greedy::heuristic(&classes, demand, &ty);
    if fleet.gpus.len() > EXACT_GPUS {
        return (
            result::realise(fleet, demand, &ty, &classes, &choice, false),
            ub,
        );
    }
    let r = result::realise(fleet, demand, &ty, &classes, &choice, false);
    let found = exact::branch_and_bound(&classes, demand, &ty, r.score(), &prices);
    if let Some(better) = found.better {
        choice = better;
    }
    let mut r = result::realise(fleet, demand, &ty, &classes, &choice, found.complete);
    r.search_nodes = found.nodes;
    (r, ub)
}

/// The Lagrangian upper bound alone (for baselines and reports); `lower`, a
/// weight some packing serves, only sizes the steps and stops the run early
/// once the bound meets it.
pub fn bound(fleet: &Fleet, demand: &[DemandItem], lower: f64) -> f64 {
    let ty = classes::types(fleet, demand);
    let classes = classes::classes(fleet, demand, &ty);
    bound::upper_bound(&classes, demand, &ty, lower).0
}
