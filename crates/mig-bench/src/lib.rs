//! `mig-bench`: benchmark support for `migctl bench`; not a library for users.
//!
//! It holds what only the benchmarks run: [`baseline`], mig-parted's apply
//! procedure re-implemented for `migctl bench apply` to compare against, and
//! [`fleetgen`], the deterministic generated fleets and demands of
//! `migctl bench pack` (defined in mig-plan behind its `fleetgen` feature,
//! as pack's own tests use them), [`soak`], the concurrency soak of
//! `migctl bench soak` (it runs the migctl binary it is given), and
//! [`nvml_read`], the timed reads of the fake NVML library of
//! `migctl bench nvml-read`. It is not published and keeps no stable
//! API; to configure GPUs use `mig-apply`, to plan use `mig-plan`.
pub mod baseline;
pub mod nvml_read;
pub mod soak;

pub use mig_plan::fleetgen;
