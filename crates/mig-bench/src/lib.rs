//! `mig-bench`: benchmark support for `migctl bench`.
pub mod baseline;

pub use mig_plan::fleetgen;
